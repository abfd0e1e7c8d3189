// Package store tests the durable store of a real qpidd process: what
// survives a kill, a broker killed again and again under load, the offline
// check, truncate, an unknown format version, the store directory's lock.
package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

func dial(t *testing.T, ctx context.Context, b *qpiddtest.Broker) (*goamqp.Conn, *goamqp.Session) {
	t.Helper()
	conn, err := goamqp.Dial(ctx, b.URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, s
}

func message(body string, persistent bool) *goamqp.Message {
	m := goamqp.NewMessage([]byte(body))
	if persistent {
		m.Header = &goamqp.MessageHeader{Durable: true}
	}
	return m
}

func qpidConfig(t *testing.T, b *qpiddtest.Broker, args ...string) string {
	t.Helper()
	out, err := exec.Command(qpiddtest.Bin(t, "qpid-config"), append([]string{"-b", b.Addr()}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("qpid-config %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// drain receives (and accepts) every message of a queue.
func drain(t *testing.T, ctx context.Context, b *qpiddtest.Broker, queue string) []string {
	t.Helper()
	conn, s := dial(t, ctx, b)
	defer conn.Close()
	r, err := s.NewReceiver(ctx, queue, &goamqp.ReceiverOptions{Credit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		m, err := r.Receive(short, nil)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, string(m.GetData()))
		if err := r.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// What survives a broker killed with SIGKILL, row by row of the README's
// table: durable queues, exchanges and bindings, and the persistent
// messages on durable queues; not transient messages, not non-durable
// queues and what they held.
func TestWhatSurvivesAKill(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", "auto-.*")
	qpidConfig(t, b, "add", "queue", "durable", "--durable")
	qpidConfig(t, b, "add", "queue", "plain")
	qpidConfig(t, b, "add", "exchange", "topic", "events", "--durable")
	qpidConfig(t, b, "bind", "events", "durable", "order.#")
	qpidConfig(t, b, "bind", "amq.direct", "durable", "k")
	qpidConfig(t, b, "bind", "events", "plain", "x")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, s := dial(t, ctx, b)
	for _, send := range []struct {
		address, body string
		persistent    bool
	}{
		{"durable", "persistent", true}, {"durable", "transient", false},
		{"plain", "persistent on a non-durable queue", true}, {"auto-made", "made on demand", true},
	} {
		snd, err := s.NewSender(ctx, send.address, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := snd.Send(ctx, message(send.body, send.persistent), nil); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	b.Kill()
	b.Restart()
	queues := qpidConfig(t, b, "queues")
	if !strings.Contains(queues, "durable") || strings.Contains(queues, "plain") || strings.Contains(queues, "auto-made") {
		t.Fatalf("queues after a kill:\n%s", queues)
	}
	bindings := qpidConfig(t, b, "list", "binding")
	for _, want := range []string{"events", "order.#", "amq.direct"} {
		if !strings.Contains(bindings, want) {
			t.Fatalf("binding %s lost:\n%s", want, bindings)
		}
	}
	if strings.Contains(bindings, "plain") {
		t.Fatalf("a binding of a non-durable queue came back:\n%s", bindings)
	}
	if got := drain(t, ctx, b, "durable"); len(got) != 1 || got[0] != "persistent" {
		t.Fatalf("the durable queue after a kill: %v", got)
	}
	if !strings.Contains(b.Log(), "recovered") {
		t.Fatalf("no recovery logged:\n%s", b.Log())
	}
}

// A broker under load killed with SIGKILL 50 times in a row: senders with a
// window of unsettled persistent messages, a receiver accepting as they
// come. Every message a sender saw accepted is received at least once, in
// the end; nothing is received that was not sent; duplicates (messages
// received before a kill whose acceptance did not reach the disk) are
// counted and reported.
func TestKilledFiftyTimesUnderLoad(t *testing.T) {
	kills := 50
	if testing.Short() {
		kills = 5
	}
	b := qpiddtest.Start(t)
	qpidConfig(t, b, "add", "queue", "q", "--durable")
	var mu sync.Mutex
	acked := map[string]bool{}
	received := map[string]int{}
	for round := 0; round < kills; round++ {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for s := 0; s < 3; s++ {
			conn, sess := dial(t, ctx, b)
			defer conn.Close()
			snd, err := sess.NewSender(ctx, "q", nil)
			if err != nil {
				t.Fatal(err)
			}
			prefix := fmt.Sprintf("r%d-s%d-", round, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var window []goamqp.SendReceipt
				var bodies []string
				for i := 0; ; i++ {
					if len(window) == 20 || (ctx.Err() != nil && len(window) > 0) {
						st, err := window[0].Wait(context.Background())
						if err != nil {
							return // the broker is gone: not acknowledged
						}
						if _, ok := st.(*goamqp.StateAccepted); ok {
							mu.Lock()
							acked[bodies[0]] = true
							mu.Unlock()
						}
						window, bodies = window[1:], bodies[1:]
						continue
					}
					if ctx.Err() != nil {
						return
					}
					body := prefix + strconv.Itoa(i)
					r, err := snd.SendWithReceipt(ctx, message(body, true), nil)
					if err != nil {
						return
					}
					window, bodies = append(window, r), append(bodies, body)
				}
			}()
		}
		conn, sess := dial(t, ctx, b)
		defer conn.Close()
		rcv, err := sess.NewReceiver(ctx, "q", &goamqp.ReceiverOptions{Credit: 50})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := rcv.Receive(ctx, nil)
				if err != nil {
					return
				}
				if rcv.AcceptMessage(context.Background(), m) == nil {
					mu.Lock()
					received[string(m.GetData())]++
					mu.Unlock()
				}
			}
		}()
		time.Sleep(time.Duration(150+round%7*40) * time.Millisecond)
		b.Kill()
		cancel()
		wg.Wait()
		b.Restart()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for _, body := range drain(t, ctx, b, "q") {
		received[body]++
	}
	lost, duplicates := 0, 0
	for body := range acked {
		if received[body] == 0 {
			lost++
			if lost <= 10 {
				t.Errorf("%s: acknowledged, never received", body)
			}
		}
	}
	for body, n := range received {
		if !strings.HasPrefix(body, "r") || strings.Count(body, "-") != 2 {
			t.Errorf("received %q, never sent", body)
		}
		duplicates += n - 1
	}
	t.Logf("%d kills: %d messages acknowledged, %d received, %d duplicates, %d lost", kills, len(acked), len(received), duplicates, lost)
	if len(acked) < kills*10 {
		t.Fatalf("only %d messages acknowledged in %d rounds: the test proved little", len(acked), kills)
	}
}

// --check-store reads a stopped broker's store: its queues and counts, the
// position, a torn tail (normal after a crash: exit 0); a running broker's
// store is refused; damage with records beyond it is exit 1.
func TestCheckStore(t *testing.T) {
	b := qpiddtest.Start(t)
	qpidConfig(t, b, "add", "queue", "orders", "--durable")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, s := dial(t, ctx, b)
	snd, err := s.NewSender(ctx, "orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ {
		if err := snd.Send(ctx, message(strconv.Itoa(i), true), nil); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	list := qpidConfig(t, b, "list", "store")
	if !strings.Contains(list, b.DataDir) || !strings.Contains(list, "25") {
		t.Fatalf("qpid-config list store:\n%s", list)
	}
	check := func() (string, int) {
		cmd := exec.Command(qpiddtest.Bin(t, "qpidd"), "--config", "", "--data-dir", b.DataDir, "--check-store")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := check(); code != 1 || !strings.Contains(out, "stop it first") {
		t.Fatalf("check of a running broker's store: exit %d\n%s", code, out)
	}
	b.Kill()
	out, code := check()
	if code != 0 || !strings.Contains(out, "tail: clean") || !regexpMatch(`orders\s+25\s`, out) || !strings.Contains(out, "position (the last record on disk): 26") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	// A torn last record: what a crash while writing leaves.
	seg := filepath.Join(b.DataDir, "journal", "0000000000000001.jnl")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	last := lastRecord(data)
	data[last+20] ^= 0xff
	if err := os.WriteFile(seg, data, 0o640); err != nil {
		t.Fatal(err)
	}
	out, code = check()
	if code != 0 || !strings.Contains(out, "tail: a torn") || !regexpMatch(`orders\s+24\s`, out) {
		t.Fatalf("check of a torn tail: exit %d\n%s", code, out)
	}
	// Damage with a later file after it cannot be a torn tail.
	os.WriteFile(filepath.Join(b.DataDir, "journal", "0000000000000002.jnl"), data, 0o640)
	data[100] ^= 0xff
	os.WriteFile(seg, data, 0o640)
	if out, code = check(); code != 1 || !strings.Contains(out, "DAMAGED") {
		t.Fatalf("check of a damaged journal: exit %d\n%s", code, out)
	}
	// The broker starts on it all the same, with what is before the damage,
	// and keeps the later file aside.
	b.Restart()
	if !strings.Contains(b.Log(), "damaged") {
		t.Fatalf("no damage logged:\n%s", b.Log())
	}
	if _, err := os.Stat(filepath.Join(b.DataDir, "journal", "0000000000000002.jnl.dropped")); err != nil {
		t.Fatalf("the later file was not kept aside: %v", err)
	}
}

func regexpMatch(re, s string) bool {
	ok, _ := regexpMatchString(re, s)
	return ok
}

// A journal of an unknown format version is refused at start, saying what
// to do; --truncate yes discards it.
func TestUnknownVersionRefused(t *testing.T) {
	b := qpiddtest.Start(t)
	qpidConfig(t, b, "add", "queue", "q", "--durable")
	b.Kill()
	seg := filepath.Join(b.DataDir, "journal", "0000000000000001.jnl")
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[8] = 9 // the version
	putCRC(data[:40])
	os.WriteFile(seg, data, 0o640)
	cmd := exec.Command(qpiddtest.Bin(t, "qpidd"), "--config", "", "--data-dir", b.DataDir, "--port", "0", "--auth", "no")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "version 9") || !strings.Contains(string(out), "--truncate yes") {
		t.Fatalf("start on a journal of version 9: %v\n%s", err, out)
	}
	b.Args = append(b.Args, "--truncate", "yes")
	b.Restart()
	out, _ = exec.Command(qpiddtest.Bin(t, "qpid-config"), "-b", b.Addr(), "queues").CombinedOutput()
	if !strings.Contains(string(out), "no queues") {
		t.Fatalf("truncate kept the queue:\n%s", out)
	}
}

// A store directory outside the data directory is locked like it: a second
// broker on it fails to start, naming it.
func TestStoreDirLocked(t *testing.T) {
	dir := t.TempDir()
	a := qpiddtest.Start(t, "--store-dir", dir)
	qpidConfig(t, a, "add", "queue", "q", "--durable")
	cmd := exec.Command(qpiddtest.Bin(t, "qpidd"), "--config", "", "--data-dir", t.TempDir(), "--store-dir", dir, "--port", "0", "--auth", "no")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "store-dir: Cannot lock "+dir+"/lock") {
		t.Fatalf("a second broker on the store: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "journal", "0000000000000001.jnl")); err != nil {
		t.Fatalf("the store is not in store-dir: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(a.DataDir, "journal")); len(entries) != 0 {
		t.Fatal("a store in the data directory too")
	}
}

// Without a data directory or store-dir there is no store, and the broker
// says so; an HA cluster broker has one in its store-dir like any other,
// and without one warns that a whole-cluster stop would lose everything.
func TestNoStore(t *testing.T) {
	b := qpiddtest.Start(t, "--no-data-dir", "yes")
	if !strings.Contains(b.Log(), "no store") {
		t.Fatalf("no store not logged:\n%s", b.Log())
	}
	dir := t.TempDir()
	ha := qpiddtest.Start(t, "--ha-cluster", "yes", "--ha-brokers-url", "127.0.0.1:1", "--store-dir", dir)
	if !strings.Contains(ha.Log(), "recovered") {
		t.Fatalf("an HA broker did not open its store:\n%s", ha.Log())
	}
	if _, err := os.Stat(filepath.Join(dir, "journal")); err != nil {
		t.Fatalf("an HA cluster broker has no store in store-dir: %v", err)
	}
	memory := qpiddtest.Start(t, "--ha-cluster", "yes", "--ha-brokers-url", "127.0.0.1:1", "--no-data-dir", "yes")
	if !strings.Contains(memory.Log(), "if every broker of the cluster stops at once they are lost") {
		t.Fatalf("an HA broker without a store does not warn:\n%s", memory.Log())
	}
}
