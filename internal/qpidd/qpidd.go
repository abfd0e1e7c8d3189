// Package qpidd is the qpidd process: it turns options into a broker, an
// AMQP server, its store and HA modules, serves until SIGTERM, and shuts
// down closing every connection with amqp:connection:forced.
package qpidd

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/acl"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/daemon"
	"github.com/qpidha/qpidha/internal/ha"
	"github.com/qpidha/qpidha/internal/mgmt"
	"github.com/qpidha/qpidha/internal/store"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// Broker is a running qpidd: its broker model and servers.
type Broker struct {
	opts   *config.Options
	log    *logrus.Logger
	broker *broker.Broker
	server *amqpserver.Server
	ha     *ha.Module   // nil without ha-cluster or ha-queue-replication
	store  *store.Store // nil without a store directory
	users  *auth.DB     // nil with auth=no
	acl    *amqpserver.AccessControl
	addrs  []net.Addr
	// fatal is why the broker stopped itself (a stale primary), if it did:
	// the process then exits 1, so a supervisor sees a failure.
	fatal *atomic.Pointer[string]
}

// Fatal is why the broker stopped itself, "" if it did not.
func (b *Broker) Fatal() string {
	if r := b.fatal.Load(); r != nil {
		return *r
	}
	return ""
}

// Hooks change how NewWithHooks builds a broker, for tests that run
// brokers in their own process; zero fields keep what New does.
type Hooks struct {
	// StoreFS holds the store instead of the store directory (a vfs.Mem
	// loses power or stalls its syncs on demand).
	StoreFS vfs.FS
	// StoreSegmentSize is the size of the store's journal files (0: the
	// store's default, 16 MiB).
	StoreSegmentSize int64
	// StopSelf is what the broker does when it must stop (a failed store,
	// a stale primary) instead of sending its own process SIGTERM.
	StopSelf func(reason string)
}

// New assembles a broker from options without listening yet.
func New(opts *config.Options, log *logrus.Logger) (*Broker, error) {
	return NewWithHooks(opts, log, Hooks{})
}

