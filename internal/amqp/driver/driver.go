// Package driver runs an AMQP engine (package amqp) over a net.Conn: one
// goroutine owns the engine and hands it bytes, ticks and injected work; a
// reader and a writer goroutine do the blocking IO, so reading never waits on
// writing and two brokers writing to each other cannot deadlock.
package driver

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/qpidha/qpidha/internal/amqp"
)

// Handler reacts to engine events; it runs on the connection's goroutine
// and may use the engine freely there.
type Handler interface {
	HandleEvent(c *Conn, e amqp.Event)
	// Writable is called when output that had piled up above the high-water
	// mark has been written: a handler that stopped sending may resume.
	Writable(c *Conn)
}

// HighWater is the amount of unwritten output above which Congested is true.
const HighWater = 1 << 20

const readSize = 64 << 10

// Conn drives one engine over one network connection.
type Conn struct {
	nc      net.Conn
	Engine  *amqp.Connection
	handler Handler

	mu   sync.Mutex
	work []func()
	done bool
	wake chan struct{}

	queued int // output bytes handed to the writer and not yet written

	// Context is for the application.
	Context any
}

// New returns a driver for an engine over nc.
func New(nc net.Conn, eng *amqp.Connection, h Handler) *Conn {
	return &Conn{nc: nc, Engine: eng, handler: h, wake: make(chan struct{}, 1)}
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr is this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Inject runs f on the connection's goroutine. It returns false, and f never
// runs, once the connection has finished.
func (c *Conn) Inject(f func()) bool {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return false
	}
	c.work = append(c.work, f)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// Congested reports whether output is piling up faster than the peer reads.
func (c *Conn) Congested() bool { return c.queued+c.Engine.OutputSize() > HighWater }

type readResult struct {
	buf []byte
	err error
}

// Run serves the connection until the engine is done and the socket closed.
// It returns why the transport ended.
func (c *Conn) Run() error {
	reads := make(chan readResult, 2)
	free := make(chan []byte, 2)
	free <- make([]byte, readSize)
	free <- make([]byte, readSize)
	stopRead := make(chan struct{})
	go c.reader(reads, free, stopRead)

	writes := make(chan []byte, 1)
	written := make(chan writeResult, 1)
	go c.writer(writes, written)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var armed time.Time
	var spare []byte
	writing, readDone, congested := false, false, false
	var writeErr error

	for {
		c.dispatch()
		if !writing && writeErr == nil && c.Engine.HasOutput() {
			// The engine now fills spare while the writer owns out.
			out := c.Engine.TakeOutput(spare)
			spare = nil
			writing = true
			c.queued = len(out)
			writes <- out
		}
		if c.Congested() {
			congested = true
		} else if congested {
			congested = false
			c.handler.Writable(c)
			continue
		}
		if c.Engine.Done() && !writing && (!c.Engine.HasOutput() || writeErr != nil) {
			break
		}
		if next := c.Engine.Tick(); !next.IsZero() && (armed.IsZero() || next.Before(armed)) {
			armed = next
			timer.Reset(time.Until(next))
		}
		select {
		case r := <-reads:
			if r.err != nil {
				readDone = true
				c.Engine.TransportClosed(transportErr(r.err))
				continue
			}
			c.Engine.Feed(r.buf)
			free <- r.buf[:cap(r.buf)]
		case w := <-written:
			writing = false
			spare = w.buf[:0]
			c.queued = 0
			if w.err != nil {
				writeErr = w.err
				c.Engine.TransportClosed(w.err)
			}
		case <-c.wake:
			c.runWork()
		case <-timer.C:
			armed = time.Time{}
			c.Engine.Tick()
		}
	}
	timer.Stop()
	close(writes)
	c.finish()
	// Half-close, and read what the peer still sends for a moment, so our
	// last frame (a close with its reason) is not lost to a reset.
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok && !readDone {
		_ = tc.CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
	drain:
		for {
			select {
			case r := <-reads:
				if r.err != nil {
					break drain
				}
				free <- r.buf[:cap(r.buf)]
			case <-time.After(time.Second):
				break drain
			}
		}
	}
	close(stopRead)
	_ = c.nc.Close()
	return c.Engine.Err()
}

// finish marks the connection finished: injected work no longer runs.
func (c *Conn) finish() {
	c.mu.Lock()
	c.done = true
	c.work = nil
	c.mu.Unlock()
}

func transportErr(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
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

func (c *Conn) runWork() {
	for {
		c.mu.Lock()
		work := c.work
		c.work = nil
		c.mu.Unlock()
		if len(work) == 0 {
			return
		}
		for _, f := range work {
			f()
			c.dispatch()
		}
	}
}

func (c *Conn) reader(reads chan<- readResult, free chan []byte, stop <-chan struct{}) {
	for {
		var buf []byte
		select {
		case buf = <-free:
		case <-stop:
			return
		}
		n, err := c.nc.Read(buf)
		if n > 0 {
			select {
			case reads <- readResult{buf: buf[:n]}:
			case <-stop:
				return
			}
		}
		if err != nil {
			select {
			case reads <- readResult{err: err}:
			case <-stop:
			}
			return
		}
		if n == 0 {
			free <- buf
		}
	}
}

type writeResult struct {
	buf []byte
	err error
}

func (c *Conn) writer(writes <-chan []byte, written chan<- writeResult) {
	for out := range writes {
		_, err := c.nc.Write(out)
		written <- writeResult{out, err}
		if err != nil {
			for range writes {
			}
			return
		}
	}
}
