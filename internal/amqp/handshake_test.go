package amqp

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Protocol header exchange and SASL (part 2.2, part 5.3), played byte for
// byte against one engine.

func saslServer() sasl.Server {
	return sasl.Mechanisms{
		sasl.Plain:     func() sasl.ServerMechanism { return sasl.NewPlain(passwords{"guest": "secret"}) },
		sasl.Anonymous: sasl.NewAnonymous,
	}
}

func plainResponse(user, pass string) []byte { return []byte("\x00" + user + "\x00" + pass) }

func TestServerHeaderExchange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		proto   uint8
		answer  []string
		amqpNow bool // the AMQP layer is up after the header
	}{
		{"no SASL layer", Config{}, frame.ProtoAMQP, []string{"AMQP0"}, true},
		{"SASL offered, client skips it", Config{SASLServer: saslServer()}, frame.ProtoAMQP, []string{"AMQP0"}, true},
		{"SASL offered and used", Config{SASLServer: saslServer()}, frame.ProtoSASL, []string{"AMQP3", "SASLMechanisms"}, false},
		{"SASL required and used", Config{SASLServer: saslServer(), RequireSASL: true}, frame.ProtoSASL, []string{"AMQP3", "SASLMechanisms"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptServer(t, tc.cfg)
			p.feed(frame.Header(tc.proto))
			got := p.expect(tc.answer...)
			if m, ok := got[len(got)-1].Body.(*types.SASLMechanisms); ok {
				if fmt.Sprint(m.SASLServerMechanisms) != "[ANONYMOUS PLAIN]" {
					t.Fatalf("mechanisms %v", m.SASLServerMechanisms)
				}
			}
			if tc.amqpNow {
				p.send(0, peerOpen())
				p.one(t, EventConnectionOpen)
			}
			if p.c.Done() {
				t.Fatalf("done: %v", p.c.Err())
			}
		})
	}
}

func TestClientHeaderExchange(t *testing.T) {
	t.Run("no SASL", func(t *testing.T) {
		p := scriptClient(t, Config{Hostname: "broker"})
		p.expect("AMQP0")
		p.c.Open()
		p.expect() // open waits for the server's header
		p.feed(frame.Header(frame.ProtoAMQP))
		got := p.expect("Open")
		if o := got[0].Body.(*types.Open); o.ContainerID != "client" || o.Hostname != "broker" {
			t.Fatalf("open %+v", o)
		}
		p.send(0, peerOpen())
		p.one(t, EventConnectionOpen)
	})
	for _, tc := range []struct {
		name     string
		mech     sasl.ClientMechanism
		response string
	}{
		{"SASL ANONYMOUS", sasl.ClientAnonymous(), ""},
		{"SASL PLAIN", sasl.ClientPlain("guest", "secret"), "\x00guest\x00secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptClient(t, Config{SASLClient: tc.mech, Hostname: "broker"})
			p.expect("AMQP3")
			p.c.Open()
			p.feed(frame.Header(frame.ProtoSASL))
			p.sendSASL(&types.SASLMechanisms{SASLServerMechanisms: []types.Symbol{"ANONYMOUS", "PLAIN", "SCRAM-SHA-256"}})
			got := p.expect("SASLInit")
			init := got[0].Body.(*types.SASLInit)
			if string(init.Mechanism) != tc.mech.Name() || string(init.InitialResponse) != tc.response || init.Hostname != "broker" {
				t.Fatalf("sasl-init %+v", init)
			}
			p.sendSASL(&types.SASLOutcome{Code: types.SASLCodeOK})
			p.expect("AMQP0") // the open still waits for the server's AMQP header
			p.feed(frame.Header(frame.ProtoAMQP))
			p.expect("Open")
		})
	}
	t.Run("SASL refused", func(t *testing.T) {
		p := scriptClient(t, Config{SASLClient: sasl.ClientPlain("guest", "wrong")})
		p.expect("AMQP3")
		p.feed(frame.Header(frame.ProtoSASL))
		p.sendSASL(&types.SASLMechanisms{SASLServerMechanisms: []types.Symbol{"PLAIN"}})
		p.expect("SASLInit")
		p.sendSASL(&types.SASLOutcome{Code: types.SASLCodeAuth})
		p.one(t, EventTransportClosed)
		if !p.c.Done() || !errors.Is(p.c.Err(), sasl.ErrAuth) {
			t.Fatalf("done %v err %v, want an auth failure", p.c.Done(), p.c.Err())
		}
	})
	t.Run("mechanism not offered", func(t *testing.T) {
		p := scriptClient(t, Config{SASLClient: sasl.ClientPlain("guest", "secret")})
		p.expect("AMQP3")
		p.feed(frame.Header(frame.ProtoSASL))
		p.sendSASL(&types.SASLMechanisms{SASLServerMechanisms: []types.Symbol{"GSSAPI"}})
		p.expect()
		if !p.c.Done() {
			t.Fatal("a client must give up when its mechanism is not offered")
		}
	})
}