// NewWithHooks is New with test hooks.
func NewWithHooks(opts *config.Options, log *logrus.Logger, hooks Hooks) (*Broker, error) {
	b, err := broker.New(broker.Config{
		QueuePatterns:       opts.QueuePatterns,
		TopicPatterns:       opts.TopicPatterns,
		DefaultQueueLimit:   int64(opts.DefaultQueueLimit),
		FlowStopThreshold:   opts.DefaultFlowStopThreshold,
		FlowResumeThreshold: opts.DefaultFlowResumeThreshold,
		FlowChanged:         flowLogger(log),
	})
	if err != nil {
		return nil, err
	}
	fatal := new(atomic.Pointer[string])
	stopSelf := func(reason string) {
		// The process shuts down (closing clients with
		// amqp:connection:forced) and exits 1: a supervisor sees a failure.
		log.WithField("reason", reason).Error("shutting down")
		fatal.CompareAndSwap(nil, &reason)
		if hooks.StopSelf != nil {
			hooks.StopSelf(reason)
			return
		}
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
	st, err := openStore(opts, b, hooks, log, stopSelf)
	if err != nil {
		return nil, err
	}
	for _, name := range opts.Queues {
		if _, _, err := b.DeclareQueue(name, broker.QueueSettings{}); err != nil {
			closeStore(st)
			return nil, fmt.Errorf("queue %s: %w", name, err)
		}
	}
	scfg := amqpserver.Config{
		Broker:            b,
		Log:               log,
		ContainerID:       containerID(),
		Nagle:             !opts.TCPNoDelay,
		SessionMaxUnacked: opts.SessionMaxUnacked,
		Timestamp:         opts.EnableTimestamp,
	}
	if scfg.ACL, err = amqpserver.LoadAccessControl(opts.ACLFilePath(), opts.QueuePatterns, opts.TopicPatterns, log); err != nil {
		closeStore(st)
		return nil, err
	}
	var users *auth.DB
	var haMod *ha.Module
	if opts.HACluster || opts.HAQueueReplication {
		if haMod, err = newHA(opts, b, st, log, scfg.ACL.AdminAllowed, stopSelf); err != nil {
			closeStore(st)
			return nil, err
		}
		scfg.Extension = haMod
		// Brokers detect a silent peer after two heartbeats; the container id
		// is the broker's identity, so a broker finds itself in ha-brokers-url.
		scfg.IdleTimeout = opts.LinkHeartbeatInterval
		scfg.ContainerID = haMod.BrokerID()
	}
	mcfg := mgmt.Config{Broker: b, Name: scfg.ContainerID, Version: Version, Port: opts.Port}
	if st != nil {
		mcfg.Store = st
	}
	agent := mgmt.NewAgent(mcfg)
	scfg.Management = agent
	if opts.Auth {
		db, err := auth.Open(opts.AuthDatabase, opts.Realm)
		if err != nil {
			closeStore(st)
			return nil, fmt.Errorf("auth-database: %w", err)
		}
		if w := auth.StartupWarning(db); w != "" {
			log.Warn(w)
		}
		scfg.SASL = auth.NewServer(db, false)
		scfg.RequireSASL = true
		users = db
	} else {
		scfg.SASL = auth.NewServer(nil, true)
	}
	srv := amqpserver.New(scfg)
	agent.SetServer(srv)
	if haMod != nil {
		haMod.SetServer(srv)
		haMod.RegisterManagement(agent)
	}
	return &Broker{opts: opts, log: log, broker: b, server: srv, ha: haMod, store: st, users: users, acl: scfg.ACL, fatal: fatal}, nil
}

// openStore opens the broker's store and restores what it holds into the
// broker; nil without a store directory. A cluster broker's store holds
// what it replicated as a backup or took as the primary. A failed write
// stops the broker.
func openStore(opts *config.Options, b *broker.Broker, hooks Hooks, log *logrus.Logger, stopSelf func(string)) (*store.Store, error) {
	dir := opts.StorePath()
	switch {
	case dir == "" && opts.HACluster:
		log.Warn("no store (no-data-dir and no store-dir): this cluster broker keeps durable queues and persistent messages in memory only; if every broker of the cluster stops at once they are lost")
		return nil, nil
	case dir == "":
		log.Info("no store (no-data-dir and no store-dir): durable queues and persistent messages are kept in memory only")
		return nil, nil
	}
	st, rec, err := store.Open(store.Config{
		Dir:         dir,
		FS:          hooks.StoreFS,
		SegmentSize: hooks.StoreSegmentSize,
		Truncate:    opts.Truncate,
		Log:         log,
		OnFatal:     func(err error) { stopSelf("the store failed: " + err.Error()) },
	})
	if err != nil {
		return nil, err
	}
	if err := rec.Restore(b); err != nil {
		st.Close()
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	b.SetJournal(st)
	log.WithFields(logrus.Fields{
		"queues": len(rec.Queues), "exchanges": len(rec.Exchanges), "bindings": len(rec.Bindings),
		"messages": rec.Messages(), "position": rec.Journal.Last, "took": rec.Took.Round(time.Millisecond).String(),
	}).Infof("store %s: recovered", dir)
	return st, nil
}

func closeStore(st *store.Store) {
	if st != nil {
		_ = st.Close()
	}
}

// newHA creates the HA module from the ha-* options; admin says which
// identities may administer the broker (promote, replicate; reach a backup).
func newHA(opts *config.Options, b *broker.Broker, st *store.Store, log *logrus.Logger, admin func(string) bool, stopSelf func(string)) (*ha.Module, error) {
	var addrs []string
	for _, a := range opts.HABrokersURL.Addrs {
		addrs = append(addrs, a.HostPort())
	}
	dataDir := opts.DataDir
	if opts.NoDataDir {
		dataDir = ""
	}
	return ha.New(ha.Config{
		Cluster:             opts.HACluster,
		QueueReplication:    opts.HAQueueReplication || opts.HACluster,
		Brokers:             addrs,
		PublicURL:           opts.HAPublicURL.String(),
		Replicate:           opts.HAReplicate,
		Username:            opts.HAUsername,
		Password:            opts.HAPassword,
		Mechanism:           opts.HAMechanism,
		BackupTimeout:       opts.HABackupTimeout,
		FlowMessages:        opts.HAFlowMessages,
		FlowBytes:           opts.HAFlowBytes,
		MinReadyBackups:     opts.HAMinReadyBackups,
		MaintenanceInterval: opts.LinkMaintenanceInterval,
		HeartbeatInterval:   opts.LinkHeartbeatInterval,
		LagTimeout:          opts.HABackupLagTimeout,
		DataDir:             dataDir,
		Store:               durable(st),
		AdminAllowed:        admin,
		OnStatus:            func(line string) { _ = daemon.Status(line) },
		// A stale primary stops serving; the cluster manager restarts it
		// as a backup.
		Exit: stopSelf,
	}, b, log)
}

// durable is the store as the HA module sees it: nil without one (a nil
// *store.Store in the interface would not be nil).
func durable(st *store.Store) ha.Durable {
	if st == nil {
		return nil
	}
	return st
}

func containerID() string {
	host, _ := os.Hostname()
	return "qpidd-" + host + "-" + strconv.Itoa(os.Getpid())
}

// Start listens on every configured interface.
func (b *Broker) Start() error {
	ifaces := b.opts.Interfaces
	if len(ifaces) == 0 {
		ifaces = []string{""}
	}
	port := b.opts.Port
	for _, iface := range ifaces {
		addr, err := b.server.Listen(net.JoinHostPort(iface, strconv.Itoa(port)))
		if err != nil {
			b.server.Shutdown(time.Second)
			return fmt.Errorf("cannot listen on %s port %d: %w", displayHost(iface), port, err)
		}
		// With port 0 the first listener picks the port the others share.
		if port == 0 {
			port = addr.(*net.TCPAddr).Port
		}
		b.addrs = append(b.addrs, addr)
		b.log.WithField("address", addr.String()).Infof("listening on port %d", port)
	}
	if b.ha != nil {
		b.ha.Start()
	}
	return nil
}

func displayHost(h string) string {
	if h == "" {
		return "all interfaces"
	}
	return h
}

// Addrs are the addresses the broker listens on.
func (b *Broker) Addrs() []net.Addr { return b.addrs }

// Stop closes every connection with amqp:connection:forced and stops.
func (b *Broker) Stop() {
	if b.ha != nil {
		b.ha.Stop()
	}
	b.server.Shutdown(10 * time.Second)
	if b.store != nil {
		if err := b.store.Close(); err != nil {
			b.log.WithError(err).Error("store: closing")
		}
	}
}

// Reload re-reads the user database and the ACL file (SIGHUP); a file
// that fails to load leaves the current one in force.
func (b *Broker) Reload() {
	if b.users != nil {
		if err := b.users.Reload(); err != nil {
			b.log.WithError(err).Error("SIGHUP: cannot reload the user database; keeping the current one")
		} else {
			b.log.WithField("file", b.users.Path()).Info("SIGHUP: reloaded the user database")
		}
	}
	if path := b.opts.ACLFilePath(); path != "" && b.acl != nil {
		a, err := acl.Load(path)
		if err != nil {
			b.log.WithError(err).Error("SIGHUP: cannot reload the ACL file; keeping the current rules")
			return
		}
		b.acl.SetACL(a)
		b.log.WithField("file", path).Info("SIGHUP: reloaded the ACL file")
	}
}

// Alive returns once the broker's registry and, with one, its HA module
// answer: the systemd watchdog's probe (a deadlock there makes it hang).
func (b *Broker) Alive() {
	_ = b.broker.Queues()
	if b.ha != nil {
		_ = b.ha.State()
	}
}

// HA is the broker's HA module, nil if it has none.
func (b *Broker) HA() *ha.Module { return b.ha }

// flowLogger logs a queue's producer flow control starting and ending: at
// info level at most once a minute per queue (a queue that hovers at its
// stop level flips many times a second), at debug level otherwise. It is
// called with the queue locked: it only logs.
func flowLogger(log *logrus.Logger) func(queue string, stopped bool, depth int, bytes int64) {
	var mu sync.Mutex
	last := map[string]time.Time{}
	return func(queue string, stopped bool, depth int, bytes int64) {
		level := logrus.DebugLevel
		if stopped {
			mu.Lock()
			if len(last) > 1000 {
				clear(last) // queues come and go: forget them now and then
			}
			if now := time.Now(); now.Sub(last[queue]) >= time.Minute {
				last[queue], level = now, logrus.InfoLevel
			}
			mu.Unlock()
		}
		if !log.IsLevelEnabled(level) {
			return
		}
		l := log.WithFields(logrus.Fields{"queue": queue, "depth": depth, "bytes": bytes})
		if stopped {
			l.Log(level, "producer flow control on: the queue is above its flow stop level; new messages wait for acceptance until consumers drain it (logged at most once a minute)")
		} else {
			l.Log(level, "producer flow control off: the queue is below its flow resume level")
		}
	}
}
