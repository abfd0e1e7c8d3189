package failover

import (
	"fmt"

	amqp "github.com/Azure/go-amqp"
)

// outcome is what a Receiver does with a duplicate: the disposition the
// application gave the first copy.
type outcome uint8

const (
	outAccept outcome = iota // accepted, or not settled yet
	outReject
)

// idKey is a message-id as a map key: its AMQP type and value.
type idKey struct {
	kind byte // 's' string, 'u' ulong, 'b' binary, 'g' uuid, 'o' other
	val  string
}

// messageKey is the key of msg's message-id, ok false if it has none.
func messageKey(m *amqp.Message) (idKey, bool) {
	if m == nil || m.Properties == nil || m.Properties.MessageID == nil {
		return idKey{}, false
	}
	switch id := m.Properties.MessageID.(type) {
	case string:
		return idKey{'s', id}, true
	case uint64:
		return idKey{'u', fmt.Sprint(id)}, true
	case []byte:
		return idKey{'b', string(id)}, true
	case amqp.UUID:
		return idKey{'g', string(id[:])}, true
	default:
		return idKey{'o', fmt.Sprintf("%T:%v", id, id)}, true
	}
}

// dedup remembers the message-ids of the last size messages a Receiver
// handed out, and what the application did with each. Not safe for
// concurrent use (the Receiver locks).
type dedup struct {
	size int
	ids  map[idKey]entry
	ring []slot // insertion order, for eviction; stale slots are skipped
	head int    // the oldest slot
	n    int    // slots in use
	seq  uint64
}

type entry struct {
	seq uint64
	out outcome
}

type slot struct {
	key idKey
	seq uint64
}

func newDedup(size int) *dedup {
	return &dedup{size: size, ids: make(map[idKey]entry, size), ring: make([]slot, size)}
}

// seen reports whether k is in the window, and the first copy's outcome.
func (d *dedup) seen(k idKey) (outcome, bool) {
	e, ok := d.ids[k]
	return e.out, ok
}

// add puts k in the window (outcome accept), evicting the oldest id when
// the window is full.
func (d *dedup) add(k idKey) {
	if d.n == d.size {
		old := d.ring[d.head]
		if e, ok := d.ids[old.key]; ok && e.seq == old.seq {
			delete(d.ids, old.key)
		}
		d.head = (d.head + 1) % d.size
		d.n--
	}
	d.seq++
	d.ids[k] = entry{seq: d.seq}
	d.ring[(d.head+d.n)%d.size] = slot{k, d.seq}
	d.n++
}

// set records the outcome the application gave k.
func (d *dedup) set(k idKey, out outcome) {
	if e, ok := d.ids[k]; ok {
		e.out = out
		d.ids[k] = e
	}
}

// remove forgets k: the application released it, so a redelivery must
// reach it.
func (d *dedup) remove(k idKey) { delete(d.ids, k) }

// len is the number of ids remembered.
func (d *dedup) len() int { return len(d.ids) }
