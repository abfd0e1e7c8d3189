package amqp

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// outgoingWindow is what we advertise: we never limit our own sending by it.
const outgoingWindow = 1<<31 - 1

// Session is one AMQP session (part 2.5.5): it numbers transfers, keeps the
// session flow-control windows and the unsettled deliveries, and maps handles
// to links.
type Session struct {
	conn          *Connection
	channel       uint16 // local
	remoteChannel uint16
	local, remote state
	localErr      *types.Error
	remoteErr     *types.Error

	// Outgoing transfers.
	nextOutgoingID       uint32 // transfer-number of our next transfer frame
	remoteIncomingWindow uint32 // frames the peer still accepts
	nextDeliveryID       uint32
	blocked              [][]byte // transfer frames waiting for the peer's window
	blockedLinks         []*Link  // the link of each blocked frame

	// Incoming transfers.
	nextIncomingID  uint32
	incomingWindow  uint32 // what we advertise
	incomingRemain  uint32 // frames the peer may still send
	remoteHandleMax uint32
	links           map[uint32]*Link // by local handle
	remoteLinks     map[uint32]*Link // by remote handle
	unsettledOut    map[uint32]*Delivery
	unsettledIn     map[uint32]*Delivery
	dispositions    []disposition // queued, sent coalesced by TakeOutput

	// Context is for the application.
	Context any
}

type disposition struct {
	role    types.Role
	id      uint32
	settled bool
	state   types.DeliveryState
}

func newSession(c *Connection, channel uint16) *Session {
	return &Session{
		conn:           c,
		channel:        channel,
		incomingWindow: c.cfg.SessionWindow,
		incomingRemain: c.cfg.SessionWindow,
		links:          map[uint32]*Link{},
		remoteLinks:    map[uint32]*Link{},
		unsettledOut:   map[uint32]*Delivery{},
		unsettledIn:    map[uint32]*Delivery{},
	}
}

// UnsettledOut is the number of deliveries sent on the session that are
// not settled yet.
func (s *Session) UnsettledOut() int { return len(s.unsettledOut) }

// Connection returns the session's connection.
func (s *Session) Connection() *Connection { return s.conn }

// RemoteError is the error the peer ended the session with.
func (s *Session) RemoteError() *types.Error { return s.remoteErr }

// Begin sends begin: to start a session, or to answer the peer's.
func (s *Session) Begin() {
	if s.local != stateUninit {
		return
	}
	s.local = stateActive
	b := &types.Begin{
		NextOutgoingID: s.nextOutgoingID,
		IncomingWindow: s.incomingWindow,
		OutgoingWindow: outgoingWindow,
		HandleMax:      s.conn.cfg.HandleMax,
	}
	if s.remote != stateUninit {
		b.RemoteChannel = types.Some(s.remoteChannel)
	}
	s.conn.writeFrame(s.channel, b, nil)
}

// End sends end with an optional error.
func (s *Session) End(e *types.Error) {
	if s.local == stateClosed {
		return
	}
	if s.local == stateUninit {
		s.Begin()
	}
	s.local = stateClosed
	s.localErr = e
	if s.conn.remote == stateClosed {
		// The peer closed the connection: its close is answered with a
		// close alone (part 2.4.3), not with an end per session first.
		s.free()
		return
	}
	s.flushDispositions()
	s.conn.writeFrame(s.channel, &types.End{Error: e}, nil)
	// Transfers still waiting for the peer's window may not follow the end.
	clear(s.blocked)
	clear(s.blockedLinks)
	s.blocked, s.blockedLinks = s.blocked[:0], s.blockedLinks[:0]
	if s.remote == stateClosed {
		s.free()
	} else {
		// Links die with the session; the peer answers end, not detach.
		for _, l := range s.links {
			l.local = stateClosed
		}
	}
}

// fail ends the session because of a session error by the peer.
func (s *Session) fail(e *types.Error) {
	if s.local != stateClosed {
		s.End(e)
	}
}

func (s *Session) free() {
	delete(s.conn.sessions, s.channel)
	if s.conn.remoteSessions[s.remoteChannel] == s {
		delete(s.conn.remoteSessions, s.remoteChannel)
	}
}

