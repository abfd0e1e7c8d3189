// Package limits checks the broker's limits end to end with the real
// qpidd and go-amqp: connection limits with the administrators'
// exemption, max-negotiate-time, max-queues-per-user, max-memory and the
// periodic purge of expired messages.
package limits

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// connect opens a connection and a session (where a refusal at open
// shows); admin sets the connection property qpid.ha-admin.
func connect(t *testing.T, b *qpiddtest.Broker, admin bool) (*goamqp.Conn, *goamqp.Session, error) {
	t.Helper()
	opts := &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}
	if admin {
		opts.Properties = map[string]any{"qpid.ha-admin": true}
	}
	c := ctx(t)
	conn, err := goamqp.Dial(c, b.URL(), opts)
	if err != nil {
		return nil, nil, err
	}
	s, err := conn.NewSession(c, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	t.Cleanup(func() { conn.Close() })
	return conn, s, nil
}

// condition is the AMQP error condition of a go-amqp error, "" if none.
func condition(err error) string {
	var ae *goamqp.Error
	var le *goamqp.LinkError
	var ce *goamqp.ConnError
	switch {
	case errors.As(err, &ae):
		return string(ae.Condition)
	case errors.As(err, &le) && le.RemoteErr != nil:
		return string(le.RemoteErr.Condition)
	case errors.As(err, &ce) && ce.RemoteErr != nil:
		return string(ce.RemoteErr.Condition)
	}
	return ""
}

func wantLimit(t *testing.T, err error, words ...string) {
	t.Helper()
	if condition(err) != "amqp:resource-limit-exceeded" {
		t.Fatalf("want amqp:resource-limit-exceeded, got %v", err)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%q does not say %q", err, w)
		}
	}
}

func send(t *testing.T, s *goamqp.Session, address string, m *goamqp.Message) error {
	t.Helper()
	snd, err := s.NewSender(ctx(t), address, nil)
	if err != nil {
		return err
	}
	defer snd.Close(ctx(t))
	return snd.Send(ctx(t), m, nil)
}

// TestMaxConnections: two clients hold the places of max-connections=2, a
// third is refused naming the limit, administrators (qpid-ha, the OCF
// agent, HA peers) still get in, the broker keeps serving the two, and a
// freed place is taken by the next client.
func TestMaxConnections(t *testing.T) {
	b := qpiddtest.Start(t, "--max-connections", "2", "--queue", "q")
	first, s1, err := connect(t, b, false)
	if err != nil {
		t.Fatal(err)
	}
	_, s2, err := connect(t, b, false)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = connect(t, b, false)
	wantLimit(t, err, "the broker's connection limit (2, max-connections) is reached")
	for i := 0; i < 3; i++ {
		if _, _, err := connect(t, b, true); err != nil {
			t.Fatalf("administrator %d: %v", i, err)
		}
	}
	qpiddtest.Admin(t, b) // the tools' own client
	if err := send(t, s2, "q", goamqp.NewMessage([]byte("served"))); err != nil {
		t.Fatalf("a client holding a place: %v", err)
	}
	if err := send(t, s1, "q", goamqp.NewMessage([]byte("served"))); err != nil {
		t.Fatalf("a client holding a place: %v", err)
	}
	first.Close()
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		_, _, err := connect(t, b, false)
		return err
	})
	if !strings.Contains(b.Log(), "max-connections") {
		t.Fatalf("the refusal is not logged:\n%s", b.Log())
	}
}

func TestConnectionLimitPerIP(t *testing.T) {
	b := qpiddtest.Start(t, "--connection-limit-per-ip", "1")
	if _, _, err := connect(t, b, false); err != nil {
		t.Fatal(err)
	}
	_, _, err := connect(t, b, false)
	wantLimit(t, err, "127.0.0.1 (1, connection-limit-per-ip)")
	if _, _, err := connect(t, b, true); err != nil {
		t.Fatalf("administrator: %v", err)
	}
}

func TestConnectionLimitPerUser(t *testing.T) {
	b := qpiddtest.Start(t, "--connection-limit-per-user", "1")
	if _, _, err := connect(t, b, false); err != nil {
		t.Fatal(err)
	}
	_, _, err := connect(t, b, false)
	wantLimit(t, err, "user anonymous (1, connection-limit-per-user)")
}

