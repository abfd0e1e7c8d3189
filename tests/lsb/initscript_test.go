package lsb

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// shellcheck is the path of shellcheck, installed from Debian when missing
// and we may (root with apt-get).
func shellcheck(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("shellcheck"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err == nil && os.Geteuid() == 0 {
		for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "--no-install-recommends", "shellcheck"}} {
			cmd := exec.Command("apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("apt-get %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		if p, err := exec.LookPath("shellcheck"); err == nil {
			return p
		}
	}
	t.Fatal("shellcheck is not installed (Debian package shellcheck)")
	return ""
}

func TestShellcheck(t *testing.T) {
	sc := shellcheck(t)
	for _, f := range []string{initScript(), filepath.Join(qpiddtest.Root(), "packaging", "sysconfig", "qpidd")} {
		out, err := exec.Command(sc, f).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("shellcheck %s: %v\n%s", f, err, out)
		}
	}
}

// start 0, status 0, start again 0, stop 0, status 3, stop again 0, and
// the restarts.
func TestInitScriptLifecycle(t *testing.T) {
	n := newNode(t, "node", nodeConfig{})
	n.expect(3, "qpidd", "status")
	r := n.expect(0, "qpidd", "start")
	pid := n.pid()
	if pid == 0 || !isQpidd(pid, n.qpidd) || !strings.Contains(r.stdout, "started") {
		t.Fatalf("after start: pid %d\n%s", pid, r)
	}
	if !lockFree(t, n.lock) {
		t.Fatal("the broker holds the scripts' lock (it inherited it)")
	}
	if r := n.expect(0, "qpidd", "status"); !strings.Contains(r.stdout, "is running") {
		t.Errorf("status: %s", r)
	}
	if r := n.expect(0, "qpidd", "start"); !strings.Contains(r.stdout, "already running") || n.pid() != pid {
		t.Errorf("start again: %s", r)
	}
	// restart: a new broker; try-restart, condrestart and force-reload too.
	n.expect(0, "qpidd", "restart")
	for _, a := range []string{"try-restart", "condrestart", "force-reload"} {
		before := n.pid()
		n.expect(0, "qpidd", a)
		if after := n.pid(); after == before || !isQpidd(after, n.qpidd) || alive(before) {
			t.Errorf("%s: broker %d -> %d", a, before, after)
		}
	}
	pid = n.pid()
	if r := n.expect(0, "qpidd", "stop"); !strings.Contains(r.stdout, "stopped") {
		t.Errorf("stop: %s", r)
	}
	if !waitGone(pid, 5*time.Second) {
		t.Fatalf("broker %d still runs after stop", pid)
	}
	if fileExists(n.pidFile) {
		t.Error("stop left the pid file")
	}
	n.expect(3, "qpidd", "status")
	if r := n.expect(0, "qpidd", "stop"); !strings.Contains(r.stdout, "not running") {
		t.Errorf("stop again: %s", r)
	}
	// try-restart of a stopped service leaves it stopped.
	n.expect(0, "qpidd", "try-restart")
	n.expect(3, "qpidd", "status")
}

// A pid file whose process is gone: status 1; stop cleans it up (0).
func TestInitScriptStalePidFile(t *testing.T) {
	n := newNode(t, "node", nodeConfig{})
	n.expect(0, "qpidd", "start")
	pid := n.pid()
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(pid, 5*time.Second) {
		t.Fatal("broker survived SIGKILL")
	}
	if !fileExists(n.pidFile) {
		t.Fatal("the killed broker removed its pid file")
	}
	if r := n.expect(1, "qpidd", "status"); !strings.Contains(r.stdout, "dead") {
		t.Errorf("status: %s", r)
	}
	n.expect(1, "qpidd-primary", "status")
	// A pid reused by another program does not count either.
	writeFile(t, n.pidFile, strconv.Itoa(os.Getpid())+"\n", 0o644)
	n.expect(1, "qpidd", "status")
	n.expect(0, "qpidd", "stop")
	if fileExists(n.pidFile) {
		t.Error("stop left the stale pid file")
	}
	n.expect(3, "qpidd", "status")
	// and start works after a crash.
	n.expect(0, "qpidd", "start")
	n.expect(0, "qpidd", "status")
}

