package ha

import (
	"sync"
	"time"
)

// A primary that was frozen (SIGSTOP, a paused VM) wakes with every backup
// silent for longer than the heartbeat allows. Dropping them then, and
// acknowledging alone, would be wrong if the cluster manager promoted
// another broker meanwhile: the messages it acknowledged would be lost with
// it. So a primary notices its own freezes, and before it drops a backup
// just after one, it checks its peers for a newer primary (then it is stale
// and stops).

// freezeTick is how often the watch looks at the clock; a gap of freezeGap
// between looks means the process did not run.
const (
	freezeTick = 100 * time.Millisecond
	freezeGap  = time.Second
)

// freezeWatch remembers when the process last ran and when it last woke
// from a freeze. Fed by observe; time comes from the caller, so it is
// tested exactly.
type freezeWatch struct {
	mu       sync.Mutex
	last     time.Time // the last observation
	frozenAt time.Time // when the last freeze ended, zero if none
}

// observe records that the process runs at now.
func (f *freezeWatch) observe(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.last.IsZero() && now.Sub(f.last) > freezeGap {
		f.frozenAt = now
	}
	f.last = now
}

// frozeWithin reports whether, at now, the process is waking from a freeze
// the watch has not observed yet, or woke from one less than window ago.
func (f *freezeWatch) frozeWithin(now time.Time, window time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.last.IsZero() && now.Sub(f.last) > freezeGap {
		return true
	}
	return !f.frozenAt.IsZero() && now.Sub(f.frozenAt) < window
}

// watch feeds the clock to f until quit is closed.
func (f *freezeWatch) watch(quit <-chan struct{}) {
	t := time.NewTicker(freezeTick)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case now := <-t.C:
			f.observe(now)
		}
	}
}
