package ha

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// Proton's tx_send.py and tx_recv.py, unmodified, on either side of a
// failover: what tx_send.py committed on the old primary, tx_recv.py
// consumes from the new one, through the same address (a VIP).
func TestProtonTxExamplesAcrossFailover(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	primary, next := c.Brokers[0], c.Brokers[1]
	vip := qpiddtest.StartProxy(t, primary.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := vip.Addr() + "/examples"
	out, err := qpiddtest.Python(ctx, qpiddtest.ProtonExample("tx_send.py"), "-a", addr, "-m", "500", "-b", "10")
	if err != nil || !strings.Contains(out, "all messages committed") {
		t.Fatalf("tx_send.py: %v\n%s", err, out)
	}
	primary.Kill()
	if err := qpiddtest.Promote(t, next); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, next, "active", 20*time.Second)
	vip.Move(next.Addr())
	out, err = qpiddtest.Python(ctx, qpiddtest.ProtonExample("tx_recv.py"), "-a", addr, "-m", "500", "-b", "10")
	if err != nil {
		t.Fatalf("tx_recv.py: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 500 || lines[0] != "{'sequence': 1}" || lines[499] != "{'sequence': 500}" {
		t.Fatalf("tx_recv.py printed %d lines, want sequences 1..500:\n%s", len(lines), out)
	}
	waitDepth(t, next, "examples", 0)
}

// runTxClient starts clients/tx_failover.py and collects its lines.
func runTxClient(t *testing.T, ctx context.Context, role, url string, total, batch int) (lines <-chan string, wait func() error) {
	t.Helper()
	script := filepath.Join(qpiddtest.Root(), "tests", "ha", "clients", "tx_failover.py")
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", script, role, url, "examples", fmt.Sprint(total), fmt.Sprint(batch))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ch := make(chan string, 1000)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			ch <- s.Text()
		}
		close(ch)
	}()
	return ch, cmd.Wait
}

// failOver kills the primary, promotes next and moves the VIP to it.
func failOver(t *testing.T, primary, next *qpiddtest.Broker, vip *qpiddtest.Proxy) {
	t.Helper()
	primary.Kill()
	if err := qpiddtest.Promote(t, next); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, next, "active", 20*time.Second)
	vip.Move(next.Addr())
}

// Transactions in flight at a failover fail cleanly and are never applied
// in part. A sender commits batches of 10 through a VIP while the primary is
// killed; then a receiver consumes them in transactions of 10 while the new
// primary is killed in turn. A client that lost a transaction's outcome
// asks again on its new connection and the broker answers with the truth
// (the commit went through, or amqp:transaction:rollback), so every message
// is sent once and consumed once: no batch lost, none applied twice or in
// part.
func TestTransactionsAcrossFailover(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	b0, b1, b2 := c.Brokers[0], c.Brokers[1], c.Brokers[2]
	vip := qpiddtest.StartProxy(t, b0.Addr())
	const total, batch = 3000, 10
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	lines, wait := runTxClient(t, ctx, "send", vip.Addr(), total, batch)
	qpiddtest.Eventually(t, time.Minute, func() error {
		if n, err := depth(t, b0, "examples"); err != nil || n < 1000 {
			return fmt.Errorf("examples holds %d messages (%v)", n, err)
		}
		return nil
	})
	failOver(t, b0, b1, vip)
	var out []string
	for l := range lines {
		out = append(out, l)
	}
	if err := wait(); err != nil || out[len(out)-1] != "done" {
		t.Fatalf("the transactional sender did not finish across the failover: %v\n%s", err, strings.Join(out, "\n"))
	}
	t.Logf("sender: %s", strings.Join(out, "; "))
	waitDepth(t, b1, "examples", total) // exactly once: no batch twice
	qpiddtest.WaitStatus(t, b2, "ready", 30*time.Second)

	lines, wait = runTxClient(t, ctx, "recv", vip.Addr(), total, batch)
	consumed := map[int]int{}
	var events []string
	killed := false
	for l := range lines {
		seqs, ok := strings.CutPrefix(l, "consumed ")
		if !ok {
			events = append(events, l)
			continue
		}
		for _, f := range strings.Fields(seqs) {
			n, _ := strconv.Atoi(f)
			consumed[n]++
		}
		if !killed && len(consumed) >= total/3 {
			killed = true
			failOver(t, b1, b2, vip)
		}
	}
	if err := wait(); err != nil || len(events) == 0 || events[len(events)-1] != "done" {
		t.Fatalf("the transactional receiver did not finish across the failover: %v\n%s", err, strings.Join(events, "\n"))
	}
	t.Logf("receiver: %s", strings.Join(events, "; "))
	for s := 1; s <= total; s++ {
		if consumed[s] != 1 {
			t.Fatalf("sequence %d was consumed in %d committed transactions, want exactly 1", s, consumed[s])
		}
	}
	waitDepth(t, b2, "examples", 0)
}
