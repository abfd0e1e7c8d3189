package ha

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// TypeHABroker is the management type of a broker's HA status.
const TypeHABroker = "org.apache.qpid.ha:habroker"

// Operations on TypeHABroker beyond READ.
const (
	OpPromote   = "PROMOTE"
	OpReplicate = "REPLICATE"
	// OpSync answers once every ready backup has applied every change the
	// primary made before it (qpid-config --wait).
	OpSync = "SYNC"
)

// Status is a broker's HA status as management reports it.
func (m *Module) Status() map[string]any {
	ms := m.Membership()
	ready := make([]any, len(ms.Ready))
	for i, r := range ms.Ready {
		ready[i] = r
	}
	pos := m.Position()
	return map[string]any{
		"status":            m.State().String(),
		"brokerId":          m.BrokerID(),
		"epoch":             ms.Epoch,
		"membershipVersion": ms.Version,
		"primary":           ms.Primary,
		"ready":             ready,
		"inReadySet":        ms.IsReady(m.BrokerID()),
		"brokersUrl":        joinAddrs(m.cfg.Brokers),
		"publicUrl":         m.cfg.PublicURL,
		"replicate":         m.cfg.Replicate,
		"position":          pos.String(),
		"storeHealth":       healthText(m.storeHealth()),
		"linkError":         m.LinkError(),
		"uptime":            int64(time.Since(m.start).Seconds()),
		"version":           m.cfg.Version,
	}
}

// LinkError is why this backup cannot replicate from the primary, if its
// own settings are the cause (a wrong ha-username or ha-password, a
// certificate not trusted): "" otherwise.
func (m *Module) LinkError() string {
	if e := m.linkError.Load(); e != nil {
		return *e
	}
	return ""
}

func healthText(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func joinAddrs(a []string) string {
	s := ""
	for i, x := range a {
		if i > 0 {
			s += ","
		}
		s += x
	}
	return s
}

// statusFrom reads a peer's Status map.
func statusFrom(addr string, body map[string]any) PeerStatus {
	p := PeerStatus{Address: addr, Reachable: true}
	if s, ok := body["status"].(string); ok {
		p.State, _ = ParseState(s)
	}
	p.BrokerID, _ = body["brokerId"].(string)
	p.Membership.Epoch, _ = asUint(body["epoch"])
	p.Membership.Version, _ = asUint(body["membershipVersion"])
	p.Membership.Primary, _ = body["primary"].(string)
	if pos, ok := body["position"].(string); ok {
		p.Position, _ = ParsePosition(pos)
	}
	if l, ok := body["ready"].([]any); ok {
		for _, r := range l {
			if id, ok := r.(string); ok {
				p.Membership.Ready = append(p.Membership.Ready, id)
			}
		}
	}
	return p
}

// CheckPeers asks every other broker of ha-brokers-url for its status, in
// parallel, each within the timeout. Brokers that do not answer in time
// (down, partitioned or hung) are reported unreachable.
func (m *Module) CheckPeers(timeout time.Duration) []PeerStatus {
	var wg sync.WaitGroup
	out := make([]PeerStatus, len(m.cfg.Brokers))
	for i, addr := range m.cfg.Brokers {
		wg.Add(1)
		go func(i int, addr string) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(m.quit, timeout)
			defer cancel()
			body, err := m.request(ctx, addr, wire.OpRead, TypeHABroker, nil)
			if err != nil {
				out[i] = PeerStatus{Address: addr}
				return
			}
			out[i] = statusFrom(addr, body)
		}(i, addr)
	}
	wg.Wait()
	self := m.BrokerID()
	peers := out[:0]
	for _, p := range out {
		if p.BrokerID != self {
			peers = append(peers, p)
		}
	}
	return peers
}

// peerConnectTimeout bounds the TCP connect of a status check. A peer whose
// node crashed or is cut off never answers the SYN, and a promotion (the
// failover's critical path) should not wait for it; a live peer's kernel
// completes a connect within a millisecond on a LAN however busy the broker
// is, and the broker then has the whole timeout to answer (a hung one,
// SIGSTOPped, times out then). A lost SYN is resent only after a second,
// which no bound short of that would cover.
const peerConnectTimeout = 100 * time.Millisecond

// connectContext bounds a connect to addr by peerConnectTimeout, within
// ctx, when its host is an IP address. A host name is left ctx's time:
// its lookup may take longer than a SYN's answer, and Go tries the
// addresses it resolves to in turn.
func connectContext(ctx context.Context, addr string) (context.Context, context.CancelFunc) {
	if net.ParseIP(peerHost(addr)) != nil {
		return context.WithTimeout(ctx, peerConnectTimeout)
	}
	return context.WithCancel(ctx)
}

