package ha

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
)

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
	m.goRun(func() { m.freeze.watch(m.quit) })
}

// Stop ends replication and saves the position.
func (m *Module) Stop() {
	m.mu.Lock()
	m.stopping = true
	b := m.backup
	m.backup = nil
	p := m.primary
	m.mu.Unlock()
	if b != nil {
		b.shutdown(closeGrace)
	}
	if p != nil {
		p.mu.Lock()
		if p.timer != nil {
			p.timer.Stop()
		}
		p.mu.Unlock()
	}
	m.mu.Lock()
	replicas := m.replicas
	m.replicas = nil
	m.mu.Unlock()
	for _, r := range replicas {
		close(r.stop)
	}
	m.quitOnce.Do(func() { close(m.quit) })
	m.wg.Wait()
	m.savePosition()
}

// frozeRecently reports whether this process was frozen (SIGSTOP, a paused
// VM) within two link heartbeats, or is waking from a freeze now.
func (m *Module) frozeRecently() bool {
	return m.freeze.frozeWithin(time.Now(), max(2*m.cfg.HeartbeatInterval, 2*freezeGap))
}

// newerPrimaryExists asks the peers whether one of them is primary of a
// newer epoch; if so this primary is stale and stops (stale).
func (m *Module) newerPrimaryExists(epoch uint64) bool {
	for _, peer := range m.CheckPeers(m.statusTimeout()) {
		if peer.Reachable && peer.State.IsPrimary() && peer.Membership.Epoch > epoch {
			m.stale(peer.Membership.Epoch)
			return true
		}
	}
	return false
}

func (m *Module) isStopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopping
}

// PeerStatus is what a status check learned of another broker.
type PeerStatus struct {
	Address    string
	Reachable  bool
	State      State
	BrokerID   string
	Membership Membership
}

// Errors of promotion, with the reasons the original gave.
var (
	ErrCatchingUp   = errors.New("Still catching up, cannot be promoted")
	ErrJoining      = errors.New("Joining active cluster, cannot be promoted")
	ErrPrimaryExist = errors.New("another broker is already primary")
	ErrNotReady     = errors.New("not in the current ready set: another backup took over while this one was away")
	ErrNotCluster   = errors.New("not a member of a cluster (ha-cluster=no)")
)

// CanPromote applies the promotion rules to this broker's state and what a
// status check found of its peers (unreachable or hung peers are ignored,
// as the original did):
//   - a primary (active or recovering) is promoted already;
//   - catchup never;
//   - ready, unless a reachable peer is active or recovering, and only if
//     this broker is in the newest ready set it knows of, its own or a
//     peer's: a backup dropped while it was away must not take over;
//   - joining, only when every reachable peer is joining too (the first
//     primary of a new cluster).
func (m *Module) CanPromote(peers []PeerStatus) error {
	st := m.State()
	switch st {
	case Standalone:
		return ErrNotCluster
	case Active, Recovering:
		return nil
	case CatchUp:
		return ErrCatchingUp
	}
	for _, p := range peers {
		if p.Reachable && p.State.IsPrimary() {
			return fmt.Errorf("%w: %s is %s", ErrPrimaryExist, p.Address, p.State)
		}
	}
	if st == Joining {
		for _, p := range peers {
			if p.Reachable && p.State != Joining {
				return fmt.Errorf("%w (%s is %s)", ErrJoining, p.Address, p.State)
			}
		}
		return nil
	}
	newest := m.Membership()
	for _, p := range peers {
		if p.Reachable && p.Membership.Newer(newest) {
			newest = p.Membership
		}
	}
	if newest.Epoch > 0 && !newest.IsReady(m.BrokerID()) {
		return fmt.Errorf("%w (%s)", ErrNotReady, newest)
	}
	return nil
}

