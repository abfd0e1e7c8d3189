package mgmt

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
)

type fakeServer []amqpserver.ConnInfo

func (f fakeServer) Connections() []amqpserver.ConnInfo { return f }

func newAgent(t *testing.T) (*Agent, *broker.Broker) {
	t.Helper()
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	a := NewAgent(Config{Broker: b, Name: "b1", Version: "v9", Port: 5672, Now: func() time.Time { return now }})
	now = now.Add(90 * time.Second)
	return a, b
}

// do serves one request and checks its status (and that the description
// contains want, when given).
func do(t *testing.T, a *Agent, op, typ, name string, attrs map[string]any, status int, want string) Response {
	t.Helper()
	resp := a.Serve(&Request{Operation: op, Type: typ, Name: name, Attributes: attrs})
	if resp.Status != status || !strings.Contains(resp.Description, want) {
		t.Fatalf("%s %s %q %v: got %d %q, want %d containing %q", op, typ, name, attrs, resp.Status, resp.Description, status, want)
	}
	return resp
}

func body(t *testing.T, r Response) map[string]any {
	t.Helper()
	m, ok := r.Body.(map[string]any)
	if !ok {
		t.Fatalf("body %T %v is not a map", r.Body, r.Body)
	}
	return m
}

func list(t *testing.T, r Response) []map[string]any {
	t.Helper()
	l, ok := r.Body.([]any)
	if !ok {
		t.Fatalf("body %T is not a list", r.Body)
	}
	out := make([]map[string]any, len(l))
	for i, v := range l {
		out[i] = v.(map[string]any)
	}
	return out
}

func TestWireNamesAreTheServers(t *testing.T) {
	if Address != amqpserver.ManagementAddress || AdminProperty != amqpserver.AdminProperty {
		t.Fatal("package wire and package amqpserver disagree on the management address or admin property")
	}
}

func TestRequestErrors(t *testing.T) {
	a, _ := newAgent(t)
	do(t, a, "", "queue", "q", nil, StatusBadRequest, `needs an "operation"`)
	do(t, a, "READ", "", "q", nil, StatusBadRequest, `needs a "type"`)
	do(t, a, "READ", "frobnicator", "q", nil, StatusNotFound, `unknown type "frobnicator"`)
	do(t, a, "READ", "org.example:queue", "q", nil, StatusNotFound, `unknown type "org.example:queue"`)
	do(t, a, "UPDATE", "queue", "q", nil, StatusNotImplemented, "operation UPDATE is not supported on org.apache.qpid.broker:queue")
	do(t, a, "PURGE", TypeExchange, "x", nil, StatusNotImplemented, "PURGE")
}

