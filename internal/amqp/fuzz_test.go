package amqp

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Robustness: arbitrary bytes from a client must never make a server engine
// panic, spin, or grow without bound.

// corpusDir holds whole client byte streams from the connection fuzzers of
// qpid-proton (fuzz-connection-driver, fuzz-proactor-receive), corpus/ and
// crash/ of each.
const corpusDir = "frame/testdata/corpus"

func corpusFiles(tb testing.TB) []string {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir, "*", "*", "*"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			out = append(out, f)
		}
	}
	return out
}

// Limits of one run.
const (
	fuzzSendBudget  = 64      // messages the application sends in all
	fuzzMaxOutput   = 8 << 20 // bytes the engine may write in all
	fuzzMaxEvents   = 1 << 20 // events from one step
	fuzzFinishTicks = 100     // deadlines followed after the input
)

// runFailure is a broken invariant; engineRun panics with it so that it can
// run on any goroutine, and runEngine turns it into an error.
type runFailure struct{ msg string }

// engineRun is a server engine fed one hostile input by a minimal but
// complete application: it answers everything the peer starts, grants
// credit, sends messages, settles, and follows every end and close.
type engineRun struct {
	c        *Connection
	clock    *clock
	rng      *rand.Rand
	budget   int
	out      int // output bytes so far
	finished bool

	detached map[*Link]bool
	ended    map[*Session]bool
	retained int // payload bytes of deliveries handed out
}

func newEngineRun(seed uint64) *engineRun {
	r := &engineRun{
		clock:    newClock(),
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		budget:   fuzzSendBudget,
		detached: map[*Link]bool{},
		ended:    map[*Session]bool{},
	}
	r.c = NewServer(Config{
		ContainerID:      "fuzz",
		SASLServer:       sasl.Mechanisms{sasl.Anonymous: sasl.NewAnonymous},
		IdleTimeout:      time.Second,
		HandshakeTimeout: 10 * time.Second,
		SessionWindow:    16,
		HandleMax:        64,
		ChannelMax:       16,
		Now:              r.clock.now,
	})
	return r
}

func (r *engineRun) fail(format string, args ...any) {
	panic(runFailure{fmt.Sprintf(format, args...)})
}

// serve handles every pending event as an application would.
func (r *engineRun) serve() {
	for n := 0; ; n++ {
		if n > fuzzMaxEvents {
			r.fail("an endless stream of events")
		}
		ev, ok := r.c.Next()
		if !ok {
			return
		}
		if r.finished {
			r.fail("%v event after transport-closed", ev.Type)
		}
		switch ev.Type {
		case EventConnectionOpen:
			r.c.Open()
		case EventConnectionClose:
			r.c.Close(nil)
		case EventSessionBegin:
			ev.Session.Begin()
		case EventSessionEnd:
			if r.ended[ev.Session] {
				r.fail("second session-end event for a session")
			}
			r.ended[ev.Session] = true
			ev.Session.End(nil)
		case EventLinkAttach:
			l := ev.Link
			l.Attach()
			if !l.IsSender() {
				l.Flow(uint32(1+r.rng.IntN(8)), r.rng.IntN(4) == 0)
			}
			r.send(l)
		case EventLinkDetach:
			if r.detached[ev.Link] {
				r.fail("second link-detach event for a link")
			}
			r.detached[ev.Link] = true
			ev.Link.Detach(nil)
		case EventLinkFlow:
			r.send(ev.Link)
		case EventDelivery:
			d := ev.Delivery
			r.retained += len(d.Payload())
			switch r.rng.IntN(4) {
			case 0:
				d.Update(&types.Accepted{}, true)
			case 1:
				d.Update(&types.Released{}, true)
			case 2:
				d.Update(&types.Rejected{Error: types.NewError(types.CondNotAllowed, "no")}, true)
			case 3:
				d.Update(&types.Accepted{}, false)
			}
			if l := d.Link(); l.Credit() == 0 {
				l.Flow(4, false)
			}
		case EventDisposition:
			ev.Delivery.Settle()
		case EventTransportClosed:
			r.finished = true
		}
	}
}

