// Package qpidha runs the qpid-ha binary against real qpidd processes (an
// HA cluster on loopback, standalone brokers) and checks what a cluster
// manager and an administrator see: output, messages and exit statuses.
package qpidha

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// bin is the path of qpid-ha: qpiddtest's, or, when $QPIDHA_BIN lacks it
// (a Makefile building only some commands), built here once.
func bin(t *testing.T) string {
	t.Helper()
	p := qpiddtest.Bin(t, "qpid-ha")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qpidha-qpid-ha-")
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "./qpid-ha")
		cmd.Dir = qpiddtest.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
		builtBin = dir
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(builtBin, "qpid-ha")
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout: %q\nstderr: %q", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// run runs qpid-ha with args and the environment plus env.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("qpid-ha %q: %v", args, err)
	}
	return r
}

func qpidHA(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, nil, args...)
}

// want runs qpid-ha and checks its exit status.
func want(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := qpidHA(t, args...)
	if r.code != code {
		t.Fatalf("qpid-ha %q: want exit %d, got %s", args, code, r)
	}
	return r
}

// failure checks a failure's form: exit 1 and one line "Error: ...".
func failure(t *testing.T, r result, contains string) {
	t.Helper()
	if r.code != 1 || !strings.HasPrefix(r.stderr, "Error: ") || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, contains) {
		t.Fatalf("want exit 1 and one line \"Error: ...%s...\", got %s", contains, r)
	}
}

// statusOf is what `qpid-ha status` prints for a broker.
func statusOf(t *testing.T, b *qpiddtest.Broker) string {
	t.Helper()
	r := qpidHA(t, "status", "-b", b.Addr())
	if r.code != 0 {
		return r.String()
	}
	return strings.TrimSpace(r.stdout)
}

// waitStatus polls `qpid-ha status` until it prints st.
func waitStatus(t *testing.T, b *qpiddtest.Broker, st string) {
	t.Helper()
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		if got := statusOf(t, b); got != st {
			return fmt.Errorf("%s: status %q, want %q\n%s", b.Addr(), got, st, b.Log())
		}
		return nil
	})
}

