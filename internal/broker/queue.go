package broker

import (
	"errors"
	"fmt"
	"sync"

	"github.com/qpidha/qpidha/internal/amqp/message"
)

// Errors returned by queue operations.
var (
	ErrQueueFull    = errors.New("queue limit exceeded")
	ErrQueueDeleted = errors.New("queue deleted")
)

type entryState uint8

const (
	available entryState = iota
	acquired
	removed
)

// Entry is a message on a queue.
type Entry struct {
	Pos uint64 // position: its sequence number on this queue
	Msg *message.Message

	state        entryState
	owner        *Consumer
	failures     uint32 // unsuccessful delivery attempts on this broker
	acquisitions uint32
}

// DeliveryCount is the header delivery-count to send with the entry: the
// sender's count plus this broker's unsuccessful attempts.
func (e *Entry) DeliveryCount() uint32 { return e.Msg.Header.DeliveryCount + e.failures }

// FirstAcquirer reports whether no link acquired the entry before.
func (e *Entry) FirstAcquirer() bool { return e.acquisitions <= 1 && e.failures == 0 }

// QueueSettings are a queue's declared properties.
type QueueSettings struct {
	Durable    bool
	AutoDelete bool
	Exclusive  bool
	MaxCount   int   // 0: unlimited
	MaxBytes   int64 // 0: unlimited
}

// Queue holds messages in order and hands them to consumers.
//
// Entries live in a slice in position order; acquired and removed entries
// stay in place until they reach the head, so a released message goes back
// exactly where it was, ahead of later ones.
type Queue struct {
	name     string
	settings QueueSettings

	mu        sync.Mutex
	entries   []*Entry // entries[head:] are live, positions contiguous
	head      int
	scan      int // index of the first entry that may be available
	nextPos   uint64
	count     int   // entries not removed
	bytes     int64 // their size
	waiting   []*Consumer
	consumers int
	deleted   bool
}

// NewQueue returns an empty queue.
func NewQueue(name string, s QueueSettings) *Queue {
	return &Queue{name: name, settings: s, nextPos: 1}
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Settings are the queue's declared properties.
func (q *Queue) Settings() QueueSettings { return q.settings }

// Depth is the number of messages on the queue, acquired ones included.
func (q *Queue) Depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.count
}

// Consumers is the number of attached consumers.
func (q *Queue) Consumers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.consumers
}

// Enqueue appends a message and wakes a waiting consumer.
func (q *Queue) Enqueue(m *message.Message) (*Entry, error) {
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, ErrQueueDeleted
	}
	size := int64(m.Size())
	if (q.settings.MaxCount > 0 && q.count+1 > q.settings.MaxCount) ||
		(q.settings.MaxBytes > 0 && q.bytes+size > q.settings.MaxBytes) {
		q.mu.Unlock()
		return nil, fmt.Errorf("%w: queue %s holds %d messages (%d bytes)", ErrQueueFull, q.name, q.count, q.bytes)
	}
	e := &Entry{Pos: q.nextPos, Msg: m}
	q.nextPos++
	q.entries = append(q.entries, e)
	q.count++
	q.bytes += size
	wake := q.popWaiting()
	q.mu.Unlock()
	if wake != nil {
		wake.notify()
	}
	return e, nil
}

// popWaiting takes the consumer waiting longest, so busy queues share
// messages round-robin among their consumers.
func (q *Queue) popWaiting() *Consumer {
	for len(q.waiting) > 0 {
		c := q.waiting[0]
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		c.isWaiting = false
		if !c.closed {
			return c
		}
	}
	return nil
}

// acquire takes up to max available entries for c (q.mu held).
func (q *Queue) acquire(c *Consumer, buf []*Entry, max int) []*Entry {
	for q.scan < len(q.entries) && len(buf) < max {
		e := q.entries[q.scan]
		q.scan++
		if e.state != available {
			continue
		}
		e.state = acquired
		e.owner = c
		e.acquisitions++
		c.owned[e.Pos] = e
		buf = append(buf, e)
	}
	return buf
}

// remove drops an entry (q.mu held) and trims removed entries at the head.
func (q *Queue) remove(e *Entry) {
	if e.state == removed {
		return
	}
	e.state = removed
	e.owner = nil
	q.count--
	q.bytes -= int64(e.Msg.Size())
	for q.head < len(q.entries) && q.entries[q.head].state == removed {
		q.entries[q.head] = nil
		q.head++
		if q.scan < q.head {
			q.scan = q.head
		}
	}
	// Reclaim the dead prefix once it is half the slice.
	if q.head > 32 && q.head*2 >= len(q.entries) {
		n := copy(q.entries, q.entries[q.head:])
		clear(q.entries[n:])
		q.entries = q.entries[:n]
		q.scan -= q.head
		q.head = 0
	}
}

// index returns the slice index of an entry (q.mu held).
func (q *Queue) index(e *Entry) int {
	first := q.entries[q.head].Pos
	return q.head + int(e.Pos-first)
}

// makeAvailable returns an acquired entry to the queue (q.mu held).
func (q *Queue) makeAvailable(e *Entry) *Consumer {
	e.state = available
	e.owner = nil
	if i := q.index(e); i < q.scan {
		q.scan = i
	}
	return q.popWaiting()
}

// Consumer is a subscription to a queue. Its notify function is called
// (from any goroutine, never with the queue locked) when messages may be
// available after a Fetch came back short.
type Consumer struct {
	q         *Queue
	notify    func()
	owned     map[uint64]*Entry
	isWaiting bool
	closed    bool
}

// Subscribe adds a consumer.
func (q *Queue) Subscribe(notify func()) (*Consumer, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		return nil, ErrQueueDeleted
	}
	q.consumers++
	return &Consumer{q: q, notify: notify, owned: map[uint64]*Entry{}}, nil
}

// Queue is the consumer's queue.
func (c *Consumer) Queue() *Queue { return c.q }

// Fetch acquires up to max messages, appending them to buf. When it
// returns fewer, the consumer is notified once more become available.
func (c *Consumer) Fetch(buf []*Entry, max int) []*Entry {
	q := c.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.closed {
		return buf
	}
	n := len(buf)
	buf = q.acquire(c, buf, n+max)
	if len(buf)-n < max && !c.isWaiting {
		c.isWaiting = true
		q.waiting = append(q.waiting, c)
	}
	return buf
}

// Accept removes a message the consumer processed.
func (c *Consumer) Accept(e *Entry) {
	q := c.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.owner != c {
		return
	}
	delete(c.owned, e.Pos)
	q.remove(e)
}

// Release returns a message to the queue for redelivery; failed counts the
// attempt as unsuccessful (modified with delivery-failed, or a lost consumer).
func (c *Consumer) Release(e *Entry, failed bool) {
	q := c.q
	q.mu.Lock()
	if e.owner != c {
		q.mu.Unlock()
		return
	}
	delete(c.owned, e.Pos)
	if failed {
		e.failures++
	}
	wake := q.makeAvailable(e)
	q.mu.Unlock()
	if wake != nil {
		wake.notify()
	}
}

// Close ends the subscription. Messages it still holds go back to the
// queue, counted as failed attempts since the consumer may have seen them.
func (c *Consumer) Close() {
	q := c.q
	q.mu.Lock()
	if c.closed {
		q.mu.Unlock()
		return
	}
	c.closed = true
	q.consumers--
	var wake []*Consumer
	for _, e := range c.owned {
		e.failures++
		if w := q.makeAvailable(e); w != nil {
			wake = append(wake, w)
		}
	}
	c.owned = nil
	q.mu.Unlock()
	for _, w := range wake {
		w.notify()
	}
}
