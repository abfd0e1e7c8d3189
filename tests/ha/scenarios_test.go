package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// primaryWithBackups starts a cluster of n, promotes the first broker and
// waits until the others are ready.
func primaryWithBackups(t *testing.T, n int, args ...string) *qpiddtest.Cluster {
	t.Helper()
	c := qpiddtest.StartCluster(t, n, args...)
	if err := qpiddtest.Promote(t, c.Brokers[0]); err != nil {
		t.Fatalf("promote: %v", err)
	}
	qpiddtest.WaitStatus(t, c.Brokers[0], "active", 20*time.Second)
	for _, b := range c.Brokers[1:] {
		qpiddtest.WaitStatus(t, b, "ready", 20*time.Second)
	}
	return c
}

func send(t *testing.T, b *qpiddtest.Broker, address string, bodies ...string) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	snd, err := dial(t, b).NewSender(ctx, address, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range bodies {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte(body)), nil); err != nil {
			t.Fatalf("send %q: %v", body, err)
		}
	}
	snd.Close(ctx)
}

// depth reads a queue's depth on any broker, as an administrator.
func depth(t *testing.T, b *qpiddtest.Broker, queue string) (int64, error) {
	q, err := qpiddtest.Admin(t, b).Queue(ctxFor(t, 10*time.Second), queue)
	if err != nil {
		return -1, err
	}
	return q.Int("messageDepth"), nil
}

func waitDepth(t *testing.T, b *qpiddtest.Broker, queue string, want int64) {
	t.Helper()
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		n, err := depth(t, b, queue)
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%s on %s holds %d messages, want %d", queue, b.Addr(), n, want)
		}
		return nil
	})
}

func receiveAll(t *testing.T, b *qpiddtest.Broker, queue string, n int) []string {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	rcv, err := dial(t, b).NewReceiver(ctx, queue, &goamqp.ReceiverOptions{Credit: int32(min(n, 100))})
	if err != nil {
		t.Fatal(err)
	}
	// Messages the receiver fetched beyond n go back when it closes.
	defer rcv.Close(ctx)
	var got []string
	for i := 0; i < n; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatalf("receive %d of %d from %s: %v", i, n, queue, err)
		}
		got = append(got, string(m.GetData()))
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func bodies(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return out
}

