package amqpserver_test

// ACL enforcement by an in-process server with the management agent and
// PLAIN logins against an in-memory user database: every action and object
// of the issue, first match wins, default deny and allow, groups, logging.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/acl"
	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/mgmt"
	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

const password = "secret"

// mgmtRules let every user use the management node: its reply queue is a
// dynamic node, which qpidd's checks apply to like any other.
const mgmtRules = `acl allow all access queue name=TempQueue-*
acl allow all access exchange name=TempQueue-*
acl allow all create queue name=TempQueue-*
acl allow all consume queue name=TempQueue-*
`

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	t      *testing.T
	addr   string
	srv    *amqpserver.Server
	broker *broker.Broker
	log    *logBuffer
}

// extNode is a node served by the fake extension (a "$" name, as HA's).
const extNode = "$fake-replicate"

type fakeExt struct{}

func (fakeExt) Admit(amqpserver.ConnInfo) (amqpserver.Admission, *types.Error) {
	return amqpserver.AdmitAll, nil
}

func (fakeExt) Attach(c *amqpserver.Conn, l *amqp.Link) bool {
	src := l.RemoteSource()
	if src == nil || src.Address != extNode {
		return false
	}
	l.Source = &types.Source{Address: extNode}
	l.Context = fakeHandler{}
	l.Attach()
	return true
}

type fakeHandler struct{}

func (fakeHandler) OnFlow(*amqpserver.Conn, *amqp.Link)                        {}
func (fakeHandler) OnDelivery(*amqpserver.Conn, *amqp.Link, *amqp.Delivery)    {}
func (fakeHandler) OnDisposition(*amqpserver.Conn, *amqp.Link, *amqp.Delivery) {}
func (fakeHandler) OnDetach(*amqpserver.Conn, *amqp.Link)                      {}

// start runs a server enforcing aclText ("" for no ACL file) with the
// users admin, alice, bob and carol, a queue q1, a queue q2 and an
// exchange ex (topic) bound to q1 with key "k". Names matching auto.* are
// queues made on demand, topic.* exchanges.
func start(t *testing.T, aclText string) *env {
	t.Helper()
	return startWith(t, aclText, nil)
}

