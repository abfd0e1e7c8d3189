package amqp

import (
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Delivery is one message transfer on a link, from the first frame to
// settlement at both ends.
type Delivery struct {
	link          *Link
	id            uint32
	tag           []byte
	payload       []byte
	incoming      bool
	settled       bool
	remoteSettled bool
	state         types.DeliveryState
	remoteState   any

	// Context is for the application.
	Context any
}

// Link is the delivery's link.
func (d *Delivery) Link() *Link { return d.link }

// ID is the delivery-id.
func (d *Delivery) ID() uint32 { return d.id }

// Tag is the delivery-tag.
func (d *Delivery) Tag() []byte { return d.tag }

// Payload is the message as received: its encoded sections.
func (d *Delivery) Payload() []byte { return d.payload }

// Settled reports whether this end settled the delivery.
func (d *Delivery) Settled() bool { return d.settled }

// RemoteSettled reports whether the peer settled the delivery.
func (d *Delivery) RemoteSettled() bool { return d.remoteSettled }

// RemoteState is the state the peer last gave (an outcome such as
// *types.Accepted, or *types.TransactionalState), nil if none. For a
// received delivery it starts as the transfer's state: a transactional
// transfer carries *types.TransactionalState with its txn-id.
func (d *Delivery) RemoteState() any { return d.remoteState }

// State is this end's last state for the delivery.
func (d *Delivery) State() types.DeliveryState { return d.state }

// Update sets this end's state for the delivery and settles it if settle:
// for a received message the outcome (accepted, released, ...), for a sent
// one the settlement after the receiver's outcome. Nothing is sent for a
// delivery the peer has already settled.
func (d *Delivery) Update(st types.DeliveryState, settle bool) {
	if d.settled {
		return
	}
	s := d.link.session
	if settle {
		d.settled = true
		unsettled := s.unsettledOut
		if d.incoming {
			unsettled = s.unsettledIn
		}
		// Not there when the peer settled it or its link was freed.
		if unsettled[d.id] == d {
			delete(unsettled, d.id)
			d.link.unsettled--
		}
	}
	d.state = st
	if d.remoteSettled || s.local != stateActive {
		return
	}
	role := types.RoleSender
	if d.incoming {
		role = types.RoleReceiver
	}
	s.queueDisposition(role, d.id, settle, st)
}

// Settle settles the delivery keeping its last state.
func (d *Delivery) Settle() { d.Update(d.state, true) }
