// Package amqpserver accepts AMQP connections and maps their links onto the
// broker: a link whose target is a queue is a producer, a link whose source
// is a queue is a consumer. Each connection runs on its own driver goroutine.
package amqpserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
)

// Config configures a server.
type Config struct {
	Broker      *broker.Broker
	Log         *logrus.Logger
	ContainerID string
	// SASL offers mechanisms; RequireSASL refuses clients that skip SASL.
	SASL        sasl.Server
	RequireSASL bool
	// SASLFor, if set, gives the mechanisms offered on one connection
	// instead of SASL (EXTERNAL for a client certificate).
	SASLFor func(Security) sasl.Server
	// RequireEncryption refuses connections without TLS: they are offered
	// ANONYMOUS only, so no password crosses them, and their open is
	// answered with amqp:unauthorized-access saying why.
	RequireEncryption bool
	// Properties are the connection properties of the broker's open (the
	// failover-server-list).
	Properties types.Map
	// IdleTimeout is advertised to clients; a silent client is closed after
	// twice that.
	IdleTimeout time.Duration
	// MaxFrameSize is the largest frame accepted.
	MaxFrameSize uint32
	// MaxMessageSize bounds an incoming message (a bigger one detaches its
	// link with amqp:link:message-size-exceeded).
	MaxMessageSize uint64
	// CreditWindow is the credit a producer link is kept topped up to.
	CreditWindow uint32
	// Nagle leaves Nagle's algorithm on for accepted connections
	// (tcp-nodelay=no); by default they set TCP_NODELAY.
	Nagle bool
	// SessionMaxUnacked bounds the unsettled deliveries a session's
	// consumers may have outstanding (session-max-unacked; 0: no bound).
	SessionMaxUnacked int
	// Timestamp adds the time of arrival to each received message as the
	// message annotation x-opt-ingress-timestamp (enable-timestamp).
	Timestamp bool
	// Management answers requests to the management node (nil: none).
	Management Management
	// Extension admits connections and serves its own nodes (nil: none).
	Extension Extension
	// ACL is the access control enforced on connections, links, messages
	// and management requests (nil: everything is allowed; see acl.go).
	ACL *AccessControl
	// MaxConnections, ConnectionLimitPerUser and ConnectionLimitPerIP
	// limit the connections in total, per user and per client address
	// (0: no limit); administrators are exempt (limits.go).
	MaxConnections, ConnectionLimitPerUser, ConnectionLimitPerIP int
	// HandshakeTimeout bounds the time a new connection may take to send
	// its protocol header, complete SASL and send its open (qpidd's
	// max-negotiate-time); it is then dropped. 0 means
	// DefaultHandshakeTimeout; negative means no limit.
	HandshakeTimeout time.Duration
	// MaxQueuesPerUser is the most queues one identity may have created
	// (0: no limit); the ACL's "quota queues" applies too (queues.go).
	MaxQueuesPerUser int
}

// DefaultHandshakeTimeout is max-negotiate-time's default.
const DefaultHandshakeTimeout = 10 * time.Second

// DefaultMaxMessageSize bounds what one message may make the broker hold.
const DefaultMaxMessageSize = 100 << 20

// Server serves AMQP connections for a broker.
type Server struct {
	cfg Config
	log *logrus.Logger

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*conn]struct{}
	pending   map[net.Conn]struct{} // in their TLS handshake
	closing   bool
	wg        sync.WaitGroup

	// tlsPort is the TLS port a refusal under RequireEncryption names.
	tlsPort atomic.Int32
	counts  connCounts // places taken in the connection limits
}

// New returns a server.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = logrus.New()
	}
	if cfg.CreditWindow == 0 {
		cfg.CreditWindow = 1000
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.ContainerID == "" {
		cfg.ContainerID = "qpidd"
	}
	if cfg.SASL == nil {
		cfg.SASL = sasl.Mechanisms{sasl.Anonymous: sasl.NewAnonymous}
	}
	return &Server{cfg: cfg, log: cfg.Log, conns: map[*conn]struct{}{}, pending: map[net.Conn]struct{}{}}
}

// Security is what the transport of a connection established.
type Security struct {
	// Encrypted is true for a TLS connection.
	Encrypted bool
	// PeerCertificate is the client's verified certificate, nil if none.
	PeerCertificate *x509.Certificate
}

// Listen starts serving on addr (host:port; port 0 picks a free one) and
// returns the address it listens on.
func (s *Server) Listen(addr string) (net.Addr, error) {
	return s.ListenTLS(addr, nil)
}

// ListenTLS is Listen for TLS connections with tc (nil: plain TCP). The
// TLS handshake runs on the connection's goroutine, within the handshake
// time limit.
func (s *Server) ListenTLS(addr string, tc *tls.Config) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		s.tlsPort.CompareAndSwap(0, int32(l.Addr().(*net.TCPAddr).Port))
		l = tls.NewListener(l, tc)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil, errors.New("server is shutting down")
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(l)
	return l.Addr(), nil
}

func (s *Server) accept(l net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		tcp := nc
		if t, ok := nc.(*tls.Conn); ok {
			tcp = t.NetConn()
		}
		if tc, ok := tcp.(*net.TCPConn); ok {
			// Go sets TCP_NODELAY on every TCP connection: set it either way.
			_ = tc.SetNoDelay(!s.cfg.Nagle)
		}
		s.serve(nc)
	}
}

