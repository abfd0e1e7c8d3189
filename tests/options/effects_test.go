package options

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// Tests of what options do that no other test shows (TestEveryOptionIsRealOrObsolete
// names them).

func dialSession(t *testing.T, url string, sasl goamqp.SASLType) *goamqp.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, url, &goamqp.ConnOptions{SASLType: sasl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--help", "--ha-brokers-url"},
		{"--version", "qpidd"},
	} {
		out, err := exec.Command(qpiddtest.Bin(t, "qpidd"), tc.arg).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("qpidd %s: %v, output lacks %q:\n%s", tc.arg, err, tc.want, out)
		}
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// port is where the broker listens; interface restricts it to one address
// (127.0.0.2 is loopback too, but not the interface given).
func TestPortAndInterface(t *testing.T) {
	port := freePort(t)
	b := qpiddtest.Start(t, "--port", strconv.Itoa(port), "--interface", "127.0.0.1")
	if b.Port != port {
		t.Fatalf("listening on port %d, want %d", b.Port, port)
	}
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatalf("port %d on the interface: %v", port, err)
	}
	c.Close()
	if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(port)), 5*time.Second); err == nil {
		c.Close()
		t.Fatalf("listening on 127.0.0.2 despite --interface 127.0.0.1")
	}
}

// The pid file goes to pid-dir as <port>.pid.
func TestPidDir(t *testing.T) {
	dir := t.TempDir()
	b := qpiddtest.Start(t, "--pid-dir", dir)
	path := filepath.Join(dir, strconv.Itoa(b.Port)+".pid")
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid != b.PID() {
			return fmt.Errorf("%s holds %q, want %d", path, data, b.PID())
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(b.DataDir, strconv.Itoa(b.Port)+".pid")); err == nil {
		t.Errorf("a pid file in data-dir too")
	}
}

// trace logs every frame.
func TestTrace(t *testing.T) {
	b := qpiddtest.Start(t, "--trace")
	dialSession(t, b.URL(), goamqp.SASLTypeAnonymous())
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(b.Log(), "level=trace") || !strings.Contains(b.Log(), "types.Begin") {
			return errors.New("no trace of the frames")
		}
		return nil
	})
}

// A user name without a realm is in realm's realm.
func TestRealm(t *testing.T) {
	db := filepath.Join(t.TempDir(), "qpidd.users")
	add := exec.Command(qpiddtest.Bin(t, "qpidd-users"), "--database", db, "add", "carol@EXAMPLE")
	add.Stdin = strings.NewReader("carol-pw\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("qpidd-users: %v\n%s", err, out)
	}
	login := func(b *qpiddtest.Broker) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := goamqp.Dial(ctx, b.URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain("carol", "carol-pw")})
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := login(qpiddtest.Start(t, "--auth", "yes", "--auth-database", db, "--realm", "EXAMPLE")); err != nil {
		t.Fatalf("carol with --realm EXAMPLE: %v", err)
	}
	if err := login(qpiddtest.Start(t, "--auth", "yes", "--auth-database", db)); err == nil {
		t.Fatal("carol logged in as carol@QPID (the default realm), who does not exist")
	}
}

// sendSized sends 1000-byte messages to queue; it returns an error for a
// rejected one.
func sendSized(ctx context.Context, snd *goamqp.Sender) error {
	return snd.Send(ctx, goamqp.NewMessage(bytes.Repeat([]byte("x"), 1000)), nil)
}

// A queue declaring no limit gets default-queue-limit bytes (with flow
// control off, a message beyond it is refused).
func TestDefaultQueueLimit(t *testing.T) {
	b := qpiddtest.Start(t, "--default-queue-limit", "3500", "--default-flow-stop-threshold", "0", "--queue-patterns", ".*")
	sess := dialSession(t, b.URL(), goamqp.SASLTypeAnonymous())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snd, err := sess.NewSender(ctx, "limited", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		err := sendSized(ctx, snd)
		if err == nil {
			continue
		}
		var ae *goamqp.Error
		if !errors.As(err, &ae) || i != 4 {
			t.Fatalf("message %d: %v; want the 4th (over 3500 bytes) refused", i, err)
		}
		return
	}
	t.Fatal("10000 bytes queued despite --default-queue-limit 3500")
}

