package ha

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
)

// Config is the HA part of a broker's options.
type Config struct {
	Cluster          bool     // ha-cluster
	QueueReplication bool     // ha-queue-replication
	Brokers          []string // ha-brokers-url addresses, host:port
	PublicURL        string   // ha-public-url, shown by qpid-ha query
	Replicate        string   // ha-replicate: none|configuration|all
	// Credentials backups use to connect to the primary.
	Username, Password, Mechanism string
	BackupTimeout                 time.Duration // ha-backup-timeout
	FlowMessages                  int           // ha-flow-messages
	MinReadyBackups               int           // ha-min-ready-backups
	MaintenanceInterval           time.Duration // link-maintenance-interval
	HeartbeatInterval             time.Duration // link-heartbeat-interval
	// DataDir holds the persistent HA state ("" keeps it in memory).
	DataDir string
	// AdminAllowed says whether an authenticated identity may administer
	// the broker (the ACL's say); nil allows everyone.
	AdminAllowed func(user string) bool
	// OnStatus is told every state change (for sd_notify STATUS=).
	OnStatus func(line string)
	// Exit stops the process: a primary that learns of a newer epoch stops
	// serving (nil: the module only closes its connections).
	Exit func(reason string)
}

// Module is the HA module of one broker.
type Module struct {
	cfg    Config
	log    *logrus.Entry
	broker *broker.Broker
	store  *Store
	srv    *amqpserver.Server

	mu         sync.Mutex
	state      State
	membership Membership
	primary    *primary
	backup     *backup
	since      time.Time // when the state was entered
	position   Position  // a backup's: the primary's position it applied
	replicas   map[string]*replicaQueue
	// stopping: the broker is shutting down. Its backups disconnecting
	// then is no reason to shrink the ready set: they hold everything it
	// acknowledged, and one of them must be promotable next.
	stopping bool
	freeze   freezeWatch // when this process last ran, and last woke from a freeze

	// quit ends the module's own goroutines (Stop); wg waits for them.
	quit     chan struct{}
	quitOnce sync.Once
	wg       sync.WaitGroup
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
	m := &Module{cfg: cfg, broker: b, store: store, since: time.Now(), quit: make(chan struct{})}
	m.log = log.WithField("ha", short(store.Get().BrokerID))
	m.membership = store.Get().Membership
	if cfg.Cluster {
		m.setState(Joining)
	}
	return m, nil
}

// goRun runs f on a goroutine of the module's own, which Stop waits for:
// f must return once m.quit is closed.
func (m *Module) goRun(f func()) {
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
	return m.state
}

// Membership is the newest membership this broker knows.
func (m *Module) Membership() Membership {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.membership.clone()
}

// Monotonic reads the system-wide monotonic clock, which every process on
// the machine shares: role-change logs of different brokers compare.
func Monotonic() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// setState moves to a new state and logs the change with the monotonic
// clock. An illegal transition is a bug: it is refused, logged loudly, and
// the broker stops (as the original did), since its role can no longer be
// trusted.
func (m *Module) setState(to State) error {
	_, err := m.moveTo(to)
	return err
}

// moveFrom moves to a new state only from one of the states given (checked
// and changed atomically); false if the broker was in another state.
func (m *Module) moveFrom(to State, from ...State) (bool, error) {
	return m.moveTo(to, from...)
}

func (m *Module) moveTo(to State, only ...State) (bool, error) {
	m.mu.Lock()
	from := m.state
	if len(only) > 0 && !slices.Contains(only, from) {
		m.mu.Unlock()
		return false, nil
	}
	if from == to {
		m.mu.Unlock()
		return false, nil
	}
	if !(from == Standalone && to == Joining) && !CanMove(from, to) {
		m.mu.Unlock()
		err := ErrIllegalTransition{from, to}
		m.log.WithError(err).Error("illegal HA state transition (a bug): stopping the broker")
		if m.cfg.Exit != nil {
			m.cfg.Exit(err.Error())
		}
		return false, err
	}
	m.state = to
	m.since = time.Now()
	epoch := m.membership.Epoch
	m.mu.Unlock()
	m.log.WithFields(logrus.Fields{
		"from": from.String(), "to": to.String(), "epoch": epoch, "mono": Monotonic(),
	}).Info("HA role change")
	if m.cfg.OnStatus != nil {
		m.cfg.OnStatus(fmt.Sprintf("HA %s (epoch %d)", to, epoch))
	}
	return true, nil
}

// Admit implements amqpserver.Extension: a primary (or a standalone broker)
// serves everyone; a backup admits administrators to management only, and
// refuses everyone else with amqp:connection:forced, the condition on which
// clients fail over to another address.
func (m *Module) Admit(info amqpserver.ConnInfo) (amqpserver.Admission, *types.Error) {
	st := m.State()
	if st == Standalone || st.IsPrimary() {
		return amqpserver.AdmitAll, nil
	}
	if info.Container == m.BrokerID() {
		return amqpserver.Refuse, types.NewError(types.CondConnectionForced, "a broker connected to itself")
	}
	if info.Admin && (m.cfg.AdminAllowed == nil || m.cfg.AdminAllowed(info.User)) {
		return amqpserver.AdmitManagement, nil
	}
	return amqpserver.Refuse, types.NewError(types.CondConnectionForced,
		"this broker is an HA backup (%s): connect to the primary", st)
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
