package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestMemoryBound: up to max-memory producers' messages are accepted as
// usual; beyond it their acceptance waits (a hold) until the total falls
// below 90% of it; beyond it by more than 10% they are refused.
// Replicated messages are neither held nor refused, and count.
func TestMemoryBound(t *testing.T) {
	m := body(t, strings.Repeat("x", 90))
	size := int64(m.Size())
	max := 20 * size // room for 20 messages, 2 more held
	var events []string
	b := newBroker(t, Config{MaxMemory: max, MemoryChanged: func(stopped bool, bytes, max int64) {
		events = append(events, fmt.Sprintf("stopped=%v bytes=%d max=%d", stopped, bytes, max))
	}})
	q := declare(t, b, "q", QueueSettings{})
	replica := declare(t, b, "replica", QueueSettings{})
	produce := func() (*Hold, error) {
		h, err := b.AdmitMemory(size)
		if err != nil {
			return nil, err
		}
		if _, err := q.Enqueue(m); err != nil {
			t.Fatal(err)
		}
		return h, nil
	}
	n := int64(0)
	for ; (n+1)*size <= max; n++ {
		if h, err := produce(); h != nil || err != nil {
			t.Fatalf("message %d (%d bytes in all): hold %v, error %v", n+1, (n+1)*size, h, err)
		}
	}
	if b.MemoryFlowStopped() || len(events) != 0 {
		t.Fatalf("flow controlled at %d bytes: %v", b.MemoryBytes(), events)
	}
	var held []*Hold
	for (n+1)*size <= max+max/10 {
		h, err := produce()
		if err != nil || h == nil || h.Done() {
			t.Fatalf("message %d (%d bytes in all): hold %v, error %v; want a pending hold", n+1, (n+1)*size, h, err)
		}
		held = append(held, h)
		n++
	}
	if len(events) != 1 || !strings.HasPrefix(events[0], "stopped=true") || !b.MemoryFlowStopped() {
		t.Fatalf("events %v", events)
	}
	_, err := b.AdmitMemory(size)
	if !errors.Is(err, ErrMemoryFull) || !strings.Contains(err.Error(), fmt.Sprintf("(%d bytes, max-memory)", max)) {
		t.Fatalf("beyond the bound + 10%%: %v", err)
	}
	if err := b.MemoryRefusal(size); !errors.Is(err, ErrMemoryFull) {
		t.Fatalf("MemoryRefusal: %v", err)
	}
	// Replication is exempt, and counts.
	if _, err := replica.EnqueueReplica(m, MessageID{Epoch: 1, Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.MemoryBytes(), (n+1)*size; got != want {
		t.Fatalf("MemoryBytes %d, want %d", got, want)
	}
	if len(held) != 2 {
		t.Fatalf("%d messages held, want 2", len(held))
	}
	// Consumers drain: the holds end below 90% of the bound, not before.
	c := subscribe(t, q, "c")
	for b.MemoryBytes() >= max/10*9 {
		if held[0].Done() {
			t.Fatalf("a hold ended at %d bytes", b.MemoryBytes())
		}
		es := c.fetch(1)
		c.Accept(es[0])
	}
	for i, h := range held {
		if !h.Done() {
			t.Fatalf("hold %d pending at %d bytes", i, b.MemoryBytes())
		}
	}
	if len(events) != 2 || !strings.HasPrefix(events[1], "stopped=false") || b.MemoryFlowStopped() {
		t.Fatalf("events %v", events)
	}
	if h, err := b.AdmitMemory(size); h != nil || err != nil {
		t.Fatalf("after resuming: hold %v, error %v", h, err)
	}
	// Deleting queues gives their bytes back.
	if err := b.DeleteQueue("q", false, false); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteQueue("replica", false, false); err != nil {
		t.Fatal(err)
	}
	if got := b.MemoryBytes(); got != 0 {
		t.Fatalf("MemoryBytes %d with no queues", got)
	}
}

// TestNoMemoryBound: without a bound nothing is held or refused.
func TestNoMemoryBound(t *testing.T) {
	b := newBroker(t, Config{})
	if h, err := b.AdmitMemory(1 << 40); h != nil || err != nil {
		t.Fatalf("hold %v, error %v", h, err)
	}
}
