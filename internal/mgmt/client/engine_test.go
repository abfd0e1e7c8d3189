package client

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/mgmt"
	"github.com/qpidha/qpidha/internal/testpki"
)

// recording is a SASL server that remembers the mechanisms clients chose.
type recording struct {
	sasl.Server
	mu     sync.Mutex
	chosen []string
}

func (r *recording) Start(name string) (sasl.ServerMechanism, error) {
	r.mu.Lock()
	r.chosen = append(r.chosen, name)
	r.mu.Unlock()
	return r.Server.Start(name)
}

func (r *recording) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.chosen) == 0 {
		return ""
	}
	return r.chosen[len(r.chosen)-1]
}

// only offers a subset of a server's mechanisms.
type only struct {
	sasl.Server
	names []string
}

func (o only) Mechanisms() []string { return o.names }

// startServer runs an in-process broker with the management agent and
// the given SASL server (nil: ANONYMOUS).
func startServer(t *testing.T, srv sasl.Server) (*amqpserver.Server, string) {
	t.Helper()
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	agent := mgmt.NewAgent(mgmt.Config{Broker: b, Name: "test-broker", Version: "test"})
	s := amqpserver.New(amqpserver.Config{Broker: b, Log: log, Management: agent, ContainerID: "test-broker", SASL: srv})
	agent.SetServer(s)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	return s, addr.String()
}

// userDB is a user database with admin/secret.
func userDB(t *testing.T) *auth.DB {
	t.Helper()
	db, err := auth.Open(filepath.Join(t.TempDir(), "qpidd.users"), "QPID")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("admin", "secret"); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestMechanismSelection(t *testing.T) {
	rec := &recording{Server: auth.NewServer(userDB(t), false)}
	_, addr := startServer(t, rec)
	ctx := ctxFor(t)
	ok := func(url string, opts Options, want string) {
		t.Helper()
		opts.Timeout = 5 * time.Second
		c, err := Dial(ctx, url, opts)
		if err != nil {
			t.Fatalf("%s %q: %v", url, opts.Mechanism, err)
		}
		defer c.Close()
		if _, err := c.Broker(ctx); err != nil {
			t.Fatalf("%s %q: request: %v", url, opts.Mechanism, err)
		}
		if got := rec.last(); got != want {
			t.Fatalf("%s %q: the server saw %s, want %s", url, opts.Mechanism, got, want)
		}
	}
	ok("admin/secret@"+addr, Options{}, "SCRAM-SHA-256")
	ok("amqp://admin:secret@"+addr, Options{Mechanism: "scram-sha-256"}, "SCRAM-SHA-256")
	ok("admin/secret@"+addr, Options{Mechanism: "PLAIN"}, "PLAIN")

	fail := func(url string, opts Options, want string) {
		t.Helper()
		opts.Timeout = 5 * time.Second
		_, err := Dial(ctx, url, opts)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s %q: %v, want %q", url, opts.Mechanism, err, want)
		}
	}
	fail("admin/wrong@"+addr, Options{}, "cannot connect to "+addr+": authentication failed (SCRAM-SHA-256): check the user name and password")
	fail("nobody/secret@"+addr, Options{Mechanism: "PLAIN"}, "authentication failed (PLAIN): check the user name and password")
	fail(addr, Options{}, "the broker does not offer the SASL mechanism this client asked for, ANONYMOUS (it offers SCRAM-SHA-256, PLAIN)")
	fail(addr, Options{Mechanism: "EXTERNAL"}, "the broker does not offer the SASL mechanism this client asked for, EXTERNAL (it offers SCRAM-SHA-256, PLAIN)")

	// A broker offering PLAIN alone: the default falls back to it.
	rec2 := &recording{Server: only{Server: auth.NewServer(userDB(t), false), names: []string{"PLAIN"}}}
	_, addr2 := startServer(t, rec2)
	c, err := Dial(ctx, "admin/secret@"+addr2, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if rec2.last() != "PLAIN" {
		t.Fatalf("PLAIN-only broker saw %q", rec2.last())
	}
	if _, err := Dial(ctx, "admin/secret@"+addr2, Options{Mechanism: "SCRAM-SHA-256", Timeout: 5 * time.Second}); err == nil ||
		!strings.Contains(err.Error(), "does not offer the SASL mechanism this client asked for, SCRAM-SHA-256 (it offers PLAIN)") {
		t.Fatalf("SCRAM asked of a PLAIN-only broker: %v", err)
	}
	if _, err := Dial(ctx, "localhost:1", Options{Mechanism: "SCRAM-SHA-256"}); err == nil || !strings.Contains(err.Error(), "needs a user name") {
		t.Fatalf("SCRAM without a user: %v", err)
	}
}

// proxy forwards connections to target; freeze stops forwarding (a hung
// broker), and for TLS it terminates the client's TLS with conf.
type proxy struct {
	l      net.Listener
	target string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target string, conf *tls.Config) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if conf != nil {
		l = tls.NewListener(l, conf)
	}
	p := &proxy{l: l, target: target}
	t.Cleanup(p.close)
	go p.accept()
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) accept() {
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
		go p.copy(out, in)
		go p.copy(in, out)
	}
}

