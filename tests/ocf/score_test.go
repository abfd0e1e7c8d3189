package ocf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/ha"
)

// timed logs how long a scenario took.
func timed(t *testing.T) {
	began := time.Now()
	t.Cleanup(func() { t.Logf("%s took %v", t.Name(), time.Since(began).Round(time.Millisecond)) })
}

// TestFirstStart: a whole cluster starts with every broker joining. Nobody
// gets a score until every node has published its position; then only the
// freshest (all equal here: the first node name) gets 1000; once promoted
// it reports 8 and 1001, and the others become ready backups with 1000.
func TestFirstStart(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 3)
	c.order = "node3 node1 node2" // crm_node -l's order is not the names' order
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]

	for _, n := range []*node{n1, n2} {
		r := n.must("start", ocfSuccess)
		t.Logf("%s start took %v", n.name, r.took.Round(time.Millisecond))
		n.expectState("joining")
	}
	// node3 has not reported its position (it is not even running): no
	// score anywhere, however often the others monitor.
	for i := 0; i < 2; i++ {
		for _, n := range []*node{n1, n2} {
			n.must("monitor", ocfSuccess)
			n.expectScore("")
			if p, ok := n.attr(positionAttr); p != "0 0" {
				t.Fatalf("%s published position %q (%v), want \"0 0\"\n%s", n.name, p, ok, c.dump())
			}
		}
	}
	if _, ok := n3.attr(positionAttr); ok {
		t.Fatalf("node3 has a position before it started\n%s", c.dump())
	}

	n3.must("start", ocfSuccess)
	n3.expectState("joining")
	// Its start's monitor published its position: everyone has now, and
	// the positions are equal, so the first name, node1, is the one.
	n3.expectScore("")
	for _, n := range []*node{n3, n2} {
		n.must("monitor", ocfSuccess)
		n.expectScore("")
	}
	n1.must("monitor", ocfSuccess)
	n1.expectScore("1000")
	for _, n := range c.nodes {
		n.expectState("joining") // a score promotes nobody: Pacemaker does
	}
	n2.must("monitor", ocfSuccess)
	n2.expectScore("")

	r := n1.must("promote", ocfSuccess)
	t.Logf("promote took %v", r.took.Round(time.Millisecond))
	n1.must("monitor", ocfRunningPromoted)
	n1.expectScore("1001")
	if p, ok := n1.attr(positionAttr); ok {
		t.Fatalf("the primary still publishes its first-start position %q\n%s", p, c.dump())
	}
	began := time.Now()
	n2.monitorUntil(ocfSuccess, "1000")
	n3.monitorUntil(ocfSuccess, "1000")
	t.Logf("backups ready with 1000 %v after the promotion", time.Since(began).Round(time.Millisecond))
	n2.expectState("ready")
	n3.expectState("ready")

	// promote is idempotent; the primary keeps 1001.
	n1.must("promote", ocfSuccess)
	n1.must("monitor", ocfRunningPromoted)
	n1.expectScore("1001")
}

// TestFirstStartFreshestWins: the data directories hold positions (5,3),
// (4,100) and (5,10): the node with (5,10) gets 1000 (epoch first, then
// sequence), the others none, and it can be promoted.
func TestFirstStartFreshestWins(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	n1.writeState(5, 3)
	n2.writeState(4, 100)
	n3.writeState(5, 10)
	for _, n := range c.nodes {
		n.must("start", ocfSuccess)
	}
	for _, n := range c.nodes {
		n.must("monitor", ocfSuccess)
		n.expectState("joining")
	}
	for n, want := range map[*node]string{n1: "5 3", n2: "4 100", n3: "5 10"} {
		if p, _ := n.attr(positionAttr); p != want {
			t.Fatalf("%s published position %q, want %q\n%s", n.name, p, want, c.dump())
		}
	}
	n1.expectScore("")
	n2.expectScore("")
	n3.expectScore("1000")

	n3.must("promote", ocfSuccess)
	n3.must("monitor", ocfRunningPromoted)
	n3.expectScore("1001")
	n1.monitorUntil(ocfSuccess, "1000")
	n2.monitorUntil(ocfSuccess, "1000")
}

