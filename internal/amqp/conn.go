// Package amqp is an IO-free AMQP 1.0 protocol engine (OASIS AMQP 1.0 parts
// 2 and 5): protocol header exchange, SASL, and the connection, session and
// link state machines with flow control, deliveries and heartbeats.
//
// Like the proton engine and etcd's raft, it does no IO and starts no
// goroutines: bytes go in with Feed, bytes come out with TakeOutput, changes
// the application must handle come out of Next, and time enters only through
// the injected clock (Config.Now) when Tick is called. A thin driver
// (package driver) moves bytes between a net.Conn and the engine.
//
// A Connection and everything reachable from it must be used from one
// goroutine at a time.
package amqp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxFrameSize  = 65536
	DefaultChannelMax    = 255
	DefaultHandleMax     = 1023
	DefaultSessionWindow = 8192
)

// MinIdleTimeout is the smallest peer idle-time-out honoured: heartbeats go
// out at most every MinIdleTimeout/2.
const MinIdleTimeout = 100 * time.Millisecond

// Config sets up a connection engine.
type Config struct {
	ContainerID string
	// Hostname is sent in open and sasl-init by a client.
	Hostname string
	// MaxFrameSize is the largest frame this end accepts.
	MaxFrameSize uint32
	// ChannelMax is the highest channel number this end accepts.
	ChannelMax uint16
	// HandleMax is the highest link handle this end accepts per session.
	HandleMax uint32
	// SessionWindow is the incoming window (in transfer frames) advertised
	// for each session.
	SessionWindow uint32
	// IdleTimeout is advertised to the peer: it must send a frame at least
	// this often. A peer silent for twice this long is closed. Zero: none.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the time from the engine's creation to both opens
	// having crossed. Zero: no limit.
	HandshakeTimeout time.Duration
	// MaxMessageSize bounds incoming messages (zero: no limit but the
	// session window and link credit).
	MaxMessageSize uint64
	// Properties, OfferedCapabilities and DesiredCapabilities go in open.
	Properties          types.Map
	OfferedCapabilities []types.Symbol
	DesiredCapabilities []types.Symbol

	// Server side SASL: the mechanisms offered. Nil means no SASL layer:
	// only a plain AMQP header is accepted.
	SASLServer sasl.Server
	// RequireSASL refuses clients that skip the SASL layer.
	RequireSASL bool
	// Client side SASL: the mechanism to use; nil sends a plain AMQP header.
	SASLClient sasl.ClientMechanism

	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Trace, when set, is called for every frame sent and received.
	Trace func(sent bool, channel uint16, body types.Composite, payload int)
}

type phase uint8

const (
	phaseHeader     phase = iota // awaiting the peer's first protocol header
	phaseSASL                    // SASL frames
	phaseAMQPHeader              // SASL done: awaiting the peer's AMQP header
	phaseAMQP                    // AMQP frames
	phaseDone                    // transport finished
)

// endpoint state, one for each side.
type state uint8

const (
	stateUninit state = iota
	stateActive
	stateClosed
)

// ErrClosed is the transport error after a clean close of both sides.
var ErrClosed = errors.New("amqp: connection closed")

// Connection is the engine of one AMQP connection.
type Connection struct {
	cfg    Config
	server bool
	now    func() time.Time

	in       []byte // received bytes not yet consumed (a partial frame)
	out      []byte // bytes for the driver to write
	deferred []byte // frames produced before the AMQP layer is up (client)

	phase    phase
	mech     sasl.ServerMechanism
	identity string

	local, remote state
	remoteOpen    *types.Open
	localErr      *types.Error
	remoteErr     *types.Error
	err           error // why the transport finished

	maxFrameOut uint32
	channelMax  uint16 // highest channel we may use
	remoteIdle  time.Duration

	sessions       map[uint16]*Session // by local channel
	remoteSessions map[uint16]*Session // by remote channel

	events []Event
	evHead int

	closeSent bool // our close is written: no frame may follow it

	started, lastRecv, lastSend time.Time
	transfer                    types.Transfer // reused to encode transfers

	// Context is for the application.
	Context any
}

