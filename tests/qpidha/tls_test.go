package qpidha

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/testpki"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// TestTLS: qpid-ha status and query over ssl: and amqps:// addresses of a
// broker that requires client certificates, with --ssl-ca-file and a
// client certificate, or everything from --config (ssl-port, ssl-ca-file,
// the broker's own certificate as the client's, the HA credentials).
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
	c := qpiddtest.StartCluster(t, 1, "--auth", "yes", "--auth-database", users,
		"--ha-username", "admin", "--ha-password", "s3cret-pw",
		"--ssl-cert-file", srv.CertFile, "--ssl-key-file", srv.KeyFile, "--ssl-ca-file", ca.CertFile,
		"--ssl-require-client-authentication", "yes")
	b := c.Brokers[0]
	tlsPort := strconv.Itoa(b.TLSPort)
	client := []string{"--ssl-ca-file", ca.CertFile, "--ssl-certificate", alice.CertFile, "--ssl-key", alice.KeyFile}

	if r := want(t, 0, append([]string{"status", "-b", "admin/s3cret-pw@ssl:127.0.0.1:" + tlsPort}, client...)...); r.stdout != "joining\n" {
		t.Fatalf("status over ssl: %s", r)
	}
	want(t, 0, append([]string{"query", "-b", "amqps://admin:s3cret-pw@localhost:" + tlsPort}, client...)...)
	// EXTERNAL: the certificate's identity, without a user name.
	if r := want(t, 0, append([]string{"status", "-b", "ssl:localhost:" + tlsPort}, client...)...); r.stdout != "joining\n" {
		t.Fatalf("status with EXTERNAL: %s", r)
	}

	conf := filepath.Join(dir, "qpidd.conf")
	text := "port=" + strconv.Itoa(b.Port) + "\nssl-port=" + tlsPort + "\nauth=yes\nha-cluster=yes\nha-username=admin\nha-password=s3cret-pw\n" +
		"ssl-cert-file=" + srv.CertFile + "\nssl-key-file=" + srv.KeyFile + "\nssl-ca-file=" + ca.CertFile + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := want(t, 0, "status", "--config", conf, "-b", "ssl:127.0.0.1"); r.stdout != "joining\n" {
		t.Fatalf("status --config over ssl: %s", r)
	}
	want(t, 0, "ping", "--config", conf, "-b", "amqps://127.0.0.1")

	failure(t, qpidHA(t, "status", "-b", "ssl:127.0.0.1:"+tlsPort, "--ssl-certificate", alice.CertFile, "--ssl-key", alice.KeyFile),
		"TLS handshake failed: the broker's certificate is not signed by a CA this tool trusts")
	failure(t, qpidHA(t, "status", "-b", "admin/s3cret-pw@ssl:127.0.0.1:"+tlsPort, "--ssl-ca-file", ca.CertFile),
		"the broker requires a client certificate")
}
