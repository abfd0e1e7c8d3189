package amqp

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Deliveries: multi-frame transfers, abort, settlement and dispositions
// (part 2.6.12 - 2.6.14, 2.7.5, 2.7.6).

// testSeed is a random seed, or AMQP_TEST_SEED to replay a failure.
func testSeed(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if s := os.Getenv("AMQP_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("AMQP_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (AMQP_TEST_SEED replays it)", seed)
	return seed
}

// Random messages over random frame sizes arrive byte for byte, and no
// frame on the wire is larger than its receiver's max-frame-size.
func TestMultiFrameRandom(t *testing.T) {
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	for round := 0; round < 20; round++ {
		srvMax := uint32(512 + rng.Intn(4096-512+1))
		cliMax := uint32(512 + rng.Intn(4096-512+1))
		p := newPair(t, Config{MaxFrameSize: srvMax}, Config{MaxFrameSize: cliMax})
		p.wire = func(from *end, b []byte) {
			limit := srvMax
			if from == p.server {
				limit = cliMax
			}
			for _, w := range parseWire(t, b) {
				if w.size > int(limit) {
					t.Fatalf("seed %d: %s wrote a %d-byte %v, the peer's max-frame-size is %d", seed, from.name, w.size, w, limit)
				}
			}
		}
		p.open()
		cs, _ := p.session()
		snd, rcv := p.link(cs, true, "in")
		crcv, ssnd := p.link(cs, false, "out")
		rcv.Flow(100, false)
		crcv.Flow(100, false)
		p.pump()
		var sent [2][][]byte
		for i := 0; i < 10; i++ {
			for dir, l := range []*Link{snd, ssnd} {
				msg := make([]byte, rng.Intn(3*int(max(srvMax, cliMax))))
				rng.Read(msg)
				tag := make([]byte, rng.Intn(33))
				rng.Read(tag)
				if _, err := l.Send(tag, msg, rng.Intn(2) == 0); err != nil {
					t.Fatal(err)
				}
				sent[dir] = append(sent[dir], msg)
			}
		}
		p.pump()
		for dir, e := range []*end{p.server, p.client} {
			got := e.take(EventDelivery)
			if len(got) != len(sent[dir]) {
				t.Fatalf("seed %d: %s got %d deliveries, want %d", seed, e.name, len(got), len(sent[dir]))
			}
			for i, ev := range got {
				if !bytes.Equal(ev.Delivery.Payload(), sent[dir][i]) {
					t.Fatalf("seed %d: %s delivery %d: %d bytes differ from the %d sent (max-frame %d/%d)",
						seed, e.name, i, len(ev.Delivery.Payload()), len(sent[dir][i]), srvMax, cliMax)
				}
			}
		}
	}
}

func TestContinuationDeliveryID(t *testing.T) {
	t.Run("repeated", func(t *testing.T) {
		p, _, _ := senderPeer(t, Config{}, 10)
		p.send(0, transfer(0, 7, true), []byte("hello, ")...)
		cont := transfer(0, 7, true) // a continuation may repeat delivery-id and tag
		p.send(0, cont, []byte("wor")...)
		p.send(0, &types.Transfer{Handle: 0}, []byte("ld")...)
		d := p.one(t, EventDelivery).Delivery
		if string(d.Payload()) != "hello, world" || d.ID() != 7 || string(d.Tag()) != "7" {
			t.Fatalf("delivery %d %q: %q", d.ID(), d.Tag(), d.Payload())
		}
	})
	t.Run("different", func(t *testing.T) {
		p, _, _ := senderPeer(t, Config{}, 10)
		p.send(0, transfer(0, 7, true), 'a')
		p.send(0, transfer(0, 8, false), 'b')
		p.expectError("Close", types.CondInvalidField)
		if len(p.take(EventDelivery)) != 0 {
			t.Fatal("no delivery from a broken sequence")
		}
	})
	t.Run("first without delivery-id", func(t *testing.T) {
		p, _, _ := senderPeer(t, Config{}, 10)
		p.send(0, &types.Transfer{Handle: 0}, 'a')
		p.expectError("Close", types.CondInvalidField)
	})
}

func TestAbortedDelivery(t *testing.T) {
	p, _, l := senderPeer(t, Config{}, 3)
	p.send(0, transfer(0, 0, true), []byte("part")...)
	p.send(0, &types.Transfer{Handle: 0, Aborted: true})
	if len(p.take(EventDelivery)) != 0 {
		t.Fatal("an aborted delivery must not be delivered")
	}
	if l.Credit() != 2 || l.DeliveryCount() != 1 || l.Unsettled() != 0 {
		t.Fatalf("credit %d delivery-count %d unsettled %d: an aborted delivery uses credit and leaves nothing",
			l.Credit(), l.DeliveryCount(), l.Unsettled())
	}
	// An abort on the first frame, with more=true, is dropped as well.
	abort := transfer(0, 1, true)
	abort.Aborted = true
	p.send(0, abort, 'x')
	// The next delivery is whole.
	p.send(0, transfer(0, 2, false), []byte("whole")...)
	d := p.one(t, EventDelivery).Delivery
	if string(d.Payload()) != "whole" || d.ID() != 2 || l.Credit() != 0 {
		t.Fatalf("delivery %d %q credit %d", d.ID(), d.Payload(), l.Credit())
	}
	p.expect()
}

func TestPresettledNeverUnsettled(t *testing.T) {
	p := newPair(t, Config{MaxFrameSize: 512}, Config{MaxFrameSize: 512})
	p.open()
	cs, ss := p.session()
	snd, rcv := p.link(cs, true, "q")
	rcv.Flow(10, false)
	p.pump()
	for _, size := range []int{10, 5000} {
		if _, err := snd.Send([]byte("t"), bytesOf(size, 0), true); err != nil {
			t.Fatal(err)
		}
	}
	if len(cs.unsettledOut) != 0 || snd.Unsettled() != 0 {
		t.Fatalf("sender keeps %d pre-settled deliveries", len(cs.unsettledOut))
	}
	p.pump()
	for _, ev := range p.server.take(EventDelivery) {
		if !ev.Delivery.RemoteSettled() {
			t.Fatal("a pre-settled delivery is settled by the sender")
		}
		ev.Delivery.Update(&types.Accepted{}, true) // nothing to send
	}
	if len(ss.unsettledIn) != 0 || rcv.Unsettled() != 0 {
		t.Fatalf("receiver keeps %d pre-settled deliveries", len(ss.unsettledIn))
	}
	p.client.frames = nil
	p.pump()
	if len(p.client.frames) != 0 {
		t.Fatalf("settling a pre-settled delivery sent %v", p.client.frames)
	}
	// Settled on the last frame only: settled all the same.
	p2, s2, l2 := senderPeer(t, Config{}, 10)
	p2.send(0, transfer(0, 0, true), 'a')
	last := &types.Transfer{Handle: 0, Settled: true}
	p2.send(0, last, 'b')
	if d := p2.one(t, EventDelivery).Delivery; !d.RemoteSettled() || len(s2.unsettledIn) != 0 || l2.Unsettled() != 0 {
		t.Fatalf("remote-settled %v, %d unsettled", d.RemoteSettled(), len(s2.unsettledIn))
	}
}

func TestMessageSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		linkMax uint64
	}{
		{"link max-message-size", Config{}, 100},
		{"config max-message-size", Config{MaxMessageSize: 100}, 0},
		{"both", Config{MaxMessageSize: 200}, 100},
		{"config below link", Config{MaxMessageSize: 100}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := serverUp(t, tc.cfg)
			p.begin(0, 1000)
			p.send(0, &types.Attach{Name: "in", Handle: 0, Role: types.RoleSender, InitialDeliveryCount: types.Some(uint32(0))})
			l := p.one(t, EventLinkAttach).Link
			l.MaxMessageSize = tc.linkMax
			l.Attach()
			if a := p.expect("Attach")[0].Body.(*types.Attach); tc.linkMax > 0 && a.MaxMessageSize != types.Some(tc.linkMax) {
				t.Fatalf("attach max-message-size %v", a.MaxMessageSize)
			}
			l.Flow(10, false)
			p.expect("Flow")
			// Exactly 100 bytes, in two frames, is fine.
			p.send(0, transfer(0, 0, true), bytesOf(60, 0)...)
			p.send(0, &types.Transfer{Handle: 0}, bytesOf(40, 0)...)
			if d := p.one(t, EventDelivery).Delivery; len(d.Payload()) != 100 {
				t.Fatalf("%d bytes", len(d.Payload()))
			}
			// 101 is not.
			p.send(0, transfer(0, 1, true), bytesOf(60, 0)...)
			p.send(0, &types.Transfer{Handle: 0}, bytesOf(41, 0)...)
			d := p.expect("Detach amqp:link:message-size-exceeded")[0].Body.(*types.Detach)
			if !d.Closed {
				t.Fatal("the link is closed")
			}
			if len(p.take(EventDelivery)) != 0 {
				t.Fatal("an oversized message must not be delivered")
			}
			// The rest of it is dropped quietly.
			p.send(0, &types.Transfer{Handle: 0}, bytesOf(400, 0)...)
			p.expect()
		})
	}
}

