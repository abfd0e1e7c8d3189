package ha

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha/core"
)

// primary replicates the broker's state to backups; the module's core
// decides who every message waits for (the parties), this keeps the
// queues' fan-out to the streams. It exists from promotion on.
type primary struct {
	m     *Module
	log   *logrus.Entry
	epoch uint64
	seq   atomic.Uint64 // position: events so far in this epoch

	mu        sync.Mutex
	inventory map[string]*inventory // by connection, until its stream attaches

	// heldMask mirrors the core's HoldMask (set under m.mu): every new
	// message waits for these parties, besides its queue's streams.
	heldMask atomic.Uint64
	queues   sync.Map // *broker.Queue -> *queueRepl
}

// queueRepl fans one replicated queue's events out to the streams that
// subscribed to it.
type queueRepl struct {
	p       *primary
	q       *broker.Queue
	seq     uint64    // the last message identity's sequence (queue lock held)
	mask    uint64    // bits of the subscribed streams (likewise)
	streams []*stream // likewise
}

// Enqueued implements broker.Observer (queue locked): the message gets its
// identity and a hold for every party that must have it before its sender
// hears it is safe.
func (r *queueRepl) Enqueued(q *broker.Queue, e *broker.Entry) {
	// Identities count per queue, so a backup's holdings of a queue are a
	// few ranges whatever happens on other queues.
	if e.ID().IsZero() { // a replica's messages keep their source's identity
		r.seq++
		e.SetID(broker.MessageID{Epoch: r.p.epoch, Seq: r.seq})
	}
	if mask := r.mask | r.p.heldMask.Load(); mask != 0 {
		e.SetHold(r.p.m.guardHold(mask))
	}
	at := r.p.seq.Add(1)
	for _, s := range r.streams {
		s.push(item{kind: EvEnqueue, queue: q, entry: e, hold: e.Hold(), at: at, txn: e.Txn()})
	}
}

// identify gives messages enqueued before the queue was observed their
// identities (queue locked).
func (r *queueRepl) identify(live []*broker.Entry) {
	for _, e := range live {
		if e.ID().IsZero() {
			r.seq++
			e.SetID(broker.MessageID{Epoch: r.p.epoch, Seq: r.seq})
		}
	}
}

// Dequeued implements broker.Observer (queue locked).
func (r *queueRepl) Dequeued(q *broker.Queue, e *broker.Entry) {
	if e.ID().IsZero() {
		return
	}
	at := r.p.seq.Add(1)
	for _, s := range r.streams {
		s.push(item{kind: EvDequeue, queue: q, ids: []broker.MessageID{e.ID()}, at: at, txn: e.Txn()})
	}
}

// level is a queue's or exchange's replication level: its qpid.replicate
// argument, else ha-replicate; temporary queues (exclusive and auto-delete)
// default to none.
func (m *Module) level(args broker.Args, temporary bool) string {
	if v, ok := args[broker.ArgReplicate]; ok {
		if l, err := broker.ParseReplicate(fmt.Sprint(v)); err == nil {
			return l
		}
	}
	if temporary {
		return broker.ReplicateNone
	}
	return m.cfg.Replicate
}

func (m *Module) queueLevel(q *broker.Queue) string {
	s := q.Settings()
	return m.level(s.Args, s.Exclusive && s.AutoDelete)
}

func (m *Module) exchangeLevel(e *broker.Exchange) string {
	if e.Builtin() {
		return broker.ReplicateNone // never replicated
	}
	return m.level(e.Settings().Args, false)
}

// newPrimary makes the driver of a primary of epoch (m.mu held); observe
// then starts replicating the broker's queues.
func newPrimary(m *Module, epoch uint64) *primary {
	return &primary{m: m, log: m.log, epoch: epoch, inventory: map[string]*inventory{}}
}

// observe starts replicating: every queue and configuration change from
// now on reaches the streams.
func (p *primary) observe() {
	p.m.broker.SetConfigObserver(p, func(queues []*broker.Queue, _ []*broker.Exchange) {
		for _, q := range queues {
			p.watch(q)
		}
	})
}

// watch starts replicating a queue of level all.
func (p *primary) watch(q *broker.Queue) {
	if p.m.queueLevel(q) != broker.ReplicateAll {
		return
	}
	r := &queueRepl{p: p, q: q}
	p.queues.Store(q, r)
	// Streams already attached get the new queue's messages from its first:
	// guards attach when a queue is created.
	q.Observe(r, func(live []*broker.Entry) {
		r.identify(live)
		for _, s := range p.m.currentStreams() {
			s.subscribe(r)
		}
	})
}

// currentStreams lists the backups' streams.
func (m *Module) currentStreams() []*stream {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*stream, 0, len(m.streams))
	for _, s := range m.streams {
		out = append(out, s)
	}
	return out
}

// The configuration observer: events go to every stream, in order.

func (p *primary) QueueDeclared(q *broker.Queue) {
	p.watch(q)
	if p.m.queueLevel(q) != broker.ReplicateNone {
		p.broadcast(item{kind: EvQueueDeclare, queue: q})
	}
}

func (p *primary) QueueDeleted(q *broker.Queue) {
	p.queues.Delete(q)
	if p.m.queueLevel(q) != broker.ReplicateNone {
		p.broadcast(item{kind: EvQueueDelete, queue: q})
	}
}

func (p *primary) ExchangeDeclared(e *broker.Exchange) {
	if p.m.exchangeLevel(e) != broker.ReplicateNone {
		p.broadcast(item{kind: EvExchange, exchange: e})
	}
}

func (p *primary) ExchangeDeleted(e *broker.Exchange) {
	if p.m.exchangeLevel(e) != broker.ReplicateNone {
		p.broadcast(item{kind: EvExchangeDelete, exchange: e})
	}
}

