package client

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	amqp "github.com/Azure/go-amqp"
	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/mgmt"
)

// startBroker runs an in-process broker with the management agent.
func startBroker(t *testing.T) (*broker.Broker, string) {
	t.Helper()
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	agent := mgmt.NewAgent(mgmt.Config{Broker: b, Name: "test-broker", Version: "test"})
	s := amqpserver.New(amqpserver.Config{Broker: b, Log: log, Management: agent, ContainerID: "test-broker"})
	agent.SetServer(s)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	return b, addr.String()
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, addr string, opts Options) *Client {
	t.Helper()
	c, err := Dial(ctxFor(t), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestQueueLifecycle(t *testing.T) {
	b, addr := startBroker(t)
	c := dial(t, addr, Options{Timeout: 5 * time.Second})
	ctx := ctxFor(t)
	q, err := c.CreateQueue(ctx, "q1", map[string]any{"durable": true,
		"arguments": map[string]any{"qpid.replicate": "all", "qpid.max_count": int64(5)}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Str("name") != "q1" || !q.Bool("durable") || q.Map("arguments")["qpid.replicate"] != "all" {
		t.Fatalf("created %v", q)
	}
	if s := b.Queue("q1").Settings(); s.MaxCount != 5 || !s.Durable {
		t.Fatalf("broker has %+v", s)
	}
	if _, err := c.CreateQueue(ctx, "q1", nil); StatusOf(err) != mgmt.StatusConflict {
		t.Fatalf("second create: %v", err)
	}
	qs, err := c.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range qs {
		found = found || q.Str("name") == "q1"
	}
	if !found {
		t.Fatalf("q1 not listed in %v", qs)
	}
	if err := c.DeleteQueue(ctx, "q1", true, true); err != nil {
		t.Fatal(err)
	}
	_, err = c.Queue(ctx, "q1")
	if StatusOf(err) != mgmt.StatusNotFound || err.Error() != `queue "q1" not found` {
		t.Fatalf("read after delete: %v", err)
	}
}

func TestBindAndRoute(t *testing.T) {
	_, addr := startBroker(t)
	c := dial(t, addr, Options{Timeout: 5 * time.Second})
	ctx := ctxFor(t)
	if _, err := c.CreateQueue(ctx, "hq", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateExchange(ctx, "headers", "hx", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "hx", "hq", "k", map[string]any{"x-match": "all", "color": "red"}); err != nil {
		t.Fatal(err)
	}
	bs, err := c.Bindings(ctx, map[string]any{"exchange": "hx"})
	if err != nil || len(bs) != 1 || bs[0].Map("arguments")["color"] != "red" {
		t.Fatalf("bindings %v, %v", bs, err)
	}
	// A message with the header reaches the queue through the exchange.
	conn, err := amqp.Dial(ctx, "amqp://"+addr, &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "hx", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, color := range []string{"blue", "red"} {
		m := amqp.NewMessage([]byte(color))
		m.ApplicationProperties = map[string]any{"color": color}
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	q, err := c.Queue(ctx, "hq")
	if err != nil || q.Int("messageDepth") != 1 {
		t.Fatalf("hq after sending: %v, %v", q, err)
	}
	if err := c.Unbind(ctx, "hx", "hq", "k"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unbind(ctx, "hx", "hq", "k"); StatusOf(err) != mgmt.StatusNotFound {
		t.Fatalf("second unbind: %v", err)
	}
}

func TestBrokerAndConnections(t *testing.T) {
	_, addr := startBroker(t)
	c := dial(t, addr, Options{Timeout: 5 * time.Second, Admin: true, ContainerID: "admin-tool"})
	ctx := ctxFor(t)
	br, err := c.Broker(ctx)
	if err != nil || br.Str("name") != "test-broker" || br.Int("connectionCount") != 1 {
		t.Fatalf("broker %v, %v", br, err)
	}
	cs, err := c.Connections(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("connections %v, %v", cs, err)
	}
	if cs[0].Str("container") != "admin-tool" || !cs[0].Bool("admin") || cs[0].Time("opened").IsZero() {
		t.Fatalf("connection %v", cs[0])
	}
	if _, err := c.Read(ctx, mgmt.TypeConnection, cs[0].Str("id")); err != nil {
		t.Fatal(err)
	}
}

func TestUnreachableAndHung(t *testing.T) {
	// Nothing listens: refused at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial(context.Background(), addr, Options{Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("dial of a closed port: %v", err)
	}
	// A listener that never speaks AMQP: fails within the timeout.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	start := time.Now()
	_, err = Dial(context.Background(), hung.Addr().String(), Options{Timeout: 500 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 500ms") {
		t.Fatalf("dial of a silent listener: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestMechanisms(t *testing.T) {
	_, err := Dial(context.Background(), "localhost:1", Options{Mechanism: "DIGEST-MD5"})
	if !errors.Is(err, ErrMechanism) || !strings.Contains(err.Error(), "DIGEST-MD5") {
		t.Fatalf("DIGEST-MD5: %v", err)
	}
	if _, err := Dial(context.Background(), "localhost:1", Options{Mechanism: "plain"}); err == nil || !strings.Contains(err.Error(), "needs a user name") {
		t.Fatalf("PLAIN without a user: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in         string
		user, pass string
		addrs      string
	}{
		{"localhost", "", "", "localhost:5672"},
		{"localhost:5673", "", "", "localhost:5673"},
		{"guest/secret@broker-host:10000", "guest", "secret", "broker-host:10000"},
		{"amqp:guest@node1,node2:5674", "guest", "", "node1:5672 node2:5674"},
		{"amqp://u:p@h:1234", "u", "p", "h:1234"},
		{"amqp://h", "", "", "h:5672"},
		{"amqps://h", "", "", "h:5671"},
		{"[::1]:5672", "", "", "[::1]:5672"},
		{"amqp://[::1]:99/path", "", "", "[::1]:99"},
	} {
		got, err := ParseURL(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		var hp []string
		for _, a := range got.Addrs {
			hp = append(hp, a.HostPort())
		}
		if got.User != tc.user || got.Password != tc.pass || strings.Join(hp, " ") != tc.addrs {
			t.Errorf("%q: got %+v", tc.in, got)
		}
	}
	for _, bad := range []string{"", "host:99999", "amqp://", "a b"} {
		if _, err := ParseURL(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
