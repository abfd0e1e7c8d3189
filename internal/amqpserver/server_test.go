package amqpserver

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/broker"
)

// startServer runs a server on a random loopback port.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	if cfg.Broker == nil {
		b, err := broker.New(broker.Config{QueuePatterns: []string{".*"}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Broker = b
	}
	if cfg.Log == nil {
		cfg.Log = logrus.New()
		cfg.Log.SetOutput(io.Discard)
	}
	s := New(cfg)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	return s, "amqp://" + addr.String()
}

func dial(t *testing.T, url string) (*goamqp.Conn, *goamqp.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, url, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, sess
}

func TestGoAMQPSendReceiveInOrder(t *testing.T) {
	_, url := startServer(t, Config{})
	_, sess := dial(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	snd, err := sess.NewSender(ctx, "q1", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 10000
	for i := 0; i < n; i++ {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte(fmt.Sprintf("m%05d", i))), nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	rcv, err := sess.NewReceiver(ctx, "q1", &goamqp.ReceiverOptions{Credit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatalf("receive %d: %v", i, err)
		}
		if got, want := string(m.GetData()), fmt.Sprintf("m%05d", i); got != want {
			t.Fatalf("message %d is %q, want %q", i, got, want)
		}
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}

// Counts follows connections, sessions and links as they open and close,
// whether they end one by one or go with their connection.
func TestCounts(t *testing.T) {
	s, url := startServer(t, Config{})
	want := func(c, ss, l int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			gc, gs, gl := s.Counts()
			if gc == c && gs == ss && gl == l {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("counts %d connections, %d sessions, %d links; want %d, %d, %d", gc, gs, gl, c, ss, l)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	want(0, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, sess := dial(t, url)
	snd, err := sess.NewSender(ctx, "q1", nil)
	if err != nil {
		t.Fatal(err)
	}
	sess2, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess2.NewReceiver(ctx, "q1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := sess2.NewReceiver(ctx, "q1", nil); err != nil {
		t.Fatal(err)
	}
	want(1, 2, 3)
	if err := snd.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want(1, 2, 2)
	if err := sess.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want(1, 1, 2)
	conn2, _ := dial(t, url)
	want(2, 2, 2)
	conn.Close()
	conn2.Close()
	want(0, 0, 0)
}
