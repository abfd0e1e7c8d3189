package failover

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	amqp "github.com/Azure/go-amqp"
	iamqp "github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// fakeBroker is an in-process AMQP server on loopback, for tests of the
// Conn without qpidd: it opens connections (advertising properties), or
// refuses them without an open as a qpidd backup does, or opens and closes
// with an error; sessions begin, links are not served.
type fakeBroker struct {
	t     *testing.T
	ln    net.Listener
	props types.Map
	mu    sync.Mutex
	mode  string // "open", "refuse" (forced, no open), "unauthorized" (open, close)
	conns []*driver.Conn
	wg    sync.WaitGroup
}

func startFake(t *testing.T, mode string) *fakeBroker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeBroker{t: t, ln: ln, mode: mode}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.stop)
	return f
}

func (f *fakeBroker) addr() string { return "amqp://" + f.ln.Addr().String() }

func (f *fakeBroker) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *fakeBroker) setMode(m string) {
	f.mu.Lock()
	f.mode = m
	f.mu.Unlock()
}

func (f *fakeBroker) serve() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		eng := iamqp.NewServer(iamqp.Config{ContainerID: "fake", Properties: f.props})
		dc := driver.New(nc, eng, fakeHandler{f})
		f.conns = append(f.conns, dc)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() { defer f.wg.Done(); _ = dc.Run() }()
	}
}

// drop closes every connection with amqp:connection:forced, as a broker
// shutting down does.
func (f *fakeBroker) drop() {
	f.mu.Lock()
	conns := f.conns
	f.conns = nil
	f.mu.Unlock()
	for _, c := range conns {
		c.Close(types.NewError(types.CondConnectionForced, "shutting down"))
	}
}

func (f *fakeBroker) stop() {
	f.ln.Close()
	f.mu.Lock()
	conns := f.conns
	f.mu.Unlock()
	for _, c := range conns {
		c.Abort()
	}
	f.wg.Wait()
}

type fakeHandler struct{ f *fakeBroker }

func (h fakeHandler) Writable(*driver.Conn) {}

func (h fakeHandler) HandleEvent(c *driver.Conn, e iamqp.Event) {
	eng := c.Engine
	switch e.Type {
	case iamqp.EventConnectionOpen:
		h.f.mu.Lock()
		mode := h.f.mode
		h.f.mu.Unlock()
		switch mode {
		case "refuse":
			eng.Refuse(types.NewError(types.CondConnectionForced, "this broker is an HA backup"))
		case "unauthorized":
			eng.Close(types.NewError(types.CondUnauthorizedAccess, "no"))
		default:
			eng.Open()
		}
	case iamqp.EventConnectionClose:
		eng.Close(nil)
	case iamqp.EventSessionBegin:
		e.Session.Begin()
	case iamqp.EventSessionEnd:
		e.Session.End(nil)
	case iamqp.EventLinkAttach:
		if e.Link.Context == nil { // attached here, then
			e.Link.Context = true
			e.Link.Attach()
			if !e.Link.IsSender() {
				e.Link.Flow(100, false)
			}
		}
	case iamqp.EventLinkDetach:
		e.Link.Detach(nil)
	case iamqp.EventDelivery:
		e.Delivery.Update(&types.Accepted{}, true)
		e.Delivery.Link().Flow(100, false)
	}
}

// events collects a Conn's events.
type events struct {
	mu sync.Mutex
	ev []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.ev = append(e.ev, ev)
	e.mu.Unlock()
}

func (e *events) list() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.ev...)
}

