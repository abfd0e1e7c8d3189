package amqpserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
)

var connIDs atomic.Uint64

// conn is one client connection: it owns its engine (through the driver)
// and the broker subscriptions of its links.
type conn struct {
	srv *Server
	nc  net.Conn
	dc  *driver.Conn
	log *logrus.Entry
	id  string // owner of this connection's exclusive queues
	sec Security

	info      atomic.Pointer[ConnInfo]
	admitted  Admission
	aclUser   string // the user whose ACL connection quota this connection counts in
	limited   bool   // it holds places in the connection limits (limits.go)
	limitUser string // ... of this user
	limitIP   string // ... and this client address
	ext       Conn   // this connection as extensions see it
	consumers map[*amqp.Link]*consumer
	scheduled atomic.Bool // a service pass is queued on the driver
	fetched   []*broker.Entry
	routed    []*broker.Queue
	scratch   []byte          // message encoding buffer, copied by the engine
	txns      map[string]*txn // declared transactions by id
	// unackedFull: a consumer stopped at session-max-unacked; the next
	// settlement services the consumers again.
	unackedFull bool

	// Deliveries whose holds are all done, to settle in one pass on the
	// connection (holds complete in batches: a journal sync, a backup's
	// acknowledgements), and whether that pass is queued.
	settleMu        sync.Mutex
	toSettle        []heldDelivery
	settleScheduled atomic.Bool
	settling        []heldDelivery
}

type heldDelivery struct {
	p *producer
	d *amqp.Delivery
}

// consumer is a link sending a queue's messages to the client.
type consumer struct {
	link      *amqp.Link
	sub       *broker.Consumer
	preSettle bool // the client asked for at-most-once
}

// producer is a link receiving messages for a node; with no node it is the
// anonymous relay, routing each message by its "to" address.
type producer struct {
	link       *amqp.Link
	node       broker.Node
	temporary  *broker.Queue // a dynamic target, deleted with the link
	management bool          // the target is the management node
	held       uint32        // accepted deliveries waiting for their holds
}

func newConn(s *Server, nc net.Conn, sec Security) *conn {
	c := &conn{
		srv:       s,
		sec:       sec,
		nc:        nc,
		log:       s.log.WithField("remote", nc.RemoteAddr().String()),
		id:        "conn-" + itoa(connIDs.Add(1)),
		consumers: map[*amqp.Link]*consumer{},
	}
	c.ext = Conn{c}
	c.dc = driver.New(nc, amqp.NewServer(s.engineConfig(c.log, sec)), c)
	return c
}

func itoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// HandleEvent implements driver.Handler.
func (c *conn) HandleEvent(dc *driver.Conn, e amqp.Event) {
	eng := dc.Engine
	switch e.Type {
	case amqp.EventConnectionOpen:
		if open := eng.RemoteOpen(); open != nil {
			c.log = c.log.WithField("container", open.ContainerID)
		}
		if id := eng.Identity(); id != "" {
			c.log = c.log.WithField("user", id)
		}
		c.opened()
		if refusal := c.requireEncryption(); refusal != nil {
			c.log.WithField("reason", refusal).Info("connection refused")
			eng.Close(refusal)
			return
		}
		if refusal := c.admitACL(); refusal != nil {
			c.log.WithField("reason", refusal).Info("connection refused")
			eng.Close(refusal)
			return
		}
		if ext := c.srv.cfg.Extension; ext != nil {
			var refusal *types.Error
			if c.admitted, refusal = ext.Admit(*c.info.Load()); c.admitted == Refuse {
				c.log.WithField("reason", refusal).Info("connection refused")
				eng.Refuse(refusal) // no open: proton's failover list moves on
				return
			}
		}
		// After the extension: a backup refuses clients with
		// amqp:connection:forced, on which they fail over, whatever the limits.
		if refusal := c.admitLimits(); refusal != nil {
			eng.Close(refusal)
			return
		}
		c.log.Debug("connection opened")
		eng.Open()
	case amqp.EventConnectionClose:
		if e := eng.RemoteError(); e != nil {
			c.log.WithField("error", e).Info("client closed the connection with an error")
		}
		eng.Close(nil)
	case amqp.EventSessionBegin:
		e.Session.Begin()
	case amqp.EventSessionEnd:
		e.Session.End(nil)
	case amqp.EventLinkAttach:
		if e.Link.Context == nil {
			c.attach(e.Link)
		}
	case amqp.EventLinkDetach:
		if h, ok := e.Link.Context.(LinkHandler); ok {
			h.OnDetach(&c.ext, e.Link)
			e.Link.Detach(nil)
			return
		}
		c.detach(e.Link)
	case amqp.EventLinkFlow:
		if h, ok := e.Link.Context.(LinkHandler); ok {
			h.OnFlow(&c.ext, e.Link)
		} else if cons := c.consumers[e.Link]; cons != nil {
			c.service(cons)
		}
	case amqp.EventDelivery:
		switch ctx := e.Link.Context.(type) {
		case *producer:
			c.receive(ctx, e.Delivery)
		case *coordinator:
			c.coordinate(ctx, e.Delivery)
		case LinkHandler:
			ctx.OnDelivery(&c.ext, e.Link, e.Delivery)
		}
	case amqp.EventDisposition:
		switch ctx := e.Link.Context.(type) {
		case LinkHandler:
			ctx.OnDisposition(&c.ext, e.Link, e.Delivery)
		case *producer, *coordinator:
			// Receiver settle mode second: the client settled after our
			// outcome, and we settle in turn.
			if e.Delivery.RemoteSettled() && e.Delivery.State() != nil {
				e.Delivery.Settle()
			}
		default:
			if cons := c.consumers[e.Link]; cons != nil {
				c.settled(cons, e.Delivery)
				if c.unackedFull && e.Delivery.Settled() {
					c.unackedFull = false
					c.serviceAll()
				}
			}
		}
	case amqp.EventTransportClosed:
		c.releaseACL()
		c.releaseLimits()
		if err := eng.Err(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			c.log.WithError(err).Debug("transport closed")
		}
	}
}

