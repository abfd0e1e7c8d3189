package interop

import (
	"bufio"
	"context"
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
