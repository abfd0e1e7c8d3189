package broker

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
)

// Errors returned by queue operations.
var (
	ErrQueueFull    = errors.New("queue limit exceeded")
	ErrQueueDeleted = errors.New("queue deleted")
	ErrExclusive    = errors.New("queue is exclusive to another connection")
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
	expires      time.Time // zero: never
	lane         *lane
	slot         int    // index in lane, plus the lane's base
	lvqKey       string // the last-value key, "" if none
	id           MessageID
	hold         *Hold  // replication's (HA guard)
	flow         *Hold  // producer flow control's
	stored       *Hold  // the journal's: done once on disk
	jid          uint64 // the journal's id, 0 if not stored
	txn          string // the transaction that enqueued or consumed it
}

// DeliveryCount is the header delivery-count to send with the entry: the
// sender's count plus this broker's unsuccessful attempts.
func (e *Entry) DeliveryCount() uint32 { return e.Msg.Header.DeliveryCount + e.failures }

// FirstAcquirer reports whether no link acquired the entry before.
func (e *Entry) FirstAcquirer() bool { return e.acquisitions <= 1 && e.failures == 0 }

// QueueSettings are a queue's declared properties (see ParseQueueArgs).
type QueueSettings struct {
	Durable    bool
	AutoDelete bool // deleted when its last consumer leaves
	Exclusive  bool // only its owner (a connection) may use it
	Owner      string
	MaxCount   int   // 0: unlimited
	MaxBytes   int64 // 0: unlimited
	Policy     LimitPolicy
	Flow       FlowLimits // producer flow control (resolved by the broker)
	Priorities int        // priority levels; 0 or 1: FIFO
	LVQKey     string     // last-value queue: the application property naming a message's key
	// AlternateExchange receives messages rejected by consumers, expired,
	// or left on the queue when it is deleted.
	AlternateExchange string
	// Args are the declared arguments, kept verbatim.
	Args Args
	// Identity tells this queue from one of the same name declared later
	// (set by the broker when empty).
	Identity string
}

// lane is an ordered run of entries: a FIFO queue has one, a priority queue
// one per level. Acquired and removed entries stay in place until they
// reach the head, so a released message goes back exactly where it was.
type lane struct {
	entries []*Entry
	head    int // entries before head are gone
	scan    int // index of the first entry that may be available
	base    int // slots dropped by compaction
}

func (l *lane) push(e *Entry) {
	e.lane = l
	e.slot = l.base + len(l.entries)
	l.entries = append(l.entries, e)
}

func (l *lane) index(e *Entry) int { return e.slot - l.base }

// live returns a copy of the entries from the head on, for loops that
// remove entries (and so may compact the lane) as they go.
func (l *lane) live() []*Entry { return append([]*Entry(nil), l.entries[l.head:]...) }

// trim drops removed entries at the head and compacts now and then.
func (l *lane) trim() {
	for l.head < len(l.entries) && l.entries[l.head].state == removed {
		l.entries[l.head] = nil
		l.head++
	}
	if l.scan < l.head {
		l.scan = l.head
	}
	if l.head > 32 && l.head*2 >= len(l.entries) {
		n := copy(l.entries, l.entries[l.head:])
		clear(l.entries[n:])
		l.entries = l.entries[:n]
		l.scan -= l.head
		l.base += l.head
		l.head = 0
	}
}

// QueueStats are a queue's counters.
type QueueStats struct {
	Depth     int    // messages on the queue, being delivered included
	Bytes     int64  // their size
	Enqueues  uint64 // messages ever enqueued
	Dequeues  uint64 // messages ever removed (consumed, expired, dropped)
	Consumers int
	// FlowStopped is true while producer flow control holds back the
	// acceptance of new messages; FlowStops counts the times it started.
	FlowStopped bool
	FlowStops   uint64
}

