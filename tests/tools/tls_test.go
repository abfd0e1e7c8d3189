package tools

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/testpki"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// TestTLS: qpid-config over ssl: and amqps:// addresses of a broker that
// requires client certificates: the CA from --ssl-ca-file or from
// --config's ssl-ca-file, the client certificate from --ssl-certificate or
// from --config's ssl-cert-file; SCRAM-SHA-256 over TLS, EXTERNAL by
// default without a user name; and the failures worded.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "test")
	srv := ca.Broker(t, "broker")
	alice := ca.Issue(t, testpki.Spec{Name: "alice", Client: true})
	users := filepath.Join(dir, "qpidd.users")
	db, err := auth.Open(users, "QPID")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Add("admin", "s3cret-pw"); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	b := qpiddtest.Start(t, "--auth", "yes", "--auth-database", users,
		"--ssl-cert-file", srv.CertFile, "--ssl-key-file", srv.KeyFile, "--ssl-ca-file", ca.CertFile,
		"--ssl-require-client-authentication", "yes")
	tlsPort := strconv.Itoa(b.TLSPort)
	client := []string{"--ssl-ca-file", ca.CertFile, "--ssl-certificate", alice.CertFile, "--ssl-key", alice.KeyFile}

	// SCRAM over TLS, native and amqps:// addresses.
	if r := qpidConfig(t, append(client, "-b", "admin/s3cret-pw@ssl:127.0.0.1:"+tlsPort, "add", "queue", "tq")...); r.code != 0 {
		t.Fatalf("ssl: address: %+v", r)
	}
	r := qpidConfig(t, append(client, "-b", "amqps://admin:s3cret-pw@localhost:"+tlsPort, "list", "connection", "--show-property", "user")...)
	if r.code != 0 || !strings.Contains(r.stdout, "admin@QPID") {
		t.Fatalf("amqps:// address: %+v", r)
	}
	// Without a user name: EXTERNAL, as the certificate's identity.
	r = qpidConfig(t, append(client, "-b", "ssl:127.0.0.1:"+tlsPort, "list", "connection", "--show-property", "user")...)
	if r.code != 0 || !strings.Contains(r.stdout, "alice@QPID") {
		t.Fatalf("EXTERNAL by default: %+v", r)
	}
	if r := qpidConfig(t, append(client, "-b", "ssl:127.0.0.1:"+tlsPort, "--sasl-mechanism", "EXTERNAL", "queues")...); r.code != 0 || !strings.Contains(r.stdout, "tq") {
		t.Fatalf("--sasl-mechanism EXTERNAL: %+v", r)
	}

	// From the broker's own configuration file: ssl-port, the CA, the
	// broker's certificate as the client's, the HA credentials.
	conf := filepath.Join(dir, "qpidd.conf")
	text := "port=" + strconv.Itoa(b.Port) + "\nssl-port=" + tlsPort + "\nauth=yes\nha-username=admin\nha-password=s3cret-pw\n" +
		"ssl-cert-file=" + srv.CertFile + "\nssl-key-file=" + srv.KeyFile + "\nssl-ca-file=" + ca.CertFile + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := qpidConfig(t, "--config", conf, "-b", "ssl:localhost", "queues"); r.code != 0 || !strings.Contains(r.stdout, "tq") {
		t.Fatalf("--config: %+v", r)
	}

	// Failures: one line each, exit 1.
	fails(t, 1, "cannot connect to 127.0.0.1:"+tlsPort+": TLS handshake failed: the broker's certificate is not signed by a CA this tool trusts",
		"-b", "ssl:127.0.0.1:"+tlsPort, "--ssl-certificate", alice.CertFile, "--ssl-key", alice.KeyFile, "queues")
	other := testpki.NewCA(t, t.TempDir(), "other")
	fails(t, 1, "not signed by a CA this tool trusts", "-b", "ssl:127.0.0.1:"+tlsPort, "--ssl-ca-file", other.CertFile, "queues")
	fails(t, 1, "cannot connect to 127.0.0.1:"+tlsPort+": TLS: certificate required (the broker requires a client certificate: give --ssl-certificate and --ssl-key)",
		"-b", "ssl:127.0.0.1:"+tlsPort, "--ssl-ca-file", ca.CertFile, "queues")
	fails(t, 1, "authentication failed (SCRAM-SHA-256): check the user name and password",
		append(client, "-b", "admin/wrong@ssl:127.0.0.1:"+tlsPort, "queues")...)
	fails(t, 1, "TLS: ", "-b", "ssl:127.0.0.1:"+tlsPort, "--ssl-ca-file", filepath.Join(dir, "missing.pem"), "queues")
}