func TestQueueOperations(t *testing.T) {
	a, b := newAgent(t)
	r := do(t, a, "create", "queue", "q1", map[string]any{
		"durable":   true,
		"arguments": map[string]any{"qpid.replicate": "all", "qpid.max_count": int64(10), "qpid.policy_type": "ring", "x-custom": "v"},
	}, StatusCreated, `queue "q1" created`)
	q := body(t, r)
	if q["name"] != "q1" || q["durable"] != true || q["messageDepth"] != int64(0) {
		t.Fatalf("attributes %v", q)
	}
	args := q["arguments"].(map[string]any)
	if args["qpid.replicate"] != "all" || args["x-custom"] != "v" || len(args) != 4 {
		t.Fatalf("arguments not kept verbatim: %v", args)
	}
	if s := b.Queue("q1").Settings(); !s.Durable || s.MaxCount != 10 || s.Policy != broker.PolicyRing {
		t.Fatalf("settings %+v", s)
	}
	do(t, a, OpCreate, TypeQueue, "q1", nil, StatusConflict, `queue "q1" already exists`)
	do(t, a, OpCreate, TypeQueue, "", nil, StatusBadRequest, "CREATE of a queue needs a name")
	do(t, a, OpCreate, TypeQueue, "", map[string]any{"name": "q2"}, StatusCreated, `queue "q2" created`)
	do(t, a, OpCreate, TypeQueue, "a", map[string]any{"name": "b"}, StatusBadRequest, "differ")
	do(t, a, OpCreate, TypeQueue, "bad", map[string]any{"arguments": map[string]any{"qpid.replicate": "most"}}, StatusBadRequest, `invalid replication level "most"`)
	do(t, a, OpCreate, TypeQueue, "bad", map[string]any{"arguments": map[string]any{"qpid.policy_type": "flow"}}, StatusBadRequest, "unsupported limit policy")
	do(t, a, OpCreate, TypeQueue, "bad", map[string]any{"arguments": "x"}, StatusBadRequest, "not a map")
	do(t, a, OpCreate, TypeQueue, "bad", map[string]any{"durable": "maybe"}, StatusBadRequest, "not a boolean")
	do(t, a, OpCreate, TypeQueue, "bad", map[string]any{"colour": "red"}, StatusBadRequest, `unknown queue attribute "colour"`)
	do(t, a, OpCreate, TypeQueue, "bad", map[string]any{"alternateExchange": "nowhere"}, StatusNotFound, `alternate exchange "nowhere" of queue "bad" not found`)
	// Read-only attributes, as a READ returns them, are ignored.
	do(t, a, OpCreate, TypeQueue, "copy", map[string]any{"messageDepth": int64(3), "alternateExchange": "amq.fanout"}, StatusCreated, "")
	if b.Queue("copy").Settings().AlternateExchange != "amq.fanout" {
		t.Fatal("alternate exchange not set")
	}

	r = do(t, a, OpRead, TypeQueue, "q1", nil, StatusOK, "")
	if body(t, r)["name"] != "q1" {
		t.Fatalf("read %v", r.Body)
	}
	do(t, a, OpRead, TypeQueue, "nope", nil, StatusNotFound, `queue "nope" not found`)
	do(t, a, OpRead, TypeQueue, "", nil, StatusBadRequest, "needs a name")

	qs := list(t, do(t, a, OpQuery, TypeQueue, "", nil, StatusOK, ""))
	if len(qs) != 3 || qs[0]["name"] != "copy" || qs[1]["name"] != "q1" {
		t.Fatalf("query %v", qs)
	}
	qs = list(t, do(t, a, OpQuery, TypeQueue, "", map[string]any{"durable": true}, StatusOK, ""))
	if len(qs) != 1 || qs[0]["name"] != "q1" {
		t.Fatalf("durable queues %v", qs)
	}
	do(t, a, OpQuery, TypeQueue, "", map[string]any{"colour": "red"}, StatusBadRequest, `unknown queue attribute "colour" in query`)

	// Conditional deletes.
	q1 := b.Queue("q1")
	if _, err := q1.Enqueue(testMessage(t)); err != nil {
		t.Fatal(err)
	}
	c, err := q1.Subscribe("someone", func() {})
	if err != nil {
		t.Fatal(err)
	}
	do(t, a, OpDelete, TypeQueue, "q1", map[string]any{"ifUnused": true}, StatusConflict, `queue "q1" is in use: it has 1 consumer`)
	c.Close()
	do(t, a, OpDelete, TypeQueue, "q1", map[string]any{"ifEmpty": true, "ifUnused": true}, StatusConflict, `queue "q1" is not empty: it holds 1 message`)
	do(t, a, OpDelete, TypeQueue, "q1", map[string]any{"ifEmpty": "sometimes"}, StatusBadRequest, "not a boolean")
	do(t, a, OpDelete, TypeQueue, "q1", nil, StatusNoContent, `queue "q1" deleted`)
	do(t, a, OpDelete, TypeQueue, "q1", nil, StatusNotFound, `queue "q1" not found`)
	if b.Queue("q1") != nil {
		t.Fatal("q1 still there")
	}
}