// saslStep is one turn of a client's SASL conversation with a server engine.
type saslStep struct {
	send types.Composite // SASL frame from the client
	want []string        // what the server writes back
}

func TestServerSASL(t *testing.T) {
	for _, tc := range []struct {
		name     string
		steps    []saslStep
		ok       bool
		identity string
	}{
		{"ANONYMOUS", []saslStep{
			{&types.SASLInit{Mechanism: "ANONYMOUS", InitialResponse: []byte("trace")}, []string{"SASLOutcome 0"}},
		}, true, "anonymous"},
		{"PLAIN", []saslStep{
			{&types.SASLInit{Mechanism: "PLAIN", InitialResponse: plainResponse("guest", "secret")}, []string{"SASLOutcome 0"}},
		}, true, "guest"},
		{"PLAIN wrong password", []saslStep{
			{&types.SASLInit{Mechanism: "PLAIN", InitialResponse: plainResponse("guest", "guess")}, []string{"SASLOutcome 1"}},
		}, false, ""},
		{"PLAIN unknown user", []saslStep{
			{&types.SASLInit{Mechanism: "PLAIN", InitialResponse: plainResponse("mallory", "secret")}, []string{"SASLOutcome 1"}},
		}, false, ""},
		{"PLAIN without initial response", []saslStep{
			{&types.SASLInit{Mechanism: "PLAIN"}, []string{"SASLChallenge"}},
			{&types.SASLResponse{Response: plainResponse("guest", "secret")}, []string{"SASLOutcome 0"}},
		}, true, "guest"},
		{"PLAIN without initial response, wrong password", []saslStep{
			{&types.SASLInit{Mechanism: "PLAIN"}, []string{"SASLChallenge"}},
			{&types.SASLResponse{Response: plainResponse("guest", "nope")}, []string{"SASLOutcome 1"}},
		}, false, ""},
		{"unknown mechanism", []saslStep{
			{&types.SASLInit{Mechanism: "KERBEROS_V9", InitialResponse: []byte("x")}, []string{"SASLOutcome 1"}},
		}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptServer(t, Config{SASLServer: saslServer(), RequireSASL: true})
			p.feed(frame.Header(frame.ProtoSASL))
			p.expect("AMQP3", "SASLMechanisms")
			for _, st := range tc.steps {
				p.sendSASL(st.send)
				got := p.expect(st.want...)
				if c, ok := got[0].Body.(*types.SASLChallenge); ok && len(c.Challenge) != 0 {
					t.Fatalf("PLAIN asks for its response with an empty challenge, got %q", c.Challenge)
				}
			}
			if !tc.ok {
				p.one(t, EventTransportClosed)
				if !p.c.Done() || !errors.Is(p.c.Err(), sasl.ErrAuth) {
					t.Fatalf("done %v err %v: a failed exchange ends the transport", p.c.Done(), p.c.Err())
				}
				// Nothing the client sends afterwards is read.
				p.feed(frame.Header(frame.ProtoAMQP), enc(t, 0, peerOpen(), nil))
				p.expect()
				if len(p.events) != 0 {
					t.Fatalf("events after the end: %v", p.events)
				}
				return
			}
			if p.c.Done() {
				t.Fatalf("done: %v", p.c.Err())
			}
			p.feed(frame.Header(frame.ProtoAMQP))
			p.expect("AMQP0")
			p.send(0, peerOpen())
			p.one(t, EventConnectionOpen)
			if got := p.c.Identity(); got != tc.identity {
				t.Fatalf("identity %q, want %q", got, tc.identity)
			}
		})
	}
}

func TestServerSASLProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input [][]byte
		want  []string
	}{
		{"response before init", [][]byte{encSASL(t, &types.SASLResponse{Response: []byte("x")})}, nil},
		{"second init", [][]byte{
			encSASL(t, &types.SASLInit{Mechanism: "PLAIN"}),
			encSASL(t, &types.SASLInit{Mechanism: "PLAIN"}),
		}, []string{"SASLChallenge"}},
		{"AMQP frame in the SASL layer", [][]byte{enc(t, 0, peerOpen(), nil)}, nil},
		{"server's frame from a client", [][]byte{encSASL(t, &types.SASLOutcome{})}, nil},
		{"empty frame in the SASL layer", [][]byte{frame.AppendEmpty(nil)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptServer(t, Config{SASLServer: saslServer()})
			p.feed(frame.Header(frame.ProtoSASL))
			p.expect("AMQP3", "SASLMechanisms")
			p.feed(tc.input...)
			p.expect(tc.want...)
			if !p.c.Done() {
				t.Fatal("a SASL protocol error must end the transport")
			}
			p.one(t, EventTransportClosed)
		})
	}
}