// serve runs one connection on its own goroutine: its TLS handshake if it
// is a TLS connection, then its engine.
func (s *Server) serve(nc net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.pending[nc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		sec, err := s.handshake(nc)
		s.mu.Lock()
		delete(s.pending, nc)
		if err == nil && s.closing {
			err = errors.New("server is shutting down")
		}
		if err != nil {
			s.mu.Unlock()
			nc.Close()
			return
		}
		c := newConn(s, nc, sec)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		err = c.dc.Run()
		c.log.WithError(err).Debug("connection ended")
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Addrs are the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.listeners))
	for i, l := range s.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Shutdown stops accepting, closes every connection with
// amqp:connection:forced (on which clients fail over), and waits up to
// timeout for them to finish.
func (s *Server) Shutdown(timeout time.Duration) {
	s.mu.Lock()
	s.closing = true
	for _, l := range s.listeners {
		l.Close()
	}
	for nc := range s.pending {
		nc.Close()
	}
	for c := range s.conns {
		c.forceClose("broker shutting down")
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.log.Warn("connections still open after shutdown timeout")
	}
}

// FailoverServerList is the connection property that lists where clients
// may reconnect, in the form ActiveMQ brokers send it and qpid-jms reads
// it: a list of maps of network-host, hostname, port and scheme.
const FailoverServerList = "failover-server-list"

// FailoverAddress is one entry of the failover-server-list.
type FailoverAddress struct {
	Host string
	Port int
	TLS  bool
}

// FailoverProperty is the failover-server-list property for addrs.
func FailoverProperty(addrs []FailoverAddress) types.MapEntry {
	list := make([]any, len(addrs))
	for i, a := range addrs {
		scheme := "amqp"
		if a.TLS {
			scheme = "amqps"
		}
		list[i] = types.Map{
			{Key: types.Symbol("network-host"), Value: a.Host},
			{Key: types.Symbol("hostname"), Value: a.Host},
			{Key: types.Symbol("port"), Value: int32(a.Port)},
			{Key: types.Symbol("scheme"), Value: scheme},
		}
	}
	return types.MapEntry{Key: types.Symbol(FailoverServerList), Value: list}
}

// handshake completes a TLS connection's handshake within the handshake
// time limit; a failure (an untrusted or missing client certificate, a
// client that does not trust ours, plain AMQP on the TLS port) is logged
// with its reason.
func (s *Server) handshake(nc net.Conn) (Security, error) {
	t, ok := nc.(*tls.Conn)
	if !ok {
		return Security{}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	if d := s.cfg.HandshakeTimeout; d > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), d)
	}
	defer cancel()
	if err := t.HandshakeContext(ctx); err != nil {
		s.log.WithField("remote", nc.RemoteAddr().String()).WithError(err).Info("TLS handshake failed")
		return Security{}, err
	}
	sec := Security{Encrypted: true}
	if certs := t.ConnectionState().PeerCertificates; len(certs) > 0 {
		sec.PeerCertificate = certs[0] // verified by the handshake
	}
	return sec, nil
}

// saslFor is the SASL server of a connection.
func (s *Server) saslFor(sec Security) sasl.Server {
	if s.cfg.RequireEncryption && !sec.Encrypted {
		// Nothing secret may cross: the open is then refused (conn.go).
		return sasl.Mechanisms{sasl.Anonymous: sasl.NewAnonymous}
	}
	if s.cfg.SASLFor != nil {
		return s.cfg.SASLFor(sec)
	}
	return s.cfg.SASL
}

// engineConfig is the AMQP engine configuration for accepted connections.
func (s *Server) engineConfig(log *logrus.Entry, sec Security) amqp.Config {
	var trace func(bool, uint16, types.Composite, int)
	if s.log.IsLevelEnabled(logrus.TraceLevel) {
		// log-level trace shows every frame, as the original's trace+ did.
		trace = func(sent bool, ch uint16, body types.Composite, payload int) {
			dir := "received"
			if sent {
				dir = "sent"
			}
			log.WithFields(logrus.Fields{"channel": ch, "payload": payload}).Tracef("%s %T %+v", dir, body, body)
		}
	}
	return amqp.Config{
		Trace:            trace,
		ContainerID:      s.cfg.ContainerID,
		MaxFrameSize:     s.cfg.MaxFrameSize,
		IdleTimeout:      s.cfg.IdleTimeout,
		MaxMessageSize:   s.cfg.MaxMessageSize,
		HandshakeTimeout: max(s.cfg.HandshakeTimeout, 0), // the engine's 0 is no limit
		SASLServer:       s.saslFor(sec),
		RequireSASL:      s.cfg.RequireSASL,
		// Links with no target address route each message by its "to".
		OfferedCapabilities: []types.Symbol{"ANONYMOUS-RELAY"},
		Properties:          s.cfg.Properties,
	}
}

var errForced = types.CondConnectionForced

// forceClose closes a connection with amqp:connection:forced.
func (c *conn) forceClose(reason string) {
	c.dc.Inject(func() {
		c.dc.Engine.Close(types.NewError(errForced, "%s", reason))
	})
}

var _ driver.Handler = (*conn)(nil)
