package broker

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// The broker-wide memory bound (qpidd's max-memory): one counter of the
// bytes of every message on every queue, the sum of the queues' byte
// depths (a message routed to three queues counts three times, as the
// queues' figures show it). Producers' new messages are admitted against
// it (AdmitMemory) with a simple rule:
//
//   - up to the bound a message is accepted as usual;
//   - above the bound (the message included) it is still queued, but its
//     acceptance waits (a Hold) until the total falls below the resume
//     level, 90% of the bound: a producer with a window of unsettled
//     messages stops sending, as with a queue's producer flow control;
//   - above the bound plus 10% it is refused (ErrMemoryFull): many
//     producers' windows together cannot take the broker much further.
//
// Only what a client sends is admitted so: the messages an HA backup
// replicates (EnqueueReplica), those restored from the store,
// dead-lettered ones and management replies are never refused nor held,
// and messages already accepted are never touched. They do count in the
// total.

// ErrMemoryFull refuses a message while the broker holds more message
// bytes than its memory bound allows: the sender sees
// amqp:resource-limit-exceeded.
var ErrMemoryFull = errors.New("the broker's memory bound is exceeded")

// memory is the broker's accounting of message bytes. Every enqueue and
// dequeue changes bytes, so it is an atomic: the mutex is taken only to
// start or end flow control and to queue a held acceptance.
type memory struct {
	bytes   atomic.Int64 // message bytes on all queues
	stopped atomic.Bool  // producer flow control for memory is on (changed with mu held)
	mu      sync.Mutex
	held    []*Hold // acceptances waiting for the total to fall
}

// MemoryBytes is the number of message bytes on all queues together.
func (b *Broker) MemoryBytes() int64 { return b.mem.bytes.Load() }

// MemoryFlowStopped reports whether producers are flow controlled for
// memory.
func (b *Broker) MemoryFlowStopped() bool { return b.mem.stopped.Load() }

func (b *Broker) resumeLevel() int64 { return b.cfg.MaxMemory / 10 * 9 }

// AdmitMemory decides a producer's message of size bytes (its size times
// the number of queues it is about to be put on) against the memory bound:
// nil to accept it as usual, a hold its acceptance must wait for (flow
// control), or ErrMemoryFull to refuse it. With no bound it always
// returns nil, nil.
func (b *Broker) AdmitMemory(size int64) (*Hold, error) {
	max := b.cfg.MaxMemory
	if max <= 0 {
		return nil, nil
	}
	m := &b.mem
	now := m.bytes.Load()
	total := now + size
	if total > max+max/10 {
		return nil, memoryFull(now, size, max)
	}
	if total <= max && !m.stopped.Load() {
		return nil, nil // the usual case: no lock
	}
	m.mu.Lock()
	if !m.stopped.Load() {
		if total <= max {
			m.mu.Unlock()
			return nil, nil
		}
		m.stopped.Store(true)
		b.memoryChanged(true, total)
	}
	// Dequeues that took the total down since it was read, before they
	// could see stopped, did not end flow control: if the total with this
	// message is below the resume level now, end it here (under the one
	// lock it could never have been so).
	if m.bytes.Load()+size < b.resumeLevel() {
		var done []*Hold
		b.resumeMemory(&done)
		m.mu.Unlock()
		for _, h := range done {
			h.Complete()
		}
		return nil, nil
	}
	h := NewHold(1)
	m.held = append(m.held, h)
	m.mu.Unlock()
	return h, nil
}

// MemoryRefusal is ErrMemoryFull if a message of size bytes more would
// take the queues beyond the memory bound by more than 10%, else nil (a
// transaction's message, whose acceptance cannot wait).
func (b *Broker) MemoryRefusal(size int64) error {
	max := b.cfg.MaxMemory
	if max <= 0 {
		return nil
	}
	now := b.mem.bytes.Load()
	if now+size > max+max/10 {
		return memoryFull(now, size, max)
	}
	return nil
}

func memoryFull(now, size, max int64) error {
	return fmt.Errorf("%w: the queues hold %d bytes of messages; %d bytes more would go beyond the bound (%d bytes, max-memory) by more than 10%%",
		ErrMemoryFull, now, size, max)
}

// addMemory counts bytes in (positive) or out (negative) of the queues; a
// decrease may end flow control for memory, whose holds then go on done
// (the caller completes them once it unlocked: q.completed).
func (b *Broker) addMemory(n int64, done *[]*Hold) {
	m := &b.mem
	total := m.bytes.Add(n)
	if n >= 0 || !m.stopped.Load() || total >= b.resumeLevel() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped.Load() && m.bytes.Load() < b.resumeLevel() {
		b.resumeMemory(done)
	}
}

// resumeMemory ends flow control for memory: its holds go on done, for
// the caller to complete once it unlocked (mem.mu held).
func (b *Broker) resumeMemory(done *[]*Hold) {
	m := &b.mem
	m.stopped.Store(false)
	*done = append(*done, m.held...)
	clear(m.held)
	m.held = m.held[:0]
	b.memoryChanged(false, m.bytes.Load())
}

func (b *Broker) memoryChanged(stopped bool, bytes int64) {
	if b.cfg.MemoryChanged != nil {
		b.cfg.MemoryChanged(stopped, bytes, b.cfg.MaxMemory)
	}
}

// countBytes changes the queue's byte depth and the broker's total (q.mu
// held).
func (q *Queue) countBytes(n int64) {
	q.stats.Bytes += n
	if q.broker != nil {
		q.broker.addMemory(n, &q.completed)
	}
}