// settleQueue is a receiver with deliveries 0..n-1 from the raw peer.
func settleQueue(t *testing.T, n int) (*peer, []*Delivery) {
	t.Helper()
	p, _, _ := senderPeer(t, Config{}, uint32(n))
	var b []byte
	for id := 0; id < n; id++ {
		b = append(b, enc(t, 0, transfer(0, uint32(id), false), []byte("m"))...)
	}
	p.feed(b)
	var ds []*Delivery
	for _, ev := range p.take(EventDelivery) {
		ds = append(ds, ev.Delivery)
	}
	if len(ds) != n {
		t.Fatalf("%d deliveries, want %d", len(ds), n)
	}
	return p, ds
}

func dispositionString(d *types.Disposition) string {
	s := fmt.Sprint(d.First)
	if d.Last.Set {
		s += fmt.Sprintf("-%d", d.Last.V)
	}
	role := "receiver"
	if d.Role == types.RoleSender {
		role = "sender"
	}
	s += " " + role
	if d.Settled {
		s += " settled"
	}
	if d.State != nil {
		s += " " + name(d.State.(types.Composite))
	}
	return s
}

func TestDispositionCoalescing(t *testing.T) {
	type settle struct {
		id     int
		state  types.DeliveryState
		settle bool
	}
	acc, rel := &types.Accepted{}, &types.Released{}
	rej := func() types.DeliveryState { return &types.Rejected{Error: types.NewError(types.CondNotAllowed, "no")} }
	for _, tc := range []struct {
		name    string
		settles []settle
		want    []string
	}{
		{"run of accepts", []settle{{0, acc, true}, {1, acc, true}, {2, acc, true}},
			[]string{"0-2 receiver settled Accepted"}},
		{"single", []settle{{3, acc, true}}, []string{"3 receiver settled Accepted"}},
		{"outcomes differ", []settle{{0, acc, true}, {1, rel, true}, {2, acc, true}},
			[]string{"0 receiver settled Accepted", "1 receiver settled Released", "2 receiver settled Accepted"}},
		{"gap", []settle{{0, acc, true}, {1, acc, true}, {3, acc, true}, {4, acc, true}},
			[]string{"0-1 receiver settled Accepted", "3-4 receiver settled Accepted"}},
		{"out of order", []settle{{2, acc, true}, {1, acc, true}, {0, acc, true}},
			[]string{"2 receiver settled Accepted", "1 receiver settled Accepted", "0 receiver settled Accepted"}},
		{"settled and not", []settle{{0, acc, true}, {1, acc, false}, {2, acc, false}},
			[]string{"0 receiver settled Accepted", "1-2 receiver Accepted"}},
		{"releases", []settle{{4, rel, true}, {5, rel, true}}, []string{"4-5 receiver settled Released"}},
		{"rejects carry fields: never merged", []settle{{0, rej(), true}, {1, rej(), true}},
			[]string{"0 receiver settled Rejected", "1 receiver settled Rejected"}},
		{"modified never merged", []settle{{0, &types.Modified{}, true}, {1, &types.Modified{}, true}},
			[]string{"0 receiver settled Modified", "1 receiver settled Modified"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ds := settleQueue(t, 6)
			for _, s := range tc.settles {
				ds[s.id].Update(s.state, s.settle)
			}
			var got []string
			for _, w := range p.read() {
				d, ok := w.Body.(*types.Disposition)
				if !ok {
					t.Fatalf("unexpected %v", w)
				}
				got = append(got, dispositionString(d))
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("dispositions %q, want %q", got, tc.want)
			}
		})
	}
}