// send uses a sending link's credit, within the run's budget.
func (r *engineRun) send(l *Link) {
	if !l.IsSender() {
		return
	}
	for l.Credit() > 0 && r.budget > 0 {
		r.budget--
		if _, err := l.Send([]byte{byte(r.budget)}, make([]byte, r.rng.IntN(3000)), r.rng.IntN(2) == 0); err != nil {
			break
		}
	}
	if l.Drain() && l.Credit() > 0 {
		l.Drained()
	}
}

// take checks and discards the engine's output.
func (r *engineRun) take() {
	out := r.c.TakeOutput(nil)
	r.out += len(out)
	if r.out > fuzzMaxOutput {
		r.fail("%d bytes of output", r.out)
	}
	// The output is always well-formed: headers and decodable frames, and
	// transfers fit the peer's max-frame-size.
	ws, err := splitWire(out)
	if err != nil {
		r.fail("%v", err)
	}
	for _, w := range ws {
		switch w.Body.(type) {
		case *types.Transfer:
			if w.size > int(r.c.maxFrameOut) {
				r.fail("a %d-byte transfer frame; the peer's max-frame-size is %d", w.size, r.c.maxFrameOut)
			}
		case *types.Attach:
			// It echoes the peer's terminus, which may be of any size.
		default:
			// What the engine makes itself, errors quoting the input
			// included, fits any peer's max-frame-size.
			if w.size > frame.MinMaxFrameSize {
				r.fail("a %d-byte %v frame", w.size, w)
			}
		}
	}
}

// step gives the engine one chunk and runs the application and the clock.
func (r *engineRun) step(chunk []byte) {
	r.c.Feed(chunk)
	if len(r.c.in) > int(r.c.cfg.MaxFrameSize) {
		r.fail("%d bytes buffered, the max-frame-size is %d", len(r.c.in), r.c.cfg.MaxFrameSize)
	}
	r.serve()
	r.take()
	r.clock.advance(time.Duration(r.rng.IntN(300)) * time.Millisecond)
	r.c.Tick()
	r.serve()
	r.take()
}

// run feeds data in random chunks, lets time pass until the engine has
// closed the silent peer, and then drops the socket.
func (r *engineRun) run(data []byte) {
	for len(data) > 0 {
		n := 1 + r.rng.IntN(min(len(data), 1+r.rng.IntN(2048)))
		r.step(data[:n])
		data = data[n:]
	}
	// Follow the deadlines Tick returns for a while (heartbeats may be due
	// every half millisecond), then jump past every timeout: the handshake
	// timeout, then the idle timeout, end any silence.
	for i := 0; i < fuzzFinishTicks && !r.c.Done(); i++ {
		next := r.c.Tick()
		if next.IsZero() {
			break
		}
		if !next.After(r.clock.t) {
			r.fail("Tick asks to run again at once")
		}
		r.clock.t = next
		r.c.Tick()
		r.serve()
		r.take()
	}
	r.clock.advance(time.Minute)
	r.c.Tick()
	r.serve()
	r.take()
	if !r.c.Done() {
		r.fail("the engine outlived a minute of silence")
	}
	r.c.TransportClosed(nil)
	r.serve()
	r.take()
	if !r.finished {
		r.fail("no transport-closed event")
	}
	if r.c.HasOutput() {
		r.fail("a finished engine reports output after it was taken")
	}
}

// runEngine feeds data to a fresh server engine and reports a broken
// invariant as an error; a panic in the engine is not recovered.
func runEngine(data []byte, seed uint64) (err error) {
	defer func() {
		if p := recover(); p != nil {
			f, ok := p.(runFailure)
			if !ok {
				panic(p)
			}
			err = errors.New(f.msg)
		}
	}()
	r := newEngineRun(seed)
	r.run(data)
	if r.retained > len(data) {
		r.fail("deliveries hold %d bytes from %d of input", r.retained, len(data))
	}
	return nil
}

