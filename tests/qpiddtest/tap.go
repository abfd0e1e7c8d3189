package qpiddtest

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// Tap forwards a loopback port to a broker and keeps every byte clients
// send, so a test can check what crossed the wire: the SASL mechanism a
// tool chose, and that no password went in clear.
type Tap struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	sent   bytes.Buffer
	conns  []net.Conn
	wg     sync.WaitGroup
}

// StartTap listens on a free loopback port and forwards to target.
func StartTap(t testing.TB, target string) *Tap {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Tap{l: l, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the address clients connect to.
func (p *Tap) Addr() string { return p.l.Addr().String() }

// Sent is everything clients sent so far; Reset forgets it.
func (p *Tap) Sent() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.sent.Bytes()...)
}

// Reset forgets what clients sent.
func (p *Tap) Reset() {
	p.mu.Lock()
	p.sent.Reset()
	p.mu.Unlock()
}

// Close stops the tap and drops its connections.
func (p *Tap) Close() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Tap) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent.Write(b)
}

func (p *Tap) accept() {
	defer p.wg.Done()
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(out, io.TeeReader(in, p), in)
		go p.pipe(in, out, out)
	}
}

func (p *Tap) pipe(dst net.Conn, src io.Reader, srcConn net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	srcConn.Close()
}
