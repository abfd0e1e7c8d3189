package amqp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// clock is the injected time of a test.
type clock struct{ t time.Time }

func newClock() *clock                   { return &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// end is one side of an in-memory pair: its engine, the events it produced,
// and a trace of the frames it received.
type end struct {
	name   string
	c      *Connection
	events []Event
	frames []string
}

func (e *end) drain() {
	for {
		ev, ok := e.c.Next()
		if !ok {
			return
		}
		e.events = append(e.events, ev)
	}
}

// take removes and returns the events of a type.
func (e *end) take(typ EventType) []Event {
	var got, rest []Event
	for _, ev := range e.events {
		if ev.Type == typ {
			got = append(got, ev)
		} else {
			rest = append(rest, ev)
		}
	}
	e.events = rest
	return got
}

func (e *end) one(t testing.TB, typ EventType) Event {
	t.Helper()
	got := e.take(typ)
	if len(got) != 1 {
		t.Fatalf("%s: want one %v event, got %d (events left: %v)", e.name, typ, len(got), e.events)
	}
	return got[0]
}

// pair is a client and a server engine connected by memory.
type pair struct {
	t              testing.TB
	clock          *clock
	client, server *end
	// chunk, when set, feeds bytes in pieces of at most this size.
	chunk int
	// wire, when set, sees every batch of bytes an end wrote.
	wire func(from *end, b []byte)
}

func traceInto(e *end) func(bool, uint16, types.Composite, int) {
	return func(sent bool, ch uint16, body types.Composite, payload int) {
		if sent {
			return
		}
		s := fmt.Sprintf("%d:%s", ch, name(body))
		if payload > 0 {
			s += fmt.Sprintf("+%d", payload)
		}
		e.frames = append(e.frames, s)
	}
}

func newPair(t testing.TB, server, client Config) *pair {
	p := &pair{t: t, clock: newClock()}
	p.server = &end{name: "server"}
	p.client = &end{name: "client"}
	server.Now, client.Now = p.clock.now, p.clock.now
	server.Trace, client.Trace = traceInto(p.server), traceInto(p.client)
	if server.ContainerID == "" {
		server.ContainerID = "server"
	}
	if client.ContainerID == "" {
		client.ContainerID = "client"
	}
	p.server.c = NewServer(server)
	p.client.c = NewClient(client)
	return p
}

// pump moves bytes both ways until neither side has anything to say.
func (p *pair) pump() {
	for i := 0; i < 10000; i++ {
		a := p.client.c.TakeOutput(nil)
		b := p.server.c.TakeOutput(nil)
		if len(a) == 0 && len(b) == 0 {
			p.client.drain()
			p.server.drain()
			return
		}
		p.deliver(p.client, p.server, a)
		p.deliver(p.server, p.client, b)
		p.client.drain()
		p.server.drain()
	}
	p.t.Fatal("pump: no quiescence")
}

// deliver feeds b, written by from, to the other end (in chunks if p.chunk).
func (p *pair) deliver(from, to *end, b []byte) {
	if p.wire != nil && len(b) > 0 {
		p.wire(from, b)
	}
	if p.chunk <= 0 {
		to.c.Feed(b)
		return
	}
	for len(b) > 0 {
		n := min(p.chunk, len(b))
		to.c.Feed(b[:n])
		b = b[n:]
	}
}

// open runs the handshake to both opens.
func (p *pair) open() {
	p.client.c.Open()
	p.pump()
	p.server.one(p.t, EventConnectionOpen)
	p.server.c.Open()
	p.pump()
	p.client.one(p.t, EventConnectionOpen)
}

// session begins a session from the client and answers it.
func (p *pair) session() (cs, ss *Session) {
	cs, err := p.client.c.Session()
	if err != nil {
		p.t.Fatal(err)
	}
	cs.Begin()
	p.pump()
	ss = p.server.one(p.t, EventSessionBegin).Session
	ss.Begin()
	p.pump()
	p.client.one(p.t, EventSessionBegin)
	return cs, ss
}

// link attaches a client sender (or receiver) to address and answers it.
func (p *pair) link(cs *Session, sender bool, address string) (cl, sl *Link) {
	var err error
	if sender {
		cl, err = cs.NewSender("link-" + address)
		cl.Target = &types.Target{Address: address}
	} else {
		cl, err = cs.NewReceiver("link-" + address)
		cl.Source = &types.Source{Address: address}
	}
	if err != nil {
		p.t.Fatal(err)
	}
	cl.Attach()
	p.pump()
	sl = p.server.one(p.t, EventLinkAttach).Link
	sl.Attach()
	p.pump()
	p.client.one(p.t, EventLinkAttach)
	return cl, sl
}

type passwords map[string]string

func (p passwords) CheckPassword(u, pw string) bool { v, ok := p[u]; return ok && v == pw }

func TestHandshakePlainSASL(t *testing.T) {
	srv := Config{SASLServer: sasl.Mechanisms{
		sasl.Plain:     func() sasl.ServerMechanism { return sasl.NewPlain(passwords{"guest": "secret"}) },
		sasl.Anonymous: sasl.NewAnonymous,
	}, RequireSASL: true}
	p := newPair(t, srv, Config{SASLClient: sasl.ClientPlain("guest", "secret")})
	p.open()
	if got := p.server.c.Identity(); got != "guest" {
		t.Fatalf("identity %q", got)
	}
	p.client.c.Close(nil)
	p.pump()
	p.server.one(t, EventConnectionClose)
	p.server.c.Close(nil)
	p.pump()
	if !p.server.c.Done() || !p.client.c.Done() {
		t.Fatal("both ends should be done after close")
	}
}

func TestWrongPasswordGetsAuthOutcome(t *testing.T) {
	srv := Config{SASLServer: sasl.Mechanisms{
		sasl.Plain: func() sasl.ServerMechanism { return sasl.NewPlain(passwords{"guest": "secret"}) },
	}}
	p := newPair(t, srv, Config{SASLClient: sasl.ClientPlain("guest", "wrong")})
	p.client.c.Open()
	p.pump()
	if !p.server.c.Done() || !p.client.c.Done() {
		t.Fatal("a failed SASL exchange ends both transports")
	}
	if err := p.client.c.Err(); err == nil || !strings.Contains(err.Error(), "sasl-code 1") {
		t.Fatalf("client error %v, want an auth outcome (sasl-code 1)", err)
	}
	if err := p.server.c.Err(); err == nil || !strings.Contains(err.Error(), "wrong user name or password") {
		t.Fatalf("server error %v", err)
	}
}

func TestBadHeaderIsAnsweredWithOurs(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		sasl        bool
		want        string
	}{
		{"http", "GET / HTTP/1.1\r\n", false, "AMQP\x00\x01\x00\x00"},
		{"amqp 0-10", "AMQP\x01\x01\x00\x0a", false, "AMQP\x00\x01\x00\x00"},
		{"tls", "AMQP\x02\x01\x00\x00", true, "AMQP\x03\x01\x00\x00"},
		{"plain amqp when SASL is required", "AMQP\x00\x01\x00\x00", true, "AMQP\x03\x01\x00\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{ContainerID: "s"}
			if tc.sasl {
				cfg.SASLServer = sasl.Mechanisms{sasl.Anonymous: sasl.NewAnonymous}
				cfg.RequireSASL = true
			}
			c := NewServer(cfg)
			c.Feed([]byte(tc.input))
			if got := string(c.TakeOutput(nil)); got != tc.want {
				t.Fatalf("answer %q, want %q", got, tc.want)
			}
			if !c.Done() {
				t.Fatal("the server must close after a header it cannot serve")
			}
		})
	}
}

