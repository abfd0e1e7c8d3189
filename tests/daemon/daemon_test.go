// Package daemon_test runs the real qpidd binary the way the original's
// init scripts and systemd do: --daemon, --check, --quit, --kill, the data
// directory lock, pid files, log outputs and sd_notify.
package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/daemon"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// result is how a qpidd command ended.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// qpidd runs the qpidd binary to completion (at most a minute). If a daemon
// it started kept the output pipes open, the command would not complete:
// WaitDelay turns that into a failure instead of a hang.
func qpidd(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qpiddtest.Bin(t, "qpidd"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("qpidd %v: %v (stdout %q, stderr %q)", args, err, r.stdout, r.stderr)
	}
	return r
}

// killLater kills, when the test ends, the daemon that locked dataDir (pid
// in its lock file) or wrote a pid file there, if it still runs.
func killLater(t *testing.T, dataDir string) {
	t.Cleanup(func() {
		paths, _ := filepath.Glob(filepath.Join(dataDir, "*.pid"))
		for _, p := range append(paths, filepath.Join(dataDir, "lock")) {
			if pid, err := daemon.ReadPidFile(p); err == nil && isQpidd(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}

// isQpidd reports whether pid is a live qpidd (not some process that reused
// the pid of one that exited).
func isQpidd(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err == nil && daemon.Alive(pid) && strings.Contains(string(cmdline), "qpidd")
}

// startDaemon runs qpidd --daemon --port 0 with a temporary data directory
// (unless args give one) and returns the port it printed and its pid.
func startDaemon(t *testing.T, dataDir string, args ...string) (port, pid int) {
	t.Helper()
	killLater(t, dataDir)
	all := append([]string{"--daemon", "--port", "0", "--data-dir", dataDir, "--auth", "no", "--config", ""}, args...)
	r := qpidd(t, nil, all...)
	if r.code != 0 {
		t.Fatalf("qpidd --daemon exited %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r.took > 15*time.Second {
		t.Errorf("qpidd --daemon took %v", r.took)
	}
	port, err := strconv.Atoi(strings.TrimSpace(r.stdout))
	if err != nil || port <= 0 {
		t.Fatalf("qpidd --daemon --port 0 printed %q, want a port (stderr %q)", r.stdout, r.stderr)
	}
	pidFile := filepath.Join(dataDir, strconv.Itoa(port)+".pid")
	for i, a := range args {
		if a == "--pidfile" && i+1 < len(args) {
			pidFile = args[i+1]
		}
	}
	pid, err = daemon.ReadPidFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	if !isQpidd(pid) {
		t.Fatalf("pid file names %d, which is not a running qpidd", pid)
	}
	return port, pid
}

func dial(t *testing.T, port int) *goamqp.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://127.0.0.1:"+strconv.Itoa(port), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func waitGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for daemon.Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running after %v", pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDaemonLifecycle is the init script's life of a broker: start in the
// background, status, a second start refused by the lock, stop.
func TestDaemonLifecycle(t *testing.T) {
	dir := t.TempDir()
	port, pid := startDaemon(t, dir, "--log-to-file", filepath.Join(dir, "broker.log"))
	p := strconv.Itoa(port)

	// It serves AMQP.
	conn := dial(t, port)
	if _, err := conn.NewSession(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	// Detached: a session of its own, its parent gone.
	if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		if f[3] != strconv.Itoa(pid) {
			t.Errorf("daemon's session is %s, want its own (%d)", f[3], pid)
		}
	}
	// The lock file names it too.
	if lp, err := daemon.ReadPidFile(filepath.Join(dir, "lock")); err != nil || lp != pid {
		t.Errorf("lock file: %d %v, want %d", lp, err, pid)
	}

	// --check
	r := qpidd(t, nil, "--check", "--port", p, "--data-dir", dir, "--config", "")
	if r.code != 0 || strings.TrimSpace(r.stdout) != strconv.Itoa(pid) {
		t.Fatalf("--check: exit %d stdout %q stderr %q; want 0 and %d", r.code, r.stdout, r.stderr, pid)
	}

	// A second broker on the same data directory, daemon or not, is refused
	// before it listens.
	r = qpidd(t, nil, "--daemon", "--port", "0", "--data-dir", dir, "--auth", "no", "--config", "")
	want := "Daemon startup failed: Cannot lock " + dir + "/lock: Resource temporarily unavailable"
	if r.code == 0 || !strings.Contains(r.stderr, want) || r.stdout != "" {
		t.Errorf("second daemon: exit %d stdout %q stderr %q; want non-zero and %q", r.code, r.stdout, r.stderr, want)
	}
	if !strings.Contains(r.stderr, "pid "+strconv.Itoa(pid)) {
		t.Errorf("the message does not name the holder %d: %q", pid, r.stderr)
	}
	r = qpidd(t, nil, "--port", "0", "--data-dir", dir, "--auth", "no", "--config", "")
	if r.code == 0 || !strings.Contains(r.stderr, "Cannot lock "+dir+"/lock: Resource temporarily unavailable") ||
		strings.Contains(r.stderr, "listening") {
		t.Errorf("second foreground broker: exit %d stderr %q", r.code, r.stderr)
	}
	if !isQpidd(pid) {
		t.Fatal("the first broker died")
	}

	// --quit: the client sees amqp:connection:forced; the broker exits and
	// removes its pid file.
	r = qpidd(t, nil, "--quit", "--port", p, "--data-dir", dir, "--config", "")
	if r.code != 0 {
		t.Fatalf("--quit: exit %d stderr %q", r.code, r.stderr)
	}
	if daemon.Alive(pid) {
		t.Error("--quit returned while the broker still runs")
	}
	select {
	case <-conn.Done():
		var ce *goamqp.ConnError
		if err := conn.Err(); !errors.As(err, &ce) || ce.RemoteErr == nil || ce.RemoteErr.Condition != goamqp.ErrCondConnectionForced {
			t.Errorf("client saw %v, want amqp:connection:forced", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("the client connection was not closed")
	}
	if _, err := os.Stat(filepath.Join(dir, p+".pid")); err == nil {
		t.Error("pid file left after --quit")
	}
	r = qpidd(t, nil, "--check", "--port", p, "--data-dir", dir, "--config", "")
	if r.code != 1 || r.stdout != "" {
		t.Errorf("--check after --quit: exit %d stdout %q", r.code, r.stdout)
	}
	r = qpidd(t, nil, "--quit", "--port", p, "--data-dir", dir, "--config", "")
	if r.code != 1 || !strings.Contains(r.stderr, "no broker is running") {
		t.Errorf("--quit with none running: exit %d stderr %q", r.code, r.stderr)
	}

	// The data directory is free again.
	port2, _ := startDaemon(t, dir, "--log-to-file", filepath.Join(dir, "broker.log"))
	if r := qpidd(t, nil, "--quit", "--port", strconv.Itoa(port2), "--data-dir", dir, "--config", ""); r.code != 0 {
		t.Errorf("--quit: %d %q", r.code, r.stderr)
	}
}

func TestDaemonKill(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "qpidd.pid")
	_, pid := startDaemon(t, dir, "--pidfile", pidFile, "--log-to-file", filepath.Join(dir, "broker.log"))
	if got, err := daemon.ReadPidFile(pidFile); err != nil || got != pid {
		t.Fatalf("--pidfile %s: %d %v", pidFile, got, err)
	}
	// --pidfile is what --check and --kill read.
	r := qpidd(t, nil, "--check", "--pidfile", pidFile, "--config", "")
	if r.code != 0 || strings.TrimSpace(r.stdout) != strconv.Itoa(pid) {
		t.Fatalf("--check --pidfile: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = qpidd(t, nil, "--kill", "--pidfile", pidFile, "--config", "")
	if r.code != 0 {
		t.Fatalf("--kill: %d %q", r.code, r.stderr)
	}
	waitGone(t, pid, 5*time.Second)
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("pid file left after --kill")
	}
}

// TestDaemonStartFailure: a daemon that cannot start says why, exits
// non-zero soon, and leaves nothing running.
func TestDaemonStartFailure(t *testing.T) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"port in use", []string{"--port", busy, "--auth", "no"}, "port " + busy + ": listen tcp :" + busy + ": bind: address already in use"},
		{"address not here", []string{"--port", "0", "--auth", "no", "--interface", "192.0.2.1"}, "cannot listen on 192.0.2.1 port 0"},
		{"bad log file", []string{"--port", "0", "--auth", "no", "--log-to-file", "/nonexistent/dir/qpidd.log"}, "log-to-file: cannot open log file /nonexistent/dir/qpidd.log: No such file or directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			killLater(t, dir)
			r := qpidd(t, nil, append([]string{"--daemon", "--data-dir", dir, "--config", ""}, c.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, "Daemon startup failed: ") || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d stderr %q; want non-zero and %q", r.code, r.stderr, c.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
			if r.took > 15*time.Second {
				t.Errorf("took %v", r.took)
			}
			if pid, err := daemon.ReadPidFile(filepath.Join(dir, "lock")); err == nil && daemon.Alive(pid) {
				t.Errorf("the failed daemon %d still runs", pid)
			}
			if pids, _ := filepath.Glob(filepath.Join(dir, "*.pid")); len(pids) != 0 {
				t.Errorf("pid files left: %v", pids)
			}
		})
	}
}

// TestDaemonDefaultLog: a daemon told nothing about logging logs to
// <data-dir>/qpidd.log (when journald does not run), and reopens its log
// file on SIGHUP (logrotate).
func TestDaemonLogs(t *testing.T) {
	if daemon.JournalAvailable() {
		t.Skip("journald runs here: a daemon logs there by default")
	}
	dir := t.TempDir()
	_, pid := startDaemon(t, dir)
	log := filepath.Join(dir, "qpidd.log")
	data, err := os.ReadFile(log)
	if err != nil || !strings.Contains(string(data), "listening on port") {
		t.Fatalf("%s: %v\n%s", log, err, data)
	}
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		data, _ := os.ReadFile(log)
		if !strings.Contains(string(data), "reopened the log file") {
			return errors.New("log file not reopened")
		}
		return nil
	})
	if !isQpidd(pid) {
		t.Fatal("SIGHUP stopped the daemon")
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid, 20*time.Second)
	data, _ = os.ReadFile(log)
	if !strings.Contains(string(data), "shutting down") {
		t.Errorf("log after SIGTERM:\n%s", data)
	}
}

// TestForegroundPidFileAndLock: a broker in the foreground (systemd
// Type=notify, the tests' brokers) also takes the lock and writes its pid
// file, so --check and --quit work for it.
func TestForegroundPidFileAndLock(t *testing.T) {
	b := qpiddtest.Start(t)
	p := strconv.Itoa(b.Port)
	r := qpidd(t, nil, "--check", "--port", p, "--data-dir", b.DataDir, "--config", "")
	if r.code != 0 || strings.TrimSpace(r.stdout) != strconv.Itoa(b.PID()) {
		t.Fatalf("--check: %d %q %q", r.code, r.stdout, r.stderr)
	}
	r = qpidd(t, nil, "--port", "0", "--data-dir", b.DataDir, "--auth", "no", "--config", "")
	if r.code == 0 || !strings.Contains(r.stderr, "Cannot lock "+b.DataDir+"/lock: Resource temporarily unavailable") {
		t.Errorf("second broker: %d %q", r.code, r.stderr)
	}
	r = qpidd(t, nil, "--quit", "--port", p, "--data-dir", b.DataDir, "--config", "")
	if r.code != 0 {
		t.Fatalf("--quit: %d %q", r.code, r.stderr)
	}
	if code := b.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after --quit\n%s", code, b.Log())
	}
	if _, err := os.Stat(filepath.Join(b.DataDir, p+".pid")); err == nil {
		t.Error("pid file left")
	}
}

// TestSdNotify: under systemd (Type=notify) the broker says READY=1 with a
// STATUS= line once it serves, and STOPPING=1 on SIGTERM.
func TestSdNotify(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "sd") // short: socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	path := filepath.Join(sockDir, "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	recv := func() string {
		t.Helper()
		sock.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, 4096)
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}

	b := qpiddtest.Start(t)
	msg := recv()
	if !strings.Contains(msg, "READY=1\n") || !strings.Contains(msg, "STATUS=serving on port "+strconv.Itoa(b.Port)+"\n") {
		t.Errorf("first notification %q, want READY=1 and STATUS=serving on port %d", msg, b.Port)
	}
	if strings.Contains(msg, "MAINPID=") {
		t.Errorf("a foreground broker sent MAINPID: %q", msg)
	}
	if code := b.Stop(); code != 0 {
		t.Errorf("exit %d\n%s", code, b.Log())
	}
	if msg := recv(); !strings.Contains(msg, "STOPPING=1\n") || !strings.Contains(msg, "STATUS=shutting down") {
		t.Errorf("notification on SIGTERM %q, want STOPPING=1", msg)
	}

	// A daemon child is the service's main process: it says so.
	dir := t.TempDir()
	_, pid := startDaemon(t, dir, "--log-to-file", filepath.Join(dir, "broker.log"))
	if msg := recv(); !strings.Contains(msg, "READY=1\n") || !strings.Contains(msg, "MAINPID="+strconv.Itoa(pid)+"\n") {
		t.Errorf("daemon's notification %q, want READY=1 and MAINPID=%d", msg, pid)
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	waitGone(t, pid, 20*time.Second)
}
