package security

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/testpki"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// pki is a test CA with a broker certificate for 127.0.0.1 and localhost.
type pki struct {
	dir    string
	ca     *testpki.CA
	broker testpki.Cert
}

func newPKI(t *testing.T) *pki {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "test")
	return &pki{dir: dir, ca: ca, broker: ca.Broker(t, "broker")}
}

// args are the broker's TLS options.
func (p *pki) args(extra ...string) []string {
	return append([]string{"--ssl-cert-file", p.broker.CertFile, "--ssl-key-file", p.broker.KeyFile, "--ssl-ca-file", p.ca.CertFile}, extra...)
}

func (p *pki) pool(t *testing.T) *x509.CertPool {
	pem, err := os.ReadFile(p.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

// clientTLS trusts the test CA and presents cert if it is not empty.
func (p *pki) clientTLS(t *testing.T, serverName string, cert testpki.Cert) *tls.Config {
	c := &tls.Config{RootCAs: p.pool(t), ServerName: serverName}
	if cert.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

// roundTrip sends a message to queue over conn options and receives it.
func roundTrip(url, queue string, opts *goamqp.ConnOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, url, opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		return err
	}
	snd, err := s.NewSender(ctx, queue, nil)
	if err != nil {
		return err
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("over TLS")), nil); err != nil {
		return err
	}
	rcv, err := s.NewReceiver(ctx, queue, nil)
	if err != nil {
		return err
	}
	m, err := rcv.Receive(ctx, nil)
	if err != nil {
		return err
	}
	if string(m.GetData()) != "over TLS" {
		return errors.New("received " + string(m.GetData()))
	}
	return rcv.AcceptMessage(ctx, m)
}

// protonTLS runs the proton TLS client; it returns its output and whether
// it succeeded.
func protonTLS(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := filepath.Join(qpiddtest.Root(), "tests", "security", "clients", "tls_sendrecv.py")
	out, err := qpiddtest.Python(ctx, append([]string{script}, args...)...)
	return out, err == nil
}

// Real clients over TLS: proton with the test CA and the peer's name
// verified, with PLAIN and with a client certificate and EXTERNAL (the
// certificate's subject mapped to user@domain, else user@realm, as the
// original did); go-amqp with PLAIN and with EXTERNAL.
func TestTLSClients(t *testing.T) {
	p := newPKI(t)
	acl := filepath.Join(p.dir, "qpidd.acl")
	// carol's certificate names her domain; erin's does not (realm QPID);
	// dave's certificate is valid, but the ACL lets him do nothing.
	if err := os.WriteFile(acl, []byte("acl allow alice@QPID all all\nacl allow carol@example.com all all\nacl allow erin@QPID all all\nacl deny-log all all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := startAuth(t, p.args("--acl-file", acl)...)
	carol := p.ca.Issue(t, testpki.Spec{Name: "carol", Client: true, Subject: pkix.Name{CommonName: "carol", ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: []int{0, 9, 2342, 19200300, 100, 1, 25}, Value: "example"}, {Type: []int{0, 9, 2342, 19200300, 100, 1, 25}, Value: "com"}}}})
	dave := p.ca.Issue(t, testpki.Spec{Name: "dave", Client: true})
	erin := p.ca.Issue(t, testpki.Spec{Name: "erin", Client: true})
	local := "localhost:" + strconv.Itoa(b.TLSPort)
	if !strings.Contains(b.Log(), "auth is on and plain TCP port") {
		t.Errorf("no warning of PLAIN over the open plain port:\n%s", b.Log())
	}

	t.Run("proton PLAIN, peer name verified", func(t *testing.T) {
		// Proton matches the host name against the certificate's DNS
		// names (not its IP addresses): it connects to localhost.
		out, ok := protonTLS(t, "--address", local, "--ca", p.ca.CertFile, "--user", "alice", "--password", "alice-pw", "--queue", "proton-plain")
		if !ok || !strings.Contains(out, "sent 10 received 10") {
			t.Fatalf("proton over TLS with PLAIN: %s", out)
		}
		// A name the certificate lacks is refused.
		out, ok = protonTLS(t, "--address", local, "--vhost", "node9.example.com", "--ca", p.ca.CertFile, "--user", "alice", "--password", "alice-pw", "--queue", "proton-plain")
		if ok || !strings.Contains(out, "certificate verify failed") {
			t.Fatalf("proton over TLS to a name the certificate lacks: %s", out)
		}
	})
	t.Run("proton EXTERNAL", func(t *testing.T) {
		out, ok := protonTLS(t, "--address", local, "--ca", p.ca.CertFile, "--cert", carol.CertFile, "--key", carol.KeyFile, "--mechs", "EXTERNAL", "--queue", "proton-external")
		if !ok || !strings.Contains(out, "sent 10 received 10") {
			t.Fatalf("proton with carol's certificate and EXTERNAL: %s", out)
		}
		out, ok = protonTLS(t, "--address", local, "--ca", p.ca.CertFile, "--cert", dave.CertFile, "--key", dave.KeyFile, "--mechs", "EXTERNAL", "--queue", "proton-external")
		if ok || !strings.Contains(out, "amqp:unauthorized-access") || !strings.Contains(out, "dave@QPID") {
			t.Fatalf("dave@QPID, whom the ACL denies, got in (or another error): %s", out)
		}
	})
	t.Run("go-amqp PLAIN", func(t *testing.T) {
		err := roundTrip("amqps://"+b.TLSAddr(), "go-plain", &goamqp.ConnOptions{
			TLSConfig: p.clientTLS(t, "127.0.0.1", testpki.Cert{}), SASLType: goamqp.SASLTypePlain("alice", "alice-pw")})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("go-amqp EXTERNAL identity", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := goamqp.Dial(ctx, "amqps://"+b.TLSAddr(), &goamqp.ConnOptions{ContainerID: "erin-conn",
			TLSConfig: p.clientTLS(t, "127.0.0.1", erin), SASLType: goamqp.SASLTypeExternal("")})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := connectionUsers(t, b, "alice:alice-pw")["erin-conn"]; got != "erin@QPID" {
			t.Fatalf("erin's connection is %q's, want erin@QPID", got)
		}
	})
}

// What is refused over TLS, each with the error the client sees, while
// the broker keeps serving others: a certificate the client does not
// trust, an expired one, a wrong host name, a client without a certificate
// under ssl-require-client-authentication or with an untrusted or expired
// one, a plain connection under require-encryption.
func TestTLSRefusals(t *testing.T) {
	p := newPKI(t)
	// The CA of --ssl-ca-file decides which client certificates are good.
	b, _ := startAuth(t, "--ssl-cert-file", p.broker.CertFile, "--ssl-key-file", p.broker.KeyFile, "--ssl-ca-file", p.ca.CertFile,
		"--require-encryption", "yes", "--ssl-require-client-authentication", "yes")
	alice := p.ca.Issue(t, testpki.Spec{Name: "alice", Client: true})
	plain := goamqp.SASLTypePlain("alice", "alice-pw")
	good := func(t *testing.T) {
		t.Helper()
		if err := roundTrip("amqps://"+b.TLSAddr(), "refusals", &goamqp.ConnOptions{TLSConfig: p.clientTLS(t, "127.0.0.1", alice), SASLType: plain}); err != nil {
			t.Fatalf("a good client was refused after a bad one: %v", err)
		}
	}
	expectErr := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("connected; want a refusal")
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("error %q does not say %q", err, w)
			}
		}
		good(t)
	}
	other := testpki.NewCA(t, t.TempDir(), "other")

	t.Run("untrusted broker certificate", func(t *testing.T) {
		c := p.clientTLS(t, "127.0.0.1", alice)
		c.RootCAs = x509.NewCertPool()
		pem, _ := os.ReadFile(other.CertFile)
		c.RootCAs.AppendCertsFromPEM(pem)
		expectErr(t, roundTrip("amqps://"+b.TLSAddr(), "refusals", &goamqp.ConnOptions{TLSConfig: c, SASLType: plain}), "certificate signed by unknown authority")
	})
	t.Run("wrong host name", func(t *testing.T) {
		c := p.clientTLS(t, "node9.example.com", alice)
		expectErr(t, roundTrip("amqps://"+b.TLSAddr(), "refusals", &goamqp.ConnOptions{TLSConfig: c, SASLType: plain}), "not node9.example.com")
	})
	t.Run("no client certificate", func(t *testing.T) {
		c := p.clientTLS(t, "127.0.0.1", testpki.Cert{})
		expectErr(t, roundTrip("amqps://"+b.TLSAddr(), "refusals", &goamqp.ConnOptions{TLSConfig: c, SASLType: plain}), "certificate required")
	})
	t.Run("untrusted client certificate", func(t *testing.T) {
		c := p.clientTLS(t, "127.0.0.1", other.Issue(t, testpki.Spec{Name: "mallory", Client: true}))
		// Go's client offers only certificates of the CAs the server
		// names: make it present mallory's anyway.
		mallory := c.Certificates[0]
		c.Certificates, c.GetClientCertificate = nil, func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &mallory, nil }
		expectErr(t, roundTrip("amqps://"+b.TLSAddr(), "refusals", &goamqp.ConnOptions{TLSConfig: c, SASLType: plain}), "unknown certificate authority")
	})
	t.Run("expired client certificate", func(t *testing.T) {
		c := p.clientTLS(t, "127.0.0.1", p.ca.Issue(t, testpki.Spec{Name: "old", Client: true, Expired: true}))
		expectErr(t, roundTrip("amqps://"+b.TLSAddr(), "refusals", &goamqp.ConnOptions{TLSConfig: c, SASLType: plain}), "expired certificate")
	})
	t.Run("plain connection under require-encryption", func(t *testing.T) {
		// No password may cross: only ANONYMOUS is offered, and the open
		// is refused saying why.
		err := roundTrip("amqp://"+b.Addr(), "refusals", &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
		expectErr(t, err, "amqp:unauthorized-access", "require-encryption", "port "+strconv.Itoa(b.TLSPort))
		err = roundTrip("amqp://"+b.Addr(), "refusals", &goamqp.ConnOptions{SASLType: plain})
		expectErr(t, err, "no supported auth mechanism ([ANONYMOUS])")
	})
	if !strings.Contains(b.Log(), "TLS handshake failed") {
		t.Errorf("the broker did not log the failed handshakes:\n%s", b.Log())
	}

	t.Run("expired broker certificate", func(t *testing.T) {
		old := p.ca.Issue(t, testpki.Spec{Name: "old-broker", Hosts: []string{"127.0.0.1"}, Server: true, Expired: true})
		eb := qpiddtest.Start(t, "--ssl-cert-file", old.CertFile, "--ssl-key-file", old.KeyFile)
		if !strings.Contains(eb.Log(), "expired on") {
			t.Errorf("no warning of the expired certificate at start:\n%s", eb.Log())
		}
		err := roundTrip("amqps://"+eb.TLSAddr(), "refusals", &goamqp.ConnOptions{TLSConfig: p.clientTLS(t, "127.0.0.1", testpki.Cert{})})
		expectErr(t, err, "certificate has expired")
	})
}

