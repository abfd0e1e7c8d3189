package interop

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// rawConn is a hand-driven AMQP peer for sending what no client library would.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	in []byte
}

func rawDial(t *testing.T, b *qpiddtest.Broker) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, nc: nc}
}

func (r *rawConn) write(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) frame(ch uint16, body types.Composite, payload []byte) {
	r.t.Helper()
	b, err := frame.Append(nil, frame.TypeAMQP, ch, body, payload)
	if err != nil {
		r.t.Fatal(err)
	}
	r.write(b)
}

// readHeader reads the broker's 8-byte protocol header.
func (r *rawConn) readHeader() string {
	r.t.Helper()
	h := make([]byte, 8)
	if _, err := io.ReadFull(r.nc, h); err != nil {
		r.t.Fatalf("reading the protocol header: %v", err)
	}
	return string(h)
}

// next reads the next non-empty frame body, or returns nil at EOF.
func (r *rawConn) next() types.Composite {
	r.t.Helper()
	buf := make([]byte, 4096)
	for {
		f, n, err := frame.Parse(r.in, 1<<20)
		if err != nil {
			r.t.Fatalf("broker sent a bad frame: %v", err)
		}
		if n > 0 {
			r.in = r.in[n:]
			if f.Body != nil {
				return f.Body
			}
			continue
		}
		m, err := r.nc.Read(buf)
		r.in = append(r.in, buf[:m]...)
		if err != nil {
			if m == 0 {
				return nil
			}
		}
	}
}

// expectClose reads until a close frame and checks its condition, then EOF.
func (r *rawConn) expectClose(cond types.Symbol) *types.Error {
	r.t.Helper()
	for {
		body := r.next()
		if body == nil {
			r.t.Fatalf("connection ended without a close frame (want %s)", cond)
		}
		if cl, ok := body.(*types.Close); ok {
			if cl.Error == nil || cl.Error.Condition != cond {
				r.t.Fatalf("close with %v, want %s", cl.Error, cond)
			}
			if body := r.next(); body != nil {
				r.t.Fatalf("%T after close", body)
			}
			return cl.Error
		}
	}
}

// open does the plain (no SASL) AMQP handshake with auth=no.
func (r *rawConn) open() {
	r.t.Helper()
	r.write(frame.Header(frame.ProtoAMQP))
	if h := r.readHeader(); h != "AMQP\x00\x01\x00\x00" {
		r.t.Fatalf("header %q", h)
	}
	r.frame(0, &types.Open{ContainerID: "raw", MaxFrameSize: 4096, ChannelMax: 10}, nil)
	if _, ok := r.next().(*types.Open); !ok {
		r.t.Fatal("no open from the broker")
	}
	r.frame(0, &types.Begin{NextOutgoingID: 0, IncomingWindow: 100, OutgoingWindow: 100, HandleMax: 10}, nil)
	if _, ok := r.next().(*types.Begin); !ok {
		r.t.Fatal("no begin from the broker")
	}
}

// stillServes checks the broker serves a normal client after bad input.
func stillServes(t *testing.T, b *qpiddtest.Broker) {
	t.Helper()
	_, sess := dial(t, b, nil)
	ctx := ctxFor(t, 10*time.Second)
	snd, err := sess.NewSender(ctx, "healthy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("ok")), nil); err != nil {
		t.Fatalf("broker stopped serving: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	b := qpiddtest.Start(t, "--queue-patterns", "healthy")
	// A client connected throughout must be unaffected by the others.
	_, bystander := dial(t, b, nil)
	ctx := ctxFor(t, time.Minute)
	bsnd, err := bystander.NewSender(ctx, "healthy", nil)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wrong protocol header", func(t *testing.T) {
		r := rawDial(t, b)
		r.write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		// The broker answers with the header it speaks (SASL) and closes.
		if h := r.readHeader(); h != "AMQP\x03\x01\x00\x00" {
			t.Fatalf("answer %q", h)
		}
		if r.next() != nil {
			t.Fatal("the broker must close after a wrong header")
		}
	})
	t.Run("AMQP 0-10 header", func(t *testing.T) {
		r := rawDial(t, b)
		r.write([]byte("AMQP\x01\x01\x00\x0a"))
		if h := r.readHeader(); !strings.HasPrefix(h, "AMQP") || h[5:] != "\x01\x00\x00" {
			t.Fatalf("answer %q", h)
		}
	})
	t.Run("oversized frame", func(t *testing.T) {
		r := rawDial(t, b)
		r.open()
		// A frame header announcing 10 MB, far above the broker's max-frame-size.
		r.write([]byte{0x00, 0x98, 0x96, 0x80, 2, 0, 0, 0})
		e := r.expectClose(types.CondConnectionFramingError)
		if !strings.Contains(e.Description, "exceeds the maximum frame size") {
			t.Fatalf("description %q", e.Description)
		}
	})
	t.Run("garbage mid-stream", func(t *testing.T) {
		r := rawDial(t, b)
		r.open()
		r.write([]byte{0, 0, 0, 16, 2, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed, 0xfa, 0xce})
		r.expectClose(types.CondDecodeError)
	})
	t.Run("attach to an unknown node", func(t *testing.T) {
		_, sess := dial(t, b, nil)
		_, err := sess.NewReceiver(ctxFor(t, 10*time.Second), "no-such-queue", nil)
		var ae *goamqp.Error
		if !errors.As(err, &ae) || ae.Condition != goamqp.ErrCondNotFound {
			t.Fatalf("attach to an unknown node: %v, want amqp:not-found", err)
		}
	})
	stillServes(t, b)
	if err := bsnd.Send(ctx, goamqp.NewMessage([]byte("bystander")), nil); err != nil {
		t.Fatalf("a connected client was disturbed: %v", err)
	}
}