func TestTransferSettleDetachEnd(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.open()
	cs, _ := p.session()
	snd, rcv := p.link(cs, true, "q")
	rcv.Flow(10, false)
	p.pump()
	p.client.one(t, EventLinkFlow)
	if snd.Credit() != 10 {
		t.Fatalf("sender credit %d, want 10", snd.Credit())
	}
	for i := 0; i < 3; i++ {
		if _, err := snd.Send([]byte{byte(i)}, []byte(fmt.Sprintf("message %d", i)), false); err != nil {
			t.Fatal(err)
		}
	}
	p.pump()
	got := p.server.take(EventDelivery)
	if len(got) != 3 {
		t.Fatalf("got %d deliveries", len(got))
	}
	for i, ev := range got {
		if string(ev.Delivery.Payload()) != fmt.Sprintf("message %d", i) {
			t.Fatalf("payload %q", ev.Delivery.Payload())
		}
		ev.Delivery.Update(&types.Accepted{}, true)
	}
	p.client.frames = nil
	p.pump()
	// Three accepts of consecutive ids travel as one ranged disposition.
	if want := []string{"0:Disposition"}; fmt.Sprint(p.client.frames) != fmt.Sprint(want) {
		t.Fatalf("frames %v, want %v", p.client.frames, want)
	}
	for _, ev := range p.client.take(EventDisposition) {
		if _, ok := ev.Delivery.RemoteState().(*types.Accepted); !ok || !ev.Delivery.RemoteSettled() {
			t.Fatalf("disposition %v settled %v", ev.Delivery.RemoteState(), ev.Delivery.RemoteSettled())
		}
	}
	if snd.Unsettled() != 0 || rcv.Unsettled() != 0 {
		t.Fatalf("unsettled %d/%d", snd.Unsettled(), rcv.Unsettled())
	}
	snd.Detach(nil)
	p.pump()
	p.server.one(t, EventLinkDetach)
	rcv.Detach(nil)
	p.pump()
	p.client.one(t, EventLinkDetach)
	cs.End(nil)
	p.pump()
	ev := p.server.one(t, EventSessionEnd)
	ev.Session.End(nil)
	p.pump()
	p.client.one(t, EventSessionEnd)
	if len(p.client.c.sessions) != 0 || len(p.server.c.sessions) != 0 {
		t.Fatal("ended sessions must be freed")
	}
}

