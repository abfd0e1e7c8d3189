package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/Azure/go-amqp"
)

// Defaults of Options.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultIdleTimeout    = 10 * time.Second
)

// Options configure a Conn. The zero value is usable.
type Options struct {
	// ConnOptions are passed to go-amqp's Dial for every address (SASL,
	// TLSConfig, ContainerID, Properties, HostName, ...). A user name and
	// password in an address override SASLType for that address, as in
	// go-amqp. IdleTimeout (the heartbeat: a peer silent for that long is
	// taken for dead) defaults to DefaultIdleTimeout here, not go-amqp's
	// minute; a negative value turns it off. HostName, if set, is sent to
	// (and used as the TLS server name of) every address.
	ConnOptions *amqp.ConnOptions

	// ConnectTimeout bounds each attempt: TCP connect, TLS, SASL, the AMQP
	// open and the session's begin (default DefaultConnectTimeout). It also
	// bounds each re-attach of a link.
	ConnectTimeout time.Duration

	// Backoff spaces out the attempts (zero fields: DefaultBackoff's).
	Backoff Backoff

	// ReconnectTimeout gives up when no connection could be made for that
	// long (from the loss of the last one, or from Dial): every operation
	// then returns the last attempt's error. 0: never give up (the
	// operations' contexts bound the waits).
	ReconnectTimeout time.Duration

	// IgnoreFailoverServerList keeps the address list as given: by default
	// the addresses a broker advertises in its open frame (the connection
	// property failover-server-list, see FailoverServerListProperty) are
	// added after the given ones (over TLS, only the TLS ones).
	IgnoreFailoverServerList bool

	// OnEvent, if set, is called on every connection, loss, failed attempt
	// and on giving up, from the Conn's own goroutine, one call at a time:
	// it must return quickly (log, count) and must not call the Conn.
	OnEvent func(Event)
}

// EventKind says what happened.
type EventKind int

const (
	// Connected: a connection (and its session) is up at Address. Reconnect
	// tells a failover from the first connection; Attempts and Downtime
	// say how long it took, Err why the previous connection ended.
	Connected EventKind = iota
	// Disconnected: the connection to Address was lost, Err says why.
	Disconnected
	// AttemptFailed: an attempt to connect to Address failed with Err; the
	// next address is tried after the backoff.
	AttemptFailed
	// GaveUp: Err is permanent (see Permanent) or ReconnectTimeout passed;
	// the Conn no longer connects.
	GaveUp
)

func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case AttemptFailed:
		return "attempt failed"
	case GaveUp:
		return "gave up"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is what Options.OnEvent receives.
type Event struct {
	Kind      EventKind
	Address   string
	Err       error
	Reconnect bool          // Connected: not the first connection
	Attempts  int           // Connected: failed attempts before this one
	Downtime  time.Duration // Connected after a loss: time without a connection
}

func (e Event) String() string {
	switch e.Kind {
	case Connected:
		if !e.Reconnect {
			return fmt.Sprintf("connected to %s", e.Address)
		}
		return fmt.Sprintf("reconnected to %s after %d failed attempts, %v without a connection (lost: %v)",
			e.Address, e.Attempts, e.Downtime.Round(time.Millisecond), e.Err)
	default:
		return fmt.Sprintf("%s: %s: %v", e.Kind, e.Address, e.Err)
	}
}

// Conn is a connection that moves to another broker when it is lost: a list
// of addresses tried in turn, with a bounded time per attempt and a backoff
// between attempts, and one session on each connection for the Senders and
// Receivers made from it, which re-attach their links on the new one. It is
// safe for concurrent use.
type Conn struct {
	opts Options

	mu      sync.Mutex
	addrs   []string // the given addresses, then the advertised ones
	given   int      // how many of addrs were given
	cur     *session // nil while (re)connecting
	err     error    // ErrClosed, or why the Conn gave up
	changed chan struct{}

	closing chan struct{} // closed by Close
	done    chan struct{} // closed when run returns
	once    sync.Once
}

// session is one connection and its session: a generation. failed is
// closed (once) by an operation that saw it fail.
type session struct {
	addr   string
	conn   *amqp.Conn
	sess   *amqp.Session
	failed chan struct{}
	once   sync.Once
	cause  error
}

func (s *session) fail(err error) {
	s.once.Do(func() {
		s.cause = err
		close(s.failed)
	})
}

