package main

import (
	"context"
	"testing"
	"time"
)

// fakeProbe is a probe with a recorded history and no connections.
func fakeProbe(t0 time.Time, acceptedAt ...time.Duration) *probe {
	p := &probe{changed: make(chan struct{})}
	for _, d := range acceptedAt {
		at := t0.Add(d)
		p.accepted = append(p.accepted, acceptance{sent: at.Add(-time.Millisecond), accepted: at})
	}
	return p
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestFailoverIsTheEndOfTheOutage(t *testing.T) {
	t0 := time.Now()
	// Messages until 20 ms after the fault time (the injection returns
	// at 25 ms), nothing for 3 s, then the new primary.
	p := fakeProbe(t0, ms(-20), ms(-10), ms(5), ms(20), ms(3020), ms(3030), ms(3040))
	fo, gap, err := p.failover(context.Background(), t0, t0.Add(ms(25)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if fo != ms(3020) || gap != ms(3000) {
		t.Errorf("failover %v outage %v, want 3.02s and 3s", fo, gap)
	}
}

func TestFailoverOfACommandThatReturnsLate(t *testing.T) {
	t0 := time.Now()
	// pcs takes 4 s; the outage is inside it.
	p := fakeProbe(t0, ms(10), ms(1000), ms(1010), ms(2500), ms(2510), ms(3500), ms(4005))
	fo, gap, err := p.failover(context.Background(), t0, t0.Add(ms(4000)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if fo != ms(2500) || gap != ms(1490) {
		t.Errorf("failover %v outage %v, want 2.5s and 1.49s", fo, gap)
	}
}

func TestNoOutage(t *testing.T) {
	t0 := time.Now()
	p := fakeProbe(t0, ms(-5), ms(7), ms(17), ms(27), ms(37))
	fo, gap, err := p.failover(context.Background(), t0, t0.Add(ms(20)), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if fo != ms(7) || gap != ms(10) {
		t.Errorf("failover %v outage %v, want 7ms and 10ms", fo, gap)
	}
}

func TestFailoverTimesOut(t *testing.T) {
	t0 := time.Now()
	p := fakeProbe(t0, ms(-5))
	if _, _, err := p.failover(context.Background(), t0, t0, 50*time.Millisecond); err == nil {
		t.Error("no error without a message after the fault")
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if p := percentile(v, 50); p != 5 {
		t.Errorf("p50 %v", p)
	}
	if p := percentile(v, 99); p != 10 {
		t.Errorf("p99 %v", p)
	}
	if p := percentile(nil, 50); p != 0 {
		t.Errorf("p50 of nothing %v", p)
	}
}
