// Package driver runs an AMQP engine (package amqp) over a net.Conn.
//
// The engine is owned by a mutex rather than by one goroutine: the goroutine
// that reads the socket feeds it and handles the events; work injected by
// other goroutines (a queue waking a consumer, a shutdown) runs at once on
// the injecting goroutine when the engine is free, or is left for the
// goroutine holding it, which runs all queued work before letting go. A
// separate writer goroutine does the blocking writes, so reading never waits
// on writing and two brokers writing to each other cannot deadlock. Handing
// work over this way, instead of waking a dedicated goroutine, saves a
// goroutine switch and a system call per message.
package driver

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qpidha/qpidha/internal/amqp"
)

// Handler reacts to engine events. It runs with the engine locked, on
// whichever goroutine holds it, and may use the engine freely.
type Handler interface {
	HandleEvent(c *Conn, e amqp.Event)
	// Writable is called when output that had piled up above the high-water
	// mark has been written: a handler that stopped sending may resume.
	Writable(c *Conn)
}

// HighWater is the amount of unwritten output above which Congested is true.
const HighWater = 1 << 20

const (
	readSize = 64 << 10
	// linger bounds how long a finished connection waits for the peer to
	// close after our last frame (a close with its reason).
	linger = time.Second
)

// Conn drives one engine over one network connection.
type Conn struct {
	nc      net.Conn
	Engine  *amqp.Connection
	handler Handler

	mu sync.Mutex // owns the engine and the fields below

	writing   bool   // the writer owns a buffer
	queued    int    // bytes handed to the writer and not yet written
	spare     []byte // a written buffer, for the engine's next output
	writeErr  error
	congested bool
	doneSeen  bool // the engine is done
	finishing bool // ... and its last output written
	armed     time.Time
	timer     *time.Timer
	writes    chan []byte
	flushed   chan struct{} // closed once finishing

	qmu     sync.Mutex
	work    []func()
	closed  bool // no more work is accepted
	pending atomic.Bool

	// Context is for the application.
	Context any
}

// New returns a driver for an engine over nc.
func New(nc net.Conn, eng *amqp.Connection, h Handler) *Conn {
	return &Conn{
		nc:      nc,
		Engine:  eng,
		handler: h,
		writes:  make(chan []byte, 1),
		flushed: make(chan struct{}),
	}
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr is this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Inject runs f with the engine locked: at once on this goroutine if the
// engine is free, else soon on the goroutine holding it. It returns false,
// and f never runs, once the connection has finished.
func (c *Conn) Inject(f func()) bool {
	c.qmu.Lock()
	if c.closed {
		c.qmu.Unlock()
		return false
	}
	c.work = append(c.work, f)
	c.pending.Store(true)
	c.qmu.Unlock()
	if c.mu.TryLock() {
		c.process()
		c.unlock()
	}
	return true
}

// Abort closes the socket at once, from any goroutine: Run returns soon
// after, without waiting for a close frame to be written or answered. For a
// peer presumed dead, where Close would wait out the linger.
func (c *Conn) Abort() { _ = c.nc.Close() }

// Congested reports whether output is piling up faster than the peer reads.
// It is called with the engine locked (from the handler).
func (c *Conn) Congested() bool { return c.queued+c.Engine.OutputSize() > HighWater }

// unlock releases the engine, then runs work injected while it was held.
func (c *Conn) unlock() {
	c.mu.Unlock()
	for c.pending.Load() && c.mu.TryLock() {
		c.process()
		c.mu.Unlock()
	}
}

// process handles everything pending with the engine locked: events,
// injected work, output for the writer, congestion and the timer.
func (c *Conn) process() {
	for {
		c.dispatch()
		if !c.pending.Load() {
			break
		}
		c.qmu.Lock()
		work := c.work
		c.work = nil
		c.pending.Store(false)
		c.qmu.Unlock()
		for _, f := range work {
			f()
			c.dispatch()
		}
	}
	if !c.writing && c.writeErr == nil && c.Engine.HasOutput() {
		out := c.Engine.TakeOutput(c.spare)
		c.spare = nil
		c.writing = true
		c.queued = len(out)
		c.writes <- out // buffered: the writer is idle
	}
	if c.Congested() {
		c.congested = true
	} else if c.congested {
		c.congested = false
		c.handler.Writable(c)
		c.process()
		return
	}
	if c.Engine.Done() {
		if !c.doneSeen {
			// Bound the last write and the wait for the peer's close.
			c.doneSeen = true
			_ = c.nc.SetDeadline(time.Now().Add(2 * linger))
		}
		if !c.writing && !c.finishing && (!c.Engine.HasOutput() || c.writeErr != nil) {
			c.finish()
		}
		return
	}
	if next := c.Engine.Tick(); !next.IsZero() && (c.armed.IsZero() || next.Before(c.armed)) {
		c.armed = next
		if c.timer == nil {
			c.timer = time.AfterFunc(time.Until(next), c.onTimer)
		} else {
			c.timer.Reset(time.Until(next))
		}
	}
}

func (c *Conn) dispatch() {
	for {
		e, ok := c.Engine.Next()
		if !ok {
			return
		}
		c.handler.HandleEvent(c, e)
	}
}

func (c *Conn) onTimer() {
	c.mu.Lock()
	c.armed = time.Time{}
	if !c.finishing {
		c.Engine.Tick()
		c.process()
	}
	c.unlock()
}

// finish runs once the engine is done and its output written: no more work
// is accepted, and the socket is half-closed so the reader sees the peer's
// answer (or gives up after linger) without losing our last frame to a reset.
func (c *Conn) finish() {
	c.finishing = true
	c.qmu.Lock()
	c.closed = true
	c.work = nil
	c.pending.Store(false)
	c.qmu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	close(c.writes)
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(linger))
	close(c.flushed)
}

// Run serves the connection: it reads until the engine is done and the
// socket closed, and returns why the transport ended.
func (c *Conn) Run() error {
	go c.writer()
	c.mu.Lock()
	c.process() // a client engine has its protocol header to send
	c.unlock()
	buf := make([]byte, readSize)
	for {
		n, err := c.nc.Read(buf)
		c.mu.Lock()
		if !c.finishing {
			if n > 0 {
				c.Engine.Feed(buf[:n])
			}
			if err != nil {
				c.Engine.TransportClosed(transportErr(err))
			}
			c.process()
		}
		c.unlock()
		if err != nil {
			break // after finishing, the read ends at the peer's close or the deadline
		}
	}
	// The engine is done (or the socket failed): wait for the last write.
	select {
	case <-c.flushed:
	case <-time.After(linger):
	}
	_ = c.nc.Close()
	return c.Engine.Err()
}

func transportErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (c *Conn) writer() {
	for out := range c.writes {
		_, err := c.nc.Write(out)
		c.mu.Lock()
		c.writing = false
		c.queued = 0
		c.spare = out[:0]
		if err != nil && c.writeErr == nil {
			c.writeErr = err
			c.Engine.TransportClosed(err)
		}
		if !c.finishing {
			c.process()
		}
		c.unlock()
	}
}
