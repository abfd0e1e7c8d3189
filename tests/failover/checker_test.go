package failover

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/checker"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// The checker must see a loss when there is one: a broker without HA keeps
// its queues in memory, so killing and restarting it loses the backlog, and
// the checker must name the lost messages.
func TestCheckerSeesLoss(t *testing.T) {
	for _, client := range []string{"go", "proton"} {
		t.Run(client, func(t *testing.T) {
			b := qpiddtest.Start(t, "--queue-patterns", ".*")
			run, err := checker.Start(checker.Config{
				URLs: []string{b.Addr()}, Queue: "loss", Client: client, ProtonReconnect: "app",
				ClientsDir: clientsDir(), Rate: 200, ReceiveRate: 20, Credit: 1,
				DrainIdle: time.Second, Logf: t.Logf,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer run.Abort()
			qpiddtest.Eventually(t, 30*time.Second, func() error {
				if confirmed, received := run.Tracker().Progress(); confirmed-received < 50 {
					return errors.New("no backlog yet")
				}
				return nil
			})
			b.Kill()
			b.Restart()
			run.StopSending()
			rep := run.Wait()
			t.Log(rep.Summary())
			if rep.OK || rep.Lost < 40 || len(rep.LostIDs) == 0 || rep.SenderDisconnects == 0 {
				t.Fatalf("the checker missed the loss of the backlog: %+v", rep)
			}
		})
	}
}

// A paused (SIGSTOPped) primary that another broker replaced while it was
// paused is primary in its own log until it notices, once resumed, that a
// newer epoch exists and stops: the role-change check must show the two
// primaries' overlap, ended by the stale primary's shutdown line, and the
// clients, who moved to the new primary, must lose nothing.
func TestCheckerSeesPausedPrimary(t *testing.T) {
	c := qpiddtest.StartCluster(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	old, next := c.Brokers[0], c.Brokers[1]
	if err := qpiddtest.Promote(t, old); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, old, "active", 20*time.Second)
	for _, b := range c.Brokers[1:] {
		qpiddtest.WaitStatus(t, b, "ready", 20*time.Second)
	}
	var urls []string
	for _, b := range c.Brokers {
		urls = append(urls, b.Addr())
	}
	run, err := checker.Start(checker.Config{URLs: urls, Queue: "paused", Senders: 2, Receivers: 2,
		Rate: 100, ReceiveRate: 60, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Abort()
	waitProgress(t, run, 100, nil)

	old.Signal(syscall.SIGSTOP)
	paused := time.Now()
	// As the cluster manager's monitor would: the old primary is hung.
	qpiddtest.WaitUnresponsive(t, old)
	if err := qpiddtest.Promote(t, next); err != nil {
		t.Fatalf("promote: %v\n%s", err, next.Log())
	}
	qpiddtest.WaitStatus(t, next, "active", 30*time.Second)
	waitProgress(t, run, 100, nil)
	old.Signal(syscall.SIGCONT)
	resumed := time.Now()
	code := old.Wait(30 * time.Second)
	t.Logf("paused %v, then stopped %v after it resumed (exit code %d)",
		resumed.Sub(paused).Round(time.Millisecond), time.Since(resumed).Round(time.Millisecond), code)
	waitProgress(t, run, 100, nil)

	run.StopSending()
	rep := run.Wait()
	rep.Overlap = checker.CheckOverlapLogs(map[string]string{"old": old.Log(), "next": next.Log(), "other": c.Brokers[2].Log()})
	rep.Judge()
	t.Log(rep.Summary())
	for _, p := range rep.Problems {
		t.Log(p)
	}
	if rep.Lost != 0 || !rep.DrainComplete {
		t.Errorf("lost %v, drain complete %v", rep.LostIDs, rep.DrainComplete)
	}
	o := rep.Overlap
	if len(o.Overlaps) != 1 || o.Overlaps[0].A.Broker != "old" || o.Overlaps[0].A.EndedBy != "stale primary stopped" {
		t.Errorf("want one overlap, ended by the old primary's stale shutdown: %+v\n%s", o, old.Log())
	}
}

// The command line: a run against one broker, its JSON report, and the
// role-change check of a log (a broker without HA has no role changes).
func TestCheckerCommand(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	dir := t.TempDir()
	brokerLog := filepath.Join(dir, "broker.log")
	for _, client := range []string{"go", "proton"} {
		if err := os.WriteFile(brokerLog, []byte(b.Log()), 0o644); err != nil {
			t.Fatal(err)
		}
		report := filepath.Join(dir, client+".json")
		var stdout, stderr bytes.Buffer
		code := checker.Main([]string{"run", "--urls", b.Addr(), "--queue", "command-" + client,
			"--client", client, "--clients", clientsDir(), "--senders", "2", "--messages", "150",
			"--report", report, "--role-log", brokerLog}, &stdout, &stderr, nil)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", client, code, stdout.String(), stderr.String())
		}
		if !strings.HasPrefix(stdout.String(), "checker "+client) || !strings.Contains(stdout.String(), "confirmed=300 received=300 lost=0") {
			t.Fatalf("%s: %s", client, stdout.String())
		}
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		var rep checker.Report
		if err := json.Unmarshal(data, &rep); err != nil || !rep.OK || rep.Confirmed != 300 || rep.Overlap == nil || !rep.Overlap.OK {
			t.Fatalf("%s: %v\n%s", client, err, data)
		}
	}
}
