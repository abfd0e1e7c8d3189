package broker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/qpidha/qpidha/internal/amqp/message"
)

// This file holds what the HA module needs from the broker: message
// identities, observers that see every change in order, holds that delay a
// sender's acknowledgement, and the operations a backup applies.

// MessageID identifies a replicated message: the epoch of the primary that
// enqueued it and a sequence number within that epoch. It is never reused.
type MessageID struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// IsZero reports an unset ID (a message that is not replicated).
func (id MessageID) IsZero() bool { return id == MessageID{} }

// Less orders IDs by epoch, then sequence.
func (id MessageID) Less(o MessageID) bool {
	return id.Epoch < o.Epoch || (id.Epoch == o.Epoch && id.Seq < o.Seq)
}

func (id MessageID) String() string { return fmt.Sprintf("%d.%d", id.Epoch, id.Seq) }

// ParseMessageID reads what String writes ("epoch.sequence").
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	if _, err := fmt.Sscanf(s, "%d.%d", &id.Epoch, &id.Seq); err != nil {
		return MessageID{}, fmt.Errorf("%q is not an epoch.sequence: %w", s, err)
	}
	return id, nil
}

// NewIdentity returns a random identity for a queue or exchange, so a
// backup can tell an object deleted and recreated while it was away from
// the one it knew.
func NewIdentity() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Observer sees a queue's changes in order. It is called with the queue
// locked: it must only record what happened (and may set the entry's ID
// and hold in Enqueued); it must not call into the queue or anything that
// might, nor run a connection's work inline.
type Observer interface {
	Enqueued(q *Queue, e *Entry)
	Dequeued(q *Queue, e *Entry)
}

// ConfigObserver sees declarations, deletions and bindings in order, with
// the broker's registry locked: it must only record them.
type ConfigObserver interface {
	QueueDeclared(q *Queue)
	QueueDeleted(q *Queue)
	ExchangeDeclared(e *Exchange)
	ExchangeDeleted(e *Exchange)
	Bound(b *Binding)
	Unbound(b *Binding)
}

// Hold delays a sender's acknowledgement of an enqueued message until every
// party in its pending set released it (a backup acknowledged the copy it
// was sent), or the message left the queue (a consumer has it). Parties are
// bits of a mask, one per backup.
type Hold struct {
	mu      sync.Mutex
	pending uint64
	done    bool
	waiters []func()
}

// NewHold returns a hold waiting for the parties in pending; with none it
// is done at once.
func NewHold(pending uint64) *Hold { return &Hold{pending: pending, done: pending == 0} }

// Release marks parties as done with the message.
func (h *Hold) Release(parties uint64) {
	h.mu.Lock()
	h.pending &^= parties
	h.finish()
}

// Complete ends the hold whatever is pending.
func (h *Hold) Complete() {
	h.mu.Lock()
	h.pending = 0
	h.finish()
}

// finish runs the waiters once nothing is pending (called with h.mu held;
// releases it before running them).
func (h *Hold) finish() {
	if h.done || h.pending != 0 {
		h.mu.Unlock()
		return
	}
	h.done = true
	w := h.waiters
	h.waiters = nil
	h.mu.Unlock()
	for _, f := range w {
		f()
	}
}

// Done reports whether nothing holds the message any more.
func (h *Hold) Done() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.done
}

// Pending is the set of parties still holding the message.
func (h *Hold) Pending() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pending
}

// Wait calls f once the hold is done. It returns false, without calling f,
// if it is done already.
func (h *Hold) Wait(f func()) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return false
	}
	h.waiters = append(h.waiters, f)
	return true
}

// Hold returns the entry's hold, nil if its enqueue is not held.
func (e *Entry) Hold() *Hold { return e.hold }

// Txn is the transaction whose commit enqueued or removed the entry, "" if
// none: an Observer reports it with the change.
func (e *Entry) Txn() string { return e.txn }

// ID returns the entry's replication identity, zero if it has none.
func (e *Entry) ID() MessageID { return e.id }

// SetID gives an entry its replication identity; an Observer calls it from
// Enqueued.
func (e *Entry) SetID(id MessageID) { e.id = id }

// SetHold attaches a hold to an entry; an Observer calls it from Enqueued.
func (e *Entry) SetHold(h *Hold) { e.hold = h }

// Identity is the queue's identity (see NewIdentity).
func (q *Queue) Identity() string { return q.settings.Identity }