// Consecutive ids across the 2^32 wrap coalesce too.
func TestDispositionCoalescingWraps(t *testing.T) {
	p, _, _ := senderPeer(t, Config{}, 3)
	var ds []*Delivery
	for _, id := range []uint32{math.MaxUint32 - 1, math.MaxUint32, 0} {
		p.send(0, transfer(0, id, false), 'm')
		ds = append(ds, p.one(t, EventDelivery).Delivery)
	}
	for _, d := range ds {
		d.Update(&types.Accepted{}, true)
	}
	d := p.expect("Disposition")[0].Body.(*types.Disposition)
	if got := dispositionString(d); got != "4294967294-0 receiver settled Accepted" {
		t.Fatalf("disposition %s", got)
	}
}

// unsettledSender is a server engine that has sent n unsettled deliveries,
// the first with delivery-id first, to the raw peer.
func unsettledSender(t *testing.T, first uint32, n int) (*peer, *Session, *Link, []*Delivery) {
	t.Helper()
	p, s, l := receiverPeer(t, 1000, uint32(n))
	s.nextDeliveryID = first
	var ds []*Delivery
	for i := 0; i < n; i++ {
		d, err := l.Send([]byte{byte(i)}, []byte("m"), false)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	p.read()
	return p, s, l, ds
}

func TestIncomingDispositionRange(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first       uint32 // of the deliveries sent
		dFirst      uint32
		dLast       types.Opt[uint32]
		wantApplied string // delivery ids the disposition reaches, in order
	}{
		{"whole id space", 0, 0, types.Some(uint32(math.MaxUint32)), "[0 1 2]"},
		{"one", 0, 1, types.Opt[uint32]{}, "[1]"},
		{"inside", 0, 1, types.Some(uint32(2)), "[1 2]"},
		{"beyond", 0, 3, types.Some(uint32(1000)), "[]"},
		{"wrapping ids, wrapping range", math.MaxUint32 - 1, math.MaxUint32 - 1, types.Some(uint32(0)), "[4294967294 4294967295 0]"},
		{"wrapping ids, huge range", math.MaxUint32 - 1, 100, types.Some(uint32(99)), "[4294967294 4294967295 0]"},
		{"wrapping ids, part", math.MaxUint32 - 1, math.MaxUint32, types.Some(uint32(5)), "[4294967295 0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s, l, _ := unsettledSender(t, tc.first, 3)
			start := time.Now()
			p.send(0, &types.Disposition{Role: types.RoleReceiver, First: tc.dFirst, Last: tc.dLast, Settled: true, State: &types.Accepted{}})
			if el := time.Since(start); el > time.Second {
				t.Fatalf("a disposition over 3 deliveries took %v", el)
			}
			var ids []uint32
			for _, ev := range p.take(EventDisposition) {
				ids = append(ids, ev.Delivery.ID())
				if !ev.Delivery.RemoteSettled() {
					t.Fatal("not settled")
				}
				if _, ok := ev.Delivery.RemoteState().(*types.Accepted); !ok {
					t.Fatalf("state %v", ev.Delivery.RemoteState())
				}
			}
			if fmt.Sprint(ids) != tc.wantApplied {
				t.Fatalf("applied to %v, want %s", ids, tc.wantApplied)
			}
			if left := 3 - len(ids); len(s.unsettledOut) != left || l.Unsettled() != left {
				t.Fatalf("%d unsettled (link %d), want %d", len(s.unsettledOut), l.Unsettled(), left)
			}
			p.expect() // settled by the peer: nothing to answer
		})
	}
}

