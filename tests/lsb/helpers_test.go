// Package lsb tests the rgmanager service scripts with real processes: the
// LSB init script agents/init.d/qpidd and qpidd-primary, their exit codes
// for every action and state, the lock they share, and the promotion of a
// cluster built from the brokers they start.
package lsb

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

var (
	buildOnce sync.Once
	builtDir  string
	buildErr  error
)

// bin is the path of one of the commands the scripts run (qpidd, qpid-ha,
// qpidd-primary): from $QPIDHA_BIN when it has it (the Makefile builds
// there), else built here once, those three only, so that the tests do not
// depend on the rest of the tree building.
func bin(t *testing.T, name string) string {
	t.Helper()
	if dir := os.Getenv("QPIDHA_BIN"); dir != "" && fileExists(filepath.Join(dir, name)) {
		return filepath.Join(dir, name)
	}
	buildOnce.Do(func() {
		builtDir, buildErr = os.MkdirTemp("", "qpidha-lsb-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", builtDir+"/", "./qpidd", "./qpid-ha", "./qpidd-primary")
		cmd.Dir = qpiddtest.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(builtDir, name)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// initScript is the qpidd init script of the tree.
func initScript() string { return filepath.Join(qpiddtest.Root(), "agents", "init.d", "qpidd") }

// node is one host of a cluster as the scripts see it: its own settings
// file, qpidd.conf, data directory, pid file, lock and hooks directory.
type node struct {
	t         *testing.T
	name      string
	dir       string
	port      int
	conf      string
	sysconfig string
	dataDir   string
	pidFile   string
	lock      string
	hooks     string
	qpidd     string // QPID_BIN
	mu        sync.Mutex
	pids      map[int]bool // every broker pid seen, killed at the end
}

// nodeConfig says how to set up a node.
type nodeConfig struct {
	port       int
	brokersURL string            // ha-brokers-url; "" = not in a cluster
	settings   map[string]string // sysconfig entries over the defaults below
	dir        string            // "" = a temporary directory
}

// newNode writes a node's files; no broker runs yet.
func newNode(t *testing.T, name string, c nodeConfig) *node {
	t.Helper()
	dir := c.dir
	if dir == "" {
		dir = t.TempDir()
	}
	if c.port == 0 {
		c.port = qpiddtest.FreePorts(t, 1)[0]
	}
	n := &node{
		t: t, name: name, dir: dir, port: c.port,
		conf:      filepath.Join(dir, "qpidd.conf"),
		sysconfig: filepath.Join(dir, "sysconfig"),
		dataDir:   filepath.Join(dir, "data"),
		pidFile:   filepath.Join(dir, "run", "qpidd.pid"),
		lock:      filepath.Join(dir, "qpidd.lock"),
		hooks:     filepath.Join(dir, "primary.d"),
		qpidd:     bin(t, "qpidd"),
		pids:      map[int]bool{},
	}
	conf := []string{
		"port=" + strconv.Itoa(c.port),
		"interface=127.0.0.1",
		"auth=no",
		"log-to-file=" + filepath.Join(dir, "qpidd.log"),
		"log-level=info",
	}
	if c.brokersURL != "" {
		conf = append(conf, "ha-cluster=yes", "ha-brokers-url="+c.brokersURL,
			"link-maintenance-interval=0.1", "link-heartbeat-interval=2")
	}
	writeFile(t, n.conf, strings.Join(conf, "\n")+"\n", 0o644)
	settings := map[string]string{
		"QPID_BIN":           n.qpidd,
		"QPID_HA_BIN":        bin(t, "qpid-ha"),
		"QPID_CONFIG":        n.conf,
		"QPID_DATA_DIR":      n.dataDir,
		"QPID_PIDFILE":       n.pidFile,
		"QPID_USER":          "",
		"QPID_LOCK":          n.lock,
		"QPID_LOCK_WAIT":     "30",
		"QPID_TIMEOUT":       "10",
		"QPID_STOP_TIMEOUT":  "5",
		"QPID_PRIMARY_HOOKS": n.hooks,
		"QPID_HOOK_TIMEOUT":  "30",
	}
	for k, v := range c.settings {
		settings[k] = v
	}
	n.writeSettings(n.sysconfig, settings)
	t.Cleanup(n.killAll)
	return n
}

// writeSettings writes a sysconfig file.
func (n *node) writeSettings(path string, settings map[string]string) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("# test settings\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s='%s'\n", k, settings[k])
	}
	writeFile(n.t, path, b.String(), 0o644)
}

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

// result is how a script invocation ended.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout: %s\nstderr: %s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// env is the environment of the scripts: ours without QPID_ variables,
// with QPID_SYSCONFIG naming the node's settings (or another file).
func (n *node) env(sysconfig string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QPID_") {
			env = append(env, kv)
		}
	}
	return append(env, "QPID_SYSCONFIG="+sysconfig)
}

