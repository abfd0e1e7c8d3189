// Package failover runs the failover checker (internal/checker) against a
// 3-broker HA cluster of real qpidd processes while the primary is killed
// with SIGKILL, a ready backup is promoted and the killed broker restarted
// as a backup, over and over: no confirmed message may be lost, and the
// brokers' role-change logs must never show two primaries at once.
// client_test.go does the same with a sender and a receiver written on the
// public failover package only (TestFailoverClientPackage), and tests its
// heartbeat, de-dup window and permanent errors against real brokers.
//
// QPIDHA_FAILOVER_CYCLES sets the number of failovers per test (default
// 20, about 30-40 s per test).
package failover

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/checker"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

const defaultCycles = 20

func cycles(t *testing.T) int {
	if s := os.Getenv("QPIDHA_FAILOVER_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("QPIDHA_FAILOVER_CYCLES=%q: want a positive number", s)
		}
		return n
	}
	return defaultCycles
}

func TestFailoverGoAMQP(t *testing.T) {
	failovers(t, checker.Config{Client: "go"})
}

// The proton scripts fail over by themselves (--reconnect app): see
// TestFailoverProtonLibraryReconnect for proton's own reconnect.
func TestFailoverProton(t *testing.T) {
	failovers(t, checker.Config{Client: "proton", ProtonReconnect: "app"})
}

// Proton's own reconnect over a URL list: it restarts its list at the first
// address whenever a peer opens, so backups turn clients away with a close
// and no open; then the library alone finds the new primary. Five failovers
// here (TestFailoverProton makes twenty with proton clients).
func TestFailoverProtonLibraryReconnect(t *testing.T) {
	if os.Getenv("QPIDHA_FAILOVER_CYCLES") == "" {
		t.Setenv("QPIDHA_FAILOVER_CYCLES", "5")
	}
	failovers(t, checker.Config{Client: "proton", ProtonReconnect: "proton"})
}

// clientsDir holds the checker's proton scripts.
func clientsDir() string { return filepath.Join(qpiddtest.Root(), "tests", "checker", "clients") }

// cluster tracks the brokers' incarnations, their logs and the times the
// test killed them, for the role-change check.
type cluster struct {
	*qpiddtest.Cluster
	t           *testing.T
	incarnation []int
	logs        map[string]string // logs of brokers killed since, by incarnation
	markers     []string          // KILLED lines
}

func (c *cluster) name(i int) string { return fmt.Sprintf("b%d#%d", i, c.incarnation[i]) }

// kill kills broker i with SIGKILL, then notes the time: the broker is dead
// by then, so its time as primary ends no later.
func (c *cluster) kill(i int) {
	b := c.Brokers[i]
	b.Kill()
	c.markers = append(c.markers, checker.KillMarker(c.name(i), checker.Monotonic()))
	c.logs[c.name(i)] = b.Log()
}

func (c *cluster) restart(i int) {
	c.incarnation[i]++
	c.Brokers[i].Restart()
}

// allLogs is every incarnation's log, and the kill markers as "harness".
func (c *cluster) allLogs() map[string]string {
	logs := map[string]string{"harness": strings.Join(c.markers, "\n") + "\n"}
	for name, l := range c.logs {
		logs[name] = l
	}
	for i, b := range c.Brokers {
		if _, dead := c.logs[c.name(i)]; !dead {
			logs[c.name(i)] = b.Log()
		}
	}
	return logs
}

// readyBackup is a broker other than the primary whose status is ready,
// the one after the primary first, so that every broker takes its turn.
func (c *cluster) readyBackup(primary int) int {
	for k := 1; k < len(c.Brokers); k++ {
		i := (primary + k) % len(c.Brokers)
		if st, err := qpiddtest.HAStatus(c.t, c.Brokers[i]); err == nil && st["status"] == "ready" {
			return i
		}
	}
	c.t.Fatalf("no ready backup to promote\n%s", c.dump())
	return -1
}

func (c *cluster) dump() string {
	var s strings.Builder
	for name, l := range c.allLogs() {
		fmt.Fprintf(&s, "==== %s\n%s", name, l)
	}
	return s.String()
}