// Promote makes this broker the primary of a new epoch, if the rules allow
// (see CanPromote). It returns once the broker is recovering or active.
func (m *Module) Promote(peers []PeerStatus) error {
	if err := m.CanPromote(peers); err != nil {
		return err
	}
	m.mu.Lock()
	if m.primary != nil {
		m.mu.Unlock()
		return nil
	}
	from := m.state
	b := m.backup
	m.backup = nil
	m.mu.Unlock()
	if b != nil {
		b.shutdown(0) // no longer following anyone: the primary is gone
	}
	// The new epoch goes beyond every epoch this broker or its peers know.
	st := m.store.Get()
	epoch := max(st.Epoch, st.Membership.Epoch)
	for _, p := range peers {
		epoch = max(epoch, p.Membership.Epoch)
	}
	epoch++
	old := m.Membership()
	var expected []string
	if from == Ready {
		expected = old.Ready // the old primary's backups: hold for them
	}
	if err := m.store.Update(func(p *Persistent) {
		p.Epoch = epoch
		p.Position = Position{Epoch: epoch}
	}); err != nil {
		return fmt.Errorf("cannot persist the new epoch: %w", err)
	}
	p := newPrimary(m, epoch, expected)
	m.mu.Lock()
	m.primary = p
	m.membership = p.membership.clone()
	m.mu.Unlock()
	m.persistMembership()
	if err := m.setState(Recovering); err != nil {
		return err
	}
	if p.expecting() {
		p.log.WithField("backups", shortAll(expected)).Info("recovering: holding acknowledgements until the old primary's backups catch up")
		p.mu.Lock()
		p.timer = time.AfterFunc(m.cfg.BackupTimeout, p.expire)
		p.mu.Unlock()
	}
	m.checkRecovered()
	m.startReplicas()
	m.goRun(func() { m.watchPeers(p) })
	return nil
}

// startSource lets a standalone broker serve queue replicas. Its message
// identities take a new epoch at every start, so they are never reused.
func (m *Module) startSource() {
	var epoch uint64
	_ = m.store.Update(func(p *Persistent) {
		p.Epoch++
		epoch = p.Epoch
	})
	p := newPrimary(m, epoch, nil)
	m.mu.Lock()
	m.primary = p
	m.mu.Unlock()
}

// watchPeers makes a primary check its peers now and then: if one of them
// is primary of a newer epoch (this broker was paused or partitioned while
// another was promoted), this one is stale and stops serving.
func (m *Module) watchPeers(p *primary) {
	period := max(2*m.cfg.MaintenanceInterval, time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
		}
		m.mu.Lock()
		current := m.primary == p
		m.mu.Unlock()
		if !current {
			return
		}
		if m.newerPrimaryExists(p.epoch) {
			return
		}
	}
}

// checkRecovered makes a recovering primary active once no expected backup
// is awaited.
func (m *Module) checkRecovered() {
	m.mu.Lock()
	p, st := m.primary, m.state
	m.mu.Unlock()
	if p != nil && st == Recovering && !p.expecting() {
		_, _ = m.moveFrom(Active, Recovering)
	}
}

// CommitBarrier is called once a transaction's changes are made on the
// primary: it returns a hold that is done when every backup has applied the
// whole transaction (nil when there is nothing to wait for), so a commit is
// acknowledged only when it cannot be lost or half-applied by a failover.
func (m *Module) CommitBarrier(txn string) *broker.Hold {
	m.mu.Lock()
	p := m.primary
	cluster := m.cfg.Cluster
	m.mu.Unlock()
	if p == nil || !cluster {
		return nil
	}
	return p.commitBarrier(txn)
}

// setMembership adopts a newer membership and persists it.
func (m *Module) setMembership(ms Membership) {
	m.mu.Lock()
	if !ms.Newer(m.membership) {
		m.mu.Unlock()
		return
	}
	m.membership = ms.clone()
	m.mu.Unlock()
	m.persistMembership()
}

func (m *Module) persistMembership() {
	ms := m.Membership()
	if err := m.store.Update(func(p *Persistent) {
		p.Membership = ms
		p.Epoch = max(p.Epoch, ms.Epoch)
	}); err != nil {
		m.log.WithError(err).Error("cannot persist the HA membership")
	}
}

// noteApplied records the primary's position a backup has reached.
func (m *Module) noteApplied(seq uint64) {
	m.mu.Lock()
	epoch := m.membership.Epoch
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
// the whole cluster promotes the broker that holds the highest.
func (m *Module) persistLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
			m.savePosition()
		}
	}
}

func (m *Module) savePosition() {
	pos := m.Position()
	if st := m.store.Get(); !st.Position.Less(pos) {
		return
	}
	if err := m.store.Update(func(p *Persistent) { p.Position = pos }); err != nil {
		m.log.WithError(err).Warn("cannot persist the HA position")
	}
}

// stale is called when this primary learns of a newer epoch: another
// broker was promoted after it, so it must stop serving at once.
func (m *Module) stale(newer uint64) {
	m.log.WithFields(logrus.Fields{"newer-epoch": newer, "mono": Monotonic()}).
		Error("a newer primary exists: this stale primary stops serving")
	if m.cfg.Exit != nil {
		m.cfg.Exit(fmt.Sprintf("stale primary: epoch %d is newer than ours", newer))
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
	}
	return nil, fmt.Errorf("ha-mechanism %q is not supported (ANONYMOUS, PLAIN or SCRAM-SHA-256)", mech)
}
