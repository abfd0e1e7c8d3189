// Package qpidd is the qpidd process: it turns options into a broker, an
// AMQP server, its store and HA modules, serves until SIGTERM, and shuts
// down closing every connection with amqp:connection:forced.
package qpidd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/acl"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/daemon"
	"github.com/qpidha/qpidha/internal/ha"
	"github.com/qpidha/qpidha/internal/mgmt"
	"github.com/qpidha/qpidha/internal/store"
	"github.com/qpidha/qpidha/internal/store/vfs"
	"github.com/qpidha/qpidha/internal/tlsconfig"
)

// Broker is a running qpidd: its broker model and servers.
type Broker struct {
	opts       *config.Options
	log        *logrus.Logger
	broker     *broker.Broker
	server     *amqpserver.Server
	ha         *ha.Module   // nil without ha-cluster or ha-queue-replication
	store      *store.Store // nil without a store directory
	users      *auth.DB     // nil with auth=no
	acl        *amqpserver.AccessControl
	tls        *tlsconfig.Store // nil without TLS files
	listen     listening
	addrs      []net.Addr    // plain TCP listeners
	tlsAddrs   []net.Addr    // TLS listeners
	stopPurges chan struct{} // ends the queue cleaner, nil if none runs
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
	memBound, memFrom := maxMemory(opts)
	b, err := broker.New(broker.Config{
		QueuePatterns:       opts.QueuePatterns,
		TopicPatterns:       opts.TopicPatterns,
		DefaultQueueLimit:   int64(opts.DefaultQueueLimit),
		FlowStopThreshold:   opts.DefaultFlowStopThreshold,
		FlowResumeThreshold: opts.DefaultFlowResumeThreshold,
		FlowChanged:         flowLogger(log),
		MaxMemory:           memBound,
		MemoryChanged:       memoryLogger(log),
	})
	if err != nil {
		return nil, err
	}
	if memBound > 0 {
		log.WithField("bytes", memBound).Infof("memory bound for queued messages: %d MiB (%s)", memBound>>20, memFrom)
	} else {
		log.Warnf("no memory bound for queued messages: %s", memFrom)
	}
	listen, err := listenPlan(opts)
	if err != nil {
		return nil, err
	}
	tlsFiles, err := loadTLS(opts, log)
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
		Broker:                 b,
		Log:                    log,
		ContainerID:            containerID(),
		MaxConnections:         opts.MaxConnections,
		ConnectionLimitPerUser: opts.ConnectionLimitPerUser,
		ConnectionLimitPerIP:   opts.ConnectionLimitPerIP,
		HandshakeTimeout:       opts.MaxNegotiateTime,
		MaxQueuesPerUser:       opts.MaxQueuesPerUser,
		Nagle:                  !opts.TCPNoDelay,
		SessionMaxUnacked:      opts.SessionMaxUnacked,
		Timestamp:              opts.EnableTimestamp,
	}
	if opts.MaxNegotiateTime == 0 {
		scfg.HandshakeTimeout = -1 // max-negotiate-time=0: no limit
	}
	if scfg.ACL, err = amqpserver.LoadAccessControl(opts.ACLFilePath(), opts.QueuePatterns, opts.TopicPatterns, log); err != nil {
		closeStore(st)
		return nil, err
	}
	var users *auth.DB
	var haMod *ha.Module
	if opts.HACluster || opts.HAQueueReplication {
		if haMod, err = newHA(opts, b, st, tlsFiles, log, scfg.ACL.AdminAllowed, stopSelf); err != nil {
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
		scfg.SASLFor = externalSASL(scfg.SASL, db, opts.SSLSASLNoDict)
		users = db
		if listen.tcp && !opts.RequireEncryption {
			log.Warnf("auth is on and plain TCP port %d is open: PLAIN sends passwords readable on the network there; "+
				"use SCRAM-SHA-256 or TLS (ssl-port) clients, or close it with require-encryption or listen-disable tcp", opts.Port)
		}
	} else {
		scfg.SASL = auth.NewServer(nil, true)
	}
	scfg.RequireEncryption = opts.RequireEncryption
	if opts.HACluster && !opts.HAPublicURL.Empty() {
		// Clients learn where to reconnect: ha-public-url only, since
		// ha-brokers-url may be a private replication network.
		var fl []amqpserver.FailoverAddress
		for _, a := range opts.HAPublicURL.Addrs {
			fl = append(fl, amqpserver.FailoverAddress{Host: a.Host, Port: a.Port, TLS: a.Scheme == "ssl"})
		}
		scfg.Properties = types.Map{amqpserver.FailoverProperty(fl)}
	}
	srv := amqpserver.New(scfg)
	agent.SetServer(srv)
	if haMod != nil {
		haMod.SetServer(srv)
		haMod.RegisterManagement(agent)
	}
	return &Broker{opts: opts, log: log, broker: b, server: srv, ha: haMod, store: st, users: users, acl: scfg.ACL,
		tls: tlsFiles, listen: listen, fatal: fatal}, nil
}