func failovers(t *testing.T, cfg checker.Config) {
	n := cycles(t)
	c := &cluster{
		Cluster:     qpiddtest.StartCluster(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*"),
		t:           t,
		incarnation: make([]int, 3),
		logs:        map[string]string{},
	}
	primary := 0
	if err := qpiddtest.Promote(t, c.Brokers[primary]); err != nil {
		t.Fatalf("promote: %v\n%s", err, c.dump())
	}
	qpiddtest.WaitStatus(t, c.Brokers[primary], "active", 20*time.Second)
	for _, b := range c.Brokers[1:] {
		qpiddtest.WaitStatus(t, b, "ready", 20*time.Second)
	}

	for _, b := range c.Brokers {
		cfg.URLs = append(cfg.URLs, b.Addr())
	}
	cfg.Queue = "failover-" + cfg.Client
	cfg.Senders, cfg.Receivers = 2, 2
	cfg.Rate = 100       // per sender
	cfg.ReceiveRate = 60 // per receiver: a backlog builds up on the queue
	cfg.ClientsDir = clientsDir()
	cfg.Logf = t.Logf
	run, err := checker.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer run.Abort()

	start := time.Now()
	var toActive, toReady []time.Duration
	for cycle := 1; cycle <= n; cycle++ {
		waitProgress(t, run, 100, c)
		t0 := time.Now()
		c.kill(primary)
		next := c.readyBackup(primary)
		if err := qpiddtest.Promote(t, c.Brokers[next]); err != nil {
			t.Fatalf("cycle %d: promote %s: %v\n%s", cycle, c.name(next), err, c.dump())
		}
		qpiddtest.WaitStatus(t, c.Brokers[next], "active", 30*time.Second)
		active := time.Since(t0)
		c.restart(primary)
		for i, b := range c.Brokers {
			if i != next {
				qpiddtest.WaitStatus(t, b, "ready", 30*time.Second)
			}
		}
		ready := time.Since(t0)
		toActive, toReady = append(toActive, active), append(toReady, ready)
		confirmed, received := run.Tracker().Progress()
		t.Logf("cycle %d: killed %s, promoted %s: active after %v, all backups ready after %v (confirmed %d, received %d)",
			cycle, c.name(primary), c.name(next), active.Round(time.Millisecond),
			ready.Round(time.Millisecond), confirmed, received)
		primary = next
	}
	t.Logf("%d failovers in %v; from the kill, new primary active after %s, all backups ready after %s",
		n, time.Since(start).Round(time.Millisecond), spread(toActive), spread(toReady))
	waitProgress(t, run, 100, c) // the clients work with the last primary too

	run.StopSending()
	rep := run.Wait()
	rep.Overlap = checker.CheckOverlapLogs(c.allLogs())
	rep.Judge()
	t.Log(rep.Summary())
	for _, iv := range rep.Overlap.Intervals {
		t.Log(iv)
	}
	if !rep.OK || !rep.DrainComplete {
		data, _ := json.MarshalIndent(rep, "", "  ")
		t.Errorf("%s\ndrain complete: %v\n%s\nlogs in %s", strings.Join(rep.Problems, "\n"),
			rep.DrainComplete, data, saveLogs(t, c))
	}
	if rep.Confirmed < 100*n || rep.Unconfirmed > 0 {
		t.Errorf("%d messages confirmed in %d failovers, %d never confirmed", rep.Confirmed, n, rep.Unconfirmed)
	}
}

// spread is "min/median/max" of durations.
func spread(d []time.Duration) string {
	d = slices.Clone(d)
	slices.Sort(d)
	ms := func(x time.Duration) string { return x.Round(time.Millisecond).String() }
	return fmt.Sprintf("%s/%s/%s (min/median/max)", ms(d[0]), ms(d[len(d)/2]), ms(d[len(d)-1]))
}

// waitProgress waits until at least min more messages were confirmed and
// received, so that every primary carries traffic.
func waitProgress(t *testing.T, run *checker.Run, min int, c *cluster) {
	t.Helper()
	c0, r0 := run.Tracker().Progress()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c1, r1 := run.Tracker().Progress()
		if c1-c0 >= min && r1-r0 >= min {
			return
		}
		if time.Now().After(deadline) {
			logs := ""
			if c != nil {
				logs = c.dump()
			}
			t.Fatalf("no progress in 30s: confirmed %d -> %d, received %d -> %d\nchecker notes: %q\n%s",
				c0, c1, r0, r1, run.Tracker().Counts(10).Notes, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// saveLogs keeps the brokers' logs of a failed run in a directory that
// outlives the test.
func saveLogs(t *testing.T, c *cluster) string {
	dir, err := os.MkdirTemp("", "qpidha-failover-")
	if err != nil {
		return err.Error()
	}
	for name, l := range c.allLogs() {
		_ = os.WriteFile(filepath.Join(dir, name+".log"), []byte(l), 0o644)
	}
	return dir
}
