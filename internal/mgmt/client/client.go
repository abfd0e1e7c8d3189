// Package client is the management client our tools share (qpid-config,
// qpid-ha): it connects with go-amqp, sends requests to the broker's
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
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// Options configure a connection.
type Options struct {
	// Mechanism is the SASL mechanism. Empty picks PLAIN when the URL has a
	// user name, else ANONYMOUS. ANONYMOUS, PLAIN and EXTERNAL are
	// available; others (SCRAM-SHA-256, DIGEST-MD5, GSSAPI...) are refused
	// with ErrMechanism because go-amqp lacks them.
	Mechanism string
	// Timeout bounds connecting and each request (when the request's
	// context has no deadline), and is the connection's idle timeout, so a
	// broker that hangs fails the client within it. 0 waits forever.
	Timeout time.Duration
	// Admin sets the connection property qpid.ha-admin: the connection is an
	// administrator's (the only kind a backup broker admits).
	Admin bool
	// ContainerID is the AMQP container id; empty picks a random one.
	ContainerID string
	// TLSConfig is used for ssl: (amqps://) addresses; nil uses the
	// system's roots and no client certificate.
	TLSConfig *tls.Config
}

// ErrMechanism is what a *MechanismError is (errors.Is).
var ErrMechanism = errors.New("SASL mechanism not supported by this tool")

// MechanismError is returned for a SASL mechanism the client cannot do.
type MechanismError struct{ Mechanism string }

func (e *MechanismError) Error() string {
	return fmt.Sprintf("SASL mechanism %s is not supported by this tool: its AMQP client (go-amqp) "+
		"offers ANONYMOUS, PLAIN and EXTERNAL; the broker takes PLAIN from the users of its database", e.Mechanism)
}

// Is makes errors.Is(err, ErrMechanism) true.
func (e *MechanismError) Is(target error) bool { return target == ErrMechanism }

