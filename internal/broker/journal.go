package broker

import (
	"errors"
	"fmt"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
)

// This file holds what the durable store needs from the broker: which
// objects are durable, the calls that record their changes, and the
// operations that restore them after a restart.

// ErrStoreFull refuses a persistent message while the store cannot take
// it (its disk is full): the sender sees amqp:resource-limit-exceeded.
var ErrStoreFull = errors.New("the store cannot take persistent messages")

// Journal keeps what must survive a restart: durable queues, durable
// exchanges, bindings between durable ones, and the persistent messages
// (header durable) on durable queues; everything else stays in memory
// only, as in the original broker. The broker calls it with the changed
// object locked, so it sees each object's changes in order; it must only
// record them, never call back into the broker.
type Journal interface {
	QueueDeclared(q *Queue)
	QueueDeleted(q *Queue) // its messages and bindings go with it
	// QueueSetAside records a queue's new name, aside (SetQueueAside);
	// its bindings go, its messages stay.
	QueueSetAside(q *Queue, aside string)
	ExchangeDeclared(e *Exchange)
	ExchangeDeleted(e *Exchange) // its bindings go with it
	Bound(b *Binding)
	Unbound(b *Binding)
	// Refusal is why a persistent message cannot be stored now (wrapping
	// ErrStoreFull), nil if it can.
	Refusal() error
	// Enqueued records a message; the hold returned is done once the
	// record is on disk: the sender's acknowledgement waits for it.
	Enqueued(q *Queue, e *Entry) *Hold
	// Dequeued records that a message left its queue.
	Dequeued(q *Queue, e *Entry)
	// Redelivered records a message's new count of failed deliveries.
	Redelivered(q *Queue, e *Entry)
	// Committed records that transaction txn's enqueues and dequeues take
	// effect together; the hold is done once that is on disk (nil when
	// the transaction recorded nothing).
	Committed(txn string) *Hold
	// Sync waits until everything recorded so far is on disk.
	Sync() error
}

// SetJournal makes the broker record its durable objects and persistent
// messages in j from now on. It is set once, after the journal's contents
// were restored and before the broker serves anyone.
func (b *Broker) SetJournal(j Journal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.journal = j
}

// SetQueueAside takes a queue out of the registry, unbound, keeping it
// and its messages: the store records it under the name aside, which is
// what a restart restores it as. An HA backup does this with the old
// incarnation of a queue its primary replaced while it was away, and
// drops it (DropAside) once it is ready again: until then it may hold
// the last copy of what was in it.
func (b *Broker) SetQueueAside(name, aside string) (*Queue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queues[name]
	if q == nil {
		return nil, fmt.Errorf("%w: queue %q", ErrNotFound, name)
	}
	if b.queues[aside] != nil {
		return nil, fmt.Errorf("%w: queue %q", ErrExists, aside)
	}
	delete(b.queues, name)
	b.uncount(q)
	for _, e := range b.exchanges {
		e.unbindQueue(name)
	}
	if b.journal != nil && q.jid != 0 {
		b.journal.QueueSetAside(q, aside)
	}
	return q, nil
}

// DropAside deletes a queue set aside, from the store too.
func (b *Broker) DropAside(q *Queue) {
	b.mu.Lock()
	if b.journal != nil && q.jid != 0 {
		b.journal.QueueDeleted(q)
	}
	b.mu.Unlock()
	q.markDeleted()
}

// SyncJournal waits until every change recorded so far is on disk (a
// management request answers once what it changed is durable).
func (b *Broker) SyncJournal() error {
	if j := b.journalOf(); j != nil {
		return j.Sync()
	}
	return nil
}

// CommitJournal records that transaction txn committed; the hold returned,
// nil if there is nothing to wait for, is done once that is on disk.
func (b *Broker) CommitJournal(txn string) *Hold {
	if j := b.journalOf(); j != nil {
		return j.Committed(txn)
	}
	return nil
}

func (b *Broker) journalOf() Journal {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.journal
}

// journaled reports whether a queue's changes go to the journal.
func (q *Queue) journaled() Journal {
	if q.broker == nil || !q.settings.Durable {
		return nil
	}
	return q.broker.journal
}

// durableExchange: built-in exchanges exist on every broker; other
// exchanges are durable as declared.
func durableExchange(e *Exchange) bool { return e.builtin || e.settings.Durable }

// JournalID is the id the journal gave the queue (0: none).
func (q *Queue) JournalID() uint64 { return q.jid }

