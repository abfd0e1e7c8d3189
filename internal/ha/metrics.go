package ha

import (
	"sort"
	"time"

	"github.com/qpidha/qpidha/internal/broker"
)

// Metrics are the module's figures at one moment, for the metrics
// endpoint: read when scraped, nothing is computed on the message path
// but a few counters.
type Metrics struct {
	State        State
	Epoch        uint64 // of the newest membership this broker knows
	ReadyBackups int    // the ready set's size
	Promotions   uint64 // times this process became primary
	// GuardHeld is the number of messages the guard holds now: enqueued
	// on the primary and not yet released by every party (counted only
	// with a Config.GuardObserver).
	GuardHeld int64
	// Backups is the replication lag of each backup connected to this
	// primary, by broker id.
	Backups []BackupLag
}

// BackupLag is how far a backup is behind its primary: the messages queued
// for it or sent and not acknowledged yet, their bytes (as sent, for those
// sent; the messages' sizes for those queued), and how long the oldest
// delivery it has not acknowledged has waited (0: none waits).
type BackupLag struct {
	ID       string
	Messages int64
	Bytes    int64
	Seconds  float64
}

// Metrics returns the module's figures now.
func (m *Module) Metrics() Metrics {
	m.mu.Lock()
	ms := m.core.Membership()
	out := Metrics{State: m.core.State(), Epoch: ms.Epoch, ReadyBackups: len(ms.Ready),
		Promotions: m.promotions.Load(), GuardHeld: m.guardHeld.Load()}
	streams := make([]*stream, 0, len(m.streams))
	for _, s := range m.streams {
		streams = append(streams, s)
	}
	m.mu.Unlock()
	now := time.Since(m.start)
	for _, s := range streams {
		if s.single {
			continue // a queue replica, not a backup
		}
		out.Backups = append(out.Backups, s.lag(now))
	}
	sort.Slice(out.Backups, func(i, j int) bool { return out.Backups[i].ID < out.Backups[j].ID })
	return out
}

// lag is the stream's backup's lag at now (the core's time).
func (s *stream) lag(now time.Duration) BackupLag {
	s.mu.Lock()
	l := BackupLag{ID: s.backupID, Messages: int64(s.queuedMsgs), Bytes: s.queuedBytes}
	s.mu.Unlock()
	l.Messages += s.lagMsgs.Load()
	l.Bytes += s.lagBytes.Load()
	if at, ok := s.oldestUnacknowledged(); ok && now > at {
		l.Seconds = (now - at).Seconds()
	}
	return l
}

// guardHold is the hold a new message waits on for the parties in mask;
// timed and counted when someone observes the guard.
func (m *Module) guardHold(mask uint64) *broker.Hold {
	if m.cfg.GuardObserver == nil {
		return broker.NewHold(mask)
	}
	m.guardHeld.Add(1)
	return broker.NewTimedHold(mask, int64(time.Since(m.start)), m.guardEnded)
}

// endGuardHold is a timed guard hold's end.
func (m *Module) endGuardHold(began int64) {
	m.guardHeld.Add(-1)
	m.cfg.GuardObserver(time.Since(m.start) - time.Duration(began))
}