// Client is a connection to a broker's management node. It is safe for
// concurrent use; requests are answered one at a time.
type Client struct {
	// Addr is the address it connected to (host:port).
	Addr string

	timeout time.Duration
	conn    *amqp.Conn
	sess    *amqp.Session
	snd     *amqp.Sender
	rcv     *amqp.Receiver
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
	sasl, err := mechanism(opts.Mechanism, target.User, target.Password)
	if err != nil {
		return nil, err
	}
	co := &amqp.ConnOptions{SASLType: sasl, ContainerID: opts.ContainerID, TLSConfig: opts.TLSConfig}
	if opts.Timeout > 0 {
		co.IdleTimeout = opts.Timeout
		co.WriteTimeout = opts.Timeout
	}
	if opts.Admin {
		co.Properties = map[string]any{wire.AdminProperty: true}
	}
	var errs []string
	for _, a := range target.Addrs {
		c, err := dialOne(ctx, a, co, opts.Timeout)
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

func (a Address) url() string {
	if a.TLS {
		return "amqps://" + a.HostPort()
	}
	return "amqp://" + a.HostPort()
}

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

func mechanism(mech, user, password string) (amqp.SASLType, error) {
	switch m := strings.ToUpper(mech); m {
	case "":
		if user != "" {
			return amqp.SASLTypePlain(user, password), nil
		}
		return amqp.SASLTypeAnonymous(), nil
	case "ANONYMOUS":
		return amqp.SASLTypeAnonymous(), nil
	case "PLAIN":
		if user == "" {
			return nil, errors.New("SASL mechanism PLAIN needs a user name: give the broker as user/password@host[:port]")
		}
		return amqp.SASLTypePlain(user, password), nil
	case "EXTERNAL":
		return amqp.SASLTypeExternal(""), nil
	default:
		return nil, &MechanismError{Mechanism: m}
	}
}

// withTimeout bounds ctx by the client's timeout unless it has a deadline.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func dialOne(ctx context.Context, a Address, co *amqp.ConnOptions, timeout time.Duration) (*Client, error) {
	ctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	fail := func(err error) (*Client, error) {
		msg := describe(ctx, err, timeout)
		if strings.Contains(msg, "auth failed") {
			msg = "authentication failed (" + msg + "): check the user name and password"
		}
		if _, offered, ok := strings.Cut(msg, "no supported auth mechanism"); ok {
			offered = strings.Trim(strings.TrimSpace(offered), "()[]")
			msg = fmt.Sprintf("the broker does not offer the SASL mechanism this client asked for (it offers %s)", offered)
		}
		return nil, fmt.Errorf("cannot connect to %s: %s", a.HostPort(), msg)
	}
	opts := *co
	conn, err := amqp.Dial(ctx, a.url(), &opts)
	if err != nil {
		return fail(err)
	}
	c := &Client{Addr: a.HostPort(), timeout: timeout, conn: conn, prefix: randomID() + "-"}
	if err := c.attach(ctx); err != nil {
		conn.Close()
		return fail(err)
	}
	return c, nil
}

// attach opens the session, the reply receiver and the request sender.
func (c *Client) attach(ctx context.Context) error {
	var err error
	if c.sess, err = c.conn.NewSession(ctx, nil); err != nil {
		return err
	}
	if c.rcv, err = c.sess.NewReceiver(ctx, "", &amqp.ReceiverOptions{DynamicAddress: true, Credit: 16}); err != nil {
		return fmt.Errorf("reply queue: %w", err)
	}
	c.replyTo = c.rcv.Address()
	if c.snd, err = c.sess.NewSender(ctx, wire.Address, nil); err != nil {
		return fmt.Errorf("management node: %w", err)
	}
	return nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// describe words a connection or request error for a person.
func describe(ctx context.Context, err error, timeout time.Duration) string {
	var ne *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.As(err, &ne) && ne.Err != nil:
		return ne.Err.Error()
	}
	var ae *amqp.Error
	if errors.As(err, &ae) {
		if ae.Description != "" {
			return fmt.Sprintf("%s (%s)", ae.Description, ae.Condition)
		}
		return string(ae.Condition)
	}
	var ce *amqp.ConnError
	if errors.As(err, &ce) && ce.RemoteErr != nil {
		return describe(ctx, ce.RemoteErr, timeout)
	}
	return err.Error()
}

// ReplyTo is the address of the client's reply queue (a temporary queue
// on the broker, which tools leave out of their listings).
func (c *Client) ReplyTo() string { return c.replyTo }

// Close closes the connection.
func (c *Client) Close() error {
	ctx, cancel := withTimeout(context.Background(), c.timeout)
	defer cancel()
	_ = c.snd.Close(ctx)
	_ = c.rcv.Close(ctx)
	return c.conn.Close()
}

// CloseWithin closes the connection, waiting at most a second and not past
// ctx's deadline: the close is a courtesy to the broker, and a broker that
// hangs must not hold a command past its timeout.
func (c *Client) CloseWithin(ctx context.Context) {
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	done := make(chan struct{})
	go func() {
		_ = c.Close()
		close(done)
	}()
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
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
	props := map[string]any{wire.PropOperation: op, wire.PropType: typ}
	if name != "" {
		props[wire.PropName] = name
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	to, replyTo := wire.Address, c.replyTo
	msg := &amqp.Message{
		Properties:            &amqp.MessageProperties{MessageID: id, To: &to, ReplyTo: &replyTo},
		ApplicationProperties: props,
		Value:                 attrs,
	}
	if err := c.snd.Send(ctx, msg, nil); err != nil {
		return nil, fmt.Errorf("%s %s: cannot send the request: %s", op, typ, describe(ctx, err, c.timeout))
	}
	for {
		m, err := c.rcv.Receive(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: no response: %s", op, typ, describe(ctx, err, c.timeout))
		}
		_ = c.rcv.AcceptMessage(ctx, m)
		if m.Properties == nil || m.Properties.CorrelationID != id {
			continue // a late answer to an earlier request that timed out
		}
		return decodeResponse(m)
	}
}

func decodeResponse(m *amqp.Message) (*Response, error) {
	r := &Response{}
	code, ok := toInt(m.ApplicationProperties[wire.PropStatusCode])
	if !ok {
		return nil, fmt.Errorf("malformed management response: no %s", wire.PropStatusCode)
	}
	r.Status = int(code)
	r.Description, _ = m.ApplicationProperties[wire.PropStatusDescription].(string)
	r.Body = Normalize(m.Value)
	return r, nil
}

// Normalize turns the maps go-amqp decodes (map[any]any when empty or with
// other keys) into map[string]any, recursively.
func Normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	}
	return v
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
