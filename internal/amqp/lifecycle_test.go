package amqp

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Endpoint lifecycle (end, close, a dropped socket, the handshake timeout)
// and heartbeats (idle-time-out, part 2.4.5), with the clock under test
// control.

func TestRemoteEndDetachesLinks(t *testing.T) {
	p := serverUp(t, Config{})
	s := p.begin(0, 100)
	other := p.begin(1, 100)
	links := map[*Link]bool{}
	for h := uint32(0); h < 3; h++ {
		role := types.RoleSender
		if h == 1 {
			role = types.RoleReceiver
		}
		links[p.attach(0, h, fmt.Sprint("l", h), role)] = true
	}
	keep := p.attach(1, 0, "other", types.RoleSender)
	// One link was already detached by the peer: no second event for it.
	p.send(0, &types.Detach{Handle: 2, Closed: true})
	gone := p.one(t, EventLinkDetach).Link
	delete(links, gone)

	p.send(0, &types.End{Error: types.NewError(types.CondInternalError, "oops")})
	var detached []*Link
	for i, ev := range p.events {
		switch {
		case i < len(links) && ev.Type == EventLinkDetach && ev.Session == s:
			detached = append(detached, ev.Link)
		case i == len(links) && ev.Type == EventSessionEnd && ev.Session == s:
		default:
			t.Fatalf("events %s: want %d link detaches then the session end", eventTypes(p.events), len(links))
		}
	}
	if len(p.events) != len(links)+1 {
		t.Fatalf("events %s", eventTypes(p.events))
	}
	for _, l := range detached {
		if !links[l] {
			t.Fatalf("detach event for %s", l.Name())
		}
		delete(links, l)
	}
	p.events = nil
	if e := s.RemoteError(); e == nil || e.Condition != types.CondInternalError {
		t.Fatalf("remote error %v", e)
	}
	// Detaching a link of the ended session sends nothing.
	gone.Detach(nil)
	p.expect()
	s.End(nil)
	p.expect("End")
	if _, ok := p.c.sessions[s.channel]; ok || len(p.c.sessions) != 1 {
		t.Fatal("the ended session must be freed, the other kept")
	}
	// The channel is free for a new session; the other is untouched.
	p.begin(0, 100)
	p.send(1, transfer(0, 0, false), 'x')
	if other.remote != stateActive || keep.remote != stateActive {
		t.Fatal("the other session is unaffected")
	}
}

// The socket drops: every link still attached gets its detach, every
// session its end, then the transport closes; each exactly once.
func TestTransportClosedEvents(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.open()
	cs1, ss1 := p.session()
	cs2, ss2 := p.session()
	_, sl1 := p.link(cs1, true, "a")
	_, sl2 := p.link(cs1, false, "b")
	_, sl3 := p.link(cs2, true, "c")
	cl4, sl4 := p.link(cs2, true, "d")
	cl4.Detach(nil) // detached by the client: its event is already out
	p.pump()
	p.server.one(t, EventLinkDetach)
	cs3, _ := p.session()
	cs3.End(nil) // ended by the client
	p.pump()
	p.server.one(t, EventSessionEnd)

	p.server.c.TransportClosed(nil)
	p.server.c.TransportClosed(errors.New("again"))
	p.server.c.TransportClosed(nil)
	p.server.drain()
	evs := p.server.events
	if len(evs) == 0 || evs[len(evs)-1].Type != EventTransportClosed {
		t.Fatalf("events %s: the transport-closed event comes last", eventTypes(evs))
	}
	linkEvents := map[*Link]int{}
	sessionEvents := map[*Session]int{}
	for i, ev := range evs[:len(evs)-1] {
		switch ev.Type {
		case EventLinkDetach:
			if sessionEvents[ev.Session] > 0 {
				t.Fatalf("event %d: link detach after its session's end", i)
			}
			linkEvents[ev.Link]++
		case EventSessionEnd:
			sessionEvents[ev.Session]++
		default:
			t.Fatalf("unexpected %v", ev.Type)
		}
	}
	want := fmt.Sprint(map[*Link]int{sl1: 1, sl2: 1, sl3: 1})
	if got := fmt.Sprint(linkEvents); got != want || linkEvents[sl4] != 0 {
		t.Fatalf("link detach events %v, want one each for the 3 attached", linkEvents)
	}
	if len(sessionEvents) != 2 || sessionEvents[ss1] != 1 || sessionEvents[ss2] != 1 {
		t.Fatalf("session end events %v, want one each for the 2 live sessions", sessionEvents)
	}
	if !p.server.c.Done() || p.server.c.Err() == nil || p.server.c.Err() == ErrClosed {
		t.Fatalf("done %v err %v", p.server.c.Done(), p.server.c.Err())
	}
	// Nothing more: output, events or time.
	p.server.events = nil
	p.server.c.Feed(enc(t, 0, &types.Close{}, nil))
	p.server.c.Tick()
	p.server.drain()
	if len(p.server.events) != 0 || p.server.c.HasOutput() {
		t.Fatalf("events %v after the transport closed", p.server.events)
	}
}

