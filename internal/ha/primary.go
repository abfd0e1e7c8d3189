package ha

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
)

// primary replicates the broker's state to backups and guards client
// acknowledgements. It exists from promotion on.
//
// Parties of a message's hold are bits: one per connected backup stream,
// one per backup expected back after a failover (recovering), and one for
// ha-min-ready-backups while too few backups are ready.
type primary struct {
	m     *Module
	log   *logrus.Entry
	epoch uint64
	seq   atomic.Uint64 // position: events so far in this epoch

	mu         sync.Mutex
	streams    map[uint64]*stream // by bit
	inventory  map[string]*inventory
	expected   map[string]uint64 // recovering: backup id -> bit
	used       uint64            // bits in use
	membership Membership
	minBit     uint64 // held while fewer than ha-min-ready-backups are ready
	timer      *time.Timer

	// heldMask holds every new message for these parties (expected backups
	// and the min-ready bit); per-queue masks add the attached streams.
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
		e.SetHold(broker.NewHold(mask))
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

// newPrimary starts replication as the primary of a new epoch, expecting
// the backups that were ready under the old primary.
func newPrimary(m *Module, epoch uint64, expected []string) *primary {
	p := &primary{
		m:         m,
		log:       m.log,
		epoch:     epoch,
		streams:   map[uint64]*stream{},
		inventory: map[string]*inventory{},
		expected:  map[string]uint64{},
	}
	self := m.BrokerID()
	p.membership = Membership{Epoch: epoch, Version: 1, Primary: self}
	for _, id := range expected {
		if id == self {
			continue
		}
		bit := p.allocBit()
		p.expected[id] = bit
		p.heldMask.Store(p.heldMask.Load() | bit)
	}
	if m.cfg.MinReadyBackups > 0 {
		p.minBit = p.allocBit()
		p.heldMask.Store(p.heldMask.Load() | p.minBit)
	}
	m.broker.SetConfigObserver(p, func(queues []*broker.Queue, _ []*broker.Exchange) {
		for _, q := range queues {
			p.watch(q)
		}
	})
	return p
}

// allocBit takes an unused party bit (p.mu held, or before sharing p).
func (p *primary) allocBit() uint64 {
	free := ^p.used
	if free == 0 {
		return 0 // 64 parties at once: the extra ones are not guarded
	}
	bit := free & -free
	p.used |= bit
	return bit
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
		for _, s := range p.currentStreams() {
			s.subscribe(r)
		}
	})
}

func (p *primary) currentStreams() []*stream {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*stream, 0, len(p.streams))
	for _, s := range p.streams {
		out = append(out, s)
	}
	return out
}

