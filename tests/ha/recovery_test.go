package ha

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// sendAsync sends one message and reports when the broker settles it.
func sendAsync(t *testing.T, b *qpiddtest.Broker, address, body string) <-chan error {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	snd, err := dial(t, b).NewSender(ctx, address, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- snd.Send(ctx, goamqp.NewMessage([]byte(body)), nil) }()
	return done
}

// A new primary is recovering: it holds acknowledgements on behalf of the
// backups that were ready under the old primary until they return and catch
// up, then goes active.
func TestRecoveringHoldsUntilBackupsReturn(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*", "--ha-backup-timeout", "60")
	old, next, away := c.Brokers[0], c.Brokers[1], c.Brokers[2]
	send(t, old, "q", "before")
	waitDepth(t, away, "q", 1)
	// The primary dies first, so its ready set still names both backups.
	old.Kill()
	away.Kill()
	if err := qpiddtest.Promote(t, next); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, next, "recovering", 10*time.Second)
	done := sendAsync(t, next, "q", "during-recovery")
	select {
	case err := <-done:
		t.Fatalf("a recovering primary acknowledged without its expected backup: %v", err)
	case <-time.After(2 * time.Second):
	}
	away.Restart()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held send was not released when the expected backup caught up")
	}
	qpiddtest.WaitStatus(t, next, "active", 10*time.Second)
	waitDepth(t, away, "q", 2)
}

// ... or until ha-backup-timeout, when the missing backups leave the ready set.
func TestRecoveringReleasesAfterBackupTimeout(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*", "--ha-backup-timeout", "3")
	a, b, gone := c.Brokers[0], c.Brokers[1], c.Brokers[2]
	a.Kill()
	gone.Kill()
	if err := qpiddtest.Promote(t, b); err != nil {
		t.Fatal(err)
	}
	start := time.Now() // the ha-backup-timeout runs from the promotion
	qpiddtest.WaitStatus(t, b, "recovering", 2*time.Second)
	done := sendAsync(t, b, "q", "held")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 2*time.Second {
			t.Fatalf("released after %v, before ha-backup-timeout (3s)", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the held send was never released after ha-backup-timeout")
	}
	qpiddtest.WaitStatus(t, b, "active", 10*time.Second)
	if !strings.Contains(b.Log(), "did not return within ha-backup-timeout") {
		t.Fatalf("no log of the expected backup being dropped:\n%s", b.Log())
	}
}

// A SIGSTOPed backup stalls senders for at most two link heartbeats: the
// primary stops waiting for it (and drops it from the ready set).
func TestHungBackupStallsAtMostTwoHeartbeats(t *testing.T) {
	c := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*", "--link-heartbeat-interval", "1")
	primary, hung := c.Brokers[0], c.Brokers[1]
	send(t, primary, "q", "warm-up")
	hung.Signal(stopSignal)
	defer hung.Signal(contSignal)
	start := time.Now()
	if err := <-sendAsync(t, primary, "q", "while-hung"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second+2*time.Second {
		t.Fatalf("a hung backup stalled the sender for %v; at most 2 heartbeats (2s) plus slack", d)
	}
	t.Logf("a send stalled %v by a SIGSTOPed backup (heartbeat 1s)", time.Since(start).Round(10*time.Millisecond))
}

// A broker that (re)joins refuses promotion while a primary exists; a hung
// (SIGSTOPed) peer is ignored by the status check, and another ready backup
// is enough to refuse.
func TestRejoiningBrokerRefusesPromotion(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	primary, ready, rejoining := c.Brokers[0], c.Brokers[1], c.Brokers[2]
	rejoining.Kill()
	primary.Signal(stopSignal) // hung: no replication source for the rejoining broker
	defer primary.Signal(contSignal)
	qpiddtest.WaitUnresponsive(t, primary)
	rejoining.Restart()
	qpiddtest.WaitStatus(t, rejoining, "joining", 10*time.Second)
	err := qpiddtest.Promote(t, rejoining)
	if err == nil || !strings.Contains(err.Error(), "Joining active cluster") {
		t.Fatalf("promoting a joining broker while %s is ready: %v, want a refusal", ready.Addr(), err)
	}
	primary.Signal(contSignal)
	qpiddtest.WaitStatus(t, rejoining, "ready", 30*time.Second)
	err = qpiddtest.Promote(t, rejoining)
	if err == nil || !strings.Contains(err.Error(), "primary") {
		t.Fatalf("promoting a ready backup while a primary is active: %v, want a refusal", err)
	}
	// The first primary of a new cluster: every broker joining.
	fresh := qpiddtest.StartCluster(t, 3)
	if err := qpiddtest.Promote(t, fresh.Brokers[1]); err != nil {
		t.Fatalf("the first primary of a new cluster: %v", err)
	}
	qpiddtest.WaitStatus(t, fresh.Brokers[1], "active", 10*time.Second)
	for _, b := range []*qpiddtest.Broker{fresh.Brokers[0], fresh.Brokers[2]} {
		if err := qpiddtest.Promote(t, b); err == nil {
			t.Fatal(fmt.Sprintf("a second primary was promoted: %s", b.Addr()))
		}
	}
}

// A primary frozen while a backup is promoted acknowledges nothing on its
// own when it wakes (SIGCONT, as a careless stop would send): its backups
// went silent because it was frozen, not because they failed, so before
// dropping them it asks its peers, finds the newer primary, and stops.
// Every message a client saw acknowledged is on the new primary.
func TestFrozenPrimaryAcknowledgesNothingAlone(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	old, next := c.Brokers[0], c.Brokers[1]
	ctx := ctxFor(t, 2*time.Minute)
	snd, err := dial(t, old).NewSender(ctx, "frozen", nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var confirmed []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			body := fmt.Sprintf("m-%05d", i)
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			err := snd.Send(sctx, goamqp.NewMessage([]byte(body)), nil)
			cancel()
			if err != nil {
				return
			}
			mu.Lock()
			confirmed = append(confirmed, body)
			mu.Unlock()
		}
	}()
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(confirmed) < 200 {
			return fmt.Errorf("%d messages confirmed", len(confirmed))
		}
		return nil
	})
	old.Signal(stopSignal)
	qpiddtest.WaitUnresponsive(t, old)
	qpiddtest.Eventually(t, 30*time.Second, func() error { return qpiddtest.Promote(t, next) })
	qpiddtest.WaitStatus(t, next, "active", 30*time.Second)
	old.Signal(contSignal)
	if code := old.Wait(30 * time.Second); code == 0 {
		t.Fatalf("the woken stale primary exited 0\n%s", old.Log())
	}
	if !strings.Contains(old.Log(), "stale primary") {
		t.Fatalf("the woken primary did not stop as stale:\n%s", old.Log())
	}
	close(stop)
	<-done
	mu.Lock()
	sent := append([]string(nil), confirmed...)
	mu.Unlock()
	n, err := depth(t, next, "frozen")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, b := range receiveAll(t, next, "frozen", int(n)) {
		have[b] = true
	}
	for _, b := range sent {
		if !have[b] {
			t.Fatalf("%s was acknowledged to the client but is not on the new primary (%d confirmed, %d there)\nold primary:\n%s", b, len(sent), n, old.Log())
		}
	}
	t.Logf("%d confirmed, all %d on the new primary", len(sent), n)
}