// Observe sets the queue's observer (nil removes it) and, atomically with
// that, calls f with the queue's live entries in position order, so the
// observer sees each message exactly once: in the snapshot or as an event.
// f may give the entries identities (SetID).
func (q *Queue) Observe(o Observer, f func(live []*Entry)) {
	q.mu.Lock()
	defer q.unlock()
	q.observer = o
	live := q.live()
	if f != nil {
		f(live)
	}
	if o != nil {
		if q.byID == nil {
			q.byID = map[MessageID]*Entry{}
		}
		for _, e := range live {
			if !e.id.IsZero() {
				q.byID[e.id] = e
			}
		}
	}
}

// Entries calls f with the queue's live entries in position order, with the
// queue locked.
func (q *Queue) Entries(f func(live []*Entry)) {
	q.mu.Lock()
	defer q.unlock()
	f(q.live())
}

// live lists the entries not removed, oldest first (q.mu held).
func (q *Queue) live() []*Entry {
	var out []*Entry
	for _, l := range q.lanes {
		for _, e := range l.entries[l.head:] {
			if e.state != removed {
				out = append(out, e)
			}
		}
	}
	if len(q.lanes) > 1 {
		sortByPos(out)
	}
	return out
}

func sortByPos(es []*Entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Pos < es[j-1].Pos; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// EnqueueReplica adds a message a backup received from its primary, with
// the primary's identity for it. Limits, ring and last-value replacement do
// not apply: the primary applied them and replicates their effects as
// dequeues. A message already present is not added twice. A persistent
// message on a durable queue is stored: its entry's StoreHold is done once
// it is on disk.
func (q *Queue) EnqueueReplica(m *message.Message, id MessageID) (*Entry, error) {
	now := q.now()
	q.mu.Lock()
	defer q.unlock()
	if q.deleted {
		return nil, ErrQueueDeleted
	}
	if q.byID == nil {
		q.byID = map[MessageID]*Entry{}
	}
	if e := q.byID[id]; e != nil {
		return e, nil
	}
	e := &Entry{Pos: q.nextPos, Msg: m, expires: expiry(m, now), id: id}
	if q.lvq != nil {
		e.lvqKey = lvqKeyOf(m, q.settings.LVQKey)
		if e.lvqKey != "" {
			q.lvq[e.lvqKey] = e
		}
	}
	q.nextPos++
	q.laneFor(m).push(e)
	q.byID[id] = e
	q.stats.Depth++
	q.countBytes(int64(m.Size()))
	q.stats.Enqueues++
	if q.observer != nil {
		q.observer.Enqueued(q, e) // a replica on a primary replicates on
	}
	if j := q.journaled(); j != nil && m.Header.Durable {
		// Stored even while the disk is full (the journal keeps it until
		// there is space): the primary has it already; the backup's
		// acknowledgement waits for StoreHold.
		e.stored = j.Enqueued(q, e)
	}
	if w := q.popWaiting(); w != nil {
		q.wake = append(q.wake, w)
	}
	return e, nil
}

// DequeueIDs removes the messages with these identities (a backup applying
// its primary's dequeues); unknown ones are ignored. It returns how many
// were removed.
func (q *Queue) DequeueIDs(ids []MessageID) int {
	q.mu.Lock()
	defer q.unlock()
	n := 0
	for _, id := range ids {
		if e := q.byID[id]; e != nil {
			if e.owner != nil {
				delete(e.owner.owned, e.Pos)
			}
			q.remove(e)
			n++
		}
	}
	return n
}

// IDs lists the identities of the queue's live messages, oldest first.
func (q *Queue) IDs() []MessageID {
	q.mu.Lock()
	defer q.unlock()
	var out []MessageID
	for _, e := range q.live() {
		if !e.id.IsZero() {
			out = append(out, e.id)
		}
	}
	return out
}

// unlock releases the queue, then does what must not happen under its lock:
// completes the holds of messages that left the queue and wakes consumers.
func (q *Queue) unlock() {
	holds, wake := q.completed, q.wake
	q.completed, q.wake = nil, nil
	q.mu.Unlock()
	for _, h := range holds {
		h.Complete()
	}
	for _, c := range wake {
		c.notify()
	}
}

// SetConfigObserver sets the broker's configuration observer and, atomically
// with that, calls f with the queues and exchanges (bindings are on the
// exchanges), so the observer sees each object in the snapshot or as an
// event, never neither.
func (b *Broker) SetConfigObserver(o ConfigObserver, f func(queues []*Queue, exchanges []*Exchange)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.observer = o
	if f != nil {
		f(sortedQueues(b.queues), sortedExchanges(b.exchanges))
	}
}