func (p *primary) currentMembership() Membership {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.membership.clone()
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
	it.at = p.seq.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.streams {
		s.push(it)
	}
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
	if epoch, _ := props.Get(types.Symbol(PropEpoch)); epoch != nil {
		if e, ok := asUint(epoch); ok && e > p.epoch {
			// A backup knows a newer epoch than ours: we are a stale primary.
			refuse(l, types.NewError(types.CondPreconditionFailed, "this primary's epoch %d is older than the backup's %d", p.epoch, e))
			p.m.stale(e)
			return
		}
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
	p.attachStream(c, l, backupID)
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

// attachStream starts a backup's replication stream: it takes a party bit
// (its expected bit, if it was expected), snapshots the configuration and
// every replicated queue against the backup's inventory, then streams.
func (p *primary) attachStream(c *amqpserver.Conn, l *amqp.Link, backupID string) {
	p.mu.Lock()
	bit, wasExpected := p.expected[backupID]
	if !wasExpected {
		bit = p.allocBit()
	}
	for b, old := range p.streams {
		if old.backupID == backupID {
			// The backup reconnected before its old stream was noticed gone.
			delete(p.streams, b)
			go old.drop("replaced by a new connection")
		}
	}
	inv := p.inventory[c.Info().ID]
	delete(p.inventory, c.Info().ID)
	s := newStream(p, c, l, backupID, bit)
	p.streams[bit] = s
	p.mu.Unlock()

	l.Context = s
	l.Source = l.RemoteSource()
	l.Attach()
	s.log.WithField("expected", wasExpected).Info("backup subscribed")
	s.snapshot(inv)
	go s.run()
}

// ready is called when a backup acknowledged its snapshot: it joins the
// ready set, and an expected backup stops holding new messages.
func (p *primary) ready(s *stream) {
	p.mu.Lock()
	s.caught = true
	p.membership = p.membership.WithReady(s.backupID)
	ms := p.membership
	if bit, ok := p.expected[s.backupID]; ok && bit == s.bit {
		delete(p.expected, s.backupID)
		p.heldMask.Store(p.heldMask.Load() &^ bit) // it is now held per queue
	}
	p.checkMinReady()
	for _, o := range p.streams {
		o.push(item{kind: EvMembership, membership: ms})
	}
	p.mu.Unlock()
	p.m.setMembership(ms)
	s.log.WithField("membership", ms.String()).Info("backup is ready")
	p.m.checkRecovered()
}

// dropped removes a backup the primary stops waiting for. It leaves the
// ready set first: the new membership goes to the remaining backups, and
// only once they all acknowledged it are the dropped backup's messages
// released, so no message is acknowledged without a backup unless every
// ready backup knows that backup is out. A backup that came back on a new
// stream and caught up already is not dropped: that stream's snapshot had
// every message this one held for.
func (p *primary) dropped(s *stream, reason string) {
	p.mu.Lock()
	if o, live := p.streams[s.bit]; live && o != s {
		// An expected backup's new stream took over this one's party bit
		// (its snapshot re-sends what this one held).
		p.mu.Unlock()
		return
	}
	delete(p.streams, s.bit) // already gone if replaced by a new connection
	if p.m.isStopping() {
		// Shutting down: the backup stays in the ready set, and what it
		// held stays held (nothing more is acknowledged now).
		p.mu.Unlock()
		s.log.WithField("reason", reason).Info("backup disconnected as this primary stops")
		return
	}
	if p.m.frozeRecently() {
		// This primary was frozen: another may have been promoted in the
		// meantime. Its messages stay held until the peers say otherwise.
		p.mu.Unlock()
		s.log.WithField("reason", reason).Warn("backup lost just after this primary was frozen: checking for a newer primary before dropping it")
		go func() {
			if p.m.newerPrimaryExists(p.epoch) || p.m.isStopping() {
				return
			}
			p.mu.Lock()
			p.dropOrForget(s, reason)
		}()
		return
	}
	p.dropOrForget(s, reason)
}

// dropOrForget drops a lost stream's backup, unless it is back and caught up
// (called with p.mu held, which it releases).
func (p *primary) dropOrForget(s *stream, reason string) {
	if p.caughtUpAgain(s.backupID) {
		p.mu.Unlock()
		s.log.WithField("reason", reason).Info("backup's old stream ended; it is back and caught up, and stays in the ready set")
		p.forget(s)
		return
	}
	p.drop(s, reason)
}

// caughtUpAgain reports whether a backup has a live stream that reached the
// ready state (called with p.mu held).
func (p *primary) caughtUpAgain(backupID string) bool {
	for _, o := range p.streams {
		if o.backupID == backupID && o.caught {
			return true
		}
	}
	return false
}

// forget releases a replaced stream's party from every message it held.
func (p *primary) forget(s *stream) {
	p.mu.Lock()
	if p.expected[s.backupID] != s.bit {
		p.heldMask.Store(p.heldMask.Load() &^ s.bit) // see holdNew
	}
	p.mu.Unlock()
	p.releaseParty(s.bit)
}

// releaseParty releases a party from every held message and frees its bit.
func (p *primary) releaseParty(bit uint64) {
	p.releaseEverywhere(bit)
	p.mu.Lock()
	p.used &^= bit
	p.mu.Unlock()
}

// holdNew makes every new message wait for a party, whatever queue it is
// on: a backup whose stream ended, until dropped.
func (p *primary) holdNew(bit uint64) {
	p.mu.Lock()
	p.heldMask.Store(p.heldMask.Load() | bit)
	p.mu.Unlock()
}

// drop takes a backup out of the ready set (called with p.mu held, which
// it releases).
func (p *primary) drop(s *stream, reason string) {
	if p.expected[s.backupID] != s.bit {
		p.heldMask.Store(p.heldMask.Load() &^ s.bit) // see holdNew
	}
	wasReady := p.membership.IsReady(s.backupID)
	p.membership = p.membership.Without(s.backupID)
	ms := p.membership
	var pending uint64
	for _, o := range p.streams {
		pending |= o.bit
	}
	hold := broker.NewHold(pending)
	for _, o := range p.streams {
		o.push(item{kind: EvMembership, membership: ms, hold: hold})
	}
	p.checkMinReady()
	p.mu.Unlock()
	s.log.WithFields(logrus.Fields{"reason": reason, "was-ready": wasReady, "membership": ms.String()}).Warn("backup dropped")
	p.m.setMembership(ms)
	release := func() { p.releaseParty(s.bit) }
	if !hold.Wait(release) {
		release()
	}
}

// releaseEverywhere releases a party from every held message: they are all
// still on their queues (a message that left its queue is no longer held).
func (p *primary) releaseEverywhere(bit uint64) {
	p.queues.Range(func(k, v any) bool {
		r := v.(*queueRepl)
		r.q.Entries(func(live []*broker.Entry) {
			for _, e := range live {
				if h := e.Hold(); h != nil {
					h.Release(bit)
				}
			}
		})
		return true
	})
}

// expire gives up on the expected backups that have not caught up after
// ha-backup-timeout: they leave the ready set like a dropped backup.
func (p *primary) expire() {
	p.mu.Lock()
	var gone []string
	var bits uint64
	for id, bit := range p.expected {
		if s := p.streams[bit]; s != nil && s.backupID == id {
			continue // connected and catching up: its stream holds for it
		}
		gone = append(gone, id)
		bits |= bit
		delete(p.expected, id)
		p.membership = p.membership.Without(id)
	}
	ms := p.membership
	p.heldMask.Store(p.heldMask.Load() &^ bits)
	var pending uint64
	for _, o := range p.streams {
		pending |= o.bit
	}
	hold := broker.NewHold(pending)
	for _, o := range p.streams {
		o.push(item{kind: EvMembership, membership: ms, hold: hold})
	}
	p.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	p.log.WithField("backups", shortAll(gone)).Warn("expected backups did not return within ha-backup-timeout: dropped from the ready set")
	p.m.setMembership(ms)
	release := func() {
		for b := bits; b != 0; b &= b - 1 {
			p.releaseEverywhere(b & -b)
		}
		p.mu.Lock()
		p.used &^= bits
		p.mu.Unlock()
	}
	if !hold.Wait(release) {
		release()
	}
	p.m.checkRecovered()
}

// checkMinReady releases the min-ready party once enough backups are ready
// (p.mu held). While fewer than ha-min-ready-backups are ready, every
// acknowledgement waits: availability traded for safety.
func (p *primary) checkMinReady() {
	if p.minBit == 0 {
		return
	}
	if len(p.membership.Ready) >= p.m.cfg.MinReadyBackups {
		if p.heldMask.Load()&p.minBit != 0 {
			p.heldMask.Store(p.heldMask.Load() &^ p.minBit)
			go p.releaseEverywhere(p.minBit)
		}
	} else {
		p.heldMask.Store(p.heldMask.Load() | p.minBit)
	}
}

// commitBarrier marks the end of a transaction's changes in every backup's
// stream; its hold is done when each backup acknowledged the marker, so has
// applied the whole transaction.
func (p *primary) commitBarrier(txn string) *broker.Hold {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pending uint64
	for _, s := range p.streams {
		pending |= s.bit
	}
	h := broker.NewHold(pending | p.heldMask.Load()&p.minBit)
	it := item{kind: EvTxCommit, queueName: txn, hold: h, at: p.seq.Add(1)}
	for _, s := range p.streams {
		s.push(it)
	}
	return h
}

// syncBarrier marks the present end of every ready backup's stream: its
// hold is done once each of them has applied every change made so far
// (qpid-config --wait). A tx-commit naming no transaction is such a mark.
func (p *primary) syncBarrier() *broker.Hold {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pending uint64
	for _, s := range p.streams {
		if p.membership.IsReady(s.backupID) {
			pending |= s.bit
		}
	}
	h := broker.NewHold(pending)
	it := item{kind: EvTxCommit, hold: h, at: p.seq.Add(1)}
	for _, s := range p.streams {
		if pending&s.bit != 0 {
			s.push(it)
		}
	}
	return h
}

// expecting reports whether expected backups are still awaited.
func (p *primary) expecting() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.expected) > 0
}

// readyCount is the number of backups in the ready set.
func (p *primary) readyCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.membership.Ready)
}

func popcount(x uint64) int { return bits.OnesCount64(x) }