// Queue holds messages in order and hands them to consumers.
type Queue struct {
	name     string
	settings QueueSettings
	broker   *Broker // for dead-lettering and auto-delete; nil in isolation
	jid      uint64  // the journal's id, 0 if not durable
	creator  string  // the user it counts for (Creator), "" if none (broker.mu)

	mu        sync.Mutex
	lanes     []*lane // by priority level, lowest first
	nextPos   uint64
	stats     QueueStats
	lvq       map[string]*Entry
	waiting   []*Consumer
	consumers []*Consumer
	hadUsers  bool
	deleted   bool

	observer    Observer
	byID        map[MessageID]*Entry // entries by replication identity, when replicated
	completed   []*Hold              // holds to complete once unlocked
	flowHeld    []*Entry             // entries whose flow hold ends when the queue resumes
	flowGone    int                  // ... of which left the queue meanwhile
	flowStopped bool
	wake        []*Consumer // consumers to notify once unlocked
}

// NewQueue returns an empty queue not registered with a broker.
func NewQueue(name string, s QueueSettings) *Queue {
	if s.Policy == "" {
		s.Policy = PolicyReject
	}
	n := max(s.Priorities, 1)
	q := &Queue{name: name, settings: s, nextPos: 1, lanes: make([]*lane, n)}
	for i := range q.lanes {
		q.lanes[i] = &lane{}
	}
	if s.LVQKey != "" {
		q.lvq = map[string]*Entry{}
	}
	return q
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Settings are the queue's declared properties.
func (q *Queue) Settings() QueueSettings { return q.settings }

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.stats
	s.Consumers = len(q.consumers)
	s.FlowStopped = q.flowStopped
	return s
}

// Depth is the number of messages on the queue, acquired ones included.
func (q *Queue) Depth() int { return q.Stats().Depth }

// Consumers is the number of attached consumers.
func (q *Queue) Consumers() int { return q.Stats().Consumers }

func (q *Queue) now() time.Time {
	if q.broker != nil {
		return q.broker.now()
	}
	return time.Now()
}

// laneFor maps a message priority (0-9, default 4) to a lane the way qpid
// does (AMQP 0-10 rule priority-level-implementation): priorities up to
// 5-ceil(n/2) share the lowest lane, each one above gets the next lane, and
// the highest lane takes the rest.
func (q *Queue) laneFor(m *message.Message) *lane {
	n := len(q.lanes)
	if n == 1 {
		return q.lanes[0]
	}
	first := 5 - min(5, (n+1)/2)
	level := 0
	if p := int(m.Header.Priority); p > first {
		level = min(p-first, n-1)
	}
	return q.lanes[level]
}

// Enqueue appends a message and wakes a waiting consumer. A full queue
// refuses it (ErrQueueFull) or, with the ring policy, drops its oldest
// available messages to make room.
func (q *Queue) Enqueue(m *message.Message) (*Entry, error) { return q.EnqueueTx(m, "") }

// EnqueueTx enqueues as part of committing transaction txn: the observer
// sees the entry tagged with it, so replication applies the transaction's
// changes together.
func (q *Queue) EnqueueTx(m *message.Message, txn string) (*Entry, error) {
	now := q.now()
	q.mu.Lock()
	if q.deleted {
		q.mu.Unlock()
		return nil, ErrQueueDeleted
	}
	size := int64(m.Size())
	j := q.journaled()
	if j != nil && !m.Header.Durable {
		j = nil // a transient message stays in memory
	}
	if j != nil {
		if err := j.Refusal(); err != nil {
			q.mu.Unlock()
			return nil, err
		}
	}
	refuse := func() (*Entry, error) {
		err := fmt.Errorf("%w: queue %s holds %d messages (%d bytes); limits %d messages, %d bytes",
			ErrQueueFull, q.name, q.stats.Depth, q.stats.Bytes, q.settings.MaxCount, q.settings.MaxBytes)
		q.unlock() // ring drops may have completed holds
		return nil, err
	}
	// A message larger than the queue can hold is refused before anything
	// is replaced or dropped for it (as qpid's ring queue does).
	if q.settings.MaxBytes > 0 && size > q.settings.MaxBytes {
		return refuse()
	}
	var key string
	if q.lvq != nil {
		key = lvqKeyOf(m, q.settings.LVQKey)
		if old := q.lvq[key]; key != "" && old != nil && old.state == available {
			// The new value replaces the old one, unless it is refused:
			// then the old value stays.
			if q.settings.Policy != PolicyRing && q.fullWithout(size, old) {
				return refuse()
			}
			q.remove(old)
		}
	}
	for q.full(size) {
		if q.settings.Policy != PolicyRing || !q.dropOldest() {
			return refuse()
		}
	}
	e := &Entry{Pos: q.nextPos, Msg: m, expires: expiry(m, now), lvqKey: key, txn: txn}
	q.nextPos++
	q.laneFor(m).push(e)
	if key != "" {
		q.lvq[key] = e
	}
	q.stats.Depth++
	q.countBytes(size)
	q.stats.Enqueues++
	if q.settings.Flow.enabled() {
		q.flowEnqueued(e)
	}
	if q.observer != nil {
		q.observer.Enqueued(q, e) // may give it an identity and a hold
		if !e.id.IsZero() {
			q.byID[e.id] = e
		}
	}
	if j != nil {
		e.stored = j.Enqueued(q, e) // with its identity, if it has one
	}
	if w := q.popWaiting(); w != nil {
		q.wake = append(q.wake, w)
	}
	q.unlock()
	return e, nil
}

