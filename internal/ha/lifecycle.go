package ha

import (
	"fmt"
	"strings"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha/core"
)

// tick is how often the core is told the time: it sees a freeze as a gap
// of more than a second, and runs its timers (ha-backup-timeout, the
// primary's peer checks).
const tick = 100 * time.Millisecond

// Start begins HA work: a cluster member looks for the primary; a
// standalone broker with ha-queue-replication serves queue replicas.
func (m *Module) Start() {
	if !m.cfg.Cluster {
		if m.cfg.QueueReplication {
			m.startSource()
		}
		return
	}
	m.mu.Lock()
	m.backup = newBackup(m)
	b := m.backup
	m.mu.Unlock()
	go b.run()
	m.goRun(m.persistLoop)
	m.goRun(m.ticker)
}

// ticker tells the core the time until the module stops, and how long each
// backup's oldest unacknowledged event has waited.
func (m *Module) ticker() {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-m.quit.Done():
			return
		case <-t.C:
			m.step(func(c *core.Core) error {
				for id, s := range m.streams {
					since, waiting := s.oldestUnacknowledged()
					c.Unacknowledged(id, since, waiting)
				}
				return nil
			})
		}
	}
}

// Stop ends replication and saves the position.
func (m *Module) Stop() {
	m.step(func(c *core.Core) error { c.Stopping(); return nil })
	m.mu.Lock()
	b := m.backup
	m.backup = nil
	m.mu.Unlock()
	if b != nil {
		b.shutdown(closeGrace)
	}
	m.mu.Lock()
	replicas := m.replicas
	m.replicas = nil
	m.mu.Unlock()
	for _, r := range replicas {
		close(r.stop)
	}
	m.goMu.Lock()
	m.stopped = true
	m.goMu.Unlock()
	m.stopNow()
	m.wg.Wait()
	m.savePosition()
}

// The promotion errors (see core).
var (
	ErrCatchingUp   = core.ErrCatchingUp
	ErrJoining      = core.ErrJoining
	ErrPrimaryExist = core.ErrPrimaryExist
	ErrNotReady     = core.ErrNotReady
	ErrNotCluster   = core.ErrNotCluster
)

// CanPromote applies the promotion rules (core.CanPromote) to this broker
// and what a status check found of its peers.
func (m *Module) CanPromote(peers []PeerStatus) error {
	pos := m.Position()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.core.SetPosition(pos)
	return m.core.CanPromote(peers)
}

// Promote makes this broker the primary of a new epoch, if the rules allow
// (core.Promote). It returns once the broker is recovering or active, its
// new epoch persisted.
func (m *Module) Promote(peers []PeerStatus) error {
	if err := m.CanPromote(peers); err != nil {
		return err
	}
	m.mu.Lock()
	b := m.backup
	m.backup = nil
	m.mu.Unlock()
	if b != nil {
		b.shutdown(0) // no longer following anyone: the primary is gone
	}
	err := m.step(func(c *core.Core) error {
		if m.primary != nil {
			return nil
		}
		if err := c.Promote(peers); err != nil {
			return err
		}
		epoch, _ := c.Primary()
		m.primary = newPrimary(m, epoch)
		return nil
	})
	if err != nil {
		m.restartBackup()
		return err
	}
	m.mu.Lock()
	p := m.primary
	m.mu.Unlock()
	p.observe()
	if m.cfg.Store != nil {
		m.cfg.Store.MarkPosition() // the new epoch, on disk before any message
	}
	m.serving.Store(true) // clients may come once the queues are replicated
	m.startReplicas()
	return nil
}

// restartBackup follows a primary again after a promotion that failed
// once the backup had stopped.
func (m *Module) restartBackup() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.primary != nil || m.backup != nil || m.core.State() == Standalone {
		return
	}
	m.backup = newBackup(m)
	go m.backup.run()
}

// startSource lets a standalone broker serve queue replicas. Its message
// identities take a new epoch at every start, so they are never reused.
func (m *Module) startSource() {
	m.step(func(c *core.Core) error {
		m.primary = newPrimary(m, c.StartSource())
		return nil
	})
	m.primary.observe()
}

