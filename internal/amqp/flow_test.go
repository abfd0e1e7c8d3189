package amqp

import (
	"fmt"
	"math"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Session flow control (incoming/outgoing windows, part 2.5.6) and link
// flow control (credit, delivery-count, drain, echo, part 2.6.7).

// A well-behaved engine sending through a small window is paced by the
// receiver's flows and everything arrives, in order.
func TestSessionWindowPacesSender(t *testing.T) {
	p := newPair(t, Config{SessionWindow: 4}, Config{})
	p.open()
	cs, ss := p.session()
	snd, rcv := p.link(cs, true, "q")
	rcv.Flow(100, false)
	p.pump()
	p.client.take(EventLinkFlow)
	maxBurst := 0
	p.wire = func(from *end, b []byte) {
		if from == p.client {
			maxBurst = max(maxBurst, len(parseWire(t, b)))
		}
	}
	for i := 0; i < 20; i++ {
		if _, err := snd.Send([]byte{byte(i)}, []byte(fmt.Sprint("m", i)), true); err != nil {
			t.Fatal(err)
		}
	}
	if blocked := cs.Blocked(); blocked != 16 {
		t.Fatalf("%d frames held, want 16 beyond the window of 4", blocked)
	}
	p.pump()
	got := p.server.take(EventDelivery)
	if len(got) != 20 {
		t.Fatalf("%d of 20 deliveries arrived", len(got))
	}
	for i, ev := range got {
		if string(ev.Delivery.Payload()) != fmt.Sprint("m", i) {
			t.Fatalf("delivery %d is %q", i, ev.Delivery.Payload())
		}
	}
	if maxBurst > 4 {
		t.Fatalf("the client sent %d transfers at once into a window of 4", maxBurst)
	}
	if cs.Blocked() != 0 || ss.incomingRemain > 4 {
		t.Fatalf("blocked %d, server window %d", cs.Blocked(), ss.incomingRemain)
	}
}

// senderPeer is a server engine with a receiving link on handle 0 of
// session channel 0, fed by the raw peer as sender.
func senderPeer(t *testing.T, cfg Config, linkCredit uint32) (*peer, *Session, *Link) {
	t.Helper()
	p := serverUp(t, cfg)
	s := p.begin(0, 1<<20)
	l := p.attach(0, 0, "in", types.RoleSender)
	if linkCredit > 0 {
		l.Flow(linkCredit, false)
		p.expect("Flow")
	}
	return p, s, l
}

func TestSessionWindowViolation(t *testing.T) {
	p, _, _ := senderPeer(t, Config{SessionWindow: 4}, 100)
	// Four transfers in one go fill the window...
	var b []byte
	for id := uint32(0); id < 4; id++ {
		b = append(b, enc(t, 0, transfer(0, id, false), []byte("x"))...)
	}
	p.feed(b)
	if n := len(p.take(EventDelivery)); n != 4 {
		t.Fatalf("%d deliveries, want 4", n)
	}
	// ...which the engine reopens when its output is taken.
	f := p.expect("Flow")[0].Body.(*types.Flow)
	if f.Handle.Set || f.NextIncomingID != types.Some(uint32(4)) || f.IncomingWindow != 4 {
		t.Fatalf("window flow %+v, want next-incoming-id 4, incoming-window 4", f)
	}
	// Now four more are fine, but not five.
	b = nil
	for id := uint32(4); id < 9; id++ {
		b = append(b, enc(t, 0, transfer(0, id, false), []byte("x"))...)
	}
	p.feed(b)
	if n := len(p.take(EventDelivery)); n != 4 {
		t.Fatalf("%d deliveries, want 4", n)
	}
	p.expectError("End", types.CondSessionWindowViolation)
}

// The engine reopens its window once half of it is used, and never closes
// it on a peer that keeps within it.
func TestSessionWindowReopensAtHalf(t *testing.T) {
	p, s, _ := senderPeer(t, Config{SessionWindow: 10}, 1000)
	id := uint32(0)
	for round := 0; round < 20; round++ {
		for i := 0; i < 4; i++ {
			p.send(0, transfer(0, id, false), 'x')
			id++
			p.expect() // more than half left: no flow
		}
		p.send(0, transfer(0, id, false), 'x')
		id++
		if !p.c.HasOutput() {
			t.Fatal("a window to reopen is output to take")
		}
		f := p.expect("Flow")[0].Body.(*types.Flow)
		if f.NextIncomingID != types.Some(id) || f.IncomingWindow != 10 {
			t.Fatalf("round %d: flow %+v", round, f)
		}
	}
	if len(p.take(EventDelivery)) != int(id) || s.remote != stateActive {
		t.Fatal("every transfer within the window must be delivered")
	}
}

// receiverPeer is a server engine with a sending link on handle 0 of
// session channel 0; the raw peer receives with the given session window.
func receiverPeer(t *testing.T, window, linkCredit uint32) (*peer, *Session, *Link) {
	t.Helper()
	p := serverUp(t, Config{})
	s := p.begin(0, window)
	l := p.attach(0, 0, "out", types.RoleReceiver)
	if linkCredit > 0 {
		f := credit(0, 0, linkCredit)
		f.IncomingWindow = window
		p.send(0, f)
		p.one(t, EventLinkFlow)
	}
	return p, s, l
}

// windowFlow is a session flow from the peer: after next-incoming-id, it
// accepts window more transfers.
func windowFlow(nextIncoming, window uint32) *types.Flow {
	return &types.Flow{NextIncomingID: types.Some(nextIncoming), IncomingWindow: window, OutgoingWindow: 1 << 20}
}

func deliveryIDs(ws []wire) []uint32 {
	var ids []uint32
	for _, w := range ws {
		if tr, ok := w.Body.(*types.Transfer); ok && tr.DeliveryID.Set {
			ids = append(ids, tr.DeliveryID.V)
		}
	}
	return ids
}

func TestOutgoingWindow(t *testing.T) {
	p, s, l := receiverPeer(t, 2, 100)
	for i := 0; i < 7; i++ {
		if _, err := l.Send([]byte{byte(i)}, []byte("m"), false); err != nil {
			t.Fatal(err)
		}
	}
	ws := p.expect("Transfer", "Transfer")
	if s.Blocked() != 5 {
		t.Fatalf("blocked %d, want 5", s.Blocked())
	}
	// A flow that does not move the window sends nothing.
	p.send(0, windowFlow(0, 2))
	p.expect()
	// The peer took two: two more.
	p.send(0, windowFlow(2, 2))
	ws = append(ws, p.expect("Transfer", "Transfer")...)
	if s.Blocked() != 3 {
		t.Fatalf("blocked %d, want 3", s.Blocked())
	}
	// A link flow carries the session window too.
	f := credit(0, 4, 96)
	f.NextIncomingID = types.Some(uint32(4))
	f.IncomingWindow = 100
	p.send(0, f)
	ws = append(ws, p.expect("Transfer", "Transfer", "Transfer")...)
	if got := fmt.Sprint(deliveryIDs(ws)); got != "[0 1 2 3 4 5 6]" {
		t.Fatalf("delivery ids %s, want in order", got)
	}
	if s.Blocked() != 0 {
		t.Fatalf("blocked %d", s.Blocked())
	}
	// Window echo: the peer learns our next-outgoing-id.
	p.send(0, &types.Flow{NextIncomingID: types.Some(uint32(7)), IncomingWindow: 100, OutgoingWindow: 1, Echo: true})
	got := p.expect("Flow")[0].Body.(*types.Flow)
	if got.NextOutgoingID != 7 || got.Handle.Set {
		t.Fatalf("echoed session flow %+v", got)
	}
}

// A multi-frame message is held frame by frame like any other.
func TestOutgoingWindowSplitsMessage(t *testing.T) {
	p := serverUp(t, Config{})
	p.c.maxFrameOut = 512 // as if negotiated
	s := p.begin(0, 3)
	l := p.attach(0, 0, "out", types.RoleReceiver)
	f := credit(0, 0, 10)
	f.IncomingWindow = 3 // a link flow carries the session window too
	p.send(0, f)
	msg := bytesOf(2000, 9)
	if _, err := l.Send([]byte("t"), msg, false); err != nil {
		t.Fatal(err)
	}
	ws := p.expect("Transfer", "Transfer", "Transfer")
	if s.Blocked() == 0 {
		t.Fatal("2000 bytes in 512-byte frames take more than 3 frames")
	}
	p.send(0, windowFlow(3, 100))
	ws = append(ws, p.read()...)
	if got := reassemble(t, ws, 512)[0]; string(got) != string(msg) {
		t.Fatalf("reassembled %d bytes, want %d", len(got), len(msg))
	}
}

func TestBlockedFramesDroppedOnDetach(t *testing.T) {
	p := serverUp(t, Config{})
	s := p.begin(0, 0) // the peer accepts no transfers yet
	a := p.attach(0, 0, "a", types.RoleReceiver)
	b := p.attach(0, 1, "b", types.RoleReceiver)
	for h := uint32(0); h < 2; h++ {
		f := credit(h, 0, 10)
		f.IncomingWindow = 0
		p.send(0, f)
	}
	p.take(EventLinkFlow)
	for i := 0; i < 2; i++ {
		if _, err := a.Send([]byte{'a', byte(i)}, []byte("from a"), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Send([]byte("b"), []byte("from b"), false); err != nil {
		t.Fatal(err)
	}
	p.expect()
	if s.Blocked() != 3 {
		t.Fatalf("blocked %d, want 3", s.Blocked())
	}
	a.Detach(nil)
	if s.Blocked() != 1 {
		t.Fatalf("blocked %d after a's detach, want b's 1", s.Blocked())
	}
	p.expect("Detach")
	p.send(0, windowFlow(0, 10))
	ws := p.expect("Transfer")
	if tr := ws[0].Body.(*types.Transfer); tr.Handle != 1 || string(ws[0].Payload) != "from b" {
		t.Fatalf("transfer on handle %d: %q", tr.Handle, ws[0].Payload)
	}
}

// Once the session has ended nothing more goes out on it, even when the
// peer's window opens in a flow sent before it saw our end.
func TestBlockedFramesDroppedOnEnd(t *testing.T) {
	p, s, l := receiverPeer(t, 0, 10)
	if _, err := l.Send([]byte("t"), []byte("held"), false); err != nil {
		t.Fatal(err)
	}
	s.End(nil)
	p.expect("End")
	if s.Blocked() != 0 {
		t.Fatalf("%d frames still held by an ended session", s.Blocked())
	}
	p.send(0, windowFlow(0, 10))
	p.expect()
}

func TestTransferWithoutCredit(t *testing.T) {
	p, _, l := senderPeer(t, Config{}, 0)
	p.send(0, transfer(0, 0, false), 'x')
	d := p.expect("Detach amqp:link:transfer-limit-exceeded")[0].Body.(*types.Detach)
	if !d.Closed || d.Handle != l.handle {
		t.Fatalf("detach %+v", d)
	}
	if len(p.take(EventDelivery)) != 0 {
		t.Fatal("a transfer without credit must not be delivered")
	}
	// Frames still in flight for the detached link are dropped quietly.
	p.send(0, transfer(0, 1, false), 'x')
	p.expect()
	p.send(0, &types.Detach{Handle: 0, Closed: true})
	p.one(t, EventLinkDetach)
}

// Credit used up exactly, then one more.
func TestTransferBeyondCredit(t *testing.T) {
	p, _, l := senderPeer(t, Config{}, 2)
	p.send(0, transfer(0, 0, false), 'x')
	p.send(0, transfer(0, 1, false), 'x')
	if l.Credit() != 0 || l.DeliveryCount() != 2 {
		t.Fatalf("credit %d delivery-count %d", l.Credit(), l.DeliveryCount())
	}
	p.send(0, transfer(0, 2, false), 'x')
	p.expect("Detach amqp:link:transfer-limit-exceeded")
	if n := len(p.take(EventDelivery)); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}

func TestSendWithoutCredit(t *testing.T) {
	p, _, l := receiverPeer(t, 100, 0)
	if _, err := l.Send([]byte("t"), []byte("x"), false); err != ErrNoCredit {
		t.Fatalf("send: %v, want ErrNoCredit", err)
	}
	p.send(0, credit(0, 0, 1))
	if _, err := l.Send([]byte("t"), []byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Send([]byte("u"), []byte("x"), false); err != ErrNoCredit {
		t.Fatalf("second send: %v, want ErrNoCredit", err)
	}
	p.expect("Transfer")
}

// link-credit on a flow counts from the flow's delivery-count: what the
// sender has sent since is deducted, in serial-number arithmetic.
func TestSenderCreditArithmetic(t *testing.T) {
	const top = math.MaxUint32
	for _, tc := range []struct {
		name    string
		initial uint32 // the sender's initial delivery-count
		sent    uint32 // transfers before the flow arrives
		flowDC  uint32 // the flow's delivery-count
		flowLC  uint32 // the flow's link-credit
		want    uint32 // the sender's credit after the flow
		wantDC  uint32 // the sender's delivery-count
	}{
		{"fresh", 0, 0, 0, 10, 10, 0},
		{"stale flow", 0, 3, 0, 10, 7, 3},
		{"current flow", 0, 3, 3, 10, 10, 3},
		{"near the top", top - 1, 0, top - 1, 5, 5, top - 1},
		{"wrapped while the flow was in flight", top - 1, 3, top - 1, 10, 7, 1},
		{"flow after the wrap", top - 1, 3, 1, 10, 10, 1},
		{"flow at the top, sender wrapped", top, 2, top, 2, 0, 1},
		{"revoke", 0, 0, 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := serverUp(t, Config{})
			p.begin(0, 1<<20)
			p.send(0, &types.Attach{Name: "out", Handle: 0, Role: types.RoleReceiver, Source: &types.Source{Address: "q"}})
			l := p.one(t, EventLinkAttach).Link
			l.deliveryCount = tc.initial
			l.Attach()
			a := p.expect("Attach")[0].Body.(*types.Attach)
			if a.InitialDeliveryCount != types.Some(tc.initial) {
				t.Fatalf("initial-delivery-count %v, want %d", a.InitialDeliveryCount, tc.initial)
			}
			if tc.sent > 0 {
				p.send(0, credit(0, tc.initial, tc.sent))
				for i := uint32(0); i < tc.sent; i++ {
					if _, err := l.Send(nil, []byte("x"), true); err != nil {
						t.Fatal(err)
					}
				}
			}
			p.send(0, credit(0, tc.flowDC, tc.flowLC))
			if l.Credit() != tc.want || l.DeliveryCount() != tc.wantDC {
				t.Fatalf("credit %d delivery-count %d, want %d and %d", l.Credit(), l.DeliveryCount(), tc.want, tc.wantDC)
			}
		})
	}
}

// The receiver counts deliveries across the wrap of delivery-count.
func TestReceiverDeliveryCountWraps(t *testing.T) {
	p := serverUp(t, Config{})
	p.begin(0, 1<<20)
	p.send(0, &types.Attach{Name: "in", Handle: 0, Role: types.RoleSender, InitialDeliveryCount: types.Some(uint32(math.MaxUint32 - 1))})
	l := p.one(t, EventLinkAttach).Link
	l.Attach()
	p.expect("Attach")
	l.Flow(5, false)
	f := p.expect("Flow")[0].Body.(*types.Flow)
	if f.DeliveryCount != types.Some(uint32(math.MaxUint32-1)) || f.LinkCredit != types.Some(uint32(5)) {
		t.Fatalf("flow %+v", f)
	}
	for id := uint32(0); id < 3; id++ {
		p.send(0, transfer(0, id, false), 'x')
	}
	if l.DeliveryCount() != 1 || l.Credit() != 2 {
		t.Fatalf("delivery-count %d credit %d, want 1 and 2", l.DeliveryCount(), l.Credit())
	}
	// Drain across the wrap: the sender gives back 2.
	l.Flow(l.Credit(), true)
	p.expect("Flow")
	df := credit(0, 3, 0)
	df.Drain = true
	p.send(0, df)
	if l.DeliveryCount() != 3 || l.Credit() != 0 || l.Drain() {
		t.Fatalf("after drain: delivery-count %d credit %d drain %v", l.DeliveryCount(), l.Credit(), l.Drain())
	}
	p.one(t, EventLinkFlow)
}

func TestDrainReceiver(t *testing.T) {
	p, _, l := senderPeer(t, Config{}, 0)
	l.Flow(5, true)
	f := p.expect("Flow")[0].Body.(*types.Flow)
	if !f.Drain || f.LinkCredit != types.Some(uint32(5)) || f.DeliveryCount != types.Some(uint32(0)) {
		t.Fatalf("drain flow %+v", f)
	}
	// The sender sends one and gives back the rest.
	p.send(0, transfer(0, 0, false), 'x')
	p.send(0, credit(0, 5, 0))
	p.one(t, EventLinkFlow)
	if l.Credit() != 0 || l.DeliveryCount() != 5 || l.Drain() {
		t.Fatalf("credit %d delivery-count %d drain %v, want 0, 5, false", l.Credit(), l.DeliveryCount(), l.Drain())
	}
	// A delivery-count beyond what was granted is ignored.
	p.send(0, credit(0, 100, 0))
	if l.DeliveryCount() != 5 {
		t.Fatalf("delivery-count moved to %d", l.DeliveryCount())
	}
}

func TestDrainSender(t *testing.T) {
	p, _, l := receiverPeer(t, 100, 0)
	f := credit(0, 0, 5)
	f.Drain = true
	p.send(0, f)
	p.one(t, EventLinkFlow)
	if !l.Drain() || l.Credit() != 5 {
		t.Fatalf("drain %v credit %d", l.Drain(), l.Credit())
	}
	if _, err := l.Send([]byte("t"), []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	l.Drained()
	ws := p.expect("Transfer", "Flow")
	got := ws[1].Body.(*types.Flow)
	if got.Handle != types.Some(uint32(0)) || got.DeliveryCount != types.Some(uint32(5)) || got.LinkCredit != types.Some(uint32(0)) || !got.Drain {
		t.Fatalf("drained flow %+v, want delivery-count 5, link-credit 0, drain", got)
	}
	if l.Credit() != 0 || l.DeliveryCount() != 5 {
		t.Fatalf("credit %d delivery-count %d", l.Credit(), l.DeliveryCount())
	}
	l.Drained() // nothing left to give back
	if out := p.read(); len(out) > 1 {
		t.Fatalf("second Drained wrote %s", describe(out))
	}
	// Without drain, Drained does nothing.
	p.send(0, credit(0, 5, 3))
	l.Drained()
	p.expect()
	if l.Credit() != 3 {
		t.Fatalf("credit %d", l.Credit())
	}
}

func TestLinkEcho(t *testing.T) {
	t.Run("sender", func(t *testing.T) {
		p, _, l := receiverPeer(t, 100, 0)
		l.SetAvailable(42)
		f := credit(0, 0, 7)
		f.Echo = true
		p.send(0, f)
		got := p.expect("Flow")[0].Body.(*types.Flow)
		if got.Handle != types.Some(uint32(0)) || got.LinkCredit != types.Some(uint32(7)) ||
			got.DeliveryCount != types.Some(uint32(0)) || got.Available != types.Some(uint32(42)) || got.Echo {
			t.Fatalf("echo %+v", got)
		}
	})
	t.Run("receiver", func(t *testing.T) {
		p, _, l := senderPeer(t, Config{}, 9)
		p.send(0, transfer(0, 0, false), 'x')
		f := credit(0, 1, 0)
		f.LinkCredit = types.Opt[uint32]{}
		f.Echo = true
		p.send(0, f)
		got := p.expect("Flow")[0].Body.(*types.Flow)
		if got.Handle != types.Some(uint32(0)) || got.LinkCredit != types.Some(uint32(8)) ||
			got.DeliveryCount != types.Some(uint32(1)) || got.Available.Set {
			t.Fatalf("echo %+v", got)
		}
		if l.Credit() != 8 {
			t.Fatalf("credit %d", l.Credit())
		}
	})
	t.Run("session", func(t *testing.T) {
		p, _, _ := senderPeer(t, Config{SessionWindow: 50}, 9)
		p.send(0, transfer(0, 0, false), 'x')
		p.send(0, &types.Flow{NextIncomingID: types.Some(uint32(0)), IncomingWindow: 10, NextOutgoingID: 1, OutgoingWindow: 10, Echo: true})
		got := p.expect("Flow")[0].Body.(*types.Flow)
		if got.Handle.Set || got.NextIncomingID != types.Some(uint32(1)) || got.IncomingWindow != 49 || got.Echo {
			t.Fatalf("session echo %+v", got)
		}
	})
	t.Run("detached link", func(t *testing.T) {
		// After our detach the handle is gone: a flow the peer sent before
		// it saw the detach gets no answer on it.
		p, _, l := receiverPeer(t, 100, 0)
		l.Detach(nil)
		p.expect("Detach")
		f := credit(0, 0, 7)
		f.Echo = true
		p.send(0, f)
		p.expect()
		if len(p.events) != 0 {
			t.Fatalf("events for a detached link: %v", p.events)
		}
	})
}
