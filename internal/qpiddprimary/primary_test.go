package qpiddprimary

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/testpki"
)

func write(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

// cleanEnv is the environment without the variables of the settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "QPID") {
			env = append(env, kv)
		}
	}
	return env
}

func TestReadSettingsDefaults(t *testing.T) {
	s, err := ReadSettings("", cleanEnv())
	if err != nil {
		t.Fatal(err)
	}
	want := &Settings{
		Bin: "/usr/sbin/qpidd", HABin: "/usr/bin/qpid-ha", Config: "/etc/qpid/qpidd.conf",
		DataDir: "/var/lib/qpidd", PidFile: "/var/run/qpidd/qpidd.pid", User: "qpidd",
		Timeout: 10 * time.Second, StopTimeout: 30 * time.Second, Lock: "/var/lock/qpidd.lock",
		LockWait: 300 * time.Second, Hooks: "/etc/qpid/primary.d", HookTimeout: 120 * time.Second,
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", s, want)
	}
}

// The packaged file sets the defaults, as its comments say.
func TestPackagedSysconfigIsTheDefaults(t *testing.T) {
	path := filepath.Join("..", "..", "packaging", "sysconfig", "qpidd")
	s, err := ReadSettings(path, cleanEnv())
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ReadSettings("", cleanEnv())
	d.File = path
	if !reflect.DeepEqual(s, d) {
		t.Fatalf("packaged file:\n got %+v\nwant %+v", s, d)
	}
}

func TestReadSettingsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sysconfig")
	write(t, path, `# a comment
QPID_BIN=/opt/qpid/sbin/qpidd
QPID_DATA_DIR="/srv/qpid data"
base=/srv/qpid
QPID_CONFIG=$base/qpidd.conf
QPID_USER=
QPID_BROKER=''
QPIDD_OPTIONS="--port 5673   --log-level debug *"
QPID_TIMEOUT=2.5
QPID_STOP_TIMEOUT=
QPID_PRIMARY_HOOKS=
echo "noise on stdout"
`, 0o644)
	s, err := ReadSettings(path, append(cleanEnv(), "QPID_LOCK=/tmp/from-env.lock", "QPID_BIN=/from/env"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Bin != "/opt/qpid/sbin/qpidd" || s.DataDir != "/srv/qpid data" || s.Config != "/srv/qpid/qpidd.conf" {
		t.Errorf("paths: %+v", s)
	}
	if s.User != "" || s.Broker != "" || s.Hooks != "" {
		t.Errorf("an empty QPID_USER, QPID_BROKER, QPID_PRIMARY_HOOKS must stay empty: %+v", s)
	}
	if s.StopTimeout != 30*time.Second {
		t.Errorf("an empty QPID_STOP_TIMEOUT means the default: %v", s.StopTimeout)
	}
	if s.Timeout != 2500*time.Millisecond {
		t.Errorf("QPID_TIMEOUT: %v", s.Timeout)
	}
	if s.Lock != "/tmp/from-env.lock" {
		t.Errorf("the environment seeds what the file leaves out: lock %q", s.Lock)
	}
	if want := []string{"--port", "5673", "--log-level", "debug", "*"}; !reflect.DeepEqual(s.Options, want) {
		t.Errorf("QPIDD_OPTIONS: %q, want %q (split on blanks, no globbing)", s.Options, want)
	}
	args := s.BrokerArgs()
	if args[len(args)-2] != "--pidfile" || args[0] != "--config" {
		t.Errorf("broker args %q", args)
	}
}

func TestReadSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"syntax":  "QPID_BIN=\"unterminated\n",
		"timeout": "QPID_TIMEOUT=10x\n",
		"whole":   "QPID_STOP_TIMEOUT=1.5\n",
		"fails":   "false\nexit 3\n",
	} {
		path := filepath.Join(dir, name)
		write(t, path, text, 0o644)
		if _, err := ReadSettings(path, cleanEnv()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ReadSettings(filepath.Join(dir, "missing"), cleanEnv()); err == nil {
		t.Error("missing file: no error")
	}
}

func TestSysconfigPath(t *testing.T) {
	saved := DefaultSysconfigs
	defer func() { DefaultSysconfigs = saved }()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "sysconfig"), filepath.Join(dir, "default")
	DefaultSysconfigs = []string{a, b}
	if p, explicit := SysconfigPath("", nil); p != "" || explicit {
		t.Errorf("none exists: %q %v", p, explicit)
	}
	write(t, b, "", 0o644)
	if p, _ := SysconfigPath("", nil); p != b {
		t.Errorf("got %q, want %q", p, b)
	}
	write(t, a, "", 0o644)
	if p, _ := SysconfigPath("", nil); p != a {
		t.Errorf("got %q, want %q", p, a)
	}
	if p, explicit := SysconfigPath("", []string{"QPID_SYSCONFIG=/x"}); p != "/x" || !explicit {
		t.Errorf("QPID_SYSCONFIG: %q", p)
	}
	if p, explicit := SysconfigPath("/y", []string{"QPID_SYSCONFIG=/x"}); p != "/y" || !explicit {
		t.Errorf("--config: %q", p)
	}
}

func TestLockWaitsAndNamesTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l, err := TakeLock(path, 0, "test holder")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = TakeLock(path, 300*time.Millisecond, "second")
	busy, ok := err.(*LockBusyError)
	if !ok {
		t.Fatalf("second lock: %v, want a *LockBusyError", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("waited %v, want about 300ms", d)
	}
	if !strings.Contains(busy.Error(), "test holder") || !strings.Contains(busy.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("message %q does not name the holder", busy)
	}
	got := make(chan error, 1)
	go func() {
		l2, err := TakeLock(path, 10*time.Second, "third")
		l2.Release()
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	l.Release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the lock was not taken after its release")
	}
}

// The lock is flock(1)'s: the init script's flock command excludes us.
func TestLockIsFlockCompatible(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Fatal("flock(1) (util-linux) is not installed")
	}
	path := filepath.Join(t.TempDir(), "lock")
	l, err := TakeLock(path, 0, "go")
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command(flock, "-n", path, "true").Run(); err == nil {
		t.Fatal("flock -n took the lock we hold")
	}
	l.Release()
	if out, err := exec.Command(flock, "-n", path, "true").CombinedOutput(); err != nil {
		t.Fatalf("flock -n after release: %v %s", err, out)
	}
}

func TestHooksOrderAndSkips(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"20-b", "10-a.sh", "30-c~", "40-d.rpmsave", ".hidden", "50-e.dpkg-old", "05-first"} {
		write(t, filepath.Join(dir, n), "#!/bin/sh\n", 0o755)
	}
	write(t, filepath.Join(dir, "15-not-executable"), "#!/bin/sh\n", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "12-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "20-b"), filepath.Join(dir, "25-link")); err != nil {
		t.Fatal(err)
	}
	hooks, err := Hooks(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range hooks {
		names = append(names, filepath.Base(h))
	}
	if want := []string{"05-first", "10-a.sh", "20-b", "25-link"}; !reflect.DeepEqual(names, want) {
		t.Errorf("hooks %q, want %q", names, want)
	}
	if hooks, err := Hooks(filepath.Join(dir, "missing")); err != nil || len(hooks) != 0 {
		t.Errorf("missing directory: %v %v", hooks, err)
	}
	if hooks, err := Hooks(""); err != nil || len(hooks) != 0 {
		t.Errorf("no directory: %v %v", hooks, err)
	}
}

