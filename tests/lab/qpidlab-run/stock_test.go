package main

import (
	"testing"
	"time"
)

func TestLongestGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	ts := []time.Time{at(-50), at(20), at(40), at(1540), at(1560), at(3000)}
	if g := longestGap(ts, at(0), at(1560)); g != 1500*time.Millisecond {
		t.Errorf("gap %v, want 1.5s", g)
	}
	// The ends count: nothing accepted since from.
	if g := longestGap(ts, at(1600), at(2000)); g != 400*time.Millisecond {
		t.Errorf("gap %v, want 400ms", g)
	}
}

func TestStockStats(t *testing.T) {
	trials := []trialResult{
		{Stock: map[string]stockOutage{"a": {Outage: 3}, "b": {Outage: 1}}},
		{Stock: map[string]stockOutage{"a": {Outage: 1}, "b": {Outage: 60, Error: "stalled"}}},
		{Error: "failed", Stock: map[string]stockOutage{"a": {Outage: 9}}},
		{Stock: map[string]stockOutage{"a": {Outage: 2}}},
	}
	st := stockStatsOf(trials)
	if len(st) != 2 || st[0].Client != "a" || st[1].Client != "b" {
		t.Fatalf("%+v", st)
	}
	if st[0].Trials != 3 || st[0].P50 != 2 || st[0].Max != 3 || st[0].Stalled != 0 {
		t.Errorf("a: %+v", st[0])
	}
	if st[1].Trials != 2 || st[1].Stalled != 1 || st[1].Max != 60 {
		t.Errorf("b: %+v", st[1])
	}
}