// The engine's application may still settle deliveries it was handed
// before the transport closed: nothing is queued for a dead transport.
func TestSettleAfterTransportClosed(t *testing.T) {
	p, _, _ := senderPeer(t, Config{}, 5)
	p.send(0, transfer(0, 0, false), 'x')
	d := p.one(t, EventDelivery).Delivery
	p.c.TransportClosed(nil)
	p.drain()
	d.Update(&types.Accepted{}, true)
	if p.c.HasOutput() {
		t.Fatal("a finished engine reports output it will never produce")
	}
	p.expect()
}

// After a clean close both ways, TransportClosed reports ErrClosed.
func TestTransportClosedAfterClose(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.open()
	p.session()
	p.client.c.Close(nil)
	p.pump()
	p.server.take(EventSessionEnd)
	p.server.one(t, EventConnectionClose)
	p.server.c.Close(nil)
	p.pump()
	p.server.one(t, EventTransportClosed)
	p.server.c.TransportClosed(nil)
	p.server.drain()
	if len(p.server.events) != 0 || p.server.c.Err() != ErrClosed {
		t.Fatalf("events %v err %v", p.server.events, p.server.c.Err())
	}
}

func TestCloseWithError(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.open()
	p.session()
	p.server.c.Close(types.NewError(types.CondConnectionForced, "broker shutting down"))
	if !p.server.c.Done() {
		t.Fatal("a close with an error does not wait for the peer")
	}
	p.pump()
	p.client.one(t, EventConnectionClose)
	p.client.one(t, EventSessionEnd)
	e := p.client.c.RemoteError()
	if e == nil || e.Condition != types.CondConnectionForced || e.Description != "broker shutting down" {
		t.Fatalf("client sees %v", e)
	}
	var perr *types.Error
	if !errors.As(p.server.c.Err(), &perr) || perr.Condition != types.CondConnectionForced {
		t.Fatalf("server err %v", p.server.c.Err())
	}
	// The client answers; the server is already done and reads nothing more.
	p.client.c.Close(nil)
	p.pump()
	if !p.client.c.Done() || p.client.c.Err() != ErrClosed {
		t.Fatalf("client done %v err %v", p.client.c.Done(), p.client.c.Err())
	}
}

