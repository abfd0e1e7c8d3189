// Package ocf tests the OCF resource agent agents/ocf/qpidd with real
// brokers that the agent itself starts and stops, against a fake CIB: the
// scripts of testdata/fakecib (crm_attribute, crm_node, crm_master) keep
// the node attributes and promotion scores as files, so the tests read the
// score the agent leaves after every action. They also run ocf-tester,
// validate the meta-data against ra-api-1.dtd and run shellcheck.
package ocf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha"
	"github.com/qpidha/qpidha/internal/store"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// OCF exit codes.
const (
	ocfSuccess         = 0
	ocfErrGeneric      = 1
	ocfErrInstalled    = 5
	ocfErrConfigured   = 6
	ocfNotRunning      = 7
	ocfRunningPromoted = 8
	ocfFailedPromoted  = 9
)

// Agent-side names.
const (
	resource     = "qpidd"          // OCF_RESOURCE_INSTANCE
	scoreAttr    = "master-qpidd"   // the promotion score's node attribute
	positionAttr = "qpidd-position" // first start: a node's replication position
	pidFileName  = "qpidd.ocf.pid"  // in the data directory
	agentTimeout = 3 * time.Minute  // longest any agent action may take here
	pollTimeout  = 90 * time.Second // longest wait for a broker state
	monitorMs    = "11000"          // OCF_RESKEY_CRM_meta_interval of a recurring monitor
)

// agentPath is the agent under test.
func agentPath() string { return filepath.Join(qpiddtest.Root(), "agents", "ocf", "qpidd") }

// requireTools fails the test when a tool the agent or the checks need is
// missing.
func requireTools(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing (apt-get install -y --no-install-recommends resource-agents shellcheck libxml2-utils): %v", p, err)
		}
	}
}

const shellFuncs = "/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs"

// cluster is a set of nodes, each with a broker configuration and data
// directory, sharing one fake CIB.
type cluster struct {
	t       *testing.T
	dir     string
	fake    string // the fake crm_* tools
	cib     string // FAKE_CIB
	order   string // FAKE_NODES: crm_node -l's order
	qpidd   string
	qpidHA  string
	timeout string // OCF_RESKEY_timeout ("" = the agent's default)
	nodes   []*node
}

// node is one cluster node: its broker's port, configuration and data.
type node struct {
	c       *cluster
	name    string
	port    int
	config  string
	dataDir string
	pids    map[int]bool // every broker pid seen: killed at cleanup if still there
	moreEnv []string     // more agent environment of this node
}

