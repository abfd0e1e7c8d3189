package amqpserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/broker"
)

// A producer to a queue above its flow stop level gets no outcome for what
// it sends until a consumer drains the queue below the resume level; the
// messages are queued all the same, in order.
func TestProducerFlowControl(t *testing.T) {
	b, err := broker.New(broker.Config{FlowStopThreshold: 80, FlowResumeThreshold: 70})
	if err != nil {
		t.Fatal(err)
	}
	s, err := broker.ParseQueueArgs(broker.Args{broker.ArgFlowStopCount: 5, broker.ArgFlowResumeCount: 3})
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := b.DeclareQueue("flow", s)
	if err != nil {
		t.Fatal(err)
	}
	_, url := startServer(t, Config{Broker: b})
	_, sess := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snd, err := sess.NewSender(ctx, "flow", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var receipts []goamqp.SendReceipt
	for i := 0; i < n; i++ {
		r, err := snd.SendWithReceipt(ctx, goamqp.NewMessage([]byte(fmt.Sprint(i))), nil)
		if err != nil {
			t.Fatal(err)
		}
		receipts = append(receipts, r)
	}
	// The first five are accepted at once; the sixth made the queue stop.
	for i := 0; i < 5; i++ {
		if _, err := receipts[i].Wait(ctx); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); q.Depth() < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %d, want %d: flow control must not keep messages out of the queue", q.Depth(), n)
		}
	}
	short, stop := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = receipts[5].Wait(short)
	stop()
	if err == nil {
		t.Fatal("a message sent to a stopped queue was accepted at once")
	}
	if !q.Stats().FlowStopped {
		t.Fatal("queue not flow stopped")
	}

	rcv, err := sess.NewReceiver(ctx, "flow", &goamqp.ReceiverOptions{Credit: 1})
	if err != nil {
		t.Fatal(err)
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
			t.Fatal(err)
		}
	}
	for i := 5; i < n; i++ {
		st, err := receipts[i].Wait(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if _, ok := st.(*goamqp.StateAccepted); !ok {
			t.Fatalf("message %d: outcome %T", i, st)
		}
	}
	if st := q.Stats(); st.FlowStopped || st.FlowStops != 1 {
		t.Fatalf("after draining: %+v", st)
	}
}
