// Package client is the management client our tools share (qpid-config,
// qpid-ha, qpidd-primary): it connects with our own AMQP engine (package
// amqp, run by package driver), sends requests to the broker's
// "$management" node and waits for the matching response on a dynamic
// reply queue. The protocol is documented in package mgmt; its names are
// in package wire, so tools do not link the broker.
package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// Options configure a connection.
type Options struct {
	// Mechanism is the SASL mechanism: SCRAM-SHA-256, PLAIN, ANONYMOUS or
	// EXTERNAL; others are refused with a *MechanismError. Empty picks,
	// among the mechanisms the broker offers: with a user name in the URL,
	// SCRAM-SHA-256, else PLAIN; without one, EXTERNAL on a TLS connection
	// with a client certificate, else ANONYMOUS.
	Mechanism string
	// Timeout bounds connecting to each address (within Dial's context)
	// and each request (when the request's context has no deadline), and
	// is the connection's idle timeout, so a broker that hangs fails the
	// client within it. 0 waits forever.
	Timeout time.Duration
	// Admin sets the connection property qpid.ha-admin: the connection is an
	// administrator's (the only kind a backup broker admits).
	Admin bool
	// ContainerID is the AMQP container id; empty picks a random one.
	ContainerID string
	// TLSConfig is used for ssl: (amqps://) addresses; nil uses the
	// system's roots and no client certificate. An empty ServerName is the
	// address's host.
	TLSConfig *tls.Config
}

// ErrMechanism is what a *MechanismError is (errors.Is).
var ErrMechanism = errors.New("SASL mechanism not supported by this tool")

// MechanismError is returned for a SASL mechanism the client cannot do.
type MechanismError struct{ Mechanism string }

func (e *MechanismError) Error() string {
	return fmt.Sprintf("SASL mechanism %s is not supported by this tool: it offers SCRAM-SHA-256, PLAIN, "+
		"ANONYMOUS and EXTERNAL (the broker takes SCRAM-SHA-256 and PLAIN from the users of its database, "+
		"EXTERNAL from TLS client certificates)", e.Mechanism)
}

// Is makes errors.Is(err, ErrMechanism) true.
func (e *MechanismError) Is(target error) bool { return target == ErrMechanism }

// Client is a connection to a broker's management node. It is safe for
// concurrent use; requests are answered one at a time.
type Client struct {
	// Addr is the address it connected to (host:port).
	Addr string

	timeout time.Duration
	dc      *driver.Conn
	h       *handler
	ended   chan struct{} // closed when the driver's Run returns
	replyTo string
	prefix  string

	mu   sync.Mutex
	next uint64
}

// Dial connects to the first reachable address of a broker URL: the
// original tools' `[user[/password]@]host[:port]` (a comma-separated list
// of addresses is tried in turn; "tcp:" and "ssl:" prefixes as in qpidd's
// URLs), or amqp://[user:password@]host[:port] (amqps:// for TLS).
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	target, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	if err := checkMechanism(opts.Mechanism, target.User); err != nil {
		return nil, err
	}
	var errs []string
	for _, a := range target.Addrs {
		c, err := dialOne(ctx, a, target, opts)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, errors.New(strings.Join(errs, "; "))
}

// Target is a parsed broker URL.
type Target struct {
	User, Password string
	Addrs          []Address
}

// Address is one broker address.
type Address struct {
	TLS  bool
	Host string
	Port int
}

// HostPort is host:port.
func (a Address) HostPort() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// ParseURL reads a broker URL (see Dial).
func ParseURL(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, errors.New("empty broker address")
	}
	for _, scheme := range []string{"amqp://", "amqps://"} {
		if strings.HasPrefix(s, scheme) {
			return parseStandard(strings.TrimPrefix(s, scheme), scheme == "amqps://")
		}
	}
	u, err := config.ParseURL(s)
	if err != nil {
		return Target{}, fmt.Errorf("broker address %q: %v", s, err)
	}
	t := Target{User: u.User, Password: u.Password}
	for _, a := range u.Addrs {
		t.Addrs = append(t.Addrs, Address{TLS: a.Scheme == "ssl", Host: a.Host, Port: a.Port})
	}
	return t, nil
}

// parseStandard reads the part of an amqp:// URL after the scheme.
func parseStandard(rest string, tls bool) (Target, error) {
	var t Target
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i] // a path (node) or query means nothing here
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		cred := rest[:at]
		rest = rest[at+1:]
		t.User, t.Password, _ = strings.Cut(cred, ":")
	}
	a := Address{TLS: tls, Host: rest, Port: config.DefaultPort}
	if tls {
		a.Port = config.DefaultSSLPort
	}
	if h, p, err := net.SplitHostPort(rest); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("broker address %q: bad port %q", rest, p)
		}
		a.Host, a.Port = h, n
	} else {
		a.Host = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	}
	if a.Host == "" {
		return Target{}, fmt.Errorf("broker address %q: missing host", rest)
	}
	t.Addrs = []Address{a}
	return t, nil
}

