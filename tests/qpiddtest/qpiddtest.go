// Package qpiddtest runs real qpidd processes for end-to-end tests: it builds
// the binaries of this tree once, starts brokers on random loopback ports,
// and stops them by PID when the test ends.
package qpiddtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/auth"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Bin returns the path of one of this tree's commands (qpidd, qpid-ha, ...):
// from $QPIDHA_BIN when set (the Makefile builds there), else built once
// into a temporary directory.
func Bin(t testing.TB, name string) string {
	t.Helper()
	if dir := os.Getenv("QPIDHA_BIN"); dir != "" {
		return filepath.Join(dir, name)
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "qpidha-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./qpidd", "./qpidd-primary", "./qpid-ha", "./qpid-config",
			"./qpidd-users", "./qpid-cluster-conf", "./tests/checker")
		cmd.Dir = Root()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // static, as make build makes them
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// Broker is a qpidd process.
type Broker struct {
	t       testing.TB
	Args    []string
	Port    int // plain AMQP port (0 with listen-disable tcp)
	TLSPort int // AMQPS port, 0 if none
	DataDir string
	cmd     *exec.Cmd
	log     *SyncBuffer
	exited  chan struct{}
	exitErr error
}

var (
	portLine    = regexp.MustCompile(`listening on port (\d+)`)
	tlsPortLine = regexp.MustCompile(`listening for TLS \(amqps\) on port (\d+)`)
)

// Start runs qpidd with args plus, unless given, --port 0 (and --ssl-port 0
// with a certificate), --auth no and a temporary --data-dir, and waits
// until it listens. The process is killed
// when the test ends if still running.
func Start(t testing.TB, args ...string) *Broker {
	t.Helper()
	b := &Broker{t: t}
	has := func(opt string) bool {
		for _, a := range args {
			if a == opt || strings.HasPrefix(a, opt+"=") {
				return true
			}
		}
		return false
	}
	if !has("--port") {
		args = append(args, "--port", "0")
	}
	if has("--ssl-cert-file") && !has("--ssl-port") {
		args = append(args, "--ssl-port", "0")
	}
	if !has("--auth") {
		args = append(args, "--auth", "no")
	}
	if !has("--data-dir") {
		b.DataDir = t.TempDir()
		args = append(args, "--data-dir", b.DataDir)
	}
	if !has("--config") {
		args = append(args, "--config", "")
	}
	b.Args = args
	b.start()
	return b
}

func (b *Broker) start() {
	t := b.t
	t.Helper()
	b.log = &SyncBuffer{}
	b.exited = make(chan struct{})
	cmd := exec.Command(Bin(t, "qpidd"), b.Args...)
	cmd.Env = append(os.Environ(), "QPID_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = b.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.cmd = cmd
	// The broker logs each listener with its port: wait for those its
	// arguments ask for.
	port, tlsPort := make(chan int, 1), make(chan int, 1)
	wantTLS := b.listensTLS()
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.log.WriteString(line + "\n")
			for _, l := range []struct {
				re *regexp.Regexp
				ch chan int
			}{{portLine, port}, {tlsPortLine, tlsPort}} {
				if m := l.re.FindStringSubmatch(line); m != nil {
					p, _ := strconv.Atoi(m[1])
					select {
					case l.ch <- p:
					default:
					}
				}
			}
		}
	}()
	go func() {
		b.exitErr = cmd.Wait()
		close(b.exited)
	}()
	logged := b.log
	t.Cleanup(func() {
		b.Kill()
		checkLog(t, cmd.Process.Pid, logged.String())
	})
	var waits []chan int
	if b.listensTCP() {
		waits = append(waits, port)
	}
	if wantTLS {
		waits = append(waits, tlsPort)
	}
	deadline := time.After(20 * time.Second)
	for _, ch := range waits {
		select {
		case p := <-ch:
			if ch == port {
				b.Port = p
				b.setPortArg("--port", p)
			} else {
				b.TLSPort = p
				b.setPortArg("--ssl-port", p)
			}
		case <-b.exited:
			t.Fatalf("qpidd exited before listening: %v\n%s", b.exitErr, b.log.String())
		case <-deadline:
			t.Fatalf("qpidd did not listen within 20s\n%s", b.log.String())
		}
	}
}

// listensTLS reports whether the arguments give a certificate and do not
// disable TLS; listensTCP whether they do not disable plain TCP.
func (b *Broker) listensTLS() bool {
	return b.argValue("--ssl-cert-file") != "" && !b.disabled("ssl")
}