// gone is called when the session ends with the connection (or the peer's
// end): every attached link gets its detach event, then the session its end.
func (s *Session) gone() {
	if s.remote == stateClosed {
		return
	}
	s.remote = stateClosed
	for _, l := range s.links {
		l.gone()
	}
	s.emit(Event{Type: EventSessionEnd, Session: s})
}

func (s *Session) emit(e Event) { s.conn.emit(e) }

func (s *Session) onBegin(remoteChannel uint16, b *types.Begin) {
	s.remoteChannel = remoteChannel
	s.remote = stateActive
	s.nextIncomingID = b.NextOutgoingID
	s.remoteIncomingWindow = b.IncomingWindow
	s.remoteHandleMax = b.HandleMax
	s.emit(Event{Type: EventSessionBegin, Session: s})
}

// onFrame handles a frame for this session (not begin).
func (s *Session) onFrame(f frame.Frame) {
	if s.remote == stateClosed {
		return
	}
	if s.local == stateClosed {
		// We sent end: what the peer sent before it saw it is discarded,
		// as nothing may follow our end on this channel (part 2.5.5).
		if e, ok := f.Body.(*types.End); ok {
			s.onEnd(e)
		}
		return
	}
	switch body := f.Body.(type) {
	case *types.End:
		s.onEnd(body)
	case *types.Attach:
		s.onAttach(body)
	case *types.Flow:
		s.onFlow(body)
	case *types.Transfer:
		s.onTransfer(body, f.Payload)
	case *types.Disposition:
		s.onDisposition(body)
	case *types.Detach:
		s.onDetach(body)
	default:
		s.conn.fail(types.NewError(types.CondConnectionFramingError, "unexpected %s on a session", name(f.Body)))
	}
}

func (s *Session) onEnd(e *types.End) {
	s.remoteErr = e.Error
	delete(s.conn.remoteSessions, s.remoteChannel)
	s.gone()
	if s.local == stateClosed {
		s.free()
	}
}

// Attach finds or creates a link: the answer to a peer's attach arrives at
// an existing link, a new attach makes one.
func (s *Session) onAttach(a *types.Attach) {
	if a.Handle > s.conn.cfg.HandleMax {
		s.conn.fail(types.NewError(types.CondConnectionFramingError, "attach with handle %d above handle-max %d", a.Handle, s.conn.cfg.HandleMax))
		return
	}
	if _, used := s.remoteLinks[a.Handle]; used {
		s.fail(types.NewError(types.CondSessionHandleInUse, "handle %d is in use", a.Handle))
		return
	}
	var l *Link
	for _, cand := range s.links {
		// Our attach being answered: same name, opposite role, not yet attached.
		if cand.name == a.Name && cand.remote == stateUninit && cand.local == stateActive && cand.role != a.Role {
			l = cand
			break
		}
	}
	if l == nil {
		h, ok := s.freeHandle()
		if !ok {
			s.fail(types.NewError(types.CondResourceLimitExceeded, "no free link handle"))
			return
		}
		role := types.RoleSender
		if a.Role == types.RoleSender {
			role = types.RoleReceiver
		}
		l = newLink(s, h, a.Name, role)
		s.links[h] = l
	}
	s.remoteLinks[a.Handle] = l
	l.onAttach(a)
}

func (s *Session) freeHandle() (uint32, bool) {
	limit := s.conn.cfg.HandleMax
	if s.remote != stateUninit {
		limit = min(limit, s.remoteHandleMax)
	}
	for i := uint32(0); i <= limit && i <= uint32(len(s.links)); i++ {
		if _, used := s.links[i]; !used {
			return i, true
		}
	}
	return 0, false
}

// NewSender returns a local sending link for a client to attach.
func (s *Session) NewSender(linkName string) (*Link, error) {
	return s.newLocalLink(linkName, types.RoleSender)
}

// NewReceiver returns a local receiving link for a client to attach.
func (s *Session) NewReceiver(linkName string) (*Link, error) {
	return s.newLocalLink(linkName, types.RoleReceiver)
}