func TestMultiFrameAndAborted(t *testing.T) {
	p := newPair(t, Config{MaxFrameSize: 512}, Config{MaxFrameSize: 512})
	p.open()
	cs, _ := p.session()
	snd, rcv := p.link(cs, true, "q")
	rcv.Flow(5, false)
	p.pump()
	big := make([]byte, 100000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if _, err := snd.Send([]byte("t"), big, false); err != nil {
		t.Fatal(err)
	}
	p.server.frames = nil
	p.pump()
	d := p.server.one(t, EventDelivery).Delivery
	if string(d.Payload()) != string(big) {
		t.Fatal("multi-frame payload differs")
	}
	if n := len(p.server.frames); n < 100000/512 {
		t.Fatalf("only %d frames for 100000 bytes in 512-byte frames", n)
	}
	// An aborted delivery is dropped; the next one arrives whole.
	f, _ := frame.Append(nil, frame.TypeAMQP, 0, &types.Transfer{Handle: 0, DeliveryID: types.Some(uint32(1)), DeliveryTag: []byte("a"), More: true}, []byte("part"))
	f, _ = frame.Append(f, frame.TypeAMQP, 0, &types.Transfer{Handle: 0, Aborted: true}, nil)
	p.server.c.Feed(f)
	p.server.drain()
	if len(p.server.take(EventDelivery)) != 0 {
		t.Fatal("an aborted transfer must not be delivered")
	}
	if rcv.Credit() != 3 {
		t.Fatalf("credit %d: an aborted delivery still uses credit", rcv.Credit())
	}
}

func TestDrainAndEcho(t *testing.T) {
	p := newPair(t, Config{}, Config{})
	p.open()
	cs, _ := p.session()
	crcv, ssnd := p.link(cs, false, "q")
	crcv.Flow(7, true)
	p.pump()
	p.server.one(t, EventLinkFlow)
	if !ssnd.Drain() || ssnd.Credit() != 7 {
		t.Fatalf("drain %v credit %d", ssnd.Drain(), ssnd.Credit())
	}
	if _, err := ssnd.Send([]byte("1"), []byte("x"), true); err != nil {
		t.Fatal(err)
	}
	ssnd.Drained()
	p.pump()
	p.client.take(EventDelivery)
	p.client.one(t, EventLinkFlow)
	if crcv.Credit() != 0 || crcv.DeliveryCount() != 7 || crcv.Drain() {
		t.Fatalf("after drain: credit %d delivery-count %d drain %v", crcv.Credit(), crcv.DeliveryCount(), crcv.Drain())
	}
	if _, err := ssnd.Send([]byte("2"), []byte("y"), true); err != ErrNoCredit {
		t.Fatalf("send without credit: %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	p := newPair(t, Config{IdleTimeout: time.Second}, Config{})
	p.open()
	// The client must heartbeat every half of the server's advertised timeout.
	p.clock.advance(499 * time.Millisecond)
	p.client.c.Tick()
	if p.client.c.HasOutput() {
		t.Fatal("heartbeat before half the peer's timeout")
	}
	p.clock.advance(time.Millisecond)
	next := p.client.c.Tick()
	out := p.client.c.TakeOutput(nil)
	if string(out) != "\x00\x00\x00\x08\x02\x00\x00\x00" {
		t.Fatalf("heartbeat %q", out)
	}
	p.server.c.Feed(out)
	if want := p.clock.now().Add(500 * time.Millisecond); !next.Equal(want) {
		t.Fatalf("next tick %v, want %v", next, want)
	}
	// The server closes a peer silent for twice its timeout, not before.
	p.clock.advance(1999 * time.Millisecond)
	p.server.c.Tick()
	if p.server.c.Done() {
		t.Fatal("closed before 2x the idle timeout")
	}
	p.clock.advance(time.Millisecond)
	p.server.c.Tick()
	if !p.server.c.Done() {
		t.Fatal("a silent peer must be closed after 2x the idle timeout")
	}
	p.client.c.Feed(p.server.c.TakeOutput(nil))
	p.client.drain()
	p.client.one(t, EventConnectionClose)
	if e := p.client.c.RemoteError(); e == nil || e.Condition != types.CondResourceLimitExceeded {
		t.Fatalf("close error %v", e)
	}
}
