package qpidd

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/daemon"
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

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb syncBuf
	code = Main(args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

func load(t *testing.T, args ...string) *config.Options {
	t.Helper()
	opts, _, err := config.Load(append(args, "--config", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func TestMainLockConflict(t *testing.T) {
	dir := t.TempDir()
	lock, err := daemon.LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	code, _, stderr := runMain("--port", "0", "--data-dir", dir, "--auth", "no", "--config", "")
	want := "Cannot lock " + dir + "/lock: Resource temporarily unavailable (another qpidd (pid " + strconv.Itoa(os.Getpid()) + ")"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
	if strings.Contains(stderr, "listening") {
		t.Errorf("listened despite the lock: %s", stderr)
	}
}

func TestMainCheckQuitKill(t *testing.T) {
	dir := t.TempDir()
	common := []string{"--port", "5999", "--data-dir", dir, "--config", ""}

	code, stdout, stderr := runMain(append([]string{"--check"}, common...)...)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "no broker is running: no pid file "+dir+"/5999.pid") {
		t.Fatalf("--check without a broker: %d %q %q", code, stdout, stderr)
	}
	code, _, stderr = runMain("--check", "--port", "0", "--data-dir", dir, "--config", "")
	if code != 1 || !strings.Contains(stderr, "give the broker's --port") {
		t.Errorf("--check --port 0: %d %q", code, stderr)
	}

	for _, c := range []struct {
		flag string
		sig  string
	}{{"--quit", "interrupt"}, {"--kill", "killed"}} {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := cmd.Process.Pid
		defer cmd.Process.Kill()
		if err := daemon.WritePidFile(filepath.Join(dir, "5999.pid"), pid); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr = runMain(append([]string{"--check"}, common...)...)
		if code != 0 || stdout != strconv.Itoa(pid)+"\n" {
			t.Fatalf("--check: %d %q %q", code, stdout, stderr)
		}
		code, stdout, stderr = runMain(append([]string{c.flag, "--wait", "10"}, common...)...)
		if code != 0 || stdout != "" || stderr != "" {
			t.Fatalf("%s: %d %q %q", c.flag, code, stdout, stderr)
		}
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || !strings.Contains(ee.String(), c.sig) {
			t.Errorf("%s: the process ended with %v, want %s", c.flag, err, c.sig)
		}
		code, _, _ = runMain(append([]string{"--check"}, common...)...)
		if code != 1 {
			t.Errorf("--check after %s: %d", c.flag, code)
		}
	}
	// --kill removed the pid file the killed process could not.
	if _, err := os.Stat(filepath.Join(dir, "5999.pid")); err == nil {
		t.Error("pid file left after --kill")
	}
}

func TestMainBadChildMarker(t *testing.T) {
	var out, errb syncBuf
	code := Main([]string{"--config", ""}, []string{daemon.ChildEnv + "=x"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "unset it") {
		t.Fatalf("%d %q", code, errb.String())
	}
}

// TestMainServe runs the broker in this process: it takes the lock, prints
// the port (--port 0), writes the pid file, notifies systemd, reopens its
// log file on SIGHUP, and on SIGTERM says STOPPING=1, removes the pid file,
// releases the lock and returns 0.
func TestMainServe(t *testing.T) {
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(sockDir, "n"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("NOTIFY_SOCKET", filepath.Join(sockDir, "n"))
	logFile := filepath.Join(dir, "broker.log")

	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"--port", "0", "--data-dir", dir, "--auth", "no", "--config", "",
			"--log-to-file", logFile, "--log-to-stderr", "no"}, nil, &out, &errb)
	}()
	var port int
	deadline := time.Now().Add(20 * time.Second)
	for port == 0 {
		select {
		case code := <-done:
			t.Fatalf("Main returned %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no port printed: %q %q", out.String(), errb.String())
		}
		if s := strings.TrimSpace(out.String()); s != "" {
			port, _ = strconv.Atoi(s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	recv := func() string {
		sock.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, err := sock.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if got, want := recv(), "READY=1\nSTATUS=serving on port "+strconv.Itoa(port)+"\n"; got != want {
		t.Errorf("sd_notify %q, want %q", got, want)
	}
	pidFile := filepath.Join(dir, strconv.Itoa(port)+".pid")
	if pid, err := daemon.ReadPidFile(pidFile); err != nil || pid != os.Getpid() {
		t.Errorf("pid file: %d %v", pid, err)
	}
	if _, err := daemon.LockDataDir(dir); err == nil {
		t.Error("data directory not locked")
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	// logrotate
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(t, func() bool {
		data, _ := os.ReadFile(logFile)
		return strings.Contains(string(data), "reopened the log file")
	})
	old, _ := os.ReadFile(logFile + ".1")
	if !strings.Contains(string(old), "listening on port") {
		t.Errorf("rotated log: %s", old)
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Main did not return after SIGTERM")
	}
	if got := recv(); !strings.HasPrefix(got, "STOPPING=1\nSTATUS=shutting down") {
		t.Errorf("sd_notify %q, want STOPPING=1", got)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("pid file left after a clean exit")
	}
	l, err := daemon.LockDataDir(dir)
	if err != nil {
		t.Errorf("lock not released: %v", err)
	}
	l.Release()
	if errb.String() != "" {
		t.Errorf("stderr (log-to-stderr no): %q", errb.String())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoggingForeground(t *testing.T) {
	var stderr bytes.Buffer
	lg, err := newLogging(load(t), &stderr, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.close()
	lg.log.Info("hello")
	if !lg.toStderr || lg.file != nil || !strings.Contains(stderr.String(), "hello") {
		t.Errorf("default: toStderr %v file %v stderr %q", lg.toStderr, lg.file, stderr.String())
	}

	file := filepath.Join(t.TempDir(), "q.log")
	stderr.Reset()
	lg, err = newLogging(load(t, "--log-to-file", file, "--log-to-stderr", "no"), &stderr, false)
	if err != nil {
		t.Fatal(err)
	}
	lg.log.Info("to the file")
	lg.close()
	data, _ := os.ReadFile(file)
	if lg.toStderr || stderr.Len() != 0 || !strings.Contains(string(data), "to the file") {
		t.Errorf("log-to-file: stderr %q file %q", stderr.String(), data)
	}

	_, err = newLogging(load(t, "--log-to-file", "/nonexistent/dir/q.log"), &stderr, false)
	if err == nil || !strings.Contains(err.Error(), "log-to-file: cannot open log file /nonexistent/dir/q.log: No such file or directory") {
		t.Errorf("bad log file: %v", err)
	}
}

func TestLoggingJournalUnavailable(t *testing.T) {
	if daemon.JournalAvailable() {
		t.Skip("journald runs here")
	}
	var stderr bytes.Buffer
	lg, err := newLogging(load(t, "--log-to-journal", "--log-to-stderr", "no"), &stderr, false)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.close()
	if !lg.toStderr || len(lg.warnings) != 1 || !strings.Contains(lg.warnings[0], "logging to standard error instead") {
		t.Errorf("toStderr %v warnings %q", lg.toStderr, lg.warnings)
	}

	dir := filepath.Join(t.TempDir(), "data")
	lg, err = newLogging(load(t, "--log-to-journal", "--data-dir", dir), &stderr, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.close()
	want := filepath.Join(dir, "qpidd.log")
	if lg.toStderr || lg.file == nil || lg.file.Path() != want || len(lg.warnings) != 1 || !strings.Contains(lg.warnings[0], "logging to "+want+" instead") {
		t.Errorf("daemon: toStderr %v file %v warnings %q", lg.toStderr, lg.file, lg.warnings)
	}
}

func TestLoggingDaemonDefault(t *testing.T) {
	if daemon.JournalAvailable() {
		t.Skip("journald runs here: a daemon logs there by default")
	}
	var stderr bytes.Buffer
	dir := filepath.Join(t.TempDir(), "data") // created for the log
	lg, err := newLogging(load(t, "--data-dir", dir, "--log-to-stderr", "yes"), &stderr, true)
	if err != nil {
		t.Fatal(err)
	}
	lg.log.Info("hello")
	lg.close()
	data, _ := os.ReadFile(filepath.Join(dir, "qpidd.log"))
	if lg.toStderr || stderr.Len() != 0 || !strings.Contains(string(data), "hello") {
		t.Errorf("stderr %q, data-dir log %q", stderr.String(), data)
	}
	if len(lg.warnings) != 1 || !strings.Contains(lg.warnings[0], "log-to-stderr: ignored with --daemon") {
		t.Errorf("warnings %q", lg.warnings)
	}

	// log-to-file replaces the default file.
	file := filepath.Join(t.TempDir(), "q.log")
	lg, err = newLogging(load(t, "--data-dir", dir, "--log-to-file", file), &stderr, true)
	if err != nil {
		t.Fatal(err)
	}
	lg.close()
	if lg.file.Path() != file || len(lg.warnings) != 0 {
		t.Errorf("file %s warnings %q", lg.file.Path(), lg.warnings)
	}
}
