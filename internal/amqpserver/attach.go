package amqpserver

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/selector"
)

// Filters of the Apache Qpid family that bind a subscription to an exchange
// (sent by qpid::messaging, qpid-jms and proton users), by symbolic name and
// numeric descriptor.
var (
	filterDirect  = filterKind{"apache.org:legacy-amqp-direct-binding:string", 0x0000468C00000000}
	filterTopic   = filterKind{"apache.org:legacy-amqp-topic-binding:string", 0x0000468C00000001}
	filterHeaders = filterKind{"apache.org:legacy-amqp-headers-binding:map", 0x0000468C00000002}
	// A JMS message selector, on any receiver.
	filterSelector = filterKind{"apache.org:selector-filter:string", 0x0000468C00000004}
)

type filterKind struct {
	name types.Symbol
	code uint64
}

func (f filterKind) is(descriptor any) bool {
	switch d := descriptor.(type) {
	case types.Symbol:
		return d == f.name
	case uint64:
		return d == f.code
	}
	return false
}

// errorFor maps broker errors to AMQP conditions.
func errorFor(err error) *types.Error {
	cond := types.CondInternalError
	switch {
	case errors.Is(err, broker.ErrNotFound):
		cond = types.CondNotFound
	case errors.Is(err, broker.ErrExclusive):
		cond = types.CondResourceLocked
	case errors.Is(err, broker.ErrQueueDeleted):
		cond = types.CondResourceDeleted
	case errors.Is(err, broker.ErrQueueFull), errors.Is(err, broker.ErrStoreFull), errors.Is(err, broker.ErrQueueQuota),
		errors.Is(err, broker.ErrMemoryFull):
		cond = types.CondResourceLimitExceeded
	case errors.Is(err, broker.ErrExists), errors.Is(err, broker.ErrInUse), errors.Is(err, broker.ErrBuiltin):
		cond = types.CondPreconditionFailed
	default:
		var e *types.Error
		if errors.As(err, &e) {
			return e
		}
		cond = types.CondInvalidField // a bad argument in node properties
	}
	return types.NewError(cond, "%v", err)
}

// nodeArgs turns a terminus's node properties into broker arguments: how a
// client asks for a queue with arguments (qpid.replicate, qpid.max_count,
// durable, ...) when it is created on demand by the attach.
func nodeArgs(props types.Map) broker.Args {
	if len(props) == 0 {
		return nil
	}
	args := broker.Args{}
	for _, e := range props {
		switch k := e.Key.(type) {
		case types.Symbol:
			args[string(k)] = e.Value
		case string:
			args[k] = e.Value
		}
	}
	return args
}