// CommitBarrier is called once a transaction's changes are made on the
// primary: it returns a hold that is done when every backup has applied the
// whole transaction (nil when there is nothing to wait for), so a commit is
// acknowledged only when it cannot be lost or half-applied by a failover.
func (m *Module) CommitBarrier(txn string) *broker.Hold {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.primary == nil || !m.cfg.Cluster {
		return nil
	}
	pending := m.core.StreamBits(false) | m.core.MinReadyHeld()
	h := broker.NewHold(pending)
	m.pushAllLocked(item{kind: EvTxCommit, queueName: txn, hold: h}, false)
	return h
}

// syncBarrier marks the present end of every ready backup's stream: its
// hold is done once each of them has applied every change made so far
// (qpid-config --wait). A tx-commit naming no transaction is such a mark.
func (m *Module) syncBarrier() *broker.Hold {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := broker.NewHold(m.core.StreamBits(true))
	m.pushAllLocked(item{kind: EvTxCommit, hold: h}, true)
	return h
}

// pushAllLocked queues an item on every stream (only those of ready
// backups, with ready), at the primary's next position (m.mu held).
func (m *Module) pushAllLocked(it item, ready bool) {
	if p := m.primary; p != nil {
		it.at = p.seq.Add(1)
	}
	ms := m.core.Membership()
	for _, s := range m.streams {
		if !ready || ms.IsReady(s.backupID) {
			s.push(it)
		}
	}
}

// noteApplied records the primary's position a backup has reached.
func (m *Module) noteApplied(seq uint64) {
	m.mu.Lock()
	epoch := m.core.Membership().Epoch
	if p := (Position{Epoch: epoch, Seq: seq}); m.position.Less(p) {
		m.position = p
	}
	m.mu.Unlock()
}

// Position is the replication position this broker holds: for a primary,
// its own; for a backup, the primary's it has applied; for a broker that
// has applied nothing since it started, the one it persisted before (the
// cluster manager starts the freshest broker of a stopped cluster first).
func (m *Module) Position() Position {
	m.mu.Lock()
	pos, p := m.position, m.primary
	m.mu.Unlock()
	if p != nil {
		return Position{Epoch: p.epoch, Seq: p.seq.Load()}
	}
	if saved := m.store.Get().Position; pos.Less(saved) {
		return saved
	}
	return pos
}

// persistLoop saves the position now and then: a cluster manager restarting
// the whole cluster promotes the broker that holds the highest. With a
// store it is the position the store synced, which the broker also
// recovers from its store at start.
func (m *Module) persistLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.quit.Done():
			return
		case <-t.C:
			m.savePosition()
		}
	}
}

func (m *Module) savePosition() {
	pos := m.Position()
	st := m.store.Get()
	if m.cfg.Store != nil {
		// Only what is on disk: the state file is what the cluster
		// manager's agent reads to choose the first primary.
		if pos = m.cfg.Store.SyncedPosition(); pos == st.Position {
			return
		}
	} else if !st.Position.Less(pos) {
		return
	}
	if err := m.store.Update(func(p *Persistent) { p.Position = pos }); err != nil {
		m.log.WithError(err).Warn("cannot persist the HA position")
	}
}

// ClientMechanism chooses the SASL mechanism for connecting to another
// broker: ha-mechanism if set, else SCRAM-SHA-256 with a user name (the
// password never crosses the wire) or ANONYMOUS without one.
func ClientMechanism(mech, user, password string) (sasl.ClientMechanism, error) {
	switch strings.ToUpper(mech) {
	case "":
		if user == "" {
			return sasl.ClientAnonymous(), nil
		}
		return auth.NewSCRAMClient(user, password), nil
	case sasl.Anonymous:
		return sasl.ClientAnonymous(), nil
	case sasl.Plain:
		return sasl.ClientPlain(user, password), nil
	case auth.SCRAMSHA256:
		return auth.NewSCRAMClient(user, password), nil
	case sasl.External:
		// The identity is this broker's certificate's (ssl: peers only).
		return sasl.ClientExternal(), nil
	}
	return nil, fmt.Errorf("ha-mechanism %q is not supported (ANONYMOUS, PLAIN, SCRAM-SHA-256 or EXTERNAL)", mech)
}
