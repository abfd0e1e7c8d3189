package frame_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// hx decodes hex written with optional spaces.
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// bodies returns one of every performative and SASL frame body, with fields set.
func bodies() []struct {
	typ  uint8
	body types.Composite
} {
	open := types.DefaultOpen()
	open.ContainerID, open.Hostname, open.MaxFrameSize = "container", "host", 65536
	open.IdleTimeOut = types.Some(uint32(30000))
	open.OfferedCapabilities = []types.Symbol{"ANONYMOUS-RELAY"}
	open.Properties = types.Map{{Key: types.Symbol("product"), Value: "qpidha"}}
	begin := types.DefaultBegin()
	begin.RemoteChannel = types.Some(uint16(3))
	begin.NextOutgoingID, begin.IncomingWindow, begin.OutgoingWindow = 1, 2048, 2048
	attach := types.DefaultAttach()
	attach.Name, attach.Handle, attach.Role = "link", 7, types.RoleReceiver
	source := types.DefaultSource()
	source.Address = "queue"
	source.Outcomes = []types.Symbol{"amqp:accepted:list"}
	attach.Source = &source
	target := types.DefaultTarget()
	target.Address = "queue"
	attach.Target = &target
	attach.InitialDeliveryCount = types.Some(uint32(0))
	attach.MaxMessageSize = types.Some(uint64(1 << 20))
	transfer := types.DefaultTransfer()
	transfer.Handle = 7
	transfer.DeliveryID = types.Some(uint32(9))
	transfer.DeliveryTag = []byte("tag")
	transfer.MessageFormat = types.Some(uint32(0))
	transfer.State = &types.Received{SectionNumber: 1, SectionOffset: 2}
	detach := types.DefaultDetach()
	detach.Handle, detach.Closed = 7, true
	detach.Error = &types.Error{Condition: types.CondLinkDetachForced, Description: "bye"}
	init := types.DefaultSASLInit()
	init.Mechanism, init.InitialResponse, init.Hostname = "PLAIN", []byte("\x00user\x00pass"), "host"
	return []struct {
		typ  uint8
		body types.Composite
	}{
		{frame.TypeAMQP, &open},
		{frame.TypeAMQP, &begin},
		{frame.TypeAMQP, &attach},
		{frame.TypeAMQP, &types.Flow{NextIncomingID: types.Some(uint32(1)), IncomingWindow: 2, NextOutgoingID: 3, OutgoingWindow: 4,
			Handle: types.Some(uint32(7)), DeliveryCount: types.Some(uint32(0)), LinkCredit: types.Some(uint32(100)), Drain: true}},
		{frame.TypeAMQP, &transfer},
		{frame.TypeAMQP, &types.Disposition{Role: types.RoleReceiver, First: 1, Last: types.Some(uint32(5)), Settled: true, State: &types.Accepted{}}},
		{frame.TypeAMQP, &detach},
		{frame.TypeAMQP, &types.End{}},
		{frame.TypeAMQP, &types.Close{Error: &types.Error{Condition: types.CondConnectionForced}}},
		{frame.TypeSASL, &types.SASLMechanisms{SASLServerMechanisms: []types.Symbol{"PLAIN", "ANONYMOUS"}}},
		{frame.TypeSASL, &init},
		{frame.TypeSASL, &types.SASLChallenge{Challenge: []byte("challenge")}},
		{frame.TypeSASL, &types.SASLResponse{Response: []byte("response")}},
		{frame.TypeSASL, &types.SASLOutcome{Code: types.SASLCodeAuth, AdditionalData: []byte{1}}},
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var stream []byte
	var want []frame.Frame
	for _, c := range bodies() {
		for _, ch := range []uint16{0, 65535, uint16(r.Uint32()), uint16(r.Uint32())} {
			var payload []byte
			if _, ok := c.body.(*types.Transfer); ok {
				payload = make([]byte, r.IntN(2000))
				for i := range payload {
					payload[i] = byte(r.Uint32())
				}
			}
			b, err := frame.Append(nil, c.typ, ch, c.body, payload)
			if err != nil {
				t.Fatalf("Append %T: %v", c.body, err)
			}
			f, n, err := frame.Parse(b, uint32(len(b)))
			if err != nil || n != len(b) {
				t.Fatalf("Parse %T: n=%d of %d, %v", c.body, n, len(b), err)
			}
			wantF := frame.Frame{Type: c.typ, Channel: ch, Body: c.body, Payload: payload}
			if !reflect.DeepEqual(f, wantF) {
				t.Errorf("Parse\n got %#v\nwant %#v", f, wantF)
			}
			stream = append(stream, b...)
			want = append(want, wantF)
			stream = frame.AppendEmpty(stream)
			want = append(want, frame.Frame{})
		}
	}
	// The same frames back to back, as a connection reads them.
	for i := 0; len(stream) > 0; i++ {
		f, n, err := frame.Parse(stream, frame.MinMaxFrameSize*8)
		if err != nil || n == 0 {
			t.Fatalf("frame %d: n=%d, %v", i, n, err)
		}
		if !reflect.DeepEqual(f, want[i]) {
			t.Fatalf("frame %d:\n got %#v\nwant %#v", i, f, want[i])
		}
		stream = stream[n:]
	}
}

func TestEmptyFrames(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want frame.Frame
	}{
		{"heartbeat", frame.AppendEmpty(nil), frame.Frame{}},
		{"heartbeat bytes", hx("00 00 00 08 02 00 00 00"), frame.Frame{}},
		{"on a channel", must(frame.Append(nil, frame.TypeAMQP, 5, nil, nil)), frame.Frame{Channel: 5}},
		{"extended header", hx("00 00 00 0c 03 00 00 07 aa bb cc dd"), frame.Frame{Channel: 7}},
	} {
		in := append(append([]byte{}, c.in...), 0xee) // the next frame's first byte
		f, n, err := frame.Parse(in, frame.MinMaxFrameSize)
		if err != nil || n != len(c.in) || !reflect.DeepEqual(f, c.want) {
			t.Errorf("%s: %#v, n=%d, %v", c.name, f, n, err)
		}
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestExtendedHeaderSkipped(t *testing.T) {
	b := must(frame.Append(nil, frame.TypeAMQP, 1, &types.End{}, nil))
	ext := append(append(hx("00 00 00 00 04 00 00 01"), 1, 2, 3, 4, 5, 6, 7, 8), b[8:]...)
	ext[3] = byte(len(ext))
	f, n, err := frame.Parse(ext, 512)
	if err != nil || n != len(ext) || !reflect.DeepEqual(f.Body, &types.End{}) || f.Channel != 1 {
		t.Errorf("%#v, n=%d, %v", f, n, err)
	}
}

func TestPartialInput(t *testing.T) {
	for _, c := range bodies() {
		b := must(frame.Append(nil, c.typ, 1, c.body, nil))
		for i := 0; i < len(b); i++ {
			if f, n, err := frame.Parse(b[:i], 1<<20); n != 0 || err != nil || f.Body != nil {
				t.Fatalf("%T, %d of %d bytes: %#v, n=%d, %v", c.body, i, len(b), f, n, err)
			}
		}
	}
}

// wantCondition checks err is an AMQP error with the condition.
func wantCondition(t *testing.T, what string, err error, cond types.Symbol) {
	t.Helper()
	var amqpErr *types.Error
	if !errors.As(err, &amqpErr) {
		t.Errorf("%s: error %v (%T) is not a *types.Error", what, err, err)
	} else if amqpErr.Condition != cond {
		t.Errorf("%s: condition %s (%v), want %s", what, amqpErr.Condition, err, cond)
	}
}

func TestFramingErrors(t *testing.T) {
	big := must(frame.Append(nil, frame.TypeAMQP, 0, &types.Transfer{}, make([]byte, 600)))
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"size 0", hx("00 00 00 00 02 00 00 00")},
		{"size 7", hx("00 00 00 07 02 00 00 00")},
		{"doff 0", hx("00 00 00 08 00 00 00 00")},
		{"doff 1", hx("00 00 00 08 01 00 00 00")},
		{"doff beyond size", hx("00 00 00 08 03 00 00 00 00 00 00 00")},
		{"doff 255", hx("00 00 00 10 ff 00 00 00 00 00 00 00 00 00 00 00")},
		{"size > max", big},
		{"size 4 GB", hx("ff ff ff ff 02 00 00 00")},
		{"unknown type", hx("00 00 00 08 02 02 00 00")},
		{"AMQP header", frame.Header(frame.ProtoAMQP)},
	} {
		// The header alone is enough to tell.
		for _, in := range [][]byte{c.in, c.in[:frame.HeaderSize]} {
			f, n, err := frame.Parse(in, frame.MinMaxFrameSize)
			if n != 0 || f.Body != nil {
				t.Errorf("%s: n=%d, %#v", c.name, n, f)
			}
			wantCondition(t, c.name, err, types.CondConnectionFramingError)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	frameOf := func(typ uint8, body []byte) []byte {
		b := append(hx("00 00 00 00 02 00 00 00"), body...)
		b[3], b[5] = byte(len(b)), typ
		return b
	}
	amqp := func(body types.Composite, payload string) []byte {
		return must(frame.Append(nil, frame.TypeAMQP, 0, body, []byte(payload)))
	}
	sasl := func(body types.Composite) []byte { return must(frame.Append(nil, frame.TypeSASL, 0, body, nil)) }
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"SASL body in an AMQP frame", amqp(&types.SASLInit{Mechanism: "PLAIN"}, "")},
		{"SASL outcome in an AMQP frame", amqp(&types.SASLOutcome{}, "")},
		{"open in a SASL frame", sasl(&types.Open{ContainerID: "c"})},
		{"transfer in a SASL frame", sasl(&types.Transfer{})},
		{"outcome in an AMQP frame", amqp(&types.Accepted{}, "")},
		{"error in an AMQP frame", amqp(&types.Error{Condition: "c"}, "")},
		{"message header in an AMQP frame", amqp(&types.Header{}, "")},
		{"unknown descriptor", frameOf(frame.TypeAMQP, hx("00 53 99 45"))},
		{"unknown symbolic descriptor", frameOf(frame.TypeAMQP, hx("00 a3 03 61 3a 62 45"))},
		{"not described", frameOf(frame.TypeAMQP, hx("45"))},
		{"descriptor only", frameOf(frame.TypeAMQP, hx("00 53 10"))},
		{"malformed open", frameOf(frame.TypeAMQP, hx("00 53 10 c0 05 01 a1 05 78"))},
		{"open without container-id", frameOf(frame.TypeAMQP, hx("00 53 10 45"))},
		{"transfer states nested too deep", amqp(deepTransfer(types.MaxDepth+1), "")},
		{"bytes after flow", amqp(&types.Flow{}, "x")},
		{"bytes after close", amqp(&types.Close{}, "\x40")},
		{"bytes after SASL init", frameOf(frame.TypeSASL, append(must((&types.SASLInit{Mechanism: "PLAIN"}).Marshal(nil)), 0x40))},
	} {
		f, n, err := frame.Parse(c.in, 1<<20)
		if n != 0 || f.Body != nil {
			t.Errorf("%s: n=%d, %#v", c.name, n, f)
		}
		wantCondition(t, c.name, err, types.CondDecodeError)
	}
}

