package amqp

import (
	"bytes"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Frames the peer sent before it saw our end, detach or close: they are
// discarded, and nothing the application does in answer may put frames on
// the wire after the end.

func TestFramesAfterLocalEnd(t *testing.T) {
	p, s, l := senderPeer(t, Config{}, 5)
	s.End(nil)
	p.expect("End")
	p.send(0, &types.Attach{Name: "late", Handle: 1, Role: types.RoleSender})
	p.send(0, transfer(0, 0, false), 'x')
	p.send(0, credit(0, 0, 5))
	p.send(0, &types.Disposition{Role: types.RoleSender, First: 0, Settled: true})
	p.send(0, &types.Detach{Handle: 0, Closed: true})
	if len(p.events) != 0 {
		t.Fatalf("events from a session we ended: %s", eventTypes(p.events))
	}
	l.Flow(10, false)
	l.Detach(nil)
	p.expect()
	p.send(0, &types.End{})
	if got := eventTypes(p.events); got != "[link-detach session-end]" {
		t.Fatalf("events %s", got)
	}
	if len(p.c.sessions) != 0 || len(p.c.remoteSessions) != 0 {
		t.Fatal("the session must be freed")
	}
}

func TestFramesAfterLocalClose(t *testing.T) {
	p := serverUp(t, Config{})
	s := p.begin(0, 100)
	p.c.Close(nil)
	p.expect("Close")
	p.send(1, peerBegin(10))
	p.send(0, &types.Attach{Name: "late", Handle: 0, Role: types.RoleSender})
	p.send(0, &types.End{})
	if len(p.events) != 0 {
		t.Fatalf("events after our close: %s", eventTypes(p.events))
	}
	s.End(nil)
	p.expect()
	p.send(0, &types.Close{})
	if !p.c.Done() || p.c.Err() != ErrClosed {
		t.Fatalf("done %v err %v", p.c.Done(), p.c.Err())
	}
	if got := eventTypes(p.events); got != "[session-end connection-close transport-closed]" {
		t.Fatalf("events %s", got)
	}
}

// Settling a delivery of a link already freed leaves the counts alone.
func TestSettleAfterLinkFreed(t *testing.T) {
	p, _, l := senderPeer(t, Config{}, 5)
	p.send(0, transfer(0, 0, false), 'x')
	d := p.one(t, EventDelivery).Delivery
	l.Detach(nil)
	p.expect("Detach")
	p.send(0, &types.Detach{Handle: 0, Closed: true})
	p.one(t, EventLinkDetach)
	d.Update(&types.Accepted{}, true)
	if l.Unsettled() != 0 {
		t.Fatalf("unsettled %d", l.Unsettled())
	}
}

// A delivery-tag is at most 32 bytes (part 2.8.7); a longer one must not
// break the frame arithmetic.
func TestSendTagLimit(t *testing.T) {
	p, _, l := receiverPeer(t, 100, 10)
	p.c.maxFrameOut = 512
	if _, err := l.Send(bytes.Repeat([]byte("t"), 600), []byte("x"), false); err == nil {
		t.Fatal("a 600-byte delivery-tag must be refused")
	}
	if _, err := l.Send(bytes.Repeat([]byte("t"), 33), []byte("x"), false); err == nil {
		t.Fatal("a 33-byte delivery-tag must be refused")
	}
	if l.Credit() != 10 {
		t.Fatalf("a refused send used credit: %d", l.Credit())
	}
	if _, err := l.Send(bytes.Repeat([]byte("t"), 32), bytesOf(2000, 0), false); err != nil {
		t.Fatal(err)
	}
	if got := reassemble(t, p.read(), 512)[0]; !bytes.Equal(got, bytesOf(2000, 0)) {
		t.Fatalf("%d bytes", len(got))
	}
}

// A peer's close with sessions and links open is answered with a close
// alone, even when the application ends every session and detaches every
// link on the events the close brings (as the broker does): a client that
// waits on a link sees the connection's error, not a session's.
func TestRemoteCloseAnsweredWithCloseAlone(t *testing.T) {
	p, _, _ := senderPeer(t, Config{}, 5)
	p.send(0, &types.Close{Error: types.NewError(types.CondConnectionForced, "bye")})
	for _, e := range p.events {
		switch e.Type {
		case EventLinkDetach:
			e.Link.Detach(nil)
		case EventSessionEnd:
			e.Session.End(nil)
		case EventConnectionClose:
			p.c.Close(nil)
		}
	}
	p.expect("Close")
	if !p.c.Done() {
		t.Fatal("not done after both closes")
	}
}
