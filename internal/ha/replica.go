package ha

import (
	"fmt"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha/core"
)

// replicator is the backup's side of one connection to a primary: it sends
// the inventory, subscribes to the replication stream, applies each event
// to the local broker and acknowledges it.
type replicator struct {
	b    *backup
	m    *Module
	addr string
	log  *logrus.Entry

	inventory []Event
	invLink   *amqp.Link
	repLink   *amqp.Link
	streaming bool // the primary accepted the subscription

	// Changes of committing transactions, held until their tx-commit.
	txns map[string][]*Event
	// Objects declared by this snapshot: replicated objects not among them
	// are deleted when the snapshot ends.
	seenQueues    map[string]bool
	seenExchanges map[string]bool
	caughtUp      bool
	deferred      []*Event        // dequeues received while catching up, applied once caught up
	aside         []*broker.Queue // old incarnations of queues the primary replaced, dropped once caught up
	conn          *driver.Conn
	acks          []pendingAck // applied, waiting for the store, in order
	stored        *broker.Hold // the store's hold on the message applyEvent enqueued
	ackScheduled  atomic.Bool
}

func newReplicator(b *backup, addr string) *replicator {
	return &replicator{
		b: b, m: b.m, addr: addr,
		log:           b.log.WithField("primary", addr),
		seenQueues:    map[string]bool{},
		seenExchanges: map[string]bool{},
	}
}

func (r *replicator) linkProperties() types.Map {
	return types.Map{
		{Key: types.Symbol(PropProtocol), Value: uint32(ProtocolVersion)},
		{Key: types.Symbol(PropBrokerID), Value: r.m.BrokerID()},
		{Key: types.Symbol(PropEpoch), Value: r.m.Membership().Epoch},
	}
}

// HandleEvent implements driver.Handler.
func (r *replicator) HandleEvent(c *driver.Conn, e amqp.Event) {
	eng := c.Engine
	switch e.Type {
	case amqp.EventConnectionOpen:
		r.conn = c
		if open := eng.RemoteOpen(); open != nil && open.ContainerID == r.m.BrokerID() {
			r.b.markSelf(r.addr)
			eng.Close(nil)
			return
		}
		s, err := eng.Session()
		if err != nil {
			eng.Close(nil)
			return
		}
		s.Begin()
		r.inventory = r.m.inventoryEvents()
		l, _ := s.NewSender("qpid.ha-inventory")
		l.Target = &types.Target{Address: InventoryNode}
		l.Properties = r.linkProperties()
		l.Attach()
		r.invLink = l
	case amqp.EventConnectionClose:
		if err := eng.RemoteError(); err != nil {
			r.log.WithField("error", err).Debug("the broker closed the replication connection")
		}
		eng.Close(nil)
	case amqp.EventLinkAttach:
		r.attached(e.Link)
	case amqp.EventLinkFlow:
		if e.Link == r.invLink {
			r.sendInventory()
		}
	case amqp.EventDelivery:
		if e.Link == r.repLink {
			r.apply(e.Delivery)
		}
	case amqp.EventLinkDetach:
		if err := e.Link.RemoteError(); err != nil {
			r.log.WithField("error", err).Warn("replication refused")
		}
		eng.Close(nil)
	}
}

// Writable implements driver.Handler.
func (r *replicator) Writable(*driver.Conn) {}

// attached checks the primary's answer to a link.
func (r *replicator) attached(l *amqp.Link) {
	a := l.RemoteAttach()
	if a == nil || (l.RemoteSource() == nil && l.RemoteTarget() == nil) {
		return // refused: the detach with the reason follows
	}
	v, _ := a.Properties.Get(types.Symbol(PropProtocol))
	if version, ok := asUint(v); !ok || version != ProtocolVersion {
		r.log.WithField("primary-version", v).Errorf("the primary speaks replication protocol version %v; this backup speaks version %d", v, ProtocolVersion)
		l.Session().Connection().Close(types.NewError(types.CondPreconditionFailed,
			"replication protocol version %d is not supported by this backup's peer (it speaks %v)", ProtocolVersion, v))
		return
	}
	epochV, _ := a.Properties.Get(types.Symbol(PropEpoch))
	epoch, _ := asUint(epochV)
	idV, _ := a.Properties.Get(types.Symbol(PropBrokerID))
	primaryID, _ := idV.(string)
	if l == r.repLink {
		r.streaming = true
		r.m.linkError.Store(nil)
		r.m.primaryAddr.Store(&r.addr)
		if err := r.m.step(func(c *core.Core) error { return c.Subscribed(epoch, primaryID) }); err != nil {
			l.Session().Connection().Close(types.NewError(types.CondPreconditionFailed,
				"this backup refuses you: %v", err))
			return
		}
		r.log.WithField("epoch", epoch).Info("replicating from the primary")
		l.Flow(uint32(r.m.cfg.FlowMessages), false)
	}
}

