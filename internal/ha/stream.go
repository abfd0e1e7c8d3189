package ha

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha/core"
)

// item is one event waiting to go to a backup. Items refer to broker
// objects and are encoded only when sent.
type item struct {
	kind       string
	queue      *broker.Queue
	entry      *broker.Entry // enqueue
	ids        []broker.MessageID
	exchange   *broker.Exchange
	binding    *broker.Binding
	membership Membership
	hold       *broker.Hold // released for this backup when it acknowledges
	at         uint64       // the primary's position when it happened
	queueName  string       // replica definitions, tx-commit's transaction
	source     string
	txn        string // the committing transaction of an enqueue or dequeue
}

// stream sends a backup everything it needs, in order, and turns its
// acknowledgements into hold releases.
type stream struct {
	p        *primary
	c        *amqpserver.Conn
	l        *amqp.Link
	id       core.StreamID
	backupID string
	bit      uint64
	log      *logrus.Entry
	inv      *inventory // what the backup holds, until the snapshot

	mu      sync.Mutex
	buf     []item // items to send from head on; reused once all are sent
	head    int
	closed  bool
	wake    chan struct{}
	done    chan struct{}
	queues  map[*queueRepl]bool // the queues it is subscribed to
	single  bool                // a queue replica's stream: not a backup
	caught  bool                // its backup acknowledged the snapshot (guarded by p.mu)
	scratch []byte
	msg     []byte
	one     [1]Position // an enqueue's id, without an allocation per event
	tag     uint64
	// unacked are the deliveries sent and not yet acknowledged, oldest
	// first (connection goroutine); oldest publishes when the first of
	// them was sent, in the core's time plus one (0: none), for the ticker.
	unacked []sent
	oldest  atomic.Int64
	// unackedBytes is the size of the unacknowledged deliveries: pump
	// sends nothing more while it is at ha-flow-bytes (connection goroutine).
	unackedBytes int
}

// sent is a delivery's tag, size, and when it was sent (the core's time).
type sent struct {
	tag  uint64
	size int
	at   time.Duration
}

// A delivery's Context says what its acknowledgement does: a *broker.Hold
// is released for this backup; a caughtUpAck also makes the backup ready.
type caughtUpAck struct{ hold *broker.Hold }

func newStream(p *primary, c *amqpserver.Conn, l *amqp.Link, backupID string, bit uint64) *stream {
	return &stream{
		p:        p,
		c:        c,
		l:        l,
		backupID: backupID,
		bit:      bit,
		log:      c.Log().WithField("backup", short(backupID)),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		queues:   map[*queueRepl]bool{},
	}
}

// push queues an event; called from any goroutine, possibly with a queue or
// the registry locked, so it only records and wakes the stream's goroutine.
func (s *stream) push(it item) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	// Consecutive dequeues from one queue travel as one event.
	if it.kind == EvDequeue && len(s.buf) > s.head {
		last := &s.buf[len(s.buf)-1]
		if last.kind == EvDequeue && last.queue == it.queue && last.txn == it.txn && len(last.ids) < 1024 {
			last.ids = append(last.ids, it.ids...)
			last.at = it.at
			s.mu.Unlock()
			return
		}
	}
	if s.head >= len(s.buf)/2 && s.head > 0 && len(s.buf) == cap(s.buf) {
		// Full, half of it items sent: move the rest down rather than
		// grow (a backlog that never empties would otherwise keep every
		// item ever pushed); with fewer sent, growing costs less.
		n := copy(s.buf, s.buf[s.head:])
		clear(s.buf[n:])
		s.buf, s.head = s.buf[:n], 0
	}
	s.buf = append(s.buf, it)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run moves pushed events onto the connection, outside any broker lock.
func (s *stream) run() {
	for {
		select {
		case <-s.wake:
			if !s.c.Inject(s.pump) {
				s.drop("connection closed")
				return
			}
		case <-s.done:
			return
		}
	}
}

// pump sends events while the backup gives credit and, with
// ha-flow-bytes, while what it has not acknowledged is below that many
// bytes (connection locked).
func (s *stream) pump() {
	for s.l.Credit() > 0 && !s.bytesFull() {
		s.mu.Lock()
		if len(s.buf) == s.head || s.closed {
			s.mu.Unlock()
			return
		}
		it := s.buf[s.head]
		s.buf[s.head] = item{}
		if s.head++; s.head == len(s.buf) {
			s.buf, s.head = s.buf[:0], 0 // keep the array: no allocation per item
		}
		s.mu.Unlock()
		s.send(it)
	}
}