// command prepares the init script ("qpidd") or qpidd-primary with args.
func (n *node) command(ctx context.Context, sysconfig, prog string, args ...string) *exec.Cmd {
	path := initScript()
	if prog == "qpidd-primary" {
		path = bin(n.t, "qpidd-primary")
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = n.env(sysconfig)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a script action with the node's settings and remembers the
// broker it leaves running.
func (n *node) run(prog string, args ...string) result {
	return n.runWith(n.sysconfig, prog, args...)
}

func (n *node) runWith(sysconfig, prog string, args ...string) result {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := n.command(ctx, sysconfig, prog, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else {
			n.t.Fatalf("%s %v: %v", prog, args, err)
		}
	}
	n.track()
	return r
}

// expect runs an action and checks its exit code.
func (n *node) expect(code int, prog string, args ...string) result {
	n.t.Helper()
	r := n.run(prog, args...)
	if r.code != code {
		n.t.Fatalf("%s: %s %s: want exit %d, got %s\n%s", n.name, prog, strings.Join(args, " "), code, r, n.log())
	}
	return r
}

// pid is the pid in the node's pid file, 0 if none.
func (n *node) pid() int {
	data, err := os.ReadFile(n.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// track remembers the broker of the pid file.
func (n *node) track() {
	if pid := n.pid(); pid > 0 && isQpidd(pid, n.qpidd) {
		n.mu.Lock()
		n.pids[pid] = true
		n.mu.Unlock()
	}
}

// killAll kills every broker the node ran (by pid, if it is still that
// broker), also a stopped (SIGSTOP) one.
func (n *node) killAll() {
	n.track()
	n.mu.Lock()
	defer n.mu.Unlock()
	for pid := range n.pids {
		if isQpidd(pid, n.qpidd) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGCONT)
			waitGone(pid, 10*time.Second)
		}
	}
}

// isQpidd reports whether pid is a live process of the broker program.
func isQpidd(pid int, qpidd string) bool {
	if !alive(pid) {
		return false
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return false
	}
	want, _ := filepath.EvalSymlinks(qpidd)
	exe = strings.TrimSuffix(exe, " (deleted)")
	return exe == qpidd || exe == want
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z' && data[i+2] != 'X'
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// log is the broker's log, for failure messages.
func (n *node) log() string {
	data, _ := os.ReadFile(filepath.Join(n.dir, "qpidd.log"))
	s := string(data)
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return n.name + " log:\n" + s
}

// addr is host:port of the node's broker.
func (n *node) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

// haStatus asks the node's broker its HA status with qpid-ha.
func (n *node) haStatus() string {
	out, _ := exec.Command(bin(n.t, "qpid-ha"), "--timeout", "3", "-b", n.addr(), "status").CombinedOutput()
	return strings.TrimSpace(string(out))
}

// waitHAStatus waits until the broker reports one of the statuses.
func (n *node) waitHAStatus(timeout time.Duration, want ...string) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := n.haStatus()
		for _, w := range want {
			if st == w {
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s: HA status %q, want one of %q\n%s", n.name, st, want, n.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// holdLock takes the node's lock as another script would; the returned
// function releases it.
func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+": the test\n"), 0)
	released := false
	release := func() {
		if !released {
			released = true
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// lockFree reports whether nobody holds the lock (a broker that inherited
// it would).
func lockFree(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return true
}