func TestPlainWithWrongPassword(t *testing.T) {
	users := qpiddtest.UserDB(t, t.TempDir(), "alice", "right-password")
	b := qpiddtest.Start(t, "--auth", "yes", "--auth-database", users, "--queue-patterns", ".*")
	dialPlain := func(user, pass string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := goamqp.Dial(ctx, b.URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypePlain(user, pass)})
		if err == nil {
			c.Close()
		}
		return err
	}
	err := dialPlain("alice", "wrong-password")
	if err == nil || !strings.Contains(err.Error(), "auth failed with code 0x1") { // sasl-code auth
		t.Fatalf("PLAIN with a wrong password: %v, want an authentication failure", err)
	}
	if err := dialPlain("mallory", "anything"); err == nil {
		t.Fatal("PLAIN with an unknown user succeeded")
	}
	if err := dialPlain("alice", "right-password"); err != nil {
		t.Fatalf("PLAIN with the right password: %v", err)
	}
	// Skipping SASL is refused when authentication is on.
	r := rawDial(t, b)
	r.write(frame.Header(frame.ProtoAMQP))
	if h := r.readHeader(); h != "AMQP\x03\x01\x00\x00" {
		t.Fatalf("answer to a plain AMQP header with auth on: %q", h)
	}
	if r.next() != nil {
		t.Fatal("the broker must close when SASL is skipped")
	}
}

// A consumer that grants credit and detaches in the same write (the broker
// sees the flow with the link already detached) must get its detach
// answered; the broker once spun forever re-sending to the dead link.
func TestFlowAndDetachInOneWrite(t *testing.T) {
	b := qpiddtest.Start(t, "--queue", "work")
	_, sess := dial(t, b, nil)
	ctx := ctxFor(t, 10*time.Second)
	snd, err := sess.NewSender(ctx, "work", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte("m")), nil); err != nil {
			t.Fatal(err)
		}
	}
	r := rawDial(t, b)
	r.open()
	r.frame(0, &types.Attach{Name: "c", Handle: 0, Role: types.RoleReceiver, Source: &types.Source{Address: "work"}}, nil)
	if _, ok := r.next().(*types.Attach); !ok {
		t.Fatal("no attach answer")
	}
	var batch []byte
	batch, _ = frame.Append(batch, frame.TypeAMQP, 0, &types.Flow{
		NextIncomingID: types.Some(uint32(0)), IncomingWindow: 100, OutgoingWindow: 100,
		Handle: types.Some(uint32(0)), DeliveryCount: types.Some(uint32(0)), LinkCredit: types.Some(uint32(10)),
	}, nil)
	batch, _ = frame.Append(batch, frame.TypeAMQP, 0, &types.Detach{Handle: 0, Closed: true}, nil)
	r.write(batch)
	for {
		switch body := r.next().(type) {
		case nil:
			t.Fatal("connection ended without answering the detach")
		case *types.Detach:
			return
		case *types.Transfer, *types.Flow, *types.Disposition:
		default:
			t.Fatalf("unexpected %T", body)
		}
	}
}