func (s *stream) send(it item) {
	if it.at == 0 {
		it.at = s.p.seq.Load() // snapshot items: the position now
	}
	ev := Event{Kind: it.kind, Seq: it.at, Txn: it.txn}
	switch it.kind {
	case EvEnqueue:
		m := it.entry.Msg
		var h *types.Header
		if m.HasHeader {
			h = &m.Header
		}
		s.msg = m.Append(s.msg[:0], h)
		s.one[0] = it.entry.ID()
		ev.Name, ev.IDs, ev.Message = it.queue.Name(), s.one[:], s.msg
	case EvDequeue:
		ev.Name, ev.IDs = it.queue.Name(), it.ids
	case EvQueueDeclare, EvQueueDelete:
		st := it.queue.Settings()
		ev.Name, ev.UUID, ev.Args = it.queue.Name(), st.Identity, queueArgs(st)
	case EvExchange, EvExchangeDelete:
		st := it.exchange.Settings()
		ev.Name, ev.UUID, ev.Type, ev.Args = it.exchange.Name(), st.Identity, it.exchange.Type(), argsMap(st.Args)
	case EvBind, EvUnbind:
		b := it.binding
		ev.Exchange, ev.Name, ev.Key, ev.Args = b.Exchange, b.Queue, b.Key, argsMap(b.Args)
	case EvMembership:
		ev.Args = membershipMap(it.membership)
	case EvReplica, EvReplicaStop:
		ev.Name, ev.Key = it.queueName, it.source
	case EvTxCommit:
		ev.Txn = it.queueName
	}
	var err error
	if s.scratch, err = ev.Marshal(s.scratch[:0]); err != nil {
		s.log.WithError(err).Error("cannot encode a replication event")
		return
	}
	s.tag++
	var tag [8]byte
	binary.BigEndian.PutUint64(tag[:], s.tag)
	d, err := s.l.Send(tag[:], s.scratch, false)
	if err != nil {
		return
	}
	now := time.Since(s.p.m.start)
	if len(s.unacked) == 0 {
		s.oldest.Store(int64(now) + 1)
	}
	s.unacked = append(s.unacked, sent{tag: s.tag, size: len(s.scratch), at: now})
	s.unackedBytes += len(s.scratch)
	switch {
	case it.kind == EvCaughtUp:
		d.Context = caughtUpAck{it.hold}
	case it.hold != nil:
		d.Context = it.hold // a pointer: no allocation per message
	}
}

// queueArgs are a queue's arguments with its flags, as the backup declares it.
func queueArgs(s broker.QueueSettings) types.Map {
	m := argsMap(s.Args)
	m.Set(broker.ArgDurable, s.Durable)
	m.Set(broker.ArgAutoDelete, s.AutoDelete)
	m.Set(broker.ArgExclusive, s.Exclusive)
	return m
}

func argsMap(a broker.Args) types.Map {
	m := types.Map{}
	for k, v := range a {
		m = append(m, types.MapEntry{Key: k, Value: v})
	}
	return m
}

func membershipMap(ms Membership) types.Map {
	ready := make([]any, len(ms.Ready))
	for i, r := range ms.Ready {
		ready[i] = r
	}
	return types.Map{
		{Key: "epoch", Value: ms.Epoch},
		{Key: "version", Value: ms.Version},
		{Key: "primary", Value: ms.Primary},
		{Key: "ready", Value: ready},
	}
}

func membershipFrom(m types.Map) Membership {
	var ms Membership
	if v, ok := m.Get("epoch"); ok {
		ms.Epoch, _ = asUint(v)
	}
	if v, ok := m.Get("version"); ok {
		ms.Version, _ = asUint(v)
	}
	if v, ok := m.Get("primary"); ok {
		ms.Primary, _ = v.(string)
	}
	if v, ok := m.Get("ready"); ok {
		if l, ok := v.([]any); ok {
			for _, r := range l {
				if id, ok := r.(string); ok {
					ms.Ready = append(ms.Ready, id)
				}
			}
		}
	}
	return ms
}

