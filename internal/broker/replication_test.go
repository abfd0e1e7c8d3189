package broker

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is an Observer that numbers messages and holds each one for
// the parties in mask.
type recorder struct {
	mask   uint64
	next   uint64
	events []string
}

func (r *recorder) Enqueued(q *Queue, e *Entry) {
	r.next++
	e.SetID(MessageID{Epoch: 1, Seq: r.next})
	if r.mask != 0 {
		e.SetHold(NewHold(r.mask))
	}
	r.events = append(r.events, fmt.Sprintf("+%s", e.ID()))
}

func (r *recorder) Dequeued(q *Queue, e *Entry) {
	r.events = append(r.events, fmt.Sprintf("-%s", e.ID()))
}

func TestObserverSeesEachMessageOnce(t *testing.T) {
	q := NewQueue("q", QueueSettings{})
	q.Enqueue(msg(t, mo{Body: "before"}))
	r := &recorder{}
	var snapshot int
	q.Observe(r, func(live []*Entry) { snapshot = len(live) })
	if snapshot != 1 {
		t.Fatalf("snapshot of %d entries, want 1", snapshot)
	}
	e2, _ := q.Enqueue(msg(t, mo{Body: "after"}))
	c, _ := q.Subscribe("x", func() {})
	got := c.Fetch(nil, 10)
	c.Accept(got[0]) // "before" has no identity: dequeued as 0.0
	c.Accept(got[1])
	if want := "+1.1 -0.0 -1.1"; strings.Join(r.events, " ") != want {
		t.Fatalf("events %q, want %q", strings.Join(r.events, " "), want)
	}
	if e2.ID() != (MessageID{1, 1}) {
		t.Fatalf("id %v", e2.ID())
	}
}

func TestHoldCompletesOnReleaseOrDequeue(t *testing.T) {
	q := NewQueue("q", QueueSettings{})
	q.Observe(&recorder{mask: 0b11}, nil)
	e, _ := q.Enqueue(msg(t, mo{Body: "a"}))
	done := 0
	if !e.Hold().Wait(func() { done++ }) {
		t.Fatal("a new hold is not done")
	}
	e.Hold().Release(0b01)
	if done != 0 || e.Hold().Pending() != 0b10 {
		t.Fatalf("one of two parties released: done %d pending %b", done, e.Hold().Pending())
	}
	e.Hold().Release(0b10)
	if done != 1 {
		t.Fatal("all parties released: the waiter must run")
	}
	// A message consumed before its backups acknowledged it is safe.
	e2, _ := q.Enqueue(msg(t, mo{Body: "b"}))
	e2.Hold().Wait(func() { done++ })
	c, _ := q.Subscribe("x", func() {})
	for _, x := range c.Fetch(nil, 10) {
		c.Accept(x)
	}
	if done != 2 {
		t.Fatal("dequeuing a held message must complete its hold")
	}
	if e2.Hold().Wait(func() { t.Fatal("late waiter ran") }) {
		t.Fatal("Wait on a done hold must return false")
	}
}

func TestReplicaOperations(t *testing.T) {
	q := NewQueue("q", QueueSettings{MaxCount: 1, Policy: PolicyReject, LVQKey: "k"})
	ids := []MessageID{{2, 5}, {2, 6}, {3, 1}}
	for _, id := range ids {
		// Limits and last-value replacement are the primary's business.
		if _, err := q.EnqueueReplica(msg(t, mo{Body: id.String()}), id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.EnqueueReplica(msg(t, mo{Body: "dup"}), ids[0]); err != nil || q.Depth() != 3 {
		t.Fatalf("a replica enqueued twice is kept once: depth %d, %v", q.Depth(), err)
	}
	if got := fmt.Sprint(q.IDs()); got != "[2.5 2.6 3.1]" {
		t.Fatalf("IDs %s", got)
	}
	if n := q.DequeueIDs([]MessageID{{2, 6}, {9, 9}}); n != 1 {
		t.Fatalf("dequeued %d", n)
	}
	if got := fmt.Sprint(q.IDs()); got != "[2.5 3.1]" {
		t.Fatalf("IDs after dequeue %s", got)
	}
}

// configRecorder records configuration events.
type configRecorder struct{ events []string }

func (c *configRecorder) QueueDeclared(q *Queue) { c.events = append(c.events, "queue "+q.Name()) }
func (c *configRecorder) QueueDeleted(q *Queue)  { c.events = append(c.events, "-queue "+q.Name()) }
func (c *configRecorder) ExchangeDeclared(e *Exchange) {
	c.events = append(c.events, "exchange "+e.Name())
}
func (c *configRecorder) ExchangeDeleted(e *Exchange) {
	c.events = append(c.events, "-exchange "+e.Name())
}
func (c *configRecorder) Bound(b *Binding)   { c.events = append(c.events, "bind "+b.Queue+" "+b.Key) }
func (c *configRecorder) Unbound(b *Binding) { c.events = append(c.events, "unbind "+b.Queue) }

func TestConfigObserver(t *testing.T) {
	b, _ := New(Config{})
	b.DeclareQueue("old", QueueSettings{})
	rec := &configRecorder{}
	var queues, exchanges int
	b.SetConfigObserver(rec, func(qs []*Queue, es []*Exchange) { queues, exchanges = len(qs), len(es) })
	if queues != 1 || exchanges != 5 {
		t.Fatalf("snapshot %d queues %d exchanges", queues, exchanges)
	}
	b.DeclareQueue("q", QueueSettings{})
	b.DeclareExchange("x", Topic, ExchangeSettings{})
	b.Bind("x", "q", "a.#", nil)
	b.Unbind("x", "q", "a.#")
	b.DeleteExchange("x", false)
	b.DeleteQueue("q", false, false)
	want := "queue q|exchange x|bind q a.#|unbind q|-exchange x|-queue q"
	if got := strings.Join(rec.events, "|"); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
	if q, _, _ := b.DeclareQueue("id", QueueSettings{}); len(q.Identity()) != 32 {
		t.Fatalf("identity %q", q.Identity())
	}
}

// A timed hold tells its end once, before its waiters, with its start.
func TestTimedHold(t *testing.T) {
	var order []string
	var began []int64
	h := NewTimedHold(3, 42, func(b int64) { began = append(began, b); order = append(order, "ended") })
	h.Wait(func() { order = append(order, "waiter") })
	h.Release(1)
	if len(order) != 0 {
		t.Fatalf("ended with parties pending: %v", order)
	}
	h.Release(2)
	h.Complete()
	h.Release(2)
	if len(began) != 1 || began[0] != 42 || len(order) != 2 || order[0] != "ended" || order[1] != "waiter" {
		t.Fatalf("began %v, order %v; want [42], [ended waiter]", began, order)
	}
}