func TestCluster(t *testing.T) {
	c := qpiddtest.StartCluster(t, 3, "--ha-replicate", "all")
	b1, b2, b3 := c.Brokers[0], c.Brokers[1], c.Brokers[2]

	for _, b := range c.Brokers {
		if st := statusOf(t, b); st != "joining" {
			t.Fatalf("%s before promotion: %s", b.Addr(), st)
		}
		want(t, 0, "status", "--expect=backup", "-b", b.Addr())
		want(t, 0, "status", "--expect", "joining", "-b", b.Addr())
		want(t, 1, "status", "--expect=primary", "-b", b.Addr())
		want(t, 1, "status", "--is-primary", "-b", b.Addr())
		want(t, 0, "ping", "-b", b.Addr()) // a backup admits qpid-ha
	}

	// promote is the cluster manager's: refused without --cluster-manager.
	r := qpidHA(t, "promote", "-b", b1.Addr())
	failure(t, r, "cluster manager")
	if !strings.Contains(r.stderr, "--cluster-manager") {
		t.Fatalf("the refusal should say how a cluster manager calls promote: %s", r)
	}
	if st := statusOf(t, b1); st != "joining" {
		t.Fatalf("promote without --cluster-manager changed the status: %s", st)
	}

	if r := want(t, 0, "--cluster-manager", "promote", "-b", b1.Addr()); r.stdout != "" || r.stderr != "" {
		t.Fatalf("promote prints nothing: %s", r)
	}
	waitStatus(t, b1, "active")
	waitStatus(t, b2, "ready")
	waitStatus(t, b3, "ready")

	// Status checks, as a cluster manager's status action uses them.
	for _, tc := range []struct {
		b      *qpiddtest.Broker
		expect string
		code   int
	}{
		{b1, "primary", 0}, {b2, "primary", 1}, {b3, "primary", 1},
		{b1, "backup", 1}, {b2, "backup", 0}, {b3, "backup", 0},
		{b1, "active", 0}, {b2, "active", 1},
		{b1, "ready", 1}, {b2, "ready", 0},
		{b1, "ACTIVE", 0}, {b2, "joining", 1},
	} {
		r := want(t, tc.code, "status", "--expect="+tc.expect, "-b", tc.b.Addr())
		if r.stdout != "" || r.stderr != "" {
			t.Fatalf("--expect prints nothing: %s", r)
		}
	}
	want(t, 0, "status", "--is-primary", "-b", b1.Addr())
	want(t, 1, "status", "--is-primary", "-b", b2.Addr())
	// Options may follow the command or precede it.
	want(t, 0, "-b", b1.Addr(), "--expect", "primary", "status")

	// status --all: one line per address of ha-brokers-url, from any member.
	wantAll := fmt.Sprintf("%s active\n%s ready\n%s ready\n", b1.Addr(), b2.Addr(), b3.Addr())
	for _, b := range c.Brokers {
		if r := want(t, 0, "status", "--all", "-b", b.Addr()); r.stdout != wantAll {
			t.Fatalf("status --all from %s: %s\nwant %q", b.Addr(), r, wantAll)
		}
	}

	// query: %-20s %s lines.
	r = want(t, 0, "query", "-b", b1.Addr())
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("query: %s", r)
	}
	for i, l := range []string{"Status:              active", "Broker ID:           ", "Brokers URL:         " + c.URL,
		"Public URL:          ", "Replicate:           all", "Position:            ", "Store:               ok"} {
		if !strings.HasPrefix(lines[i], l) {
			t.Errorf("query line %d: %q, want %q...", i, lines[i], l)
		}
	}
	if id := strings.TrimSpace(strings.TrimPrefix(lines[1], "Broker ID:")); id == "" {
		t.Errorf("query shows no broker id: %s", r)
	}
	if r := want(t, 0, "query", "-b", b2.Addr()); !strings.Contains(r.stdout, "\nIn ready set:        yes\n") {
		t.Errorf("query of a ready backup does not say it is in the ready set: %s", r)
	}
	r = want(t, 0, "query", "--all", "-b", b2.Addr())
	for _, b := range c.Brokers {
		if !strings.Contains(r.stdout, fmt.Sprintf("%-20s %s\n", "Address:", b.Addr())) {
			t.Fatalf("query --all lacks %s: %s", b.Addr(), r)
		}
	}
	if strings.Count(r.stdout, "Status:") != 3 || strings.Count(r.stdout, "Status:              active\n") != 1 {
		t.Fatalf("query --all: %s", r)
	}

	// A second primary is refused by the broker.
	failure(t, qpidHA(t, "--cluster-manager", "promote", "-b", b2.Addr()), "primary")
	if st := statusOf(t, b2); st != "ready" {
		t.Fatalf("refused promotion changed %s: %s", b2.Addr(), st)
	}
	// Promoting the primary again is harmless.
	want(t, 0, "--cluster-manager", "promote", "-b", b1.Addr())

	// A hung broker fails within the timeout, whatever the command.
	b3.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { b3.Signal(syscall.SIGCONT) })
	for _, args := range [][]string{
		{"status", "--timeout", "1"},
		{"status", "--timeout", "1", "--expect=backup"},
		{"ping", "--timeout", "1"},
		{"query", "--timeout", "1"},
		{"--cluster-manager", "promote", "--timeout", "1"},
	} {
		r := qpidHA(t, append(args, "-b", b3.Addr())...)
		failure(t, r, b3.Addr())
		if r.took > 3*time.Second {
			t.Fatalf("qpid-ha %q on a hung broker took %v (timeout 1s)", args, r.took)
		}
	}
	// status --all shows the hung member's error and still the others.
	r = want(t, 0, "status", "--all", "--timeout", "1", "-b", b1.Addr())
	if r.took > 3*time.Second {
		t.Fatalf("status --all with a hung member took %v", r.took)
	}
	lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 || lines[0] != b1.Addr()+" active" || lines[1] != b2.Addr()+" ready" ||
		!strings.HasPrefix(lines[2], b3.Addr()+" ") || strings.HasSuffix(lines[2], " ready") {
		t.Fatalf("status --all with %s hung: %s", b3.Addr(), r)
	}
	b3.Signal(syscall.SIGCONT)
	waitStatus(t, b3, "ready")
}