// sendInventory sends what this backup holds; when all of it is sent, it
// subscribes to the replication stream (frames on a session stay in order,
// so the primary has the whole inventory when the subscription arrives).
func (r *replicator) sendInventory() {
	l := r.invLink
	for l.Credit() > 0 && len(r.inventory) > 0 {
		b, err := r.inventory[0].Marshal(nil)
		if err != nil {
			r.log.WithError(err).Error("cannot encode the inventory")
			return
		}
		if _, err := l.Send(nil, b, true); err != nil {
			return
		}
		r.inventory = r.inventory[1:]
		if len(r.inventory) == 0 {
			rl, _ := l.Session().NewReceiver("qpid.ha-replicate")
			rl.Source = &types.Source{Address: ReplicateNode}
			rl.Properties = r.linkProperties()
			rl.Attach()
			r.repLink = rl
		}
	}
}

// apply applies one replication event and acknowledges it.
func (r *replicator) apply(d *amqp.Delivery) {
	ev, err := UnmarshalEvent(d.Payload())
	if err != nil {
		r.log.WithError(err).Error("undecodable replication event")
		d.Update(&types.Rejected{Error: types.NewError(types.CondDecodeError, "%v", err)}, true)
		return
	}
	r.stored = nil
	err = r.applyEvent(ev)
	stored := r.stored
	if err != nil {
		r.log.WithError(err).WithField("event", ev.Kind).Warn("replication event not applied")
	}
	r.m.noteApplied(ev.Seq)
	if st := r.m.cfg.Store; st != nil && (ev.Kind == EvCaughtUp || ev.Kind == EvTxCommit) {
		// Ready, or a transaction applied, only once all of it is on disk.
		stored = st.Barrier()
	}
	r.acknowledge(d, stored)
	if l := r.repLink; l.Credit() <= uint32(r.m.cfg.FlowMessages)/2 {
		l.Flow(uint32(r.m.cfg.FlowMessages), false)
	}
}

// pendingAck is an applied event whose acknowledgement waits for the
// store.
type pendingAck struct {
	d      *amqp.Delivery
	stored *broker.Hold // nil: nothing of its own to wait for
}

// acknowledge accepts an applied event once what it stored is on disk.
// Acknowledgements go out in order, so each one also says that every
// earlier event's records are on disk: the primary counts a message safe
// on this backup when it hears of it, and a barrier (caught up, a
// transaction) means everything before it. Transient work with nothing
// waiting goes out at once, as without a store.
func (r *replicator) acknowledge(d *amqp.Delivery, stored *broker.Hold) {
	if len(r.acks) == 0 && (stored == nil || stored.Done()) {
		d.Update(&types.Accepted{}, true)
		return
	}
	r.acks = append(r.acks, pendingAck{d: d, stored: stored})
	if stored != nil && !stored.Wait(r.scheduleAcks) {
		r.sendAcks() // done since Done said it was not
	}
}

// scheduleAcks has the connection's goroutine send the acknowledgements
// now due (from the journal's writer: one call for a whole batch).
func (r *replicator) scheduleAcks() {
	if r.ackScheduled.CompareAndSwap(false, true) {
		r.conn.Inject(func() {
			r.ackScheduled.Store(false)
			r.sendAcks()
		})
	}
}

// sendAcks accepts the waiting events whose records are on disk, in order
// (connection goroutine).
func (r *replicator) sendAcks() {
	n := 0
	for _, a := range r.acks {
		if a.stored != nil && !a.stored.Done() {
			break
		}
		a.d.Update(&types.Accepted{}, true)
		n++
	}
	if n > 0 {
		clear(r.acks[:n])
		r.acks = r.acks[n:]
	}
}

func (r *replicator) applyEvent(ev *Event) error {
	b := r.m.broker
	if ev.Txn != "" && (ev.Kind == EvEnqueue || ev.Kind == EvDequeue) {
		if r.txns == nil {
			r.txns = map[string][]*Event{}
		}
		r.txns[ev.Txn] = append(r.txns[ev.Txn], ev)
		return nil
	}
	switch ev.Kind {
	case EvTxCommit:
		held := r.txns[ev.Txn]
		delete(r.txns, ev.Txn)
		for _, e := range held {
			e.Txn = ""
			if err := r.applyEvent(e); err != nil {
				r.log.WithError(err).WithField("txn", ev.Txn).Warn("transaction change not applied")
			}
		}
		// Promoted, this broker can tell a client asking again after a
		// failover that its commit went through. (With no transaction it
		// is a sync barrier: nothing to apply, only to acknowledge.)
		if ev.Txn != "" {
			b.RecordCommit(ev.Txn)
		}
	case EvEnqueue:
		q := b.Queue(ev.Name)
		if q == nil || len(ev.IDs) != 1 {
			return fmt.Errorf("enqueue to unknown queue %q", ev.Name)
		}
		m, err := message.Parse(ev.Message)
		if err != nil {
			return err
		}
		e, err := q.EnqueueReplica(m, ev.IDs[0])
		if e != nil {
			r.stored = e.StoreHold()
		}
		return err
	case EvDequeue:
		if !r.caughtUp {
			// Until this backup is ready again, what it holds may be the
			// last copy: if the primary goes mid-catch-up, it keeps it.
			r.deferred = append(r.deferred, ev)
			return nil
		}
		if q := b.Queue(ev.Name); q != nil {
			q.DequeueIDs(ev.IDs)
		}
	case EvMembership:
		ms := membershipFrom(ev.Args)
		r.m.step(func(c *core.Core) error { c.Learn(ms); return nil })
	case EvQueueDeclare:
		r.seenQueues[ev.Name] = true
		return r.declareQueue(ev)
	case EvQueueDelete:
		if q := b.Queue(ev.Name); q != nil && q.Identity() == ev.UUID {
			return b.DeleteQueue(ev.Name, false, false)
		}
	case EvExchange:
		r.seenExchanges[ev.Name] = true
		return r.declareExchange(ev)
	case EvExchangeDelete:
		if e := b.Exchange(ev.Name); e != nil && e.Identity() == ev.UUID {
			return b.DeleteExchange(ev.Name, false)
		}
	case EvBind:
		_, err := b.Bind(ev.Exchange, ev.Name, ev.Key, broker.ArgsOf(ev.Args))
		return err
	case EvUnbind:
		_ = b.Unbind(ev.Exchange, ev.Name, ev.Key)
	case EvReplica, EvReplicaStop:
		r.m.learnReplica(ev.Name, ev.Key, ev.Kind == EvReplicaStop)
	case EvCaughtUp:
		r.endSnapshot()
	}
	return nil
}

