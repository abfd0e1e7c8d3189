package failover

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/Azure/go-amqp"
	fo "github.com/qpidha/qpidha/failover"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// ledger records what the package's clients did: every message whose Send
// returned nil, and every delivery the application got.
type ledger struct {
	mu           sync.Mutex
	acked        map[int]bool
	received     map[int]int
	sends        int // Send calls
	unconfirmed  int // Sends that ended without an outcome (the test's end)
	notSettled   int // Accepts that returned ErrNotSettled
	ackedCount   int
	receivedSeqs int // distinct
}

func newLedger() *ledger { return &ledger{acked: map[int]bool{}, received: map[int]int{}} }

func (l *ledger) progress() (acked, received int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ackedCount, l.receivedSeqs
}

// TestFailoverClientPackage is the acceptance test of the failover
// package: a sender and a receiver using only the package run against a
// 3-broker HA cluster while the primary is killed with SIGKILL, a ready
// backup promoted and the killed broker restarted as a backup, 20 times
// (QPIDHA_FAILOVER_CYCLES). Every message whose Send returned nil must be
// received; duplicates are counted: those the Receiver's de-dup window
// dropped, and any that reached the application.
func TestFailoverClientPackage(t *testing.T) {
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
	var addrs []string
	for _, b := range c.Brokers {
		addrs = append(addrs, b.URL())
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reconnects atomic.Int64
	options := func(who string) *fo.Options {
		return &fo.Options{
			ConnOptions: &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), ContainerID: "failover-pkg-" + who, IdleTimeout: 4 * time.Second},
			OnEvent: func(e fo.Event) {
				if e.Kind == fo.Connected && e.Reconnect {
					reconnects.Add(1)
				}
				if e.Kind != fo.AttemptFailed {
					t.Logf("%s: %v", who, e)
				}
			},
		}
	}
	const queue = "failover-pkg"
	sconn, err := fo.Dial(ctx, addrs, options("sender"))
	if err != nil {
		t.Fatal(err)
	}
	defer sconn.Close()
	rconn, err := fo.Dial(ctx, addrs, options("receiver"))
	if err != nil {
		t.Fatal(err)
	}
	defer rconn.Close()
	snd, err := sconn.NewSender(ctx, queue, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := rconn.NewReceiver(ctx, queue, &fo.ReceiverOptions{
		Link: &amqp.ReceiverOptions{Credit: 50}, DedupWindow: 100000})
	if err != nil {
		t.Fatal(err)
	}

	led := newLedger()
	var next atomic.Int64
	stopSending := make(chan struct{})
	var senders sync.WaitGroup
	const senderGoroutines, perSecond = 8, 50 // 400 messages a second in all
	for g := 0; g < senderGoroutines; g++ {
		senders.Add(1)
		go func() {
			defer senders.Done()
			tick := time.NewTicker(time.Second / perSecond)
			defer tick.Stop()
			for {
				select {
				case <-stopSending:
					return
				case <-tick.C:
				}
				seq := int(next.Add(1))
				m := amqp.NewMessage([]byte(fmt.Sprint(seq)))
				m.Properties = &amqp.MessageProperties{MessageID: fmt.Sprintf("m-%d", seq)}
				m.ApplicationProperties = map[string]any{"seq": int64(seq)}
				m.Header = &amqp.MessageHeader{Durable: true}
				err := snd.Send(ctx, m)
				led.mu.Lock()
				led.sends++
				switch {
				case err == nil:
					led.acked[seq] = true
					led.ackedCount++
				case ctx.Err() != nil:
					led.unconfirmed++
				}
				led.mu.Unlock()
				if err != nil && ctx.Err() == nil {
					t.Errorf("Send %d: %v", seq, err)
					return
				}
			}
		}()
	}
	receiverDone := make(chan struct{})
	go func() {
		defer close(receiverDone)
		for {
			m, err := rcv.Receive(ctx)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("Receive: %v", err)
				}
				return
			}
			seq, _ := m.ApplicationProperties["seq"].(int64)
			led.mu.Lock()
			if led.received[int(seq)] == 0 {
				led.receivedSeqs++
			}
			led.received[int(seq)]++
			led.mu.Unlock()
			if err := rcv.Accept(ctx, m); errors.Is(err, fo.ErrNotSettled) {
				led.mu.Lock()
				led.notSettled++
				led.mu.Unlock()
			} else if err != nil && ctx.Err() == nil {
				t.Errorf("Accept: %v", err)
			}
		}
	}()

	waitProgress := func(min int) {
		t.Helper()
		a0, r0 := led.progress()
		deadline := time.Now().Add(30 * time.Second)
		for {
			a, r := led.progress()
			if a-a0 >= min && r-r0 >= min {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no progress in 30s: acknowledged %d -> %d, received %d -> %d\n%s", a0, a, r0, r, c.dump())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	start := time.Now()
	var toActive []time.Duration
	for cycle := 1; cycle <= n; cycle++ {
		waitProgress(50)
		t0 := time.Now()
		c.kill(primary)
		next := c.readyBackup(primary)
		if err := qpiddtest.Promote(t, c.Brokers[next]); err != nil {
			t.Fatalf("cycle %d: promote %s: %v\n%s", cycle, c.name(next), err, c.dump())
		}
		qpiddtest.WaitStatus(t, c.Brokers[next], "active", 30*time.Second)
		toActive = append(toActive, time.Since(t0))
		c.restart(primary)
		for i, b := range c.Brokers {
			if i != next {
				qpiddtest.WaitStatus(t, b, "ready", 30*time.Second)
			}
		}
		a, r := led.progress()
		t.Logf("cycle %d: killed %s, promoted %s after %v (acknowledged %d, received %d)",
			cycle, c.name(primary), c.name(next), toActive[len(toActive)-1].Round(time.Millisecond), a, r)
		primary = next
	}
	waitProgress(50) // the clients work with the last primary too
	failoverTime := time.Since(start)

	// Stop sending; wait until every acknowledged message was received.
	close(stopSending)
	sendersDone := make(chan struct{})
	go func() { senders.Wait(); close(sendersDone) }()
	select {
	case <-sendersDone:
	case <-time.After(30 * time.Second):
		t.Error("senders did not finish within 30s of the stop")
		cancel()
		<-sendersDone
	}
	missing := func() []int {
		led.mu.Lock()
		defer led.mu.Unlock()
		var m []int
		for seq := range led.acked {
			if led.received[seq] == 0 {
				m = append(m, seq)
			}
		}
		return m
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-receiverDone

	lost := missing()
	led.mu.Lock()
	appDuplicates := 0
	for _, k := range led.received {
		appDuplicates += k - 1
	}
	t.Logf("%d failovers in %v (new primary active %s after each kill); %d client reconnects",
		n, failoverTime.Round(time.Millisecond), spread(toActive), reconnects.Load())
	t.Logf("sent %d (Send calls), acknowledged %d, unconfirmed at the end %d, received %d distinct, lost %d; "+
		"duplicates: %d resends by the Sender, %d dropped by the Receiver's window, %d reached the application; %d Accepts not settled",
		led.sends, led.ackedCount, led.unconfirmed, led.receivedSeqs, len(lost),
		snd.Resends(), rcv.Duplicates(), appDuplicates, led.notSettled)
	led.mu.Unlock()
	if len(lost) > 0 {
		if len(lost) > 20 {
			lost = lost[:20]
		}
		t.Errorf("acknowledged messages lost (first %d): %v\nlogs in %s", len(lost), lost, saveLogs(t, c))
	}
	if a, _ := led.progress(); a < 50*n {
		t.Errorf("only %d messages acknowledged in %d failovers", a, n)
	}
}

// The errors the package gives up on, with a real broker: a wrong
// password (SASL) ends Dial at once with a PermanentError; a link the ACL
// refuses (amqp:unauthorized-access) fails that link only, permanently,
// and the connection still serves other links.
func TestFailoverClientPermanentErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "qpidd.users")
	for _, u := range [][2]string{{"alice", "alice-pw"}, {"bob", "bob-pw"}} {
		cmd := exec.Command(qpiddtest.Bin(t, "qpidd-users"), "--database", db, "add", u[0])
		cmd.Env = append(os.Environ(), "QPID_CONFIG=")
		cmd.Stdin = strings.NewReader(u[1] + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("qpidd-users add %s: %v\n%s", u[0], err, out)
		}
	}
	acl := filepath.Join(dir, "qpidd.acl")
	if err := os.WriteFile(acl, []byte("acl allow bob@QPID access all\nacl deny bob@QPID consume queue name=secret\nacl allow bob@QPID all all\nacl deny all all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := qpiddtest.Start(t, "--auth", "yes", "--auth-database", db, "--acl-file", acl, "--queue", "secret", "--queue", "public")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var attempts atomic.Int64
	t0 := time.Now()
	_, err := fo.Dial(ctx, []string{b.URL()}, &fo.Options{
		ConnOptions: &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("alice", "wrong")},
		OnEvent:     func(e fo.Event) { attempts.Add(1); t.Logf("event: %v", e) },
	})
	var perr *fo.PermanentError
	if !errors.As(err, &perr) {
		t.Fatalf("a wrong password: %v, want a PermanentError", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
	t.Logf("wrong password: %v", err)

	conn, err := fo.Dial(ctx, []string{b.URL()}, &fo.Options{ConnOptions: &amqp.ConnOptions{SASLType: amqp.SASLTypePlain("bob", "bob-pw")}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.NewReceiver(ctx, "secret", nil)
	var ae *amqp.Error
	if !errors.As(err, &perr) || !errors.As(err, &ae) || ae.Condition != amqp.ErrCondUnauthorizedAccess {
		t.Fatalf("a receiver the ACL refuses: %v, want a PermanentError with unauthorized-access", err)
	}
	snd, err := conn.NewSender(ctx, "public", nil)
	if err != nil {
		t.Fatalf("the connection after a refused link: %v", err)
	}
	if err := snd.Send(ctx, amqp.NewMessage([]byte("x"))); err != nil {
		t.Fatalf("Send after a refused link: %v", err)
	}
	if conn.Err() != nil {
		t.Errorf("a link's refusal ended the Conn: %v", conn.Err())
	}
}

// A hung primary (SIGSTOP: the TCP connections stay up, nothing answers)
// is found by the heartbeat (IdleTimeout): a Send under way when it froze
// completes on the promoted backup, and the receiver gets the message.
func TestFailoverClientHungPrimary(t *testing.T) {
	c := qpiddtest.StartCluster(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	if err := qpiddtest.Promote(t, c.Brokers[0]); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, c.Brokers[0], "active", 20*time.Second)
	for _, b := range c.Brokers[1:] {
		qpiddtest.WaitStatus(t, b, "ready", 20*time.Second)
	}
	var addrs []string
	for _, b := range c.Brokers {
		addrs = append(addrs, b.URL())
	}
	const idle = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := &fo.Options{
		ConnOptions:    &amqp.ConnOptions{IdleTimeout: idle},
		ConnectTimeout: time.Second, // the frozen broker swallows attempts
		OnEvent:        func(e fo.Event) { t.Logf("event: %v", e) },
	}
	conn, err := fo.Dial(ctx, addrs, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	snd, err := conn.NewSender(ctx, "hung", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := conn.NewReceiver(ctx, "hung", &fo.ReceiverOptions{DedupWindow: 100})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(id string) *amqp.Message {
		m := amqp.NewMessage([]byte(id))
		m.Properties = &amqp.MessageProperties{MessageID: id}
		return m
	}
	if err := snd.Send(ctx, msg("before")); err != nil {
		t.Fatal(err)
	}

	c.Brokers[0].Signal(syscall.SIGSTOP)
	t0 := time.Now()
	sent := make(chan error, 1)
	go func() { sent <- snd.Send(ctx, msg("while-hung")) }()
	qpiddtest.WaitUnresponsive(t, c.Brokers[0])
	if err := qpiddtest.Promote(t, c.Brokers[1]); err != nil {
		t.Fatalf("promote: %v", err)
	}
	qpiddtest.WaitStatus(t, c.Brokers[1], "active", 20*time.Second)
	if err := <-sent; err != nil {
		t.Fatalf("Send across the hung primary: %v", err)
	}
	took := time.Since(t0)
	t.Logf("a Send under way when the primary froze completed after %v (idle timeout %v)", took.Round(time.Millisecond), idle)
	if took > 2*idle+10*time.Second {
		t.Errorf("the Send took %v", took)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		m, err := rcv.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive (got %v): %v", got, err)
		}
		got[string(m.GetData())] = true
		_ = rcv.Accept(ctx, m)
	}
	if !got["before"] || !got["while-hung"] {
		t.Errorf("received %v", got)
	}
	c.Brokers[0].Kill() // never let the old primary run again
}

// The Receiver's window drops a copy of a message-id it handed out (and
// settles it), but not a message the application released, nor ids older
// than the window.
func TestFailoverClientDedupWindow(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := fo.Dial(ctx, []string{b.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	snd, err := conn.NewSender(ctx, "dedup", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := conn.NewReceiver(ctx, "dedup", &fo.ReceiverOptions{DedupWindow: 2, Link: &amqp.ReceiverOptions{Credit: 10}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(id, body string) {
		t.Helper()
		m := amqp.NewMessage([]byte(body))
		m.Properties = &amqp.MessageProperties{MessageID: id}
		if err := snd.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	receive := func() *fo.Message {
		t.Helper()
		m, err := rcv.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// a, a again (dropped), b, then a third time: still in the window
	// (a, b), dropped; c evicts a; a comes through again.
	for _, s := range [][2]string{{"a", "a1"}, {"a", "a2"}, {"b", "b1"}, {"a", "a3"}, {"c", "c1"}, {"a", "a4"}} {
		send(s[0], s[1])
	}
	var got []string
	for i := 0; i < 4; i++ {
		m := receive()
		got = append(got, string(m.GetData()))
		if err := rcv.Accept(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if want := "a1 b1 c1 a4"; strings.Join(got, " ") != want {
		t.Errorf("received %q, want %q", strings.Join(got, " "), want)
	}
	if rcv.Duplicates() != 2 {
		t.Errorf("%d duplicates dropped, want 2", rcv.Duplicates())
	}
	// A released message comes back to the application.
	send("r", "r1")
	m := receive()
	if err := rcv.Release(ctx, m); err != nil {
		t.Fatal(err)
	}
	if m2 := receive(); string(m2.GetData()) != "r1" {
		t.Errorf("after a release got %q, want r1 again", m2.GetData())
	} else if err := rcv.Accept(ctx, m2); err != nil {
		t.Fatal(err)
	}
	// The dropped copies were settled (accepted): once the link is gone,
	// nothing comes back to another receiver.
	if err := rcv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := conn.NewReceiver(ctx, "dedup", nil)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer rcancel()
	if m, err := other.Receive(rctx); err == nil {
		t.Errorf("left on the queue: %q", m.GetData())
	}
}

// TestFailoverClientLearnsServerList: given only the primary's address,
// the package learns the others from the failover-server-list the primary
// advertises (its ha-public-url), and fails over to one of them when the
// primary is killed.
func TestFailoverClientLearnsServerList(t *testing.T) {
	ports := qpiddtest.FreePorts(t, 3)
	var public []string
	for _, p := range ports {
		public = append(public, fmt.Sprintf("127.0.0.1:%d", p))
	}
	var bs []*qpiddtest.Broker
	for _, p := range ports {
		bs = append(bs, qpiddtest.Start(t, "--port", fmt.Sprint(p), "--interface", "127.0.0.1", "--ha-cluster", "yes",
			"--ha-brokers-url", strings.Join(public, ","), "--ha-public-url", strings.Join(public, ","),
			"--ha-replicate", "all", "--queue-patterns", ".*", "--link-maintenance-interval", "0.1", "--link-heartbeat-interval", "2"))
	}
	if err := qpiddtest.Promote(t, bs[0]); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, bs[1], "ready", 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := fo.Dial(ctx, []string{bs[0].URL()}, &fo.Options{
		ConnOptions: &amqp.ConnOptions{SASLType: amqp.SASLTypeAnonymous(), IdleTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := strings.Join(conn.Addresses(), " "); !strings.Contains(got, public[1]) || !strings.Contains(got, public[2]) {
		t.Fatalf("addresses after connecting to the primary: %s; want the advertised %v", got, public)
	}
	snd, err := conn.NewSender(ctx, "learned", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, amqp.NewMessage([]byte("before"))); err != nil {
		t.Fatal(err)
	}
	bs[0].Kill()
	if err := qpiddtest.Promote(t, bs[1]); err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, amqp.NewMessage([]byte("after"))); err != nil {
		t.Fatalf("send after the primary died: %v", err)
	}
	if a := conn.Address(); !strings.Contains(a, public[1]) {
		t.Fatalf("connected to %q, want the promoted %s", a, public[1])
	}
}