func TestCloseWaitsForPeer(t *testing.T) {
	p := scriptClient(t, Config{})
	p.expect("AMQP0")
	p.c.Open()
	p.feed(frame.Header(frame.ProtoAMQP))
	p.send(0, peerOpen())
	p.expect("Open")
	p.one(t, EventConnectionOpen)
	p.c.Close(nil)
	if got := p.expect("Close")[0].Body.(*types.Close); got.Error != nil {
		t.Fatalf("close %+v", got)
	}
	if p.c.Done() {
		t.Fatal("Close(nil) waits for the peer's close")
	}
	p.c.Close(nil) // once is enough
	p.expect()
	p.send(0, &types.Close{})
	if !p.c.Done() || p.c.Err() != ErrClosed {
		t.Fatalf("done %v err %v", p.c.Done(), p.c.Err())
	}
	if got := eventTypes(p.events); got != "[connection-close transport-closed]" {
		t.Fatalf("events %s", got)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input [][]byte
		want  []string
	}{
		{"silent client", nil, nil},
		{"header only", [][]byte{frame.Header(frame.ProtoAMQP)}, []string{"AMQP0", "Open", "Close amqp:resource-limit-exceeded"}},
		{"stuck in SASL", [][]byte{frame.Header(frame.ProtoSASL)}, []string{"AMQP3", "SASLMechanisms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptServer(t, Config{HandshakeTimeout: 5 * time.Second, SASLServer: saslServer()})
			start := p.clock.now()
			p.feed(tc.input...)
			if next := p.c.Tick(); !next.Equal(start.Add(5 * time.Second)) {
				t.Fatalf("next tick %v, want start + 5s", next.Sub(start))
			}
			p.clock.advance(4999 * time.Millisecond)
			if next := p.c.Tick(); p.c.Done() || !next.Equal(start.Add(5*time.Second)) {
				t.Fatalf("at 4.999s: done %v next %v", p.c.Done(), next.Sub(start))
			}
			p.clock.advance(time.Millisecond)
			if next := p.c.Tick(); !next.IsZero() {
				t.Fatalf("a closed engine arms no timer: %v", next)
			}
			if !p.c.Done() {
				t.Fatal("at 5s the handshake has timed out")
			}
			p.expect(tc.want...)
			p.drain()
			p.one(t, EventTransportClosed)
		})
	}
	t.Run("opened in time", func(t *testing.T) {
		p := scriptServer(t, Config{HandshakeTimeout: 5 * time.Second})
		p.clock.advance(4 * time.Second)
		p.open(nil)
		p.clock.advance(time.Hour)
		if next := p.c.Tick(); !next.IsZero() || p.c.Done() {
			t.Fatalf("next %v done %v: the handshake is complete", next, p.c.Done())
		}
	})
	t.Run("server never answers", func(t *testing.T) {
		p := scriptServer(t, Config{HandshakeTimeout: 5 * time.Second})
		p.feed(frame.Header(frame.ProtoAMQP))
		p.send(0, peerOpen()) // the application never calls Open
		p.expect("AMQP0")
		p.clock.advance(5 * time.Second)
		p.c.Tick()
		p.expect("Open", "Close amqp:resource-limit-exceeded")
	})
}

// heartbeatPeer is a server engine opened by a raw client that advertises
// peerIdle (0: none); the output of the exchange has been taken at the
// clock's start.
func heartbeatPeer(t *testing.T, cfg Config, peerIdle uint32) *peer {
	t.Helper()
	p := scriptServer(t, cfg)
	p.open(func(o *types.Open) {
		if peerIdle > 0 {
			o.IdleTimeOut = types.Some(peerIdle)
		}
	})
	return p
}

// tickAt moves the clock to start+at, runs Tick and returns the next
// deadline relative to start (-1 for none).
func (p *peer) tickAt(start time.Time, at time.Duration) time.Duration {
	p.clock.t = start.Add(at)
	next := p.c.Tick()
	p.drain()
	if next.IsZero() {
		return -1
	}
	return next.Sub(start)
}

