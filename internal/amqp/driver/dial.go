package driver

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Dial connects to addr (host:port), starts a client engine with cfg over
// the connection and runs it on a new goroutine. The handler sees the
// engine's events; done receives Run's result when the connection ends.
func Dial(ctx context.Context, addr string, cfg amqp.Config, h Handler) (c *Conn, done <-chan error, err error) {
	return DialTLS(ctx, addr, nil, cfg, h)
}

// DialTLS is Dial over TLS with tc (nil: plain TCP); the TLS handshake
// completes within ctx before the AMQP engine starts.
func DialTLS(ctx context.Context, addr string, tc *tls.Config, cfg amqp.Config, h Handler) (c *Conn, done <-chan error, err error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
	}
	if tc != nil {
		t := tls.Client(nc, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		nc = t
	}
	c = New(nc, amqp.NewClient(cfg), h)
	ch := make(chan error, 1)
	go func() { ch <- c.Run() }()
	return c, ch, nil
}

// Close closes the connection (with an optional error) from any goroutine.
func (c *Conn) Close(e *types.Error) {
	c.Inject(func() { c.Engine.Close(e) })
}