// newCluster makes n nodes node1..nodeN with one configuration each
// (ha-cluster=yes, ha-brokers-url of every node's loopback port), and stops
// every broker at cleanup: the agent's stop, then SIGKILL by pid.
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	requireTools(t, shellFuncs)
	c := &cluster{
		t:      t,
		dir:    t.TempDir(),
		qpidd:  qpiddtest.Bin(t, "qpidd"),
		qpidHA: qpiddtest.Bin(t, "qpid-ha"),
	}
	c.fake = filepath.Join(c.dir, "fake")
	c.cib = filepath.Join(c.dir, "cib")
	for _, d := range []string{c.fake, c.cib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	installFakes(t, c.fake)
	ports := qpiddtest.FreePorts(t, n)
	var addrs, names []string
	for _, p := range ports {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	for i, p := range ports {
		nd := &node{c: c, name: fmt.Sprintf("node%d", i+1), port: p, pids: map[int]bool{}}
		home := filepath.Join(c.dir, nd.name)
		nd.config = filepath.Join(home, "qpidd.conf")
		nd.dataDir = filepath.Join(home, "data")
		if err := os.MkdirAll(home, 0o755); err != nil {
			t.Fatal(err)
		}
		nd.writeConfig(strings.Join(addrs, ","))
		c.nodes = append(c.nodes, nd)
		names = append(names, nd.name)
	}
	c.order = strings.Join(names, " ")
	t.Cleanup(c.cleanup)
	return c
}

// installFakes copies the fake CIB tools into dir.
func installFakes(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"crm_attribute", "crm_node", "crm_master"} {
		data, err := os.ReadFile(filepath.Join("testdata", "fakecib", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// writeConfig writes the node's qpidd.conf for a cluster of brokersURL.
func (n *node) writeConfig(brokersURL string) {
	conf := "# qpidd of " + n.name + ", written by the OCF agent's tests\n" +
		"ha-cluster=yes\n" +
		"ha-brokers-url=" + brokersURL + "\n" +
		"auth=no\n" +
		"ha-replicate=all\n" +
		"interface=127.0.0.1\n" +
		"link-maintenance-interval=0.1\n" +
		"link-heartbeat-interval=2\n"
	if err := os.WriteFile(n.config, []byte(conf), 0o644); err != nil {
		n.c.t.Fatal(err)
	}
}

// cleanup stops every broker: the agent's stop on every node, then SIGKILL
// for any broker pid still alive (a hung stop, a failed test).
func (c *cluster) cleanup() {
	if calls, _ := os.ReadFile(filepath.Join(c.cib, "calls.log")); bytes.Contains(calls, []byte("REJECTED")) {
		c.t.Errorf("the fake CIB rejected calls of the agent:\n%s", calls)
	}
	for _, n := range c.nodes {
		if r := n.run("stop"); r.rc != ocfSuccess {
			c.t.Logf("cleanup: stop on %s: %s", n.name, r)
		}
		if pid, ok := n.pid(); ok {
			n.pids[pid] = true
		}
		for pid := range n.pids {
			if n.ownsProcess(pid) {
				c.t.Logf("cleanup: %s's broker (pid %d) survived stop: killing it", n.name, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	}
	// Killed brokers are reaped by init: wait so the data directories can go.
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.nodes {
		for pid := range n.pids {
			for n.ownsProcess(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// ownsProcess reports whether pid is a live (not zombie) process of this
// node's broker: its command line names the node's data directory.
func (n *node) ownsProcess(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(cmdline) == 0 {
		return false
	}
	for _, a := range bytes.Split(cmdline, []byte{0}) {
		if string(a) == n.dataDir {
			return true
		}
	}
	return false
}

// result is how an agent action ended.
type result struct {
	action string
	node   string
	rc     int
	out    string
	took   time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("%s %s: rc %d after %v\n%s", r.node, r.action, r.rc, r.took.Round(time.Millisecond), r.out)
}

// env is the agent's environment on this node: the fake CIB first in PATH
// and as HA_SBIN_DIR, the node's parameters, and a recurring monitor's
// interval. extra entries (NAME=value) override.
func (n *node) env(extra ...string) []string {
	c := n.c
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PATH" || strings.HasPrefix(name, "OCF_") || strings.HasPrefix(name, "HA_") ||
			strings.HasPrefix(name, "FAKE_") || strings.HasPrefix(name, "QPID_") || name == "__OCF_ACTION" {
			continue
		}
		env = append(env, kv)
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env = append(env,
		"PATH="+c.fake+":"+path,
		"HA_SBIN_DIR="+c.fake,
		"OCF_ROOT=/usr/lib/ocf",
		"OCF_RESOURCE_INSTANCE="+resource,
		"OCF_RESKEY_crm_feature_set=3.16.2", // ocf_promotion_score: crm_attribute -p
		"OCF_RESKEY_CRM_meta_interval="+monitorMs,
		"OCF_RESKEY_CRM_meta_timeout=60000",
		"FAKE_CIB="+c.cib,
		"FAKE_NODE="+n.name,
		"FAKE_NODES="+c.order,
		"OCF_RESKEY_config="+n.config,
		"OCF_RESKEY_binary="+c.qpidd,
		"OCF_RESKEY_qpid_ha="+c.qpidHA,
		"OCF_RESKEY_data_dir="+n.dataDir,
		"OCF_RESKEY_port="+strconv.Itoa(n.port),
		"OCF_RESKEY_user="+currentUser(),
	)
	if c.timeout != "" {
		env = append(env, "OCF_RESKEY_timeout="+c.timeout)
	}
	env = append(env, n.moreEnv...)
	return append(env, extra...)
}

// currentUser is who runs the tests: the broker's user, so that a qpidd
// account on the machine (make install creates one) does not take over.
func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// run runs the agent with an action on this node.
func (n *node) run(action string, extra ...string) result {
	return n.runAgent(agentPath(), action, extra...)
}

func (n *node) runAgent(agent, action string, extra ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), agentTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, agent, action)
	cmd.Env = n.env(extra...)
	cmd.Dir = n.c.dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = 5 * time.Second // a daemon holding the output open must not hang us
	start := time.Now()
	err := cmd.Run()
	r := result{action: action, node: n.name, out: out.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.rc = ee.ExitCode()
	default:
		r.rc = -1
		r.out += "\n(run: " + err.Error() + ")"
	}
	if pid, ok := n.pid(); ok {
		n.pids[pid] = true
	}
	return r
}

// must runs an action and fails the test unless it exits with want.
func (n *node) must(action string, want int, extra ...string) result {
	n.c.t.Helper()
	r := n.run(action, extra...)
	if r.rc != want {
		n.c.t.Fatalf("want rc %d, got %s\n%s", want, r, n.c.dump())
	}
	return r
}

// pid is the broker's pid from the agent's pid file.
func (n *node) pid() (int, bool) {
	data, err := os.ReadFile(filepath.Join(n.dataDir, pidFileName))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid, err == nil && pid > 0
}

// mustPid is the pid of the running broker.
func (n *node) mustPid() int {
	n.c.t.Helper()
	pid, ok := n.pid()
	if !ok || !n.ownsProcess(pid) {
		n.c.t.Fatalf("%s: no running broker (pid file: %d %v)", n.name, pid, ok)
	}
	return pid
}

// attr reads a node attribute of the fake CIB ("" and false when unset).
func (n *node) attr(name string) (string, bool) {
	data, err := os.ReadFile(filepath.Join(n.c.cib, n.name, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		n.c.t.Fatal(err)
	}
	return strings.TrimSpace(string(data)), true
}

// setAttr sets a node attribute in the fake CIB, as another node's agent
// would have.
func (n *node) setAttr(name, value string) {
	dir := filepath.Join(n.c.cib, n.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value+"\n"), 0o644); err != nil {
		n.c.t.Fatal(err)
	}
}

// score is the node's promotion score: "" when it has none.
func (n *node) score() string {
	s, _ := n.attr(scoreAttr)
	return s
}

// state asks the broker for its HA state with qpid-ha (not through the
// agent); "" when it does not answer.
func (n *node) state() string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, n.c.qpidHA, "-b", "127.0.0.1:"+strconv.Itoa(n.port),
		"--config", n.config, "--timeout", "5", "status").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// expect checks the node's promotion score ("" none).
func (n *node) expectScore(want string) {
	n.c.t.Helper()
	if got := n.score(); got != want {
		n.c.t.Fatalf("%s: promotion score %q, want %q\n%s", n.name, got, want, n.c.dump())
	}
}

// expectState checks the broker's HA state.
func (n *node) expectState(want string) {
	n.c.t.Helper()
	if got := n.state(); got != want {
		n.c.t.Fatalf("%s: broker state %q, want %q\n%s", n.name, got, want, n.c.dump())
	}
}

// monitorUntil runs monitor until it returns rc with the score (""
// none), checking at every run that the score follows the broker's state:
// a broker still joining or catching up after the monitor has no score.
func (n *node) monitorUntil(rc int, score string) result {
	n.c.t.Helper()
	var last result
	var seen []string
	deadline := time.Now().Add(pollTimeout)
	for {
		last = n.run("monitor")
		got := n.score()
		after := n.state()
		seen = append(seen, fmt.Sprintf("rc=%d score=%q state=%s", last.rc, got, after))
		if (after == "joining" || after == "catchup") && got != "" {
			n.c.t.Fatalf("%s: score %q while the broker is %s (monitor %s)\n%s", n.name, got, after, last, n.c.dump())
		}
		if last.rc == rc && got == score {
			n.c.t.Logf("%s: monitor %d, score %q after %d run(s): %s", n.name, rc, score, len(seen), strings.Join(seen, "; "))
			return last
		}
		if time.Now().After(deadline) {
			n.c.t.Fatalf("%s: monitor never returned %d with score %q within %v: %s\nlast: %s\n%s",
				n.name, rc, score, pollTimeout, strings.Join(seen, "; "), last, n.c.dump())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeState prepares the node's data directory as a broker that
// replicated up to position (epoch, seq) left it: its store holds that
// position (what the broker reports at start) and its HA state the epoch.
func (n *node) writeState(epoch, seq uint64) {
	n.writeStateWith(ha.Position{Epoch: epoch, Seq: seq}, ha.Membership{})
}

// id is the broker id writeState gives the node's broker.
func (n *node) id() string { return fmt.Sprintf("%032x", n.port) }

// writeStateWith is writeState with the membership the broker persisted.
func (n *node) writeStateWith(pos ha.Position, ms ha.Membership) {
	n.c.t.Helper()
	st := ha.Persistent{
		BrokerID:   n.id(),
		Epoch:      max(pos.Epoch, ms.Epoch),
		Position:   pos,
		Membership: ms,
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		n.c.t.Fatal(err)
	}
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		n.c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.dataDir, ha.StateFile), append(data, '\n'), 0o640); err != nil {
		n.c.t.Fatal(err)
	}
	// The store: a durable queue's record, with the position recorded
	// before the batch that writes it.
	js, _, err := store.Open(store.Config{Dir: n.dataDir, Manual: true})
	if err != nil {
		n.c.t.Fatal(err)
	}
	js.SetPosition(func() broker.MessageID { return pos })
	b, err := broker.New(broker.Config{})
	if err != nil {
		n.c.t.Fatal(err)
	}
	q, _, err := b.DeclareQueue("q", broker.QueueSettings{Durable: true})
	if err != nil {
		n.c.t.Fatal(err)
	}
	js.QueueDeclared(q)
	if err := js.Flush(); err != nil {
		n.c.t.Fatal(err)
	}
	if err := js.Close(); err != nil {
		n.c.t.Fatal(err)
	}
}

// dump describes the fake CIB, every call the agent made to it, and every
// broker's state: for failure messages.
func (c *cluster) dump() string {
	var b strings.Builder
	b.WriteString("--- fake CIB:\n")
	_ = filepath.WalkDir(c.cib, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) == "calls.log" {
			return nil
		}
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(c.cib, p)
		fmt.Fprintf(&b, "  %s = %s\n", rel, strings.TrimSpace(string(data)))
		return nil
	})
	if calls, err := os.ReadFile(filepath.Join(c.cib, "calls.log")); err == nil {
		lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		b.WriteString("--- last calls:\n  " + strings.Join(lines, "\n  ") + "\n")
	}
	b.WriteString("--- brokers:\n")
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "  %s port %d: %q\n", n.name, n.port, n.state())
	}
	return b.String()
}
