package main

import (
	"context"
	"net"
	"net/url"
	"runtime"
	"sync"
	"time"
)

// A coalescingConn gathers what is written to it while its previous write
// is still in the kernel and writes it in one system call. go-amqp writes
// every frame with a system call of its own (its connection writer takes
// one frame at a time); on loopback TCP those writes took 40% of the load
// generator's CPU, so that the generator, not the broker, set the pace.
// Both protocols' clients use it, whatever the broker.
//
// Write returns once the bytes are queued; a failed write is returned by
// the next Write. Close writes what is queued first, within closeFlush.
type coalescingConn struct {
	net.Conn
	mu      sync.Mutex
	cond    *sync.Cond
	queued  []byte
	spare   []byte
	err     error
	closing bool
	done    chan struct{}
}

// maxQueued bounds what a writer may queue ahead of the kernel.
const maxQueued = 1 << 20

// closeFlush bounds how long Close waits for queued bytes to be written.
const closeFlush = 2 * time.Second

func coalesce(nc net.Conn) *coalescingConn {
	c := &coalescingConn{Conn: nc, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	go c.flush()
	return c
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queued) >= maxQueued && c.err == nil && !c.closing {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closing {
		return 0, net.ErrClosed
	}
	if len(c.queued) == 0 {
		c.cond.Broadcast() // the flusher waits for bytes
	}
	c.queued = append(c.queued, p...)
	return len(p), nil
}

// flush writes whatever is queued, one system call at a time, until Close.
func (c *coalescingConn) flush() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.queued) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.queued) == 0 {
			return
		}
		// Let the goroutines that are about to write more do so first.
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
		out := c.queued
		c.queued, c.spare = c.spare[:0], nil
		c.mu.Unlock()
		_, err := c.Conn.Write(out)
		c.mu.Lock()
		c.spare = out[:0]
		c.cond.Broadcast() // writers waiting for room
		if err != nil {
			c.err = err
			return
		}
	}
}

func (c *coalescingConn) Close() error {
	c.mu.Lock()
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	select {
	case <-c.done:
	case <-time.After(closeFlush):
	}
	return c.Conn.Close()
}

// dial opens a TCP connection to an amqp:// URL's host (port 5672 unless
// given), coalescing its writes when asked.
func dial(ctx context.Context, rawURL string, coalesceWrites bool) (net.Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "5672")
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || !coalesceWrites {
		return nc, err
	}
	return coalesce(nc), nil
}
