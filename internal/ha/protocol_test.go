package ha

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range []Event{
		{Kind: EvEnqueue, Name: "q", IDs: []Position{{Epoch: 3, Seq: 99}}, Message: []byte{0x00, 0x53, 0x77, 0x45}},
		{Kind: EvDequeue, Name: "q", IDs: []Position{{Epoch: 1, Seq: 2}, {Epoch: 3, Seq: 4}, {Epoch: 1<<63 + 5, Seq: 0}}},
		{Kind: EvQueueDeclare, Name: "orders", UUID: "u-1", Args: types.Map{{Key: "qpid.replicate", Value: "all"}}},
		{Kind: EvBind, Exchange: "amq.topic", Name: "q", Key: "a.#"},
		{Kind: EvCaughtUp},
	} {
		b, err := ev.Marshal(nil)
		if err != nil {
			t.Fatal(err)
		}
		// An event is a valid AMQP message a broker can parse and forward.
		if _, err := message.Parse(b); err != nil {
			t.Fatalf("%s: not a valid message: %v", ev.Kind, err)
		}
		got, err := UnmarshalEvent(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(*got, ev) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", *got, ev)
		}
	}
	if _, err := UnmarshalEvent([]byte{0x00, 0x53, 0x75, 0xa0, 0x01, 0x00}); err != ErrNotEvent {
		t.Fatalf("a data section is not an event: %v", err)
	}
}

func TestLegalTransitions(t *testing.T) {
	for from := Standalone; from <= Active; from++ {
		for to := Standalone; to <= Active; to++ {
			want := false
			switch {
			case from == Standalone && to == Joining,
				from == Joining && (to == CatchUp || to == Recovering),
				from == CatchUp && to == Ready,
				from == Ready && (to == Recovering || to == CatchUp),
				from == Recovering && to == Active:
				want = true
			}
			if got := CanMove(from, to); got != want {
				t.Errorf("%s -> %s legal=%v, want %v", from, to, got, want)
			}
		}
	}
	for _, tc := range []struct {
		s      State
		expect string
		want   bool
	}{
		{Active, "primary", true}, {Recovering, "primary", true}, {Ready, "primary", false},
		{Ready, "backup", true}, {CatchUp, "backup", true}, {Joining, "backup", true}, {Active, "backup", false},
		{Ready, "ready", true}, {Ready, "READY", true}, {Active, "standalone", false},
	} {
		if got := tc.s.Matches(tc.expect); got != tc.want {
			t.Errorf("%s matches %q = %v, want %v", tc.s, tc.expect, got, tc.want)
		}
	}
}

func TestMembership(t *testing.T) {
	m := Membership{Epoch: 2, Primary: "a"}
	m1 := m.WithReady("c").WithReady("b")
	if m1.Version != 2 || !reflect.DeepEqual(m1.Ready, []string{"b", "c"}) {
		t.Fatalf("%+v", m1)
	}
	if m1.WithReady("b").Version != 2 {
		t.Fatal("adding a member twice must not change the version")
	}
	m2 := m1.Without("b")
	if !m2.Newer(m1) || m1.Newer(m2) || m2.IsReady("b") || !m1.IsReady("b") {
		t.Fatalf("%+v vs %+v", m2, m1)
	}
	if !(Membership{Epoch: 3}).Newer(m2) {
		t.Fatal("a later epoch is newer whatever the version")
	}
}

func TestStorePersists(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := s.Get().BrokerID
	if len(id) != 32 {
		t.Fatalf("broker id %q", id)
	}
	if err := s.Update(func(p *Persistent) {
		p.Epoch = 7
		p.Position = Position{Epoch: 7, Seq: 42}
		p.Membership = Membership{Epoch: 7, Version: 1, Primary: id, Ready: []string{"x"}}
	}); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Get(); got.BrokerID != id || got.Epoch != 7 || got.Position != (Position{Epoch: 7, Seq: 42}) || !got.Membership.IsReady("x") {
		t.Fatalf("reloaded %+v", got)
	}
	p, err := ReadPersistent(dir)
	if err != nil || p.Position != (Position{Epoch: 7, Seq: 42}) {
		t.Fatalf("ReadPersistent: %+v %v", p, err)
	}
}

// A damaged event is an error, never a panic: every truncation and every
// single-byte change of a valid one.
func TestDamagedEvents(t *testing.T) {
	ev := Event{Kind: EvEnqueue, Name: "q", IDs: []Position{{Epoch: 3, Seq: 99}, {Epoch: 4, Seq: 1}},
		Args: types.Map{{Key: "k", Value: "v"}}, Message: []byte{0x00, 0x53, 0x77, 0x45}, Seq: 7, Txn: "t"}
	b, err := ev.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(b); n++ {
		if _, err := UnmarshalEvent(b[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(b))
		}
	}
	for i := range b {
		for _, x := range []byte{0x00, 0xff, b[i] ^ 0x01, 0x40, 0xa1, 0xf0} {
			c := append([]byte(nil), b...)
			c[i] = x
			_, _ = UnmarshalEvent(c) // must not panic
		}
	}
}

// Connects to an IP address are bounded by peerConnectTimeout; a host
// name keeps the caller's time for its lookup.
func TestConnectContext(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for addr, short := range map[string]bool{"10.0.0.1:5672": true, "[::1]:5672": true, "broker1.example:5672": false, "nonsense": false} {
		ctx, c := connectContext(parent, addr)
		d, _ := ctx.Deadline()
		if got := time.Until(d) <= peerConnectTimeout; got != short {
			t.Errorf("%s: bounded by peerConnectTimeout %v, want %v", addr, got, short)
		}
		c()
	}
}
