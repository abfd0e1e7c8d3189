package server

import (
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
)

// conn is one client connection: it owns its engine (through the driver)
// and the broker subscriptions of its links.
type conn struct {
	srv *Server
	dc  *driver.Conn
	log *logrus.Entry

	consumers map[*amqp.Link]*consumer
	scheduled atomic.Bool // a service pass is queued on the driver
	fetched   []*broker.Entry
	scratch   []byte // message encoding buffer, copied by the engine
}

// consumer is a link sending a queue's messages to the client.
type consumer struct {
	link      *amqp.Link
	sub       *broker.Consumer
	preSettle bool // the client asked for at-most-once
}

// producer is a link receiving messages for a queue.
type producer struct {
	link  *amqp.Link
	queue *broker.Queue
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		srv:       s,
		log:       s.log.WithField("remote", nc.RemoteAddr().String()),
		consumers: map[*amqp.Link]*consumer{},
	}
	c.dc = driver.New(nc, amqp.NewServer(s.engineConfig()), c)
	return c
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
		c.attach(e.Link)
	case amqp.EventLinkDetach:
		c.detach(e.Link)
	case amqp.EventLinkFlow:
		if cons := c.consumers[e.Link]; cons != nil {
			c.service(cons)
		}
	case amqp.EventDelivery:
		if p, ok := e.Link.Context.(*producer); ok {
			c.receive(p, e.Delivery)
		}
	case amqp.EventDisposition:
		if cons := c.consumers[e.Link]; cons != nil {
			c.settled(cons, e.Delivery)
		}
	case amqp.EventTransportClosed:
		if err := eng.Err(); err != nil && !errors.Is(err, amqp.ErrClosed) {
			c.log.WithError(err).Debug("transport closed")
		}
	}
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

func (c *conn) attach(l *amqp.Link) {
	if l.Context != nil {
		return // an answer to our own attach
	}
	if l.IsSender() {
		c.attachConsumer(l)
	} else {
		c.attachProducer(l)
	}
}

func (c *conn) attachProducer(l *amqp.Link) {
	t, ok := l.RemoteTarget().(*types.Target)
	if !ok || t.Address == "" {
		refuse(l, types.NewError(types.CondNotImplemented, "a sender must name a target address"))
		return
	}
	q, err := c.srv.cfg.Broker.Resolve(t.Address)
	if err != nil {
		c.log.WithField("address", t.Address).Info("sender refused: no such node")
		refuse(l, types.NewError(types.CondNotFound, "no node named %q", t.Address))
		return
	}
	l.Context = &producer{link: l, queue: q}
	l.RcvSettleMode = types.ReceiverSettleModeFirst
	l.Attach()
	l.Flow(c.srv.cfg.CreditWindow, false)
}

func (c *conn) attachConsumer(l *amqp.Link) {
	src := l.RemoteSource()
	if src == nil || src.Address == "" {
		refuse(l, types.NewError(types.CondNotImplemented, "a receiver must name a source address"))
		return
	}
	q, err := c.srv.cfg.Broker.Resolve(src.Address)
	if err != nil {
		c.log.WithField("address", src.Address).Info("receiver refused: no such node")
		refuse(l, types.NewError(types.CondNotFound, "no node named %q", src.Address))
		return
	}
	sub, err := q.Subscribe(c.notify)
	if err != nil {
		refuse(l, types.NewError(types.CondNotFound, "%v", err))
		return
	}
	cons := &consumer{link: l, sub: sub, preSettle: l.SndSettleMode == types.SenderSettleModeSettled}
	l.Context = cons
	c.consumers[l] = cons
	l.Attach()
	c.service(cons) // credit may have come with the attach
}

func (c *conn) detach(l *amqp.Link) {
	if cons := c.consumers[l]; cons != nil {
		delete(c.consumers, l)
		cons.sub.Close()
	}
	l.Detach(nil)
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
		c.fetched = cons.sub.Fetch(c.fetched[:0], want)
		for i, e := range c.fetched {
			c.send(cons, e)
			c.fetched[i] = nil
		}
		if len(c.fetched) < want {
			break
		}
	}
	if l.Drain() {
		l.Drained() // give back what the queue could not fill
	}
}

// send transfers one queue entry to a consumer.
func (c *conn) send(cons *consumer, e *broker.Entry) {
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
		cons.sub.Release(e, false)
		return
	}
	if cons.preSettle {
		cons.sub.Accept(e)
		return
	}
	d.Context = e
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
		cons.sub.Accept(e) // dead-lettering comes with alternate exchanges
	case *types.Accepted:
		cons.sub.Accept(e)
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

// receive enqueues a message from a producer and settles it.
func (c *conn) receive(p *producer, d *amqp.Delivery) {
	m, err := message.Parse(d.Payload())
	if err != nil {
		d.Update(&types.Rejected{Error: types.NewError(types.CondDecodeError, "%v", err)}, true)
	} else if _, err := p.queue.Enqueue(m); err != nil {
		cond := types.CondResourceLimitExceeded
		if errors.Is(err, broker.ErrQueueDeleted) {
			cond = types.CondResourceDeleted
		}
		d.Update(&types.Rejected{Error: types.NewError(cond, "%v", err)}, true)
	} else {
		d.Update(&types.Accepted{}, true)
	}
	if l := p.link; l.Credit() <= c.srv.cfg.CreditWindow/2 {
		l.Flow(c.srv.cfg.CreditWindow, false)
	}
}