func (q *Queue) full(size int64) bool {
	s := q.settings
	return (s.MaxCount > 0 && q.stats.Depth+1 > s.MaxCount) || (s.MaxBytes > 0 && q.stats.Bytes+size > s.MaxBytes)
}

// fullWithout is full as if e were gone already.
func (q *Queue) fullWithout(size int64, e *Entry) bool {
	s := q.settings
	depth, bytes := q.stats.Depth-1, q.stats.Bytes-int64(e.Msg.Size())
	return (s.MaxCount > 0 && depth+1 > s.MaxCount) || (s.MaxBytes > 0 && bytes+size > s.MaxBytes)
}

// dropOldest removes the oldest available message of the lowest priority
// (ring policy); false if every message is being delivered.
func (q *Queue) dropOldest() bool {
	for _, l := range q.lanes {
		for i := l.head; i < len(l.entries); i++ {
			if e := l.entries[i]; e.state == available {
				q.remove(e)
				return true
			}
		}
	}
	return false
}

func lvqKeyOf(m *message.Message, prop string) string {
	if v, ok := lookupProperty(m.ApplicationProperties(), prop); ok {
		return fmt.Sprint(v)
	}
	return ""
}

// expiry is when a message expires: its header ttl from now, or its
// absolute-expiry-time, whichever is sooner.
func expiry(m *message.Message, now time.Time) time.Time {
	var t time.Time
	if m.Header.TTL.Set {
		t = now.Add(time.Duration(m.Header.TTL.V) * time.Millisecond)
	}
	if p := m.Properties(); p != nil && p.AbsoluteExpiryTime.Set && p.AbsoluteExpiryTime.V > 0 {
		if a := p.AbsoluteExpiryTime.V.Time(); t.IsZero() || a.Before(t) {
			t = a
		}
	}
	return t
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

// acquire takes up to max available entries for c, highest priority first;
// expired entries found on the way are removed into dead (q.mu held).
func (q *Queue) acquire(c *Consumer, buf []*Entry, max int, now time.Time, dead *[]*message.Message) []*Entry {
	// Expired entries are removed after the walk: removing compacts lanes.
	var expired []*Entry
	defer func() {
		for _, e := range expired {
			*dead = append(*dead, e.Msg)
			q.remove(e)
		}
	}()
	for i := len(q.lanes) - 1; i >= 0 && len(buf) < max; i-- {
		l := q.lanes[i]
		// l.scan moves only past entries no consumer can take: a consumer
		// with a selector leaves the ones it skips for the others.
		for j := l.scan; j < len(l.entries) && len(buf) < max; j++ {
			e := l.entries[j]
			if j == l.scan && e.state != available {
				l.scan++
			}
			if e.state != available {
				continue
			}
			if !e.expires.IsZero() && !now.Before(e.expires) {
				expired = append(expired, e)
				continue
			}
			if c.filter != nil && !c.filter(e.Msg) {
				continue
			}
			if j == l.scan {
				l.scan++
			}
			e.state = acquired
			e.owner = c
			e.acquisitions++
			c.owned[e.Pos] = e
			buf = append(buf, e)
		}
	}
	return buf
}

// browse copies up to max entries after c's cursor, in position order,
// without acquiring them (q.mu held).
func (q *Queue) browse(c *Consumer, buf []*Entry, max int) []*Entry {
	for _, e := range q.live() {
		if len(buf) >= max {
			break
		}
		if e.Pos <= c.cursor || (c.filter != nil && !c.filter(e.Msg)) {
			continue
		}
		c.cursor = e.Pos
		buf = append(buf, e)
	}
	return buf
}

// Browsing reports whether the consumer copies rather than acquires.
func (c *Consumer) Browsing() bool { return c.browse }

// remove drops an entry (q.mu held).
func (q *Queue) remove(e *Entry) {
	if e.state == removed {
		return
	}
	e.state = removed
	e.owner = nil
	q.stats.Depth--
	q.countBytes(-int64(e.Msg.Size()))
	q.stats.Dequeues++
	if e.lvqKey != "" && q.lvq[e.lvqKey] == e {
		delete(q.lvq, e.lvqKey)
	}
	if e.hold != nil {
		q.completed = append(q.completed, e.hold) // it left the queue: safe
	}
	q.flowDequeued(e)
	if e.jid != 0 {
		if j := q.journaled(); j != nil {
			j.Dequeued(q, e)
		}
	}
	if q.observer != nil {
		q.observer.Dequeued(q, e)
	}
	if !e.id.IsZero() && q.byID != nil {
		delete(q.byID, e.id)
	}
	e.lane.trim()
}

// failed counts an unsuccessful delivery of an entry (q.mu held).
func (q *Queue) failed(e *Entry) {
	e.failures++
	if e.jid != 0 {
		if j := q.journaled(); j != nil {
			j.Redelivered(q, e)
		}
	}
}

// makeAvailable returns an acquired entry to the queue (q.mu held); a
// waiting consumer is woken once the queue is unlocked.
func (q *Queue) makeAvailable(e *Entry) {
	e.state = available
	e.owner = nil
	l := e.lane
	if i := l.index(e); i < l.scan {
		l.scan = i
	}
	if w := q.popWaiting(); w != nil {
		q.wake = append(q.wake, w)
	}
}

// Purge removes expired messages and returns how many; they go to the
// alternate exchange if there is one.
func (q *Queue) Purge() int { return q.PurgeBatch(0) }

// PurgeBatch is Purge removing at most max messages (0: no limit). A
// message being delivered stays: its consumer settles it. Each removal is
// the one a consumer's scan makes of an expired message: recorded in the
// store and seen by the observer (replicated as a dequeue).
func (q *Queue) PurgeBatch(max int) int {
	now := q.now()
	var dead []*message.Message
	q.mu.Lock()
	for _, l := range q.lanes {
		// remove may compact the lane under us: walk a copy.
		for _, e := range l.live() {
			if max > 0 && len(dead) >= max {
				break
			}
			if e.state == available && !e.expires.IsZero() && !now.Before(e.expires) {
				dead = append(dead, e.Msg)
				q.remove(e)
			}
		}
	}
	q.unlock()
	q.deadLetter(dead)
	return len(dead)
}

// deadLetter routes messages to the alternate exchange (never with q.mu held).
func (q *Queue) deadLetter(msgs []*message.Message) {
	if len(msgs) == 0 || q.broker == nil || q.settings.AlternateExchange == "" {
		return
	}
	for _, m := range msgs {
		q.broker.routeTo(q.settings.AlternateExchange, m)
	}
}

// Consumer is a subscription to a queue. Its notify function is called
// (from any goroutine, never with the queue locked) when messages may be
// available after a Fetch came back short, and when the queue is deleted.
type Consumer struct {
	q         *Queue
	notify    func()
	owned     map[uint64]*Entry
	isWaiting bool
	closed    bool
	filter    func(*message.Message) bool // a selector: only matching messages
	browse    bool                        // copies messages instead of acquiring them
	cursor    uint64                      // browse: the last position seen
}

// SubscribeOptions shape a subscription.
type SubscribeOptions struct {
	// Filter, when set, selects the messages the consumer may get (a JMS
	// selector); the others stay for other consumers.
	Filter func(*message.Message) bool
	// Browse makes the consumer see every message without acquiring it
	// (distribution mode copy): nothing it gets leaves the queue.
	Browse bool
}

// Subscribe adds a consumer for connection owner (checked against an
// exclusive queue's owner).
func (q *Queue) Subscribe(owner string, notify func()) (*Consumer, error) {
	return q.SubscribeWith(owner, notify, SubscribeOptions{})
}

// SubscribeWith adds a consumer with options.
func (q *Queue) SubscribeWith(owner string, notify func(), opts SubscribeOptions) (*Consumer, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.deleted {
		return nil, ErrQueueDeleted
	}
	if q.settings.Exclusive && q.settings.Owner != "" && owner != q.settings.Owner {
		return nil, fmt.Errorf("%w: %s", ErrExclusive, q.name)
	}
	c := &Consumer{q: q, notify: notify, owned: map[uint64]*Entry{}, filter: opts.Filter, browse: opts.Browse}
	q.consumers = append(q.consumers, c)
	q.hadUsers = true
	return c, nil
}

// Queue is the consumer's queue.
func (c *Consumer) Queue() *Queue { return c.q }

// Deleted reports whether the consumer's queue was deleted.
func (c *Consumer) Deleted() bool {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	return c.q.deleted
}

// Fetch acquires up to max messages, appending them to buf. When it
// returns fewer, the consumer is notified once more become available.
func (c *Consumer) Fetch(buf []*Entry, max int) []*Entry {
	q := c.q
	now := q.now()
	var dead []*message.Message
	q.mu.Lock()
	if c.closed || q.deleted {
		q.mu.Unlock()
		return buf
	}
	n := len(buf)
	if c.browse {
		buf = q.browse(c, buf, n+max)
	} else {
		buf = q.acquire(c, buf, n+max, now, &dead)
	}
	if len(buf)-n < max && !c.isWaiting {
		c.isWaiting = true
		q.waiting = append(q.waiting, c)
	}
	q.unlock()
	q.deadLetter(dead)
	return buf
}

// Accept removes a message the consumer processed.
func (c *Consumer) Accept(e *Entry) { c.AcceptTx(e, "") }

// AcceptTx removes a message accepted in transaction txn, as it commits.
func (c *Consumer) AcceptTx(e *Entry, txn string) {
	q := c.q
	q.mu.Lock()
	defer q.unlock()
	if e.owner != c {
		return
	}
	delete(c.owned, e.Pos)
	e.txn = txn
	q.remove(e)
}

// Reject removes a message the consumer refused; it goes to the alternate
// exchange if the queue has one, before it leaves this queue: a crash in
// between leaves a copy in the store, never none.
func (c *Consumer) Reject(e *Entry) {
	q := c.q
	q.mu.Lock()
	if e.owner != c {
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	q.deadLetter([]*message.Message{e.Msg})
	q.mu.Lock()
	if e.owner == c {
		delete(c.owned, e.Pos)
		q.remove(e)
	}
	q.unlock()
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
		q.failed(e)
	}
	q.makeAvailable(e)
	q.unlock()
}

// Close ends the subscription. Messages it still holds go back to the
// queue, counted as failed attempts since the consumer may have seen them.
// An auto-delete queue goes away with its last consumer.
func (c *Consumer) Close() {
	q := c.q
	q.mu.Lock()
	if c.closed {
		q.mu.Unlock()
		return
	}
	c.closed = true
	for i, x := range q.consumers {
		if x == c {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			break
		}
	}
	for _, e := range c.owned {
		q.failed(e)
		q.makeAvailable(e)
	}
	c.owned = nil
	autoDelete := q.settings.AutoDelete && len(q.consumers) == 0 && !q.deleted
	q.unlock()
	if autoDelete && q.broker != nil {
		_ = q.broker.deleteQueueIfUnused(q)
	}
}

// markDeleted empties a queue being deleted and returns its messages and
// consumers (q.mu not held by the caller).
func (q *Queue) markDeleted() ([]*message.Message, []*Consumer) {
	q.mu.Lock()
	defer q.unlock()
	if q.deleted {
		return nil, nil
	}
	q.deleted = true
	q.observer = nil // the queue's deletion is the event: no dequeue per message
	var msgs []*message.Message
	for _, l := range q.lanes {
		for _, e := range l.live() { // remove may compact the lane: walk a copy
			if e.state != removed {
				msgs = append(msgs, e.Msg)
				q.remove(e)
			}
		}
	}
	consumers := q.consumers
	q.consumers = nil
	q.waiting = nil
	return msgs, consumers
}

func (q *Queue) isDeleted() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.deleted
}

// unused reports whether an auto-delete queue may go: no consumers.
func (q *Queue) unused() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.consumers) == 0 && q.hadUsers
}
