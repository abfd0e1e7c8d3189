// Package interop runs independent AMQP 1.0 clients (Azure/go-amqp and
// python3-qpid-proton's example programs) against the built qpidd binary.
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

func dial(t *testing.T, b *qpiddtest.Broker, opts *goamqp.ConnOptions) (*goamqp.Conn, *goamqp.Session) {
	t.Helper()
	if opts == nil {
		opts = &goamqp.ConnOptions{}
	}
	if opts.SASLType == nil {
		opts.SASLType = goamqp.SASLTypeAnonymous()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, b.URL(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, sess
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestGoAMQPTenThousandInOrder(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	_, sess := dial(t, b, nil)
	ctx := ctxFor(t, 2*time.Minute)
	snd, err := sess.NewSender(ctx, "ordered", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := sess.NewReceiver(ctx, "ordered", &goamqp.ReceiverOptions{Credit: 200})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := snd.Send(ctx, goamqp.NewMessage([]byte(fmt.Sprintf("%06d", i))), nil); err != nil {
				done <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if got := string(m.GetData()); got != fmt.Sprintf("%06d", i) {
			t.Fatalf("message %d arrived as %q", i, got)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestGoAMQPOneMebibyteMessage(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	// A 64 KiB max frame size on both ends forces the message over ~17 frames
	// each way.
	_, sess := dial(t, b, &goamqp.ConnOptions{MaxFrameSize: 65536})
	ctx := ctxFor(t, time.Minute)
	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i*31 + i>>8)
	}
	snd, err := sess.NewSender(ctx, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage(body), nil); err != nil {
		t.Fatal(err)
	}
	rcv, err := sess.NewReceiver(ctx, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.GetData(), body) {
		t.Fatalf("1 MiB message came back different (%d bytes)", len(m.GetData()))
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestGoAMQPReleaseAndModifiedRedelivery(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	_, sess := dial(t, b, nil)
	ctx := ctxFor(t, 30*time.Second)
	snd, err := sess.NewSender(ctx, "redeliver", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"first", "second"} {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte(body)), nil); err != nil {
			t.Fatal(err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "redeliver", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	receive := func() *goamqp.Message {
		t.Helper()
		if err := rcv.IssueCredit(1); err != nil {
			t.Fatal(err)
		}
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	deliveryCount := func(m *goamqp.Message) uint32 {
		if m.Header == nil {
			return 0
		}
		return m.Header.DeliveryCount
	}
	m := receive()
	if string(m.GetData()) != "first" || deliveryCount(m) != 0 {
		t.Fatalf("got %q count %d", m.GetData(), deliveryCount(m))
	}
	// Released: redelivered first again, not counted as a failed attempt.
	if err := rcv.ReleaseMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	m = receive()
	if string(m.GetData()) != "first" || deliveryCount(m) != 0 {
		t.Fatalf("after release got %q count %d, want first with count 0", m.GetData(), deliveryCount(m))
	}
	// Modified with delivery-failed: redelivered, counted (part 3.4.5).
	if err := rcv.ModifyMessage(ctx, m, &goamqp.ModifyMessageOptions{DeliveryFailed: true}); err != nil {
		t.Fatal(err)
	}
	m = receive()
	if string(m.GetData()) != "first" || deliveryCount(m) != 1 {
		t.Fatalf("after modified got %q count %d, want first with count 1", m.GetData(), deliveryCount(m))
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	m = receive()
	if string(m.GetData()) != "second" {
		t.Fatalf("got %q, want second", m.GetData())
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestGoAMQPCreditAndDrain(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	_, sess := dial(t, b, nil)
	ctx := ctxFor(t, 30*time.Second)
	snd, err := sess.NewSender(ctx, "credit", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte{byte('a' + i)}), nil); err != nil {
			t.Fatal(err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "credit", &goamqp.ReceiverOptions{Credit: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.IssueCredit(3); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Credit is used up: the broker must not send the 4th message.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = rcv.Receive(short, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("received beyond the credit: %v", err)
	}
	// Credit 10 with 2 messages available: both arrive; a drain then makes
	// the broker give back the 8 it cannot use, and the drain completes.
	if err := rcv.IssueCredit(10); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := string(rune('d' + i)); string(m.GetData()) != want {
			t.Fatalf("got %q, want %q", m.GetData(), want)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := rcv.DrainCredit(ctx, nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
	// The credit is gone: a new message waits on the queue.
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("late")), nil); err != nil {
		t.Fatal(err)
	}
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = rcv.Receive(short, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("received after the drain gave the credit back: %v", err)
	}
	// A drain answers at once when there is nothing to send, credit or not.
	if err := rcv.DrainCredit(ctx, nil); err != nil {
		t.Fatalf("drain without credit: %v", err)
	}
	if err := rcv.IssueCredit(1); err != nil {
		t.Fatal(err)
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil || string(m.GetData()) != "late" {
		t.Fatalf("after new credit: %v %v", m, err)
	}
	if err := rcv.AcceptMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestGoAMQPIdleTimeoutHeartbeats(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	// go-amqp asks for heartbeats at least every 500ms/2 and closes the
	// connection if the broker stays silent; staying idle for 3 s proves
	// the broker sends them.
	conn, sess := dial(t, b, &goamqp.ConnOptions{IdleTimeout: 500 * time.Millisecond})
	time.Sleep(3 * time.Second)
	ctx := ctxFor(t, 10*time.Second)
	snd, err := sess.NewSender(ctx, "idle", nil)
	if err != nil {
		t.Fatalf("connection died while idle: %v", err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("still here")), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Done():
		t.Fatalf("connection closed: %v", conn.Err())
	default:
	}
}

func TestQueueDeclaredByOption(t *testing.T) {
	b := qpiddtest.Start(t, "--queue", "orders", "--queue", "invoices")
	_, sess := dial(t, b, nil)
	ctx := ctxFor(t, 10*time.Second)
	for _, q := range []string{"orders", "invoices"} {
		snd, err := sess.NewSender(ctx, q, nil)
		if err != nil {
			t.Fatalf("declared queue %s: %v", q, err)
		}
		if err := snd.Send(ctx, goamqp.NewMessage([]byte(q)), nil); err != nil {
			t.Fatal(err)
		}
		rcv, err := sess.NewReceiver(ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := rcv.Receive(ctx, nil)
		if err != nil || string(m.GetData()) != q {
			t.Fatalf("receive from %s: %v %v", q, m, err)
		}
		_ = rcv.AcceptMessage(ctx, m)
	}
	var ae *goamqp.Error
	if _, err := sess.NewSender(ctx, "undeclared", nil); !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondNotFound {
		t.Fatalf("a queue neither declared nor matching a pattern: %v, want amqp:not-found", err)
	}
}

// Receiver settle mode second on a producer link (go-amqp, Azure SDKs):
// the broker answers each transfer with an unsettled outcome and settles
// once the sender has; the message arrives once. And a consumer link in
// mode second: the broker settles after the client's accept.
func TestGoAMQPReceiverSettleModeSecond(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	_, sess := dial(t, b, nil)
	ctx := ctxFor(t, 30*time.Second)
	second := goamqp.ReceiverSettleModeSecond
	snd, err := sess.NewSender(ctx, "second", &goamqp.SenderOptions{RequestedReceiverSettleMode: &second})
	if err != nil {
		t.Fatalf("attach in mode second: %v", err)
	}
	const n = 20
	for i := 0; i < n; i++ {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte(fmt.Sprint(i))), nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "second", &goamqp.ReceiverOptions{SettlementMode: &second, Credit: 5})
	if err != nil {
		t.Fatalf("receiver in mode second: %v", err)
	}
	for i := 0; i < n; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(m.GetData()); got != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, got)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if m, err := rcv.Receive(short, nil); err == nil {
		t.Fatalf("message %q arrived twice", m.GetData())
	}
}

// A client's close is answered with the broker's close alone: a receive
// waiting on a link then yields the connection's error, not a session's.
func TestGoAMQPCloseThenReceive(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", ".*")
	conn, sess := dial(t, b, nil)
	ctx := ctxFor(t, 30*time.Second)
	rcv, err := sess.NewReceiver(ctx, "closing", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := rcv.Receive(ctx, nil)
		got <- err
	}()
	if err := conn.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	err = <-got
	var ce *goamqp.ConnError
	var se *goamqp.SessionError
	if !errors.As(err, &ce) || errors.As(err, &se) {
		t.Fatalf("receive after close: %T %v; want the connection's error", err, err)
	}
}