// Backups refuse clients with amqp:connection:forced (on which proton and
// go-amqp users fail over) and admit administrators, to management only.
func TestBackupRefusesClientsAdmitsAdmins(t *testing.T) {
	c := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*")
	backup := c.Brokers[1]
	ctx := ctxFor(t, 10*time.Second)
	// The backup turns a client away with close(amqp:connection:forced) and
	// no open: proton's failover over a URL list moves on to the next
	// address (a remote open would send it back to the first).
	r := rawAMQP(t, backup)
	if h := r.header(); h != "AMQP\x00\x01\x00\x00" {
		t.Fatalf("header %q", h)
	}
	body := r.next()
	cl, ok := body.(*types.Close)
	if !ok || cl.Error == nil || cl.Error.Condition != types.CondConnectionForced {
		t.Fatalf("a client on a backup got %#v, want close with amqp:connection:forced", body)
	}
	if !strings.Contains(cl.Error.Description, "backup") {
		t.Fatalf("the reason should say the broker is a backup: %q", cl.Error.Description)
	}
	if _, err := goamqp.Dial(ctx, backup.URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()}); err == nil {
		t.Fatal("go-amqp connected to a backup")
	}
	// An administrator reaches management...
	admin := qpiddtest.Admin(t, backup)
	if _, err := admin.Broker(ctx); err != nil {
		t.Fatalf("an administrator on a backup cannot read the broker: %v", err)
	}
	// ...but nothing else, even with the admin property set.
	conn, err := goamqp.Dial(ctx, backup.URL(), &goamqp.ConnOptions{
		SASLType:   goamqp.SASLTypeAnonymous(),
		Properties: map[string]any{"qpid.ha-admin": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ae *goamqp.Error
	if _, err := sess.NewSender(ctx, "orders", nil); !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondUnauthorizedAccess {
		t.Fatalf("an admin connection sending to a queue on a backup: %v, want amqp:unauthorized-access", err)
	}
}

// Configuration and messages replicate, whether they exist before a backup
// joins or arrive after; a backup joining while messages flow catches up.
func TestReplicationBeforeAndAfterJoin(t *testing.T) {
	c := qpiddtest.StartCluster(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	primary, early, late := c.Brokers[0], c.Brokers[1], c.Brokers[2]
	late.Kill() // joins later
	if err := qpiddtest.Promote(t, primary); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, early, "ready", 20*time.Second)
	admin := qpiddtest.Admin(t, primary)
	ctx := ctxFor(t, time.Minute)
	if _, err := admin.CreateExchange(ctx, "topic", "news", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateQueue(ctx, "sport", nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Bind(ctx, "news", "sport", "sport.#", nil); err != nil {
		t.Fatal(err)
	}
	send(t, primary, "sport", bodies("before", 50)...)
	waitDepth(t, early, "sport", 50)

	// The late backup joins while a sender keeps going.
	done := make(chan struct{})
	go func() {
		defer close(done)
		send(t, primary, "sport", bodies("during", 200)...)
	}()
	late.Restart()
	<-done
	qpiddtest.WaitStatus(t, late, "ready", 30*time.Second)
	send(t, primary, "sport", bodies("after", 50)...)
	for _, b := range []*qpiddtest.Broker{early, late} {
		waitDepth(t, b, "sport", 300)
		bs, err := qpiddtest.Admin(t, b).Bindings(ctx, map[string]any{"exchange": "news"})
		if err != nil || len(bs) != 1 || bs[0].Str("key") != "sport.#" {
			t.Fatalf("binding on %s: %v %v", b.Addr(), bs, err)
		}
	}
	// A consumer on the primary dequeues on the backups too.
	receiveAll(t, primary, "sport", 100)
	waitDepth(t, late, "sport", 200)
	waitDepth(t, early, "sport", 200)
}

// After a failover the new primary has the old primary's queue state:
// messages in order, what was consumed gone, acquired-but-unsettled ones
// still there.
func TestFailoverKeepsQueueState(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	primary := c.Brokers[0]
	send(t, primary, "work", bodies("m", 100)...)
	receiveAll(t, primary, "work", 30)
	// Acquire 10 more without settling them.
	ctx := ctxFor(t, 30*time.Second)
	rcv, err := dial(t, primary).NewReceiver(ctx, "work", &goamqp.ReceiverOptions{Credit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := rcv.Receive(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitDepth(t, primary, "work", 70)
	waitDepth(t, c.Brokers[1], "work", 70)
	primary.Kill()
	next := c.Brokers[1]
	if err := qpiddtest.Promote(t, next); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, next, "active", 20*time.Second)
	got := receiveAll(t, next, "work", 70)
	if got[0] != "m-030" || got[69] != "m-099" {
		t.Fatalf("new primary delivered %s .. %s, want m-030 .. m-099", got[0], got[69])
	}
}

// Temporary (exclusive auto-delete) queues are not replicated, whatever
// ha-replicate says.
func TestTemporaryQueuesNotReplicated(t *testing.T) {
	c := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*")
	ctx := ctxFor(t, 30*time.Second)
	rcv, err := dial(t, c.Brokers[0]).NewReceiver(ctx, "", &goamqp.ReceiverOptions{DynamicAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	temp := rcv.Address()
	send(t, c.Brokers[0], "durable-ish", "x")
	waitDepth(t, c.Brokers[1], "durable-ish", 1) // replication works...
	if _, err := depth(t, c.Brokers[1], temp); client.StatusOf(err) != 404 {
		t.Fatalf("temporary queue %s on the backup: %v, want not found", temp, err)
	}
}

// An object deleted and recreated while a backup was away is replaced on
// the backup by the new one (its identity differs).
func TestRecreatedWhileAwayIsReplaced(t *testing.T) {
	c := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*")
	primary, backup := c.Brokers[0], c.Brokers[1]
	send(t, primary, "q", bodies("old", 5)...)
	waitDepth(t, backup, "q", 5)
	backup.Kill()
	admin := qpiddtest.Admin(t, primary)
	ctx := ctxFor(t, 30*time.Second)
	if err := admin.DeleteQueue(ctx, "q", false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateQueue(ctx, "q", map[string]any{"arguments": map[string]any{"qpid.max_count": 1000}}); err != nil {
		t.Fatal(err)
	}
	send(t, primary, "q", bodies("new", 2)...)
	backup.Restart()
	qpiddtest.WaitStatus(t, backup, "ready", 30*time.Second)
	waitDepth(t, backup, "q", 2)
	q, err := qpiddtest.Admin(t, backup).Queue(ctx, "q")
	if err != nil || fmt.Sprint(q.Map("arguments")["qpid.max_count"]) != "1000" {
		t.Fatalf("the backup's queue is not the recreated one: %v %v", q, err)
	}
}

// A backup dropped from the ready set refuses promotion: it may lack
// messages acknowledged without it.
func TestDroppedBackupRefusesPromotion(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all", "--queue-patterns", ".*")
	primary, dropped, other := c.Brokers[0], c.Brokers[1], c.Brokers[2]
	dropped.Signal(stopSignal) // silent: dropped after 2 heartbeats
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		st, err := qpiddtest.HAStatus(t, primary)
		if err != nil {
			return err
		}
		if ready, _ := st["ready"].([]any); len(ready) != 1 {
			return fmt.Errorf("ready set %v", st["ready"])
		}
		return nil
	})
	send(t, primary, "q", bodies("without-it", 10)...) // acknowledged without the dropped backup
	primary.Kill()
	dropped.Signal(contSignal)
	err := qpiddtest.Promote(t, dropped)
	if err == nil || !strings.Contains(err.Error(), "ready set") {
		t.Fatalf("promoting the dropped backup: %v, want a refusal naming the ready set", err)
	}
	if err := qpiddtest.Promote(t, other); err != nil {
		t.Fatalf("promoting the backup still in the ready set: %v", err)
	}
	qpiddtest.WaitStatus(t, other, "active", 20*time.Second)
	if got := receiveAll(t, other, "q", 10); got[9] != "without-it-009" {
		t.Fatalf("got %v", got)
	}
}

// A primary of an older epoch is refused by a backup that knows a newer
// one, and stops serving.
func TestStaleEpochPrimaryRefused(t *testing.T) {
	c := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue-patterns", ".*")
	old, backup := c.Brokers[0], c.Brokers[1]
	old.Signal(stopSignal)
	qpiddtest.WaitUnresponsive(t, old)
	if err := qpiddtest.Promote(t, backup); err != nil { // the old primary does not answer: ignored
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, backup, "active", 20*time.Second)
	old.Signal(contSignal)
	// The old primary (epoch 1) meets the new one (epoch 2) through its
	// replication stream or a status check: it must stop serving.
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		if strings.Contains(old.Log(), "stale primary") {
			return nil
		}
		return fmt.Errorf("the stale primary did not notice")
	})
}

const (
	stopSignal = syscall.SIGSTOP
	contSignal = syscall.SIGCONT
)

// rawConn speaks AMQP by hand, to see exactly what a broker sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	in []byte
}

// rawAMQP connects without SASL and sends a header and an open.
func rawAMQP(t *testing.T, b *qpiddtest.Broker) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	out := frame.Header(frame.ProtoAMQP)
	out, _ = frame.Append(out, frame.TypeAMQP, 0, &types.Open{ContainerID: "raw", MaxFrameSize: 65536, ChannelMax: 1}, nil)
	if _, err := nc.Write(out); err != nil {
		t.Fatal(err)
	}
	return &rawConn{t: t, nc: nc}
}

func (r *rawConn) header() string {
	h := make([]byte, 8)
	if _, err := io.ReadFull(r.nc, h); err != nil {
		r.t.Fatal(err)
	}
	return string(h)
}

// next returns the next frame body, nil at EOF.
func (r *rawConn) next() types.Composite {
	buf := make([]byte, 4096)
	for {
		f, n, err := frame.Parse(r.in, 1<<20)
		if err != nil {
			r.t.Fatal(err)
		}
		if n > 0 {
			r.in = r.in[n:]
			if f.Body != nil {
				return f.Body
			}
			continue
		}
		m, err := r.nc.Read(buf)
		r.in = append(r.in, buf[:m]...)
		if err != nil && m == 0 {
			return nil
		}
	}
}

// qpid-config --wait returns once every ready backup has the change: the
// queue is on the backups the moment it returns. With a backup hung it
// fails after --timeout, saying the change was made but not waited for.
func TestQpidConfigWait(t *testing.T) {
	c := primaryWithBackups(t, 3, "--ha-replicate", "all")
	primary := c.Brokers[0]
	qpidConfig := func(args ...string) (string, error) {
		cmd := exec.Command(qpiddtest.Bin(t, "qpid-config"), append([]string{"-b", primary.Addr()}, args...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("waited-%d", i)
		if out, err := qpidConfig("--wait", "add", "queue", name); err != nil {
			t.Fatalf("qpid-config --wait add queue: %v\n%s", err, out)
		}
		for _, b := range c.Brokers[1:] {
			if _, err := qpiddtest.Admin(t, b).Queue(ctxFor(t, 10*time.Second), name); err != nil {
				t.Fatalf("right after qpid-config --wait returned, %s lacks queue %s: %v", b.Addr(), name, err)
			}
		}
	}
	hung := c.Brokers[2]
	hung.Signal(syscall.SIGSTOP)
	defer hung.Signal(syscall.SIGCONT)
	start := time.Now()
	out, err := qpidConfig("--wait", "--timeout", "2", "add", "queue", "stalled")
	if err == nil || !strings.Contains(out, "the change was made, but waiting for the backups failed") {
		t.Fatalf("qpid-config --wait with a hung backup: %v\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("qpid-config --wait --timeout 2 took %v", d)
	}
}
