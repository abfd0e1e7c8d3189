package checker

import (
	"fmt"
	"strings"
)

// Report is the outcome of a run.
type Report struct {
	Client          string   `json:"client"`
	ProtonReconnect string   `json:"proton_reconnect,omitempty"`
	URLs            []string `json:"urls"`
	Queue           string   `json:"queue"`
	Senders         int      `json:"senders"`
	Receivers       int      `json:"receivers"`
	Counts
	SendSeconds   float64 `json:"send_seconds"`
	DrainSeconds  float64 `json:"drain_seconds"`
	DrainComplete bool    `json:"drain_complete"`
	// Overlap is the check of the brokers' role-change logs, if asked for.
	Overlap  *OverlapReport `json:"overlap,omitempty"`
	OK       bool           `json:"ok"`
	Problems []string       `json:"problems,omitempty"`
}

// Judge sets OK and Problems: a lost message, a message no sender sent,
// or two primaries at once fail the run; duplicates do not.
func (r *Report) Judge() {
	r.Problems = nil
	if r.Lost > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d confirmed messages never received: %s",
			r.Lost, strings.Join(r.LostIDs, " ")))
	}
	if r.Unexpected > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d received messages were never sent: %s",
			r.Unexpected, strings.Join(r.UnexpectedIDs, " ")))
	}
	if r.Overlap != nil {
		r.Problems = append(r.Problems, r.Overlap.Problems()...)
	}
	r.OK = len(r.Problems) == 0
}

// Summary is the report in one line.
func (r *Report) Summary() string {
	client := r.Client
	if r.ProtonReconnect != "" {
		client += "/" + r.ProtonReconnect
	}
	verdict := "OK"
	if !r.OK {
		verdict = "FAILED"
	}
	s := fmt.Sprintf("checker %s %dx%d: confirmed=%d received=%d lost=%d duplicates=%d (%d extra deliveries)"+
		" received-unconfirmed=%d unconfirmed=%d reconnects=%d/%d send=%.1fs drain=%.1fs",
		client, r.Senders, r.Receivers, r.Confirmed, r.Received, r.Lost, r.Duplicates, r.DuplicateDeliveries,
		r.ReceivedUnconfirmed, r.Unconfirmed, r.SenderDisconnects, r.ReceiverDisconnects, r.SendSeconds, r.DrainSeconds)
	if r.Overlap != nil {
		s += fmt.Sprintf(" primaries=%d overlaps=%d", len(r.Overlap.Intervals), len(r.Overlap.Overlaps))
	}
	return s + " " + verdict
}
