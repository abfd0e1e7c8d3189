package ha

import (
	"context"
	"fmt"
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