func (p *proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for p.frozen.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) close() {
	p.frozen.Store(false)
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func TestRequestTimeoutAndClosedConnection(t *testing.T) {
	s, addr := startServer(t, nil)
	p := startProxy(t, addr, nil)
	c, err := Dial(ctxFor(t), p.addr(), Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Broker(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	// A broker that stops answering: the request fails within the timeout.
	p.frozen.Store(true)
	start := time.Now()
	_, err = c.Broker(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no response: no answer within 500ms") {
		t.Fatalf("request to a hung broker: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	// A context deadline shorter than the timeout wins.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Broker(ctx); err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("request with a deadline: %v", err)
	}
	p.frozen.Store(false)

	// A broker that goes away: requests fail at once, not at the timeout.
	c2, err := Dial(ctxFor(t), addr, Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.Shutdown(time.Second)
	start = time.Now()
	_, err = c2.Broker(context.Background())
	if err == nil || !strings.Contains(err.Error(), "READ org.apache.qpid.broker:broker: ") {
		t.Fatalf("request after the broker shut down: %v", err)
	}
	t.Logf("request after the broker shut down: %v", err)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	if err := c2.Close(); err != nil {
		t.Logf("close after the broker's: %v", err)
	}
}

func TestConcurrentRequests(t *testing.T) {
	_, addr := startServer(t, nil)
	c := dial(t, addr, Options{Timeout: 5 * time.Second})
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Broker(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ReplyTo(), "") || c.ReplyTo() == "" {
		t.Fatalf("reply-to %q", c.ReplyTo())
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "test")
	srv := ca.Broker(t, "broker")
	pair, err := tls.LoadX509KeyPair(srv.CertFile, srv.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startServer(t, nil)
	p := startProxy(t, addr, &tls.Config{Certificates: []tls.Certificate{pair}})
	_, port, _ := net.SplitHostPort(p.addr())
	ctx := ctxFor(t)

	conf, err := TLSFiles("", "", ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"ssl:127.0.0.1:" + port, "amqps://localhost:" + port} {
		c, err := Dial(ctx, url, Options{Timeout: 5 * time.Second, TLSConfig: conf})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if _, err := c.Broker(ctx); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		c.Close()
	}
	// Without the CA: the system's roots do not know the test CA.
	_, err = Dial(ctx, "ssl:127.0.0.1:"+port, Options{Timeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "the broker's certificate is not signed by a CA this tool trusts") {
		t.Fatalf("unknown CA: %v", err)
	}
	// A certificate for other hosts.
	other := ca.Issue(t, testpki.Spec{Name: "other", Hosts: []string{"broker.example"}, Server: true})
	pair2, err := tls.LoadX509KeyPair(other.CertFile, other.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	p2 := startProxy(t, addr, &tls.Config{Certificates: []tls.Certificate{pair2}})
	_, p2port, _ := net.SplitHostPort(p2.addr())
	_, err = Dial(ctx, "ssl:localhost:"+p2port, Options{Timeout: 5 * time.Second, TLSConfig: conf})
	if err == nil || !strings.Contains(err.Error(), "the broker's certificate is not for this address") ||
		!strings.Contains(err.Error(), "broker.example") {
		t.Fatalf("wrong host: %v", err)
	}
	// A listener that never answers the TLS handshake: within the timeout.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	start := time.Now()
	if _, err := Dial(ctx, "ssl:"+hung.Addr().String(), Options{Timeout: 300 * time.Millisecond, TLSConfig: conf}); err == nil ||
		!strings.Contains(err.Error(), "no answer within 300ms") || time.Since(start) > 2*time.Second {
		t.Fatalf("a silent TLS listener: %v after %v", err, time.Since(start))
	}
	// A plain port spoken to with TLS fails within the timeout or at once,
	// never hangs.
	if _, err := Dial(ctx, "ssl:"+addr, Options{Timeout: time.Second, TLSConfig: conf}); err == nil || !strings.Contains(err.Error(), "TLS") && !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("TLS to a plain port: %v", err)
	}
}

func TestToolTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "test")
	srv := ca.Broker(t, "broker")
	conf := &config.Options{SSLCAFile: ca.CertFile, SSLCertFile: srv.CertFile, SSLKeyFile: srv.KeyFile}
	c, err := ToolTLS("", "", "", conf)
	if err != nil || c.RootCAs == nil || c.GetClientCertificate == nil || len(c.Certificates) != 0 {
		t.Fatalf("from the file: %+v, %v", c, err)
	}
	if cert, err := c.GetClientCertificate(nil); err != nil || len(cert.Certificate) == 0 {
		t.Fatalf("the file's certificate: %v", err)
	}
	// The tool's own files win.
	if c, err = ToolTLS(srv.CertFile, srv.KeyFile, ca.CertFile, conf); err != nil || len(c.Certificates) != 1 || c.GetClientCertificate != nil {
		t.Fatalf("own files: %+v, %v", c, err)
	}
	if _, err = ToolTLS("", "k", "", nil); err == nil || !strings.Contains(err.Error(), "missing '--ssl-certificate'") {
		t.Fatalf("key alone: %v", err)
	}
	if _, err = ToolTLS("", "", filepath.Join(dir, "missing.pem"), nil); err == nil {
		t.Fatal("a missing CA file given on the command line: no error")
	}
	// The file's unreadable files fail only TLS connections, saying why.
	bad := &config.Options{SSLCAFile: filepath.Join(dir, "missing.pem"), SSLCertFile: filepath.Join(dir, "nocert.pem"), SSLKeyFile: filepath.Join(dir, "nokey.pem")}
	if c, err = ToolTLS("", "", "", bad); err != nil {
		t.Fatalf("unreadable files of the configuration: %v", err)
	}
	if cert, err := c.GetClientCertificate(nil); err != nil || len(cert.Certificate) != 0 {
		t.Fatalf("an unreadable certificate: %v", err)
	}
	if err := c.VerifyConnection(tls.ConnectionState{}); err == nil || !strings.Contains(err.Error(), "ssl-ca-file of --config") {
		t.Fatalf("an unreadable CA: %v", err)
	}
	if c, err := ToolTLS("", "", "", nil); c != nil || err != nil {
		t.Fatalf("nothing: %v, %v", c, err)
	}
}

func TestNormalize(t *testing.T) {
	ts := time.UnixMilli(1700000000123)
	in := types.Map{
		{Key: types.Symbol("sym"), Value: types.Symbol("v")},
		{Key: "when", Value: types.TimestampOf(ts)},
		{Key: "list", Value: []any{types.Map{{Key: "k", Value: int64(1)}}}},
		{Key: "array", Value: types.Array{Type: types.TypeString, Items: []any{"a", "b"}}},
		{Key: int64(7), Value: nil},
	}
	out, ok := Normalize(in).(map[string]any)
	if !ok || out["sym"] != "v" || !out["when"].(time.Time).Equal(ts) || out["7"] != nil {
		t.Fatalf("normalized %#v", out)
	}
	if l := out["list"].([]any); l[0].(map[string]any)["k"] != int64(1) {
		t.Fatalf("list %#v", l)
	}
	if a := out["array"].([]any); len(a) != 2 || a[1] != "b" {
		t.Fatalf("array %#v", a)
	}
	v, err := toAMQP(map[string]any{"t": ts, "n": []any{map[string]any{"u": ts}}, "i": []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["t"] != types.TimestampOf(ts) || m["n"].([]any)[0].(map[string]any)["u"] != types.TimestampOf(ts) || m["i"].([]any)[0] != int64(1) {
		t.Fatalf("toAMQP %#v", m)
	}
	if _, err := types.AppendValue(nil, v); err != nil {
		t.Fatal(err)
	}
}
