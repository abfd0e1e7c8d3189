package ha

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha/core"
	"github.com/qpidha/qpidha/internal/tlsconfig"
)

// Config is the HA part of a broker's options.
type Config struct {
	Cluster          bool     // ha-cluster
	QueueReplication bool     // ha-queue-replication
	Brokers          []string // ha-brokers-url addresses: host:port, ssl:host:port (PeerAddress)
	PublicURL        string   // ha-public-url, shown by qpid-ha query
	Version          string   // the broker's version, shown by qpid-ha status --all --verbose
	Replicate        string   // ha-replicate: none|configuration|all
	// Credentials backups use to connect to the primary.
	Username, Password, Mechanism string
	// TLS has the CA that verifies ssl: peers (nil: the system's roots)
	// and the certificate this broker presents to them.
	TLS                 *tlsconfig.Store
	BackupTimeout       time.Duration // ha-backup-timeout
	FlowMessages        int           // ha-flow-messages
	FlowBytes           int           // ha-flow-bytes: most unacknowledged bytes sent to a backup (0: no limit)
	MinReadyBackups     int           // ha-min-ready-backups
	MaintenanceInterval time.Duration // link-maintenance-interval
	HeartbeatInterval   time.Duration // link-heartbeat-interval
	LagTimeout          time.Duration // ha-backup-lag-timeout (0: twice HeartbeatInterval)
	// DataDir holds the persistent HA state ("" keeps it in memory).
	DataDir string
	// Store is the broker's durable store (nil: none). A backup stores
	// what it replicates and acknowledges it once on disk; the position
	// the broker reports and persists is the one its store has synced.
	Store Durable
	// AdminAllowed says whether an authenticated identity may administer
	// the broker (the ACL's say); nil allows everyone.
	AdminAllowed func(user string) bool
	// OnStatus is told every state change (for sd_notify STATUS=).
	OnStatus func(line string)
	// Exit stops the process: a primary that learns of a newer epoch stops
	// serving (nil: the module only closes its connections).
	Exit func(reason string)
}

// Durable is what the module needs of the broker's store (store.Store).
type Durable interface {
	// SetPosition has the store record the replication position.
	SetPosition(position func() Position)
	// SyncedPosition is the last position recorded and on disk.
	SyncedPosition() Position
	// MarkPosition records the position now, if it moved.
	MarkPosition()
	// Barrier is done once everything stored so far is on disk.
	Barrier() *broker.Hold
	// Health is why the store does not keep up (full, stopped, a sync
	// slower than slow so far), nil if it does.
	Health(slow time.Duration) error
}

// Module is the HA module of one broker: the driver of its core (package
// core), which decides every change of role, membership and guard, while
// the module does the connections, files, timers and the broker's queues.
type Module struct {
	cfg    Config
	log    *logrus.Entry
	broker *broker.Broker
	store  *Store
	srv    *amqpserver.Server
	start  time.Time // the core's time is the monotonic time since

	mu       sync.Mutex // the core, and what the module keeps beside it
	core     *core.Core
	primary  *primary
	backup   *backup
	since    time.Time // when the state was entered
	position Position  // a backup's: the primary's position it applied
	replicas map[string]*replicaQueue
	barriers map[core.BarrierID]*broker.Hold // memberships the streams must acknowledge
	// linkError is why this backup cannot replicate from the primary when
	// the cause is its own configuration (credentials, TLS), nil once it
	// replicates: status shows it so an administrator need not guess.
	linkError atomic.Pointer[string]
	// primaryAddr is the address a backup replicates from, nil when it
	// does not: named when the backup refuses a client.
	primaryAddr atomic.Pointer[string]
	streams     map[core.StreamID]*stream
	streamID    core.StreamID
	// lostPending are parties of streams that ended, which every new
	// message waits for until the core has heard of their end.
	lostPending uint64
	// serving: a primary's queues are replicated (its driver is set up):
	// clients may come.
	serving atomic.Bool

	// quit ends the module's own goroutines and their status checks
	// (Stop); wg waits for them; stopped (under goMu) starts no more.
	quit    context.Context
	stopNow context.CancelFunc
	goMu    sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// New creates the module. The broker starts joining (a cluster member) or
// standalone; Start begins looking for a primary.
func New(cfg Config, b *broker.Broker, log *logrus.Logger) (*Module, error) {
	if cfg.Replicate == "" {
		cfg.Replicate = broker.ReplicateNone
	}
	if _, err := broker.ParseReplicate(cfg.Replicate); err != nil {
		return nil, fmt.Errorf("ha-replicate: %w", err)
	}
	if cfg.FlowMessages <= 0 {
		cfg.FlowMessages = 1000
	}
	if cfg.MaintenanceInterval <= 0 {
		cfg.MaintenanceInterval = 2 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 120 * time.Second
	}
	if cfg.LagTimeout <= 0 {
		cfg.LagTimeout = 2 * cfg.HeartbeatInterval
	}
	if cfg.BackupTimeout <= 0 {
		cfg.BackupTimeout = 10 * time.Second
	}
	if cfg.Cluster && len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("ha-cluster=yes needs ha-brokers-url: the addresses of the cluster's brokers")
	}
	store, err := OpenStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Store != nil {
		// What the store holds, not what the state file last said: the
		// cluster manager's first start and the promotion rules compare it.
		pos := cfg.Store.SyncedPosition()
		if err := store.Update(func(p *Persistent) { p.Position = pos }); err != nil {
			return nil, err
		}
	}
	saved := store.Get()
	m := &Module{cfg: cfg, broker: b, store: store, start: time.Now(), since: time.Now(),
		barriers: map[core.BarrierID]*broker.Hold{}, streams: map[core.StreamID]*stream{}}
	m.quit, m.stopNow = context.WithCancel(context.Background())
	m.log = log.WithField("ha", short(saved.BrokerID))
	m.core = core.New(core.Config{
		ID:                  saved.BrokerID,
		Cluster:             cfg.Cluster,
		HeartbeatInterval:   cfg.HeartbeatInterval,
		MaintenanceInterval: cfg.MaintenanceInterval,
		BackupTimeout:       cfg.BackupTimeout,
		LagTimeout:          cfg.LagTimeout,
		MinReadyBackups:     cfg.MinReadyBackups,
		Peers:               max(0, len(cfg.Brokers)-1), // the list names this broker too
	}, core.Saved{Epoch: saved.Epoch, Membership: saved.Membership})
	m.step(nil)
	if cfg.Store != nil {
		cfg.Store.SetPosition(m.Position)
	}
	return m, nil
}