// TestFirstStartOnlyWhoMayLead: after the whole cluster stopped, only the
// primary or a ready backup of the newest membership may lead, and none
// that holds less than another of those: node1 holds the highest position
// but was dropped from the ready set, node2 was the primary but holds less
// than node3, a ready backup: each broker says so (qpid-ha promote
// --dry-run), node1 and node2 publish -1 -1, node3 gets 1000 and is
// promoted.
func TestFirstStartOnlyWhoMayLead(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 3)
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	ms := ha.Membership{Epoch: 5, Version: 7, Primary: n2.id(), Ready: []string{n3.id()}}
	n1.writeStateWith(ha.Position{Epoch: 5, Seq: 100}, ha.Membership{Epoch: 5, Version: 6, Primary: n2.id(), Ready: []string{n1.id(), n3.id()}})
	n2.writeStateWith(ha.Position{Epoch: 5, Seq: 50}, ms)
	n3.writeStateWith(ha.Position{Epoch: 5, Seq: 60}, ms)
	for _, n := range c.nodes {
		n.must("start", ocfSuccess)
	}
	for _, n := range c.nodes {
		n.must("monitor", ocfSuccess)
	}
	for _, n := range c.nodes { // every node saw the others' positions
		n.must("monitor", ocfSuccess)
	}
	for n, want := range map[*node]string{n1: "-1 -1", n2: "-1 -1", n3: "5 60"} {
		if p, _ := n.attr(positionAttr); p != want {
			t.Fatalf("%s published position %q, want %q\n%s", n.name, p, want, c.dump())
		}
	}
	n1.expectScore("")
	n2.expectScore("")
	n3.expectScore("1000")
	n3.must("promote", ocfSuccess)
	n3.must("monitor", ocfRunningPromoted)
	n1.monitorUntil(ocfSuccess, "1000")
	n2.monitorUntil(ocfSuccess, "1000")
}

// TestFirstStartIgnore: a node that will never come back is not waited
// for when first_start_ignore names it.
func TestFirstStartIgnore(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 3)
	n1, n2 := c.nodes[0], c.nodes[1]
	for _, n := range []*node{n1, n2} {
		n.must("start", ocfSuccess)
		n.must("monitor", ocfSuccess)
	}
	n1.must("monitor", ocfSuccess)
	n1.expectScore("") // waiting for node3
	n1.must("monitor", ocfSuccess, "OCF_RESKEY_first_start_ignore="+c.nodes[2].name)
	n1.expectScore("1000")
}

// TestStopped: a stopped broker reports 7 and loses its score; so does a
// pid file left behind, whether its pid is gone or reused by another
// process (which stop must leave alone); stop is idempotent.
func TestStopped(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 1)
	n := c.nodes[0]
	pidFile := filepath.Join(n.dataDir, pidFileName)

	n.must("monitor", ocfNotRunning)
	n.must("monitor", ocfNotRunning, "OCF_RESKEY_CRM_meta_interval=0") // probe
	n.setAttr(scoreAttr, "1000")                                       // left by an earlier life
	n.must("monitor", ocfNotRunning)
	n.expectScore("")

	n.must("start", ocfSuccess)
	pid := n.mustPid()
	n.must("monitor", ocfSuccess)
	n.expectScore("1000") // a one-node cluster's first start
	r := n.must("stop", ocfSuccess)
	t.Logf("stop took %v", r.took.Round(time.Millisecond))
	if n.ownsProcess(pid) {
		t.Fatalf("broker pid %d still runs after stop", pid)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Fatalf("stop left the pid file")
	}
	n.must("monitor", ocfNotRunning)
	n.expectScore("")
	if p, ok := n.attr(positionAttr); ok {
		t.Fatalf("stop left the position %q\n%s", p, c.dump())
	}
	n.must("stop", ocfSuccess)
	n.must("stop", ocfSuccess)
	n.must("monitor", ocfNotRunning)

	// A pid file naming a process that is gone.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	writePid(t, pidFile, gone.Process.Pid)
	n.setAttr(scoreAttr, "1000")
	n.must("monitor", ocfNotRunning)
	n.must("monitor", ocfNotRunning, "OCF_RESKEY_CRM_meta_interval=0")
	n.expectScore("")
	n.must("stop", ocfSuccess)
	if _, err := os.Stat(pidFile); err == nil {
		t.Fatalf("stop left the stale pid file")
	}

	// A pid file whose pid now belongs to another process (the node
	// rebooted since the broker crashed): not the broker, not to be killed.
	other := exec.Command("sleep", "600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = other.Wait(); close(exited) }()
	t.Cleanup(func() { _ = other.Process.Kill(); <-exited })
	writePid(t, pidFile, other.Process.Pid)
	n.must("monitor", ocfNotRunning)
	n.must("monitor", ocfNotRunning, "OCF_RESKEY_CRM_meta_interval=0")
	n.must("stop", ocfSuccess)
	select {
	case <-exited:
		t.Fatalf("stop killed pid %d, an unrelated process its stale pid file named", other.Process.Pid)
	default:
	}
	writePid(t, pidFile, other.Process.Pid)
	n.must("start", ocfSuccess)
	if pid := n.mustPid(); pid == other.Process.Pid {
		t.Fatalf("start took the unrelated pid %d for the broker", pid)
	}
	n.must("monitor", ocfSuccess)
	n.must("stop", ocfSuccess)
	select {
	case <-exited:
		t.Fatalf("stop killed pid %d, an unrelated process", other.Process.Pid)
	default:
	}
}