func TestStandaloneAndConfig(t *testing.T) {
	b := qpiddtest.Start(t)
	if st := statusOf(t, b); st != "standalone" {
		t.Fatalf("a broker without ha-cluster: %s", st)
	}
	want(t, 0, "status", "--expect=standalone", "-b", b.Addr())
	want(t, 1, "status", "--expect=backup", "-b", b.Addr())
	want(t, 1, "status", "--is-primary", "-b", b.Addr())
	want(t, 0, "ping", "-b", b.Addr())
	if r := want(t, 0, "status", "--all", "-b", b.Addr()); r.stdout != "standalone\n" {
		t.Fatalf("status --all of a standalone broker: %s", r)
	}
	if r := want(t, 0, "query", "-b", b.Addr()); !strings.HasPrefix(r.stdout, "Status:              standalone\n") {
		t.Fatalf("query of a standalone broker: %s", r)
	}
	failure(t, qpidHA(t, "--cluster-manager", "promote", "-b", b.Addr()), "not in a cluster")

	// --config: the port from port=, the timeout from link-heartbeat-interval.
	dir := t.TempDir()
	conf := filepath.Join(dir, "qpidd.conf")
	port := strconv.Itoa(b.Port)
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# the broker's configuration\nport=" + port + "\nlink-heartbeat-interval=1\nha-cluster=no\n")
	if r := want(t, 0, "status", "--config", conf); r.stdout != "standalone\n" {
		t.Fatalf("status --config: %s", r)
	}
	want(t, 0, "ping", "--config", conf, "-b", "127.0.0.1") // -b without a port takes the file's
	want(t, 0, "ping", "--config", conf, "-b", "127.0.0.1:"+port)
	closed := strconv.Itoa(qpiddtest.FreePorts(t, 1)[0])
	failure(t, qpidHA(t, "ping", "--config", conf, "-b", "127.0.0.1:"+closed), "connection refused") // -b's port wins
	// QPID_<OPTION> variables override the file.
	write("port=" + closed + "\n")
	failure(t, qpidHA(t, "ping", "--config", conf), "connection refused")
	if r := run(t, []string{"QPID_PORT=" + port}, "ping", "--config", conf); r.code != 0 {
		t.Fatalf("QPID_PORT over the file's port: %s", r)
	}
	write("port=" + port + "\nlink-heartbeat-interval=1\n")

	// A hung broker: the file's heartbeat interval is the timeout.
	b.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { b.Signal(syscall.SIGCONT) })
	r := qpidHA(t, "status", "--config", conf)
	failure(t, r, "")
	if r.took > 3*time.Second {
		t.Fatalf("status --config (link-heartbeat-interval=1) on a hung broker took %v", r.took)
	}
	b.Signal(syscall.SIGCONT)
	want(t, 0, "ping", "--config", conf)

	failure(t, qpidHA(t, "status", "--config", filepath.Join(dir, "missing.conf")), "missing.conf")
}

func TestPingClosedPort(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(qpiddtest.FreePorts(t, 1)[0])
	failure(t, qpidHA(t, "ping", "-b", addr), "connection refused")
	failure(t, qpidHA(t, "status", "-b", addr), "cannot connect to "+addr)
}

func TestUsage(t *testing.T) {
	r := want(t, 0, "--help")
	if !strings.Contains(r.stdout, "status") || !strings.Contains(r.stdout, "query") || strings.Contains(r.stdout, "promote") || strings.Contains(r.stdout, "Cluster manager only") {
		t.Fatalf("--help lists the commands but not promote: %s", r)
	}
	r = want(t, 0, "--cluster-manager", "--help")
	if !strings.Contains(r.stdout, "  promote ") || !strings.Contains(r.stdout, "Cluster manager only") {
		t.Fatalf("--cluster-manager --help lists promote: %s", r)
	}
	if r := want(t, 0, "status", "--help"); !strings.Contains(r.stdout, "--expect") || !strings.Contains(r.stdout, "--is-primary") {
		t.Fatalf("status --help: %s", r)
	}
	failure(t, qpidHA(t, "promote", "--help"), "cluster manager")

	for _, args := range [][]string{
		{"frob"},
		{},
		{"status", "--bogus"},
		{"status", "--expect"},
		{"status", "--expect=soon"},
		{"status", "--expect=ready", "--is-primary"},
		{"status", "--all", "--is-primary"},
		{"query", "--expect=ready"},
		{"ping", "--all"},
		{"status", "extra"},
		{"replicate", "node1"},
		{"status", "--timeout", "soon"},
		{"status", "-b", "host:port"},
		{"status", "--ssl-key", "k"},
	} {
		r := qpidHA(t, args...)
		if r.code != 2 || r.stdout != "" || !strings.HasPrefix(r.stderr, "Usage: qpid-ha") || !strings.Contains(r.stderr, "qpid-ha: error: ") {
			t.Errorf("qpid-ha %q: want a usage error (exit 2), got %s", args, r)
		}
	}
}