func (b *Broker) listensTCP() bool { return !b.disabled("tcp") }

func (b *Broker) disabled(transport string) bool {
	for i, a := range b.Args {
		if (a == "--listen-disable" && i+1 < len(b.Args) && b.Args[i+1] == transport) || a == "--listen-disable="+transport {
			return true
		}
	}
	return false
}

// argValue is the value of an option among the arguments, "" if absent.
func (b *Broker) argValue(opt string) string {
	for i, a := range b.Args {
		if a == opt && i+1 < len(b.Args) {
			return b.Args[i+1]
		}
		if v, ok := strings.CutPrefix(a, opt+"="); ok {
			return v
		}
	}
	return ""
}

// setPortArg pins a chosen port so a restart reuses it.
func (b *Broker) setPortArg(opt string, p int) {
	for i, a := range b.Args {
		if a == opt && i+1 < len(b.Args) {
			b.Args[i+1] = strconv.Itoa(p)
		}
	}
}

// TLSAddr is host:port of the broker's AMQPS listener.
func (b *Broker) TLSAddr() string { return "127.0.0.1:" + strconv.Itoa(b.TLSPort) }

// Addr is host:port of the broker.
func (b *Broker) Addr() string { return "127.0.0.1:" + strconv.Itoa(b.Port) }

// URL is an amqp:// URL of the broker.
func (b *Broker) URL() string { return "amqp://" + b.Addr() }

// PID is the process id.
func (b *Broker) PID() int { return b.cmd.Process.Pid }

// Log is what the broker has logged so far.
func (b *Broker) Log() string { return b.log.String() }

// Signal sends a signal to the broker.
func (b *Broker) Signal(sig syscall.Signal) { _ = b.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits for the exit; it returns the exit code.
func (b *Broker) Stop() int {
	b.t.Helper()
	b.Signal(syscall.SIGTERM)
	return b.Wait(20 * time.Second)
}

// Wait waits for the process to exit and returns its exit code.
func (b *Broker) Wait(timeout time.Duration) int {
	b.t.Helper()
	select {
	case <-b.exited:
	case <-time.After(timeout):
		b.Kill()
		b.t.Fatalf("qpidd did not exit within %v\n%s", timeout, b.Log())
	}
	if b.exitErr == nil {
		return 0
	}
	if ee, ok := b.exitErr.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// Kill stops the process with SIGKILL (and SIGCONT, in case it was stopped).
func (b *Broker) Kill() {
	select {
	case <-b.exited:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	_ = b.cmd.Process.Signal(syscall.SIGCONT)
	<-b.exited
}

// Restart starts the broker again with the same arguments and port.
func (b *Broker) Restart() {
	b.t.Helper()
	b.start()
}

// Python runs a script with Debian's /usr/bin/python3 (which has the proton
// bindings) and returns its combined output.
func Python(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
	cmd.Env = append(os.Environ(), "PATH=/usr/bin:"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ProtonExample is the path of one of python3-qpid-proton's example programs.
func ProtonExample(name string) string { return "/usr/share/proton/examples/python/" + name }

// SyncBuffer collects a process's output while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) WriteString(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Bugs a broker's log may show, which fail the test that ran it: a data
// race (binaries built with -race: make e2e-race) and an illegal HA state
// transition.
var logBugs = []string{"WARNING: DATA RACE", "illegal HA state transition"}

// checkLog fails the test if a broker's log shows a bug.
func checkLog(t testing.TB, pid int, log string) {
	t.Helper()
	for _, bug := range logBugs {
		if i := strings.Index(log, bug); i >= 0 {
			start := strings.LastIndexByte(log[:i], '\n') + 1
			t.Errorf("qpidd (pid %d) logged %q:\n%s", pid, bug, log[start:min(len(log), start+8000)])
		}
	}
}

// Eventually polls cond until it returns nil or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// UserDB writes a user database (realm QPID) in dir with the users and
// passwords of pairs (user, password, user, password, ...) and returns its
// path, for --auth-database.
func UserDB(t testing.TB, dir string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatal("UserDB: a password for every user")
	}
	path := filepath.Join(dir, "qpidd.users")
	db, err := auth.Open(path, "QPID")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pairs); i += 2 {
		if err := db.Add(pairs[i], pairs[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	return path
}
