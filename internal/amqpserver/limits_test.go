package amqpserver_test

// Connection limits and the handshake timeout of an in-process server.

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
)

// connect logs in as user (PLAIN), as an administrator if admin (the
// connection property qpid.ha-admin), and opens a session: the open's
// refusal shows there.
func (e *env) connect(user string, admin bool) (*goamqp.Conn, error) {
	c := ctx(e.t)
	opts := &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain(user, password)}
	if admin {
		opts.Properties = map[string]any{amqpserver.AdminProperty: true}
	}
	conn, err := goamqp.Dial(c, "amqp://"+e.addr, opts)
	if err != nil {
		return nil, err
	}
	if _, err := conn.NewSession(c, nil); err != nil {
		conn.Close()
		return nil, err
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn, nil
}

// wantRefused checks a connection refused by a limit: the condition and
// words of its description.
func wantRefused(t *testing.T, err error, words ...string) {
	t.Helper()
	if condition(err) != string(types.CondResourceLimitExceeded) {
		t.Fatalf("want amqp:resource-limit-exceeded, got %v", err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("refusal %q does not say %q", err, w)
		}
	}
}

// eventuallyConnects polls until user gets a connection (a place freed
// is given back when the server sees the close).
func (e *env) eventuallyConnects(user string) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := e.connect(user, false)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s still refused: %v", user, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxConnections(t *testing.T) {
	e := startWith(t, "", func(c *amqpserver.Config) { c.MaxConnections = 2 })
	first, err := e.connect("alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.connect("bob", false); err != nil {
		t.Fatal(err)
	}
	_, err = e.connect("carol", false)
	wantRefused(t, err, "the broker's connection limit (2, max-connections) is reached")
	wantLog(t, e, "connection refused", "max-connections")
	// An administrator (and HA brokers, which connect as one) still gets
	// in, and takes no client's place.
	for i := 0; i < 3; i++ {
		if _, err := e.connect("admin", true); err != nil {
			t.Fatalf("administrator %d: %v", i, err)
		}
	}
	first.Close()
	e.eventuallyConnects("carol")
	_, err = e.connect("bob", false)
	wantRefused(t, err, "max-connections")
}