// withTimeout bounds ctx by the client's timeout unless it has a deadline.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// dialOne connects to one address: TCP, TLS for an ssl: address, then
// SASL and the AMQP open on our engine, then the management links.
func dialOne(ctx context.Context, a Address, target Target, opts Options) (*Client, error) {
	cancel := context.CancelFunc(func() {})
	if opts.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout) // ctx's deadline if earlier
	}
	defer cancel()
	var tlsConf *tls.Config
	if a.TLS {
		tlsConf = clientTLS(opts.TLSConfig, a.Host)
	}
	sel := newSelector(opts.Mechanism, target.User, target.Password, tlsConf)
	fail := func(err error) (*Client, error) {
		return nil, fmt.Errorf("cannot connect to %s: %s", a.HostPort(), sel.explain(describe(ctx, err, opts.Timeout), err))
	}
	nc, err := dialTransport(ctx, a, tlsConf)
	if err != nil {
		return fail(err)
	}
	containerID := opts.ContainerID
	if containerID == "" {
		containerID = "qpid-tool-" + randomID()
	}
	cfg := amqp.Config{
		ContainerID:  containerID,
		Hostname:     a.Host,
		MaxFrameSize: 1 << 20,
		IdleTimeout:  opts.Timeout,
		SASLClient:   sel,
	}
	if dl, ok := ctx.Deadline(); ok {
		// A backstop: ctx's deadline ends the wait below first, with the
		// friendlier message.
		cfg.HandshakeTimeout = time.Until(dl) + time.Second
	}
	if opts.Admin {
		cfg.Properties = types.Map{{Key: types.Symbol(wire.AdminProperty), Value: true}}
	}
	h := newHandler()
	c := &Client{Addr: a.HostPort(), timeout: opts.Timeout, h: h, ended: make(chan struct{}), prefix: randomID() + "-"}
	c.dc = driver.New(nc, amqp.NewClient(cfg), h)
	go func() {
		err := c.dc.Run()
		h.fail(transportError(err))
		close(c.ended)
	}()
	c.dc.Inject(c.dc.Engine.Open)
	select {
	case <-h.ready:
	case <-h.dead:
	case <-ctx.Done():
	}
	if err := h.failure(); err != nil || ctx.Err() != nil {
		if err == nil {
			err = ctx.Err()
		}
		c.dc.Abort()
		<-c.ended
		return fail(err)
	}
	c.replyTo = h.replyAddress()
	return c, nil
}

// dialTransport opens the TCP connection, and the TLS session over it for
// an ssl: address, within ctx.
func dialTransport(ctx context.Context, a Address, tlsConf *tls.Config) (net.Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", a.HostPort())
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if tlsConf == nil {
		return nc, nil
	}
	tc := tls.Client(nc, tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, &tlsError{err: err}
	}
	return tc, nil
}

// clientTLS is the TLS configuration for a connection to host.
func clientTLS(base *tls.Config, host string) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}

// transportError is the error of a finished transport, nil for a clean close.
func transportError(err error) error {
	if err == nil || errors.Is(err, amqp.ErrClosed) {
		return errClosed
	}
	return err
}

var errClosed = errors.New("connection closed")

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ReplyTo is the address of the client's reply queue (a temporary queue
// on the broker, which tools leave out of their listings).
func (c *Client) ReplyTo() string { return c.replyTo }

// Close closes the connection: it sends close and waits, within the
// client's timeout (or 5 seconds without one), for the broker's answer.
func (c *Client) Close() error {
	wait := c.timeout
	if wait <= 0 {
		wait = 5 * time.Second
	}
	c.dc.Close(nil)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.ended:
	case <-t.C:
		c.dc.Abort()
		<-c.ended
	}
	if err := c.h.failure(); err != nil && !errors.Is(err, errClosed) {
		return err
	}
	return nil
}

// CloseWithin closes the connection, waiting at most a second and not past
// ctx's deadline: the close is a courtesy to the broker, and a broker that
// hangs must not hold a command past its timeout.
func (c *Client) CloseWithin(ctx context.Context) {
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	c.dc.Close(nil)
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-c.ended:
			return
		case <-t.C:
		}
	}
	c.dc.Abort()
}

// Response is a management response.
type Response struct {
	Status      int
	Description string
	// Body is nil, an attribute map (map[string]any) or a list of them
	// ([]any), with maps normalized to map[string]any.
	Body any
}

// Error is a response whose status is not 2xx.
type Error struct {
	Status      int
	Description string
}

func (e *Error) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("management request failed with status %d", e.Status)
	}
	return e.Description
}

// Err is nil for a 2xx response, else an *Error.
func (r *Response) Err() error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	return &Error{Status: r.Status, Description: r.Description}
}