func (p *primary) Bound(b *broker.Binding) {
	if p.bindingReplicated(b) {
		p.broadcast(item{kind: EvBind, binding: b})
	}
}

func (p *primary) Unbound(b *broker.Binding) {
	if p.bindingReplicated(b) {
		p.broadcast(item{kind: EvUnbind, binding: b})
	}
}

// bindingReplicated: only when both ends are replicated. (Called with the
// registry locked: it must not look anything up there.)
func (p *primary) bindingReplicated(b *broker.Binding) bool {
	e, q := b.From(), b.To()
	return e != nil && q != nil && p.m.exchangeLevel(e) != broker.ReplicateNone && p.m.queueLevel(q) != broker.ReplicateNone
}

func (p *primary) broadcast(it item) {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	p.m.pushAllLocked(it, false)
}

// attach serves a backup's link to a replication node.
func (p *primary) attach(c *amqpserver.Conn, l *amqp.Link, address string) {
	props := l.RemoteAttach().Properties
	version, _ := props.Get(types.Symbol(PropProtocol))
	if v, ok := asUint(version); !ok || v != ProtocolVersion {
		e := types.NewError(types.CondPreconditionFailed,
			"replication protocol version %v is not supported: this primary speaks version %d", version, ProtocolVersion)
		c.Log().WithField("error", e.Description).Error("refused a backup")
		refuse(l, e)
		return
	}
	id, _ := props.Get(types.Symbol(PropBrokerID))
	backupID, _ := id.(string)
	if backupID == "" {
		refuse(l, types.NewError(types.CondInvalidField, "a replication link needs %s", PropBrokerID))
		return
	}
	var backupEpoch uint64
	if epoch, _ := props.Get(types.Symbol(PropEpoch)); epoch != nil {
		backupEpoch, _ = asUint(epoch)
	}
	l.Properties = types.Map{
		{Key: types.Symbol(PropProtocol), Value: uint32(ProtocolVersion)},
		{Key: types.Symbol(PropBrokerID), Value: p.m.BrokerID()},
		{Key: types.Symbol(PropEpoch), Value: p.epoch},
	}
	if address == InventoryNode {
		p.attachInventory(c, l, backupID)
		return
	}
	p.attachStream(c, l, backupID, backupEpoch)
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case int64:
		if x >= 0 {
			return uint64(x), true
		}
	case int32:
		if x >= 0 {
			return uint64(x), true
		}
	}
	return 0, false
}

// attachStream starts a backup's replication stream: the core gives it a
// party (its expected one, if it was expected); it snapshots the
// configuration and every replicated queue against the backup's inventory,
// then streams. Older streams of the same backup end.
func (p *primary) attachStream(c *amqpserver.Conn, l *amqp.Link, backupID string, epoch uint64) {
	m := p.m
	var s *stream
	var replaced []*stream
	err := m.step(func(cc *core.Core) error {
		m.streamID++
		id := m.streamID
		bit, old, err := cc.BackupSubscribed(id, backupID, epoch)
		if err != nil {
			return err
		}
		for _, o := range old {
			if os := m.streams[o]; os != nil {
				replaced = append(replaced, os)
			}
		}
		p.mu.Lock()
		inv := p.inventory[c.Info().ID]
		delete(p.inventory, c.Info().ID)
		p.mu.Unlock()
		s = newStream(p, c, l, backupID, bit)
		s.id, s.inv = id, inv
		m.streams[id] = s
		return nil
	})
	if err != nil {
		c.Log().WithError(err).Error("refused a backup")
		refuse(l, types.NewError(types.CondPreconditionFailed, "%v", err))
		return
	}
	for _, o := range replaced {
		// The backup reconnected before its old stream was noticed gone.
		go o.drop("replaced by a new connection")
	}
	l.Context = s
	l.Source = l.RemoteSource()
	l.Attach()
	s.log.Info("backup subscribed")
	s.snapshot(s.inv)
	s.inv = nil
	go s.run()
}

// ready: the stream's backup acknowledged its snapshot.
func (p *primary) ready(s *stream) {
	p.m.step(func(c *core.Core) error { c.BackupCaughtUp(s.id); return nil })
}

// dropped: a backup's stream ended (its queues no longer hold for it).
func (p *primary) dropped(s *stream, reason string) {
	m := p.m
	m.step(func(c *core.Core) error {
		c.BackupLost(s.id, reason)
		m.lostPending &^= s.bit
		return nil
	})
}

// holdLost makes every new message wait for a stream's party from now on,
// before the stream leaves its queues' fan-out and until the core decides
// what becomes of its backup (dropped); it also stops waiting for the
// stream's acknowledgement of any membership barrier.
func (p *primary) holdLost(s *stream) {
	m := p.m
	m.mu.Lock()
	if m.streams[s.id] == s {
		delete(m.streams, s.id)
	}
	m.lostPending |= s.bit
	p.heldMask.Store(m.core.HoldMask() | m.lostPending)
	barriers := make([]*broker.Hold, 0, len(m.barriers))
	for _, h := range m.barriers {
		barriers = append(barriers, h)
	}
	m.mu.Unlock()
	for _, h := range barriers {
		h.Release(s.bit)
	}
}

// releaseEverywhere releases parties from every held message: they are all
// still on their queues (a message that left its queue is no longer held).
func (m *Module) releaseEverywhere(parties uint64) {
	m.mu.Lock()
	p := m.primary
	m.mu.Unlock()
	if p == nil {
		return
	}
	p.queues.Range(func(k, v any) bool {
		r := v.(*queueRepl)
		r.q.Entries(func(live []*broker.Entry) {
			for _, e := range live {
				if h := e.Hold(); h != nil {
					h.Release(parties)
				}
			}
		})
		return true
	})
}