// request sends one management request to another broker over our own
// engine, with the HA credentials (any mechanism, SCRAM-SHA-256 included),
// as an administrator.
func (m *Module) request(ctx context.Context, addr, op, typ string, attrs map[string]any) (map[string]any, error) {
	mech, err := m.clientMechanism()
	if err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline()
	rq := &requester{op: op, typ: typ, attrs: attrs, done: make(chan struct{})}
	cfg := amqp.Config{
		ContainerID:      "qpid-ha-check-" + m.BrokerID()[:8] + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		SASLClient:       mech,
		HandshakeTimeout: time.Until(deadline),
		Properties:       types.Map{{Key: types.Symbol(amqpserver.AdminProperty), Value: true}},
	}
	dctx, cancel := connectContext(ctx, addr)
	dc, done, err := m.dial(dctx, addr, cfg, rq)
	cancel()
	if err != nil {
		return nil, err
	}
	dc.Inject(dc.Engine.Open)
	select {
	case <-rq.done:
	case <-ctx.Done():
		rq.fail(ctx.Err())
	}
	dc.Close(nil)
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	return rq.body, rq.err
}

// requester is a one-shot management request over an engine connection.
type requester struct {
	op, typ string
	attrs   map[string]any

	mu    sync.Mutex
	once  sync.Once
	done  chan struct{}
	body  map[string]any
	err   error
	reply *amqp.Link
	send  *amqp.Link
	sent  bool
}

func (r *requester) fail(err error) {
	r.once.Do(func() {
		r.mu.Lock()
		r.err = err
		r.mu.Unlock()
		close(r.done)
	})
}

func (r *requester) HandleEvent(c *driver.Conn, e amqp.Event) {
	eng := c.Engine
	switch e.Type {
	case amqp.EventConnectionOpen:
		s, _ := eng.Session()
		s.Begin()
		r.reply, _ = s.NewReceiver("reply")
		r.reply.Source = &types.Source{Dynamic: true}
		r.reply.Attach()
		r.send, _ = s.NewSender("request")
		r.send.Target = &types.Target{Address: wire.Address}
		r.send.Attach()
	case amqp.EventLinkAttach:
		if e.Link == r.reply {
			e.Link.Flow(1, false)
		}
		r.maybeSend()
	case amqp.EventLinkFlow:
		r.maybeSend()
	case amqp.EventDelivery:
		e.Delivery.Update(&types.Accepted{}, true)
		r.response(e.Delivery.Payload())
	case amqp.EventLinkDetach:
		if err := e.Link.RemoteError(); err != nil {
			r.fail(err)
		}
	case amqp.EventConnectionClose:
		if err := eng.RemoteError(); err != nil {
			r.fail(err)
		}
		eng.Close(nil)
	case amqp.EventTransportClosed:
		r.fail(errors.New("connection closed before the answer"))
	}
}

func (r *requester) Writable(*driver.Conn) {}

// maybeSend sends the request once the reply address and credit are known.
func (r *requester) maybeSend() {
	if r.sent || r.send == nil || r.send.Credit() == 0 || r.reply.RemoteSource() == nil || r.reply.RemoteSource().Address == "" {
		return
	}
	b, err := encodeRequest(r.op, r.typ, r.attrs, r.reply.RemoteSource().Address)
	if err != nil {
		r.fail(err)
		return
	}
	r.sent = true
	if _, err := r.send.Send([]byte("1"), b, true); err != nil {
		r.fail(err)
	}
}

func (r *requester) response(payload []byte) {
	m, err := message.Parse(payload)
	if err != nil {
		r.fail(err)
		return
	}
	props := m.ApplicationProperties()
	code, _ := props.Get(wire.PropStatusCode)
	desc, _ := props.Get(wire.PropStatusDescription)
	status, _ := toInt(code)
	if status < 200 || status >= 300 {
		r.fail(fmt.Errorf("%v", desc))
		return
	}
	body := map[string]any{}
	d := types.NewDecoder(m.Bare)
	for d.Len() > 0 {
		code, err := d.ReadDescriptor()
		if err != nil {
			break
		}
		v, err := d.Value()
		if err != nil {
			break
		}
		if code == types.DescriptorAMQPValue {
			if mp, ok := v.(types.Map); ok {
				for _, e := range mp {
					if k, ok := e.Key.(string); ok {
						body[k] = e.Value
					}
				}
			}
		}
	}
	r.once.Do(func() {
		r.mu.Lock()
		r.body = body
		r.mu.Unlock()
		close(r.done)
	})
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint64:
		return int64(x), true
	}
	return 0, false
}

// encodeRequest builds a management request message.
func encodeRequest(op, typ string, attrs map[string]any, replyTo string) ([]byte, error) {
	props := &types.Properties{MessageID: "1", To: wire.Address, ReplyTo: replyTo}
	b, err := props.Marshal(nil)
	if err != nil {
		return nil, err
	}
	app := types.Map{{Key: wire.PropOperation, Value: op}, {Key: wire.PropType, Value: typ}}
	b = types.AppendDescriptor(b, types.DescriptorApplicationProperties)
	if b, err = types.AppendValue(b, app); err != nil {
		return nil, err
	}
	body := types.Map{}
	for k, v := range attrs {
		body = append(body, types.MapEntry{Key: k, Value: v})
	}
	b = types.AppendDescriptor(b, types.DescriptorAMQPValue)
	return types.AppendValue(b, body)
}