func writePid(t *testing.T, path string, pid int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHung: a broker that does not answer (SIGSTOP) is a failed backup (1),
// or a failed primary (9) when this agent promoted it; stop kills it.
func TestHung(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 1)
	c.timeout = "2"
	n := c.nodes[0]
	n.must("start", ocfSuccess)
	n.must("monitor", ocfSuccess)
	pid := n.mustPid()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) }) // before the cluster's cleanup

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r := n.must("monitor", ocfErrGeneric)
	t.Logf("monitor of a hung backup: %v", r.took.Round(time.Millisecond))
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	n.must("monitor", ocfSuccess)

	n.must("promote", ocfSuccess)
	n.must("monitor", ocfRunningPromoted)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r = n.must("monitor", ocfFailedPromoted)
	t.Logf("monitor of a hung primary: %v", r.took.Round(time.Millisecond))
	r = n.must("stop", ocfSuccess)
	t.Logf("stop of a hung primary: %v", r.took.Round(time.Millisecond))
	if n.ownsProcess(pid) {
		t.Fatalf("the hung broker (pid %d) survived stop", pid)
	}
	n.must("monitor", ocfNotRunning)
	n.expectScore("")
}

// bootstrap starts a three-node cluster the way the first start does and
// promotes node1; node2 and node3 end ready with 1000.
func bootstrap(t *testing.T, c *cluster) {
	t.Helper()
	for _, n := range c.nodes {
		n.must("start", ocfSuccess)
	}
	n1 := c.nodes[0]
	n1.must("monitor", ocfSuccess)
	n1.expectScore("1000")
	n1.must("promote", ocfSuccess)
	n1.must("monitor", ocfRunningPromoted)
	for _, n := range c.nodes[1:] {
		n.monitorUntil(ocfSuccess, "1000")
	}
}

