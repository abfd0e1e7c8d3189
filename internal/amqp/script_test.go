package amqp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// This file holds the script harness: the test plays the peer of one engine
// with frames it builds by hand (frame.Append) and decodes exactly what the
// engine writes back (frame.Parse). The engine's application side is driven
// directly through its API, and time only moves with the fake clock.

// peer is a raw AMQP peer of one engine.
type peer struct {
	*end
	t     *testing.T
	clock *clock
}

// scriptServer returns a server engine (the peer is a client) on a fake clock.
func scriptServer(t *testing.T, cfg Config) *peer {
	t.Helper()
	p := &peer{end: &end{name: "server"}, t: t, clock: newClock()}
	cfg.Now = p.clock.now
	if cfg.ContainerID == "" {
		cfg.ContainerID = "server"
	}
	p.c = NewServer(cfg)
	return p
}

// scriptClient returns a client engine (the peer is a server) on a fake clock.
func scriptClient(t *testing.T, cfg Config) *peer {
	t.Helper()
	p := &peer{end: &end{name: "client"}, t: t, clock: newClock()}
	cfg.Now = p.clock.now
	if cfg.ContainerID == "" {
		cfg.ContainerID = "client"
	}
	p.c = NewClient(cfg)
	return p
}

// enc encodes one AMQP frame.
func enc(t testing.TB, channel uint16, body types.Composite, payload []byte) []byte {
	t.Helper()
	b, err := frame.Append(nil, frame.TypeAMQP, channel, body, payload)
	if err != nil {
		t.Fatalf("encode %T: %v", body, err)
	}
	return b
}

// encSASL encodes one SASL frame.
func encSASL(t testing.TB, body types.Composite) []byte {
	t.Helper()
	b, err := frame.Append(nil, frame.TypeSASL, 0, body, nil)
	if err != nil {
		t.Fatalf("encode %T: %v", body, err)
	}
	return b
}

// feed gives the engine bytes and collects its events.
func (p *peer) feed(chunks ...[]byte) {
	for _, b := range chunks {
		p.c.Feed(b)
	}
	p.drain()
}

// send feeds one AMQP frame.
func (p *peer) send(channel uint16, body types.Composite, payload ...byte) {
	p.t.Helper()
	p.feed(enc(p.t, channel, body, payload))
}

// sendSASL feeds one SASL frame.
func (p *peer) sendSASL(body types.Composite) {
	p.t.Helper()
	p.feed(encSASL(p.t, body))
}

// wire is one unit of engine output: a protocol header or a frame.
type wire struct {
	proto int // protocol id of a protocol header; -1 for a frame
	size  int // bytes on the wire
	frame.Frame
}

func (w wire) String() string {
	if w.proto >= 0 {
		return fmt.Sprintf("AMQP%d", w.proto)
	}
	var cond types.Symbol
	switch b := w.Body.(type) {
	case nil:
		return "Empty"
	case *types.Close:
		if b.Error != nil {
			cond = b.Error.Condition
		}
	case *types.End:
		if b.Error != nil {
			cond = b.Error.Condition
		}
	case *types.Detach:
		if b.Error != nil {
			cond = b.Error.Condition
		}
	case *types.SASLOutcome:
		return fmt.Sprintf("SASLOutcome %d", b.Code)
	}
	if cond != "" {
		return name(w.Body) + " " + string(cond)
	}
	return name(w.Body)
}

// parseWire splits engine output into protocol headers and frames.
func parseWire(t testing.TB, b []byte) []wire {
	t.Helper()
	ws, err := splitWire(b)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

// splitWire splits engine output into protocol headers and frames. A frame
// never starts with "AMQP" (that would be a 1 GB frame), so the first four
// bytes tell them apart.
func splitWire(b []byte) ([]wire, error) {
	var got []wire
	for len(b) > 0 {
		if len(b) >= frame.HeaderSize && string(b[:4]) == "AMQP" {
			got = append(got, wire{proto: int(b[4]), size: frame.HeaderSize})
			b = b[frame.HeaderSize:]
			continue
		}
		f, n, err := frame.Parse(b, 1<<30)
		if err != nil {
			return got, fmt.Errorf("engine wrote an undecodable frame: %v\n% x", err, b)
		}
		if n == 0 {
			return got, fmt.Errorf("engine wrote a partial frame: % x", b)
		}
		got = append(got, wire{proto: -1, size: n, Frame: f})
		b = b[n:]
	}
	return got, nil
}

// read takes the engine's output and decodes it.
func (p *peer) read() []wire {
	p.t.Helper()
	return parseWire(p.t, p.c.TakeOutput(nil))
}

// expect reads the engine's output and checks its shape, e.g.
// expect("AMQP0", "Open", "Close amqp:illegal-state").
func (p *peer) expect(want ...string) []wire {
	p.t.Helper()
	got := p.read()
	if g, w := describe(got), strings.Join(want, ", "); g != w {
		p.t.Fatalf("%s wrote [%s], want [%s]", p.name, g, w)
	}
	return got
}

func eventTypes(evs []Event) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = e.Type.String()
	}
	return fmt.Sprint(s)
}

func describe(ws []wire) string {
	s := make([]string, len(ws))
	for i, w := range ws {
		s[i] = w.String()
	}
	return strings.Join(s, ", ")
}

