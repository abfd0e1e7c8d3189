// Package amqpserver accepts AMQP connections and maps their links onto the
// broker: a link whose target is a queue is a producer, a link whose source
// is a queue is a consumer. Each connection runs on its own driver goroutine.
package amqpserver

import (
	"errors"
	"net"
	"sync"
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
}

// DefaultMaxMessageSize bounds what one message may make the broker hold.
const DefaultMaxMessageSize = 100 << 20

// Server serves AMQP connections for a broker.
type Server struct {
	cfg Config
	log *logrus.Logger

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup
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
	if cfg.ContainerID == "" {
		cfg.ContainerID = "qpidd"
	}
	if cfg.SASL == nil {
		cfg.SASL = sasl.Mechanisms{sasl.Anonymous: sasl.NewAnonymous}
	}
	return &Server{cfg: cfg, log: cfg.Log, conns: map[*conn]struct{}{}}
}

// Listen starts serving on addr (host:port; port 0 picks a free one) and
// returns the address it listens on.
func (s *Server) Listen(addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
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
		if tc, ok := nc.(*net.TCPConn); ok {
			// Go sets TCP_NODELAY on every TCP connection: set it either way.
			_ = tc.SetNoDelay(!s.cfg.Nagle)
		}
		s.serve(nc)
	}
}

// serve runs one connection on its own goroutine.
func (s *Server) serve(nc net.Conn) {
	c := newConn(s, nc)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		err := c.dc.Run()
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

// engineConfig is the AMQP engine configuration for accepted connections.
func (s *Server) engineConfig(log *logrus.Entry) amqp.Config {
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
		HandshakeTimeout: 30 * time.Second,
		SASLServer:       s.cfg.SASL,
		RequireSASL:      s.cfg.RequireSASL,
		// Links with no target address route each message by its "to".
		OfferedCapabilities: []types.Symbol{"ANONYMOUS-RELAY"},
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