// An SSL-only broker (listen-disable tcp), ssl-sasl-no-dict (TLS clients
// may use EXTERNAL only), and certificates replaced on SIGHUP without
// dropping an open connection.
func TestTLSOnlyAndReload(t *testing.T) {
	p := newPKI(t)
	b, _ := startAuth(t, p.args("--listen-disable", "tcp", "--ssl-sasl-no-dict", "yes")...)
	if b.Port != 0 || strings.Contains(b.Log(), "listening on port") {
		t.Fatalf("a plain listener with listen-disable tcp:\n%s", b.Log())
	}
	if strings.Contains(b.Log(), "plain TCP port") {
		t.Errorf("warned of plain TCP that is closed:\n%s", b.Log())
	}
	erin := p.ca.Issue(t, testpki.Spec{Name: "erin", Client: true})
	err := roundTrip("amqps://"+b.TLSAddr(), "q", &goamqp.ConnOptions{TLSConfig: p.clientTLS(t, "127.0.0.1", erin), SASLType: goamqp.SASLTypePlain("alice", "alice-pw")})
	if err == nil || !strings.Contains(err.Error(), "no supported auth mechanism ([EXTERNAL])") {
		t.Fatalf("PLAIN over TLS under ssl-sasl-no-dict: %v", err)
	}

	// An open connection, then new files and SIGHUP.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqps://"+b.TLSAddr(), &goamqp.ConnOptions{TLSConfig: p.clientTLS(t, "127.0.0.1", erin), SASLType: goamqp.SASLTypeExternal("")})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		c, err := tls.Dial("tcp", b.TLSAddr(), p.clientTLS(t, "127.0.0.1", testpki.Cert{}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	renewed := p.ca.Broker(t, "renewed")
	for _, f := range [][2]string{{renewed.CertFile, p.broker.CertFile}, {renewed.KeyFile, p.broker.KeyFile}} {
		data, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.Signal(syscall.SIGHUP)
	qpiddtest.Eventually(t, 10*time.Second, func() error {
		if s := serial(); s == before {
			return errors.New("still the old certificate")
		}
		return nil
	})
	snd, err := sess.NewSender(ctx, "reload-q", nil)
	if err != nil {
		t.Fatalf("the connection opened before SIGHUP: %v", err)
	}
	if err := snd.Send(ctx, goamqp.NewMessage([]byte("after reload")), nil); err != nil {
		t.Fatalf("the connection opened before SIGHUP: %v", err)
	}
	if !strings.Contains(b.Log(), "SIGHUP: reloaded the TLS files") {
		t.Errorf("no reload logged:\n%s", b.Log())
	}
}

// Settings that cannot work stop the broker at start with what to do.
func TestTLSStartErrors(t *testing.T) {
	p := newPKI(t)
	enc := filepath.Join(p.dir, "enc-key.pem")
	if err := os.WriteFile(enc, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ssl-port", "5671"}, "ssl-port 5671 needs the broker's certificate: give ssl-cert-file and ssl-key-file"},
		{[]string{"--require-encryption", "yes"}, "require-encryption refuses every plain connection, and there is no TLS listener"},
		{[]string{"--listen-disable", "tcp"}, "nothing to listen on"},
		{[]string{"--listen-disable", "udp"}, "expected tcp or ssl"},
		{[]string{"--ssl-cert-file", p.broker.CertFile}, "no key file given (ssl-key-file)"},
		{[]string{"--ssl-cert-file", p.broker.CertFile, "--ssl-key-file", enc}, "is encrypted, and Go reads no encrypted keys"},
		{[]string{"--ssl-cert-file", p.broker.CertFile, "--ssl-key-file", p.broker.KeyFile, "--ssl-require-client-authentication", "yes"}, "needs the CA that signs them (ssl-ca-file)"},
	} {
		args := append([]string{"--config", "", "--auth", "no", "--no-data-dir", "--port", "0"}, c.args...)
		out, err := exec.Command(qpiddtest.Bin(t, "qpidd"), args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("qpidd %s: %v, want exit 1 saying %q:\n%s", strings.Join(c.args, " "), err, c.want, out)
		}
	}
}

// A client that opens a TCP connection to the TLS port and never starts
// the handshake is dropped after max-negotiate-time, as on the plain port.
func TestTLSHandshakeTimeLimit(t *testing.T) {
	p := newPKI(t)
	b := qpiddtest.Start(t, p.args("--max-negotiate-time", "300ms")...)
	c, err := net.Dial("tcp", b.TLSAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v; want the broker to close the connection", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("dropped after %v, want about 300ms", d)
	}
}