// A hung (SIGSTOPed) broker fails status within the timeout (4, status
// unknown: running but not answering); stop stops it anyway.
func TestInitScriptHungBroker(t *testing.T) {
	n := newNode(t, "node", nodeConfig{settings: map[string]string{"QPID_TIMEOUT": "2"}})
	n.expect(0, "qpidd", "start")
	pid := n.pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	r := n.run("qpidd", "status")
	if r.code != 4 || r.took > 15*time.Second || !strings.Contains(r.stdout, "does not answer") {
		t.Fatalf("status of a hung broker: want 4 within the 2s timeout, got %s", r)
	}
	r = n.run("qpidd-primary", "status")
	if r.code != 4 || r.took > 15*time.Second {
		t.Fatalf("qpidd-primary status of a hung broker: want 4 within the timeout, got %s", r)
	}
	n.expect(0, "qpidd", "stop")
	if !waitGone(pid, 5*time.Second) {
		t.Fatal("the hung broker still runs after stop")
	}
	n.expect(3, "qpidd", "status")

	// qpidd-primary stop too: a hung broker serves as neither role.
	n.expect(0, "qpidd", "start")
	pid = n.pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	if r := n.expect(0, "qpidd-primary", "stop"); !strings.Contains(r.stderr, "does not answer") {
		t.Errorf("qpidd-primary stop of a hung broker: %s", r)
	}
	if !waitGone(pid, 5*time.Second) {
		t.Fatal("the hung broker still runs after qpidd-primary stop")
	}
	n.expect(3, "qpidd-primary", "status")
}

func TestInitScriptActionsAndErrors(t *testing.T) {
	n := newNode(t, "node", nodeConfig{})
	if r := n.expect(3, "qpidd", "reload"); !strings.Contains(r.stderr, "not implemented") {
		t.Errorf("reload: %s", r)
	}
	for _, args := range [][]string{{"bogus"}, {}, {"START"}} {
		if r := n.expect(2, "qpidd", args...); !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("%q: %s", args, r)
		}
	}
	// The broker program missing: start 5; status and stop need it not.
	missing := filepath.Join(n.dir, "missing-sysconfig")
	n.writeSettings(filepath.Join(n.dir, "nobin"), map[string]string{
		"QPID_BIN": filepath.Join(n.dir, "no-such-qpidd"), "QPID_CONFIG": n.conf, "QPID_USER": "",
		"QPID_PIDFILE": n.pidFile, "QPID_LOCK": n.lock, "QPID_DATA_DIR": n.dataDir,
	})
	nobin := filepath.Join(n.dir, "nobin")
	for action, code := range map[string]int{"start": 5, "restart": 5, "status": 3, "stop": 0, "try-restart": 0} {
		if r := n.runWith(nobin, "qpidd", action); r.code != code {
			t.Errorf("no qpidd: %s: want %d, got %s", action, code, r)
		}
	}
	for action, code := range map[string]int{"start": 5, "status": 3, "stop": 0} {
		if r := n.runWith(nobin, "qpidd-primary", action); r.code != code {
			t.Errorf("no qpidd: qpidd-primary %s: want %d, got %s", action, code, r)
		}
	}
	// Settings that cannot be read: 6, status 4.
	for action, code := range map[string]int{"start": 6, "stop": 6, "status": 4} {
		if r := n.runWith(missing, "qpidd", action); r.code != code {
			t.Errorf("no settings: %s: want %d, got %s", action, code, r)
		}
		if r := n.runWith(missing, "qpidd-primary", action); r.code != code {
			t.Errorf("no settings: qpidd-primary %s: want %d, got %s", action, code, r)
		}
	}
	// A broker configuration that cannot be read, or a user that does not
	// exist: 6.
	n.writeSettings(filepath.Join(n.dir, "noconf"), map[string]string{
		"QPID_BIN": n.qpidd, "QPID_CONFIG": filepath.Join(n.dir, "missing.conf"), "QPID_USER": "",
		"QPID_PIDFILE": n.pidFile, "QPID_LOCK": n.lock, "QPID_DATA_DIR": n.dataDir,
	})
	n.writeSettings(filepath.Join(n.dir, "nouser"), map[string]string{
		"QPID_BIN": n.qpidd, "QPID_CONFIG": n.conf, "QPID_USER": "no-such-user-qpidha",
		"QPID_PIDFILE": n.pidFile, "QPID_LOCK": n.lock, "QPID_DATA_DIR": n.dataDir,
	})
	for _, f := range []string{"noconf", "nouser"} {
		for _, prog := range []string{"qpidd", "qpidd-primary"} {
			if r := n.runWith(filepath.Join(n.dir, f), prog, "start"); r.code != 6 {
				t.Errorf("%s: %s start: want 6, got %s", f, prog, r)
			}
		}
	}
	// A setting that is not a number: 6.
	writeFile(t, filepath.Join(n.dir, "badnum"), "QPID_TIMEOUT=ten\nQPID_LOCK="+n.lock+"\n", 0o644)
	if r := n.runWith(filepath.Join(n.dir, "badnum"), "qpidd", "start"); r.code != 6 {
		t.Errorf("bad number: want 6, got %s", r)
	}
	if fileExists(n.pidFile) {
		t.Error("a failed start left a pid file")
	}
}

