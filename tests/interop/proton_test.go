package interop

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// Proton's own example programs, run unmodified with Debian's python3.
func TestProtonSimpleSendAndRecv(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := b.Addr() + "/examples"
	out, err := qpiddtest.Python(ctx, qpiddtest.ProtonExample("simple_send.py"), "-a", addr, "-m", "1000")
	if err != nil || !strings.Contains(out, "all messages confirmed") {
		t.Fatalf("simple_send.py: %v\n%s", err, out)
	}
	out, err = qpiddtest.Python(ctx, qpiddtest.ProtonExample("simple_recv.py"), "-a", addr, "-m", "1000")
	if err != nil {
		t.Fatalf("simple_recv.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1000 {
		t.Fatalf("simple_recv.py printed %d messages, want 1000:\n%s", len(lines), out)
	}
	for i, want := range []string{"{'sequence': 1}", "{'sequence': 1000}"} {
		if got := lines[i*999]; got != want {
			t.Fatalf("line %d is %q, want %q", i*999+1, got, want)
		}
	}
}

// A proton client with heartbeats and a URL list fails over across a broker
// restart: the broker closes with amqp:connection:forced on SIGTERM, which
// is the condition (besides a dropped socket) on which proton reconnects.
func TestProtonReconnectsAfterSIGTERM(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := filepath.Join(qpiddtest.Root(), "tests", "interop", "clients", "reconnect_send.py")
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", script, "-u", b.Addr(), "-a", "failover", "-m", "400", "-r", "100", "--heartbeat", "1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	confirmed := make(chan struct{}, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if strings.HasPrefix(sc.Text(), "confirmed") {
				confirmed <- struct{}{}
			}
		}
	}()
	<-confirmed // 50 confirmed: restart mid-stream
	if code := b.Stop(); code != 0 {
		t.Fatalf("qpidd exit code %d after SIGTERM\n%s", code, b.Log())
	}
	time.Sleep(500 * time.Millisecond)
	b.Restart()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v\n%s", err, strings.Join(lines, "\n"))
	}
	mu.Lock()
	defer mu.Unlock()
	out := strings.Join(lines, "\n")
	if !strings.Contains(out, "disconnected amqp:connection:forced") {
		t.Fatalf("the client did not see amqp:connection:forced:\n%s", out)
	}
	if !strings.Contains(out, "done 400 ") {
		t.Fatalf("the client did not finish after reconnecting:\n%s", out)
	}
}

// helloworld.py connects to localhost:5672 and uses the address "examples"
// (both fixed in the program), so these run a broker on the default port:
// once with "examples" as a queue, once as a topic exchange (the message
// goes through a private subscription queue bound with "#").
func TestProtonHelloWorld(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"through a queue", []string{"--queue", "examples"}},
		{"through a topic exchange", []string{"--topic-patterns", "examples"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := qpiddtest.Start(t, append([]string{"--port", "5672"}, tc.args...)...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := qpiddtest.Python(ctx, qpiddtest.ProtonExample("helloworld.py"))
			if err != nil || strings.TrimSpace(out) != "Hello World!" {
				t.Fatalf("helloworld.py: %v\n%s\nbroker log:\n%s", err, out, b.Log())
			}
		})
	}
}

// Proton's simple_recv/simple_send through amq.topic: the receiver's
// subscription queue (bound "#") gets what the sender publishes.
func TestProtonThroughAmqTopic(t *testing.T) {
	b := qpiddtest.Start(t, "--log-level", "debug")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := b.Addr() + "/amq.topic"
	recv := exec.CommandContext(ctx, "/usr/bin/python3", qpiddtest.ProtonExample("simple_recv.py"), "-a", addr, "-m", "100")
	var out strings.Builder
	recv.Stdout, recv.Stderr = &out, &out
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the subscription (a private queue bound to amq.topic).
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(b.Log(), `msg="receiver attached" address=amq.topic`) {
			return fmt.Errorf("no subscription yet")
		}
		return nil
	})
	sent, err := qpiddtest.Python(ctx, qpiddtest.ProtonExample("simple_send.py"), "-a", addr, "-m", "100")
	if err != nil || !strings.Contains(sent, "all messages confirmed") {
		t.Fatalf("simple_send.py: %v\n%s", err, sent)
	}
	if err := recv.Wait(); err != nil {
		t.Fatalf("simple_recv.py: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "{'sequence'"); n != 100 {
		t.Fatalf("received %d messages through amq.topic, want 100:\n%s", n, out.String())
	}
}

// Proton's client.py and server.py: requests to a queue, replies to the
// client's dynamic (temporary) queue via the server's anonymous sender.
func TestProtonClientServerDynamicReply(t *testing.T) {
	b := qpiddtest.Start(t, "--queue", "examples")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := b.Addr() + "/examples"
	srv := exec.CommandContext(ctx, "/usr/bin/python3", qpiddtest.ProtonExample("server.py"), "-a", addr)
	var srvOut strings.Builder
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	out, err := qpiddtest.Python(ctx, qpiddtest.ProtonExample("client.py"), "-a", addr)
	if err != nil {
		t.Fatalf("client.py: %v\n%s\nserver:\n%s", err, out, srvOut.String())
	}
	for _, want := range []string{
		"Twas brillig, and the slithy toves => TWAS BRILLIG, AND THE SLITHY TOVES",
		"And the mome raths outgrabe. => AND THE MOME RATHS OUTGRABE.",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("client.py output lacks %q:\n%s", want, out)
		}
	}
}