// TestAuthentication: a broker with authentication; qpid-ha takes the HA
// credentials from --config, as the init scripts call it.
func TestAuthentication(t *testing.T) {
	users := filepath.Join(t.TempDir(), "qpidd.users")
	db, err := auth.Open(users, "QPID")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("admin", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	c := qpiddtest.StartCluster(t, 1, "--auth", "yes", "--auth-database", users,
		"--ha-username", "admin", "--ha-password", "secret", "--ha-mechanism", "PLAIN")
	b := c.Brokers[0]
	conf := filepath.Join(t.TempDir(), "qpidd.conf")
	text := fmt.Sprintf("port=%d\nauth=yes\nha-cluster=yes\nha-username=admin\nha-password=secret\nha-mechanism=PLAIN\n", b.Port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := want(t, 0, "status", "--config", conf); r.stdout != "joining\n" {
		t.Fatalf("status --config: %s", r)
	}
	want(t, 0, "status", "-b", "admin/secret@"+b.Addr())
	failure(t, qpidHA(t, "status", "-b", "admin/wrong@"+b.Addr()), "authentication failed")
	failure(t, run(t, []string{"QPID_HA_PASSWORD=wrong"}, "status", "--config", conf), "authentication failed")
	failure(t, qpidHA(t, "status", "-b", b.Addr()), "SASL mechanism")
	want(t, 0, "--config", conf, "--cluster-manager", "promote")
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		if r := qpidHA(t, "status", "--config", conf, "--expect=active"); r.code != 0 {
			return fmt.Errorf("not active: %s", r)
		}
		return nil
	})
}

// TestWrongHAPassword: a backup whose ha-password the primary refuses says
// so in its log and in status --all and query, instead of retrying
// silently; with the right password it replicates and the error goes.
func TestWrongHAPassword(t *testing.T) {
	users := filepath.Join(t.TempDir(), "qpidd.users")
	db, err := auth.Open(users, "QPID")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("admin", "secret"); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	ports := qpiddtest.FreePorts(t, 2)
	url := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", ports[0], ports[1])
	start := func(port int, password string) *qpiddtest.Broker {
		return qpiddtest.Start(t, "--port", strconv.Itoa(port), "--interface", "127.0.0.1", "--ha-cluster", "yes",
			"--ha-brokers-url", url, "--link-maintenance-interval", "0.1", "--link-heartbeat-interval", "2",
			"--auth", "yes", "--auth-database", users, "--ha-username", "admin", "--ha-password", password)
	}
	primary := start(ports[0], "secret")
	want(t, 0, "promote", "-b", "admin/secret@"+primary.Addr(), "--cluster-manager")
	backup := start(ports[1], "wrong")
	admin := "admin/secret@" + backup.Addr()
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		r := qpidHA(t, "query", "-b", admin)
		if !strings.Contains(r.stdout, "Link error:") || !strings.Contains(r.stdout, "refused this backup's credentials") {
			return fmt.Errorf("query shows no link error: %s", r)
		}
		return nil
	})
	r := want(t, 0, "status", "--all", "-b", admin)
	if !strings.Contains(r.stdout, "  link: the broker at "+primary.Addr()+" refused this backup's credentials") {
		t.Fatalf("status --all: %s", r)
	}
	if n := strings.Count(backup.Log(), "cannot replicate: the broker at"); n != 1 {
		t.Fatalf("the backup warned %d times (want once: it repeats at most once a minute):\n%s", n, backup.Log())
	}
	// Fixed and restarted, it replicates; the error is gone.
	backup.Stop()
	backup = start(ports[1], "secret")
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		if r := qpidHA(t, "status", "-b", admin, "--expect=ready"); r.code != 0 {
			return fmt.Errorf("not ready: %s", r)
		}
		return nil
	})
	if r := want(t, 0, "query", "-b", admin); strings.Contains(r.stdout, "Link error:") {
		t.Fatalf("a link error after replicating: %s", r)
	}
}