// TestMaxConnectionsHA: an HA cluster with max-connections=1 whose one
// place a client holds: the backups still connect to the primary and
// become ready, and qpid-ha's kind of connection still works.
func TestMaxConnectionsHA(t *testing.T) {
	c := qpiddtest.StartCluster(t, 2, "--max-connections", "1")
	p := c.Brokers[0]
	if err := qpiddtest.Promote(t, p); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, p, "active", 30*time.Second)
	if _, _, err := connect(t, p, false); err != nil {
		t.Fatal(err)
	}
	_, _, err := connect(t, p, false)
	wantLimit(t, err, "max-connections")
	// The backup connects again (restarted) while the client holds the
	// place.
	backup := c.Brokers[1]
	backup.Stop()
	backup.Restart()
	qpiddtest.WaitStatus(t, backup, "ready", 30*time.Second)
	if _, err := qpiddtest.HAStatus(t, p); err != nil {
		t.Fatalf("administrator: %v", err)
	}
}

// TestMaxNegotiateTime: a client that connects and sends nothing, or only
// the protocol header, is dropped after max-negotiate-time.
func TestMaxNegotiateTime(t *testing.T) {
	b := qpiddtest.Start(t, "--max-negotiate-time", "300")
	for _, hello := range []string{"", "AMQP\x03\x01\x00\x00"} {
		nc, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if hello != "" {
			if _, err := nc.Write([]byte(hello)); err != nil {
				t.Fatal(err)
			}
		}
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.Copy(io.Discard, nc)
		took := time.Since(start)
		nc.Close()
		if err != nil {
			t.Fatalf("sent %q: not dropped after %v: %v", hello, took, err)
		}
		if took < 250*time.Millisecond || took > 5*time.Second {
			t.Fatalf("sent %q: dropped after %v, want about 300ms", hello, took)
		}
	}
	// A client that completes the handshake is served.
	if _, _, err := connect(t, b, false); err != nil {
		t.Fatal(err)
	}
}

// queueDepth reads a queue's message depth through the management node.
func queueDepth(t *testing.T, c *client.Client, name string) (int64, error) {
	t.Helper()
	r, err := c.Request(ctx(t), "READ", "org.apache.qpid.broker:queue", name, nil)
	if err != nil {
		return 0, err
	}
	if err := r.Err(); err != nil {
		return 0, err
	}
	attrs, _ := r.Body.(map[string]any)
	switch d := attrs["messageDepth"].(type) {
	case int64:
		return d, nil
	case int:
		return int64(d), nil
	}
	return 0, fmt.Errorf("no messageDepth in %v", r.Body)
}

// TestQueuePurgeInterval: expired messages leave a queue nobody consumes
// from, durable ones from the store too (a restart does not bring them
// back), at most max-purge-batch per queue per pass.
func TestQueuePurgeInterval(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-purge-interval", "0.2", "--max-purge-batch", "5")
	_, s, err := connect(t, b, false)
	if err != nil {
		t.Fatal(err)
	}
	adm := qpiddtest.Admin(t, b)
	if r, err := adm.Request(ctx(t), "CREATE", "org.apache.qpid.broker:queue", "dq", map[string]any{"durable": true}); err != nil || r.Err() != nil {
		t.Fatalf("create dq: %v %v", err, r)
	}
	ttl := 300 * time.Millisecond
	for i := 0; i < 12; i++ {
		m := goamqp.NewMessage([]byte(fmt.Sprint("expires ", i)))
		m.Header = &goamqp.MessageHeader{Durable: true, TTL: ttl}
		if err := send(t, s, "dq", m); err != nil {
			t.Fatal(err)
		}
	}
	keep := goamqp.NewMessage([]byte("stays"))
	keep.Header = &goamqp.MessageHeader{Durable: true}
	if err := send(t, s, "dq", keep); err != nil {
		t.Fatal(err)
	}
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		d, err := queueDepth(t, adm, "dq")
		if err == nil && d != 1 {
			err = fmt.Errorf("dq holds %d messages", d)
		}
		return err
	})
	// Restarted without the cleaner, the store shows what it recorded.
	b.Stop()
	for i, a := range b.Args {
		if a == "--queue-purge-interval" {
			b.Args[i+1] = "0"
		}
	}
	b.Restart()
	adm = qpiddtest.Admin(t, b)
	if d, err := queueDepth(t, adm, "dq"); err != nil || d != 1 {
		t.Fatalf("after a restart dq holds %d messages (%v), want 1: the purge was not recorded in the store", d, err)
	}
}