// Two invocations serialize on the lock: with the lock held, each script
// waits, and goes on when it is released; after QPID_LOCK_WAIT it fails.
func TestScriptsSerializeOnTheLock(t *testing.T) {
	n := newNode(t, "node", nodeConfig{})
	release := holdLock(t, n.lock)
	type ended struct {
		prog string
		r    result
	}
	done := make(chan ended, 2)
	for _, prog := range []string{"qpidd", "qpidd-primary"} {
		go func(prog string) { done <- ended{prog, n.run(prog, "status")} }(prog)
	}
	select {
	case e := <-done:
		t.Fatalf("%s status ran while the lock was held: %s", e.prog, e.r)
	case <-time.After(1500 * time.Millisecond):
	}
	release()
	for i := 0; i < 2; i++ {
		select {
		case e := <-done:
			if e.r.code != 3 {
				t.Errorf("%s status after the release: %s", e.prog, e.r)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the scripts did not go on after the lock was released")
		}
	}

	// With a short wait, they give up and name the holder.
	short := filepath.Join(n.dir, "short")
	n.writeSettings(short, map[string]string{
		"QPID_BIN": n.qpidd, "QPID_CONFIG": n.conf, "QPID_USER": "", "QPID_PIDFILE": n.pidFile,
		"QPID_LOCK": n.lock, "QPID_DATA_DIR": n.dataDir, "QPID_LOCK_WAIT": "1",
	})
	holdLock(t, n.lock)
	for _, prog := range []string{"qpidd", "qpidd-primary"} {
		r := n.runWith(short, prog, "start")
		if r.code != 1 || !strings.Contains(r.stderr, "the test") {
			t.Errorf("%s start with the lock held: want 1 naming the holder, got %s", prog, r)
		}
		if r := n.runWith(short, prog, "status"); r.code != 4 {
			t.Errorf("%s status with the lock held: want 4, got %s", prog, r)
		}
	}
	if n.pid() != 0 {
		t.Error("a broker was started without the lock")
	}
}

// As root with QPID_USER set, the broker runs as that user (the init
// script through runuser, qpidd-primary directly).
func TestBrokerRunsAsQpidUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Fatal("runuser (util-linux) is not installed")
	}
	// Directories nobody may enter, with a copy of the broker program.
	dir, err := os.MkdirTemp("", "qpidha-lsb-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	qpidd := filepath.Join(dir, "qpidd")
	data, err := os.ReadFile(bin(t, "qpidd"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, qpidd, string(data), 0o755)
	port := qpiddtest.FreePorts(t, 1)[0]
	n := newNode(t, "node", nodeConfig{dir: dir, port: port, brokersURL: "127.0.0.1:" + strconv.Itoa(port),
		settings: map[string]string{"QPID_BIN": qpidd, "QPID_USER": "nobody"}})
	n.qpidd = qpidd
	// The log file goes in the data directory, which the scripts create
	// for the user.
	conf, _ := os.ReadFile(n.conf)
	writeFile(t, n.conf, strings.ReplaceAll(string(conf), filepath.Join(dir, "qpidd.log"), filepath.Join(n.dataDir, "qpidd.log")), 0o644)
	uidOf := func(pid int) string {
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		for _, l := range strings.Split(string(st), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
				return f[1]
			}
		}
		return ""
	}
	for _, prog := range []string{"qpidd", "qpidd-primary"} {
		n.expect(0, prog, "start")
		if got := uidOf(n.pid()); got != u.Uid {
			t.Errorf("%s start: the broker runs as uid %s, want %s (nobody)", prog, got, u.Uid)
		}
		n.expect(0, prog, "stop")
		n.expect(3, prog, "status")
	}
}

// rgmanager ran start and stop at once and lost track of the broker: with
// the lock, concurrent starts and stops of both scripts always leave the
// pid file naming the one broker that runs, or no broker at all.
func TestConcurrentActionsKeepTrackOfTheBroker(t *testing.T) {
	n := cluster(t, 1)[0]
	actions := [][2]string{
		{"qpidd", "start"}, {"qpidd", "stop"}, {"qpidd-primary", "start"}, {"qpidd-primary", "stop"},
		{"qpidd", "restart"}, {"qpidd-primary", "start"},
	}
	for round := 0; round < 2; round++ {
		done := make(chan result, len(actions))
		for _, a := range actions {
			go func(prog, action string) { done <- n.run(prog, action) }(a[0], a[1])
		}
		for range actions {
			r := <-done
			if r.code != 0 {
				t.Errorf("round %d: an action failed: %s", round, r)
			}
		}
		running := brokersWithDataDir(n.dataDir)
		pid := n.pid()
		switch {
		case len(running) > 1:
			t.Fatalf("round %d: brokers %v run on one data directory", round, running)
		case len(running) == 1 && running[0] != pid:
			t.Fatalf("round %d: broker %d runs but the pid file names %d", round, running[0], pid)
		case len(running) == 0 && pid != 0 && alive(pid):
			t.Fatalf("round %d: the pid file names %d, which is not the broker", round, pid)
		}
		for _, p := range running {
			n.mu.Lock()
			n.pids[p] = true
			n.mu.Unlock()
		}
	}
}

// brokersWithDataDir lists the live processes whose command line names
// the data directory.
func brokersWithDataDir(dataDir string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if a == "--data-dir" && i+1 < len(args) && args[i+1] == dataDir && strings.HasSuffix(args[0], "qpidd") {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
