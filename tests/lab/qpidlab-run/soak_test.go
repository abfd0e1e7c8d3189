package main

import (
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/checker"
)

func TestMaxPrimaries(t *testing.T) {
	for _, c := range []struct {
		name string
		ivs  []checker.Interval
		want int
	}{
		{"none", nil, 0},
		{"a hand-over at one instant", []checker.Interval{{Start: 10, End: 20}, {Start: 20, End: 30}}, 1},
		{"an overlap", []checker.Interval{{Start: 10, End: 21}, {Start: 20, End: 30}}, 2},
		{"an open interval", []checker.Interval{{Start: 10, Open: true}, {Start: 20, End: 30}, {Start: 25, End: 26}}, 3},
	} {
		if got := maxPrimaries(c.ivs); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// The soak's summary groups the faults by kind, times only those that hit
// the primary (or the clients), and sums up each checker.
func TestSoakSummary(t *testing.T) {
	res := &scenarioResult{MaxPrimaries: 1, Trials: []trialResult{
		{Fault: "sigkill", Target: "node1 (primary)", Failover: 0.8, MaxGap: 0.8},
		{Fault: "sigkill", Target: "node2", Failover: 0.01},
		{Fault: "sigkill", Target: "node3 (primary)", Failover: 1.2, MaxGap: 1.1},
		{Fault: "client-partition", Target: "clients", Failover: 5, MaxGap: 5},
		{Fault: "crash", Target: "node2", Error: "not healthy"},
	}}
	res.Checkers = []*checker.Report{{Client: "go", Counts: checker.Counts{Confirmed: 100, Received: 103, Duplicates: 3}}}
	got := soakSummary(res)
	for _, want := range []string{
		"| client-partition | 1 | - | 1 | 5.00 | 5.00 | 5.00 |",
		"| crash | 1 | 0 | 0 | 0.00 | 0.00 | 0.00 |",
		"| sigkill | 3 | 2 | 3 | 0.80 | 1.20 | 1.10 |",
		"| go | 100 | 103 | 0 | 0 | 3 |",
		"most brokers primary at once (role-change logs): 1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}
