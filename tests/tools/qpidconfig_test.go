// Package tools runs the command line tools (qpid-config, ...) as built
// binaries against a real qpidd, and checks what people see: output,
// messages and exit statuses, and that what the tools configure works for
// AMQP clients.
package tools

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// bin is the path of a command of this tree: qpiddtest's, or, when
// $QPIDHA_BIN lacks it (a Makefile building only some commands), built
// here once.
func bin(t *testing.T, name string) string {
	t.Helper()
	p := qpiddtest.Bin(t, name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qpidha-tools-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "./qpid-config")
		cmd.Dir = qpiddtest.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		builtBin = dir
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(builtBin, name)
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// qpidConfig runs qpid-config with args and returns what it did.
func qpidConfig(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, "qpid-config"), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("qpid-config %q: %v", args, err)
	}
	return r
}

// ok runs qpid-config against a broker and fails the test unless it exits 0.
func ok(t *testing.T, b *qpiddtest.Broker, args ...string) string {
	t.Helper()
	r := qpidConfig(t, append([]string{"-b", b.Addr()}, args...)...)
	if r.code != 0 {
		t.Fatalf("qpid-config %q: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs qpid-config and checks its exit status and stderr.
func fails(t *testing.T, code int, stderr string, args ...string) result {
	t.Helper()
	r := qpidConfig(t, args...)
	if r.code != code || !strings.Contains(r.stderr, stderr) {
		t.Fatalf("qpid-config %q: exit %d, stderr %q; want exit %d and %q", args, r.code, r.stderr, code, stderr)
	}
	if code == 1 && (!strings.HasPrefix(r.stderr, "Error: ") || strings.Count(r.stderr, "\n") != 1) {
		t.Fatalf("qpid-config %q: a failure is one line \"Error: ...\", not %q", args, r.stderr)
	}
	return r
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mgmtClient reads the broker's objects through the management library.
func mgmtClient(t *testing.T, b *qpiddtest.Broker) *client.Client {
	t.Helper()
	c, err := client.Dial(ctxFor(t, 10*time.Second), b.Addr(), client.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func session(t *testing.T, b *qpiddtest.Broker) *goamqp.Session {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	conn, err := goamqp.Dial(ctx, b.URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send sends messages to an address; each func may set up the message.
func send(t *testing.T, s *goamqp.Session, address string, msgs ...*goamqp.Message) []error {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	snd, err := s.NewSender(ctx, address, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer snd.Close(ctx)
	var errs []error
	for _, m := range msgs {
		errs = append(errs, snd.Send(ctx, m, nil))
	}
	return errs
}

func msg(body, subject string, props map[string]any) *goamqp.Message {
	m := goamqp.NewMessage([]byte(body))
	if subject != "" {
		m.Properties = &goamqp.MessageProperties{Subject: &subject}
	}
	m.ApplicationProperties = props
	return m
}

// receive takes every message waiting on a queue.
func receive(t *testing.T, s *goamqp.Session, queue string) []string {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	r, err := s.NewReceiver(ctx, queue, &goamqp.ReceiverOptions{Credit: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	var got []string
	for {
		wait, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		m, err := r.Receive(wait, nil)
		cancel()
		if err != nil {
			return got
		}
		got = append(got, string(m.GetData()))
		if err := r.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// line finds the line of a listing that starts with name and a space.
func line(t *testing.T, out, name string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if l == name || strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	t.Fatalf("no line for %q in\n%s", name, out)
	return ""
}

func TestAddQueueWithEveryOption(t *testing.T) {
	b := qpiddtest.Start(t)
	// Options after the command, before it, and the -a alias of -b.
	ok(t, b, "add", "queue", "q1", "--durable", "--replicate", "all", "--max-queue-count", "2",
		"--max-queue-size", "100000", "--limit-policy", "ring", "--alternate-exchange", "amq.fanout",
		"--argument", "x-custom=abc", "--argument", "x-number=7", "--lvq-key", "k")
	r := qpidConfig(t, "--durable", "--replicate=configuration", "-a", b.Addr(), "add", "queue", "q2", "--max-queue-count=1", "--limit-policy=reject")
	if r.code != 0 {
		t.Fatalf("add queue q2: %+v", r)
	}
	ok(t, b, "add", "queue", "q3")

	c := mgmtClient(t, b)
	q, err := c.Queue(ctxFor(t, 10*time.Second), "q1")
	if err != nil {
		t.Fatal(err)
	}
	args := q.Map("arguments")
	want := map[string]any{"qpid.replicate": "all", "qpid.max_count": int64(2), "qpid.max_size": int64(100000),
		"qpid.policy_type": "ring", "x-custom": "abc", "x-number": int64(7), "qpid.last_value_queue_key": "k"}
	for k, v := range want {
		if args[k] != v {
			t.Errorf("argument %s = %#v, want %#v (all: %v)", k, args[k], v, args)
		}
	}
	if !q.Bool("durable") || q.Str("alternateExchange") != "amq.fanout" {
		t.Errorf("queue attributes %v", q)
	}
	c.Close() // its reply queue would be listed

	out := ok(t, b, "queues")
	if !strings.HasPrefix(out, "Queue Name  Attributes\n===================================\n") {
		t.Errorf("queues header:\n%s", out)
	}
	for name, want := range map[string]string{
		"q1": "q1          --durable --replicate=all --max-queue-size=100000 --max-queue-count=2 --limit-policy=ring --lvq-key=k --alternate-exchange=amq.fanout --argument x-custom=abc --argument x-number=7",
		"q2": "q2          --durable --replicate=configuration --max-queue-count=1 --limit-policy=reject",
		"q3": "q3",
	} {
		if got := line(t, out, name); got != want {
			t.Errorf("queues line\n got %q\nwant %q", got, want)
		}
	}
	if out := ok(t, b, "queues", "q2"); strings.Contains(out, "q1") || !strings.Contains(out, "q2 ") {
		t.Errorf("queues filtered by q2:\n%s", out)
	}
	fails(t, 1, `Error: no queue name contains "nothing"`, "-b", b.Addr(), "queues", "nothing")

	// The limits work: the ring queue keeps the newest two, the reject
	// queue refuses the second message.
	s := session(t, b)
	for i, err := range send(t, s, "q1", msg("a", "", map[string]any{"k": "1"}), msg("b", "", map[string]any{"k": "2"}), msg("c", "", map[string]any{"k": "3"})) {
		if err != nil {
			t.Fatalf("send %d to the ring queue: %v", i, err)
		}
	}
	errs := send(t, s, "q2", msg("first", "", nil), msg("second", "", nil))
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("sends to a reject queue of one: %v", errs)
	}
	if got := receive(t, s, "q1"); strings.Join(got, ",") != "b,c" {
		t.Fatalf("ring queue holds %q", got)
	}

	// A queue with messages is deleted only with --force.
	send(t, s, "q3", msg("m", "", nil))
	fails(t, 1, `Error: queue "q3" is not empty: it holds 1 message (--force deletes it anyway)`, "-b", b.Addr(), "del", "queue", "q3")
	ok(t, b, "del", "queue", "q3", "--force")
	ok(t, b, "del", "queue", "q2", "--force-if-not-empty")
	fails(t, 1, `Error: queue "q3" not found`, "-b", b.Addr(), "del", "queue", "q3")
	if out := ok(t, b, "queues"); strings.Contains(out, "q3") || strings.Contains(out, "q2") {
		t.Fatalf("deleted queues still listed:\n%s", out)
	}
}

func TestExchangesBindingsAndRouting(t *testing.T) {
	b := qpiddtest.Start(t)
	ok(t, b, "add", "queue", "news")
	ok(t, b, "add", "exchange", "topic", "t1", "--durable", "--replicate", "configuration", "--alternate-exchange", "amq.fanout")
	ok(t, b, "add", "exchange", "headers", "h1")
	ok(t, b, "add", "exchange", "direct", "d1", "--argument", "x-note=hi")
	ok(t, b, "bind", "t1", "news", "sport.#")
	ok(t, b, "bind", "h1", "news", "hk", "any", "color=red", "size=big")
	ok(t, b, "bind", "d1", "news")

	out := ok(t, b, "exchanges")
	if !strings.HasPrefix(out, "Type      Exchange Name  Attributes\n=============================================\n") {
		t.Errorf("exchanges header:\n%s", out)
	}
	for name, want := range map[string]string{
		"topic     t1":        "topic     t1             --durable --replicate=configuration --alternate-exchange=amq.fanout",
		"headers   h1":        "headers   h1",
		"direct    d1":        "direct    d1             --argument x-note=hi",
		"topic     amq.topic": "topic     amq.topic      --durable",
	} {
		if got := line(t, out, name); got != want {
			t.Errorf("exchanges line\n got %q\nwant %q", got, want)
		}
	}
	out = ok(t, b, "exchanges", "-r", "1")
	want := "Exchange 'd1' (direct)\n    bind [] => news\n" +
		"Exchange 'h1' (headers)\n    bind [hk] => news {'color': 'red', 'size': 'big', 'x-match': 'any'}\n" +
		"Exchange 't1' (topic)\n    bind [sport.#] => news\n"
	if out != want {
		t.Errorf("exchanges -r 1:\n%s\nwant\n%s", out, want)
	}
	out = ok(t, b, "queues", "-r")
	want = "Queue 'news'\n    bind [news] => ''\n    bind [] => d1\n" +
		"    bind [hk] => h1 {'color': 'red', 'size': 'big', 'x-match': 'any'}\n    bind [sport.#] => t1\n"
	if out != want {
		t.Errorf("queues -r:\n%s\nwant\n%s", out, want)
	}
	if out := ok(t, b, "queues", "-r", "--ignore-default"); strings.Contains(out, "''") {
		t.Errorf("queues -r --ignore-default lists the default exchange:\n%s", out)
	}

	// Messages reach the queue through each binding, and only through them.
	s := session(t, b)
	send(t, s, "t1", msg("sport", "sport.football", nil), msg("weather", "weather.today", nil))
	send(t, s, "h1", msg("red", "", map[string]any{"color": "red"}), msg("blue", "", map[string]any{"color": "blue"}))
	send(t, s, "d1", msg("direct", "", nil))
	if got := strings.Join(receive(t, s, "news"), ","); got != "sport,red,direct" {
		t.Fatalf("news received %q", got)
	}
	ok(t, b, "unbind", "t1", "news", "sport.#")
	ok(t, b, "unbind", "h1", "news", "hk")
	send(t, s, "t1", msg("sport2", "sport.tennis", nil))
	send(t, s, "h1", msg("red2", "", map[string]any{"color": "red"}))
	if got := receive(t, s, "news"); len(got) != 0 {
		t.Fatalf("news received %q after unbind", got)
	}
	fails(t, 1, `Error: binding of queue "news" to exchange "t1" with key "sport.#" not found`, "-b", b.Addr(), "unbind", "t1", "news", "sport.#")

	// Headers bindings need all|any and conditions.
	fails(t, 1, "Error: Invalid args to bind headers: need 'any'/'all' plus conditions", "-b", b.Addr(), "bind", "h1", "news", "k")
	fails(t, 1, "Error: Invalid condition arg to bind headers, need 'any' or 'all', not 'most'", "-b", b.Addr(), "bind", "h1", "news", "k", "most", "a=1")
	fails(t, 1, `Error: exchange "nope" not found`, "-b", b.Addr(), "bind", "nope", "news")
	fails(t, 1, `Error: queue "nope" not found`, "-b", b.Addr(), "bind", "t1", "nope")

	// Deleting exchanges.
	fails(t, 1, `Error: exchange "amq.direct" is built in and cannot be deleted`, "-b", b.Addr(), "del", "exchange", "amq.direct")
	fails(t, 1, `Error: exchange "t1" already exists`, "-b", b.Addr(), "add", "exchange", "topic", "t1")
	fails(t, 1, `Error: invalid exchange type "xml"`, "-b", b.Addr(), "add", "exchange", "xml", "x1")
	ok(t, b, "del", "exchange", "t1")
	fails(t, 1, `Error: exchange "t1" not found`, "-b", b.Addr(), "del", "exchange", "t1")
	if out := ok(t, b, "exchanges"); strings.Contains(out, " t1 ") {
		t.Fatalf("deleted exchange listed:\n%s", out)
	}
}

func TestOverviewListAndHelp(t *testing.T) {
	b := qpiddtest.Start(t)
	ok(t, b, "add", "queue", "d", "--durable")
	ok(t, b, "add", "queue", "n")
	want := "Total Exchanges: 5\n         direct: 2\n          topic: 1\n         fanout: 1\n        headers: 1\n\n" +
		"   Total Queues: 2\n        durable: 1\n    non-durable: 1\n"
	if out := ok(t, b); out != want {
		t.Errorf("overview:\n%s\nwant\n%s", out, want)
	}
	want = "Objects of type 'queue'\n  name  durable  autoDelete\n  ===========================\n" +
		"  d     True     False\n  n     False    False\n"
	if out := ok(t, b, "list", "queue"); out != want {
		t.Errorf("list queue:\n%s\nwant\n%s", out, want)
	}
	// The tool's own connection, marked as an admin's with --ha-admin.
	out := ok(t, b, "--ha-admin", "list", "connection", "--show-property", "admin", "--show-property", "user")
	if !strings.Contains(out, "  admin  user\n") || !strings.Contains(out, "  True   anonymous\n") {
		t.Errorf("list connection with --ha-admin:\n%s", out)
	}
	out = ok(t, b, "list", "broker")
	if !strings.Contains(out, "qpidd-") || !strings.Contains(out, "connectionCount") {
		t.Errorf("list broker:\n%s", out)
	}
	// Generic add and del of a type by name.
	ok(t, b, "add", "binding", "amq.direct/n/key1")
	if out := ok(t, b, "list", "binding"); !strings.Contains(out, "amq.direct  n      key1") {
		t.Errorf("list binding:\n%s", out)
	}
	ok(t, b, "del", "binding", "amq.direct/n/key1")
	fails(t, 1, `Error: unknown type "widget"`, "-b", b.Addr(), "list", "widget")

	r := qpidConfig(t, "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "qpid-config [OPTIONS] add queue <name> [AddQueueOptions]") ||
		!strings.Contains(r.stdout, "--max-queue-count <n>") || !strings.Contains(r.stdout, "-b <address>, --broker <address>") {
		t.Errorf("--help: %+v", r)
	}
}

func TestErrorsAndExitStatuses(t *testing.T) {
	b := qpiddtest.Start(t)
	a := b.Addr()
	fails(t, 1, `Error: queue "nope" not found`, "-b", a, "del", "queue", "nope")
	fails(t, 1, `Error: exchange "nope" not found`, "-b", a, "del", "exchange", "nope")
	fails(t, 1, "Error: Invalid replication level 'sometimes', should be one of: none, configuration, all", "-b", a, "add", "queue", "q", "--replicate", "sometimes")
	fails(t, 1, `Error: alternate exchange "nope" of queue "q" not found`, "-b", a, "add", "queue", "q", "--alternate-exchange", "nope")
	ok(t, b, "add", "queue", "q")
	fails(t, 1, `Error: queue "q" already exists`, "-b", a, "add", "queue", "q")
	fails(t, 1, "Error: queue \"bad\": qpid.replicate: invalid replication level \"half\"", "-b", a, "add", "queue", "bad", "--argument", "qpid.replicate=half")
	fails(t, 1, "Error: SASL mechanism DIGEST-MD5 is not supported by this tool", "-b", a, "--sasl-mechanism", "DIGEST-MD5", "queues")
	fails(t, 1, "Error: operation RELOAD-ACL is not supported on org.apache.qpid.broker:broker", "-b", a, "reload-acl")

	// Usage errors: exit 2 with the usage.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "queue", "q", "--bogus"}, "qpid-config: error: no such option: --bogus"},
		{[]string{"add", "queue"}, "qpid-config: error: add queue needs a queue name"},
		{[]string{"frobnicate"}, `qpid-config: error: unknown command "frobnicate"`},
		{[]string{"add", "queue", "q", "--limit-policy", "flow"}, "qpid-config: error: option --limit-policy: invalid choice: 'flow'"},
		{[]string{"add", "queue", "q", "--max-queue-count", "lots"}, "qpid-config: error: option --max-queue-count: invalid integer value: 'lots'"},
		{[]string{"bind", "amq.direct"}, "qpid-config: error: bind needs an exchange and a queue"},
	} {
		r := fails(t, 2, tc.want, append([]string{"-b", a}, tc.args...)...)
		if !strings.HasPrefix(r.stderr, "Usage:  qpid-config [OPTIONS]") {
			t.Errorf("%q: no usage line in %q", tc.args, r.stderr)
		}
	}

	// An unreachable broker fails at once; a hung one within the timeout.
	fails(t, 1, "Error: cannot connect to 127.0.0.1:1: connection refused", "-b", "127.0.0.1:1", "queues")
	b.Signal(syscall.SIGSTOP)
	defer b.Signal(syscall.SIGCONT)
	r := fails(t, 1, "Error: cannot connect to "+a+": no answer within 1s", "-b", a, "-t", "1", "queues")
	if r.took > 5*time.Second {
		t.Fatalf("a hung broker took %v to fail with --timeout 1", r.took)
	}
}

func TestAuthentication(t *testing.T) {
	users := filepath.Join(t.TempDir(), "qpidd.users")
	db, err := auth.Open(users, "QPID")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("admin", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	b := qpiddtest.Start(t, "--auth", "yes", "--auth-database", users)
	out := ok(t, b, "-b", "admin/secret@"+b.Addr(), "list", "connection", "--show-property", "user")
	if !strings.Contains(out, "admin@QPID") {
		t.Errorf("list connection as admin:\n%s", out)
	}
	ok(t, b, "-b", "amqp://admin:secret@"+b.Addr(), "add", "queue", "q", "--sasl-mechanism", "PLAIN")
	fails(t, 1, "authentication failed", "-b", "admin/wrong@"+b.Addr(), "queues")
	fails(t, 1, "the broker does not offer the SASL mechanism this client asked for", "-b", b.Addr(), "queues")
}

// TestManagementNode speaks the protocol with go-amqp alone, as any AMQP
// 1.0 client would: a dynamic reply queue, a request with a message-id,
// the response correlated, also through the anonymous relay.
func TestManagementNode(t *testing.T) {
	b := qpiddtest.Start(t)
	s := session(t, b)
	ctx := ctxFor(t, 20*time.Second)
	replies, err := s.NewReceiver(ctx, "", &goamqp.ReceiverOptions{DynamicAddress: true, Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	replyTo := replies.Address()
	request := func(snd *goamqp.Sender, to string, id any, props map[string]any, body any) *goamqp.Message {
		t.Helper()
		m := &goamqp.Message{Properties: &goamqp.MessageProperties{MessageID: id, ReplyTo: &replyTo}, ApplicationProperties: props, Value: body}
		if to != "" {
			m.Properties.To = &to
		}
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		r, err := replies.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = replies.AcceptMessage(ctx, r)
		if r.Properties == nil || r.Properties.CorrelationID != id {
			t.Fatalf("response correlation %v, want %v", r.Properties, id)
		}
		return r
	}
	mgmtSnd, err := s.NewSender(ctx, "$management", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := request(mgmtSnd, "", uint64(1), map[string]any{"operation": "CREATE", "type": "org.apache.qpid.broker:queue", "name": "raw"},
		map[string]any{"durable": true, "arguments": map[string]any{"qpid.replicate": "none"}})
	if r.ApplicationProperties["statusCode"] != int32(201) || r.ApplicationProperties["statusDescription"] != `queue "raw" created` {
		t.Fatalf("CREATE: %v", r.ApplicationProperties)
	}
	attrs, _ := r.Value.(map[string]any)
	if attrs["name"] != "raw" || attrs["durable"] != true || attrs["arguments"].(map[string]any)["qpid.replicate"] != "none" {
		t.Fatalf("CREATE body %v", r.Value)
	}
	relay, err := s.NewSender(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r = request(relay, "$management", "read-1", map[string]any{"operation": "READ", "type": "queue", "name": "missing"}, nil)
	if r.ApplicationProperties["statusCode"] != int32(404) || r.ApplicationProperties["statusDescription"] != `queue "missing" not found` {
		t.Fatalf("READ via the relay: %v", r.ApplicationProperties)
	}
	r = request(mgmtSnd, "", "q-1", map[string]any{"operation": "QUERY", "type": "exchange"}, map[string]any{"type": "topic"})
	if list, _ := r.Value.([]any); r.ApplicationProperties["statusCode"] != int32(200) || len(list) != 1 {
		t.Fatalf("QUERY: %v %v", r.ApplicationProperties, r.Value)
	}
}

// TestSCRAM: qpid-config authenticates with SCRAM-SHA-256 by default when
// it has a user name and the broker offers it, and when asked to; a tap
// between it and the broker sees the SCRAM exchange and never the
// password (it does see PLAIN's, which shows it would).
func TestSCRAM(t *testing.T) {
	users := filepath.Join(t.TempDir(), "qpidd.users")
	db, err := auth.Open(users, "QPID")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("admin", "s3cret-pw"); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	b := qpiddtest.Start(t, "--auth", "yes", "--auth-database", users)
	tap := qpiddtest.StartTap(t, b.Addr())
	scram := func(what string) {
		t.Helper()
		sent := tap.Sent()
		if !bytes.Contains(sent, []byte("SCRAM-SHA-256")) || !bytes.Contains(sent, []byte("n,,n=admin,r=")) {
			t.Errorf("%s: no SCRAM-SHA-256 exchange on the wire: %q", what, sent)
		}
		if bytes.Contains(sent, []byte("s3cret-pw")) {
			t.Errorf("%s: the password crossed the wire", what)
		}
		tap.Reset()
	}
	r := qpidConfig(t, "-b", "admin/s3cret-pw@"+tap.Addr(), "list", "connection", "--show-property", "user")
	if r.code != 0 || !strings.Contains(r.stdout, "admin@QPID") {
		t.Fatalf("by default: %+v", r)
	}
	scram("by default")
	if r := qpidConfig(t, "-b", "amqp://admin:s3cret-pw@"+tap.Addr(), "--sasl-mechanism", "SCRAM-SHA-256", "add", "queue", "q"); r.code != 0 {
		t.Fatalf("--sasl-mechanism SCRAM-SHA-256: %+v", r)
	}
	scram("--sasl-mechanism SCRAM-SHA-256")

	// From --config: the port and the HA credentials of the broker's file.
	_, port, _ := net.SplitHostPort(tap.Addr())
	conf := filepath.Join(t.TempDir(), "qpidd.conf")
	if err := os.WriteFile(conf, []byte("port="+port+"\nauth=yes\nha-username=admin\nha-password=s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := qpidConfig(t, "--config", conf, "queues"); r.code != 0 || !strings.Contains(r.stdout, "q") {
		t.Fatalf("--config: %+v", r)
	}
	scram("--config")

	// PLAIN, asked for, sends the password: the tap would have seen it.
	if r := qpidConfig(t, "-b", "admin/s3cret-pw@"+tap.Addr(), "--sasl-mechanism", "PLAIN", "queues"); r.code != 0 {
		t.Fatalf("PLAIN: %+v", r)
	}
	if !bytes.Contains(tap.Sent(), []byte("\x00admin\x00s3cret-pw")) {
		t.Fatalf("PLAIN: no password on the wire")
	}

	fails(t, 1, "Error: cannot connect to "+b.Addr()+": authentication failed (SCRAM-SHA-256): check the user name and password", "-b", "admin/wrong@"+b.Addr(), "queues")
	fails(t, 1, "authentication failed (SCRAM-SHA-256)", "-b", "admin/wrong@"+b.Addr(), "--sasl-mechanism", "SCRAM-SHA-256", "queues")
	fails(t, 1, "Error: cannot connect to "+b.Addr()+": the broker does not offer the SASL mechanism this client asked for, ANONYMOUS (it offers SCRAM-SHA-256, PLAIN)", "-b", b.Addr(), "queues")
	fails(t, 1, "SASL mechanism SCRAM-SHA-256 needs a user name", "-b", b.Addr(), "--sasl-mechanism", "SCRAM-SHA-256", "queues")
}

// qpid-config against a backup says that it is a backup, its state, and
// what to do: the primary's address, or --ha-admin; with --ha-admin it
// answers.
func TestBackupRefusalSaysWhatToDo(t *testing.T) {
	c := qpiddtest.StartCluster(t, 2)
	primary, backup := c.Brokers[0], c.Brokers[1]
	if err := qpiddtest.Promote(t, primary); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, backup, "ready", 30*time.Second)
	r := fails(t, 1, "this broker is an HA backup (ready) and refuses clients: connect to the primary ("+primary.Addr()+"), or as an administrator (qpid-config --ha-admin", "-b", backup.Addr(), "queues")
	if strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("want one line: %q", r.stderr)
	}
	if out := ok(t, backup, "--ha-admin", "exchanges"); !strings.Contains(out, "amq.direct") {
		t.Fatalf("qpid-config --ha-admin exchanges on the backup: %s", out)
	}
}
