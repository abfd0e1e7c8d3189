package amqp

import (
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// onTransfer assembles an incoming delivery from its transfer frames and
// hands the whole message to the application.
func (l *Link) onTransfer(t *types.Transfer, payload []byte) {
	if l.local == stateClosed {
		return // in flight when we detached
	}
	s := l.session
	d := l.incoming
	if d == nil {
		if !t.DeliveryID.Set {
			s.conn.fail(types.NewError(types.CondInvalidField, "first transfer of a delivery without delivery-id"))
			return
		}
		if l.credit == 0 {
			l.Detach(types.NewError(types.CondLinkTransferLimitExceeded, "transfer without link credit"))
			return
		}
		l.credit--
		l.deliveryCount++
		d = &Delivery{link: l, id: t.DeliveryID.V, tag: t.DeliveryTag, incoming: true}
		l.incoming = d
	} else if t.DeliveryID.Set && t.DeliveryID.V != d.id {
		s.conn.fail(types.NewError(types.CondInvalidField, "delivery-id %d in the middle of delivery %d", t.DeliveryID.V, d.id))
		return
	}
	if t.Settled {
		d.remoteSettled = true
	}
	if t.State != nil {
		// A transactional transfer names its transaction here (part 4.4.1).
		d.remoteState = t.State
	}
	if t.Aborted {
		l.incoming = nil // the sender gave up on it: nothing to deliver
		return
	}
	if limit := l.MaxMessageSize; limit > 0 && uint64(len(d.payload)+len(payload)) > limit {
		l.incoming = nil
		l.Detach(types.NewError(types.CondLinkMessageSizeExceeded, "message larger than %d bytes", limit))
		return
	}
	if limit := s.conn.cfg.MaxMessageSize; limit > 0 && uint64(len(d.payload)+len(payload)) > limit {
		l.incoming = nil
		l.Detach(types.NewError(types.CondLinkMessageSizeExceeded, "message larger than %d bytes", limit))
		return
	}
	if d.payload == nil && !t.More {
		d.payload = append(make([]byte, 0, len(payload)), payload...)
	} else {
		d.payload = append(d.payload, payload...)
	}
	if t.More {
		return
	}
	l.incoming = nil
	if !d.remoteSettled {
		s.unsettledIn[d.id] = d
		l.unsettled++
	}
	s.emit(Event{Type: EventDelivery, Session: s, Link: l, Delivery: d})
}
