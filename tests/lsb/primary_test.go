package lsb

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// cluster is n nodes of one HA cluster, no broker started yet.
func cluster(t *testing.T, n int) []*node {
	t.Helper()
	ports := qpiddtest.FreePorts(t, n)
	var addrs []string
	for _, p := range ports {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	var nodes []*node
	for i, p := range ports {
		nodes = append(nodes, newNode(t, "node"+strconv.Itoa(i+1), nodeConfig{port: p, brokersURL: strings.Join(addrs, ",")}))
	}
	return nodes
}

// recordingHook installs a hook that records, when it runs, the broker's
// HA status as qpid-ha reads it and the environment it was given.
func recordingHook(t *testing.T, n *node, name string) string {
	t.Helper()
	record := filepath.Join(n.dir, name+".record")
	writeFile(t, filepath.Join(n.hooks, name), `#!/bin/sh
now=$("$QPID_HA_BIN" --timeout 3 -b "$QPID_BROKER" status 2>&1)
echo "status=$now env=$QPID_HA_STATUS broker=$QPID_BROKER" >>`+record+`
`, 0o755)
	return record
}

// The rgmanager setup: the qpidd service on every node, qpidd-primary
// promoting one of them, failing over to another.
func TestPrimaryServiceOnACluster(t *testing.T) {
	nodes := cluster(t, 2)
	a, b := nodes[0], nodes[1]
	for _, n := range nodes {
		n.expect(0, "qpidd", "start")
	}
	// Before any promotion: joining, not primary.
	for _, n := range nodes {
		r := n.expect(1, "qpidd-primary", "status")
		if !strings.Contains(r.stdout, "not primary") {
			t.Errorf("%s status before promotion: %s", n.name, r)
		}
	}
	recordA := recordingHook(t, a, "10-record")
	r := a.expect(0, "qpidd-primary", "start")
	if !strings.Contains(r.stdout, "is primary") {
		t.Errorf("start: %s", r)
	}
	// The hook ran before the promotion: the broker was not primary yet.
	rec, err := os.ReadFile(recordA)
	if err != nil {
		t.Fatalf("the hook did not run: %v\n%s", err, r)
	}
	if !strings.Contains(string(rec), "status=joining env=joining broker="+a.addr()) {
		t.Errorf("hook record %q: want the broker joining (not yet promoted) at %s", rec, a.addr())
	}
	if r := a.expect(0, "qpidd-primary", "status"); !strings.Contains(r.stdout, "qpidd is primary") {
		t.Errorf("status of the primary: %s", r)
	}
	a.expect(0, "qpidd", "status") // running and answering

	// start again: already primary, the hooks do not run again.
	a.expect(0, "qpidd-primary", "start")
	if rec2, _ := os.ReadFile(recordA); string(rec2) != string(rec) {
		t.Errorf("the hooks ran again on a primary: %q", rec2)
	}

	// The backup catches up; it is not primary.
	b.waitHAStatus(30*time.Second, "ready")
	b.expect(1, "qpidd-primary", "status")

	// qpidd stop leaves the primary running (QPID-5942).
	pidA := a.pid()
	r = a.expect(0, "qpidd", "stop")
	if !strings.Contains(r.stdout, "stop primary broker with 'qpidd-primary stop'") || !isQpidd(pidA, a.qpidd) {
		t.Fatalf("qpidd stop on the primary: %s", r)
	}
	a.expect(0, "qpidd", "restart") // a primary is not restarted either
	if a.pid() != pidA {
		t.Error("qpidd restart restarted the primary")
	}

	// A second promotion while a is primary is refused, with the reason.
	recordB := recordingHook(t, b, "10-record")
	r = b.expect(1, "qpidd-primary", "start")
	if !strings.Contains(r.stderr, "refused to be promoted") || !strings.Contains(r.stderr, "already primary") {
		t.Errorf("refused promotion: %s", r)
	}
	if st := b.haStatus(); st != "ready" {
		t.Errorf("after a refused promotion b is %q", st)
	}
	_ = os.Remove(recordB)

	// qpidd-primary stop on the backup leaves it running.
	pidB := b.pid()
	r = b.expect(0, "qpidd-primary", "stop")
	if !strings.Contains(r.stdout, "backup") || !isQpidd(pidB, b.qpidd) {
		t.Fatalf("qpidd-primary stop on a backup: %s", r)
	}

	// qpidd-primary stop on the primary stops it.
	a.expect(0, "qpidd-primary", "stop")
	if !waitGone(pidA, 5*time.Second) {
		t.Fatal("the primary still runs after qpidd-primary stop")
	}
	a.expect(3, "qpidd-primary", "status")
	a.expect(3, "qpidd", "status")
	a.expect(0, "qpidd-primary", "stop")

	// Failover: the relocated qpidd-primary promotes the ready backup.
	r = b.expect(0, "qpidd-primary", "start")
	rec, _ = os.ReadFile(recordB)
	if !strings.Contains(string(rec), "status=ready env=ready") {
		t.Errorf("hook on b: %q (want it run while b was a ready backup)\n%s", rec, r)
	}
	b.expect(0, "qpidd-primary", "status")

	// The old primary's node comes back as a backup of the new primary.
	a.expect(0, "qpidd", "start")
	a.waitHAStatus(30*time.Second, "ready")
	a.expect(1, "qpidd-primary", "status")
	a.expect(0, "qpidd", "stop")
	a.expect(3, "qpidd", "status")
}

// qpidd-primary start with no broker running starts it (as the qpidd
// service would), then promotes it; restart stops and promotes again.
func TestPrimaryStartsTheBroker(t *testing.T) {
	n := cluster(t, 1)[0]
	n.expect(3, "qpidd-primary", "status")
	r := n.expect(0, "qpidd-primary", "start")
	if !strings.Contains(r.stdout, "started") || !strings.Contains(r.stdout, "is primary") {
		t.Errorf("start: %s", r)
	}
	if !lockFree(t, n.lock) {
		t.Fatal("the broker holds the scripts' lock")
	}
	n.expect(0, "qpidd-primary", "status")
	n.expect(0, "qpidd", "status")
	pid := n.pid()
	n.expect(0, "qpidd-primary", "restart")
	if n.pid() == pid || alive(pid) {
		t.Errorf("restart kept broker %d", pid)
	}
	n.expect(0, "qpidd-primary", "status")
	pid = n.pid()
	n.expect(0, "qpidd-primary", "try-restart")
	if n.pid() == pid {
		t.Error("try-restart of a primary did not restart it")
	}
	n.expect(0, "qpidd-primary", "stop")
	n.expect(3, "qpidd-primary", "status")
	n.expect(0, "qpidd-primary", "stop")
}

// A failing hook fails start (1), names the hook, and the broker is not
// promoted; the hooks run in lexical order and stop at the failure.
func TestPrimaryFailingHook(t *testing.T) {
	nodes := cluster(t, 2)
	for _, n := range nodes {
		n.expect(0, "qpidd", "start")
	}
	n := nodes[0]
	order := filepath.Join(n.dir, "order")
	writeFile(t, filepath.Join(n.hooks, "10-first"), "#!/bin/sh\necho first >>"+order+"\n", 0o755)
	writeFile(t, filepath.Join(n.hooks, "20-fails"), "#!/bin/sh\necho fails >>"+order+"\necho 'cannot re-create the link' >&2\nexit 7\n", 0o755)
	writeFile(t, filepath.Join(n.hooks, "30-never"), "#!/bin/sh\necho never >>"+order+"\n", 0o755)
	r := n.expect(1, "qpidd-primary", "start")
	if !strings.Contains(r.stderr, filepath.Join(n.hooks, "20-fails")) || !strings.Contains(r.stderr, "not promoted") ||
		!strings.Contains(r.stderr, "cannot re-create the link") {
		t.Errorf("start with a failing hook: %s", r)
	}
	if got, _ := os.ReadFile(order); string(got) != "first\nfails\n" {
		t.Errorf("hooks ran %q, want first then fails", got)
	}
	if st := n.haStatus(); st != "joining" {
		t.Fatalf("after the failed hook the broker is %q, want joining (not promoted)", st)
	}
	n.expect(1, "qpidd-primary", "status")

	// Fixed, the start succeeds.
	writeFile(t, filepath.Join(n.hooks, "20-fails"), "#!/bin/sh\nexit 0\n", 0o755)
	n.expect(0, "qpidd-primary", "start")
	n.waitHAStatus(10*time.Second, "active")
	n.expect(0, "qpidd-primary", "status")
}

// A broker that is not in a cluster cannot be promoted: 6 (not
// configured); qpidd-primary stop leaves it to the qpidd service.
func TestPrimaryOnAStandaloneBroker(t *testing.T) {
	n := newNode(t, "node", nodeConfig{})
	n.expect(0, "qpidd", "start")
	r := n.expect(1, "qpidd-primary", "status")
	if !strings.Contains(r.stdout, "standalone") {
		t.Errorf("status: %s", r)
	}
	if r := n.expect(6, "qpidd-primary", "start"); !strings.Contains(r.stderr, "not in a cluster") {
		t.Errorf("start: %s", r)
	}
	pid := n.pid()
	n.expect(0, "qpidd-primary", "stop")
	if !isQpidd(pid, n.qpidd) {
		t.Error("qpidd-primary stop stopped a standalone broker")
	}
	n.expect(0, "qpidd", "stop")
}

func TestPrimaryUsage(t *testing.T) {
	n := newNode(t, "node", nodeConfig{})
	for _, args := range [][]string{{}, {"bogus"}, {"--bogus", "status"}, {"status", "extra"}, {"--timeout", "x", "status"}} {
		if r := n.expect(2, "qpidd-primary", args...); !strings.Contains(r.stderr, "Usage: qpidd-primary") {
			t.Errorf("%q: %s", args, r)
		}
	}
	if r := n.expect(0, "qpidd-primary", "--help"); !strings.Contains(r.stdout, "Usage: qpidd-primary") {
		t.Errorf("--help: %s", r)
	}
	n.expect(3, "qpidd-primary", "reload")
}