func randomName(prefix string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func (c *conn) attachProducer(l *amqp.Link) {
	var t *types.Target
	switch target := l.RemoteTarget().(type) {
	case *types.Coordinator:
		c.attachCoordinator(l, target)
		return
	case *types.Target:
		t = target
	default:
		refuse(l, types.NewError(types.CondInvalidField, "a sender needs a target"))
		return
	}
	p := &producer{link: l}
	switch {
	case t.Dynamic:
		q, err := c.temporaryQueue(nodeArgs(t.DynamicNodeProperties), func(name string, s broker.QueueSettings) *types.Error {
			return c.authorizeDynamic(name, s, t.Capabilities, false)
		})
		if err != nil {
			refuse(l, errorFor(err))
			return
		}
		p.node, p.temporary = broker.Node{Queue: q}, q
		l.Target = &types.Target{Address: q.Name(), Dynamic: true}
	case t.Address == ManagementAddress && c.srv.cfg.Management != nil:
		p.management = true
	case t.Address == "":
		// The anonymous relay: each message goes where its "to" says.
		if denied := c.authorizeRelay(); denied != nil {
			refuse(l, denied)
			return
		}
	default:
		node, err := c.resolve(t.Address, nodeArgs(t.DynamicNodeProperties), t.Capabilities)
		if err == nil {
			if denied := c.authorizeIncoming(node); denied != nil {
				err = denied
			}
		}
		if err != nil {
			c.log.WithField("address", t.Address).WithError(err).Info("sender refused")
			refuse(l, errorFor(err))
			return
		}
		p.node = node
	}
	l.Context = p
	l.Attach()
	l.Flow(c.srv.cfg.CreditWindow, false)
}

// temporaryQueue creates a dynamic node: a queue private to this connection
// and deleted with its link (part 3.5.3 dynamic nodes). check, if not nil,
// decides (the ACL) whether the queue may be made with that name and
// settings.
func (c *conn) temporaryQueue(args broker.Args, check func(name string, s broker.QueueSettings) *types.Error) (*broker.Queue, error) {
	s, err := broker.ParseQueueArgs(args)
	if err != nil {
		return nil, err
	}
	s.Exclusive, s.AutoDelete, s.Owner = true, true, c.id
	name := randomName("TempQueue-")
	if check != nil {
		if denied := check(name, s); denied != nil {
			return nil, denied
		}
	}
	// Temporary queues count for nobody's max-queues-per-user (queues.go).
	q, _, err := c.srv.cfg.Broker.DeclareQueue(name, s)
	return q, err
}

func (c *conn) attachConsumer(l *amqp.Link) {
	src := l.RemoteSource()
	if src == nil {
		refuse(l, types.NewError(types.CondInvalidField, "a receiver needs a source"))
		return
	}
	var q *broker.Queue
	echo := &types.Source{Address: src.Address, Dynamic: src.Dynamic, DistributionMode: src.DistributionMode}
	opts, bad := consumerOptions(src, echo)
	if bad != nil {
		refuse(l, bad)
		return
	}
	switch {
	case src.Dynamic:
		var err error
		if q, err = c.temporaryQueue(nodeArgs(src.DynamicNodeProperties), func(name string, s broker.QueueSettings) *types.Error {
			return c.authorizeDynamic(name, s, src.Capabilities, true)
		}); err != nil {
			refuse(l, errorFor(err))
			return
		}
		echo.Address = q.Name()
	case src.Address == "":
		refuse(l, types.NewError(types.CondInvalidField, "a receiver must name a source address or ask for a dynamic one"))
		return
	default:
		node, err := c.resolve(src.Address, nodeArgs(src.DynamicNodeProperties), src.Capabilities)
		if err == nil {
			var denied *types.Error
			if node.Exchange != nil {
				denied = c.authorizeAccessExchange(node.Exchange)
			} else {
				denied = c.authorizeOutgoing(node.Queue)
			}
			if denied != nil {
				err = denied
			}
		}
		if err != nil {
			c.log.WithField("address", src.Address).WithError(err).Info("receiver refused")
			refuse(l, errorFor(err))
			return
		}
		q = node.Queue
		if node.Exchange != nil {
			if q, err = c.subscribe(l, node.Exchange, src, echo); err != nil {
				refuse(l, errorFor(err))
				return
			}
		}
	}
	sub, err := q.SubscribeWith(c.id, c.notify, opts)
	if err != nil {
		refuse(l, errorFor(err))
		return
	}
	// A browser's copies need no outcome: they go settled unless the
	// client insists on unsettled deliveries.
	preSettle := l.SndSettleMode == types.SenderSettleModeSettled ||
		(opts.Browse && l.SndSettleMode == types.SenderSettleModeMixed)
	cons := &consumer{link: l, sub: sub, preSettle: preSettle}
	l.Context = cons
	c.consumers[l] = cons
	c.log.WithFields(logrus.Fields{"address": src.Address, "queue": q.Name()}).Debug("receiver attached")
	l.Source = echo
	l.Attach()
	c.service(cons) // credit may have come with the attach
}

// consumerOptions reads a receiver's selector filter and distribution
// mode; a selector that does not parse refuses the link with why.
func consumerOptions(src, echo *types.Source) (broker.SubscribeOptions, *types.Error) {
	opts := broker.SubscribeOptions{Browse: src.DistributionMode == "copy"}
	for _, f := range src.Filter {
		d, ok := f.Value.(types.Described)
		if !ok || !filterSelector.is(d.Descriptor) {
			continue
		}
		expr, ok := d.Value.(string)
		if !ok {
			return opts, types.NewError(types.CondInvalidField, "selector filter %v: the expression must be a string", f.Key)
		}
		sel, err := selector.Parse(expr)
		if err != nil {
			return opts, types.NewError(types.CondInvalidField, "selector filter %v: %v", f.Key, err)
		}
		opts.Filter = func(m *message.Message) bool {
			return sel.Match(selector.FromAMQP(&m.Header, m.Properties(), m.ApplicationProperties()))
		}
		echo.Filter = append(echo.Filter, f) // in force (part 3.5.8)
	}
	return opts, nil
}

// subscribe makes the private queue of a receiver on an exchange, bound by
// the filters the client sent, or by a match-all binding without them.
// Filters understood are echoed back (part 3.5.8: the receiver learns which
// filters are in force).
func (c *conn) subscribe(l *amqp.Link, e *broker.Exchange, src *types.Source, echo *types.Source) (*broker.Queue, error) {
	b := c.srv.cfg.Broker
	type binding struct {
		key  string
		args broker.Args
	}
	var bindings []binding
	for _, f := range src.Filter {
		d, ok := f.Value.(types.Described)
		if !ok {
			continue
		}
		switch {
		case filterDirect.is(d.Descriptor), filterTopic.is(d.Descriptor):
			key, ok := d.Value.(string)
			if !ok {
				return nil, fmt.Errorf("binding filter %v: the key must be a string", f.Key)
			}
			bindings = append(bindings, binding{key: key})
		case filterHeaders.is(d.Descriptor):
			m, ok := d.Value.(types.Map)
			if !ok {
				return nil, fmt.Errorf("headers binding filter %v: the value must be a map", f.Key)
			}
			bindings = append(bindings, binding{args: nodeArgs(m)})
		default:
			continue
		}
		echo.Filter = append(echo.Filter, f)
	}
	if len(bindings) == 0 {
		switch e.Type() {
		case broker.Topic:
			bindings = append(bindings, binding{key: "#"})
		case broker.Headers:
			bindings = append(bindings, binding{args: broker.Args{"x-match": "all"}}) // all of nothing: every message
		default:
			bindings = append(bindings, binding{key: ""})
		}
	}
	keys := make([]string, len(bindings))
	for i, bd := range bindings {
		keys[i] = bd.key
	}
	q, err := c.temporaryQueue(nodeArgs(src.DynamicNodeProperties), func(name string, s broker.QueueSettings) *types.Error {
		return c.authorizeSubscription(e, name, s, keys)
	})
	if err != nil {
		return nil, err
	}
	for _, bd := range bindings {
		if _, err := b.Bind(e.Name(), q.Name(), bd.key, bd.args); err != nil {
			_ = b.DeleteQueue(q.Name(), false, false)
			return nil, err
		}
	}
	return q, nil
}