// deepTransfer returns a transfer whose state is a transfer, levels deep.
func deepTransfer(levels int) *types.Transfer {
	tr := &types.Transfer{State: &types.Accepted{}}
	for i := 1; i < levels; i++ {
		tr = &types.Transfer{Handle: uint32(i), State: tr}
	}
	return tr
}

func TestTransferPayload(t *testing.T) {
	tr := &types.Transfer{Handle: 1, DeliveryID: types.Some(uint32(2)), DeliveryTag: []byte{3}}
	for _, payload := range [][]byte{nil, {0}, []byte("\x00\x53\x75\xa0\x03abc"), bytes.Repeat([]byte{0xff}, 70000)} {
		b := must(frame.Append([]byte("prefix"), frame.TypeAMQP, 9, tr, payload))[len("prefix"):]
		f, n, err := frame.Parse(b, 1<<20)
		if err != nil || n != len(b) || !reflect.DeepEqual(f.Body, tr) || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("%d bytes: %#v, n=%d, %v", len(payload), f, n, err)
		}
		if len(payload) > 0 && &f.Payload[len(f.Payload)-1] != &b[len(b)-1] {
			t.Error("the payload does not alias the input")
		}
	}
}

func TestAppendError(t *testing.T) {
	bad := &types.Attach{Name: "l", Source: struct{}{}}
	b, err := frame.Append([]byte("keep"), frame.TypeAMQP, 0, bad, nil)
	if err == nil || string(b) != "keep" {
		t.Errorf("Append of an unencodable body: %q, %v", b, err)
	}
}