// A disposition with the wrong role speaks of the other direction's
// deliveries and leaves ours alone.
func TestIncomingDispositionRole(t *testing.T) {
	p, s, _, _ := unsettledSender(t, 0, 3)
	p.send(0, &types.Disposition{Role: types.RoleSender, First: 0, Last: types.Some(uint32(2)), Settled: true})
	if len(p.take(EventDisposition)) != 0 || len(s.unsettledOut) != 3 {
		t.Fatal("a disposition from a sender is about deliveries we received")
	}
}

// Receiver settles second: the receiver's outcome arrives unsettled, the
// sender settles, then the receiver. Both directions, each role on the wire.
func TestSettleSecond(t *testing.T) {
	t.Run("server receives", func(t *testing.T) {
		p, s, l := senderPeer(t, Config{}, 5)
		p.send(0, transfer(0, 0, false), 'm')
		d := p.one(t, EventDelivery).Delivery
		d.Update(&types.Accepted{}, false)
		got := p.expect("Disposition")[0].Body.(*types.Disposition)
		if dispositionString(got) != "0 receiver Accepted" {
			t.Fatalf("disposition %s", dispositionString(got))
		}
		if l.Unsettled() != 1 || len(s.unsettledIn) != 1 {
			t.Fatal("still unsettled")
		}
		// The sender settles.
		p.send(0, &types.Disposition{Role: types.RoleSender, First: 0, Settled: true, State: &types.Accepted{}})
		ev := p.one(t, EventDisposition)
		if ev.Delivery != d || !d.RemoteSettled() || l.Unsettled() != 0 || len(s.unsettledIn) != 0 {
			t.Fatalf("remote-settled %v, %d unsettled", d.RemoteSettled(), l.Unsettled())
		}
		d.Settle() // nothing more to say
		p.expect()
		if !d.Settled() || l.Unsettled() != 0 {
			t.Fatalf("settled %v unsettled %d", d.Settled(), l.Unsettled())
		}
	})
	t.Run("server sends", func(t *testing.T) {
		p, s, l, ds := unsettledSender(t, 0, 1)
		d := ds[0]
		p.send(0, &types.Disposition{Role: types.RoleReceiver, First: 0, State: &types.Accepted{}})
		p.one(t, EventDisposition)
		if d.RemoteSettled() || l.Unsettled() != 1 {
			t.Fatal("the receiver has not settled")
		}
		if _, ok := d.RemoteState().(*types.Accepted); !ok {
			t.Fatalf("remote state %v", d.RemoteState())
		}
		d.Update(&types.Accepted{}, true)
		got := p.expect("Disposition")[0].Body.(*types.Disposition)
		if dispositionString(got) != "0 sender settled Accepted" {
			t.Fatalf("disposition %s", dispositionString(got))
		}
		if l.Unsettled() != 0 || len(s.unsettledOut) != 0 {
			t.Fatal("settled")
		}
		// The receiver's settlement finds nothing left.
		p.send(0, &types.Disposition{Role: types.RoleReceiver, First: 0, Settled: true})
		if len(p.take(EventDisposition)) != 0 {
			t.Fatal("a delivery settled here is forgotten")
		}
	})
	t.Run("engine pair", func(t *testing.T) {
		p := newPair(t, Config{}, Config{})
		p.open()
		cs, _ := p.session()
		snd, rcv := p.link(cs, true, "q")
		rcv.RcvSettleMode = types.ReceiverSettleModeSecond
		rcv.Flow(1, false)
		p.pump()
		sd, err := snd.Send([]byte("t"), []byte("m"), false)
		if err != nil {
			t.Fatal(err)
		}
		p.pump()
		rd := p.server.one(t, EventDelivery).Delivery
		rd.Update(&types.Accepted{}, false)
		p.pump()
		p.client.one(t, EventDisposition)
		sd.Settle()
		p.pump()
		p.server.one(t, EventDisposition)
		rd.Settle()
		p.pump()
		// The receiver settles what the sender already settled: nothing is sent.
		if snd.Unsettled()+rcv.Unsettled() != 0 || !rd.RemoteSettled() || !rd.Settled() || len(p.client.take(EventDisposition)) != 0 {
			t.Fatalf("unsettled %d/%d", snd.Unsettled(), rcv.Unsettled())
		}
	})
}