// TestRejoin: a backup restarted while a primary exists has no score while
// it joins and catches up, and 1000 once ready; a joining broker never gets
// a score from the first-start logic while the cluster has a primary and
// ready backups, even with every position published and its own the
// highest.
func TestRejoin(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 3)
	c.timeout = "2"
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	bootstrap(t, c)

	n2.must("stop", ocfSuccess)
	n2.expectScore("")
	if p, ok := n2.attr(positionAttr); ok {
		t.Fatalf("stop left node2's position %q", p)
	}
	n2.must("start", ocfSuccess)
	if st, sc := n2.state(), n2.score(); sc != "" && st != "ready" {
		t.Fatalf("node2 has score %q right after start, in state %s\n%s", sc, st, c.dump())
	}
	began := time.Now()
	n2.monitorUntil(ocfSuccess, "1000")
	t.Logf("restarted backup ready with 1000 %v after start", time.Since(began).Round(time.Millisecond))
	n1.must("monitor", ocfRunningPromoted)
	n1.expectScore("1001")

	// Hold node2 in joining: the primary does not answer (SIGSTOP) while
	// node2 restarts. The first-start logic would pick node2: its position
	// is the highest of those published.
	pid1 := n1.mustPid()
	t.Cleanup(func() { _ = syscall.Kill(pid1, syscall.SIGCONT) })
	n2.must("stop", ocfSuccess)
	if err := syscall.Kill(pid1, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	n1.setAttr(positionAttr, "0 0")
	n3.setAttr(positionAttr, "0 0")
	n2.must("start", ocfSuccess)
	for i := 0; i < 3; i++ {
		n2.expectState("joining")
		n2.expectScore("")
		n2.must("monitor", ocfSuccess)
		n2.expectScore("")
	}
	n2.expectState("joining")
	if err := syscall.Kill(pid1, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	n2.monitorUntil(ocfSuccess, "1000")
	n1.monitorUntil(ocfRunningPromoted, "1001")
	n3.monitorUntil(ocfSuccess, "1000")
}

// TestDemote: demote restarts the primary as a backup: it has no score
// while the old primary's ready backups are there, and demote of a backup
// changes nothing. Then Pacemaker promotes the best-scored broker; the
// cluster must end with one primary (1001) and the others ready (1000).
//
// Known problem (see TestKnownScoreRefused): the stopping primary drops
// its backups from the ready set one by one and persists "ready []", so
// after the restart every ready backup refuses promotion ("not in the
// current ready set") while the agent gives it 1000. Pacemaker recovers a
// refused promotion by restarting the instance, and the cluster converges
// once no broker is ready (the first-start logic). This test follows that
// path, logs each refusal, and passes with or without the problem.
func TestDemote(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 3)
	n1, n3 := c.nodes[0], c.nodes[2]
	bootstrap(t, c)

	pid3 := n3.mustPid()
	n3.must("demote", ocfSuccess)
	if pid := n3.mustPid(); pid != pid3 {
		t.Fatalf("demote of a backup restarted it (pid %d -> %d)", pid3, pid)
	}
	n3.must("monitor", ocfSuccess)
	n3.expectScore("1000")

	pid1 := n1.mustPid()
	r := n1.must("demote", ocfSuccess)
	t.Logf("demote of the primary took %v", r.took.Round(time.Millisecond))
	if pid := n1.mustPid(); pid == pid1 {
		t.Fatalf("demote did not restart the primary (pid %d)", pid)
	}
	n1.must("monitor", ocfSuccess)
	n1.expectState("joining")
	n1.expectScore("")
	pid1 = n1.mustPid()
	n1.must("demote", ocfSuccess) // already a backup
	if pid := n1.mustPid(); pid != pid1 {
		t.Fatalf("demote of a demoted broker restarted it (pid %d -> %d)", pid1, pid)
	}
	n1.expectScore("")

	primary := promoteAsPacemaker(t, c)
	primary.must("monitor", ocfRunningPromoted)
	primary.expectScore("1001")
	for _, n := range c.nodes {
		if n != primary {
			n.monitorUntil(ocfSuccess, "1000")
		}
	}
}

// promoteAsPacemaker does what Pacemaker does with a promotable clone that
// has no Promoted instance: monitor everywhere, promote the instance with
// the highest score (ties: the first node), and recover a failed promotion
// by restarting the instance (stop, start), until a promotion succeeds. A
// refusal is logged; only the known one, a broker not in the current ready
// set, is accepted.
func promoteAsPacemaker(t *testing.T, c *cluster) *node {
	t.Helper()
	deadline := time.Now().Add(3 * pollTimeout)
	for attempt := 1; ; attempt++ {
		var best *node
		bestScore := 0
		var scores []string
		for _, n := range c.nodes {
			n.must("monitor", ocfSuccess)
			s := n.score()
			scores = append(scores, n.name+"="+strconv.Quote(s))
			if v, err := strconv.Atoi(s); err == nil && v > bestScore {
				best, bestScore = n, v
			}
		}
		if best == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no broker got a score within %v: %v\n%s", 3*pollTimeout, scores, c.dump())
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		state := best.state()
		r := best.run("promote")
		if r.rc == ocfSuccess {
			t.Logf("attempt %d: scores %v: %s (%s) promoted", attempt, scores, best.name, state)
			return best
		}
		if !strings.Contains(r.out, "not in the current ready set") {
			t.Fatalf("attempt %d: scores %v: promotion of %s (%s) failed: %s\n%s", attempt, scores, best.name, state, r, c.dump())
		}
		t.Logf("KNOWN PROBLEM: attempt %d: scores %v: %s (%s) has score %d but refuses promotion: %s",
			attempt, scores, best.name, state, bestScore, strings.TrimSpace(r.out))
		if attempt >= 2*len(c.nodes) || time.Now().After(deadline) {
			t.Fatalf("no promotion succeeded after %d attempts\n%s", attempt, c.dump())
		}
		best.must("stop", ocfSuccess)
		best.must("start", ocfSuccess)
	}
}

