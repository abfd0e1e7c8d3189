package ha

import (
	"testing"
	"time"
)

func TestFreezeWatch(t *testing.T) {
	var f freezeWatch
	t0 := time.Unix(1000, 0)
	window := 4 * time.Second
	if f.frozeWithin(t0, window) {
		t.Fatal("a watch that never observed reports a freeze")
	}
	for i := 0; i <= 10; i++ {
		f.observe(t0.Add(time.Duration(i) * freezeTick))
	}
	running := t0.Add(10 * freezeTick)
	if f.frozeWithin(running.Add(freezeTick), window) {
		t.Fatal("a process that ran every tick reports a freeze")
	}
	// Stopped for 30 s: before the watch runs again, the gap shows.
	woke := running.Add(30 * time.Second)
	if !f.frozeWithin(woke, window) {
		t.Fatal("waking from a 30 s freeze, before the watch ran: no freeze reported")
	}
	f.observe(woke)
	if !f.frozeWithin(woke.Add(window-time.Millisecond), window) {
		t.Fatal("just within the window after the freeze: no freeze reported")
	}
	for d := freezeTick; d <= window; d += freezeTick {
		f.observe(woke.Add(d))
	}
	if f.frozeWithin(woke.Add(window), window) {
		t.Fatal("a window after the freeze it is still reported")
	}
	// A gap just at freezeGap is a slow scheduler, not a freeze.
	at := woke.Add(window)
	f.observe(at.Add(freezeGap))
	if f.frozeWithin(at.Add(freezeGap), window) {
		t.Fatal("a gap of exactly freezeGap counts as a freeze")
	}
}