// TestSCRAM: qpid-ha authenticates with SCRAM-SHA-256 by default when it
// has credentials (of -b or of --config without ha-mechanism) and the
// broker offers it, and when asked to; a tap between it and the broker
// sees the SCRAM exchange and never the password.
func TestSCRAM(t *testing.T) {
	users := filepath.Join(t.TempDir(), "qpidd.users")
	db, err := auth.Open(users, "QPID")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("admin", "s3cret-pw"); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	c := qpiddtest.StartCluster(t, 1, "--auth", "yes", "--auth-database", users,
		"--ha-username", "admin", "--ha-password", "s3cret-pw")
	b := c.Brokers[0]
	tap := qpiddtest.StartTap(t, b.Addr())
	scram := func(what string) {
		t.Helper()
		sent := tap.Sent()
		if !bytes.Contains(sent, []byte("SCRAM-SHA-256")) || !bytes.Contains(sent, []byte("n,,n=admin,r=")) {
			t.Errorf("%s: no SCRAM-SHA-256 exchange on the wire: %q", what, sent)
		}
		if bytes.Contains(sent, []byte("s3cret-pw")) {
			t.Errorf("%s: the password crossed the wire", what)
		}
		tap.Reset()
	}
	if r := want(t, 0, "status", "-b", "admin/s3cret-pw@"+tap.Addr()); r.stdout != "joining\n" {
		t.Fatalf("status: %s", r)
	}
	scram("by default")
	want(t, 0, "ping", "-b", "amqp://admin:s3cret-pw@"+tap.Addr(), "--sasl-mechanism", "SCRAM-SHA-256")
	scram("--sasl-mechanism SCRAM-SHA-256")
	_, port, _ := net.SplitHostPort(tap.Addr())
	conf := filepath.Join(t.TempDir(), "qpidd.conf")
	if err := os.WriteFile(conf, []byte("port="+port+"\nauth=yes\nha-cluster=yes\nha-username=admin\nha-password=s3cret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want(t, 0, "query", "--config", conf)
	scram("--config")

	failure(t, qpidHA(t, "status", "-b", "admin/wrong@"+b.Addr()), "cannot connect to "+b.Addr()+": authentication failed (SCRAM-SHA-256): check the user name and password")
	failure(t, run(t, []string{"QPID_HA_PASSWORD=wrong"}, "ping", "--config", conf), "authentication failed (SCRAM-SHA-256)")
	failure(t, qpidHA(t, "status", "-b", b.Addr(), "--sasl-mechanism", "DIGEST-MD5"), "SASL mechanism DIGEST-MD5 is not supported by this tool")
}

// TestStatusJSONAndVerbose: status and query keep their output and gain
// --json; status --all --verbose is a table of every broker: state, in
// ready set, epoch, lag, uptime, version.
func TestStatusJSONAndVerbose(t *testing.T) {
	c := qpiddtest.StartCluster(t, 2, "--ha-replicate", "all")
	primary, backup := c.Brokers[0], c.Brokers[1]
	want(t, 0, "promote", "-b", primary.Addr(), "--cluster-manager")
	qpiddtest.WaitStatus(t, backup, "ready", 30*time.Second)

	r := want(t, 0, "status", "--all", "--verbose", "-b", backup.Addr())
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ADDRESS STATE READY SET EPOCH LAG UPTIME VERSION" {
		t.Fatalf("status --all --verbose:\n%s", r.stdout)
	}
	for i, want := range [][]string{{primary.Addr(), "active", "-", "1", "-"}, {backup.Addr(), "ready", "yes", "1", "0"}} {
		if f := strings.Fields(lines[i+1]); len(f) != 7 || strings.Join(f[:5], " ") != strings.Join(want, " ") {
			t.Fatalf("row %d %q, want %q and uptime, version", i+1, lines[i+1], want)
		}
	}

	var one map[string]any
	if err := json.Unmarshal([]byte(want(t, 0, "status", "--json", "-b", backup.Addr()).stdout), &one); err != nil {
		t.Fatal(err)
	}
	if one["status"] != "ready" || one["inReadySet"] != true || one["epoch"] != float64(1) {
		t.Fatalf("status --json: %v", one)
	}
	var all []map[string]any
	if err := json.Unmarshal([]byte(want(t, 0, "query", "--all", "--json", "-b", backup.Addr()).stdout), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0]["address"] != primary.Addr() || all[0]["status"] != "active" || all[1]["status"] != "ready" {
		t.Fatalf("query --all --json: %v", all)
	}
	// The plain outputs stay the original's.
	if r := want(t, 0, "status", "-b", backup.Addr()); r.stdout != "ready\n" {
		t.Fatalf("status: %q", r.stdout)
	}
	if r := want(t, 2, "status", "--verbose", "-b", backup.Addr()); !strings.Contains(r.stderr, "--verbose is a table of every broker") {
		t.Fatalf("status --verbose without --all: %s", r)
	}
}