func TestHeartbeatSent(t *testing.T) {
	for _, tc := range []struct {
		peerIdle uint32 // ms
		half     time.Duration
	}{
		{1000, 500 * time.Millisecond},
		{1001, 500500 * time.Microsecond},
		{1, MinIdleTimeout / 2}, // absurdly small requests are clamped
		{60000, 30 * time.Second},
	} {
		t.Run(fmt.Sprint(tc.peerIdle, "ms"), func(t *testing.T) {
			p := heartbeatPeer(t, Config{}, tc.peerIdle)
			start := p.clock.now()
			if open := p.c.RemoteOpen(); open.IdleTimeOut.V != tc.peerIdle {
				t.Fatal("harness")
			}
			if next := p.tickAt(start, 0); next != tc.half {
				t.Fatalf("next tick at %v, want %v", next, tc.half)
			}
			if next := p.tickAt(start, tc.half-time.Nanosecond); next != tc.half {
				t.Fatalf("next tick at %v, want %v", next, tc.half)
			}
			p.expect()
			if next := p.tickAt(start, tc.half); next != 2*tc.half {
				t.Fatalf("after a heartbeat, next tick at %v, want %v", next, 2*tc.half)
			}
			p.expect("Empty")
			// Ticking again at the same time sends nothing.
			p.tickAt(start, tc.half)
			p.expect()
			// Traffic we send postpones the heartbeat.
			p.clock.t = start.Add(tc.half + tc.half/2)
			p.c.Close(nil)
			p.expect("Close")
			if next := p.tickAt(start, tc.half+tc.half/2); next != -1 {
				t.Fatalf("no heartbeats after our close: next %v", next)
			}
		})
	}
}

func TestHeartbeatPostponedBySending(t *testing.T) {
	p := heartbeatPeer(t, Config{}, 1000)
	start := p.clock.now()
	p.clock.t = start.Add(300 * time.Millisecond)
	p.begin(0, 10) // output taken at 300ms
	if next := p.tickAt(start, 500*time.Millisecond); next != 800*time.Millisecond {
		t.Fatalf("next tick %v, want 800ms", next)
	}
	p.expect()
	p.tickAt(start, 800*time.Millisecond)
	p.expect("Empty")
}

// Output waiting to be taken is traffic: no heartbeat is added to it.
func TestHeartbeatNotAddedToPendingOutput(t *testing.T) {
	t.Run("frames", func(t *testing.T) {
		p := heartbeatPeer(t, Config{}, 1000)
		start := p.clock.now()
		p.send(0, peerBegin(10))
		p.one(t, EventSessionBegin).Session.Begin() // not taken yet
		if next := p.tickAt(start, 500*time.Millisecond); next != time.Second {
			t.Fatalf("next %v", next)
		}
		p.expect("Begin")
	})
	t.Run("queued dispositions", func(t *testing.T) {
		p := heartbeatPeer(t, Config{}, 1000)
		start := p.clock.now()
		p.begin(0, 1000)
		l := p.attach(0, 0, "in", types.RoleSender)
		l.Flow(5, false)
		p.send(0, transfer(0, 0, false), 'x')
		p.expect("Flow") // taken at start
		p.one(t, EventDelivery).Delivery.Update(&types.Accepted{}, true)
		p.tickAt(start, 500*time.Millisecond)
		p.expect("Disposition")
	})
}

func TestIdleTimeoutClosesSilentPeer(t *testing.T) {
	p := heartbeatPeer(t, Config{IdleTimeout: time.Second}, 0)
	start := p.clock.now() // the peer's open arrived now
	if next := p.tickAt(start, 0); next != 2*time.Second {
		t.Fatalf("next tick %v, want 2s", next)
	}
	// Any frame resets the timer, an empty one too.
	p.clock.t = start.Add(1500 * time.Millisecond)
	p.feed(frame.AppendEmpty(nil))
	if next := p.tickAt(start, 3499*time.Millisecond); next != 3500*time.Millisecond || p.c.Done() {
		t.Fatalf("next %v done %v", next, p.c.Done())
	}
	// Part of a frame is traffic as well.
	b := enc(t, 0, peerBegin(10), nil)
	p.clock.t = start.Add(3 * time.Second)
	p.feed(b[:3])
	if next := p.tickAt(start, 4999*time.Millisecond); next != 5*time.Second || p.c.Done() {
		t.Fatalf("next %v done %v", next, p.c.Done())
	}
	p.expect()
	p.tickAt(start, 5*time.Second)
	if !p.c.Done() {
		t.Fatal("silent for exactly 2x the idle timeout: closed")
	}
	e := p.expectError("Close", types.CondResourceLimitExceeded)
	if e.Description == "" {
		t.Fatal("the close says why")
	}
}

