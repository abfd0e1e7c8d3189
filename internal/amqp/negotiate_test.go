package amqp

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unicode/utf8"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Connection limits (max-frame-size, channel-max, handle-max) and the
// protocol errors a peer can make with channels and handles.

func TestMaxFrameSizeOutgoing(t *testing.T) {
	for _, max := range []uint32{512, 513, 1000, 4096} {
		p := scriptServer(t, Config{MaxFrameSize: 1 << 20})
		p.open(func(o *types.Open) { o.MaxFrameSize = max })
		s := p.begin(0, 1<<20)
		l := p.attach(0, 0, "out", types.RoleReceiver)
		p.send(0, credit(0, 0, 10))
		msgs := [][]byte{bytesOf(100000, 1), bytesOf(0, 2), bytesOf(int(max), 3), bytesOf(3*int(max)-17, 4)}
		for i, m := range msgs {
			tag := bytes.Repeat([]byte{'t'}, 32) // the longest tag
			if _, err := l.Send(tag[:i*10+2], m, false); err != nil {
				t.Fatal(err)
			}
		}
		ws := p.read()
		got := reassemble(t, ws, int(max))
		for i, m := range msgs {
			if !bytes.Equal(got[uint32(i)], m) {
				t.Fatalf("max %d: delivery %d reassembled to %d bytes, want %d", max, i, len(got[uint32(i)]), len(m))
			}
		}
		if s.Blocked() != 0 {
			t.Fatalf("%d frames held with an open window", s.Blocked())
		}
	}
}

func TestMaxFrameSizeIncoming(t *testing.T) {
	p := serverUp(t, Config{MaxFrameSize: 512})
	p.begin(0, 100)
	big := &types.Attach{Name: string(bytes.Repeat([]byte("n"), 600)), Handle: 0, Role: types.RoleSender}
	b := enc(t, 0, big, nil)
	// The frame header alone is enough to refuse it.
	p.feed(b[:frame.HeaderSize])
	p.expectError("Close", types.CondConnectionFramingError)
	p.one(t, EventSessionEnd)
	p.one(t, EventTransportClosed)
	if !p.c.Done() {
		t.Fatal("a framing error ends the transport")
	}
}

func TestOpenMaxFrameSizeTooSmall(t *testing.T) {
	p := scriptServer(t, Config{})
	p.feed(frame.Header(frame.ProtoAMQP))
	o := peerOpen()
	o.MaxFrameSize = 511
	p.send(0, o)
	p.expect("AMQP0", "Open", "Close amqp:invalid-field")
	if !p.c.Done() {
		t.Fatal("must close")
	}
}

func TestOpenNegotiation(t *testing.T) {
	p := scriptServer(t, Config{MaxFrameSize: 4096, ChannelMax: 9, IdleTimeout: 1500, Properties: types.Map{{Key: types.Symbol("product"), Value: "qpidha"}}})
	o := peerOpen()
	o.MaxFrameSize = 1000
	o.ChannelMax = 3
	p.feed(frame.Header(frame.ProtoAMQP))
	p.send(0, o)
	p.c.Open()
	got := p.expect("AMQP0", "Open")[1].Body.(*types.Open)
	if got.MaxFrameSize != 4096 || got.ChannelMax != 9 || got.ContainerID != "server" || got.Hostname != "" {
		t.Fatalf("open %+v", got)
	}
	if p.c.maxFrameOut != 1000 || p.c.channelMax != 3 {
		t.Fatalf("negotiated max-frame %d channel-max %d", p.c.maxFrameOut, p.c.channelMax)
	}
	if p.c.RemoteOpen().ContainerID != "peer" {
		t.Fatalf("remote open %+v", p.c.RemoteOpen())
	}
}

