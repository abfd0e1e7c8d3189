package checker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The role-change check reads brokers' logs: every HA state change is a
// logrus line (text or JSON)
//
//	msg="HA role change" from=ready to=recovering epoch=4 mono=5097404163438
//
// where mono is CLOCK_MONOTONIC in nanoseconds, the same clock in every
// process of a machine. A broker is primary from its change to recovering
// (or active) until the first of: a later change to a backup state (in a
// log that goes on across a restart: the restart's "to=joining"), its
// stale-primary shutdown line (msg mentions "stale primary", with mono), or
// a marker line the harness writes when it kills or stops a broker:
//
//	KILLED broker=NAME mono=NS
//	STOPPED broker=NAME mono=NS
//
// (broker= may be left out in a marker inside the broker's own log). A
// broker killed with SIGKILL logs nothing more, so without a marker its
// primary interval never ends: the harness must read the clock (Monotonic)
// once the broker is dead, and write the marker.

// EventKind is what a role event says.
type EventKind string

// Kinds of role events.
const (
	RoleChange EventKind = "role-change" // the broker changed state
	StaleStop  EventKind = "stale"       // a stale primary stopped serving
	Killed     EventKind = "killed"      // the harness killed the broker
	Stopped    EventKind = "stopped"     // the harness stopped the broker
)