func (s *Session) newLocalLink(linkName string, role types.Role) (*Link, error) {
	h, ok := s.freeHandle()
	if !ok {
		return nil, fmt.Errorf("amqp: no free link handle")
	}
	l := newLink(s, h, linkName, role)
	s.links[h] = l
	return l, nil
}

func (s *Session) link(handle uint32, what string) *Link {
	l := s.remoteLinks[handle]
	if l == nil {
		s.fail(types.NewError(types.CondSessionUnattachedHandle, "%s for handle %d, which is not attached", what, handle))
	}
	return l
}

func (s *Session) onDetach(d *types.Detach) {
	l := s.link(d.Handle, "detach")
	if l == nil {
		return
	}
	delete(s.remoteLinks, d.Handle)
	l.onDetach(d)
}

func (s *Session) onFlow(f *types.Flow) {
	// How many more frames may we send? next-incoming-id is absent only
	// before our begin reached the peer: then it is our initial id, 0.
	s.remoteIncomingWindow = f.NextIncomingID.Get(0) + f.IncomingWindow - s.nextOutgoingID
	if f.Handle.Set {
		l := s.link(f.Handle.V, "flow")
		if l == nil {
			return
		}
		l.onFlow(f)
	} else if f.Echo {
		s.sendFlow(nil)
	}
	s.unblock()
}

// sendFlow sends the session's flow state, with a link's if l != nil.
func (s *Session) sendFlow(l *Link) {
	if s.local != stateActive || s.remote != stateActive {
		return
	}
	f := &types.Flow{
		NextIncomingID: types.Some(s.nextIncomingID),
		IncomingWindow: s.incomingRemain,
		NextOutgoingID: s.nextOutgoingID,
		OutgoingWindow: outgoingWindow,
	}
	if l != nil {
		f.Handle = types.Some(l.handle)
		f.DeliveryCount = types.Some(l.deliveryCount)
		f.LinkCredit = types.Some(l.credit)
		f.Drain = l.drain
		if l.role == types.RoleSender {
			f.Available = types.Some(l.available)
		}
	}
	s.conn.writeFrame(s.channel, f, nil)
}

// onTransfer accounts one incoming transfer frame against the session window
// and hands it to its link.
func (s *Session) onTransfer(t *types.Transfer, payload []byte) {
	if s.incomingRemain == 0 {
		s.fail(types.NewError(types.CondSessionWindowViolation, "transfer beyond the incoming window of %d", s.incomingWindow))
		return
	}
	s.incomingRemain--
	s.nextIncomingID++
	l := s.link(t.Handle, "transfer")
	if l == nil {
		return
	}
	if l.role != types.RoleReceiver {
		s.fail(types.NewError(types.CondNotAllowed, "transfer on handle %d, on which the peer receives", t.Handle))
		return
	}
	l.onTransfer(t, payload)
}

// windowLow reports that half of the incoming window is used.
func (s *Session) windowLow() bool {
	return s.local == stateActive && s.remote == stateActive && s.incomingRemain <= s.incomingWindow/2
}

// reopenWindow advertises the whole incoming window again once half of it
// is used: deliveries are handed to the application at once, so the window
// only paces frames, credit bounds memory. It runs when output is taken, not
// as each transfer arrives: a window reopened by a flow the peer cannot have
// seen yet would let a peer that ignores the window go unnoticed.
func (s *Session) reopenWindow() {
	if s.windowLow() {
		s.incomingRemain = s.incomingWindow
		s.sendFlow(nil)
	}
}

