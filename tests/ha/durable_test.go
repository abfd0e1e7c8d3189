package ha

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/ha"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// A durable replicated queue under load from several senders of persistent
// messages, then every broker of the cluster SIGKILLed at once (what a
// power loss of every node does to the processes; the power-loss tests of
// the store cover the disk's side). It returns the bodies whose transfers
// were acknowledged.
func killWholeClusterUnderLoad(t *testing.T, c *qpiddtest.Cluster) map[string]bool {
	t.Helper()
	primary := c.Brokers[0]
	if _, err := qpiddtest.Admin(t, primary).CreateQueue(ctxFor(t, 10*time.Second), "dq", map[string]any{"durable": true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for s := 0; s < 4; s++ {
		snd, err := dial(t, primary).NewSender(ctxFor(t, 10*time.Second), "dq", nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := 0; ; i++ {
				body := fmt.Sprintf("s%d-%06d", s, i)
				m := goamqp.NewMessage([]byte(body))
				m.Header = &goamqp.MessageHeader{Durable: true}
				if err := snd.Send(ctx, m, nil); err != nil {
					return // the kill
				}
				mu.Lock()
				acked[body] = true
				mu.Unlock()
			}
		}(s)
	}
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 1500 {
			return fmt.Errorf("%d acknowledged so far", len(acked))
		}
		return nil
	})
	for _, b := range c.Brokers {
		b.Kill()
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	out := make(map[string]bool, len(acked))
	for k := range acked {
		out[k] = true
	}
	return out
}

// positionOf reads the replication position a broker's state file holds,
// as the OCF agent's first start does.
func positionOf(t *testing.T, b *qpiddtest.Broker) ha.Position {
	t.Helper()
	p, err := ha.ReadPersistent(b.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return p.Position
}

// checkEveryAcknowledged drains dq on the primary: every acknowledged body
// must come back, and nothing that was never sent.
func checkEveryAcknowledged(t *testing.T, primary *qpiddtest.Broker, acked map[string]bool) {
	t.Helper()
	n, err := depth(t, primary, "dq")
	if err != nil {
		t.Fatal(err)
	}
	got := receiveAll(t, primary, "dq", int(n))
	seen := map[string]bool{}
	for _, body := range got {
		var s, i int
		if _, err := fmt.Sscanf(body, "s%d-%d", &s, &i); err != nil {
			t.Fatalf("received %q, which was never sent", body)
		}
		seen[body] = true
	}
	lost := 0
	for body := range acked {
		if !seen[body] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged, not recovered: %s", body)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost (%d recovered)", lost, len(acked), len(got))
	}
	t.Logf("%d acknowledged, %d recovered (the rest were sent but not yet acknowledged at the kill)", len(acked), len(got))
}

// The whole cluster killed under load and restarted: the broker the OCF
// agent's first start chooses (the highest position in its state file,
// which each broker takes from its store at start) is promoted by its own
// rules, holds every acknowledged persistent message, and the others catch
// up from it.
func TestWholeClusterKilledRecoversFromStores(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	acked := killWholeClusterUnderLoad(t, c)
	for _, b := range c.Brokers {
		b.Restart()
	}
	best := c.Brokers[0]
	for _, b := range c.Brokers[1:] {
		if positionOf(t, best).Less(positionOf(t, b)) {
			best = b
		}
	}
	for _, b := range c.Brokers {
		t.Logf("%s: position %s", b.Addr(), positionOf(t, b))
	}
	if err := qpiddtest.Promote(t, best); err != nil {
		t.Fatalf("promoting the broker with the highest position: %v", err)
	}
	qpiddtest.WaitStatus(t, best, "active", 30*time.Second)
	for _, b := range c.Brokers {
		if b != best {
			qpiddtest.WaitStatus(t, b, "ready", 30*time.Second)
		}
	}
	checkEveryAcknowledged(t, best, acked)
}

// The whole cluster killed under load, and the old primary never comes
// back: a former backup is promoted. Every message was acknowledged only
// once on each ready backup's disk, so it holds them all; the other backup,
// if it holds less, refuses to lead while it can see the better one.
func TestFormerBackupRecoversFromItsStore(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	acked := killWholeClusterUnderLoad(t, c)
	b1, b2 := c.Brokers[1], c.Brokers[2]
	b1.Restart()
	b2.Restart()
	best, other := b1, b2
	if positionOf(t, b1).Less(positionOf(t, b2)) {
		best, other = b2, b1
	}
	if positionOf(t, other).Less(positionOf(t, best)) {
		if err := qpiddtest.Promote(t, other); err == nil {
			t.Fatalf("a backup holding %s was promoted while a peer holding %s was reachable", positionOf(t, other), positionOf(t, best))
		}
	}
	if err := qpiddtest.Promote(t, best); err != nil {
		t.Fatalf("promoting a former backup: %v", err)
	}
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		st, err := qpiddtest.HAStatus(t, best)
		if err != nil {
			return err
		}
		if s := st["status"]; s != "recovering" && s != "active" {
			return fmt.Errorf("status %v", s)
		}
		return nil
	})
	checkEveryAcknowledged(t, best, acked)
}