// RoleEvent is one line of interest in a broker's log.
type RoleEvent struct {
	Broker string    `json:"broker"`
	Kind   EventKind `json:"kind"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Epoch  uint64    `json:"epoch,omitempty"`
	Mono   int64     `json:"mono"`
	Line   int       `json:"line"`
}

// Monotonic reads CLOCK_MONOTONIC, the clock of the brokers' role-change
// lines, in nanoseconds.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// KillMarker is the line that records a broker's death at mono.
func KillMarker(broker string, mono int64) string {
	return fmt.Sprintf("KILLED broker=%s mono=%d", broker, mono)
}

// ParseRoleLog reads the role events of one broker's log; lines it cannot
// use are skipped, lines it should use but cannot are errors.
func ParseRoleLog(broker string, r io.Reader) ([]RoleEvent, []string) {
	var evs []RoleEvent
	var errs []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		ev, ok, err := parseRoleLine(broker, sc.Text())
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: %v", broker, n, err))
			continue
		}
		if ok {
			ev.Line = n
			evs = append(evs, ev)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Sprintf("%s: %v", broker, err))
	}
	return evs, errs
}

func parseRoleLine(broker, line string) (RoleEvent, bool, error) {
	ev := RoleEvent{Broker: broker}
	trimmed := strings.TrimSpace(line)
	word, rest, _ := strings.Cut(trimmed, " ")
	if word == "KILLED" || word == "STOPPED" {
		f := parseFields(rest)
		ev.Kind = Killed
		if word == "STOPPED" {
			ev.Kind = Stopped
		}
		if b := f["broker"]; b != "" {
			ev.Broker = b
		}
		mono, err := strconv.ParseInt(f["mono"], 10, 64)
		if err != nil {
			return ev, false, fmt.Errorf("%s marker without a valid mono: %q", word, line)
		}
		ev.Mono = mono
		return ev, true, nil
	}
	var f map[string]string
	if strings.HasPrefix(trimmed, "{") {
		f = parseJSONFields(trimmed)
	} else {
		f = parseFields(line)
	}
	msg := f["msg"]
	switch {
	case msg == "HA role change":
		ev.Kind = RoleChange
		ev.From, ev.To = f["from"], f["to"]
		if ev.To == "" {
			return ev, false, fmt.Errorf("role change without to=: %q", line)
		}
		if e, err := strconv.ParseUint(f["epoch"], 10, 64); err == nil {
			ev.Epoch = e
		}
	case strings.Contains(msg, "stale primary"):
		ev.Kind = StaleStop
	default:
		return ev, false, nil
	}
	mono, err := strconv.ParseInt(f["mono"], 10, 64)
	if err != nil {
		return ev, false, fmt.Errorf("%s line without a valid mono: %q", ev.Kind, line)
	}
	ev.Mono = mono
	return ev, true, nil
}

// parseFields reads logfmt key=value pairs (logrus's text format): a value
// is bare or a Go-quoted string. Words without '=' are skipped.
func parseFields(s string) map[string]string {
	f := map[string]string{}
	for i := 0; i < len(s); {
		if s[i] == ' ' || s[i] == '\t' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] != '=' && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		if j >= len(s) || s[j] != '=' {
			i = j
			continue
		}
		key := s[i:j]
		j++
		if j < len(s) && s[j] == '"' {
			k := j + 1
			for k < len(s) && s[k] != '"' {
				if s[k] == '\\' {
					k++
				}
				k++
			}
			if v, err := strconv.Unquote(s[j:min(k+1, len(s))]); err == nil {
				f[key] = v
			}
			i = k + 1
			continue
		}
		k := j
		for k < len(s) && s[k] != ' ' && s[k] != '\t' {
			k++
		}
		f[key] = s[j:k]
		i = k
	}
	return f
}

// parseJSONFields reads a logrus JSON line, every value as text.
func parseJSONFields(s string) map[string]string {
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	f := map[string]string{}
	if d.Decode(&m) != nil {
		return f
	}
	for k, v := range m {
		f[k] = fmt.Sprint(v)
	}
	return f
}

// Interval is a time a broker was primary.
type Interval struct {
	Broker    string `json:"broker"`
	Epoch     uint64 `json:"epoch"`
	Start     int64  `json:"start"`          // mono ns of the change to recovering/active
	End       int64  `json:"end,omitempty"`  // mono ns; 0 if Open
	Open      bool   `json:"open,omitempty"` // no end found: primary to the end of the logs
	EndedBy   string `json:"ended_by,omitempty"`
	StartLine int    `json:"start_line"`
}

func (iv Interval) end() int64 {
	if iv.Open {
		return math.MaxInt64
	}
	return iv.End
}

func (iv Interval) String() string {
	end := "open (no end recorded)"
	if !iv.Open {
		end = fmt.Sprintf("%s (%s)", monoString(iv.End), iv.EndedBy)
	}
	return fmt.Sprintf("%s epoch %d primary from %s (line %d) to %s",
		iv.Broker, iv.Epoch, monoString(iv.Start), iv.StartLine, end)
}

// monoString shows a CLOCK_MONOTONIC time in seconds, to the nanosecond.
func monoString(ns int64) string { return fmt.Sprintf("%d.%09ds", ns/1e9, ns%1e9) }

// Overlap is a time two brokers were both primary.
type Overlap struct {
	A    Interval `json:"a"`
	B    Interval `json:"b"`
	From int64    `json:"from"`
	To   int64    `json:"to,omitempty"` // 0 if both are open
	Open bool     `json:"open,omitempty"`
}

func (o Overlap) String() string {
	if o.Open {
		return fmt.Sprintf("two primaries from %s on, with no end: %s; %s", monoString(o.From), o.A, o.B)
	}
	return fmt.Sprintf("two primaries for %v from %s to %s: %s; %s",
		time.Duration(o.To-o.From), monoString(o.From), monoString(o.To), o.A, o.B)
}

// OverlapReport is the outcome of the role-change check.
type OverlapReport struct {
	Intervals []Interval `json:"intervals"`
	Overlaps  []Overlap  `json:"overlaps,omitempty"`
	// EpochConflicts: two brokers primary with the same epoch, or a later
	// primary with an epoch not above an earlier one's.
	EpochConflicts []string `json:"epoch_conflicts,omitempty"`
	Errors         []string `json:"errors,omitempty"`
	OK             bool     `json:"ok"`
}

// Problems lists everything wrong, one line each.
func (r *OverlapReport) Problems() []string {
	var p []string
	for _, o := range r.Overlaps {
		p = append(p, o.String())
	}
	p = append(p, r.EpochConflicts...)
	return append(p, r.Errors...)
}

// PrimaryIntervals finds when each broker was primary.
func PrimaryIntervals(events []RoleEvent) []Interval {
	byBroker := map[string][]RoleEvent{}
	var names []string
	for _, ev := range events {
		if _, ok := byBroker[ev.Broker]; !ok {
			names = append(names, ev.Broker)
		}
		byBroker[ev.Broker] = append(byBroker[ev.Broker], ev)
	}
	var out []Interval
	for _, name := range names {
		evs := byBroker[name]
		slices.SortStableFunc(evs, func(a, b RoleEvent) int { return cmpInt64(a.Mono, b.Mono) })
		var cur *Interval
		end := func(mono int64, why string) {
			if cur != nil {
				cur.End, cur.EndedBy = mono, why
				out = append(out, *cur)
				cur = nil
			}
		}
		for _, ev := range evs {
			switch ev.Kind {
			case RoleChange:
				switch {
				case isPrimary(ev.To) && cur == nil:
					cur = &Interval{Broker: name, Epoch: ev.Epoch, Start: ev.Mono, StartLine: ev.Line}
				case !isPrimary(ev.To):
					end(ev.Mono, fmt.Sprintf("%s->%s at line %d", ev.From, ev.To, ev.Line))
				}
			case StaleStop:
				end(ev.Mono, "stale primary stopped")
			case Killed:
				end(ev.Mono, "killed")
			case Stopped:
				end(ev.Mono, "stopped")
			}
		}
		if cur != nil {
			cur.Open = true
			out = append(out, *cur)
		}
	}
	slices.SortStableFunc(out, func(a, b Interval) int { return cmpInt64(a.Start, b.Start) })
	return out
}

func isPrimary(state string) bool { return state == "recovering" || state == "active" }

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CheckOverlap finds the times two brokers were primary at once, and
// epochs that do not grow from one primary to the next.
func CheckOverlap(events []RoleEvent) *OverlapReport {
	r := &OverlapReport{Intervals: PrimaryIntervals(events)}
	ivs := r.Intervals
	for i := range ivs {
		for j := i + 1; j < len(ivs); j++ {
			a, b := ivs[i], ivs[j]
			if a.Broker == b.Broker {
				continue
			}
			from, to := max(a.Start, b.Start), min(a.end(), b.end())
			if from >= to {
				continue
			}
			o := Overlap{A: a, B: b, From: from}
			if to == math.MaxInt64 {
				o.Open = true
			} else {
				o.To = to
			}
			r.Overlaps = append(r.Overlaps, o)
		}
		if i > 0 && ivs[i].Epoch <= ivs[i-1].Epoch {
			r.EpochConflicts = append(r.EpochConflicts, fmt.Sprintf(
				"epoch %d of %s does not follow epoch %d of the earlier primary %s",
				ivs[i].Epoch, ivs[i], ivs[i-1].Epoch, ivs[i-1]))
		}
	}
	r.OK = len(r.Overlaps) == 0 && len(r.EpochConflicts) == 0
	return r
}

// CheckOverlapLogs checks logs given as text, by broker name. Markers in
// any log name their broker with broker=.
func CheckOverlapLogs(logs map[string]string) *OverlapReport {
	names := make([]string, 0, len(logs))
	for name := range logs {
		names = append(names, name)
	}
	slices.Sort(names)
	var events []RoleEvent
	var errs []string
	for _, name := range names {
		evs, e := ParseRoleLog(name, strings.NewReader(logs[name]))
		events = append(events, evs...)
		errs = append(errs, e...)
	}
	return finish(CheckOverlap(events), errs)
}

// CheckOverlapFiles checks log files, each a broker named by its path; a
// marker's broker= may also give the file's base name.
func CheckOverlapFiles(paths ...string) *OverlapReport {
	var events []RoleEvent
	var errs []string
	base := map[string]string{}
	for _, p := range paths {
		base[filepath.Base(p)] = p
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		evs, e := ParseRoleLog(p, bytes.NewReader(data))
		for i := range evs {
			if full, ok := base[evs[i].Broker]; ok && !slices.Contains(paths, evs[i].Broker) {
				evs[i].Broker = full
			}
		}
		events = append(events, evs...)
		errs = append(errs, e...)
	}
	return finish(CheckOverlap(events), errs)
}

func finish(r *OverlapReport, errs []string) *OverlapReport {
	r.Errors = errs
	r.OK = r.OK && len(errs) == 0
	return r
}
