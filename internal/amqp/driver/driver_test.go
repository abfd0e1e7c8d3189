package driver

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp"
)

type nopHandler struct{}

func (nopHandler) HandleEvent(*Conn, amqp.Event) {}
func (nopHandler) Writable(*Conn)                {}

// A peer that never answers: Close leaves Run waiting out the linger for
// the peer's close; Abort ends it at once.
func TestAbortEndsTheLinger(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
			_, _ = io.Copy(io.Discard, c) // reads everything, answers nothing
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	defer peer.Close()
	dc := New(nc, amqp.NewClient(amqp.Config{ContainerID: "c"}), nopHandler{})
	done := make(chan error, 1)
	go func() { done <- dc.Run() }()

	closed := time.Now()
	dc.Close(nil)
	select {
	case <-done:
		t.Fatal("Run returned at once: no linger for the peer's close")
	case <-time.After(linger / 5):
	}
	dc.Abort()
	select {
	case <-done:
		if waited := time.Since(closed); waited >= linger {
			t.Fatalf("Run returned %v after Close: the linger was waited out", waited)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Abort")
	}
}