func TestIdleTimeoutAdvertised(t *testing.T) {
	p := scriptServer(t, Config{IdleTimeout: 1500 * time.Millisecond})
	p.feed(frame.Header(frame.ProtoAMQP))
	p.send(0, peerOpen())
	p.c.Open()
	got := p.expect("AMQP0", "Open")[1].Body.(*types.Open)
	if got.IdleTimeOut != types.Some(uint32(1500)) {
		t.Fatalf("idle-time-out %v", got.IdleTimeOut)
	}
}

// Both timers at once: the deadline Tick returns is the earlier one.
func TestTickDeadlineBothWays(t *testing.T) {
	p := heartbeatPeer(t, Config{IdleTimeout: time.Second}, 3000)
	start := p.clock.now()
	steps := []struct {
		at       time.Duration
		feed     bool // the peer sends a heartbeat at this time
		want     time.Duration
		wantSent bool
	}{
		{0, false, 1500 * time.Millisecond, false},              // heartbeat due before the peer is late
		{1500 * time.Millisecond, false, 2 * time.Second, true}, // heartbeat; now the peer's deadline
		{1900 * time.Millisecond, true, 3 * time.Second, false}, // the peer's heartbeat moves it to 3.9s; ours is due at 3s
		{3 * time.Second, false, 3900 * time.Millisecond, true},
		{3900 * time.Millisecond, true, 4500 * time.Millisecond, false},
	}
	for _, st := range steps {
		p.clock.t = start.Add(st.at)
		if st.feed {
			p.feed(frame.AppendEmpty(nil))
		}
		if next := p.tickAt(start, st.at); next != st.want {
			t.Fatalf("at %v: next tick %v, want %v", st.at, next, st.want)
		}
		if sent := len(p.read()) > 0; sent != st.wantSent {
			t.Fatalf("at %v: heartbeat sent %v, want %v", st.at, sent, st.wantSent)
		}
		if p.c.Done() {
			t.Fatalf("at %v: closed", st.at)
		}
	}
}

// Two engines, each with an idle timeout, stay connected through an hour
// of silence when each side ticks at the deadlines it returns.
func TestHeartbeatsKeepPairAlive(t *testing.T) {
	p := newPair(t, Config{IdleTimeout: 2 * time.Second}, Config{IdleTimeout: 3 * time.Second})
	p.open()
	end := p.clock.now().Add(time.Hour)
	beats := 0
	for p.clock.now().Before(end) {
		a, b := p.client.c.Tick(), p.server.c.Tick()
		if a.IsZero() || b.IsZero() {
			t.Fatal("no timer armed")
		}
		if b.Before(a) {
			a = b
		}
		p.clock.t = a
		p.client.c.Tick()
		p.server.c.Tick()
		beats += p.client.c.OutputSize() + p.server.c.OutputSize()
		p.pump()
		if p.client.c.Done() || p.server.c.Done() {
			t.Fatalf("closed at %v", p.clock.now())
		}
	}
	if beats == 0 {
		t.Fatal("no heartbeats in an hour")
	}
}

// Refuse answers a client's open with a close carrying the reason and no
// open of its own, then ends the transport.
func TestRefuseClosesWithoutOpen(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.client.c.Open()
	p.pump()
	p.server.one(t, EventConnectionOpen)
	p.client.frames = nil
	p.server.c.Refuse(types.NewError(types.CondConnectionForced, "this broker is an HA backup"))
	p.pump()
	if want := "[0:Close]"; fmt.Sprint(p.client.frames) != want {
		t.Fatalf("the client received %v, want only %s", p.client.frames, want)
	}
	if e := p.client.c.RemoteError(); e == nil || e.Condition != types.CondConnectionForced {
		t.Fatalf("close error %v", e)
	}
	if !p.server.c.Done() {
		t.Fatal("the refusing end must be done")
	}
}