// snapshot queues everything the backup lacks: the replicated
// configuration, then per replicated queue the messages not in its
// inventory and dequeues for those it holds that are gone, then the
// caught-up marker. Each queue is subscribed atomically with its snapshot.
func (s *stream) snapshot(inv *inventory) {
	b := s.p.m.broker
	// The membership first: once the backup acknowledged it, it knows
	// (and persisted) this primary's epoch.
	known := broker.NewHold(s.bit)
	m := s.p.m
	// (On a goroutine: the hold is released with the backup's connection
	// locked, and step may need it.)
	epochKnown := func() { m.goRun(func() { m.step(func(c *core.Core) error { c.EpochKnown(); return nil }) }) }
	if !known.Wait(epochKnown) {
		epochKnown()
	}
	s.push(item{kind: EvMembership, membership: m.Membership(), hold: known})
	for _, e := range b.Exchanges() {
		if s.p.m.exchangeLevel(e) != broker.ReplicateNone {
			s.push(item{kind: EvExchange, exchange: e})
		}
	}
	for _, q := range b.Queues() {
		if s.p.m.queueLevel(q) != broker.ReplicateNone {
			s.push(item{kind: EvQueueDeclare, queue: q})
		}
	}
	for _, e := range b.Exchanges() {
		for _, bd := range e.Bindings() {
			if s.p.bindingReplicated(bd) {
				s.push(item{kind: EvBind, binding: bd})
			}
		}
	}
	sent, skipped := 0, 0
	for _, q := range b.Queues() {
		v, ok := s.p.queues.Load(q)
		if !ok {
			continue
		}
		r := v.(*queueRepl)
		held := inv.forQueue(q)
		q.Entries(func(live []*broker.Entry) {
			if !s.subscribe(r) {
				return // subscribed when the queue was created: nothing to catch up
			}
			have := map[broker.MessageID]bool{}
			for _, e := range live {
				have[e.ID()] = true
				if held.has(e.ID()) {
					skipped++
					continue
				}
				s.push(item{kind: EvEnqueue, queue: q, entry: e, hold: e.Hold()})
				sent++
			}
			if gone := held.missingFrom(have); len(gone) > 0 {
				s.push(item{kind: EvDequeue, queue: q, ids: gone})
			}
		})
	}
	for _, r := range s.p.m.replicaDefinitions() {
		s.push(item{kind: EvReplica, queueName: r[0], source: r[1]})
	}
	s.push(item{kind: EvCaughtUp})
	s.log.WithFields(logrus.Fields{"messages": sent, "already-held": skipped}).Info("catch-up queued")
}

// subscribe adds the stream to a queue's fan-out (queue locked); false if
// it was already there.
func (s *stream) subscribe(r *queueRepl) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queues[r] || s.closed {
		return false
	}
	s.queues[r] = true
	r.mask |= s.bit
	r.streams = append(r.streams, s)
	return true
}

// drop ends the stream: it unsubscribes from every queue and the primary
// drops the backup.
func (s *stream) drop(reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.buf, s.head = nil, 0
	queues := s.queues
	s.queues = nil
	close(s.done)
	s.mu.Unlock()
	if !s.single {
		// Until the core decides what becomes of the backup, new messages
		// wait for it as they did through its queue subscriptions.
		s.p.holdLost(s)
	}
	for r := range queues {
		r.q.Entries(func([]*broker.Entry) {
			r.mask &^= s.bit
			for i, o := range r.streams {
				if o == s {
					r.streams = append(r.streams[:i:i], r.streams[i+1:]...)
					break
				}
			}
		})
	}
	if s.single {
		s.log.WithField("reason", reason).Info("queue replica detached")
		return
	}
	s.p.dropped(s, reason)
}

// LinkHandler: the stream's link events (connection locked).

func (s *stream) OnFlow(*amqpserver.Conn, *amqp.Link) { s.pump() }

func (s *stream) OnDelivery(*amqpserver.Conn, *amqp.Link, *amqp.Delivery) {}

func (s *stream) OnDisposition(_ *amqpserver.Conn, _ *amqp.Link, d *amqp.Delivery) {
	if _, ok := d.RemoteState().(*types.Accepted); ok || d.RemoteSettled() {
		full := s.bytesFull()
		s.acknowledged(d.Tag())
		if full && !s.bytesFull() {
			defer s.pump() // room under ha-flow-bytes again
		}
		switch a := d.Context.(type) {
		case *broker.Hold:
			a.Release(s.bit)
		case caughtUpAck:
			if a.hold != nil {
				a.hold.Release(s.bit)
			}
			s.p.ready(s)
		}
		d.Settle()
	}
}

func (s *stream) OnDetach(*amqpserver.Conn, *amqp.Link) { s.drop("backup detached") }

// acknowledged forgets the deliveries up to tag (connection goroutine).
func (s *stream) acknowledged(tag []byte) {
	if len(tag) != 8 {
		return
	}
	t := binary.BigEndian.Uint64(tag)
	n := 0
	for n < len(s.unacked) && s.unacked[n].tag <= t {
		s.unackedBytes -= s.unacked[n].size
		n++
	}
	if n == 0 {
		return
	}
	if n == len(s.unacked) {
		s.unacked = s.unacked[:0]
		s.oldest.Store(0)
		return
	}
	s.unacked = s.unacked[n:]
	s.oldest.Store(int64(s.unacked[0].at) + 1)
}

// bytesFull reports that the deliveries the backup has not acknowledged
// reach ha-flow-bytes (0: no limit); one delivery always may go, however big.
func (s *stream) bytesFull() bool {
	limit := s.p.m.cfg.FlowBytes
	return limit > 0 && s.unackedBytes >= limit
}

// oldestUnacknowledged is when the oldest delivery still unacknowledged
// was sent (the core's time); false if none waits.
func (s *stream) oldestUnacknowledged() (time.Duration, bool) {
	v := s.oldest.Load()
	return time.Duration(v - 1), v != 0
}
