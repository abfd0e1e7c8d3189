package failover

import (
	"fmt"
	"testing"

	amqp "github.com/Azure/go-amqp"
)

func key(i int) idKey { return idKey{'s', fmt.Sprint(i)} }

func TestDedupWindowEvicts(t *testing.T) {
	d := newDedup(3)
	for i := 1; i <= 3; i++ {
		d.add(key(i))
	}
	for i := 1; i <= 3; i++ {
		if _, ok := d.seen(key(i)); !ok {
			t.Fatalf("id %d forgotten in a window of 3", i)
		}
	}
	d.add(key(4)) // evicts 1
	if _, ok := d.seen(key(1)); ok {
		t.Error("the oldest id was not evicted")
	}
	for i := 2; i <= 4; i++ {
		if _, ok := d.seen(key(i)); !ok {
			t.Errorf("id %d evicted too early", i)
		}
	}
	if d.len() != 3 {
		t.Errorf("%d ids remembered, want 3", d.len())
	}
	for i := 5; i < 1000; i++ {
		d.add(key(i))
		if d.len() > 3 {
			t.Fatalf("window grew to %d", d.len())
		}
	}
}

func TestDedupOutcomesAndRemoval(t *testing.T) {
	d := newDedup(4)
	d.add(key(1))
	d.add(key(2))
	d.set(key(2), outReject)
	if out, _ := d.seen(key(1)); out != outAccept {
		t.Error("a new id's outcome must be accept")
	}
	if out, _ := d.seen(key(2)); out != outReject {
		t.Error("the rejection was not recorded")
	}
	d.remove(key(1)) // released: its redelivery must get through
	if _, ok := d.seen(key(1)); ok {
		t.Error("a released id is still in the window")
	}
	// Re-added after removal, an id outlives its stale ring slot.
	d.add(key(1))
	d.add(key(3))
	d.add(key(4)) // the ring: 1(stale) 2 1 3 -> evict the stale 1: nothing
	if _, ok := d.seen(key(1)); !ok {
		t.Error("a stale slot evicted the re-added id")
	}
	d.add(key(5)) // evicts 2
	if _, ok := d.seen(key(2)); ok {
		t.Error("2 should be evicted")
	}
}

func TestMessageKey(t *testing.T) {
	m := func(id any) *amqp.Message { return &amqp.Message{Properties: &amqp.MessageProperties{MessageID: id}} }
	if _, ok := messageKey(&amqp.Message{}); ok {
		t.Error("a message without properties has no key")
	}
	if _, ok := messageKey(m(nil)); ok {
		t.Error("a message without message-id has no key")
	}
	a, _ := messageKey(m("7"))
	b, _ := messageKey(m(uint64(7)))
	c, _ := messageKey(m([]byte("7")))
	if a == b || a == c || b == c {
		t.Errorf("ids of different types collide: %v %v %v", a, b, c)
	}
	u := amqp.UUID{1, 2, 3}
	d1, _ := messageKey(m(u))
	d2, _ := messageKey(m(u))
	if d1 != d2 {
		t.Error("equal UUIDs differ")
	}
}
