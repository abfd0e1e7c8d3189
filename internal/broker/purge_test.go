package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// fakeJournal records which messages left their queues in the store.
type fakeJournal struct {
	next      uint64
	dequeued  []uint64
	refused   error
	enqueued  int
	delivered int
}

func (j *fakeJournal) QueueDeclared(*Queue)         {}
func (j *fakeJournal) QueueDeleted(*Queue)          {}
func (j *fakeJournal) QueueSetAside(*Queue, string) {}
func (j *fakeJournal) ExchangeDeclared(*Exchange)   {}
func (j *fakeJournal) ExchangeDeleted(*Exchange)    {}
func (j *fakeJournal) Bound(*Binding)               {}
func (j *fakeJournal) Unbound(*Binding)             {}
func (j *fakeJournal) Refusal() error               { return j.refused }
func (j *fakeJournal) Redelivered(*Queue, *Entry)   { j.delivered++ }
func (j *fakeJournal) Committed(string) *Hold       { return nil }
func (j *fakeJournal) Sync() error                  { return nil }
func (j *fakeJournal) Dequeued(q *Queue, e *Entry)  { j.dequeued = append(j.dequeued, e.JournalID()) }
func (j *fakeJournal) Enqueued(q *Queue, e *Entry) *Hold {
	j.next++
	j.enqueued++
	e.SetJournalID(j.next)
	return nil
}

func durableTTL(t testing.TB, ttl time.Duration, s string) mo {
	h := types.DefaultHeader()
	h.Durable, h.TTL = true, types.Some(uint32(ttl/time.Millisecond))
	return mo{Header: &h, Body: s}
}

// TestPeriodicPurge: each tick of the queue cleaner removes expired
// messages, at most the batch from each queue per pass, without any
// consumer; each removal is a dequeue in the store and for replication,
// as when a consumer comes across an expired message.
func TestPeriodicPurge(t *testing.T) {
	clk := newClock()
	b := newBroker(t, Config{Now: clk.Now})
	j := &fakeJournal{}
	b.SetJournal(j)
	q1 := declare(t, b, "q1", QueueSettings{Durable: true})
	q2 := declare(t, b, "q2", QueueSettings{})
	r := &recorder{}
	q1.Observe(r, nil)
	for i := 0; i < 5; i++ {
		if _, err := q1.Enqueue(msg(t, durableTTL(t, sec(1), "expires"))); err != nil {
			t.Fatal(err)
		}
		if _, err := q2.Enqueue(withTTL(t, sec(1), "expires")); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, q1, "stays")
	if j.enqueued != 5 {
		t.Fatalf("journal has %d messages, want 5", j.enqueued)
	}

	ticks := make(chan time.Time)
	done := make(chan struct{})
	passes := make(chan int)
	go b.RunPurges(ticks, 2, func(n int) { passes <- n }, done)
	defer close(done)
	pass := func() int {
		t.Helper()
		ticks <- clk.Now()
		return <-passes
	}
	if n := pass(); n != 0 {
		t.Fatalf("before expiry a pass removed %d", n)
	}
	clk.Advance(sec(1))
	for i, want := range []int{4, 4, 2, 0} { // two per queue per pass
		if n := pass(); n != want {
			t.Fatalf("pass %d removed %d, want %d", i+1, n, want)
		}
	}
	if d1, d2 := q1.Depth(), q2.Depth(); d1 != 1 || d2 != 0 {
		t.Fatalf("depths %d and %d, want 1 and 0", d1, d2)
	}
	if len(j.dequeued) != 5 {
		t.Fatalf("store dequeues %v, want the 5 expired messages", j.dequeued)
	}
	deq := 0
	for _, ev := range r.events {
		if ev[0] == '-' {
			deq++
		}
	}
	if deq != 5 {
		t.Fatalf("observer saw %v, want 5 dequeues", r.events)
	}
}

// TestPurgeLeavesDelivered: a message being delivered stays until its
// consumer settles it.
func TestPurgeLeavesDelivered(t *testing.T) {
	clk := newClock()
	b := newBroker(t, Config{Now: clk.Now})
	q := declare(t, b, "q", QueueSettings{})
	for i := 0; i < 3; i++ {
		if _, err := q.Enqueue(withTTL(t, sec(1), "m")); err != nil {
			t.Fatal(err)
		}
	}
	c := subscribe(t, q, "c")
	es := c.fetch(1)
	clk.Advance(sec(2))
	if n := b.PurgeExpiredBatch(1000); n != 2 {
		t.Fatalf("purged %d, want the 2 not being delivered", n)
	}
	c.Release(es[0], false)
	if n := b.PurgeExpiredBatch(1000); n != 1 {
		t.Fatalf("purged %d after the release, want 1", n)
	}
}

// TestQueueCreatorLimit: a creator may have at most its limit of queues;
// deleting one, however, frees a place; queues declared without a creator
// (start-up, HA) count for nobody.
func TestQueueCreatorLimit(t *testing.T) {
	b := newBroker(t, Config{QueuePatterns: []string{"auto.*"}})
	bob := Creator{User: "bob", Limited: true, Max: 2, Source: "max-queues-per-user"}
	if _, _, err := b.DeclareQueueAs("b1", QueueSettings{}, bob); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ResolveAs("auto.b2", nil, "c1", bob); err != nil {
		t.Fatal(err)
	}
	// Declaring an existing queue creates nothing: not refused.
	if _, _, err := b.DeclareQueueAs("b1", QueueSettings{}, bob); err != nil {
		t.Fatalf("existing queue: %v", err)
	}
	_, _, err := b.DeclareQueueAs("b3", QueueSettings{}, bob)
	wantErr(t, "third queue", err, ErrQueueQuota)
	if want := `user bob has 2 queues, the most allowed (2, max-queues-per-user); queue "b3" refused`; !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %q does not say %q", err, want)
	}
	_, err = b.ResolveAs("auto.b3", nil, "c1", bob)
	wantErr(t, "third queue on demand", err, ErrQueueQuota)
	if b.Queue("auto.b3") != nil || b.Queue("b3") != nil {
		t.Fatal("a refused queue exists")
	}
	alice := Creator{User: "alice", Limited: true, Max: 1}
	if _, _, err := b.DeclareQueueAs("a1", QueueSettings{}, alice); err != nil {
		t.Fatalf("another user: %v", err)
	}
	if _, _, err := b.DeclareQueue("free", QueueSettings{}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteQueue("auto.b2", false, false); err != nil {
		t.Fatal(err)
	}
	if n := b.QueuesCreatedBy("bob"); n != 1 {
		t.Fatalf("bob has %d queues, want 1", n)
	}
	if _, _, err := b.DeclareQueueAs("b3", QueueSettings{}, bob); err != nil {
		t.Fatalf("after a delete: %v", err)
	}
	// An auto-delete queue frees its place when it goes with its consumer.
	none := Creator{User: "carol", Limited: true, Max: 1}
	q, _, err := b.DeclareQueueAs("tmp", QueueSettings{AutoDelete: true}, none)
	if err != nil {
		t.Fatal(err)
	}
	c := subscribe(t, q, "c")
	c.Close()
	if n := b.QueuesCreatedBy("carol"); n != 0 || b.Queue("tmp") != nil {
		t.Fatalf("carol has %d queues after her auto-delete queue went", n)
	}
	zero := Creator{User: "dave", Limited: true, Max: 0, Source: "quota queues"}
	_, _, err = b.DeclareQueueAs("d1", QueueSettings{}, zero)
	wantErr(t, "a limit of 0", err, ErrQueueQuota)
}