// onDisposition applies the peer's disposition to a range of deliveries.
func (s *Session) onDisposition(d *types.Disposition) {
	last := d.Last.Get(d.First)
	// The peer as receiver speaks of what we sent, as sender of what we received.
	deliveries := s.unsettledOut
	if d.Role == types.RoleSender {
		deliveries = s.unsettledIn
	}
	apply := func(id uint32, dl *Delivery) {
		dl.remoteState = d.State
		if d.Settled {
			dl.remoteSettled = true
			delete(deliveries, id)
			dl.link.unsettled--
		}
		s.emit(Event{Type: EventDisposition, Session: s, Link: dl.link, Delivery: dl})
	}
	// Walk whichever is smaller: the range (as a hostile peer may send one of
	// 2^32 ids) or the unsettled map; ids compare as RFC 1982 serial numbers.
	if span := last - d.First; span < uint32(len(deliveries)) {
		for id := d.First; ; id++ {
			if dl, ok := deliveries[id]; ok {
				apply(id, dl)
			}
			if id == last {
				break
			}
		}
		return
	}
	var hits []uint32
	for id := range deliveries {
		if id-d.First <= last-d.First {
			hits = append(hits, id)
		}
	}
	sortSerial(hits, d.First)
	for _, id := range hits {
		apply(id, deliveries[id])
	}
}

// sortSerial sorts ids in serial order from base; there may be as many as
// the peer has unsettled deliveries, so no quadratic sort.
func sortSerial(ids []uint32, base uint32) {
	slices.SortFunc(ids, func(a, b uint32) int { return cmp.Compare(a-base, b-base) })
}

// queueDisposition records a local state change, sent by flushDispositions.
func (s *Session) queueDisposition(role types.Role, id uint32, settled bool, st types.DeliveryState) {
	s.dispositions = append(s.dispositions, disposition{role, id, settled, st})
}

// flushDispositions sends queued dispositions, one frame per run of
// consecutive ids with the same role, settlement and outcome.
func (s *Session) flushDispositions() {
	q := s.dispositions
	if len(q) == 0 {
		return
	}
	s.dispositions = q[:0]
	if s.local != stateActive || s.conn.local == stateClosed && s.conn.phase == phaseDone {
		return
	}
	for i := 0; i < len(q); {
		j := i + 1
		for j < len(q) && q[j].id == q[j-1].id+1 && q[j].role == q[i].role &&
			q[j].settled == q[i].settled && sameOutcome(q[j].state, q[i].state) {
			j++
		}
		d := &types.Disposition{Role: q[i].role, First: q[i].id, Settled: q[i].settled, State: q[i].state}
		if j-i > 1 {
			d.Last = types.Some(q[j-1].id)
		}
		s.conn.writeFrame(s.channel, d, nil)
		i = j
	}
	clear(q)
}

// sameOutcome reports whether two states encode identically; only the
// field-less outcomes are merged, which covers the common cases.
func sameOutcome(a, b types.DeliveryState) bool {
	switch a.(type) {
	case nil:
		return b == nil
	case *types.Accepted:
		_, ok := b.(*types.Accepted)
		return ok
	case *types.Released:
		_, ok := b.(*types.Released)
		return ok
	}
	return false
}

// sendTransfer writes a transfer frame, or holds it while the peer's
// incoming window is closed.
func (s *Session) sendTransfer(l *Link, t *types.Transfer, payload []byte) {
	c := s.conn
	if c.closeSent {
		return // nothing may follow our close
	}
	if c.cfg.Trace != nil {
		c.cfg.Trace(true, s.channel, t, len(payload))
	}
	if s.remoteIncomingWindow > 0 && len(s.blocked) == 0 && c.phase == phaseAMQP {
		s.remoteIncomingWindow--
		s.nextOutgoingID++
		c.out = c.appendFrame(c.out, frame.TypeAMQP, s.channel, t, payload)
		return
	}
	s.blocked = append(s.blocked, c.appendFrame(nil, frame.TypeAMQP, s.channel, t, payload))
	s.blockedLinks = append(s.blockedLinks, l)
}

// unblock sends held transfer frames the peer's window now admits.
func (s *Session) unblock() {
	n := 0
	for n < len(s.blocked) && s.remoteIncomingWindow > 0 {
		s.conn.out = append(s.conn.out, s.blocked[n]...)
		s.remoteIncomingWindow--
		s.nextOutgoingID++
		n++
	}
	if n > 0 {
		s.blocked = append(s.blocked[:0], s.blocked[n:]...)
		s.blockedLinks = append(s.blockedLinks[:0], s.blockedLinks[n:]...)
	}
}

// Blocked is the number of transfer frames waiting for the peer's window.
func (s *Session) Blocked() int { return len(s.blocked) }