// goRun runs f on a goroutine of the module's own, which Stop waits for
// (f must return once m.quit is done); once the module stopped, f does not
// run.
func (m *Module) goRun(f func()) {
	m.goMu.Lock()
	defer m.goMu.Unlock()
	if m.stopped {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// BrokerID is this broker's persistent identity.
func (m *Module) BrokerID() string { return m.store.Get().BrokerID }

// SetServer gives the module the server, for its connections and status.
func (m *Module) SetServer(s *amqpserver.Server) { m.srv = s }

// State is the broker's HA state.
func (m *Module) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.core.State()
}

// Membership is the newest membership this broker knows.
func (m *Module) Membership() Membership {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.core.Membership()
}

// Monotonic reads the system-wide monotonic clock, which every process on
// the machine shares: role-change logs of different brokers compare.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// step runs one event through the core (nil: only the time) and does what
// it says. The core's time is the time since the module started, read
// right before every event. What must happen before anyone sees the new
// state (the persisted epoch and membership, the guard's masks, the
// memberships queued on the streams) happens under the lock; the rest
// (releasing parties from held messages, asking the peers, stopping the
// broker) after.
func (m *Module) step(event func(c *core.Core) error) error {
	m.mu.Lock()
	m.core.Tick(time.Since(m.start))
	var err error
	if event != nil {
		err = event(m.core)
	}
	acts := m.core.Actions()
	if acts.Persist != nil {
		saved := *acts.Persist
		if perr := m.store.Update(func(p *Persistent) {
			p.Epoch = max(p.Epoch, saved.Epoch)
			p.Membership = saved.Membership
		}); perr != nil {
			m.log.WithError(perr).Error("cannot persist the HA state")
		}
	}
	if p := m.primary; p != nil {
		p.heldMask.Store(m.core.HoldMask() | m.lostPending)
	}
	for _, t := range acts.Transitions {
		m.since = time.Now()
		m.log.WithFields(logrus.Fields{
			"from": t.From.String(), "to": t.To.String(), "epoch": t.Epoch, "mono": Monotonic(),
		}).Info("HA role change")
		if m.cfg.OnStatus != nil {
			m.cfg.OnStatus(fmt.Sprintf("HA %s (epoch %d)", t.To, t.Epoch))
		}
	}
	for _, c := range acts.Casts {
		m.castLocked(c)
	}
	m.mu.Unlock()

	for _, l := range acts.Log {
		// With the monotonic clock: brokers' decisions compare (the
		// failover checker reads a stale primary's end from its log).
		entry := m.log.WithFields(logrus.Fields(l.Fields)).WithField("mono", Monotonic())
		switch l.Level {
		case core.Error:
			entry.Error(l.Msg)
		case core.Warn:
			entry.Warn(l.Msg)
		default:
			entry.Info(l.Msg)
		}
	}
	if acts.Release != 0 {
		m.releaseEverywhere(acts.Release)
		m.step(func(c *core.Core) error { c.Released(acts.Release); return nil })
	}
	if acts.CheckPeers {
		m.goRun(func() {
			peers := m.CheckPeers(m.statusTimeout())
			m.step(func(c *core.Core) error { c.PeersChecked(peers); return nil })
		})
	}
	for _, d := range acts.Disconnect {
		m.disconnect(d)
	}
	if acts.Exit != "" && m.cfg.Exit != nil {
		m.cfg.Exit(acts.Exit)
	}
	return err
}

// storeHealth is why the store does not keep up, nil if it does (or there
// is none): a sync is slow once it takes half of ha-backup-lag-timeout.
func (m *Module) storeHealth() error {
	if m.cfg.Store == nil {
		return nil
	}
	return m.cfg.Store.Health(m.cfg.LagTimeout / 2)
}

// disconnect ends a backup's stream that the core gave up on (its
// acknowledgements lag): its connection is closed, telling it why, and it
// leaves the ready set as if it had gone; it comes back through catch-up.
func (m *Module) disconnect(d core.Disconnect) {
	m.mu.Lock()
	s := m.streams[d.Stream]
	m.mu.Unlock()
	if s == nil {
		return
	}
	m.goRun(func() {
		s.c.Inject(func() { s.c.Close(types.NewError(types.CondResourceLimitExceeded, "%s", d.Reason)) })
		s.drop(d.Reason)
	})
}

// castLocked queues a membership on the streams it goes to (m.mu held);
// with a barrier, the core is told once every one of them acknowledged it
// or ended.
func (m *Module) castLocked(c core.Cast) {
	var hold *broker.Hold
	if c.Barrier != 0 {
		hold = broker.NewHold(c.Pending)
		m.barriers[c.Barrier] = hold
		id := c.Barrier
		done := func() {
			m.mu.Lock()
			delete(m.barriers, id)
			m.mu.Unlock()
			m.step(func(c *core.Core) error { c.BarrierDone(id); return nil })
		}
		if !hold.Wait(func() { go done() }) {
			go done()
		}
	}
	it := item{kind: EvMembership, membership: c.Membership, hold: hold}
	if p := m.primary; p != nil {
		it.at = p.seq.Add(1)
	}
	for _, id := range c.To {
		if s := m.streams[id]; s != nil {
			s.push(it)
		}
	}
}

// Admit implements amqpserver.Extension: a primary (or a standalone broker)
// serves everyone; a backup admits administrators to management only, and
// refuses everyone else with amqp:connection:forced, the condition on which
// clients fail over to another address.
func (m *Module) Admit(info amqpserver.ConnInfo) (amqpserver.Admission, *types.Error) {
	st := m.State()
	if st == Standalone || (st.IsPrimary() && m.serving.Load()) {
		return amqpserver.AdmitAll, nil
	}
	if info.Container == m.BrokerID() {
		return amqpserver.Refuse, types.NewError(types.CondConnectionForced, "a broker connected to itself")
	}
	if info.Admin && (m.cfg.AdminAllowed == nil || m.cfg.AdminAllowed(info.User)) {
		return amqpserver.AdmitManagement, nil
	}
	primary := "the primary"
	if a := m.primaryAddr.Load(); a != nil {
		primary = "the primary (" + *a + ")"
	}
	return amqpserver.Refuse, types.NewError(types.CondConnectionForced,
		"this broker is an HA backup (%s) and refuses clients: connect to %s, or as an administrator (qpid-config --ha-admin, qpid-ha)", st, primary)
}

// Attach implements amqpserver.Extension: the replication nodes, served only
// by a primary.
func (m *Module) Attach(c *amqpserver.Conn, l *amqp.Link) bool {
	var address string
	if l.IsSender() {
		if s := l.RemoteSource(); s != nil {
			address = s.Address
		}
	} else if t, ok := l.RemoteTarget().(*types.Target); ok {
		address = t.Address
	}
	if address != ReplicateNode && address != InventoryNode {
		return false
	}
	if q, ok := l.RemoteAttach().Properties.Get(types.Symbol(PropReplicated)); ok && address == ReplicateNode {
		m.mu.Lock()
		p := m.primary
		m.mu.Unlock()
		name, _ := q.(string)
		if p == nil || !m.cfg.QueueReplication {
			refuse(l, types.NewError(types.CondNotAllowed, "this broker does not serve queue replicas (%s; ha-queue-replication=%v)", m.State(), m.cfg.QueueReplication))
			return true
		}
		p.attachQueueStream(c, l, name)
		return true
	}
	m.mu.Lock()
	p := m.primary
	m.mu.Unlock()
	if p == nil {
		refuse(l, types.NewError(types.CondNotAllowed, "this broker is not the primary (%s)", m.State()))
		return true
	}
	p.attach(c, l, address)
	return true
}

// refuse answers an attach with null termini and a detach carrying why.
func refuse(l *amqp.Link, e *types.Error) {
	l.Source, l.Target = nil, nil
	l.Attach()
	l.Detach(e)
}

// clientMechanism is the SASL mechanism backups and status checks use.
func (m *Module) clientMechanism() (sasl.ClientMechanism, error) {
	return ClientMechanism(m.cfg.Mechanism, m.cfg.Username, m.cfg.Password)
}
