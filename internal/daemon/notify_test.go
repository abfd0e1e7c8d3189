package daemon

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSystemd listens on a unixgram socket and points NOTIFY_SOCKET at it.
func fakeSystemd(t *testing.T) *net.UnixConn {
	t.Helper()
	dir, err := os.MkdirTemp("", "sd") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	conn := fakeSystemd(t)
	if err := Ready("serving on port 5672", false); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1\nSTATUS=serving on port 5672\n" {
		t.Errorf("Ready sent %q", got)
	}
	if err := Ready("serving", true); err != nil {
		t.Fatal(err)
	}
	if got, want := receive(t, conn), "READY=1\nSTATUS=serving\nMAINPID="+strconv.Itoa(os.Getpid())+"\n"; got != want {
		t.Errorf("Ready with MAINPID sent %q, want %q", got, want)
	}
	if err := Status("primary\n (active)  "); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "STATUS=primary (active)\n" {
		t.Errorf("Status sent %q", got)
	}
	if err := Stopping("shutting down"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "STOPPING=1\nSTATUS=shutting down\n" {
		t.Errorf("Stopping sent %q", got)
	}
}

func TestNotifyWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Ready("x", true); err != nil {
		t.Fatal(err)
	}
	if err := Status("x"); err != nil {
		t.Fatal(err)
	}
}

func TestNotifyBrokenSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "none"))
	if err := Status("x"); err == nil {
		t.Fatal("no error for a missing socket")
	}
}

// The watchdog: fed every half interval while alive answers, not while it
// hangs; nothing without WATCHDOG_USEC.
func TestWatchdog(t *testing.T) {
	conn := fakeSystemd(t)
	if interval, stop := Watchdog(func() {}); interval != 0 {
		stop()
		t.Fatalf("a watchdog without WATCHDOG_USEC: %v", interval)
	}
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	var hang atomic.Bool
	release := make(chan struct{})
	interval, stop := Watchdog(func() {
		if hang.Load() {
			<-release
		}
	})
	defer stop()
	defer close(release)
	if interval != 200*time.Millisecond {
		t.Fatalf("interval %v", interval)
	}
	for i := 0; i < 3; i++ {
		if got := receive(t, conn); got != "WATCHDOG=1\n" {
			t.Fatalf("sent %q", got)
		}
	}
	hang.Store(true)
	// At most one ping was on its way; then none while alive hangs.
	conn.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64)
	n := 0
	for {
		if _, err := conn.Read(buf); err != nil {
			break
		}
		n++
	}
	if n > 1 {
		t.Fatalf("%d pings while the broker hung", n)
	}
}
