package amqpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
)

// acceptedConn waits for the server's one connection and returns its socket.
func acceptedConn(t *testing.T, s *Server) net.Conn {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		for c := range s.conns {
			s.mu.Unlock()
			return c.nc
		}
		s.mu.Unlock()
	}
	t.Fatal("no connection accepted")
	return nil
}

// tcp-nodelay=yes sets TCP_NODELAY on accepted connections; tcp-nodelay=no
// leaves Nagle's algorithm on (the server's socket, read back with getsockopt).
func TestTCPNoDelay(t *testing.T) {
	for _, tc := range []struct {
		option string
		nagle  bool
		want   int
	}{{"tcp-nodelay=yes", false, 1}, {"tcp-nodelay=no", true, 0}} {
		t.Run(tc.option, func(t *testing.T) {
			s, url := startServer(t, Config{Nagle: tc.nagle})
			dial(t, url)
			raw, err := acceptedConn(t, s).(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var got int
			var serr error
			if err := raw.Control(func(fd uintptr) {
				got, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
			}); err != nil || serr != nil {
				t.Fatal(err, serr)
			}
			if (got != 0) != (tc.want != 0) {
				t.Fatalf("%s: TCP_NODELAY = %d on the accepted socket, want %d", tc.option, got, tc.want)
			}
		})
	}
}

// session-max-unacked bounds the unsettled deliveries of a session: a
// client granting far more credit and settling nothing gets exactly that
// many, across the session's links; each settlement lets one more through.
func TestSessionMaxUnacked(t *testing.T) {
	const limit = 10 // session-max-unacked=10
	_, url := startServer(t, Config{SessionMaxUnacked: limit})
	_, sess := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, q := range []string{"unacked-a", "unacked-b"} {
		snd, err := sess.NewSender(ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3*limit; i++ {
			if err := snd.Send(ctx, goamqp.NewMessage([]byte(fmt.Sprint(i))), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, rsess := dial(t, url)
	a, err := rsess.NewReceiver(ctx, "unacked-a", &goamqp.ReceiverOptions{Credit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, err := rsess.NewReceiver(ctx, "unacked-b", &goamqp.ReceiverOptions{Credit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// drain takes what has arrived, waiting a little for more.
	drain := func(r *goamqp.Receiver) []*goamqp.Message {
		var got []*goamqp.Message
		for {
			c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			m, err := r.Receive(c, nil)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				return got
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m)
		}
	}
	gotA, gotB := drain(a), drain(b)
	if n := len(gotA) + len(gotB); n != limit {
		t.Fatalf("session-max-unacked=%d: %d unsettled deliveries on the session (%d + %d), want %d", limit, n, len(gotA), len(gotB), limit)
	}
	// Settle 3: 3 more come.
	type held struct {
		r *goamqp.Receiver
		m *goamqp.Message
	}
	var all []held
	for _, m := range gotA {
		all = append(all, held{a, m})
	}
	for _, m := range gotB {
		all = append(all, held{b, m})
	}
	for _, h := range all[:3] {
		if err := h.r.AcceptMessage(ctx, h.m); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(drain(a)) + len(drain(b)); n != 3 {
		t.Fatalf("after 3 settlements %d more deliveries, want 3", n)
	}
}

// enable-timestamp adds the arrival time as the message annotation
// x-opt-ingress-timestamp and keeps the sender's annotations; without it
// messages are delivered as sent.
func TestEnableTimestamp(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("enable-timestamp=%v", on), func(t *testing.T) {
			_, url := startServer(t, Config{Timestamp: on})
			_, sess := dial(t, url)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			snd, err := sess.NewSender(ctx, "stamped", nil)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now().Truncate(time.Millisecond)
			m := goamqp.NewMessage([]byte("hello"))
			m.Annotations = goamqp.Annotations{"x-opt-sender": "kept"}
			if err := snd.Send(ctx, m, nil); err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			rcv, err := sess.NewReceiver(ctx, "stamped", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rcv.Receive(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var stamp any
			var kept bool
			for k, v := range got.Annotations {
				switch fmt.Sprint(k) {
				case string(IngressTimestamp):
					stamp = v
				case "x-opt-sender":
					kept = v == "kept"
				}
			}
			if !kept || string(got.GetData()) != "hello" {
				t.Fatalf("message changed: %v %q", got.Annotations, got.GetData())
			}
			if !on {
				if stamp != nil {
					t.Fatalf("stamped without enable-timestamp: %v", stamp)
				}
				return
			}
			ts, ok := stamp.(time.Time)
			if !ok || ts.Before(before) || ts.After(after) {
				t.Fatalf("x-opt-ingress-timestamp = %v (%T), want a timestamp in [%v, %v]", stamp, stamp, before, after)
			}
		})
	}
}