// sendPersistent sends n persistent messages to a queue from 8 senders at
// once, each waiting for its acknowledgements.
func sendPersistent(t *testing.T, b *qpiddtest.Broker, queue string, n int) {
	t.Helper()
	ctx := ctxFor(t, 120*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for s := 0; s < 8; s++ {
		snd, err := dial(t, b).NewSender(ctx, queue, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := s; i < n; i += 8 {
				m := goamqp.NewMessage([]byte(fmt.Sprintf("%s-%06d", queue, i)))
				m.Header = &goamqp.MessageHeader{Durable: true}
				if err := snd.Send(ctx, m, nil); err != nil {
					errs <- err
					return
				}
			}
		}(s)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A backup that loses its primary in the middle of catching up keeps what
// it held: the catch-up's deletions (messages consumed while it was away)
// wait until it is ready. The primary is frozen while the backup has
// received the deletions for one queue (a-held) and part of another
// queue's backlog (b-backlog, after it in the snapshot), then killed.
func TestCatchUpDefersDeletions(t *testing.T) {
	c := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*", "--ha-flow-messages", "20")
	a, b := c.Brokers[0], c.Brokers[1]
	for _, q := range []string{"a-held", "b-backlog"} {
		if _, err := qpiddtest.Admin(t, a).CreateQueue(ctxFor(t, 10*time.Second), q, map[string]any{"durable": true}); err != nil {
			t.Fatal(err)
		}
	}
	sendPersistent(t, a, "a-held", 10)
	waitDepth(t, b, "a-held", 10)
	b.Kill()
	receiveAll(t, a, "a-held", 5) // consumed while the backup is away
	sendPersistent(t, a, "b-backlog", 20000)
	freezeMidCatchUp(t, a, b, "b-backlog")
	held, err := depth(t, b, "a-held")
	if err != nil {
		t.Fatal(err)
	}
	if held != 10 {
		t.Fatalf("mid-catch-up the backup holds %d messages of a-held, want the 10 it held (the deletions wait until it is ready)", held)
	}
	a.Kill()
	b.Kill()
	b.Restart()
	if held, err = depth(t, b, "a-held"); err != nil || held != 10 {
		t.Fatalf("restarted after its primary died mid-catch-up, the backup holds %d of a-held (%v), want 10", held, err)
	}
}

// freezeMidCatchUp restarts backup b and freezes its primary a (SIGSTOP)
// once b has received part of queue's backlog but is not caught up (the
// snapshot sends queues in name order: what comes before queue is in).
// If the catch-up ended first, it tries again, up to five times.
func freezeMidCatchUp(t *testing.T, a, b *qpiddtest.Broker, queue string) {
	t.Helper()
	for try := 1; ; try++ {
		b.Restart()
		caught := false
		qpiddtest.Eventually(t, 60*time.Second, func() error {
			n, err := depth(t, b, queue)
			if err != nil || n == 0 {
				return fmt.Errorf("no catch-up of %s yet (%d, %v)", queue, n, err)
			}
			a.Signal(stopSignal)
			st, err := qpiddtest.HAStatus(t, b)
			if err != nil {
				return err
			}
			caught = st["status"] != "catchup"
			return nil
		})
		if !caught {
			return
		}
		a.Signal(contSignal)
		if try == 5 {
			t.Fatal("the catch-up always ended before the primary froze")
		}
		b.Kill()
		t.Logf("try %d: the catch-up ended before the primary froze; again", try)
	}
}

// asideQueues lists the queues a backup set aside, with their depths.
func asideQueues(t *testing.T, b *qpiddtest.Broker) map[string]int64 {
	t.Helper()
	qs, err := qpiddtest.Admin(t, b).Queues(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, q := range qs {
		if name := q.Str("name"); strings.HasPrefix(name, "qpid.ha-aside.") {
			out[name] = q.Int("messageDepth")
		}
	}
	return out
}

// A queue deleted and declared again on the primary while a backup was
// away: the backup sets its old incarnation aside (with its messages, in
// its store) until it is ready again, so one that loses its primary
// mid-catch-up keeps them: a restart restores them as qpid.ha-aside.NAME.ID;
// once ready again (its primary back), they are gone.
func TestCatchUpSetsReplacedQueuesAside(t *testing.T) {
	c := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*", "--ha-flow-messages", "20")
	a, b := c.Brokers[0], c.Brokers[1]
	admin := qpiddtest.Admin(t, a)
	ctx := ctxFor(t, 60*time.Second)
	for _, q := range []string{"a-queue", "b-backlog"} {
		if _, err := admin.CreateQueue(ctx, q, map[string]any{"durable": true}); err != nil {
			t.Fatal(err)
		}
	}
	sendPersistent(t, a, "a-queue", 5)
	waitDepth(t, b, "a-queue", 5)
	b.Kill()
	if err := admin.DeleteQueue(ctx, "a-queue", false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateQueue(ctx, "a-queue", map[string]any{"durable": true}); err != nil {
		t.Fatal(err)
	}
	sendPersistent(t, a, "a-queue", 3)
	sendPersistent(t, a, "b-backlog", 20000)
	freezeMidCatchUp(t, a, b, "b-backlog")
	// Set aside, out of the way of the new a-queue (the log says so).
	if !strings.Contains(b.Log(), "setting the old one aside until caught up") {
		t.Fatalf("mid-catch-up, the old a-queue was not set aside:\n%s", b.Log())
	}
	a.Kill()
	b.Kill()
	b.Restart()
	aside := asideQueues(t, b)
	if len(aside) != 1 {
		t.Fatalf("after the primary died mid-catch-up and a restart, queues set aside: %v, want the old a-queue with 5", aside)
	}
	for name, n := range aside {
		if n != 5 || !strings.HasPrefix(name, "qpid.ha-aside.a-queue.") {
			t.Fatalf("set aside: %s with %d messages, want qpid.ha-aside.a-queue.* with 5", name, n)
		}
	}
	// The primary comes back and leads again (it holds more); once the
	// backup is ready, what it set aside is gone, from its store too.
	a.Restart()
	if err := qpiddtest.Promote(t, a); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, b, "ready", 60*time.Second)
	if left := asideQueues(t, b); len(left) != 0 {
		t.Fatalf("ready again, the backup still has %v set aside", left)
	}
	waitDepth(t, b, "a-queue", 3)
	b.Kill()
	b.Restart()
	if left := asideQueues(t, b); len(left) != 0 {
		t.Fatalf("after a restart, the backup has %v set aside again", left)
	}
}