func TestParseHeader(t *testing.T) {
	for _, c := range []struct {
		in    string
		proto uint8
		ok    bool
	}{
		{"AMQP\x00\x01\x00\x00", frame.ProtoAMQP, true},
		{"AMQP\x02\x01\x00\x00", frame.ProtoTLS, true},
		{"AMQP\x03\x01\x00\x00", frame.ProtoSASL, true},
		{"AMQP\x03\x01\x00\x00trailing", frame.ProtoSASL, true},
		{"AMQP\x01\x01\x00\x00", 1, false},             // unknown protocol id
		{"AMQP\x04\x01\x00\x00", 4, false},             // unknown protocol id
		{"AMQP\x01\x01\x00\x0a", 1, false},             // AMQP 0-10
		{"AMQP\x00\x00\x09\x01", 0, false},             // AMQP 0-9-1
		{"AMQP\x00\x01\x00\x01", 0, false},             // 1.0.1
		{"AMQP\x00\x02\x00\x00", 0, false},             // 2.0.0
		{"AMQX\x00\x01\x00\x00", 0, false},             // bad magic
		{"amqp\x00\x01\x00\x00", 0, false},             // bad magic
		{"\x00\x00\x00\x08\x02\x00\x00\x00", 0, false}, // a frame
		{"AMQP\x00\x01\x00", 0, false},                 // short
		{"", 0, false},
	} {
		proto, err := frame.ParseHeader([]byte(c.in))
		if c.ok != (err == nil) || proto != c.proto {
			t.Errorf("%q: proto %d, %v", c.in, proto, err)
		}
		if err != nil && !errors.Is(err, frame.ErrBadHeader) {
			t.Errorf("%q: %v does not wrap ErrBadHeader", c.in, err)
		}
	}
	for _, p := range []uint8{frame.ProtoAMQP, frame.ProtoTLS, frame.ProtoSASL} {
		if got, err := frame.ParseHeader(frame.Header(p)); err != nil || got != p {
			t.Errorf("Header(%d): %d, %v", p, got, err)
		}
	}
}

// TestRandomStreamsNeverPanic parses random mutations of valid frame streams:
// every outcome is a frame, a wait for more bytes or an AMQP error.
func TestRandomStreamsNeverPanic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var valid []byte
	for _, c := range bodies() {
		valid = must(frame.Append(valid, c.typ, uint16(r.Uint32()), c.body, nil))
	}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		start := 0
		if r.IntN(2) == 0 {
			start = r.IntN(len(valid))
		}
		b := append([]byte{}, valid[start:start+r.IntN(len(valid)-start+1)]...)
		for k := r.IntN(6); k > 0 && len(b) > 0; k-- {
			b[r.IntN(len(b))] = byte(r.Uint32())
		}
		parseStream(t, b)
	}
}
