package daemon

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// spawn runs the test binary as a daemon child in a helper mode; the child
// is killed by pid when the test ends.
func spawn(t *testing.T, mode string, wait time.Duration) (port, pid int, stderr string, err error) {
	t.Helper()
	var buf syncBuf
	env := append(os.Environ(), helperEnv+"="+mode, ChildEnv+"=99") // a stale marker is replaced
	port, pid, err = Spawn(SpawnConfig{
		Path: os.Args[0], Args: []string{"-test.run=^$"}, Env: env, Wait: wait, Stderr: &buf,
	})
	if pid > 0 {
		t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	}
	return port, pid, buf.String(), err
}

func TestSpawnReady(t *testing.T) {
	port, pid, stderr, err := spawn(t, "ready", 20*time.Second)
	if err != nil {
		t.Fatalf("Spawn: %v\n%s", err, stderr)
	}
	if port != 4242 {
		t.Errorf("port %d, want 4242", port)
	}
	if !Alive(pid) {
		t.Fatal("the daemon child is not running")
	}
	if !strings.Contains(stderr, "starting up") || strings.Contains(stderr, "must not reach") {
		t.Errorf("child's stderr as seen by the parent: %q", stderr)
	}
	// A session of its own (setsid): field 6 of /proc/<pid>/stat.
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skip(err)
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	if f[3] != strconv.Itoa(pid) {
		t.Errorf("session %s, want %d (its own)", f[3], pid)
	}
}

func TestSpawnFail(t *testing.T) {
	start := time.Now()
	_, pid, _, err := spawn(t, "fail", 20*time.Second)
	var se *StartError
	if !errors.As(err, &se) || err.Error() != "Daemon startup failed: Cannot lock /x/lock: Resource temporarily unavailable" {
		t.Fatalf("Spawn: %v", err)
	}
	if Alive(pid) {
		t.Error("the failed child is still running")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestSpawnCrash(t *testing.T) {
	_, _, stderr, err := spawn(t, "crash", 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready (exit status 3)") {
		t.Fatalf("Spawn: %v", err)
	}
	if !strings.Contains(stderr, "boom") {
		t.Errorf("the crashed child's stderr is not shown: %q", stderr)
	}
}

func TestSpawnGarbage(t *testing.T) {
	_, _, _, err := spawn(t, "garbage", 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), `bad message "hello\n"`) {
		t.Fatalf("Spawn: %v", err)
	}
}

func TestSpawnTimeout(t *testing.T) {
	start := time.Now()
	_, pid, _, err := spawn(t, "hang", 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || !strings.Contains(err.Error(), "--wait") {
		t.Fatalf("Spawn: %v", err)
	}
	if Alive(pid) {
		t.Error("the child that timed out was not killed")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestSpawnNoProgram(t *testing.T) {
	_, _, err := Spawn(SpawnConfig{Path: "/nonexistent/qpidd"})
	if err == nil || !strings.Contains(err.Error(), "Daemon startup failed: cannot start /nonexistent/qpidd") {
		t.Fatalf("Spawn: %v", err)
	}
}

func TestChildFromEnv(t *testing.T) {
	if c, err := ChildFromEnv([]string{"PATH=/bin"}); c != nil || err != nil {
		t.Fatalf("no marker: %v, %v", c, err)
	}
	for _, v := range []string{"1", "x", "1000"} {
		if c, err := ChildFromEnv([]string{ChildEnv + "=" + v}); c != nil || err == nil || !strings.Contains(err.Error(), "unset it") {
			t.Errorf("%s=%s: %v, %v", ChildEnv, v, c, err)
		}
	}
	var nilChild *Child
	if err := nilChild.Fail("x"); err != nil {
		t.Error(err)
	}
}

func TestWithoutEnv(t *testing.T) {
	got := withoutEnv([]string{"A=1", ChildEnv + "=3", "B=2", ChildEnv + "X=4"}, ChildEnv)
	if strings.Join(got, " ") != "A=1 B=2 "+ChildEnv+"X=4" {
		t.Errorf("withoutEnv = %v", got)
	}
}