// A client may send everything up to its open without waiting for answers:
// the server must read the AMQP header and open that follow the sasl-init
// in the same chunk.
func TestServerSASLPipelined(t *testing.T) {
	for _, tc := range []struct {
		name string
		init *types.SASLInit
		ok   bool
	}{
		{"ANONYMOUS", &types.SASLInit{Mechanism: "ANONYMOUS"}, true},
		{"PLAIN", &types.SASLInit{Mechanism: "PLAIN", InitialResponse: plainResponse("guest", "secret")}, true},
		{"PLAIN refused", &types.SASLInit{Mechanism: "PLAIN", InitialResponse: plainResponse("guest", "x")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := scriptServer(t, Config{SASLServer: saslServer(), RequireSASL: true})
			var b []byte
			b = append(b, frame.Header(frame.ProtoSASL)...)
			b = append(b, encSASL(t, tc.init)...)
			b = append(b, frame.Header(frame.ProtoAMQP)...)
			b = append(b, enc(t, 0, peerOpen(), nil)...)
			b = append(b, enc(t, 0, peerBegin(100), nil)...)
			p.feed(b)
			if !tc.ok {
				p.expect("AMQP3", "SASLMechanisms", "SASLOutcome 1")
				p.one(t, EventTransportClosed)
				if len(p.events) != 0 {
					t.Fatalf("events after a refused SASL exchange: %v", p.events)
				}
				return
			}
			p.expect("AMQP3", "SASLMechanisms", "SASLOutcome 0", "AMQP0")
			p.one(t, EventConnectionOpen)
			p.one(t, EventSessionBegin)
			p.c.Open()
			p.expect("Open")
		})
	}
}

// Header bytes trickle in; a wrong byte is noticed as soon as it arrives.
func TestHeaderBytewise(t *testing.T) {
	p := scriptServer(t, Config{})
	for _, c := range []byte("AMQ") {
		p.feed([]byte{c})
		p.expect()
	}
	p.feed([]byte{'X'})
	p.expect("AMQP0")
	if !p.c.Done() {
		t.Fatal("'AMQX' is not a protocol header")
	}
}

// A whole connection lifecycle with every byte fed on its own, both ways:
// SASL PLAIN, open, session, links both ways, a multi-frame message,
// settlement, detach, end and close.
func TestLifecycleBytewise(t *testing.T) {
	for _, chunk := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			p := newPair(t,
				Config{SASLServer: saslServer(), RequireSASL: true, MaxFrameSize: 512},
				Config{SASLClient: sasl.ClientPlain("guest", "secret"), MaxFrameSize: 1024})
			p.chunk = chunk
			p.open()
			if p.server.c.Identity() != "guest" {
				t.Fatalf("identity %q", p.server.c.Identity())
			}
			cs, _ := p.session()
			snd, rcv := p.link(cs, true, "in")
			crcv, ssnd := p.link(cs, false, "out")
			rcv.Flow(10, false)
			crcv.Flow(10, false)
			p.pump()
			p.client.take(EventLinkFlow)
			p.server.take(EventLinkFlow)
			msg := []byte(strings.Repeat("0123456789", 300)) // several 512-byte frames
			if _, err := snd.Send([]byte("a"), msg, false); err != nil {
				t.Fatal(err)
			}
			if _, err := ssnd.Send([]byte("b"), []byte("reply"), false); err != nil {
				t.Fatal(err)
			}
			p.pump()
			d := p.server.one(t, EventDelivery).Delivery
			if string(d.Payload()) != string(msg) {
				t.Fatalf("server received %d bytes, want %d", len(d.Payload()), len(msg))
			}
			d.Update(&types.Accepted{}, true)
			cd := p.client.one(t, EventDelivery).Delivery
			if string(cd.Payload()) != "reply" {
				t.Fatalf("client received %q", cd.Payload())
			}
			cd.Update(&types.Accepted{}, true)
			p.pump()
			if len(p.client.take(EventDisposition)) != 1 || len(p.server.take(EventDisposition)) != 1 {
				t.Fatal("each side must see the other's settlement")
			}
			snd.Detach(nil)
			crcv.Detach(nil)
			p.pump()
			for _, ev := range p.server.take(EventLinkDetach) {
				ev.Link.Detach(nil)
			}
			p.pump()
			if n := len(p.client.take(EventLinkDetach)); n != 2 {
				t.Fatalf("client saw %d detaches, want 2", n)
			}
			cs.End(nil)
			p.pump()
			p.server.one(t, EventSessionEnd).Session.End(nil)
			p.pump()
			p.client.one(t, EventSessionEnd)
			p.client.c.Close(nil)
			p.pump()
			p.server.one(t, EventConnectionClose)
			p.server.c.Close(nil)
			p.pump()
			if !p.client.c.Done() || !p.server.c.Done() {
				t.Fatal("both ends must be done")
			}
			if p.client.c.Err() != ErrClosed || p.server.c.Err() != ErrClosed {
				t.Fatalf("errors %v / %v, want a clean close", p.client.c.Err(), p.server.c.Err())
			}
			p.client.one(t, EventConnectionClose)
			p.client.one(t, EventTransportClosed)
			p.server.one(t, EventTransportClosed)
			if len(p.client.events)+len(p.server.events) != 0 {
				t.Fatalf("unexpected events: client %v server %v", p.client.events, p.server.events)
			}
		})
	}
}