func TestChannelMax(t *testing.T) {
	p := serverUp(t, Config{ChannelMax: 3})
	p.begin(3, 10) // the highest channel is fine
	p.send(4, peerBegin(10))
	p.expectError("Close", types.CondConnectionFramingError)
	p.one(t, EventSessionEnd)
	p.one(t, EventTransportClosed)
}

func TestBeginOnChannelInUse(t *testing.T) {
	p := serverUp(t, Config{})
	p.begin(1, 10)
	p.send(1, peerBegin(10))
	p.expectError("Close", types.CondConnectionFramingError)
}

func TestHandleMax(t *testing.T) {
	p := serverUp(t, Config{HandleMax: 7})
	p.begin(0, 10)
	// The begin advertised the limit.
	p.attach(0, 7, "last", types.RoleSender)
	p.send(0, &types.Attach{Name: "over", Handle: 8, Role: types.RoleSender})
	p.expectError("Close", types.CondConnectionFramingError)
	if !p.c.Done() {
		t.Fatal("must close")
	}
}

func TestBeginAdvertisesLimits(t *testing.T) {
	p := serverUp(t, Config{HandleMax: 7, SessionWindow: 33})
	p.send(5, peerBegin(10))
	p.one(t, EventSessionBegin).Session.Begin()
	b := p.expect("Begin")[0]
	got := b.Body.(*types.Begin)
	if got.HandleMax != 7 || got.IncomingWindow != 33 || got.RemoteChannel != types.Some(uint16(5)) || b.Channel != 0 {
		t.Fatalf("begin on channel %d: %+v", b.Channel, got)
	}
}

func TestAttachHandleInUse(t *testing.T) {
	p := serverUp(t, Config{})
	p.begin(0, 10)
	p.attach(0, 4, "a", types.RoleSender)
	p.send(0, &types.Attach{Name: "b", Handle: 4, Role: types.RoleSender})
	p.expectError("End", types.CondSessionHandleInUse)
	if p.c.Done() || len(p.events) != 0 {
		t.Fatalf("a session error leaves the connection up (done %v, events %v)", p.c.Done(), p.events)
	}
	// The link goes with the session when the peer answers the end.
	p.send(0, &types.End{})
	if got := eventTypes(p.events); got != "[link-detach session-end]" {
		t.Fatalf("events %s", got)
	}
	p.expect()
	if len(p.c.sessions) != 0 {
		t.Fatal("the session must be freed")
	}
}

func TestUnattachedHandle(t *testing.T) {
	for _, tc := range []struct {
		name string
		body types.Composite
	}{
		{"flow", credit(9, 0, 10)},
		{"transfer", transfer(9, 0, false)},
		{"detach", &types.Detach{Handle: 9, Closed: true}},
		{"disposition is not about handles", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := serverUp(t, Config{})
			p.begin(0, 10)
			l := p.attach(0, 0, "a", types.RoleSender)
			l.Flow(10, false)
			p.expect("Flow")
			if tc.body == nil {
				p.send(0, &types.Disposition{Role: types.RoleReceiver, First: 9, Settled: true})
				p.expect()
				return
			}
			p.send(0, tc.body)
			p.expectError("End", types.CondSessionUnattachedHandle)
		})
	}
}

// A detached handle is unattached again.
func TestFrameOnDetachedHandle(t *testing.T) {
	p := serverUp(t, Config{})
	p.begin(0, 10)
	l := p.attach(0, 0, "a", types.RoleSender)
	p.send(0, &types.Detach{Handle: 0, Closed: true})
	p.one(t, EventLinkDetach)
	l.Detach(nil)
	p.expect("Detach")
	p.send(0, transfer(0, 0, false))
	p.expectError("End", types.CondSessionUnattachedHandle)
}

func TestFrameOnChannelWithoutSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		body types.Composite
	}{
		{"attach", &types.Attach{Name: "a", Role: types.RoleSender}},
		{"flow", credit(0, 0, 1)},
		{"transfer", transfer(0, 0, false)},
		{"disposition", &types.Disposition{Role: types.RoleReceiver}},
		{"detach", &types.Detach{}},
		{"end", &types.End{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := serverUp(t, Config{})
			p.begin(0, 10)
			p.send(1, tc.body)
			p.expectError("Close", types.CondConnectionFramingError)
			if !p.c.Done() {
				t.Fatal("must close")
			}
		})
	}
}

func TestFrameBeforeOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		body types.Composite
	}{
		{"begin", peerBegin(10)},
		{"close", &types.Close{}},
		{"attach", &types.Attach{Name: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptServer(t, Config{})
			p.feed(frame.Header(frame.ProtoAMQP))
			p.send(0, tc.body)
			// A close must follow an open: the server sends both.
			p.expect("AMQP0", "Open", "Close amqp:illegal-state")
			p.one(t, EventTransportClosed)
		})
	}
	t.Run("heartbeat before open is fine", func(t *testing.T) {
		p := scriptServer(t, Config{})
		p.feed(frame.Header(frame.ProtoAMQP), frame.AppendEmpty(nil))
		p.send(0, peerOpen())
		p.one(t, EventConnectionOpen)
	})
}

func TestSecondOpen(t *testing.T) {
	p := serverUp(t, Config{})
	p.send(0, peerOpen())
	p.expect("Close amqp:illegal-state")
	p.one(t, EventTransportClosed)
}

// A client engine enforces the same limits on a server.
func TestClientChannelMaxAndFreeChannels(t *testing.T) {
	p := scriptClient(t, Config{ChannelMax: 100})
	p.expect("AMQP0")
	p.c.Open()
	p.feed(frame.Header(frame.ProtoAMQP))
	o := peerOpen()
	o.ChannelMax = 1
	p.send(0, o)
	p.expect("Open")
	for ch := 0; ch <= 1; ch++ {
		s, err := p.c.Session()
		if err != nil {
			t.Fatalf("session %d: %v", ch, err)
		}
		s.Begin()
		if w := p.expect("Begin")[0]; w.Channel != uint16(ch) {
			t.Fatalf("begin on channel %d, want %d", w.Channel, ch)
		}
	}
	if _, err := p.c.Session(); err == nil {
		t.Fatal("the server's channel-max 1 allows two sessions only")
	}
	// An answer to a begin we never sent is a framing error.
	b := peerBegin(10)
	b.RemoteChannel = types.Some(uint16(7))
	p.send(0, b)
	p.expectError("Close", types.CondConnectionFramingError)
}

// An error quoting the peer's bytes must still be a valid, small close: the
// description is made valid UTF-8 and cut short.
func TestDecodeErrorDescriptionIsSafe(t *testing.T) {
	for _, tc := range []struct {
		name string
		body []byte // a frame body
	}{
		{"invalid UTF-8 descriptor", append([]byte{0x00, 0xa3, 0x05}, "\xc0\xff\xfe00"...)},
		{"long descriptor", append([]byte{0x00, 0xb3, 0, 0, 0x10, 0}, bytes.Repeat([]byte("x"), 0x1000)...)},
		{"long descriptor of 3-byte runes", append([]byte{0x00, 0xb3, 0, 0, 0x10, 0x02}, bytes.Repeat([]byte("€"), 0x1002/3)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptServer(t, Config{})
			b := []byte{0, 0, 0, 0, 2, frame.TypeAMQP, 0, 0}
			b = append(b, tc.body...)
			binary.BigEndian.PutUint32(b, uint32(len(b)))
			p.feed(frame.Header(frame.ProtoAMQP), b)
			ws := p.expect("AMQP0", "Open", "Close amqp:decode-error")
			desc := ws[2].Body.(*types.Close).Error.Description
			if !utf8.ValidString(desc) || len(desc) > 256 || ws[2].size > frame.MinMaxFrameSize {
				t.Fatalf("close of %d bytes, description %q", ws[2].size, desc)
			}
		})
	}
}