func TestMaxConnectionsServesOthers(t *testing.T) {
	e := startWith(t, "", func(c *amqpserver.Config) { c.MaxConnections = 1 })
	conn, err := e.connect("alice", false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.connect("bob", false)
	wantRefused(t, err, "max-connections")
	s, err := conn.NewSession(ctx(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := s.NewSender(ctx(t), "q1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx(t), goamqp.NewMessage([]byte("still served")), nil); err != nil {
		t.Fatal(err)
	}
	if d := e.broker.Queue("q1").Depth(); d != 1 {
		t.Fatalf("q1 holds %d messages, want 1", d)
	}
}

// TestConnectionLimitAdminNeedsACL: with an ACL, setting the admin
// property exempts only identities that may administer the broker.
func TestConnectionLimitAdminNeedsACL(t *testing.T) {
	rules := "acl allow admin@QPID all all\nacl deny all access broker\nacl deny all update broker\nacl allow all all\n"
	e := startWith(t, rules, func(c *amqpserver.Config) { c.MaxConnections = 1 })
	if _, err := e.connect("alice", false); err != nil {
		t.Fatal(err)
	}
	_, err := e.connect("bob", true)
	wantRefused(t, err, "max-connections")
	if _, err := e.connect("admin", true); err != nil {
		t.Fatalf("administrator: %v", err)
	}
}

func TestConnectionLimitPerUser(t *testing.T) {
	e := startWith(t, "", func(c *amqpserver.Config) { c.ConnectionLimitPerUser = 2 })
	first, err := e.connect("bob", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.connect("bob", false); err != nil {
		t.Fatal(err)
	}
	_, err = e.connect("bob", false)
	wantRefused(t, err, "the connection limit of user bob@QPID (2, connection-limit-per-user) is reached")
	if _, err := e.connect("alice", false); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if _, err := e.connect("bob", true); err != nil {
		t.Fatalf("bob as an administrator (no ACL: everyone may administer): %v", err)
	}
	first.Close()
	e.eventuallyConnects("bob")
}

func TestConnectionLimitPerIP(t *testing.T) {
	e := startWith(t, "", func(c *amqpserver.Config) { c.ConnectionLimitPerIP = 2 })
	first, err := e.connect("alice", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.connect("bob", false); err != nil {
		t.Fatal(err)
	}
	_, err = e.connect("carol", false)
	wantRefused(t, err, "the connection limit of client address 127.0.0.1 (2, connection-limit-per-ip) is reached")
	if _, err := e.connect("admin", true); err != nil {
		t.Fatalf("administrator: %v", err)
	}
	first.Close()
	e.eventuallyConnects("carol")
}

// TestHandshakeTimeout: a client that connects and never completes the
// handshake is dropped after the timeout, whether it sends nothing, only
// the SASL protocol header, or part of one.
func TestHandshakeTimeout(t *testing.T) {
	const limit = 300 * time.Millisecond
	e := startWith(t, "", func(c *amqpserver.Config) { c.HandshakeTimeout = limit })
	for name, send := range map[string]string{
		"nothing":       "",
		"SASL header":   "AMQP\x03\x01\x00\x00",
		"half a header": "AMQ",
	} {
		t.Run(name, func(t *testing.T) {
			nc, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			start := time.Now()
			if send != "" {
				if _, err := nc.Write([]byte(send)); err != nil {
					t.Fatal(err)
				}
			}
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, nc) // until the server closes
			took := time.Since(start)
			if err != nil {
				t.Fatalf("not closed by the server after %v: %v", took, err)
			}
			if took < limit-50*time.Millisecond || took > 5*time.Second {
				t.Fatalf("closed after %v, want about %v", took, limit)
			}
		})
	}
}

// TestMaxQueuesPerUser: queues made on demand and management creates
// count for their creator, temporary queues do not; one more is refused naming
// the limit; a deleted queue frees its place; others are not affected.
func TestMaxQueuesPerUser(t *testing.T) {
	e := startWith(t, "", func(c *amqpserver.Config) { c.MaxQueuesPerUser = 2 })
	if err := e.receiver("bob", "auto.1", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.call("bob", "CREATE", "queue", "bob2", nil); err != nil {
		t.Fatal(err)
	}
	err := e.receiver("bob", "auto.3", nil)
	wantRefused(t, err, `user bob@QPID has 2 queues, the most allowed (2, max-queues-per-user); queue "auto.3" refused`)
	// Temporary queues do not count: they go with their link.
	if err := e.receiver("bob", "", &goamqp.ReceiverOptions{DynamicAddress: true}); err != nil {
		t.Fatalf("a dynamic node at the limit: %v", err)
	}
	err = e.call("bob", "CREATE", "queue", "bob3", nil)
	if err == nil || !strings.Contains(err.Error(), "(2, max-queues-per-user)") {
		t.Fatalf("management create over the limit: %v", err)
	}
	if e.hasQueue("auto.3") || e.hasQueue("bob3") {
		t.Fatal("a refused queue exists")
	}
	if err := e.receiver("alice", "auto.alice", nil); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if err := e.call("bob", "DELETE", "queue", "bob2", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.receiver("bob", "auto.3", nil); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}

// TestACLQueueQuota: the ACL's quota queues is enforced, with the option:
// the smaller applies.
func TestACLQueueQuota(t *testing.T) {
	e := startWith(t, "quota queues 1 bob@QPID\nquota queues 5 all\nacl allow all all\n",
		func(c *amqpserver.Config) { c.MaxQueuesPerUser = 3 })
	if err := e.receiver("bob", "auto.1", nil); err != nil {
		t.Fatal(err)
	}
	err := e.receiver("bob", "auto.2", nil)
	wantRefused(t, err, "(1, the ACL's quota queues)")
	for i := 0; i < 3; i++ {
		if err := e.receiver("alice", fmt.Sprint("auto.a", i), nil); err != nil {
			t.Fatalf("alice's queue %d: %v", i, err)
		}
	}
	err = e.receiver("alice", "auto.a3", nil)
	wantRefused(t, err, "(3, max-queues-per-user)")
	if strings.Contains(e.log.String(), "not enforced") {
		t.Fatalf("the quota is still said not to be enforced:\n%s", e.log.String())
	}
}