// startWith is start with changes to the server's configuration.
func startWith(t *testing.T, aclText string, configure func(*amqpserver.Config)) *env {
	t.Helper()
	b, err := broker.New(broker.Config{QueuePatterns: []string{`auto\..*`}, TopicPatterns: []string{`topic\..*`}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"q1", "q2"} {
		if _, _, err := b.DeclareQueue(q, broker.QueueSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.DeclareExchange("ex", broker.Topic, broker.ExchangeSettings{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bind("ex", "q1", "k", nil); err != nil {
		t.Fatal(err)
	}
	db, err := auth.Open("", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"admin", "alice", "bob", "carol"} {
		if err := db.Add(u, password); err != nil {
			t.Fatal(err)
		}
	}
	logs := &logBuffer{}
	log := logrus.New()
	log.SetOutput(logs)
	var ac *amqpserver.AccessControl
	if aclText != "" {
		a, err := acl.Parse(strings.NewReader(aclText), "test.acl")
		if err != nil {
			t.Fatalf("acl: %v", err)
		}
		if ac, err = amqpserver.NewAccessControl(a, []string{`auto\..*`}, []string{`topic\..*`}, log); err != nil {
			t.Fatal(err)
		}
	}
	agent := mgmt.NewAgent(mgmt.Config{Broker: b, Name: "test"})
	cfg := amqpserver.Config{
		Broker: b, Log: log, SASL: auth.NewServer(db, false), RequireSASL: true,
		Management: agent, ACL: ac, Extension: fakeExt{},
	}
	if configure != nil {
		configure(&cfg)
	}
	s := amqpserver.New(cfg)
	agent.SetServer(s)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	return &env{t: t, addr: addr.String(), srv: s, broker: b, log: logs}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// session connects as user (PLAIN) and opens a session.
func (e *env) session(user string) (*goamqp.Session, error) {
	c := ctx(e.t)
	conn, err := goamqp.Dial(c, "amqp://"+e.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain(user, password)})
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn.NewSession(c, nil)
}

func (e *env) receiver(user, address string, opts *goamqp.ReceiverOptions) error {
	s, err := e.session(user)
	if err != nil {
		return err
	}
	_, err = s.NewReceiver(ctx(e.t), address, opts)
	return err
}

func (e *env) sender(user, address string) (*goamqp.Sender, error) {
	s, err := e.session(user)
	if err != nil {
		return nil, err
	}
	return s.NewSender(ctx(e.t), address, nil)
}

// send attaches a sender and sends one message with a subject.
func (e *env) send(user, address, subject string) error {
	snd, err := e.sender(user, address)
	if err != nil {
		return err
	}
	m := goamqp.NewMessage([]byte("hello"))
	m.Properties = &goamqp.MessageProperties{Subject: &subject}
	return snd.Send(ctx(e.t), m, nil)
}

// admin connects to the management node as user.
func (e *env) admin(user string) (*client.Client, error) {
	c, err := client.Dial(ctx(e.t), "amqp://"+user+":"+password+"@"+e.addr, client.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	e.t.Cleanup(func() { c.Close() })
	return c, nil
}

// call runs one management operation as user.
func (e *env) call(user, op, typ, name string, attrs map[string]any) error {
	c, err := e.admin(user)
	if err != nil {
		return err
	}
	_, err = c.Call(ctx(e.t), op, typ, name, attrs)
	return err
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

// denied reports an ACL denial: amqp:unauthorized-access, or a management
// 403.
func denied(err error) bool {
	return condition(err) == string(types.CondUnauthorizedAccess) || client.StatusOf(err) == mgmt.StatusForbidden
}

// allowed reports that a request got past the ACL: it succeeded, or the
// management agent does not implement it (501).
func allowed(err error) bool {
	return err == nil || client.StatusOf(err) == mgmt.StatusNotImplemented
}

func (e *env) hasQueue(name string) bool    { return e.broker.Queue(name) != nil }
func (e *env) hasExchange(name string) bool { return e.broker.Exchange(name) != nil }

func (e *env) hasBinding(exchange, queue, key string) bool {
	x := e.broker.Exchange(exchange)
	if x == nil {
		return false
	}
	for _, b := range x.Bindings() {
		if b.Queue == queue && b.Key == key {
			return true
		}
	}
	return false
}

var topicFilter = func(key string) *goamqp.ReceiverOptions {
	return &goamqp.ReceiverOptions{Filters: []goamqp.LinkFilter{
		goamqp.NewLinkFilter("apache.org:legacy-amqp-topic-binding:string", 0x0000468C00000001, key)}}
}

// TestACLEveryAction checks each operation with an ACL that denies only
// that operation to bob (first line), then allows everything, and with one
// that allows everything: the first is refused with
// amqp:unauthorized-access (management: 403) and logged with who and what,
// the second goes through.
func TestACLEveryAction(t *testing.T) {
	cases := []struct {
		name           string
		rule           string // denies the operation to bob
		action, object string // what the denial log names
		op             func(e *env) error
		after          func(e *env) error // with the deny rule: the state is unchanged
	}{
		{name: "access queue: receiver", rule: "acl deny bob@QPID access queue name=q1", action: "access", object: "queue",
			op: func(e *env) error { return e.receiver("bob", "q1", nil) }},
		{name: "access exchange: sender", rule: "acl deny bob@QPID access exchange name=ex", action: "access", object: "exchange",
			op: func(e *env) error { return e.send("bob", "ex", "k") }},
		{name: "access exchange: anonymous relay", rule: "acl deny bob@QPID access exchange name=ANONYMOUS-RELAY", action: "access", object: "exchange",
			op: func(e *env) error { _, err := e.sender("bob", ""); return err }},
		{name: "access query: management READ", rule: "acl deny bob@QPID access query schemaclass=queue", action: "access", object: "query",
			op: func(e *env) error { return e.call("bob", wire.OpRead, wire.TypeQueue, "q1", nil) }},
		{name: "access query: management QUERY", rule: "acl deny bob@QPID access query name=exchange", action: "access", object: "query",
			op: func(e *env) error { return e.call("bob", wire.OpQuery, wire.TypeExchange, "", nil) }},
		{name: "access method: management CREATE", rule: "acl deny bob@QPID access method name=create schemapackage=org.apache.qpid.broker schemaclass=broker", action: "access", object: "method",
			op:    func(e *env) error { return e.call("bob", wire.OpCreate, wire.TypeQueue, "m1", nil) },
			after: func(e *env) error { return absent(e.hasQueue("m1"), "queue m1") }},
		{name: "consume queue", rule: "acl deny bob@QPID consume queue name=q1", action: "consume", object: "queue",
			op: func(e *env) error { return e.receiver("bob", "q1", nil) }},
		{name: "consume queue: subscription to an exchange", rule: "acl deny bob@QPID consume queue name=TempQueue-*", action: "consume", object: "queue",
			op: func(e *env) error { return e.receiver("bob", "ex", nil) }},
		{name: "publish exchange: sender to a queue", rule: "acl deny bob@QPID publish exchange name=amq.default routingkey=q1", action: "publish", object: "exchange",
			op: func(e *env) error { _, err := e.sender("bob", "q1"); return err }},
		{name: "publish exchange: message to an exchange", rule: "acl deny bob@QPID publish exchange name=ex routingkey=secret.#", action: "publish", object: "exchange",
			op: func(e *env) error { return e.send("bob", "ex", "secret.plans") }},
		{name: "publish exchange: message through the relay", rule: "acl deny bob@QPID publish exchange routingkey=q2", action: "publish", object: "exchange",
			op: func(e *env) error {
				snd, err := e.sender("bob", "")
				if err != nil {
					return err
				}
				to := "q2"
				return snd.Send(ctx(e.t), &goamqp.Message{Data: [][]byte{[]byte("x")}, Properties: &goamqp.MessageProperties{To: &to}}, nil)
			},
			after: func(e *env) error { return absent(e.broker.Queue("q2").Depth() > 0, "a message on q2") }},
		{name: "create queue: on demand", rule: "acl deny bob@QPID create queue name=auto.*", action: "create", object: "queue",
			op:    func(e *env) error { return e.receiver("bob", "auto.new", nil) },
			after: func(e *env) error { return absent(e.hasQueue("auto.new"), "queue auto.new") }},
		{name: "create queue: dynamic", rule: "acl deny bob@QPID create queue name=TempQueue-*", action: "create", object: "queue",
			op: func(e *env) error { return e.receiver("bob", "", &goamqp.ReceiverOptions{DynamicAddress: true}) }},
		{name: "create queue: management", rule: "acl deny bob@QPID create queue name=m1", action: "create", object: "queue",
			op:    func(e *env) error { return e.call("bob", wire.OpCreate, wire.TypeQueue, "m1", nil) },
			after: func(e *env) error { return absent(e.hasQueue("m1"), "queue m1") }},
		{name: "create queue: durable only", rule: "acl deny bob@QPID create queue durable=true", action: "create", object: "queue",
			op: func(e *env) error {
				return e.call("bob", wire.OpCreate, wire.TypeQueue, "m1", map[string]any{"durable": true})
			},
			after: func(e *env) error { return absent(e.hasQueue("m1"), "queue m1") }},
		{name: "create exchange: on demand", rule: "acl deny bob@QPID create exchange name=topic.*", action: "create", object: "exchange",
			op:    func(e *env) error { return e.send("bob", "topic.news", "x") },
			after: func(e *env) error { return absent(e.hasExchange("topic.news"), "exchange topic.news") }},
		{name: "create exchange: management", rule: "acl deny bob@QPID create exchange type=fanout", action: "create", object: "exchange",
			op: func(e *env) error {
				return e.call("bob", wire.OpCreate, wire.TypeExchange, "e1", map[string]any{"type": "fanout"})
			},
			after: func(e *env) error { return absent(e.hasExchange("e1"), "exchange e1") }},
		{name: "create connection", rule: "acl deny bob@QPID create connection host=127.0.0.1", action: "create", object: "connection",
			op: func(e *env) error { _, err := e.session("bob"); return err }},
		{name: "create link: an extension's node", rule: "acl deny bob@QPID create link", action: "create", object: "link",
			op: func(e *env) error { return e.receiver("bob", extNode, nil) }},
		{name: "delete queue", rule: "acl deny bob@QPID delete queue name=q2", action: "delete", object: "queue",
			op:    func(e *env) error { return e.call("bob", wire.OpDelete, wire.TypeQueue, "q2", nil) },
			after: func(e *env) error { return absent(!e.hasQueue("q2"), "deletion of q2") }},
		{name: "delete exchange", rule: "acl deny bob@QPID delete exchange name=ex type=topic", action: "delete", object: "exchange",
			op:    func(e *env) error { return e.call("bob", wire.OpDelete, wire.TypeExchange, "ex", nil) },
			after: func(e *env) error { return absent(!e.hasExchange("ex"), "deletion of ex") }},
		{name: "bind exchange: management", rule: "acl deny bob@QPID bind exchange name=ex queuename=q2", action: "bind", object: "exchange",
			op: func(e *env) error {
				c, err := e.admin("bob")
				if err != nil {
					return err
				}
				return c.Bind(ctx(e.t), "ex", "q2", "news", nil)
			},
			after: func(e *env) error { return absent(e.hasBinding("ex", "q2", "news"), "binding ex/q2/news") }},
		{name: "bind exchange: subscription with a filter", rule: "acl deny bob@QPID bind exchange name=ex routingkey=secret.*", action: "bind", object: "exchange",
			op: func(e *env) error { return e.receiver("bob", "ex", topicFilter("secret.plans")) }},
		{name: "bind exchange: subscription without a filter", rule: "acl deny bob@QPID bind exchange name=ex", action: "bind", object: "exchange",
			op: func(e *env) error { return e.receiver("bob", "ex", nil) }},
		{name: "unbind exchange", rule: "acl deny bob@QPID unbind exchange name=ex queuename=q1 routingkey=k", action: "unbind", object: "exchange",
			op: func(e *env) error {
				c, err := e.admin("bob")
				if err != nil {
					return err
				}
				return c.Unbind(ctx(e.t), "ex", "q1", "k")
			},
			after: func(e *env) error { return absent(!e.hasBinding("ex", "q1", "k"), "unbinding of ex/q1/k") }},
		{name: "purge queue", rule: "acl deny bob@QPID purge queue name=q1", action: "purge", object: "queue",
			op: func(e *env) error { return e.call("bob", "PURGE", wire.TypeQueue, "q1", nil) }},
		{name: "update queue", rule: "acl deny bob@QPID update queue name=q1", action: "update", object: "queue",
			op: func(e *env) error { return e.call("bob", wire.OpUpdate, wire.TypeQueue, "q1", nil) }},
		{name: "update exchange", rule: "acl deny bob@QPID update exchange name=ex", action: "update", object: "exchange",
			op: func(e *env) error { return e.call("bob", wire.OpUpdate, wire.TypeExchange, "ex", nil) }},
		{name: "update broker", rule: "acl deny bob@QPID update broker", action: "update", object: "broker",
			op: func(e *env) error { return e.call("bob", wire.OpUpdate, wire.TypeBroker, "", nil) }},
		{name: "all actions on queues", rule: "acl deny bob@QPID all queue name=q1", action: "access", object: "queue",
			op: func(e *env) error { return e.receiver("bob", "q1", nil) }},
		{name: "all actions on all objects", rule: "acl deny bob@QPID all all", action: "access", object: "exchange",
			op: func(e *env) error { return e.receiver("bob", "q1", nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t.Run("denied", func(t *testing.T) {
				e := start(t, tc.rule+"\n"+mgmtRules+"acl allow all all\n")
				err := tc.op(e)
				if !denied(err) {
					t.Fatalf("got %v, want an ACL denial (amqp:unauthorized-access or 403)", err)
				}
				if !strings.Contains(err.Error(), "bob@QPID") {
					t.Errorf("the error %q does not name the user", err)
				}
				if tc.after != nil {
					if err := tc.after(e); err != nil {
						t.Error(err)
					}
				}
				wantLog(t, e, "ACL denied", "user=bob@QPID", "action="+tc.action, "object="+tc.object, `rule="test.acl:1: `+tc.rule+`"`)
			})
			t.Run("allowed", func(t *testing.T) {
				e := start(t, "acl allow all all\n")
				if err := tc.op(e); !allowed(err) {
					t.Fatalf("got %v with acl allow all all", err)
				}
				// Bob is allowed everything elsewhere: the rule denies no more
				// than the operation (checked for a plain receiver).
				if !strings.Contains(tc.rule, "all all") && !strings.Contains(tc.rule, "q1") && !strings.Contains(tc.rule, "create connection") {
					e := start(t, tc.rule+"\n"+mgmtRules+"acl allow all all\n")
					if err := e.receiver("bob", "q1", nil); err != nil {
						t.Fatalf("bob cannot consume from q1: %v", err)
					}
				}
			})
		})
	}
}

func absent(present bool, what string) error {
	if present {
		return fmt.Errorf("%s happened despite the denial", what)
	}
	return nil
}

// wantLog waits for a log line holding every part.
func wantLog(t *testing.T, e *env, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, line := range strings.Split(e.log.String(), "\n") {
			ok := true
			for _, p := range parts {
				if !strings.Contains(line, p) {
					ok = false
					break
				}
			}
			if ok {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q in:\n%s", parts, e.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestACLManualAllowAll is the manual's example: one user may do
// everything, nobody else anything (deny mode is the default).
func TestACLManualAllowAll(t *testing.T) {
	e := start(t, "acl allow admin@QPID all all\n")
	c, err := e.admin("admin")
	if err != nil {
		t.Fatal(err)
	}
	cx := ctx(t)
	if _, err := c.CreateQueue(cx, "m1", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(cx, "ex", "m1", "news", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.send("admin", "ex", "news"); err != nil {
		t.Fatal(err)
	}
	if err := e.receiver("admin", "m1", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.receiver("admin", "", &goamqp.ReceiverOptions{DynamicAddress: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Unbind(cx, "ex", "m1", "news"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteQueue(cx, "q2", false, false); err != nil {
		t.Fatal(err)
	}
	if !e.srv.AdminAllowed("admin@QPID") {
		t.Error("admin@QPID may not administer")
	}
	// bob connects (connections are allowed unless a create connection rule
	// says otherwise, as in qpidd) but may do nothing.
	if err := e.receiver("bob", "q1", nil); !denied(err) {
		t.Fatalf("bob's receiver: %v", err)
	}
	wantLog(t, e, "ACL denied", "user=bob@QPID", `rule="test.acl: acl deny all all (implicit)"`)
	if _, err := e.admin("bob"); err == nil || !strings.Contains(err.Error(), "amqp:unauthorized-access") {
		t.Fatalf("bob's management connection: %v", err)
	}
	if e.srv.AdminAllowed("bob@QPID") {
		t.Error("bob@QPID may administer")
	}
}

func TestACLFirstMatchWins(t *testing.T) {
	e := start(t, "acl allow bob@QPID consume queue name=q1\nacl deny bob@QPID consume queue\nacl allow all all\n")
	if err := e.receiver("bob", "q1", nil); err != nil {
		t.Fatalf("q1: %v", err)
	}
	if err := e.receiver("bob", "q2", nil); !denied(err) {
		t.Fatalf("q2: %v", err)
	}
	e = start(t, "acl deny bob@QPID consume queue\nacl allow bob@QPID consume queue name=q1\nacl allow all all\n")
	if err := e.receiver("bob", "q1", nil); !denied(err) {
		t.Fatalf("q1 after a deny for every queue: %v", err)
	}
}

func TestACLDefaults(t *testing.T) {
	// Without a default line, deny; a rule naming q1 lets bob use q1 only.
	e := start(t, "acl allow bob@QPID all all name=q1\n")
	if err := e.receiver("bob", "q1", nil); err != nil {
		t.Fatalf("q1: %v", err)
	}
	if err := e.receiver("bob", "q2", nil); !denied(err) {
		t.Fatalf("q2 in deny mode: %v", err)
	}
	// An explicit deny default, and an allow default.
	e = start(t, "acl allow bob@QPID all all name=q1\nacl deny all all\n")
	if err := e.receiver("bob", "q2", nil); !denied(err) {
		t.Fatalf("q2 with acl deny all all: %v", err)
	}
	wantLog(t, e, "ACL denied", `rule="test.acl:2: acl deny all all"`)
	e = start(t, "acl deny bob@QPID all all name=q1\nacl allow all all\n")
	if err := e.receiver("bob", "q2", nil); err != nil {
		t.Fatalf("q2 with acl allow all all: %v", err)
	}
	if err := e.receiver("bob", "q1", nil); !denied(err) {
		t.Fatalf("q1: %v", err)
	}
	// No ACL file: everything.
	e = start(t, "")
	if err := e.receiver("bob", "q1", nil); err != nil {
		t.Fatal(err)
	}
	if !e.srv.AdminAllowed("bob@QPID") {
		t.Error("without an ACL bob may not administer")
	}
}

func TestACLGroups(t *testing.T) {
	e := start(t, `group readers alice@QPID \
    carol@QPID
group staff readers admin@QPID
acl allow staff consume queue name=q1
acl deny all consume queue
acl allow all all
`)
	for _, u := range []string{"alice", "carol", "admin"} {
		if err := e.receiver(u, "q1", nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if err := e.receiver("bob", "q1", nil); !denied(err) {
		t.Errorf("bob: %v", err)
	}
}

func TestACLAllowLog(t *testing.T) {
	e := start(t, "acl allow-log bob@QPID consume queue name=q1\nacl allow all all\n")
	if err := e.receiver("bob", "q1", nil); err != nil {
		t.Fatal(err)
	}
	wantLog(t, e, "ACL allowed", "user=bob@QPID", "action=consume", "object=queue", "name=q1", `rule="test.acl:1: acl allow-log bob@QPID consume queue name=q1"`)
}

func TestACLQueueLimits(t *testing.T) {
	e := start(t, mgmtRules+"acl allow bob@QPID create queue queuemaxcountupperlimit=100\nacl deny bob@QPID create queue\nacl allow all all\n")
	if err := e.call("bob", wire.OpCreate, wire.TypeQueue, "small", map[string]any{"arguments": map[string]any{"qpid.max_count": 50}}); err != nil {
		t.Fatalf("a queue within the limit: %v", err)
	}
	err := e.call("bob", wire.OpCreate, wire.TypeQueue, "big", map[string]any{"arguments": map[string]any{"qpid.max_count": 500}})
	if !denied(err) {
		t.Fatalf("a queue beyond the limit: %v", err)
	}
	wantLog(t, e, "ACL denied", "name=big", "limit-exceeded=true")
}

func TestACLTopicCapability(t *testing.T) {
	// A receiver asking for a topic is checked for exchange access only.
	e := start(t, "acl deny bob@QPID access queue name=ex\nacl allow all all\n")
	if err := e.receiver("bob", "ex", nil); !denied(err) {
		t.Fatalf("without capabilities: %v", err)
	}
	if err := e.receiver("bob", "ex", &goamqp.ReceiverOptions{SourceCapabilities: []string{"topic"}}); err != nil {
		t.Fatalf("with the topic capability: %v", err)
	}
}

func TestACLConnectionQuota(t *testing.T) {
	e := start(t, "quota connections 1 bob@QPID\nquota connections 10 all\nacl allow all all\n")
	c := ctx(t)
	first, err := goamqp.Dial(c, "amqp://"+e.addr, &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("bob", password)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.NewSession(c, nil); err != nil {
		t.Fatal(err)
	}
	_, err = e.session("bob")
	if condition(err) != string(types.CondResourceLimitExceeded) {
		t.Fatalf("second connection: %v", err)
	}
	if _, err := e.session("alice"); err != nil {
		t.Fatalf("alice: %v", err)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := e.session("bob")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing the first: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestACLAdminAllowed(t *testing.T) {
	e := start(t, "acl allow carol@QPID access broker\nacl allow alice@QPID all broker\nacl allow admin@QPID all all\n")
	for user, want := range map[string]bool{"admin@QPID": true, "alice@QPID": true, "carol@QPID": false, "bob@QPID": false} {
		if got := e.srv.AdminAllowed(user); got != want {
			t.Errorf("AdminAllowed(%s) = %v, want %v", user, got, want)
		}
	}
	wantLog(t, e, "ACL denied", "user=carol@QPID", "action=update", "object=broker")
}

// TestACLAnonymous: a server without authentication checks rules for
// "anonymous".
func TestACLAnonymous(t *testing.T) {
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.DeclareQueue("q1", broker.QueueSettings{}); err != nil {
		t.Fatal(err)
	}
	a, err := acl.Parse(strings.NewReader("acl deny anonymous consume queue\nacl allow all all\n"), "test.acl")
	if err != nil {
		t.Fatal(err)
	}
	ac, err := amqpserver.NewAccessControl(a, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(&logBuffer{})
	s := amqpserver.New(amqpserver.Config{Broker: b, Log: log, ACL: ac})
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	c := ctx(t)
	conn, err := goamqp.Dial(c, "amqp://"+addr.String(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.NewReceiver(c, "q1", nil); !denied(err) {
		t.Fatalf("anonymous receiver: %v", err)
	}
	if _, err := sess.NewSender(c, "q1", nil); err != nil {
		t.Fatalf("anonymous sender: %v", err)
	}
}

func TestLoadAccessControl(t *testing.T) {
	if ac, err := amqpserver.LoadAccessControl("", nil, nil, nil); ac != nil || err != nil {
		t.Fatalf("no file: %v, %v", ac, err)
	}
	dir := t.TempDir()
	path := dir + "/bad.acl"
	if err := os.WriteFile(path, []byte("acl allow bob@QPID all all\nacl permit all all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := amqpserver.LoadAccessControl(path, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), path+":2:") || !strings.HasPrefix(err.Error(), "acl-file: ") {
		t.Fatalf("bad file: %v", err)
	}
	_, err = amqpserver.LoadAccessControl(dir+"/missing.acl", nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "missing.acl") {
		t.Fatalf("missing file: %v", err)
	}
	var nilAC *amqpserver.AccessControl
	if !nilAC.AdminAllowed("x@QPID") || nilAC.ACL() != nil {
		t.Fatal("a nil AccessControl must allow everything")
	}
}