// listening says which listeners a broker opens.
type listening struct {
	tcp bool // plain AMQP on port
	tls bool // AMQPS on ssl-port
}

// listenPlan checks the transport options: listen-disable's values, TLS
// options without a certificate, and a broker left with no listener or
// with one that refuses everyone.
func listenPlan(opts *config.Options) (listening, error) {
	l := listening{tcp: true, tls: opts.SSLCertFile != ""}
	for _, t := range opts.ListenDisable {
		switch strings.ToLower(t) {
		case "tcp":
			l.tcp = false
		case "ssl":
			l.tls = false
		default:
			return l, fmt.Errorf("listen-disable %q: expected tcp or ssl", t)
		}
	}
	given := func(name string) bool {
		src := opts.Source(name)
		return src != "" && src != "default"
	}
	switch {
	case opts.SSLCertFile == "" && given("ssl-port"):
		return l, fmt.Errorf("ssl-port %d needs the broker's certificate: give ssl-cert-file and ssl-key-file (PEM files; README: TLS)", opts.SSLPort)
	case opts.SSLRequireClientAuthentication && !l.tls:
		return l, errors.New("ssl-require-client-authentication needs a TLS listener: give ssl-cert-file, ssl-key-file and ssl-ca-file")
	case opts.SSLSASLNoDict && !l.tls:
		return l, errors.New("ssl-sasl-no-dict applies to TLS connections, and there is no TLS listener: give ssl-cert-file and ssl-key-file")
	case !l.tcp && !l.tls:
		return l, errors.New("nothing to listen on: listen-disable tcp leaves only TLS, which needs ssl-cert-file and ssl-key-file")
	case opts.RequireEncryption && !l.tls:
		return l, errors.New("require-encryption refuses every plain connection, and there is no TLS listener: give ssl-cert-file and ssl-key-file")
	}
	return l, nil
}

// loadTLS reads the TLS files (nil without any) and logs what an
// administrator should know about them.
func loadTLS(opts *config.Options, log *logrus.Logger) (*tlsconfig.Store, error) {
	files := tlsconfig.Files{Cert: opts.SSLCertFile, Key: opts.SSLKeyFile, CA: opts.SSLCAFile}
	if files == (tlsconfig.Files{}) {
		return nil, nil
	}
	st, err := tlsconfig.Load(files)
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	for _, w := range st.Warnings(time.Now()) {
		log.Warn("TLS: " + w)
	}
	return st, nil
}

