package amqp

import (
	"errors"
	"fmt"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Link is one end of an AMQP link (part 2.6): a sender or a receiver, with
// its credit-based flow control.
//
// Before Attach, the application sets the local terminus and settle modes
// in the exported fields; after the peer's attach they hold its proposal
// until changed.
type Link struct {
	session      *Session
	handle       uint32
	name         string
	role         types.Role
	local        state
	remote       state
	localErr     *types.Error
	remoteErr    *types.Error
	remoteClosed bool
	remoteAttach *types.Attach

	// Local attach fields.
	Source              *types.Source
	Target              types.TargetTerminus
	SndSettleMode       types.SenderSettleMode
	RcvSettleMode       types.ReceiverSettleMode
	MaxMessageSize      uint64
	OfferedCapabilities []types.Symbol
	DesiredCapabilities []types.Symbol
	Properties          types.Map

	deliveryCount uint32
	credit        uint32
	available     uint32
	drain         bool
	incoming      *Delivery // a multi-frame delivery being received
	unsettled     int       // deliveries of this link in the session's maps

	// Context is for the application.
	Context any
}

func newLink(s *Session, handle uint32, name string, role types.Role) *Link {
	return &Link{session: s, handle: handle, name: name, role: role, SndSettleMode: types.SenderSettleModeMixed}
}

// maxTagSize is the longest delivery-tag (part 2.8.7); transferSize relies on it.
const maxTagSize = 32

// ErrNoCredit is returned by Send on a link without credit.
var ErrNoCredit = errors.New("amqp: no link credit")

// Name is the link name.
func (l *Link) Name() string { return l.name }

// Session returns the link's session.
func (l *Link) Session() *Session { return l.session }

// IsSender reports whether this end sends messages.
func (l *Link) IsSender() bool { return l.role == types.RoleSender }

// RemoteAttach is the peer's attach, nil before it arrives.
func (l *Link) RemoteAttach() *types.Attach { return l.remoteAttach }

// RemoteSource is the source the peer proposed, if it is a plain source.
func (l *Link) RemoteSource() *types.Source {
	if l.remoteAttach == nil {
		return nil
	}
	s, _ := l.remoteAttach.Source.(*types.Source)
	return s
}

// RemoteTarget is the target the peer proposed: *types.Target, or
// *types.Coordinator for a transaction coordinator link.
func (l *Link) RemoteTarget() types.TargetTerminus {
	if l.remoteAttach == nil {
		return nil
	}
	t, _ := l.remoteAttach.Target.(types.TargetTerminus)
	return t
}

// RemoteError is the error the peer detached the link with.
func (l *Link) RemoteError() *types.Error { return l.remoteErr }

// RemoteClosed reports whether the peer closed the link (detach with
// closed=true) rather than suspending it.
func (l *Link) RemoteClosed() bool { return l.remoteClosed }

// Credit is the link credit: for a sender what it may still send, for a
// receiver what it granted and the sender has not used yet.
func (l *Link) Credit() uint32 { return l.credit }

// Drain reports whether the peer asked a sender to use or give up its credit.
func (l *Link) Drain() bool { return l.drain }

// DeliveryCount is the link's delivery-count.
func (l *Link) DeliveryCount() uint32 { return l.deliveryCount }

// Unsettled is the number of this link's deliveries not yet settled.
func (l *Link) Unsettled() int { return l.unsettled }

// Attach sends attach, with the terminus fields set on the link.
func (l *Link) Attach() {
	if l.local != stateUninit {
		return
	}
	l.local = stateActive
	a := &types.Attach{
		Name:                l.name,
		Handle:              l.handle,
		Role:                l.role,
		SndSettleMode:       l.SndSettleMode,
		RcvSettleMode:       l.RcvSettleMode,
		OfferedCapabilities: l.OfferedCapabilities,
		DesiredCapabilities: l.DesiredCapabilities,
		Properties:          l.Properties,
	}
	if l.Source != nil {
		a.Source = l.Source
	}
	if l.Target != nil {
		a.Target = l.Target
	}
	if l.MaxMessageSize > 0 {
		a.MaxMessageSize = types.Some(l.MaxMessageSize)
	}
	if l.role == types.RoleSender {
		a.InitialDeliveryCount = types.Some(l.deliveryCount)
	}
	l.session.conn.writeFrame(l.session.channel, a, nil)
}

// Detach closes the link (detach with closed=true) with an optional error.
func (l *Link) Detach(e *types.Error) {
	if l.local == stateClosed {
		return
	}
	if l.local == stateUninit {
		l.Attach() // a refusal is an attach followed by a detach
	}
	l.local = stateClosed
	l.localErr = e
	s := l.session
	l.dropBlocked()
	if s.local == stateActive && s.remote == stateActive {
		s.flushDispositions()
		s.conn.writeFrame(s.channel, &types.Detach{Handle: l.handle, Closed: true, Error: e}, nil)
	}
	if l.remote == stateClosed {
		l.free()
	}
}

// dropBlocked forgets transfer frames of this link still waiting for the
// session window: the link is gone, the peer will not want them.
func (l *Link) dropBlocked() {
	s := l.session
	n := 0
	for i, bl := range s.blockedLinks {
		if bl != l {
			s.blocked[n], s.blockedLinks[n] = s.blocked[i], bl
			n++
		}
	}
	clear(s.blocked[n:])
	clear(s.blockedLinks[n:])
	s.blocked, s.blockedLinks = s.blocked[:n], s.blockedLinks[:n]
}

// free releases the handle and the link's unsettled deliveries once both
// ends have detached.
func (l *Link) free() {
	s := l.session
	delete(s.links, l.handle)
	if l.unsettled == 0 {
		return
	}
	for id, d := range s.unsettledOut {
		if d.link == l {
			delete(s.unsettledOut, id)
		}
	}
	for id, d := range s.unsettledIn {
		if d.link == l {
			delete(s.unsettledIn, id)
		}
	}
	l.unsettled = 0
}

func (l *Link) onAttach(a *types.Attach) {
	l.remoteAttach = a
	l.remote = stateActive
	if l.local == stateUninit {
		// Start from the peer's proposal; the application may change it.
		l.Source, _ = a.Source.(*types.Source)
		l.Target, _ = a.Target.(types.TargetTerminus)
		l.SndSettleMode = a.SndSettleMode
		l.RcvSettleMode = a.RcvSettleMode
	}
	if l.role == types.RoleReceiver {
		l.deliveryCount = a.InitialDeliveryCount.Get(0)
	}
	l.session.emit(Event{Type: EventLinkAttach, Session: l.session, Link: l})
}

func (l *Link) onDetach(d *types.Detach) {
	l.remote = stateClosed
	l.remoteErr = d.Error
	l.remoteClosed = d.Closed
	l.incoming = nil
	l.session.emit(Event{Type: EventLinkDetach, Session: l.session, Link: l})
	if l.local == stateClosed {
		l.free()
	}
}

// gone: the session or connection ended under the link.
func (l *Link) gone() {
	if l.remote == stateClosed {
		return
	}
	l.remote = stateClosed
	l.incoming = nil
	l.session.emit(Event{Type: EventLinkDetach, Session: l.session, Link: l})
}

func (l *Link) onFlow(f *types.Flow) {
	if l.role == types.RoleSender {
		dc := f.DeliveryCount.Get(l.deliveryCount)
		if f.LinkCredit.Set {
			l.credit = dc + f.LinkCredit.V - l.deliveryCount
		}
		l.drain = f.Drain
	} else {
		// The sender's delivery-count moves past ours when it drains.
		if f.DeliveryCount.Set {
			if adv := f.DeliveryCount.V - l.deliveryCount; adv <= l.credit {
				l.credit -= adv
				l.deliveryCount = f.DeliveryCount.V
			}
		}
		l.available = f.Available.Get(l.available)
		if l.credit == 0 {
			l.drain = false
		}
	}
	// Also before our attach answers: peers pipeline attach and flow.
	if l.local != stateClosed {
		l.session.emit(Event{Type: EventLinkFlow, Session: l.session, Link: l})
	}
	if f.Echo && l.local == stateActive { // no flow on a handle we detached
		l.session.sendFlow(l)
	}
}

// Flow grants credit on a receiving link; drain asks the sender to use it
// all or give it back.
func (l *Link) Flow(credit uint32, drain bool) {
	if l.role != types.RoleReceiver || l.local != stateActive {
		return
	}
	l.credit = credit
	l.drain = drain
	l.session.sendFlow(l)
}

// SetAvailable tells a receiver how many messages a sender could send.
func (l *Link) SetAvailable(n uint32) { l.available = n }

// Drained completes a drain on a sending link: the unused credit (possibly
// none) is given back by advancing the delivery-count, and the peer is told
// with a flow carrying drain=true, once per drain request.
func (l *Link) Drained() {
	if l.role != types.RoleSender || !l.drain || l.local != stateActive {
		return
	}
	l.deliveryCount += l.credit
	l.credit = 0
	l.session.sendFlow(l)
	l.drain = false
}

// Send transfers one message (its encoded sections) on a sending link,
// split into frames that fit the peer's max-frame-size. A settled delivery
// is sent pre-settled (at-most-once).
func (l *Link) Send(tag, payload []byte, settled bool) (*Delivery, error) {
	if l.role != types.RoleSender || l.local != stateActive || l.remote != stateActive {
		return nil, errors.New("amqp: link is not an attached sender")
	}
	if len(tag) > maxTagSize {
		return nil, fmt.Errorf("amqp: delivery-tag of %d bytes, more than %d", len(tag), maxTagSize)
	}
	if l.credit == 0 {
		return nil, ErrNoCredit
	}
	s := l.session
	c := s.conn
	d := &Delivery{link: l, id: s.nextDeliveryID, tag: tag, settled: settled, remoteSettled: settled}
	s.nextDeliveryID++
	l.credit--
	l.deliveryCount++
	if !settled {
		s.unsettledOut[d.id] = d
		l.unsettled++
	}
	t := &c.transfer
	*t = types.Transfer{
		Handle:        l.handle,
		DeliveryID:    types.Some(d.id),
		DeliveryTag:   tag,
		MessageFormat: types.Some(uint32(0)),
		Settled:       settled,
	}
	for first := true; first || len(payload) > 0; first = false {
		// The performative's size decides how much payload fits.
		room := int(c.maxFrameOut) - frame.HeaderSize - transferSize(t) - 1
		chunk := payload
		if len(chunk) > room {
			chunk = chunk[:room]
			t.More = true
		} else {
			t.More = false
		}
		s.sendTransfer(l, t, chunk)
		payload = payload[len(chunk):]
		// Continuation frames repeat only the handle.
		*t = types.Transfer{Handle: l.handle, Settled: settled}
	}
	return d, nil
}

// transferSize bounds the encoded size of a transfer performative.
func transferSize(t *types.Transfer) int {
	// descriptor(3) + list32 header(9) + handle(5) + id(5) + tag(5+len)
	// + format(5) + four booleans + settle mode(2) + state? (none here)
	return 3 + 9 + 5 + 5 + 5 + len(t.DeliveryTag) + 5 + 8 + 2
}