// requireEncryption refuses a connection without TLS under
// require-encryption.
func (c *conn) requireEncryption() *types.Error {
	if !c.srv.cfg.RequireEncryption || c.sec.Encrypted {
		return nil
	}
	where := "with TLS (amqps://)"
	if p := c.srv.tlsPort.Load(); p > 0 {
		where = fmt.Sprintf("with TLS (amqps://) to port %d", p)
	}
	return types.NewError(types.CondUnauthorizedAccess, "this broker accepts only encrypted connections (require-encryption): connect %s", where)
}

// Writable implements driver.Handler: resume sending after congestion.
func (c *conn) Writable(*driver.Conn) { c.serviceAll() }

// refuse answers an attach with null termini and a detach carrying why
// (part 2.6.3: the peer learns the link was refused).
func refuse(l *amqp.Link, e *types.Error) {
	l.Source, l.Target = nil, nil
	l.Attach()
	l.Detach(e)
}

// attach serves a new link: an extension's node, the management node only
// for a connection admitted to management, else a producer or consumer.
func (c *conn) attach(l *amqp.Link) {
	if ext := c.srv.cfg.Extension; ext != nil {
		if denied := c.authorizeExtension(l); denied != nil {
			refuse(l, denied)
			return
		}
		if ext.Attach(&c.ext, l) {
			return
		}
	}
	if c.admitted == AdmitManagement && !c.managementLink(l) {
		refuse(l, types.NewError(types.CondUnauthorizedAccess, "this broker is an HA backup: administrators may use only the management node"))
		return
	}
	if l.IsSender() {
		c.attachConsumer(l)
	} else {
		c.attachProducer(l)
	}
}

// managementLink reports whether a link serves management: a sender to
// the management node, or the dynamic receiver its replies come back on.
func (c *conn) managementLink(l *amqp.Link) bool {
	if l.IsSender() {
		src := l.RemoteSource()
		return src != nil && src.Dynamic
	}
	t, _ := l.RemoteTarget().(*types.Target)
	return t != nil && t.Address == ManagementAddress
}

func (c *conn) detach(l *amqp.Link) {
	switch ctx := l.Context.(type) {
	case *consumer:
		delete(c.consumers, l)
		c.consumerGone(ctx)
		ctx.sub.Close() // an auto-delete (private) queue goes with it
	case *coordinator:
		c.coordinatorGone(ctx)
	case *producer:
		if ctx.temporary != nil {
			_ = c.srv.cfg.Broker.DeleteQueue(ctx.temporary.Name(), false, false)
		}
	}
	l.Detach(nil)
	if c.unackedFull {
		// The link's unsettled deliveries are gone: room for the others.
		c.unackedFull = false
		c.serviceAll()
	}
}

// notify is called by queues, from any goroutine, when a consumer that came
// back short may now get messages: one service pass is queued.
func (c *conn) notify() {
	if c.scheduled.CompareAndSwap(false, true) {
		c.dc.Inject(func() {
			c.scheduled.Store(false)
			c.serviceAll()
		})
	}
}

func (c *conn) serviceAll() {
	for _, cons := range c.consumers {
		c.service(cons)
	}
}

// batch bounds how many messages one Fetch takes, so consumers of a busy
// connection take turns.
const batch = 64

