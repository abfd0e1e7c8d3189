//go:build packagetest

// The .deb on this host (root): make package-test builds it and runs this,
// which installs, upgrades and purges it; the tag keeps it out of make test.

package packaging

import (
	"fmt"
	"net"
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

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// owner is a path's user:group and mode.
func owner(t *testing.T, path string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "stat", "-c", "%U:%G %a", path))
}

func TestDeb(t *testing.T) {
	deb := os.Getenv("QPIDHA_DEB")
	if deb == "" {
		t.Fatal("QPIDHA_DEB: the .deb to test (make package-test sets it)")
	}
	if os.Geteuid() != 0 {
		t.Fatal("installs a package: run as root (make package-test)")
	}
	run(t, "dpkg", "-i", deb)
	t.Cleanup(func() { exec.Command("dpkg", "--purge", "qpidha").Run() })

	// The files, their owners and modes.
	want := map[string]string{
		"/usr/sbin/qpidd":                               "root:root 755",
		"/usr/bin/qpid-ha":                              "root:root 755",
		"/usr/bin/qpid-config":                          "root:root 755",
		"/usr/bin/qpidd-primary":                        "root:root 755",
		"/usr/bin/qpidd-users":                          "root:root 755",
		"/usr/bin/qpid-cluster-conf":                    "root:root 755",
		"/usr/lib/ocf/resource.d/qpid/qpidd":            "root:root 755",
		"/etc/init.d/qpidd":                             "root:root 755",
		"/etc/init.d/qpidd-primary":                     "root:root 755",
		"/lib/systemd/system/qpidd.service":             "root:root 644",
		"/lib/systemd/system/qpidd-primary.service":     "root:root 644",
		"/etc/qpid/qpidd.conf":                          "root:qpidd 640",
		"/etc/default/qpidd":                            "root:root 644",
		"/etc/logrotate.d/qpidha":                       "root:root 644",
		"/var/lib/qpidd":                                "qpidd:qpidd 750",
		"/var/log/qpidd":                                "qpidd:qpidd 750",
		"/usr/share/bash-completion/completions/qpidha": "root:root 644",
		"/usr/share/doc/qpidha/README.md.gz":            "root:root 644",
		"/usr/share/doc/qpidha/examples/manual.toml":    "root:root 644",
		// The metrics' alerting rules and dashboard (examples/ is never
		// compressed).
		"/usr/share/doc/qpidha/examples/prometheus/qpidha-alerts.yml":  "root:root 644",
		"/usr/share/doc/qpidha/examples/grafana/qpidha-dashboard.json": "root:root 644",
	}
	for path, w := range want {
		if got := owner(t, path); got != w {
			t.Errorf("%s: %s, want %s", path, got, w)
		}
	}
	if u, err := user.Lookup("qpidd"); err != nil || u.HomeDir != "/var/lib/qpidd" {
		t.Errorf("the qpidd user: %+v %v", u, err)
	}
	// Installed, not enabled, not running.
	if out, _ := exec.Command("systemctl", "is-enabled", "qpidd.service").Output(); strings.TrimSpace(string(out)) == "enabled" {
		t.Error("qpidd.service is enabled")
	}
	if out, _ := exec.Command("pgrep", "-f", "^/usr/sbin/qpidd").Output(); len(out) > 0 {
		t.Errorf("the installed broker runs after the installation: %s", out)
	}
	if v := run(t, "/usr/sbin/qpidd", "--version"); !strings.Contains(v, "0.14.0") {
		t.Errorf("qpidd --version: %s", v)
	}
	checkBuiltWithGo123(t, "/usr/sbin/qpidd", "/usr/bin/qpid-ha", "/usr/bin/qpidd-primary")
	for _, page := range []string{"qpidd", "qpidd.conf", "qpid-ha", "qpid-config", "qpidd-primary", "qpidd-users", "qpid-cluster-conf"} {
		if p := strings.TrimSpace(run(t, "man", "-w", page)); !strings.HasPrefix(p, "/usr/share/man/") {
			t.Errorf("man -w %s: %s", page, p)
		}
	}

	// The unit's ExecStart, as the unit's user, with its environment file.
	startAsUnit(t)

	// An upgrade (over itself) keeps a changed qpidd.conf.
	conf, err := os.ReadFile("/etc/qpid/qpidd.conf")
	if err != nil {
		t.Fatal(err)
	}
	changed := string(conf) + "\n# changed by the administrator\nlink-heartbeat-interval=10\n"
	if err := os.WriteFile("/etc/qpid/qpidd.conf", []byte(changed), 0o640); err != nil {
		t.Fatal(err)
	}
	run(t, "dpkg", "-i", deb)
	if got, _ := os.ReadFile("/etc/qpid/qpidd.conf"); string(got) != changed {
		t.Errorf("the upgrade changed qpidd.conf")
	}
	if got := owner(t, "/etc/qpid/qpidd.conf"); got != "root:qpidd 640" {
		t.Errorf("qpidd.conf after the upgrade: %s", got)
	}

	// Removal leaves alone a broker the cluster manager runs (not the unit).
	managed := startBroker(t)
	run(t, "dpkg", "--remove", "qpidha")
	if err := managed.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the removal stopped a broker the cluster manager runs: %v", err)
	}
	managed.Process.Signal(syscall.SIGTERM)
	managed.Wait()

	// Purge: nothing of it is left.
	run(t, "dpkg", "--purge", "qpidha")
	for _, path := range append(keys(want), "/etc/qpid/qpidd.conf", "/var/lib/qpidd") {
		if _, err := os.Lstat(path); err == nil {
			t.Errorf("%s is left after the purge", path)
		}
	}
	if out, _ := exec.Command("dpkg-statoverride", "--list", "/etc/qpid/qpidd.conf").Output(); len(out) > 0 {
		t.Errorf("a statoverride is left: %s", out)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// startBroker starts qpidd as the unit (or a cluster manager) would, and
// returns once it listens.
func startBroker(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd, _, _ := launch(t)
	return cmd
}

// startAsUnit runs qpidd as qpidd.service would (its ExecStart line, with
// /etc/default/qpidd's variables, as user qpidd, its runtime directory
// made), checks that it serves, and stops it with SIGTERM: exit 0.
func startAsUnit(t *testing.T) {
	t.Helper()
	cmd, port, log := launch(t)
	if !strings.Contains(log.String(), "serving on port "+strconv.Itoa(port)) {
		t.Errorf("the broker's log does not say it serves:\n%s", log.String())
	}
	if _, err := os.Stat(filepath.Join("/var/lib/qpidd", "journal")); err != nil {
		t.Errorf("no store in /var/lib/qpidd: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("the broker's exit: %v\n%s", err, log.String())
	}
}

// launch runs the unit's ExecStart line with /etc/default/qpidd's
// variables, as user qpidd, its runtime directory made, on a free port,
// and waits until it listens.
func launch(t *testing.T) (*exec.Cmd, int, *qpiddtest.SyncBuffer) {
	t.Helper()
	data, err := os.ReadFile("/lib/systemd/system/qpidd.service")
	if err != nil {
		t.Fatal(err)
	}
	var execStart string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = v
		}
	}
	// What systemd makes for the unit before it starts it.
	for _, line := range strings.Split(string(data), "\n") {
		if dir, ok := strings.CutPrefix(line, "RuntimeDirectory="); ok {
			path := filepath.Join("/run", dir)
			run(t, "install", "-d", "-o", "qpidd", "-g", "qpidd", "-m", "0755", path)
			t.Cleanup(func() { os.RemoveAll(path) })
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	// The environment file, then the line, as systemd expands them.
	script := fmt.Sprintf("set -a; . /etc/default/qpidd; set +a; QPIDD_OPTIONS='--port %d --interface 127.0.0.1'; exec %s",
		port, strings.NewReplacer("${QPID_CONFIG}", "$QPID_CONFIG").Replace(execStart))
	// setpriv execs (runuser would fork): the process is the broker's.
	cmd := exec.Command("setpriv", "--reuid=qpidd", "--regid=qpidd", "--init-groups", "/bin/sh", "-c", script)
	t.Cleanup(func() { cmd.Process.Kill() })
	var log qpiddtest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker started as the unit does does not listen:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd, port, &log
}

// checkBuiltWithGo123: the packages' programs are built with Go 1.23, the
// last that runs on EL6's kernel (the go command reads the version a
// binary was built with).
func checkBuiltWithGo123(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if v := run(t, "go", "version", p); !strings.Contains(v, "go1.23.") {
			t.Errorf("%s was not built with Go 1.23: %s", p, v)
		}
	}
}