// NewServer returns the engine for an accepted connection.
func NewServer(cfg Config) *Connection { return newConnection(cfg, true) }

// NewClient returns the engine for an outgoing connection. Its protocol
// header is already in the output.
func NewClient(cfg Config) *Connection {
	c := newConnection(cfg, false)
	if cfg.SASLClient != nil {
		c.write(frame.Header(frame.ProtoSASL))
	} else {
		c.write(frame.Header(frame.ProtoAMQP))
	}
	return c
}

func newConnection(cfg Config, server bool) *Connection {
	if cfg.MaxFrameSize == 0 {
		cfg.MaxFrameSize = DefaultMaxFrameSize
	}
	if cfg.MaxFrameSize < frame.MinMaxFrameSize {
		cfg.MaxFrameSize = frame.MinMaxFrameSize
	}
	if cfg.ChannelMax == 0 {
		cfg.ChannelMax = DefaultChannelMax
	}
	if cfg.HandleMax == 0 {
		cfg.HandleMax = DefaultHandleMax
	}
	if cfg.SessionWindow == 0 {
		cfg.SessionWindow = DefaultSessionWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Connection{
		cfg:            cfg,
		server:         server,
		now:            cfg.Now,
		maxFrameOut:    frame.MinMaxFrameSize,
		sessions:       map[uint16]*Session{},
		remoteSessions: map[uint16]*Session{},
	}
	c.started = c.now()
	c.lastRecv, c.lastSend = c.started, c.started
	return c
}

// Identity is the SASL-authenticated user ("" without SASL).
func (c *Connection) Identity() string { return c.identity }

// RemoteOpen is the peer's open performative, nil until it arrives.
func (c *Connection) RemoteOpen() *types.Open { return c.remoteOpen }

// RemoteError is the error the peer closed the connection with.
func (c *Connection) RemoteError() *types.Error { return c.remoteErr }

// Err says why the transport finished, once Done.
func (c *Connection) Err() error { return c.err }

// Done reports that the engine will produce no more output beyond what
// TakeOutput returns: the driver writes that and closes the socket.
func (c *Connection) Done() bool { return c.phase == phaseDone }

// Next returns the next event, if any.
func (c *Connection) Next() (Event, bool) {
	if c.evHead == len(c.events) {
		c.events, c.evHead = c.events[:0], 0
		return Event{}, false
	}
	e := c.events[c.evHead]
	c.events[c.evHead] = Event{}
	c.evHead++
	return e, true
}

func (c *Connection) emit(e Event) { c.events = append(c.events, e) }

// TakeOutput returns the bytes to write and starts a new output buffer in
// spare (pass the previous, written buffer back to avoid allocation).
func (c *Connection) TakeOutput(spare []byte) []byte {
	if c.phase == phaseAMQP {
		for _, s := range c.sessions {
			s.flushDispositions()
			s.reopenWindow()
		}
	}
	out := c.out
	c.out = spare[:0]
	if len(out) > 0 {
		c.lastSend = c.now()
	}
	return out
}

// OutputSize is the number of bytes waiting for TakeOutput.
func (c *Connection) OutputSize() int { return len(c.out) }

// HasOutput reports whether there are bytes (or pending dispositions) to write.
func (c *Connection) HasOutput() bool {
	if len(c.out) > 0 {
		return true
	}
	if c.phase != phaseAMQP {
		return false // TakeOutput flushes nothing more
	}
	for _, s := range c.sessions {
		if len(s.dispositions) > 0 || s.windowLow() {
			return true
		}
	}
	return false
}

func (c *Connection) write(b []byte) { c.out = append(c.out, b...) }

// writeFrame encodes a performative; before the AMQP layer is up it waits.
func (c *Connection) writeFrame(channel uint16, body types.Composite, payload []byte) {
	if c.phase == phaseDone || c.closeSent {
		return
	}
	if c.cfg.Trace != nil {
		c.cfg.Trace(true, channel, body, len(payload))
	}
	if c.phase != phaseAMQP {
		c.deferred = c.appendFrame(c.deferred, frame.TypeAMQP, channel, body, payload)
		return
	}
	c.out = c.appendFrame(c.out, frame.TypeAMQP, channel, body, payload)
}

func (c *Connection) appendFrame(b []byte, typ uint8, channel uint16, body types.Composite, payload []byte) []byte {
	b, err := frame.Append(b, typ, channel, body, payload)
	if err != nil {
		// Only application-supplied values can fail to encode.
		panic(fmt.Sprintf("amqp: cannot encode %T: %v", body, err))
	}
	return b
}

func (c *Connection) writeSASL(body types.Composite) {
	if c.cfg.Trace != nil {
		c.cfg.Trace(true, 0, body, 0)
	}
	c.out = c.appendFrame(c.out, frame.TypeSASL, 0, body, nil)
}

// Feed gives the engine bytes read from the peer. It does not retain b.
func (c *Connection) Feed(b []byte) {
	if c.phase == phaseDone || len(b) == 0 {
		return
	}
	c.lastRecv = c.now()
	data := b
	if len(c.in) > 0 {
		c.in = append(c.in, b...)
		data = c.in
	}
	n := c.consume(data)
	rest := data[n:]
	switch {
	case c.phase == phaseDone:
		c.in = nil
	case len(c.in) > 0: // data aliases c.in
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(c.in[:0], rest...)
	}
}

// consume processes whole headers and frames in data and returns the number
// of bytes used.
func (c *Connection) consume(data []byte) int {
	used := 0
	for c.phase != phaseDone {
		rest := data[used:]
		if c.phase == phaseHeader || c.phase == phaseAMQPHeader {
			if len(rest) < frame.HeaderSize {
				if k := min(4, len(rest)); string(rest[:k]) != "AMQP"[:k] {
					c.badHeader(rest)
				}
				return used
			}
			c.header(rest[:frame.HeaderSize])
			used += frame.HeaderSize
			continue
		}
		f, n, err := frame.Parse(rest, c.cfg.MaxFrameSize)
		if err != nil {
			c.fail(asError(err))
			return used
		}
		if n == 0 {
			return used
		}
		used += n
		if c.cfg.Trace != nil {
			c.cfg.Trace(false, f.Channel, f.Body, len(f.Payload))
		}
		if c.phase == phaseSASL {
			c.saslFrame(f)
		} else {
			c.amqpFrame(f)
		}
	}
	return used
}

// asError makes the close error for bytes that did not parse. Its
// description may quote the peer's bytes: it is made valid UTF-8 (the peer
// must be able to decode our close) and short (the close must fit the
// smallest max-frame-size).
func asError(err error) *types.Error {
	var e *types.Error
	if !errors.As(err, &e) {
		e = types.NewError(types.CondDecodeError, "%v", err)
	}
	desc := e.Description
	if len(desc) > maxDescription {
		desc = desc[:maxDescription]
	}
	return &types.Error{Condition: e.Condition, Description: strings.ToValidUTF8(desc, "?"), Info: e.Info}
}

// maxDescription bounds the description of an error made from the peer's input.
const maxDescription = 256

// header handles a whole protocol header from the peer.
func (c *Connection) header(h []byte) {
	proto, err := frame.ParseHeader(h)
	if err != nil {
		c.badHeader(h)
		return
	}
	if !c.server {
		c.clientHeader(proto)
		return
	}
	switch {
	case c.phase == phaseAMQPHeader && proto == frame.ProtoAMQP:
		c.write(frame.Header(frame.ProtoAMQP))
		c.enterAMQP()
	case c.phase == phaseAMQPHeader:
		c.badHeader(h)
	case proto == frame.ProtoSASL && c.cfg.SASLServer != nil:
		c.write(frame.Header(frame.ProtoSASL))
		mechs := c.cfg.SASLServer.Mechanisms()
		syms := make([]types.Symbol, len(mechs))
		for i, m := range mechs {
			syms[i] = types.Symbol(m)
		}
		c.writeSASL(&types.SASLMechanisms{SASLServerMechanisms: syms})
		c.phase = phaseSASL
	case proto == frame.ProtoAMQP && !c.cfg.RequireSASL:
		c.write(frame.Header(frame.ProtoAMQP))
		c.enterAMQP()
	case proto == frame.ProtoAMQP:
		c.refuseHeader(fmt.Errorf("amqp: client skipped SASL, which this server requires"))
	case proto == frame.ProtoTLS:
		c.refuseHeader(fmt.Errorf("amqp: client asked for TLS, which this port does not offer"))
	default:
		c.refuseHeader(fmt.Errorf("amqp: client asked for SASL, which this server does not offer"))
	}
}

// badHeader answers bytes that are not an AMQP 1.0 header with the header
// this end supports, then closes (part 2.2).
func (c *Connection) badHeader(h []byte) {
	if c.server && c.phase == phaseHeader {
		c.refuseHeader(fmt.Errorf("%w: % x", frame.ErrBadHeader, h))
		return
	}
	c.finish(fmt.Errorf("%w: % x", frame.ErrBadHeader, h))
}

func (c *Connection) refuseHeader(err error) {
	if c.cfg.SASLServer != nil {
		c.write(frame.Header(frame.ProtoSASL))
	} else {
		c.write(frame.Header(frame.ProtoAMQP))
	}
	c.finish(err)
}

func (c *Connection) enterAMQP() {
	c.phase = phaseAMQP
	if len(c.deferred) > 0 {
		c.out = append(c.out, c.deferred...)
		c.deferred = nil
	}
}

// finish ends the transport: nothing more is read or produced but the
// output already queued, and the last event is EventTransportClosed.
func (c *Connection) finish(err error) {
	if c.phase == phaseDone {
		return
	}
	c.phase = phaseDone
	c.err = err
	c.deferred = nil
	// Every live endpoint learns it is gone, so the application cleans up
	// in one place: the link and session events.
	for _, s := range c.sessions {
		s.gone()
	}
	c.emit(Event{Type: EventTransportClosed})
}

// fail closes the connection because of a protocol error.
func (c *Connection) fail(e *types.Error) {
	if c.phase == phaseAMQP && c.local != stateClosed {
		c.Close(e)
	}
	c.finish(e)
}

// TransportClosed tells the engine the socket is gone (EOF or IO error).
func (c *Connection) TransportClosed(err error) {
	if err == nil {
		err = errors.New("amqp: connection dropped by peer")
		if c.local == stateClosed && c.remote == stateClosed {
			err = ErrClosed
		}
	}
	c.finish(err)
}

// Open sends this end's open performative.
func (c *Connection) Open() {
	if c.local != stateUninit {
		return
	}
	c.local = stateActive
	open := &types.Open{
		ContainerID:         c.cfg.ContainerID,
		Hostname:            c.cfg.Hostname,
		MaxFrameSize:        c.cfg.MaxFrameSize,
		ChannelMax:          c.cfg.ChannelMax,
		OfferedCapabilities: c.cfg.OfferedCapabilities,
		DesiredCapabilities: c.cfg.DesiredCapabilities,
		Properties:          c.cfg.Properties,
	}
	if c.cfg.IdleTimeout > 0 {
		open.IdleTimeOut = types.Some(uint32(c.cfg.IdleTimeout / time.Millisecond))
	}
	if c.server {
		open.Hostname = ""
	}
	c.writeFrame(0, open, nil)
}

// Close sends close with an optional error. The transport is done once the
// peer has closed too, or at once when the peer already did or the close
// carries an error (a server never waits on a misbehaving peer).
func (c *Connection) Close(e *types.Error) {
	if c.local == stateClosed || c.phase == phaseDone {
		return
	}
	if c.local == stateUninit {
		c.Open() // close must follow an open
	}
	c.local = stateClosed
	c.localErr = e
	for _, s := range c.sessions {
		s.flushDispositions()
	}
	c.writeFrame(0, &types.Close{Error: e}, nil)
	c.closeSent = true
	if c.remote == stateClosed || e != nil || c.phase != phaseAMQP {
		if e != nil {
			c.finish(e)
		} else {
			c.finish(ErrClosed)
		}
	}
}

// Refuse turns a connection away before this end opens it: a close frame
// carrying e, without the open AMQP puts before a close, then the transport
// ends. Clients that fail over over a list of addresses (qpid-proton) restart
// the list at its first address when the peer opens, so a broker that must
// send them elsewhere does not open.
func (c *Connection) Refuse(e *types.Error) {
	if c.local != stateUninit || c.phase == phaseDone {
		c.Close(e)
		return
	}
	c.local = stateClosed
	c.localErr = e
	c.writeFrame(0, &types.Close{Error: e}, nil)
	c.finish(e)
}

// Tick runs the timers: heartbeats to send, a silent peer to close, a
// handshake taking too long. It returns when it next needs to run (zero
// when no timer is armed).
func (c *Connection) Tick() time.Time {
	if c.phase == phaseDone {
		return time.Time{}
	}
	now := c.now()
	var next time.Time
	arm := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if c.cfg.HandshakeTimeout > 0 && (c.local != stateActive || c.remote != stateActive) && c.remote != stateClosed && c.local != stateClosed {
		deadline := c.started.Add(c.cfg.HandshakeTimeout)
		if !now.Before(deadline) {
			c.fail(types.NewError(types.CondResourceLimitExceeded, "no open within %v", c.cfg.HandshakeTimeout))
			return time.Time{}
		}
		arm(deadline)
	}
	if c.phase != phaseAMQP || c.remoteOpen == nil {
		return next
	}
	if c.cfg.IdleTimeout > 0 {
		deadline := c.lastRecv.Add(2 * c.cfg.IdleTimeout)
		if !now.Before(deadline) {
			c.fail(types.NewError(types.CondResourceLimitExceeded, "local-idle-timeout expired: nothing received for %v", 2*c.cfg.IdleTimeout))
			return time.Time{}
		}
		arm(deadline)
	}
	if c.remoteIdle > 0 && c.local == stateActive {
		due := c.lastSend.Add(c.remoteIdle / 2)
		if !now.Before(due) {
			if !c.HasOutput() { // output already waiting counts as traffic
				c.out = frame.AppendEmpty(c.out)
			}
			c.lastSend = now
			due = now.Add(c.remoteIdle / 2)
		}
		arm(due)
	}
	return next
}

// amqpFrame dispatches one AMQP frame.
func (c *Connection) amqpFrame(f frame.Frame) {
	if f.Type != frame.TypeAMQP {
		c.fail(types.NewError(types.CondConnectionFramingError, "SASL frame after the SASL layer"))
		return
	}
	if f.Body == nil {
		return // heartbeat
	}
	if c.remoteOpen == nil {
		if cl, ok := f.Body.(*types.Close); ok && !c.server {
			// A server turning us away without opening (see Refuse): keep
			// its reason rather than calling it a protocol error.
			c.onClose(cl)
			c.finish(cl.Error)
			return
		}
		open, ok := f.Body.(*types.Open)
		if !ok {
			c.fail(types.NewError(types.CondIllegalState, "expected open, received %s", name(f.Body)))
			return
		}
		c.onOpen(open)
		return
	}
	if c.remote == stateClosed {
		return // discarding after the peer's close
	}
	if c.local == stateClosed {
		// We sent close: discard everything until the peer's, as nothing
		// may follow our close (part 2.4.3).
		if cl, ok := f.Body.(*types.Close); ok {
			c.onClose(cl)
		}
		return
	}
	switch body := f.Body.(type) {
	case *types.Open:
		c.fail(types.NewError(types.CondIllegalState, "second open"))
	case *types.Close:
		c.onClose(body)
	case *types.Begin:
		c.onBegin(f.Channel, body)
	default:
		s := c.remoteSessions[f.Channel]
		if s == nil {
			c.fail(types.NewError(types.CondConnectionFramingError, "%s on channel %d, which has no session", name(f.Body), f.Channel))
			return
		}
		s.onFrame(f)
	}
}

func name(body types.Composite) string {
	if body == nil {
		return "empty frame"
	}
	return fmt.Sprintf("%T", body)[7:] // strip "*types."
}

func (c *Connection) onOpen(open *types.Open) {
	if open.MaxFrameSize < frame.MinMaxFrameSize {
		c.remoteOpen = open
		c.fail(types.NewError(types.CondInvalidField, "max-frame-size %d is below the minimum %d", open.MaxFrameSize, frame.MinMaxFrameSize))
		return
	}
	c.remoteOpen = open
	c.remote = stateActive
	c.maxFrameOut = min(open.MaxFrameSize, c.cfg.MaxFrameSize)
	c.channelMax = min(open.ChannelMax, c.cfg.ChannelMax)
	if open.IdleTimeOut.Set && open.IdleTimeOut.V > 0 {
		// A peer asking for a heartbeat every few milliseconds would cost us
		// thousands of frames a second: honour no less than MinIdleTimeout.
		c.remoteIdle = max(time.Duration(open.IdleTimeOut.V)*time.Millisecond, MinIdleTimeout)
	}
	c.emit(Event{Type: EventConnectionOpen})
}

func (c *Connection) onClose(cl *types.Close) {
	c.remote = stateClosed
	c.remoteErr = cl.Error
	for _, s := range c.sessions {
		s.gone()
	}
	c.emit(Event{Type: EventConnectionClose})
	if c.local == stateClosed {
		c.finish(ErrClosed)
	}
}

// Session returns a new local session for a client to begin.
func (c *Connection) Session() (*Session, error) {
	ch, ok := c.freeChannel()
	if !ok {
		return nil, fmt.Errorf("amqp: all %d channels are in use", int(c.cfg.ChannelMax)+1)
	}
	s := newSession(c, ch)
	c.sessions[ch] = s
	return s, nil
}

func (c *Connection) freeChannel() (uint16, bool) {
	limit := c.cfg.ChannelMax
	if c.remoteOpen != nil {
		limit = c.channelMax
	}
	for ch := 0; ch <= int(limit); ch++ {
		if _, used := c.sessions[uint16(ch)]; !used {
			return uint16(ch), true
		}
	}
	return 0, false
}

func (c *Connection) onBegin(channel uint16, b *types.Begin) {
	if channel > c.cfg.ChannelMax {
		c.fail(types.NewError(types.CondConnectionFramingError, "begin on channel %d above channel-max %d", channel, c.cfg.ChannelMax))
		return
	}
	if _, used := c.remoteSessions[channel]; used {
		c.fail(types.NewError(types.CondConnectionFramingError, "begin on channel %d, which is in use", channel))
		return
	}
	var s *Session
	if b.RemoteChannel.Set {
		// The answer to a begin of ours.
		s = c.sessions[b.RemoteChannel.V]
		if s == nil || s.remote != stateUninit || s.local != stateActive {
			c.fail(types.NewError(types.CondConnectionFramingError, "begin answers channel %d, which began no session", b.RemoteChannel.V))
			return
		}
	} else {
		ch, ok := c.freeChannel()
		if !ok {
			c.fail(types.NewError(types.CondConnectionFramingError, "no free channel for a new session"))
			return
		}
		s = newSession(c, ch)
		c.sessions[ch] = s
	}
	c.remoteSessions[channel] = s
	s.onBegin(channel, b)
}

// saslFrame handles a frame of the SASL layer.
func (c *Connection) saslFrame(f frame.Frame) {
	if f.Type != frame.TypeSASL || f.Body == nil {
		c.finish(fmt.Errorf("amqp: expected a SASL frame, received %s", name(f.Body)))
		return
	}
	if !c.server {
		c.clientSASL(f.Body)
		return
	}
	var response []byte
	switch body := f.Body.(type) {
	case *types.SASLInit:
		if c.mech != nil {
			c.finish(errors.New("amqp: second sasl-init"))
			return
		}
		mech, err := c.cfg.SASLServer.Start(string(body.Mechanism))
		if err != nil {
			c.saslOutcome(nil, err)
			return
		}
		c.mech = mech
		response = body.InitialResponse
	case *types.SASLResponse:
		if c.mech == nil {
			c.finish(errors.New("amqp: sasl-response before sasl-init"))
			return
		}
		response = body.Response
		if response == nil {
			response = []byte{}
		}
	default:
		c.finish(fmt.Errorf("amqp: unexpected %s from a SASL client", name(f.Body)))
		return
	}
	challenge, done, err := c.mech.Step(response)
	switch {
	case err != nil:
		c.saslOutcome(nil, err)
	case done:
		c.identity = c.mech.Identity()
		c.saslOutcome(challenge, nil) // final data, e.g. a SCRAM server signature
	default:
		c.writeSASL(&types.SASLChallenge{Challenge: challenge})
	}
}

// saslOutcome ends the server's SASL exchange.
func (c *Connection) saslOutcome(additional []byte, err error) {
	out := &types.SASLOutcome{Code: types.SASLCodeOK, AdditionalData: additional}
	if err != nil {
		out.Code = types.SASLCodeAuth
		if !errors.Is(err, sasl.ErrAuth) {
			out.Code = types.SASLCodeSys
		}
	}
	c.writeSASL(out)
	if err != nil {
		c.finish(fmt.Errorf("amqp: SASL: %w", err))
		return
	}
	c.phase = phaseAMQPHeader
}

// clientHeader handles the server's protocol header on a client.
func (c *Connection) clientHeader(proto uint8) {
	switch {
	case c.phase == phaseHeader && proto == frame.ProtoSASL && c.cfg.SASLClient != nil:
		c.phase = phaseSASL
	case proto == frame.ProtoAMQP && (c.phase == phaseAMQPHeader || c.cfg.SASLClient == nil):
		c.enterAMQP()
	default:
		c.finish(fmt.Errorf("amqp: server answered with protocol id %d", proto))
	}
}

func (c *Connection) clientSASL(body types.Composite) {
	mech := c.cfg.SASLClient
	switch b := body.(type) {
	case *types.SASLMechanisms:
		if ch, ok := mech.(sasl.Chooser); ok {
			names := make([]string, len(b.SASLServerMechanisms))
			for i, m := range b.SASLServerMechanisms {
				names[i] = string(m)
			}
			ch.Offered(names)
		}
		offered := false
		for _, m := range b.SASLServerMechanisms {
			offered = offered || string(m) == mech.Name()
		}
		if !offered {
			c.finish(fmt.Errorf("amqp: server does not offer SASL mechanism %s (offers %v)", mech.Name(), b.SASLServerMechanisms))
			return
		}
		initial, err := mech.Start()
		if err != nil {
			c.finish(err)
			return
		}
		c.writeSASL(&types.SASLInit{Mechanism: types.Symbol(mech.Name()), InitialResponse: initial, Hostname: c.cfg.Hostname})
	case *types.SASLChallenge:
		resp, err := mech.Step(b.Challenge)
		if err != nil {
			c.finish(err)
			return
		}
		c.writeSASL(&types.SASLResponse{Response: resp})
	case *types.SASLOutcome:
		if b.Code != types.SASLCodeOK {
			c.finish(fmt.Errorf("amqp: %w (sasl-code %d)", sasl.ErrAuth, b.Code))
			return
		}
		if v, ok := mech.(interface{ Verify([]byte) error }); ok {
			if err := v.Verify(b.AdditionalData); err != nil {
				c.finish(err)
				return
			}
		}
		c.write(frame.Header(frame.ProtoAMQP))
		c.phase = phaseAMQPHeader
	default:
		c.finish(fmt.Errorf("amqp: unexpected %s from a SASL server", name(body)))
	}
}