// service sends a consumer as many messages as its credit allows, and
// answers a drain once the queue has nothing more for it.
func (c *conn) service(cons *consumer) {
	l := cons.link
	for l.Credit() > 0 {
		if c.dc.Congested() {
			return // Writable resumes
		}
		want := int(min(l.Credit(), batch))
		if limit := c.srv.cfg.SessionMaxUnacked; limit > 0 && !cons.preSettle {
			room := limit - l.Session().UnsettledOut()
			if room <= 0 {
				c.unackedFull = true
				return // a settlement resumes
			}
			want = min(want, room)
		}
		c.fetched = cons.sub.Fetch(c.fetched[:0], want)
		sent := true
		for i, e := range c.fetched {
			if sent && !c.send(cons, e) {
				sent = false // the link went away under us: give the rest back
			}
			if !sent {
				cons.sub.Release(e, false)
			}
			c.fetched[i] = nil
		}
		if !sent {
			return
		}
		if len(c.fetched) < want {
			if len(c.fetched) == 0 && cons.sub.Deleted() {
				delete(c.consumers, l)
				cons.sub.Close()
				l.Detach(types.NewError(types.CondResourceDeleted, "queue %s was deleted", cons.sub.Queue().Name()))
				return
			}
			break
		}
	}
	if l.Drain() {
		l.Drained() // give back what the queue could not fill
	}
}

// send transfers one queue entry to a consumer; false if the link cannot
// take it (it was detached by the peer in the same batch of frames).
func (c *conn) send(cons *consumer, e *broker.Entry) bool {
	m := e.Msg
	h := m.Header
	h.DeliveryCount = e.DeliveryCount()
	h.FirstAcquirer = e.FirstAcquirer() && m.HasHeader && m.Header.FirstAcquirer
	var hp *types.Header
	if m.HasHeader || !message.DefaultHeader(&h) {
		hp = &h
	}
	c.scratch = m.Append(c.scratch[:0], hp)
	var tag [8]byte
	binary.BigEndian.PutUint64(tag[:], e.Pos)
	d, err := cons.link.Send(tag[:], c.scratch, cons.preSettle)
	if err != nil {
		return false
	}
	if cons.preSettle {
		cons.sub.Accept(e)
		return true
	}
	d.Context = e
	return true
}

// settled applies a consumer's outcome for a message.
func (c *conn) settled(cons *consumer, d *amqp.Delivery) {
	e, ok := d.Context.(*broker.Entry)
	if !ok {
		return
	}
	switch st := d.RemoteState().(type) {
	case *types.Released:
		cons.sub.Release(e, false)
	case *types.Modified:
		cons.sub.Release(e, st.DeliveryFailed)
	case *types.Rejected:
		cons.sub.Reject(e) // to the queue's alternate exchange, if any
	case *types.Accepted:
		cons.sub.Accept(e)
	case *types.TransactionalState:
		c.settledInTxn(cons, d, e, st)
		return
	case nil:
		if !d.RemoteSettled() {
			return // a state-less update: nothing decided yet
		}
		cons.sub.Accept(e) // settled without an outcome: the client is done with it
	default:
		return
	}
	d.Settle()
}

// receive routes a message from a producer to its queues and settles it:
// accepted once on every queue it reaches, rejected when a queue is full or
// the anonymous relay's "to" names nothing.
func (c *conn) receive(p *producer, d *amqp.Delivery) {
	m, err := message.Parse(d.Payload())
	if err != nil {
		settleIn(d, &types.Rejected{Error: types.NewError(types.CondDecodeError, "%v", err)})
		c.replenish(p)
		return
	}
	if p.management || c.isManagement(p, m) {
		c.manage(m)
		settleIn(d, &types.Accepted{})
		c.replenish(p)
		return
	}
	if c.srv.cfg.Timestamp {
		m.MessageAnnotations = stampArrival(m.MessageAnnotations, time.Now())
	}
	node := p.node
	relay := node.Queue == nil && node.Exchange == nil
	if relay {
		if node, err = c.relayTarget(m); err != nil {
			settleIn(d, &types.Rejected{Error: errorFor(err)})
			c.replenish(p)
			return
		}
	}
	if denied := c.authorizeMessage(node, relay, m.Subject()); denied != nil {
		settleIn(d, &types.Rejected{Error: denied})
		p.link.Detach(denied)
		return
	}
	if ts, ok := d.RemoteState().(*types.TransactionalState); ok {
		c.receiveInTxn(d, ts, node, m)
		c.replenish(p)
		return
	}
	c.routed = c.routed[:0]
	if node.Queue != nil {
		c.routed = append(c.routed, node.Queue)
	} else {
		c.routed = c.srv.cfg.Broker.Route(node.Exchange, m, c.routed)
	}
	var holds []*broker.Hold
	if len(c.routed) > 0 {
		// The broker's memory bound: a hold while producers are flow
		// controlled for memory, a refusal well beyond it.
		mem, err := c.srv.cfg.Broker.AdmitMemory(int64(m.Size()) * int64(len(c.routed)))
		if err != nil {
			clear(c.routed)
			settleIn(d, &types.Rejected{Error: errorFor(err)})
			c.replenish(p)
			return
		}
		if mem != nil {
			holds = append(holds, mem)
		}
	}
	var failure error
	for i, q := range c.routed {
		e, err := q.Enqueue(m)
		if err != nil && failure == nil {
			failure = err
		}
		if e != nil && e.Hold() != nil {
			holds = append(holds, e.Hold())
		}
		if e != nil && e.FlowHold() != nil {
			holds = append(holds, e.FlowHold())
		}
		if e != nil && e.StoreHold() != nil {
			holds = append(holds, e.StoreHold()) // settled once on disk
		}
		c.routed[i] = nil
	}
	switch {
	case failure != nil:
		settleIn(d, &types.Rejected{Error: errorFor(failure)})
	case len(holds) > 0:
		c.acceptWhenReleased(p, d, holds)
	default:
		settleIn(d, &types.Accepted{})
	}
	c.replenish(p)
}

