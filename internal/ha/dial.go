package ha

import (
	"context"
	"crypto/tls"
	"net"
	"strings"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/driver"
	"github.com/qpidha/qpidha/internal/config"
)

// Peer addresses are host:port for plain AMQP and ssl:host:port for AMQPS
// (the URL syntax of ha-brokers-url), so that every list, log line and
// status shows how a peer is reached.
const sslPrefix = "ssl:"

// PeerAddress is the peer address of a URL address.
func PeerAddress(a config.Address) string {
	if a.Scheme == "ssl" {
		return sslPrefix + a.HostPort()
	}
	return a.HostPort()
}

// splitPeer is a peer address's host:port and whether it takes TLS.
func splitPeer(addr string) (hostPort string, tls bool) {
	if hp, ok := strings.CutPrefix(addr, sslPrefix); ok {
		return hp, true
	}
	return addr, false
}

// peerHost is the host of a peer address.
func peerHost(addr string) string {
	hp, _ := splitPeer(addr)
	host, _, _ := net.SplitHostPort(hp)
	return host
}

// dial connects to a peer address, over TLS for an ssl: one: the CA of
// ssl-ca-file verifies the peer's certificate against its host (else the
// system's roots), and this broker's certificate, if it has one, is its
// client certificate (for peers that require one, and for EXTERNAL).
func (m *Module) dial(ctx context.Context, addr string, cfg amqp.Config, h driver.Handler) (*driver.Conn, <-chan error, error) {
	hp, secure := splitPeer(addr)
	cfg.Hostname = peerHost(addr)
	if !secure {
		return driver.Dial(ctx, hp, cfg, h)
	}
	tc := m.clientTLS(cfg.Hostname)
	return driver.DialTLS(ctx, hp, tc, cfg, h)
}

// clientTLS is the TLS configuration of a connection to host.
func (m *Module) clientTLS(host string) *tls.Config {
	if m.cfg.TLS == nil {
		return &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	return m.cfg.TLS.Client(host)
}