// externalSASL offers EXTERNAL on TLS connections whose client presented a
// verified certificate, as the certificate's user (CN, "@" and its DC
// components joined by dots, else "@" and the realm: the original's
// mapping); with ssl-sasl-no-dict TLS connections are offered EXTERNAL
// only, no mechanism a recorded exchange could be guessed from.
func externalSASL(base sasl.Server, db *auth.DB, noDict bool) func(amqpserver.Security) sasl.Server {
	return func(sec amqpserver.Security) sasl.Server {
		if !sec.Encrypted {
			return base
		}
		offered := base
		if noDict {
			offered = nil
		}
		if sec.PeerCertificate == nil {
			if offered == nil {
				return sasl.Mechanisms{}
			}
			return offered
		}
		user, domain := tlsconfig.Identity(sec.PeerCertificate)
		id := ""
		switch {
		case user != "" && domain != "":
			id = user + "@" + domain
		case user != "":
			id = db.Qualify(user)
		}
		return auth.WithExternal(offered, id)
	}
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
func newHA(opts *config.Options, b *broker.Broker, st *store.Store, tlsFiles *tlsconfig.Store, log *logrus.Logger, admin func(string) bool, stopSelf func(string)) (*ha.Module, error) {
	var addrs []string
	for _, a := range opts.HABrokersURL.Addrs {
		addrs = append(addrs, ha.PeerAddress(a))
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
		TLS:                 tlsFiles,
		BackupTimeout:       opts.HABackupTimeout,
		Version:             Version,
		FlowMessages:        flowMessages(opts.HAFlowMessages),
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

// flowMessages is the replication credit of ha-flow-messages, whose 0
// means no limit (the most credit AMQP can grant at once; ha-flow-bytes
// may still bound it).
func flowMessages(n int) int {
	if n == 0 {
		return math.MaxInt32
	}
	return n
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

// Start listens on every configured interface: plain AMQP on port and
// AMQPS on ssl-port, unless listen-disable or no certificate says not.
func (b *Broker) Start() error {
	if b.listen.tcp {
		addrs, err := b.listenAll(b.opts.Port, nil, "")
		if err != nil {
			return err
		}
		b.addrs = addrs
	}
	if b.listen.tls {
		auth := tlsconfig.VerifyIfGiven
		switch {
		case b.opts.SSLRequireClientAuthentication:
			auth = tlsconfig.Require
		case !b.tls.HasCA():
			auth = tlsconfig.NoClientCert
		}
		tc, err := b.tls.Server(auth)
		if err != nil {
			b.server.Shutdown(time.Second)
			return fmt.Errorf("TLS: %w", err)
		}
		addrs, err := b.listenAll(b.opts.SSLPort, tc, "for TLS (amqps) ")
		if err != nil {
			return err
		}
		b.tlsAddrs = addrs
	}
	if b.ha != nil {
		b.ha.Start()
	}
	b.startPurges()
	return nil
}

// listenAll listens on port of every interface, with TLS if tc is set
// (kind then says so), and logs each listener: "listening on port N",
// "listening for TLS (amqps) on port N" (tests and scripts read the port
// from these lines).
func (b *Broker) listenAll(port int, tc *tls.Config, kind string) ([]net.Addr, error) {
	ifaces := b.opts.Interfaces
	if len(ifaces) == 0 {
		ifaces = []string{""}
	}
	var out []net.Addr
	for _, iface := range ifaces {
		addr, err := b.server.ListenTLS(net.JoinHostPort(iface, strconv.Itoa(port)), tc)
		if err != nil {
			b.server.Shutdown(time.Second)
			return nil, fmt.Errorf("cannot listen %son %s port %d: %w", kind, displayHost(iface), port, err)
		}
		// With port 0 the first listener picks the port the others share.
		if port == 0 {
			port = addr.(*net.TCPAddr).Port
		}
		out = append(out, addr)
		b.log.WithField("address", addr.String()).Infof("listening %son port %d", kind, port)
	}
	return out, nil
}

// startPurges runs the queue cleaner every queue-purge-interval (0: never).
func (b *Broker) startPurges() {
	interval := b.opts.QueuePurgeInterval
	if interval <= 0 {
		return
	}
	b.stopPurges = make(chan struct{})
	ticker := time.NewTicker(interval)
	done := b.stopPurges
	go func() {
		defer ticker.Stop()
		b.broker.RunPurges(ticker.C, b.opts.MaxPurgeBatch, func(n int) {
			if n > 0 {
				b.log.WithField("messages", n).Debug("purged expired messages")
			}
		}, done)
	}()
}

func displayHost(h string) string {
	if h == "" {
		return "all interfaces"
	}
	return h
}

// Addrs are the addresses the broker listens on for plain AMQP.
func (b *Broker) Addrs() []net.Addr { return b.addrs }

// TLSAddrs are the addresses the broker listens on for AMQPS.
func (b *Broker) TLSAddrs() []net.Addr { return b.tlsAddrs }

// Stop closes every connection with amqp:connection:forced and stops.
func (b *Broker) Stop() {
	if b.stopPurges != nil {
		close(b.stopPurges)
		b.stopPurges = nil
	}
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

// Reload re-reads the user database, the TLS files and the ACL file
// (SIGHUP); a file that fails to load leaves the current one in force.
// Open connections keep their TLS session.
func (b *Broker) Reload() {
	if b.tls != nil {
		if err := b.tls.Reload(); err != nil {
			b.log.WithError(err).Error("SIGHUP: cannot reload the TLS files; keeping the current ones")
		} else {
			b.log.WithField("certificate", b.tls.Files().Cert).Info("SIGHUP: reloaded the TLS files")
			for _, w := range b.tls.Warnings(time.Now()) {
				b.log.Warn("TLS: " + w)
			}
		}
	}
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