// settleIn gives a message received from a client its outcome. In
// receiver settle mode first it is settled at once; in mode second (the
// client asked to settle first) it stays unsettled until the client
// settles it (EventDisposition), unless the client already did.
func settleIn(d *amqp.Delivery, st types.DeliveryState) {
	d.Update(st, d.Link().RcvSettleMode != types.ReceiverSettleModeSecond || d.RemoteSettled())
}

// acceptWhenReleased settles a delivery once every hold on its message is
// done: each backup has it, or a consumer took it (the HA guard), its
// queues' producer flow control let it in, and the store has it on disk.
func (c *conn) acceptWhenReleased(p *producer, d *amqp.Delivery, holds []*broker.Hold) {
	var left atomic.Int32
	left.Store(int32(len(holds)))
	p.held++
	settle := func() {
		if left.Add(-1) == 0 {
			c.readyToSettle(p, d)
		}
	}
	for _, h := range holds {
		if !h.Wait(settle) {
			settle()
		}
	}
}

// readyToSettle queues a delivery whose holds are done; one pass on the
// connection settles every delivery queued by then (from any goroutine).
func (c *conn) readyToSettle(p *producer, d *amqp.Delivery) {
	c.settleMu.Lock()
	c.toSettle = append(c.toSettle, heldDelivery{p, d})
	c.settleMu.Unlock()
	if c.settleScheduled.CompareAndSwap(false, true) {
		c.dc.Inject(c.settleReady)
	}
}

// settleReady accepts the deliveries queued by readyToSettle and tops up
// their producers' credit (engine locked).
func (c *conn) settleReady() {
	c.settleScheduled.Store(false)
	c.settleMu.Lock()
	c.settling, c.toSettle = c.toSettle, c.settling[:0]
	c.settleMu.Unlock()
	var last *producer
	for i, h := range c.settling {
		h.p.held--
		settleIn(h.d, &types.Accepted{})
		if h.p != last && last != nil {
			c.replenish(last)
		}
		last = h.p
		c.settling[i] = heldDelivery{}
	}
	if last != nil {
		c.replenish(last)
	}
}

// isManagement reports a management request sent via the relay.
func (c *conn) isManagement(p *producer, m *message.Message) bool {
	if c.srv.cfg.Management == nil || p.node.Queue != nil || p.node.Exchange != nil {
		return false
	}
	props := m.Properties()
	return props != nil && props.To == ManagementAddress
}

// relayTarget resolves the "to" address of a message sent on the anonymous
// relay to an existing node.
func (c *conn) relayTarget(m *message.Message) (broker.Node, error) {
	to := ""
	if props := m.Properties(); props != nil {
		to = props.To
	}
	if to == "" {
		return broker.Node{}, errors.New("a message on the anonymous relay needs a \"to\" address")
	}
	b := c.srv.cfg.Broker
	if q := b.Queue(to); q != nil {
		return broker.Node{Queue: q}, nil
	}
	if e := b.Exchange(to); e != nil {
		return broker.Node{Exchange: e}, nil
	}
	return c.resolve(to, nil, nil)
}

// replenish keeps a producer's credit topped up; deliveries whose holds are
// pending count against the window, so a slow backup pushes back on
// senders instead of filling memory.
func (c *conn) replenish(p *producer) {
	window := c.srv.cfg.CreditWindow
	if l := p.link; l.Credit()+p.held <= window/2 && p.held < window {
		l.Flow(window-p.held, false)
	}
}