// With default-flow-stop-threshold 50 and default-flow-resume-threshold
// 20 of a 10000-byte queue, a sender's acceptance stops once the queue
// holds more than 5000 bytes and resumes only once it holds less than 2000.
func TestDefaultFlowThresholds(t *testing.T) {
	b := qpiddtest.Start(t, "--default-queue-limit", "10000", "--default-flow-stop-threshold", "50",
		"--default-flow-resume-threshold", "20", "--queue-patterns", ".*")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	snd, err := dialSession(t, b.URL(), goamqp.SASLTypeAnonymous()).NewSender(ctx, "flow", nil)
	if err != nil {
		t.Fatal(err)
	}
	const total = 12
	var started, done atomic.Int64
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			started.Add(1)
			if err := sendSized(ctx, snd); err != nil {
				sent <- err
				return
			}
			done.Add(1)
		}
		sent <- nil
	}()
	// stalled waits until the sender has one message waiting for acceptance
	// for a while; false if it finished or progressed.
	stalled := func() bool {
		last := done.Load()
		time.Sleep(500 * time.Millisecond)
		return done.Load() == last && started.Load() == last+1
	}
	for !stalled() {
		if done.Load() == total {
			t.Fatal("no flow control: every message accepted at once")
		}
	}
	// Every message sent is queued, the last one held; each is a little
	// over 1000 bytes, so the fifth takes the queue over 5000.
	queued := started.Load()
	if queued != 5 {
		t.Fatalf("the sender stopped with %d messages of 1000 bytes queued, want 5 (just over 5000 bytes)", queued)
	}
	rcv, err := dialSession(t, b.URL(), goamqp.SASLTypeAnonymous()).NewReceiver(ctx, "flow", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	consumed := int64(0)
	consume := func() {
		t.Helper()
		if err := rcv.IssueCredit(1); err != nil {
			t.Fatal(err)
		}
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
		consumed++
	}
	for before := done.Load(); ; {
		consume()
		left := queued - consumed
		time.Sleep(300 * time.Millisecond)
		if done.Load() > before {
			if left != 1 {
				t.Fatalf("the sender resumed with %d messages of 1000 bytes queued, want 1 (2 are above the resume level of 2000 bytes)", left)
			}
			break
		}
		if left == 0 {
			t.Fatal("the sender did not resume with the queue empty")
		}
	}
	for consumed < total {
		consume()
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

// link-maintenance-interval is how often a backup tries the brokers of
// ha-brokers-url for a primary.
func TestLinkMaintenanceInterval(t *testing.T) {
	nowhere := "127.0.0.1:" + strconv.Itoa(freePort(t))
	args := []string{"--ha-cluster", "yes", "--ha-brokers-url", nowhere, "--log-level", "debug"}
	fast := qpiddtest.Start(t, append(args, "--link-maintenance-interval", "0.2")...)
	slow := qpiddtest.Start(t, append(args, "--link-maintenance-interval", "5")...)
	time.Sleep(2 * time.Second)
	tries := func(b *qpiddtest.Broker) int { return strings.Count(b.Log(), "no replication from this address") }
	if n := tries(fast); n < 5 {
		t.Errorf("link-maintenance-interval 0.2: %d tries in 2 s, want about 10", n)
	}
	if n := tries(slow); n > 1 {
		t.Errorf("link-maintenance-interval 5: %d tries in 2 s, want at most 1", n)
	}
}

// ha-public-url is what qpid-ha query shows as the cluster's address.
func TestHAPublicURL(t *testing.T) {
	b := qpiddtest.Start(t, "--ha-cluster", "yes", "--ha-brokers-url", "127.0.0.1:1", "--ha-public-url", "10.9.8.7")
	out, err := exec.Command(qpiddtest.Bin(t, "qpid-ha"), "query", "-b", b.Addr()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10.9.8.7") {
		t.Fatalf("qpid-ha query: %v\n%s", err, out)
	}
}