// dead reports whether the connection is known to be gone.
func (s *session) dead() bool {
	select {
	case <-s.failed:
		return true
	case <-s.conn.Done():
		return true
	default:
		return false
	}
}

// Dial connects to the first broker of addrs that admits the client, trying
// them in turn with the backoff, until one does, ctx ends, an error is
// permanent or Options.ReconnectTimeout passes. An address is
// "amqp://host:port", "amqps://host:port" (TLS), or "host:port" (amqp); a
// single address may be a virtual IP. The Conn then keeps reconnecting
// until Close.
func Dial(ctx context.Context, addrs []string, opts *Options) (*Conn, error) {
	if len(addrs) == 0 {
		return nil, errors.New("failover: no address")
	}
	c := &Conn{changed: make(chan struct{}), closing: make(chan struct{}), done: make(chan struct{})}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.ConnectTimeout <= 0 {
		c.opts.ConnectTimeout = DefaultConnectTimeout
	}
	c.opts.Backoff = c.opts.Backoff.withDefaults()
	var co amqp.ConnOptions
	if c.opts.ConnOptions != nil {
		co = *c.opts.ConnOptions
	}
	if co.IdleTimeout == 0 {
		co.IdleTimeout = DefaultIdleTimeout
	}
	c.opts.ConnOptions = &co
	for _, a := range addrs {
		u, err := normalize(a)
		if err != nil {
			return nil, err
		}
		c.addrs = append(c.addrs, u)
	}
	c.given = len(c.addrs)
	go c.run()
	if _, err := c.current(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// normalize checks an address and gives it a scheme.
func normalize(a string) (string, error) {
	if !strings.Contains(a, "://") {
		a = "amqp://" + a
	}
	u, err := url.Parse(a)
	if err != nil {
		return "", fmt.Errorf("failover: address %q: %v", a, err)
	}
	switch u.Scheme {
	case "amqp", "amqps", "amqp+ssl":
	default:
		return "", fmt.Errorf("failover: address %q: unsupported scheme %q (amqp, amqps)", a, u.Scheme)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("failover: address %q: no host", a)
	}
	if u.Port() == "" { // go-amqp's defaults, explicit so that lists merge
		port := "5672"
		if u.Scheme != "amqp" {
			port = "5671"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return u.String(), nil
}

// Addresses is the address list: the given addresses, then those the
// brokers advertised.
func (c *Conn) Addresses() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

// Address is the address connected to now, "" while reconnecting.
func (c *Conn) Address() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.addr
}

// Err is nil while the Conn connects or reconnects; ErrClosed after Close;
// the error it gave up on otherwise (a *PermanentError, or the last
// attempt's error after ReconnectTimeout).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the connection and stops reconnecting; the Senders and
// Receivers return ErrClosed from then on.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.closing) })
	<-c.done
	return nil
}

// current waits for a live connection.
func (c *Conn) current(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, err, ch := c.cur, c.err, c.changed
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if s != nil && !s.dead() {
			return s, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// set publishes a new state and wakes the waiters.
func (c *Conn) set(s *session, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur = s
	if err != nil && c.err == nil {
		c.err = err
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Conn) event(e Event) {
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(e)
	}
}

// run connects, waits for the connection's end, and reconnects, until
// Close or a permanent error.
func (c *Conn) run() {
	defer close(c.done)
	var (
		idx      int       // the next address to try
		cause    error     // why the last connection ended
		lastErr  error     // the last attempt's error
		lostAt   time.Time // when (zero before the first connection)
		started  = time.Now()
		first    = true
		attempts int
	)
	for {
		// Connect.
		var s *session
		for s == nil {
			if c.opts.ReconnectTimeout > 0 && attempts > 0 {
				since := started
				if !lostAt.IsZero() {
					since = lostAt
				}
				if time.Since(since) > c.opts.ReconnectTimeout {
					err := fmt.Errorf("failover: no connection for %v: last error: %w", c.opts.ReconnectTimeout, lastErr)
					c.set(nil, err)
					c.event(Event{Kind: GaveUp, Err: err})
					return
				}
			}
			if d := c.opts.Backoff.wait(attempts); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-c.closing:
					t.Stop()
					c.set(nil, ErrClosed)
					return
				}
			}
			select {
			case <-c.closing:
				c.set(nil, ErrClosed)
				return
			default:
			}
			c.mu.Lock()
			addr := c.addrs[idx%len(c.addrs)]
			c.mu.Unlock()
			var err error
			s, err = c.connect(addr)
			if err == nil {
				break
			}
			if errors.Is(err, ErrClosed) {
				c.set(nil, ErrClosed)
				return
			}
			if Permanent(err) {
				perr := &PermanentError{Address: addr, Err: err}
				c.set(nil, perr)
				c.event(Event{Kind: GaveUp, Address: addr, Err: perr})
				return
			}
			c.event(Event{Kind: AttemptFailed, Address: addr, Err: err})
			lastErr = err
			attempts++
			idx++
		}
		c.learn(s)
		c.set(s, nil)
		e := Event{Kind: Connected, Address: s.addr, Reconnect: !first, Attempts: attempts}
		if !first {
			e.Err, e.Downtime = cause, time.Since(lostAt)
		}
		c.event(e)
		first, attempts = false, 0

		// Wait for its end.
		select {
		case <-s.conn.Done():
			cause = s.conn.Err()
			if cause == nil {
				cause = errors.New("connection closed")
			}
		case <-s.failed:
			cause = s.cause
		case <-c.closing:
			c.set(nil, ErrClosed)
			closed := make(chan struct{})
			go func() { _ = s.conn.Close(); close(closed) }()
			select { // a hung peer may hold a write for go-amqp's WriteTimeout
			case <-closed:
			case <-time.After(c.opts.ConnectTimeout):
			}
			return
		}
		lostAt = time.Now()
		s.fail(cause)
		c.set(nil, nil)
		go s.conn.Close() // may wait for a write timeout on a hung peer
		c.event(Event{Kind: Disconnected, Address: s.addr, Err: cause})
		if Permanent(cause) {
			perr := &PermanentError{Address: s.addr, Err: cause}
			c.set(nil, perr)
			c.event(Event{Kind: GaveUp, Address: s.addr, Err: perr})
			return
		}
		idx++ // the next address first: this one just failed
	}
}

// connect makes one attempt: the connection and its session, within
// ConnectTimeout; Close interrupts it.
func (c *Conn) connect(addr string) (*session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ConnectTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	conn, err := amqp.Dial(ctx, addr, c.opts.ConnOptions)
	if err == nil {
		var sess *amqp.Session
		sess, err = conn.NewSession(ctx, nil)
		if err == nil {
			return &session{addr: addr, conn: conn, sess: sess, failed: make(chan struct{})}, nil
		}
		_ = conn.Close()
	}
	select {
	case <-c.closing:
		return nil, ErrClosed
	default:
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no connection within %v: %w", c.opts.ConnectTimeout, err)
	} else if strings.Contains(err.Error(), refusedNoOpen) {
		err = fmt.Errorf("refused without an open (an HA backup's amqp:connection:forced; go-amqp drops the condition): %w", err)
	}
	return nil, err
}

// learn adds the addresses a broker advertised to the list.
func (c *Conn) learn(s *session) {
	if c.opts.IgnoreFailoverServerList {
		return
	}
	v, ok := s.conn.Properties()[FailoverServerListProperty]
	if !ok {
		return
	}
	scheme := "amqp"
	if u, err := url.Parse(s.addr); err == nil {
		scheme = u.Scheme
	}
	addrs, _, err := ParseFailoverServerList(v, scheme)
	if err != nil {
		return
	}
	addrs = noDowngrade(addrs, scheme)
	if len(addrs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addrs = mergeAddrs(c.addrs[:c.given], addrs)
}

// noDowngrade drops the plain amqp addresses from an advertised list when
// the connection that brought it is TLS: credentials (and messages) must
// not move to an unencrypted connection on a broker's word (qpid-jms
// refuses such redirects too, unless told otherwise).
func noDowngrade(addrs []string, scheme string) []string {
	if scheme == "amqp" {
		return addrs
	}
	var out []string
	for _, a := range addrs {
		if !strings.HasPrefix(a, "amqp://") {
			out = append(out, a)
		}
	}
	return out
}

// mergeAddrs is given followed by the advertised addresses it lacks.
func mergeAddrs(given, advertised []string) []string {
	out := append([]string(nil), given...)
	have := map[string]bool{}
	for _, a := range given {
		have[a] = true
	}
	for _, a := range advertised {
		if !have[a] {
			have[a] = true
			out = append(out, a)
		}
	}
	return out
}