// TestDemoteAlone: demote of a one-node cluster's primary restarts it as a
// backup that stays joining (there is no primary to join); being the only
// node, it holds the highest position and the first-start logic gives it
// 1000 again, so Pacemaker can promote it again.
func TestDemoteAlone(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 1)
	n := c.nodes[0]
	n.must("start", ocfSuccess)
	n.must("promote", ocfSuccess)
	n.must("monitor", ocfRunningPromoted)
	n.expectScore("1001")
	n.must("demote", ocfSuccess)
	n.must("monitor", ocfSuccess)
	n.expectState("joining")
	n.expectScore("1000")
	if p, _ := n.attr(positionAttr); p != "1 0" {
		t.Fatalf("position %q after one promotion, want \"1 0\"\n%s", p, c.dump())
	}
	n.must("promote", ocfSuccess)
	n.must("monitor", ocfRunningPromoted)
	n.must("demote", ocfSuccess)
	n.must("demote", ocfSuccess)
	if p, _ := n.attr(positionAttr); p != "2 0" {
		t.Fatalf("position %q after two promotions, want \"2 0\"\n%s", p, c.dump())
	}
}

// TestValidate: validate-all accepts a good configuration and rejects a
// missing binary (5) and a configuration that is missing or lacks
// ha-cluster=yes (6). A probe where the broker cannot run reports 7, and
// stop succeeds.
func TestValidate(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 1)
	n := c.nodes[0]
	dir := t.TempDir()
	noCluster := filepath.Join(dir, "nocluster.conf")
	if err := os.WriteFile(noCluster, []byte("auth=no\nha-brokers-url=127.0.0.1:5672\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clusterNo := filepath.Join(dir, "clusterno.conf")
	if err := os.WriteFile(clusterNo, []byte("ha-cluster=no\nauth=no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.must("validate-all", ocfSuccess)
	for _, tc := range []struct {
		what string
		env  string
		want int
	}{
		{"a missing qpidd", "OCF_RESKEY_binary=" + filepath.Join(dir, "no-qpidd"), ocfErrInstalled},
		{"a missing qpid-ha", "OCF_RESKEY_qpid_ha=" + filepath.Join(dir, "no-qpid-ha"), ocfErrInstalled},
		{"a configuration without ha-cluster", "OCF_RESKEY_config=" + noCluster, ocfErrConfigured},
		{"ha-cluster=no", "OCF_RESKEY_config=" + clusterNo, ocfErrConfigured},
		{"a missing configuration", "OCF_RESKEY_config=" + filepath.Join(dir, "missing.conf"), ocfErrConfigured},
		{"a port that is not a number", "OCF_RESKEY_port=amqp", ocfErrConfigured},
	} {
		if r := n.run("validate-all", tc.env); r.rc != tc.want {
			t.Errorf("validate-all with %s: want %d, got %s", tc.what, tc.want, r)
		}
		if r := n.run("monitor", tc.env, "OCF_RESKEY_CRM_meta_interval=0"); r.rc != ocfNotRunning {
			t.Errorf("probe with %s: want %d, got %s", tc.what, ocfNotRunning, r)
		}
		if r := n.run("monitor", tc.env); r.rc != tc.want {
			t.Errorf("monitor with %s: want %d, got %s", tc.what, tc.want, r)
		}
		if r := n.run("stop", tc.env); r.rc != ocfSuccess {
			t.Errorf("stop with %s: want 0, got %s", tc.what, r)
		}
		if r := n.run("start", tc.env); r.rc != tc.want {
			t.Errorf("start with %s: want %d, got %s", tc.what, tc.want, r)
		}
	}
	if _, ok := n.pid(); ok {
		t.Fatalf("a broker started with a bad configuration")
	}
	n.must("notify", ocfSuccess)
	if r := n.run("migrate_to"); r.rc != 3 {
		t.Errorf("an unknown action: want 3, got %s", r)
	}
}