// SetJournalID is how the journal names the queue in its records.
func (q *Queue) SetJournalID(id uint64) { q.jid = id }

// JournalID is the id the journal gave the exchange (0: none).
func (e *Exchange) JournalID() uint64 { return e.jid }

// SetJournalID is how the journal names the exchange in its records.
func (e *Exchange) SetJournalID(id uint64) { e.jid = id }

// JournalID is the id the journal gave the binding (0: none).
func (b *Binding) JournalID() uint64 { return b.jid }

// SetJournalID is how the journal names the binding in its records.
func (b *Binding) SetJournalID(id uint64) { b.jid = id }

// JournalID is the id the journal gave the entry (0: not stored).
func (e *Entry) JournalID() uint64 { return e.jid }

// SetJournalID is how the journal names the message in its records.
func (e *Entry) SetJournalID(id uint64) { e.jid = id }

// StoreHold is the hold on the entry's acceptance until its record is on
// disk, nil if it is not stored.
func (e *Entry) StoreHold() *Hold { return e.stored }

// Expires is when the entry expires (zero: never).
func (e *Entry) Expires() time.Time { return e.expires }

// Failures counts the entry's unsuccessful delivery attempts on this broker.
func (e *Entry) Failures() uint32 { return e.failures }

// RestoreQueue declares a queue recovered from the journal, keeping its
// settings as they were (its alternate exchange need not exist).
func (b *Broker) RestoreQueue(name string, s QueueSettings, jid uint64) (*Queue, error) {
	if name == "" {
		return nil, errors.New("a queue needs a name")
	}
	s = b.withDefaults(s)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queues[name] != nil {
		return nil, fmt.Errorf("%w: queue %q restored twice", ErrExists, name)
	}
	q := NewQueue(name, s)
	q.broker = b
	q.jid = jid
	b.queues[name] = q
	return q, nil
}

// RestoreExchange declares an exchange recovered from the journal.
func (b *Broker) RestoreExchange(name, kind string, s ExchangeSettings, jid uint64) (*Exchange, error) {
	if name == "" {
		return nil, errors.New("an exchange needs a name")
	}
	if s.Identity == "" {
		s.Identity = NewIdentity()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.exchanges[name] != nil {
		return nil, fmt.Errorf("%w: exchange %q restored twice", ErrExists, name)
	}
	e, err := newExchange(name, kind, s, false)
	if err != nil {
		return nil, err
	}
	e.jid = jid
	b.exchanges[name] = e
	return e, nil
}

// RestoreBinding binds a queue recovered from the journal.
func (b *Broker) RestoreBinding(exchange, queue, key string, args Args, jid uint64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, q := b.exchanges[exchange], b.queues[queue]
	if e == nil || q == nil {
		return fmt.Errorf("%w: binding of queue %q to exchange %q", ErrNotFound, queue, exchange)
	}
	return e.bind(&Binding{Exchange: exchange, Queue: queue, Key: key, Args: args.Clone(), queue: q, exchange: e, jid: jid})
}

// Restored is a message recovered from the journal.
type Restored struct {
	Msg      *message.Message
	Pos      uint64 // its position on the queue
	JID      uint64 // its journal id
	Expires  time.Time
	Failures uint32
	ID       MessageID // its replication identity (zero: none)
}

// Restore puts recovered messages back on a queue, in the order of their
// positions (which they keep). Limits do not apply: the messages were
// within them when they were stored.
func (q *Queue) Restore(msgs []Restored) {
	q.mu.Lock()
	defer q.unlock()
	for _, r := range msgs {
		e := &Entry{Pos: r.Pos, Msg: r.Msg, expires: r.Expires, failures: r.Failures, jid: r.JID, id: r.ID}
		if !e.id.IsZero() {
			if q.byID == nil {
				q.byID = map[MessageID]*Entry{}
			}
			q.byID[e.id] = e
		}
		if r.Pos < q.nextPos {
			e.Pos = q.nextPos // positions only grow
		}
		q.nextPos = e.Pos + 1
		if q.lvq != nil {
			if e.lvqKey = lvqKeyOf(r.Msg, q.settings.LVQKey); e.lvqKey != "" {
				q.lvq[e.lvqKey] = e
			}
		}
		q.laneFor(r.Msg).push(e)
		q.stats.Depth++
		q.countBytes(int64(r.Msg.Size()))
		q.stats.Enqueues++
	}
}