func testMessage(t *testing.T) *message.Message {
	t.Helper()
	b := types.AppendDescriptor(nil, types.DescriptorAMQPValue)
	b = types.AppendString(b, "hello")
	m, err := message.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExchangeOperations(t *testing.T) {
	a, b := newAgent(t)
	r := do(t, a, OpCreate, "exchange", "x1", map[string]any{"type": "topic", "durable": true,
		"arguments": map[string]any{"qpid.replicate": "configuration"}}, StatusCreated, `exchange "x1" created`)
	x := body(t, r)
	if x["type"] != "topic" || x["durable"] != true || x["arguments"].(map[string]any)["qpid.replicate"] != "configuration" || x["builtin"] != false {
		t.Fatalf("attributes %v", x)
	}
	do(t, a, OpCreate, TypeExchange, "x1", map[string]any{"type": "topic"}, StatusConflict, `exchange "x1" already exists`)
	do(t, a, OpCreate, TypeExchange, "x1", map[string]any{"type": "direct"}, StatusConflict, `exchange "x1" already exists`)
	do(t, a, OpCreate, TypeExchange, "x2", nil, StatusBadRequest, `exchange "x2" needs a type`)
	do(t, a, OpCreate, TypeExchange, "x2", map[string]any{"type": "xml"}, StatusBadRequest, `invalid exchange type "xml"`)
	do(t, a, OpCreate, TypeExchange, "x2", map[string]any{"type": "direct", "arguments": map[string]any{"qpid.replicate": "x"}}, StatusBadRequest, "invalid replication level")
	do(t, a, OpCreate, TypeExchange, "x2", map[string]any{"type": "direct", "alternateExchange": "none"}, StatusNotFound, `alternate exchange "none" of exchange "x2" not found`)
	do(t, a, OpCreate, TypeExchange, "x2", map[string]any{"type": "direct", "alternateExchange": "x1"}, StatusCreated, "")
	do(t, a, OpCreate, TypeExchange, "x3", map[string]any{"type": "fanout", "bogus": 1}, StatusBadRequest, `unknown exchange attribute "bogus"`)

	if body(t, do(t, a, OpRead, TypeExchange, "amq.direct", nil, StatusOK, ""))["builtin"] != true {
		t.Fatal("amq.direct is not built in")
	}
	if body(t, do(t, a, OpRead, TypeExchange, "", map[string]any{"name": ""}, StatusOK, ""))["type"] != "direct" {
		t.Fatal("default exchange")
	}
	do(t, a, OpRead, TypeExchange, "nope", nil, StatusNotFound, `exchange "nope" not found`)
	xs := list(t, do(t, a, OpQuery, TypeExchange, "", nil, StatusOK, ""))
	if len(xs) != 7 {
		t.Fatalf("exchanges %v", xs)
	}
	xs = list(t, do(t, a, OpQuery, TypeExchange, "", map[string]any{"type": "topic"}, StatusOK, ""))
	if len(xs) != 2 {
		t.Fatalf("topic exchanges %v", xs)
	}

	do(t, a, OpDelete, TypeExchange, "amq.topic", nil, StatusForbidden, `exchange "amq.topic" is built in and cannot be deleted`)
	do(t, a, OpDelete, TypeExchange, "x1", nil, StatusConflict, `exchange "x1" is in use as the alternate exchange of exchange "x2"`)
	do(t, a, OpCreate, TypeQueue, "q", map[string]any{"alternateExchange": "x2"}, StatusCreated, "")
	do(t, a, OpDelete, TypeExchange, "x2", nil, StatusConflict, `exchange "x2" is in use as the alternate exchange of queue "q"`)
	do(t, a, OpDelete, TypeQueue, "q", nil, StatusNoContent, "")
	do(t, a, OpDelete, TypeExchange, "x2", nil, StatusNoContent, `exchange "x2" deleted`)
	do(t, a, OpCreate, TypeQueue, "q", nil, StatusCreated, "")
	if _, err := b.Bind("x1", "q", "a.#", nil); err != nil {
		t.Fatal(err)
	}
	do(t, a, OpDelete, TypeExchange, "x1", map[string]any{"ifUnused": true}, StatusConflict, `exchange "x1" is in use: it has 1 binding`)
	do(t, a, OpDelete, TypeExchange, "x1", nil, StatusNoContent, "")
	do(t, a, OpDelete, TypeExchange, "x1", nil, StatusNotFound, `exchange "x1" not found`)
}

func TestBindingOperations(t *testing.T) {
	a, b := newAgent(t)
	do(t, a, OpCreate, TypeQueue, "q", nil, StatusCreated, "")
	do(t, a, OpCreate, TypeExchange, "hx", map[string]any{"type": "headers"}, StatusCreated, "")
	r := do(t, a, OpCreate, "binding", "", map[string]any{"exchange": "amq.direct", "queue": "q", "key": "k1"}, StatusCreated, `queue "q" bound to exchange "amq.direct" with key "k1"`)
	if body(t, r)["name"] != "amq.direct/q/k1" {
		t.Fatalf("binding %v", r.Body)
	}
	do(t, a, OpCreate, TypeBinding, "amq.topic/q/a/b.#", nil, StatusCreated, `with key "a/b.#"`)
	do(t, a, OpCreate, TypeBinding, "", map[string]any{"exchange": "hx", "queue": "q", "key": "h",
		"arguments": map[string]any{"x-match": "any", "a": "1"}}, StatusCreated, "")
	do(t, a, OpCreate, TypeBinding, "", map[string]any{"exchange": "hx", "queue": "q", "key": "h2",
		"arguments": map[string]any{"x-match": "some"}}, StatusBadRequest, "x-match must be all or any")
	do(t, a, OpCreate, TypeBinding, "", map[string]any{"exchange": "nope", "queue": "q"}, StatusNotFound, `exchange "nope" not found`)
	do(t, a, OpCreate, TypeBinding, "", map[string]any{"exchange": "amq.direct", "queue": "nope"}, StatusNotFound, `queue "nope" not found`)
	do(t, a, OpCreate, TypeBinding, "", map[string]any{"exchange": "", "queue": "q", "key": "q"}, StatusForbidden, "default exchange")
	do(t, a, OpCreate, TypeBinding, "justone", nil, StatusBadRequest, `the name "exchange/queue/key"`)
	do(t, a, OpCreate, TypeBinding, "", map[string]any{"exchange": "amq.direct"}, StatusBadRequest, "needs a queue")
	do(t, a, OpCreate, TypeBinding, "", map[string]any{"exchange": "amq.direct", "queue": "q", "weight": 3}, StatusBadRequest, `unknown binding attribute "weight"`)
	if len(b.Exchange("hx").Bindings()) != 1 {
		t.Fatal("headers binding missing")
	}

	bs := list(t, do(t, a, OpQuery, TypeBinding, "", nil, StatusOK, ""))
	if len(bs) != 3 {
		t.Fatalf("bindings %v", bs)
	}
	bs = list(t, do(t, a, OpQuery, TypeBinding, "", map[string]any{"exchange": "hx"}, StatusOK, ""))
	if len(bs) != 1 || bs[0]["arguments"].(map[string]any)["x-match"] != "any" {
		t.Fatalf("hx bindings %v", bs)
	}
	do(t, a, OpRead, TypeBinding, "amq.direct/q/k1", nil, StatusOK, "")
	do(t, a, OpRead, TypeBinding, "amq.direct/q/k2", nil, StatusNotFound, `binding of queue "q" to exchange "amq.direct" with key "k2" not found`)
	do(t, a, OpDelete, TypeBinding, "", map[string]any{"exchange": "amq.direct", "queue": "q", "key": "k1"}, StatusNoContent, `queue "q" unbound from exchange "amq.direct" with key "k1"`)
	do(t, a, OpDelete, TypeBinding, "amq.direct/q/k1", nil, StatusNotFound, "not found")
	do(t, a, OpDelete, TypeBinding, "nope/q/k1", nil, StatusNotFound, `exchange "nope" not found`)
}

func TestBrokerAndConnectionObjects(t *testing.T) {
	a, _ := newAgent(t)
	br := body(t, do(t, a, OpRead, TypeBroker, "", nil, StatusOK, ""))
	if br["name"] != "b1" || br["version"] != "v9" || br["port"] != int64(5672) || br["uptime"] != int64(90) ||
		br["connectionCount"] != int64(0) || br["exchangeCount"] != int64(5) || br["queueCount"] != int64(0) {
		t.Fatalf("broker %v", br)
	}
	do(t, a, OpDelete, TypeBroker, "", nil, StatusNotImplemented, "")
	if l := list(t, do(t, a, OpQuery, "connection", "", nil, StatusOK, "")); len(l) != 0 {
		t.Fatalf("connections before SetServer: %v", l)
	}
	opened := time.Unix(500, 0)
	a.SetServer(fakeServer{
		{ID: "conn-2", Remote: "10.0.0.2:4000", Container: "c2", Opened: opened.Add(time.Second)},
		{ID: "conn-1", Remote: "10.0.0.1:4000", Container: "c1", User: "admin@QPID", Admin: true, Opened: opened,
			Properties: types.Map{{Key: types.Symbol(AdminProperty), Value: true}}},
	})
	cs := list(t, do(t, a, OpQuery, TypeConnection, "", nil, StatusOK, ""))
	if len(cs) != 2 || cs[0]["id"] != "conn-1" || cs[0]["admin"] != true || cs[0]["user"] != "admin@QPID" ||
		cs[0]["opened"] != types.TimestampOf(opened) || cs[0]["properties"].(map[string]any)[AdminProperty] != true {
		t.Fatalf("connections %v", cs)
	}
	cs = list(t, do(t, a, OpQuery, TypeConnection, "", map[string]any{"admin": true}, StatusOK, ""))
	if len(cs) != 1 {
		t.Fatalf("admin connections %v", cs)
	}
	do(t, a, OpRead, TypeConnection, "conn-2", nil, StatusOK, "")
	do(t, a, OpRead, TypeConnection, "conn-3", nil, StatusNotFound, `connection "conn-3" not found`)
	do(t, a, OpRead, TypeConnection, "", nil, StatusBadRequest, "needs its id")
	if bs := list(t, do(t, a, OpQuery, TypeBroker, "", nil, StatusOK, "")); len(bs) != 1 || bs[0]["connectionCount"] != int64(2) {
		t.Fatalf("broker query %v", bs)
	}
}

func TestRegister(t *testing.T) {
	a, _ := newAgent(t)
	a.Register("org.apache.qpid.ha:habroker", Operations{
		"STATUS": func(req *Request) Response {
			return OK(map[string]any{"status": "active", "admin": req.From.Admin})
		},
	})
	r := a.Serve(&Request{Operation: "status", Type: "habroker", From: amqpserver.ConnInfo{Admin: true}})
	if r.Status != StatusOK || body(t, r)["status"] != "active" || body(t, r)["admin"] != true {
		t.Fatalf("status: %+v", r)
	}
	do(t, a, "PROMOTE", "org.apache.qpid.ha:habroker", "", nil, StatusNotImplemented, "supported: STATUS")
	// A second type with the same short name makes the short name ambiguous.
	a.Register("org.example:queue", HandlerFunc(func(*Request) Response { return OK(nil) }))
	do(t, a, OpRead, "queue", "q", nil, StatusNotFound, `type "queue" is ambiguous`)
	do(t, a, OpRead, "org.example:queue", "q", nil, StatusOK, "")
	// A panicking handler is a 500, a status-less response too.
	a.Register("org.example:bad", HandlerFunc(func(*Request) Response { panic("boom") }))
	do(t, a, OpRead, "org.example:bad", "", nil, StatusInternalError, "boom")
	a.Register("org.example:mute", HandlerFunc(func(*Request) Response { return Response{} }))
	do(t, a, OpRead, "org.example:mute", "", nil, StatusInternalError, "gave no status")
	defer func() {
		if recover() == nil {
			t.Fatal("registering a type twice did not panic")
		}
	}()
	a.Register(TypeQueue, HandlerFunc(func(*Request) Response { return OK(nil) }))
}

type listeningServer struct{ fakeServer }

func (listeningServer) Addrs() []net.Addr {
	return []net.Addr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40123}}
}

func TestBrokerPortFromServer(t *testing.T) {
	a, _ := newAgent(t)
	if p := body(t, do(t, a, OpRead, TypeBroker, "", nil, StatusOK, ""))["port"]; p != int64(5672) {
		t.Fatalf("configured port: %v", p)
	}
	a.SetServer(listeningServer{})
	if p := body(t, do(t, a, OpRead, TypeBroker, "", nil, StatusOK, ""))["port"]; p != int64(40123) {
		t.Fatalf("listening port: %v", p)
	}
}