// A delivery's state is what this end last gave it, even when the peer
// had already settled it (no disposition is sent then).
func TestDeliveryStateKept(t *testing.T) {
	p, _, _ := senderPeer(t, Config{}, 5)
	settled := transfer(0, 0, false)
	settled.Settled = true
	p.send(0, settled, 'm')
	d := p.one(t, EventDelivery).Delivery
	d.Update(&types.Released{}, true)
	if _, ok := d.State().(*types.Released); !ok || !d.Settled() {
		t.Fatalf("state %v settled %v", d.State(), d.Settled())
	}
	p.expect()
}

// Deliveries on a link go away with it.
func TestUnsettledFreedWithLink(t *testing.T) {
	p, s, l, _ := unsettledSender(t, 0, 3)
	l.Detach(nil)
	p.expect("Detach")
	p.send(0, &types.Detach{Handle: 0, Closed: true})
	p.one(t, EventLinkDetach)
	if len(s.unsettledOut) != 0 || len(s.links) != 0 {
		t.Fatalf("%d unsettled, %d links after both detached", len(s.unsettledOut), len(s.links))
	}
	// The handle can be reused.
	p.send(0, &types.Attach{Name: "again", Handle: 0, Role: types.RoleReceiver})
	if l2 := p.one(t, EventLinkAttach).Link; l2 == l || l2.handle != 0 {
		t.Fatalf("new link on handle %d", l2.handle)
	}
}

// A disposition over everything, on a session with many unsettled
// deliveries across the id wrap, settles them all in delivery order.
func TestIncomingDispositionManyUnsettled(t *testing.T) {
	const n = 20000
	p, s, l, ds := unsettledSender(t, math.MaxUint32-n/2, n)
	start := time.Now()
	p.send(0, &types.Disposition{Role: types.RoleReceiver, First: 0, Last: types.Some(uint32(math.MaxUint32)), Settled: true, State: &types.Accepted{}})
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("a disposition over %d deliveries took %v", n, el)
	}
	evs := p.take(EventDisposition)
	if len(evs) != n || len(s.unsettledOut) != 0 || l.Unsettled() != 0 {
		t.Fatalf("%d events, %d unsettled", len(evs), len(s.unsettledOut))
	}
	// Ranged from 0, the ids after the wrap come first.
	for i, ev := range evs {
		if want := ds[(i+n/2+1)%n]; ev.Delivery != want {
			t.Fatalf("event %d is delivery %d, want %d", i, ev.Delivery.ID(), want.ID())
		}
	}
}