func TestRunHooks(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	write(t, filepath.Join(dir, "h", "10-one"), "#!/bin/sh\necho \"one $QPID_BROKER\" >>"+log+"\necho out-one\n", 0o755)
	write(t, filepath.Join(dir, "h", "20-two"), "#!/bin/sh\necho \"two $QPID_HA_STATUS\" >>"+log+"\necho err-two >&2\n", 0o755)
	hooks, _ := Hooks(filepath.Join(dir, "h"))
	var out, errOut bytes.Buffer
	env := withEnv(append(cleanEnv(), "QPID_BROKER=old"), "QPID_BROKER=host:1", "QPID_HA_STATUS=ready")
	if err := RunHooks(hooks, env, 10*time.Second, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(log)
	if string(data) != "one host:1\ntwo ready\n" {
		t.Errorf("hooks ran as %q", data)
	}
	if out.String() != "out-one\n" || errOut.String() != "err-two\n" {
		t.Errorf("output %q / %q", out.String(), errOut.String())
	}

	// A failing hook stops the rest and is named.
	write(t, filepath.Join(dir, "h", "15-fail"), "#!/bin/sh\nexit 3\n", 0o755)
	_ = os.Remove(log)
	hooks, _ = Hooks(filepath.Join(dir, "h"))
	err := RunHooks(hooks, env, 10*time.Second, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "15-fail") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("failing hook: %v", err)
	}
	if data, _ := os.ReadFile(log); string(data) != "one host:1\n" {
		t.Errorf("after the failure: %q", data)
	}

	// A hook that hangs is killed with its children.
	hang := filepath.Join(dir, "hang")
	write(t, filepath.Join(hang, "10-hang"), "#!/bin/sh\nsleep 60 &\necho $! >"+filepath.Join(dir, "child")+"\nsleep 60\n", 0o755)
	hooks, _ = Hooks(hang)
	start := time.Now()
	err = RunHooks(hooks, env, 500*time.Millisecond, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("hanging hook: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "child")); err == nil {
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		deadline := time.Now().Add(5 * time.Second)
		for pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("the hook's child %d survived", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(data), ')')
	return i < 0 || i+2 >= len(data) || data[i+2] == 'Z' || data[i+2] == 'X'
}

func run(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsage(t *testing.T) {
	env := cleanEnv()
	for _, args := range [][]string{
		nil, {"bogus"}, {"start", "stop"}, {"--nope", "status"}, {"status", "--timeout"}, {"-b"},
		{"--config=", "status"},
	} {
		code, _, errOut := run(t, env, args...)
		if code != ExitUsage || !strings.Contains(errOut, "Usage: qpidd-primary") {
			t.Errorf("%q: exit %d, %q; want 2 with the usage", args, code, errOut)
		}
	}
	code, out, _ := run(t, env, "--help")
	if code != 0 || !strings.Contains(out, "Usage: qpidd-primary") || !strings.Contains(out, "BEFORE the promotion") {
		t.Errorf("--help: %d %q", code, out)
	}
	if code, _, _ := run(t, env, "reload"); code != ExitUnimplemented {
		t.Errorf("reload: %d, want 3", code)
	}
}

// status, stop and start without a broker, from pid files alone.
func TestActionsWithoutBroker(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sysconfig")
	pidFile := filepath.Join(dir, "run", "qpidd.pid")
	write(t, sys, "QPID_BIN="+filepath.Join(dir, "no-qpidd")+"\nQPID_CONFIG=\nQPID_USER=\nQPID_PIDFILE="+pidFile+
		"\nQPID_LOCK="+filepath.Join(dir, "lock")+"\nQPID_DATA_DIR="+filepath.Join(dir, "data")+"\n", 0o644)
	env := append(cleanEnv(), "QPID_SYSCONFIG="+sys)

	if code, out, _ := run(t, env, "status"); code != StatusNotRunning || !strings.Contains(out, "not running") {
		t.Errorf("status, no pid file: %d %q", code, out)
	}
	// A pid file naming a dead process.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	write(t, pidFile, strconv.Itoa(cmd.Process.Pid)+"\n", 0o644)
	if code, out, _ := run(t, env, "status"); code != StatusNotPrimary || !strings.Contains(out, "dead") {
		t.Errorf("status, stale pid file: %d %q", code, out)
	}
	// A pid file naming a live process of another program.
	write(t, pidFile, strconv.Itoa(os.Getpid())+"\n", 0o644)
	if code, _, _ := run(t, env, "status"); code != StatusNotPrimary {
		t.Errorf("status, pid of another program: %d", code)
	}
	if code, _, _ := run(t, env, "stop"); code != 0 {
		t.Errorf("stop, stale pid file: %d", code)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("stop left the stale pid file")
	}
	if code, _, _ := run(t, env, "stop"); code != 0 {
		t.Errorf("stop again: %d", code)
	}
	if code, _, errOut := run(t, env, "start"); code != ExitNotInstalled || !strings.Contains(errOut, "not installed") {
		t.Errorf("start without the program: %d %q", code, errOut)
	}
	for _, a := range []string{"try-restart", "condrestart", "force-reload"} {
		if code, _, _ := run(t, env, a); code != 0 {
			t.Errorf("%s, not running: %d", a, code)
		}
	}
	// Settings that cannot be read: 6, and 4 for status.
	bad := append(cleanEnv(), "QPID_SYSCONFIG="+filepath.Join(dir, "missing"))
	if code, _, _ := run(t, bad, "start"); code != ExitNotConfigured {
		t.Errorf("start, missing settings: %d, want 6", code)
	}
	if code, _, _ := run(t, bad, "status"); code != StatusUnknown {
		t.Errorf("status, missing settings: %d, want 4", code)
	}
	// --config names the settings instead.
	if code, _, _ := run(t, bad, "--config", sys, "status"); code != StatusNotRunning {
		t.Errorf("status --config: %d, want 3", code)
	}
}

func TestLockHeldFailsAfterTheWait(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sysconfig")
	lock := filepath.Join(dir, "lock")
	write(t, sys, "QPID_CONFIG=\nQPID_USER=\nQPID_PIDFILE="+filepath.Join(dir, "pid")+"\nQPID_LOCK="+lock+"\nQPID_LOCK_WAIT=0.3\n", 0o644)
	env := append(cleanEnv(), "QPID_SYSCONFIG="+sys)
	l, err := TakeLock(lock, 0, "qpidd start")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if code, _, errOut := run(t, env, "stop"); code != ExitFailure || !strings.Contains(errOut, "qpidd start") {
		t.Errorf("stop with the lock held: %d %q", code, errOut)
	}
	if code, _, _ := run(t, env, "status"); code != StatusUnknown {
		t.Errorf("status with the lock held: %d, want 4", code)
	}
}

func TestTargetAddress(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "qpidd.conf")
	write(t, conf, "port=5999\nha-username=hauser\nha-password=secret\nha-mechanism=PLAIN\n", 0o644)
	s := &Settings{Config: conf, DataDir: dir, PidFile: filepath.Join(dir, "pid"), Timeout: time.Second}
	tg, err := s.Target("", tlsFiles{}, cleanEnv())
	if err != nil {
		t.Fatal(err)
	}
	if tg.addr != "localhost:5999" || tg.url != "hauser/secret@localhost:5999" || tg.opts.Mechanism != "PLAIN" || !tg.opts.Admin {
		t.Errorf("target %+v", tg)
	}
	s.Options = []string{"--port", "6001", "--interface", "127.0.0.2", "--auth", "no"}
	if tg, err = s.Target("", tlsFiles{}, cleanEnv()); err != nil || tg.url != "127.0.0.2:6001" {
		t.Errorf("from QPIDD_OPTIONS: %+v %v", tg, err)
	}
	s.Broker = "node1"
	if tg, err = s.Target("", tlsFiles{}, cleanEnv()); err != nil || tg.url != "node1:6001" {
		t.Errorf("QPID_BROKER without a port: %+v %v", tg, err)
	}
	if tg, err = s.Target("u/p@node2:7000", tlsFiles{}, cleanEnv()); err != nil || tg.url != "u/p@node2:7000" || tg.addr != "node2:7000" {
		t.Errorf("-b: %+v %v", tg, err)
	}
	s.Options = []string{"--port", "0"}
	s.Broker = ""
	if _, err = s.Target("", tlsFiles{}, cleanEnv()); err == nil {
		t.Error("port 0 without an address: no error")
	}
}

func TestTargetTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "test")
	srv := ca.Broker(t, "broker")
	conf := filepath.Join(dir, "qpidd.conf")
	write(t, conf, "port=5999\nssl-port=5998\nauth=no\nssl-ca-file="+ca.CertFile+"\nssl-cert-file="+srv.CertFile+"\nssl-key-file="+srv.KeyFile+"\n", 0o644)
	s := &Settings{Config: conf, DataDir: dir, PidFile: filepath.Join(dir, "pid"), Timeout: time.Second}
	// The broker's files: its CA, its certificate as the client's.
	tg, err := s.Target("ssl:localhost", tlsFiles{}, cleanEnv())
	if err != nil {
		t.Fatal(err)
	}
	if tg.url != "ssl:localhost:5998" || tg.opts.TLSConfig == nil || tg.opts.TLSConfig.RootCAs == nil || tg.opts.TLSConfig.GetClientCertificate == nil {
		t.Fatalf("from the broker's options: %+v", tg)
	}
	// The command line's win.
	tg, err = s.Target("ssl:localhost:1", tlsFiles{cert: srv.CertFile, key: srv.KeyFile, ca: ca.CertFile}, cleanEnv())
	if err != nil || tg.url != "ssl:localhost:1" || len(tg.opts.TLSConfig.Certificates) != 1 || tg.opts.TLSConfig.GetClientCertificate != nil {
		t.Fatalf("from the command line: %+v %v", tg, err)
	}
	if _, err = s.Target("", tlsFiles{ca: filepath.Join(dir, "missing.pem")}, cleanEnv()); err == nil {
		t.Fatal("a missing --ssl-ca-file: no error")
	}
	// An SSL-only broker: localhost over TLS at its ssl-port, with no
	// QPID_BROKER or -b.
	write(t, conf, "port=5999\nssl-port=5998\nlisten-disable=tcp\nrequire-encryption=yes\nauth=no\nssl-ca-file="+ca.CertFile+"\nssl-cert-file="+srv.CertFile+"\nssl-key-file="+srv.KeyFile+"\n", 0o644)
	if tg, err = s.Target("", tlsFiles{}, cleanEnv()); err != nil || tg.url != "ssl:localhost:5998" || tg.opts.TLSConfig == nil {
		t.Fatalf("an SSL-only broker: %+v %v", tg, err)
	}
	inv, err := parseArgs([]string{"--ssl-ca-file", "ca.pem", "--ssl-certificate=c.pem", "--ssl-key", "k.pem", "status"})
	if err != nil || inv.tls != (tlsFiles{cert: "c.pem", key: "k.pem", ca: "ca.pem"}) || inv.action != "status" {
		t.Fatalf("parseArgs: %+v %v", inv, err)
	}
	if code, _, errOut := run(t, cleanEnv(), "--ssl-key", "k.pem", "status"); code != ExitUsage || !strings.Contains(errOut, "--ssl-key needs --ssl-certificate") {
		t.Fatalf("--ssl-key alone: %d %q", code, errOut)
	}
}