// AsidePrefix names a queue a backup set aside while catching up: the old
// incarnation of a queue its primary deleted and declared again while the
// backup was away, kept with its messages until the backup is ready (and,
// if the primary is lost first, across a restart: then an administrator
// decides what to do with them).
const AsidePrefix = "qpid.ha-aside."

func shortID(id string) string { return id[:min(8, len(id))] }

// declareQueue creates a replicated queue, replacing one of the same name
// but another identity (deleted and recreated while this backup was away).
func (r *replicator) declareQueue(ev *Event) error {
	b := r.m.broker
	if q := b.Queue(ev.Name); q != nil {
		if q.Identity() == ev.UUID {
			return nil
		}
		if !r.caughtUp && q.Stats().Depth > 0 {
			// Until this backup is ready again, the old queue's messages
			// may be the last copy: set aside, under a name of its own
			// (which a restart restores), and deleted once caught up.
			aside := AsidePrefix + ev.Name + "." + shortID(q.Identity())
			r.log.WithFields(logrus.Fields{"queue": ev.Name, "aside": aside}).Info("the primary recreated a queue: setting the old one aside until caught up")
			old, err := b.SetQueueAside(ev.Name, aside)
			if err != nil {
				return err
			}
			r.aside = append(r.aside, old)
		} else {
			r.log.WithField("queue", ev.Name).Info("replacing a queue recreated on the primary")
			if err := b.DeleteQueue(ev.Name, false, false); err != nil {
				return err
			}
		}
	}
	s, err := broker.ParseQueueArgs(broker.ArgsOf(ev.Args))
	if err != nil {
		return err
	}
	s.Identity = ev.UUID
	_, _, err = b.DeclareQueue(ev.Name, s)
	return err
}

func (r *replicator) declareExchange(ev *Event) error {
	b := r.m.broker
	if e := b.Exchange(ev.Name); e != nil {
		if e.Identity() == ev.UUID && e.Type() == ev.Type {
			return nil
		}
		if err := b.DeleteExchange(ev.Name, false); err != nil {
			return err
		}
	}
	s, err := broker.ParseExchangeArgs(broker.ArgsOf(ev.Args))
	if err != nil {
		return err
	}
	s.Identity = ev.UUID
	_, _, err = b.DeclareExchange(ev.Name, ev.Type, s)
	return err
}

// endSnapshot applies the dequeues that waited for it and deletes the
// replicated objects the primary no longer has: only now, so that a backup
// that loses its primary mid-catch-up keeps what it held. Then the backup
// is ready.
func (r *replicator) endSnapshot() {
	if r.caughtUp {
		return
	}
	r.caughtUp = true
	b := r.m.broker
	for _, ev := range r.deferred {
		if q := b.Queue(ev.Name); q != nil {
			q.DequeueIDs(ev.IDs)
		}
	}
	r.deferred = nil
	for _, q := range r.aside {
		r.log.WithField("queue", q.Name()).Info("caught up: deleting the queue set aside")
		b.DropAside(q)
	}
	r.aside = nil
	for _, q := range b.Queues() {
		if !r.seenQueues[q.Name()] && r.m.queueLevel(q) != broker.ReplicateNone {
			r.log.WithField("queue", q.Name()).Info("deleting a queue the primary no longer has")
			_ = b.DeleteQueue(q.Name(), false, false)
		}
	}
	for _, e := range b.Exchanges() {
		if !e.Builtin() && !r.seenExchanges[e.Name()] && r.m.exchangeLevel(e) != broker.ReplicateNone {
			_ = b.DeleteExchange(e.Name(), false)
		}
	}
	r.m.step(func(c *core.Core) error { c.CaughtUp(); return nil })
}