func (e *events) count(k EventKind) int {
	n := 0
	for _, ev := range e.list() {
		if ev.Kind == k {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A backup's refusal (a close without an open) and a closed port move the
// Conn on to the next address; a broker closing with connection:forced
// makes it fail over at once to the next one.
func TestConnSkipsRefusalsAndFailsOver(t *testing.T) {
	backup := startFake(t, "refuse")
	primary := startFake(t, "open")
	other := startFake(t, "refuse")
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := "amqp://" + dead.Addr().String()
	dead.Close()

	var ev events
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, []string{backup.addr(), deadAddr, primary.addr(), other.addr()}, &Options{OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Address() != primary.addr() {
		t.Fatalf("connected to %q, want the primary %q", c.Address(), primary.addr())
	}
	if n := ev.count(AttemptFailed); n != 2 {
		t.Errorf("%d failed attempts, want 2 (refusal, refused port): %v", n, ev.list())
	}

	// The primary goes away; the other broker takes over.
	other.setMode("open")
	primary.setMode("refuse")
	t0 := time.Now()
	primary.drop()
	waitFor(t, "a reconnect", func() bool { return ev.count(Connected) == 2 })
	if c.Address() != other.addr() {
		t.Errorf("reconnected to %q, want %q", c.Address(), other.addr())
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("failover took %v", d)
	}
	last := ev.list()[len(ev.list())-1]
	if last.Kind != Connected || !last.Reconnect || last.Err == nil {
		t.Errorf("last event %+v: want a reconnect with its cause", last)
	}
	t.Logf("events:")
	for _, e := range ev.list() {
		t.Logf("  %v", e)
	}
}

// amqp:unauthorized-access is permanent: Dial gives up at once.
func TestConnGivesUpOnUnauthorized(t *testing.T) {
	f := startFake(t, "unauthorized")
	good := startFake(t, "open")
	var ev events
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Dial(ctx, []string{f.addr(), good.addr()}, &Options{OnEvent: ev.add})
	var perr *PermanentError
	if !errors.As(err, &perr) || perr.Address != f.addr() {
		t.Fatalf("Dial: %v, want a PermanentError from %s", err, f.addr())
	}
	if ev.count(GaveUp) != 1 || ev.count(Connected) != 0 {
		t.Errorf("events: %v", ev.list())
	}
}

// With nothing to connect to, Dial waits for its context, not longer.
func TestDialHonoursContext(t *testing.T) {
	f := startFake(t, "refuse")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := Dial(ctx, []string{f.addr()}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want the context's deadline", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Dial returned after %v", d)
	}
}

// ReconnectTimeout gives up.
func TestReconnectTimeout(t *testing.T) {
	f := startFake(t, "refuse")
	t0 := time.Now()
	_, err := Dial(context.Background(), []string{f.addr()}, &Options{ReconnectTimeout: 500 * time.Millisecond})
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v, want giving up", err)
	}
	if d := time.Since(t0); d < 500*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// The addresses a broker advertises in failover-server-list join the list
// (after the given ones), and the Conn fails over to them.
func TestConnLearnsFailoverServerList(t *testing.T) {
	a := startFake(t, "open")
	b := startFake(t, "refuse")
	entry := func(port int) types.Map {
		return types.Map{
			{Key: types.Symbol("network-host"), Value: "127.0.0.1"},
			{Key: types.Symbol("port"), Value: int32(port)},
			{Key: types.Symbol("scheme"), Value: "amqp"},
			{Key: types.Symbol("hostname"), Value: "127.0.0.1"},
		}
	}
	a.mu.Lock()
	a.props = types.Map{{Key: types.Symbol(FailoverServerListProperty), Value: []any{entry(a.port()), entry(b.port())}}}
	a.mu.Unlock()
	var ev events
	c, err := Dial(context.Background(), []string{a.addr()}, &Options{OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := []string{a.addr(), "amqp://127.0.0.1:" + strconv.Itoa(b.port())}
	if got := c.Addresses(); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("addresses %q, want %q", got, want)
	}
	b.setMode("open")
	a.setMode("refuse")
	a.drop()
	waitFor(t, "a reconnect", func() bool { return ev.count(Connected) == 2 })
	if c.Address() != want[1] {
		t.Errorf("reconnected to %q, want the advertised %q", c.Address(), want[1])
	}

	// Ignored when asked.
	c2, err := Dial(context.Background(), []string{want[1]}, &Options{IgnoreFailoverServerList: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := c2.Addresses(); len(got) != 1 {
		t.Errorf("addresses %q: the advertised list was not ignored", got)
	}
}

// Close stops everything: operations return ErrClosed.
func TestCloseStops(t *testing.T) {
	f := startFake(t, "open")
	c, err := Dial(context.Background(), []string{f.addr()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if !errors.Is(c.Err(), ErrClosed) {
		t.Errorf("Err after Close: %v", c.Err())
	}
	if _, err := c.NewSender(context.Background(), "q", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("NewSender after Close: %v", err)
	}
}

// Blocked operations end with ErrClosed when the Conn closes; a Sender's
// Send works through a failover.
func TestLinksAcrossFailoverAndClose(t *testing.T) {
	a := startFake(t, "open")
	b := startFake(t, "refuse")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ev events
	c, err := Dial(ctx, []string{a.addr(), b.addr()}, &Options{OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	snd, err := c.NewSender(ctx, "q", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := c.NewReceiver(ctx, "q", &ReceiverOptions{DedupWindow: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := snd.Send(ctx, amqp.NewMessage([]byte("1"))); err != nil {
		t.Fatalf("Send: %v", err)
	}
	b.setMode("open")
	a.setMode("refuse")
	a.drop()
	if err := snd.Send(ctx, amqp.NewMessage([]byte("2"))); err != nil {
		t.Fatalf("Send after the failover: %v", err)
	}
	if c.Address() != b.addr() {
		t.Errorf("sent through %q, want %q", c.Address(), b.addr())
	}
	got := make(chan error, 1)
	go func() {
		_, err := rcv.Receive(ctx) // the fake never sends
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-got:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Receive after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive still blocked 5s after Close")
	}
	if err := snd.Send(ctx, amqp.NewMessage([]byte("3"))); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if err := rcv.Close(ctx); err != nil {
		t.Errorf("Receiver.Close after Conn.Close: %v", err)
	}
}