// TestMaxQueuesPerUser: a user's queues made on demand and through
// management count; one more is refused naming the limit; deleting one
// frees its place.
func TestMaxQueuesPerUser(t *testing.T) {
	b := qpiddtest.Start(t, "--max-queues-per-user", "2", "--queue-patterns", `auto\..*`, "--queue", "startup")
	_, s, err := connect(t, b, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewReceiver(ctx(t), "auto.1", nil); err != nil {
		t.Fatal(err)
	}
	adm := qpiddtest.Admin(t, b)
	create := func(name string) error {
		r, err := adm.Request(ctx(t), "CREATE", "org.apache.qpid.broker:queue", name, nil)
		if err != nil {
			return err
		}
		return r.Err()
	}
	if err := create("made"); err != nil {
		t.Fatal(err)
	}
	_, err = s.NewReceiver(ctx(t), "auto.2", nil)
	wantLimit(t, err, `user anonymous has 2 queues, the most allowed (2, max-queues-per-user); queue "auto.2" refused`)
	if err := create("more"); client.StatusOf(err) != 403 || !strings.Contains(err.Error(), "max-queues-per-user") {
		t.Fatalf("management create over the limit: %v", err)
	}
	// The broker keeps serving the user's queues.
	if err := send(t, s, "auto.1", goamqp.NewMessage([]byte("served"))); err != nil {
		t.Fatal(err)
	}
	if r, err := adm.Request(ctx(t), "DELETE", "org.apache.qpid.broker:queue", "made", nil); err != nil || r.Err() != nil {
		t.Fatalf("delete: %v %v", err, r)
	}
	if _, err := s.NewReceiver(ctx(t), "auto.2", nil); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
}

// TestMaxMemory: producers fill the queues up to max-memory; the message
// that goes beyond it is queued but not accepted (the sender waits, the
// broker logs that it flow controls for memory); a message that would go
// beyond the bound by more than 10% is refused; once consumers drain the
// queues below 90% the waiting sender is accepted and new messages flow.
func TestMaxMemory(t *testing.T) {
	const bound = 100000
	b := qpiddtest.Start(t, "--max-memory", fmt.Sprint(bound), "--queue", "q")
	_, s, err := connect(t, b, false)
	if err != nil {
		t.Fatal(err)
	}
	adm := qpiddtest.Admin(t, b)
	snd, err := s.NewSender(ctx(t), "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(strings.Repeat("m", 1000))
	type result struct {
		n   int
		err error
	}
	accepted := make(chan int, 1000)
	stuck := make(chan result, 1)
	go func() {
		for i := 1; ; i++ {
			if err := snd.Send(context.Background(), goamqp.NewMessage(payload), nil); err != nil {
				stuck <- result{i, err}
				return
			}
			select {
			case accepted <- i:
			default:
			}
			if i > 2*bound/len(payload) {
				stuck <- result{i, errors.New("never flow controlled")}
				return
			}
		}
	}()
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		if !strings.Contains(b.Log(), "producer flow control for memory on") {
			return errors.New("no flow control for memory logged")
		}
		return nil
	})
	// The message beyond the bound is on the queue, its sender waits.
	n := 0
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		for len(accepted) > 0 {
			n = <-accepted
		}
		d, err := queueDepth(t, adm, "q")
		if err == nil && d != int64(n+1) {
			err = fmt.Errorf("q holds %d messages, %d were accepted", d, n)
		}
		return err
	})
	select {
	case r := <-stuck:
		t.Fatalf("the sender did not wait: message %d: %v", r.n, r.err)
	default:
	}
	if n < bound/len(payload)*9/10 {
		t.Fatalf("flow controlled after %d messages of %d bytes with a bound of %d", n, len(payload), bound)
	}
	// A message taking the queues beyond the bound by more than 10% is
	// refused.
	_, s2, err := connect(t, b, false)
	if err != nil {
		t.Fatal(err)
	}
	err = send(t, s2, "q", goamqp.NewMessage(make([]byte, bound/5)))
	wantLimit(t, err, "max-memory")
	// Consumers drain the queue: the waiting sender is accepted.
	rcv, err := s2.NewReceiver(ctx(t), "q", &goamqp.ReceiverOptions{Credit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n/2; i++ {
		m, err := rcv.Receive(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(ctx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case i := <-accepted:
		if i != n+1 {
			t.Fatalf("message %d accepted, want %d", i, n+1)
		}
	case r := <-stuck:
		t.Fatalf("message %d: %v", r.n, r.err)
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting sender was not accepted after the queue was drained")
	}
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(b.Log(), "producer flow control for memory off") {
			return errors.New("the end of flow control for memory is not logged")
		}
		return nil
	})
}