// StatusOf is the status of an *Error (0 for other errors).
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Request sends one request and waits for its response. typ may be a
// full or short type name; attrs is the body (nil sends an empty map). The
// error is about the transport; a response with an error status is
// returned as is (see Response.Err).
func (c *Client) Request(ctx context.Context, op, typ, name string, attrs map[string]any) (*Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := withTimeout(ctx, c.timeout)
	defer cancel()
	c.next++
	id := c.prefix + strconv.FormatUint(c.next, 10)
	payload, err := encodeRequest(id, c.replyTo, op, typ, name, attrs)
	if err != nil {
		return nil, fmt.Errorf("%s %s: cannot encode the request: %v", op, typ, err)
	}
	if !c.dc.Inject(func() { c.h.send(payload) }) {
		return nil, fmt.Errorf("%s %s: cannot send the request: %s", op, typ, describe(ctx, c.h.failure(), c.timeout))
	}
	for {
		select {
		case m := <-c.h.responses:
			if p := m.Properties(); p == nil || p.CorrelationID != id {
				continue // a late answer to an earlier request that timed out
			}
			return decodeResponse(m)
		case <-c.h.dead:
			return nil, fmt.Errorf("%s %s: no response: %s", op, typ, describe(ctx, c.h.failure(), c.timeout))
		case <-ctx.Done():
			return nil, fmt.Errorf("%s %s: no response: %s", op, typ, describe(ctx, ctx.Err(), c.timeout))
		}
	}
}

// encodeRequest builds a request message: properties (message-id, to,
// reply-to), application properties (operation, type, name) and the
// attributes as an amqp-value map.
func encodeRequest(id, replyTo, op, typ, name string, attrs map[string]any) ([]byte, error) {
	props := &types.Properties{MessageID: id, To: wire.Address, ReplyTo: replyTo}
	b, err := props.Marshal(nil)
	if err != nil {
		return nil, err
	}
	app := types.Map{{Key: wire.PropOperation, Value: op}, {Key: wire.PropType, Value: typ}}
	if name != "" {
		app = append(app, types.MapEntry{Key: wire.PropName, Value: name})
	}
	b = types.AppendDescriptor(b, types.DescriptorApplicationProperties)
	if b, err = types.AppendValue(b, app); err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	body, err := toAMQP(attrs)
	if err != nil {
		return nil, err
	}
	b = types.AppendDescriptor(b, types.DescriptorAMQPValue)
	return types.AppendValue(b, body)
}

func decodeResponse(m *message.Message) (*Response, error) {
	r := &Response{}
	props := m.ApplicationProperties()
	v, _ := props.Get(wire.PropStatusCode)
	code, ok := toInt(v)
	if !ok {
		return nil, fmt.Errorf("malformed management response: no %s", wire.PropStatusCode)
	}
	r.Status = int(code)
	d, _ := props.Get(wire.PropStatusDescription)
	r.Description, _ = Normalize(d).(string)
	body, err := m.Value()
	if err != nil {
		return nil, fmt.Errorf("malformed management response: %v", err)
	}
	r.Body = Normalize(body)
	return r, nil
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	}
	return 0, false
}

// PortsGiven reports, for each address of a broker URL (see Dial), whether
// it names its port: a tool's --config port applies to those that do not.
func PortsGiven(s string) []bool {
	s = strings.TrimSpace(s)
	for _, scheme := range []string{"amqp://", "amqps://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			if i := strings.IndexAny(rest, "/?"); i >= 0 {
				rest = rest[:i]
			}
			if at := strings.LastIndexByte(rest, '@'); at >= 0 {
				rest = rest[at+1:]
			}
			_, _, err := net.SplitHostPort(rest)
			return []bool{err == nil}
		}
	}
	rest := strings.TrimPrefix(s, "amqp:")
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		rest = rest[at+1:]
	}
	var out []bool
	for _, item := range strings.Split(rest, ",") {
		for _, scheme := range []string{"tcp:", "ssl:"} {
			item = strings.TrimPrefix(item, scheme)
		}
		if strings.HasPrefix(item, "[") {
			out = append(out, strings.Contains(item, "]:"))
		} else {
			out = append(out, strings.Contains(item, ":"))
		}
	}
	return out
}

// FormatURL is the URL Dial takes for addresses and credentials. The
// original tools' form (user/password@host,...) cannot carry a password
// with '@'; the amqp:// form, for one address, one with '/' or '?'.
func FormatURL(addrs []Address, user, password string) (string, error) {
	var list []string
	for _, a := range addrs {
		if a.TLS {
			list = append(list, "ssl:"+a.HostPort())
		} else {
			list = append(list, a.HostPort())
		}
	}
	switch {
	case user == "":
		return strings.Join(list, ","), nil
	case !strings.ContainsAny(user, "/:@") && !strings.Contains(password, "@"):
		return user + "/" + password + "@" + strings.Join(list, ","), nil
	case len(addrs) == 1 && !strings.ContainsAny(user, ":@/?") && !strings.ContainsAny(password, "/?"):
		scheme := "amqp://"
		if addrs[0].TLS {
			scheme = "amqps://"
		}
		return scheme + user + ":" + password + "@" + addrs[0].HostPort(), nil
	}
	return "", errors.New("the user name or password holds characters a broker address cannot carry")
}