// recordedStreams are client byte streams recorded from engine pairs: whole,
// well-formed conversations for the fuzzer to mutate.
func recordedStreams(tb testing.TB) [][]byte {
	var streams [][]byte
	for _, cli := range []Config{{}, {SASLClient: sasl.ClientAnonymous()}} {
		p := newPair(tb, Config{SASLServer: sasl.Mechanisms{sasl.Anonymous: sasl.NewAnonymous}}, cli)
		var stream []byte
		p.wire = func(from *end, b []byte) {
			if from == p.client {
				stream = append(stream, b...)
			}
		}
		p.open()
		cs, _ := p.session()
		snd, rcv := p.link(cs, true, "in")
		crcv, ssnd := p.link(cs, false, "out")
		rcv.Flow(3, false)
		crcv.Flow(3, true)
		p.pump()
		for _, m := range []struct {
			l       *Link
			payload []byte
			settled bool
		}{{snd, []byte("hello"), false}, {snd, make([]byte, 700), true}, {ssnd, []byte("reply"), false}} {
			if _, err := m.l.Send([]byte("t"), m.payload, m.settled); err != nil {
				tb.Fatal(err)
			}
		}
		p.pump()
		for _, e := range []*end{p.server, p.client} {
			for _, ev := range e.take(EventDelivery) {
				ev.Delivery.Update(&types.Accepted{}, true)
			}
		}
		p.pump()
		snd.Detach(nil)
		cs.End(nil)
		p.client.c.Close(nil)
		p.pump()
		streams = append(streams, stream)
	}
	return streams
}

func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(filepath.Base(name)))
	return h.Sum64()
}

func FuzzServerEngine(f *testing.F) {
	for _, s := range recordedStreams(f) {
		f.Add(s, uint64(0))
		f.Add(s, uint64(1))
	}
	f.Add(append(frame.Header(frame.ProtoAMQP), 0, 0, 0, 8, 2, 0, 0, 0), uint64(7))
	for _, name := range corpusFiles(f) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, seedOf(name))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		if err := runEngine(data, seed); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEngineCorpus replays the qpid-proton corpora, crashes included,
// through a server engine: no panic, no broken invariant, and each input
// done in bounded time.
func TestEngineCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) == 0 {
		t.Skipf("no corpus in %s", corpusDir)
	}
	const limit = 10 * time.Second
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			defer func() {
				if p := recover(); p != nil {
					done <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
				}
			}()
			for _, seed := range []uint64{seedOf(name), 0} {
				if err := runEngine(data, seed); err != nil {
					done <- fmt.Errorf("seed %d: %w", seed, err)
					return
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		case <-time.After(limit):
			t.Fatalf("%s: not done after %v", name, limit)
		}
		if el := time.Since(start); el > limit/2 {
			t.Errorf("%s: %d bytes took %v", name, len(data), el)
		}
	}
	t.Logf("%d inputs", len(files))
}

// The recorded streams are a regression of their own: whole conversations,
// fed in random pieces, end cleanly.
func TestEngineRecordedStreams(t *testing.T) {
	for i, s := range recordedStreams(t) {
		for seed := uint64(0); seed < 20; seed++ {
			r := newEngineRun(seed)
			if err := func() (err error) {
				defer func() {
					if p := recover(); p != nil {
						err = fmt.Errorf("%v", p)
					}
				}()
				r.run(s)
				return nil
			}(); err != nil {
				t.Fatalf("stream %d seed %d: %v", i, seed, err)
			}
			if r.c.Err() != ErrClosed {
				t.Fatalf("stream %d seed %d: err %v, want a clean close", i, seed, r.c.Err())
			}
		}
	}
}
