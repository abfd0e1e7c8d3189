package interop

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// Transactions, selectors and browsing with proton's own example programs,
// run unmodified, and a step-by-step transaction check (clients/tx_check.py).

func runExample(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	out, err := qpiddtest.Python(ctx, append([]string{qpiddtest.ProtonExample(name)}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return out
}

// queueDepth reads a queue's message count through management.
func queueDepth(t *testing.T, b *qpiddtest.Broker, queue string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, err := qpiddtest.Admin(t, b).Queue(ctx, queue)
	if err != nil {
		t.Fatalf("reading queue %s: %v", queue, err)
	}
	return q.Int("messageDepth")
}

func TestProtonTxSendAndRecv(t *testing.T) {
	b := qpiddtest.Start(t, "--queue", "examples")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := b.Addr() + "/examples"
	if out := runExample(t, ctx, "tx_send.py", "-a", addr, "-m", "100", "-b", "10"); !strings.Contains(out, "all messages committed") {
		t.Fatalf("tx_send.py did not commit everything:\n%s", out)
	}
	if d := queueDepth(t, b, "examples"); d != 100 {
		t.Fatalf("after tx_send the queue holds %d messages, want 100", d)
	}
	out := runExample(t, ctx, "tx_recv.py", "-a", addr, "-m", "100", "-b", "10")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 100 || lines[0] != "{'sequence': 1}" || lines[99] != "{'sequence': 100}" {
		t.Fatalf("tx_recv.py printed %d lines, want sequences 1..100:\n%s", len(lines), out)
	}
	if d := queueDepth(t, b, "examples"); d != 0 {
		t.Fatalf("after tx_recv committed every batch the queue holds %d messages, want 0", d)
	}
}

// Commit, rollback of sends and of accepts (the messages come back counted
// as redelivered), unknown transactions, and a transaction abandoned by
// closing the connection.
func TestProtonTransactionOutcomes(t *testing.T) {
	b := qpiddtest.Start(t, "--queue", "txcheck")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := filepath.Join(qpiddtest.Root(), "tests", "interop", "clients", "tx_check.py")
	out, err := qpiddtest.Python(ctx, script, "-u", b.Addr(), "-a", "txcheck")
	if err != nil {
		t.Fatalf("tx_check.py: %v\n%s", err, out)
	}
	want := []string{
		"aborted-send",
		"committed-send",
		"aborted-accept c1/0,c2/0,c3/0",
		"committed-accept c1/1,c2/1,c3/1",
		"transfer-unknown rejected amqp:transaction:unknown-id",
		"discharge-unknown rejected amqp:transaction:rollback",
		"closed",
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tx_check.py printed:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	// Neither the rolled-back sends nor the abandoned one were enqueued, and
	// the committed accepts removed the committed sends.
	if d := queueDepth(t, b, "txcheck"); d != 0 {
		t.Fatalf("the queue holds %d messages, want 0", d)
	}
}

func TestProtonSelectedRecv(t *testing.T) {
	b := qpiddtest.Start(t, "--queue", "examples")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := b.Addr() + "/examples"
	runExample(t, ctx, "colour_send.py", "-a", addr)
	var green, red []string
	for i := 1; i <= 100; i++ {
		if i%2 == 1 {
			green = append(green, "green "+strconv.Itoa(i))
		} else {
			red = append(red, "red "+strconv.Itoa(i))
		}
	}
	if out := runExample(t, ctx, "selected_recv.py", "-a", addr, "-m", "50"); strings.TrimSpace(out) != strings.Join(green, "\n") {
		t.Fatalf("selected_recv.py (colour = 'green') printed:\n%s", out)
	}
	// The red ones were left in place, in order, for other receivers.
	if out := runExample(t, ctx, "simple_recv.py", "-a", addr, "-m", "50"); strings.TrimSpace(out) != strings.Join(red, "\n") {
		t.Fatalf("simple_recv.py after the selector took the green ones printed:\n%s", out)
	}
}

// queue_browser.py and server_tx.py connect to localhost:5672, so these
// run there (tests in this package run one at a time).
func TestProtonQueueBrowser(t *testing.T) {
	b := qpiddtest.Start(t, "--port", "5672", "--queue", "examples")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runExample(t, ctx, "simple_send.py", "-a", b.Addr()+"/examples", "-m", "5")
	for round := 1; round <= 2; round++ {
		out := runExample(t, ctx, "queue_browser.py")
		for i := 1; i <= 5; i++ {
			if want := "body={'sequence': " + strconv.Itoa(i) + "}"; !strings.Contains(out, want) {
				t.Fatalf("browse %d: queue_browser.py output lacks %q:\n%s", round, want, out)
			}
		}
	}
	if d := queueDepth(t, b, "examples"); d != 5 {
		t.Fatalf("after browsing twice the queue holds %d messages, want all 5", d)
	}
}

func TestProtonClientServerTx(t *testing.T) {
	b := qpiddtest.Start(t, "--port", "5672", "--queue", "examples")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, "/usr/bin/python3", qpiddtest.ProtonExample("server_tx.py"))
	var srvOut strings.Builder
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	out := runExample(t, ctx, "client.py", "-a", b.Addr()+"/examples")
	for _, want := range []string{
		"Twas brillig, and the slithy toves => TWAS BRILLIG, AND THE SLITHY TOVES",
		"And the mome raths outgrabe. => AND THE MOME RATHS OUTGRABE.",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("client.py output lacks %q:\n%s\nserver_tx.py:\n%s", want, out, srvOut.String())
		}
	}
	// Each request was accepted in the transaction that sent its reply.
	if d := queueDepth(t, b, "examples"); d != 0 {
		t.Fatalf("the request queue holds %d messages after the transactions committed, want 0", d)
	}
}

// A proton sender asks for a queue's arguments with DynamicNodeProperties
// when the queue is created by its attach (the manual's x-declare
// arguments): management shows them, and the queue applies them.
func TestProtonNodePropertiesDeclareArguments(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := filepath.Join(qpiddtest.Root(), "tests", "interop", "clients", "node_props_send.py")
	out, err := qpiddtest.Python(ctx, script, b.Addr(), "myqueue", "qpid.replicate=all", "qpid.max_count=1", "qpid.policy_type=reject")
	if err != nil || strings.TrimSpace(out) != "accepted" {
		t.Fatalf("node_props_send.py: %v\n%s", err, out)
	}
	q, err := qpiddtest.Admin(t, b).Queue(ctx, "myqueue")
	if err != nil {
		t.Fatal(err)
	}
	args := q.Map("arguments")
	if args["qpid.replicate"] != "all" || args["qpid.max_count"] != int64(1) || args["qpid.policy_type"] != "reject" {
		t.Fatalf("myqueue's arguments are %v, want those the attach asked for", args)
	}
	// The limit is in force: a second message is refused.
	out, err = qpiddtest.Python(ctx, script, b.Addr(), "myqueue")
	if err != nil || !strings.Contains(out, "rejected") || !strings.Contains(out, "amqp:resource-limit-exceeded") {
		t.Fatalf("a second message to a queue with qpid.max_count=1: %v\n%s", err, out)
	}
	// A bad argument refuses the attach, naming it.
	out, err = qpiddtest.Python(ctx, script, b.Addr(), "badqueue", "qpid.replicate=half")
	if err != nil || !strings.Contains(out, "refused") || !strings.Contains(out, "qpid.replicate") {
		t.Fatalf("an attach asking for qpid.replicate=half: %v\n%s", err, out)
	}
}
