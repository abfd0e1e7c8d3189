package client

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// replyCredit is the credit kept on the reply link: requests are answered
// one at a time, so a few cover late answers to requests that timed out.
const replyCredit = 16

// handler runs a client connection's engine (as ha's requester does for
// the brokers' status checks, but for many requests): a session, a
// receiver from a dynamic reply queue and a sender to the management node.
// HandleEvent runs with the engine locked; the channels and the fields
// under mu are what the client's goroutines see.
type handler struct {
	ready     chan struct{} // closed once both links are attached
	dead      chan struct{} // closed at the first failure (or close)
	responses chan *message.Message

	readyOnce, deadOnce sync.Once
	mu                  sync.Mutex
	err                 error
	replyTo             string

	// With the engine locked.
	reply, sender *amqp.Link
	outbox        [][]byte
	tag           uint64
}

func newHandler() *handler {
	return &handler{
		ready:     make(chan struct{}),
		dead:      make(chan struct{}),
		responses: make(chan *message.Message, 2*replyCredit),
	}
}

// fail records the first failure and wakes every waiter.
func (h *handler) fail(err error) {
	h.deadOnce.Do(func() {
		h.mu.Lock()
		h.err = err
		h.mu.Unlock()
		close(h.dead)
	})
}

// failure is the first failure, nil while the connection is up.
func (h *handler) failure() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

func (h *handler) replyAddress() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.replyTo
}

func (h *handler) HandleEvent(c *driver.Conn, e amqp.Event) {
	eng := c.Engine
	switch e.Type {
	case amqp.EventConnectionOpen:
		s, err := eng.Session()
		if err != nil {
			h.fail(err)
			eng.Close(nil)
			return
		}
		s.Begin()
		h.reply, _ = s.NewReceiver("qpid-tool-reply")
		h.reply.Source = &types.Source{Dynamic: true}
		h.reply.Target = &types.Target{}
		h.reply.Attach()
		h.sender, _ = s.NewSender("qpid-tool-request")
		h.sender.Source = &types.Source{}
		h.sender.Target = &types.Target{Address: wire.Address}
		h.sender.Attach()
	case amqp.EventLinkAttach:
		if e.Link == h.reply {
			if src := e.Link.RemoteSource(); src != nil && src.Address != "" {
				h.mu.Lock()
				h.replyTo = src.Address
				h.mu.Unlock()
			}
			e.Link.Flow(replyCredit, false)
		}
		// A refused link is attached with no terminus, then detached with
		// the reason: wait for the detach.
		if h.replyAddress() != "" && h.sender.RemoteAttach() != nil && h.sender.RemoteTarget() != nil {
			h.readyOnce.Do(func() { close(h.ready) })
		}
		h.flush()
	case amqp.EventLinkFlow:
		h.flush()
	case amqp.EventDelivery:
		if e.Link != h.reply {
			return
		}
		e.Delivery.Update(&types.Accepted{}, true)
		if m, err := message.Parse(append([]byte(nil), e.Delivery.Payload()...)); err == nil {
			select {
			case h.responses <- m:
			default: // nobody waits for that many answers: stale ones
			}
		}
		if h.reply.Credit() < replyCredit/2 {
			h.reply.Flow(replyCredit, false)
		}
	case amqp.EventLinkDetach:
		if err := e.Link.RemoteError(); err != nil {
			what := "management node"
			if e.Link == h.reply {
				what = "reply queue"
			}
			h.fail(fmt.Errorf("%s: %w", what, err))
		}
		h.closed(eng, nil)
	case amqp.EventSessionEnd:
		h.closed(eng, e.Session.RemoteError())
	case amqp.EventConnectionClose:
		h.closed(eng, nil)
	case amqp.EventTransportClosed:
		h.fail(transportError(eng.Err()))
	}
}

// closed ends the connection after the broker detached a link, ended the
// session or closed the connection, failing with the most telling reason:
// the endpoint's error, else the connection's (a broker closing detaches
// the links first, then says why), else the transport's end.
func (h *handler) closed(eng *amqp.Connection, e *types.Error) {
	switch {
	case e != nil:
		h.fail(e)
	case eng.RemoteError() != nil:
		h.fail(eng.RemoteError())
	} // else the transport's end says it
	eng.Close(nil)
}

func (h *handler) Writable(*driver.Conn) {}

// send queues a request for the management node (with the engine locked).
func (h *handler) send(payload []byte) {
	h.outbox = append(h.outbox, payload)
	h.flush()
}

// flush sends queued requests while the management node gives credit. They
// go pre-settled: the answer is the acknowledgement.
func (h *handler) flush() {
	for len(h.outbox) > 0 && h.sender != nil && h.sender.RemoteTarget() != nil && h.sender.Credit() > 0 {
		h.tag++
		if _, err := h.sender.Send([]byte(strconv.FormatUint(h.tag, 10)), h.outbox[0], true); err != nil {
			if errors.Is(err, amqp.ErrNoCredit) {
				return
			}
			h.fail(fmt.Errorf("management node: %w", err))
			return
		}
		h.outbox = h.outbox[1:]
	}
}