// A primary frozen (SIGSTOP) while no other was promoted keeps serving when
// it wakes, and its backups, which gave up on it and reconnected, end up
// back in the ready set, in the primary's view and in their own. (Its check
// for a newer primary used to finish after a backup had come back and
// caught up, and then dropped that backup for good.)
func TestFrozenPrimaryKeepsItsReturningBackups(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	primary, backups := c.Brokers[0], c.Brokers[1:]
	send(t, primary, "q", bodies("before", 5)...)
	primary.Signal(stopSignal)
	qpiddtest.WaitUnresponsive(t, primary)
	time.Sleep(6 * time.Second) // 3 link heartbeats: the backups give up on it
	primary.Signal(contSignal)
	qpiddtest.Eventually(t, 40*time.Second, func() error {
		st, err := qpiddtest.HAStatus(t, primary)
		if err != nil {
			return err
		}
		if st["status"] != "active" {
			return fmt.Errorf("primary is %v", st["status"])
		}
		if ready, _ := st["ready"].([]any); len(ready) != 2 {
			return fmt.Errorf("primary's ready set %v", st["ready"])
		}
		for _, b := range backups {
			st, err := qpiddtest.HAStatus(t, b)
			if err != nil {
				return err
			}
			if st["status"] != "ready" || st["inReadySet"] != true {
				return fmt.Errorf("backup %s: %v, in ready set %v", b.Addr(), st["status"], st["inReadySet"])
			}
		}
		return nil
	})
	send(t, primary, "q", bodies("after", 5)...)
	for _, b := range backups {
		waitDepth(t, b, "q", 10)
	}
}