// expectError reads a single Close, End or Detach with the condition and
// returns its error.
func (p *peer) expectError(kind string, cond types.Symbol) *types.Error {
	p.t.Helper()
	got := p.expect(kind + " " + string(cond))
	switch b := got[0].Body.(type) {
	case *types.Close:
		return b.Error
	case *types.End:
		return b.Error
	case *types.Detach:
		return b.Error
	}
	return nil
}

// peerOpen is a client's open with the spec defaults (no limits).
func peerOpen() *types.Open {
	o := types.DefaultOpen()
	o.ContainerID = "peer"
	return &o
}

// peerBegin is a begin with the given incoming window and no handle limit.
func peerBegin(window uint32) *types.Begin {
	b := types.DefaultBegin()
	b.IncomingWindow = window
	b.OutgoingWindow = 1 << 20
	return &b
}

// open runs a plain (no SASL) header exchange and both opens on a server
// engine; mod may change the peer's open.
func (p *peer) open(mod func(*types.Open)) {
	p.t.Helper()
	o := peerOpen()
	if mod != nil {
		mod(o)
	}
	p.feed(frame.Header(frame.ProtoAMQP))
	p.send(0, o)
	p.one(p.t, EventConnectionOpen)
	p.c.Open()
	p.expect("AMQP0", "Open")
}

// serverUp is a server engine past the open exchange with a raw client.
func serverUp(t *testing.T, cfg Config) *peer {
	t.Helper()
	p := scriptServer(t, cfg)
	p.open(nil)
	return p
}

// begin starts a session on channel ch with the given incoming window; the
// engine answers it.
func (p *peer) begin(ch uint16, window uint32) *Session {
	p.t.Helper()
	p.send(ch, peerBegin(window))
	s := p.one(p.t, EventSessionBegin).Session
	s.Begin()
	got := p.expect("Begin")
	if b := got[0].Body.(*types.Begin); !b.RemoteChannel.Set || b.RemoteChannel.V != ch {
		p.t.Fatalf("begin answers remote-channel %v, want %d", b.RemoteChannel, ch)
	}
	return s
}

// attach attaches a link with the peer in role; the engine answers it.
func (p *peer) attach(ch uint16, handle uint32, linkName string, role types.Role) *Link {
	p.t.Helper()
	a := &types.Attach{Name: linkName, Handle: handle, Role: role, SndSettleMode: types.SenderSettleModeMixed}
	if role == types.RoleSender {
		a.InitialDeliveryCount = types.Some(uint32(0))
		a.Target = &types.Target{Address: "q"}
	} else {
		a.Source = &types.Source{Address: "q"}
	}
	p.send(ch, a)
	l := p.one(p.t, EventLinkAttach).Link
	l.Attach()
	p.expect("Attach")
	return l
}

// transfer is a single-frame unsettled transfer of delivery id on handle.
func transfer(handle, id uint32, more bool) *types.Transfer {
	return &types.Transfer{
		Handle:        handle,
		DeliveryID:    types.Some(id),
		DeliveryTag:   []byte(fmt.Sprint(id)),
		MessageFormat: types.Some(uint32(0)),
		More:          more,
	}
}

// credit is a flow from a receiving peer granting credit on handle.
func credit(handle, deliveryCount, linkCredit uint32) *types.Flow {
	return &types.Flow{
		NextIncomingID: types.Some(uint32(0)),
		IncomingWindow: 1 << 20,
		OutgoingWindow: 1 << 20,
		Handle:         types.Some(handle),
		DeliveryCount:  types.Some(deliveryCount),
		LinkCredit:     types.Some(linkCredit),
	}
}

// reassemble concatenates the transfer payloads of ws per delivery id.
func reassemble(t *testing.T, ws []wire, maxFrame int) map[uint32][]byte {
	t.Helper()
	got := map[uint32][]byte{}
	var cur uint32
	for _, w := range ws {
		if w.size > maxFrame {
			t.Fatalf("%v of %d bytes exceeds max-frame-size %d", w, w.size, maxFrame)
		}
		tr, ok := w.Body.(*types.Transfer)
		if !ok {
			continue
		}
		if tr.DeliveryID.Set {
			cur = tr.DeliveryID.V
		}
		got[cur] = append(got[cur], w.Payload...)
	}
	return got
}

func bytesOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) + seed
	}
	return b
}

func TestScriptHarnessRoundTrip(t *testing.T) {
	// The harness itself: what parseWire reads is what enc wrote.
	b := append(frame.Header(frame.ProtoSASL), enc(t, 3, &types.End{Error: types.NewError(types.CondNotAllowed, "x")}, nil)...)
	b = frame.AppendEmpty(b)
	b = append(b, enc(t, 1, transfer(2, 3, false), []byte("abc"))...)
	ws := parseWire(t, b)
	if got := describe(ws); got != "AMQP3, End amqp:not-allowed, Empty, Transfer" {
		t.Fatalf("parsed %s", got)
	}
	if ws[1].Channel != 3 || !bytes.Equal(ws[3].Payload, []byte("abc")) {
		t.Fatalf("channel %d payload %q", ws[1].Channel, ws[3].Payload)
	}
}
