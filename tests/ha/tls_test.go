package ha

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"

	"github.com/qpidha/qpidha/internal/checker"
	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/internal/testpki"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// tlsCluster is an SSL-only, authenticating cluster of brokers on
// 127.0.0.1, 127.0.0.2, 127.0.0.3 (all of 127/8 is loopback on Linux),
// configured by qpid-cluster-conf: each broker runs with --config its
// generated qpidd.conf; the command line adds only what differs on one
// machine (the interface, the data directory, the node's own certificate).
type tlsCluster struct {
	dir      string
	ca       *testpki.CA
	port     int // broker.port: nothing may listen there
	sslPort  int
	confs    []string // each node's generated qpidd.conf
	certs    []testpki.Cert
	db       string // the user database
	brokers  []*qpiddtest.Broker
	warnings string // what qpid-cluster-conf printed
}

const (
	tlsHAUser  = "qpid_ha"
	tlsHAPass  = "ha-secret"
	tlsAdmin   = "admin"
	tlsAdminPw = "admin-pw"
)

func tlsNodeIP(i int) string { return "127.0.0." + strconv.Itoa(i+1) }

// freeOnNodes checks that ports are free on the other nodes' addresses.
func freeOnNodes(ports []int) error {
	for i := 1; i < 3; i++ {
		for _, p := range ports {
			l, err := net.Listen("tcp", net.JoinHostPort(tlsNodeIP(i), strconv.Itoa(p)))
			if err != nil {
				return err
			}
			l.Close()
		}
	}
	return nil
}

// newTLSCluster writes the TOML, runs the generator and makes the
// certificates and user database; it starts no broker.
func newTLSCluster(t *testing.T) *tlsCluster {
	t.Helper()
	c := &tlsCluster{dir: t.TempDir()}
	// One port for every node (each binds its own address): free on
	// 127.0.0.1, and checked on the others (other ports tried if not).
	for attempt := 0; ; attempt++ {
		ports := qpiddtest.FreePorts(t, 2)
		c.port, c.sslPort = ports[0], ports[1]
		if err := freeOnNodes(ports); err == nil {
			break
		} else if attempt == 20 {
			t.Fatalf("no pair of ports free on every node address: %v", err)
		}
	}
	tlsDir := filepath.Join(c.dir, "tls")
	if err := os.Mkdir(tlsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	c.ca = testpki.NewCA(t, tlsDir, "qpidha-test-ca")
	for i := 0; i < 3; i++ {
		c.certs = append(c.certs, c.ca.Issue(t, testpki.Spec{
			Name:   "node" + strconv.Itoa(i+1),
			Hosts:  []string{tlsNodeIP(i), "localhost"},
			Server: true, Client: true,
		}))
	}
	// The file named in qpidd.conf, for the tools: valid on every node.
	shared := c.ca.Issue(t, testpki.Spec{
		Name:   "broker",
		Hosts:  []string{tlsNodeIP(0), tlsNodeIP(1), tlsNodeIP(2), "localhost"},
		Server: true, Client: true,
	})
	c.db = filepath.Join(c.dir, "qpidd.users")
	for _, u := range [][2]string{{tlsHAUser, tlsHAPass}, {tlsAdmin, tlsAdminPw}} {
		cmd := exec.Command(qpiddtest.Bin(t, "qpidd-users"), "--database", c.db, "add", u[0])
		cmd.Stdin = strings.NewReader(u[1] + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("qpidd-users add %s: %v\n%s", u[0], err, out)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "[cluster]\nname = \"tlstest\"\n\n")
	for i := 0; i < 3; i++ {
		fmt.Fprintf(&b, "[[node]]\nname = \"node%d\"\naddress = %q\n\n", i+1, tlsNodeIP(i))
	}
	fmt.Fprintf(&b, `[vip]
address = "127.0.0.100"

[broker]
port = %d
data_dir = %q
ha_username = %q
ha_password = %q
ha_mechanism = "SCRAM-SHA-256"
link_maintenance_interval = 0.1
link_heartbeat_interval = 2
auth = true
ssl_cert_file = %q
ssl_key_file = %q
ssl_ca_file = %q
ssl_port = %d
ssl_only = true

[broker.options]
auth-database = %q

[pacemaker]
stonith_enabled = false
`, c.port, filepath.Join(c.dir, "unused-data-dir"), tlsHAUser, tlsHAPass,
		shared.CertFile, shared.KeyFile, c.ca.CertFile, c.sslPort, c.db)
	toml := filepath.Join(c.dir, "cluster.toml")
	if err := os.WriteFile(toml, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(c.dir, "out")
	cmd := exec.Command(qpiddtest.Bin(t, "qpid-cluster-conf"), "-o", out, toml)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("qpid-cluster-conf: %v\n%s", err, got)
	}
	c.warnings = string(got)
	for i := 0; i < 3; i++ {
		c.confs = append(c.confs, filepath.Join(out, fmt.Sprintf("qpidd-node%d.conf", i+1)))
	}
	return c
}

// start starts node i's broker with its generated qpidd.conf (and extra
// arguments, which come last and so win).
func (c *tlsCluster) start(t *testing.T, i int, extra ...string) *qpiddtest.Broker {
	t.Helper()
	dataDir := filepath.Join(c.dir, "data"+strconv.Itoa(i+1))
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// qpiddtest.Start waits for the listeners its arguments name, and adds
	// --auth no and --ssl-port 0 unless given: say them again here.
	args := append([]string{"--config", c.confs[i], "--interface", tlsNodeIP(i), "--data-dir", dataDir,
		"--auth", "yes", "--listen-disable", "tcp", "--port", strconv.Itoa(c.port),
		"--ssl-port", strconv.Itoa(c.sslPort),
		"--ssl-cert-file", c.certs[i].CertFile, "--ssl-key-file", c.certs[i].KeyFile}, extra...)
	return qpiddtest.Start(t, args...)
}

func (c *tlsCluster) addr(i int) string {
	return net.JoinHostPort(tlsNodeIP(i), strconv.Itoa(c.sslPort))
}

func (c *tlsCluster) tlsConfig(t *testing.T, i int) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: tlsNodeIP(i)}
}

// admin is a management connection to node i as the administrator, over TLS.
func (c *tlsCluster) admin(t *testing.T, i int) (*client.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return client.Dial(ctx, "amqps://"+tlsAdmin+":"+tlsAdminPw+"@"+c.addr(i),
		client.Options{Admin: true, Mechanism: "PLAIN", Timeout: 10 * time.Second, TLSConfig: c.tlsConfig(t, i)})
}

func (c *tlsCluster) status(t *testing.T, i int) (map[string]any, error) {
	t.Helper()
	a, err := c.admin(t, i)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	r, err := a.Request(ctxFor(t, 10*time.Second), "READ", "org.apache.qpid.ha:habroker", "", nil)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	m, _ := r.Body.(map[string]any)
	return m, nil
}

func (c *tlsCluster) promote(t *testing.T, i int) {
	t.Helper()
	a, err := c.admin(t, i)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := a.Request(ctxFor(t, 20*time.Second), "PROMOTE", "org.apache.qpid.ha:habroker", "", nil)
	if err == nil {
		err = r.Err()
	}
	if err != nil {
		t.Fatalf("promote %s: %v", tlsNodeIP(i), err)
	}
}

// waitReady waits until node i is primary ("active") with want ready
// backups, as management over TLS reports it.
func (c *tlsCluster) waitReady(t *testing.T, i, want int) {
	t.Helper()
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		st, err := c.status(t, i)
		if err != nil {
			return err
		}
		ready, _ := st["ready"].([]any)
		if st["status"] != "active" || len(ready) != want {
			return fmt.Errorf("%s: status %v, ready %v; want active with %d ready backups", tlsNodeIP(i), st["status"], st["ready"], want)
		}
		return nil
	})
}

// session is a client session on node i: amqps, PLAIN, as the admin user.
func (c *tlsCluster) session(t *testing.T, i int) *goamqp.Session {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	conn, err := goamqp.Dial(ctx, "amqps://"+c.addr(i), &goamqp.ConnOptions{
		SASLType:  goamqp.SASLTypePlain(tlsAdmin, tlsAdminPw),
		TLSConfig: c.tlsConfig(t, i),
	})
	if err != nil {
		t.Fatalf("amqps to %s: %v", c.addr(i), err)
	}
	t.Cleanup(func() { conn.Close() })
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// qpidHA runs qpid-ha against node i over TLS with everything else from
// the node's generated qpidd.conf (port, CA, client certificate, HA
// credentials, as the resource agent does).
func (c *tlsCluster) qpidHA(t *testing.T, i int, args ...string) string {
	t.Helper()
	all := append([]string{"--config", c.confs[i], "-b", "ssl:" + tlsNodeIP(i), "--timeout", "10"}, args...)
	got, err := exec.Command(qpiddtest.Bin(t, "qpid-ha"), all...).CombinedOutput()
	if err != nil {
		t.Fatalf("qpid-ha %s: %v\n%s", strings.Join(all, " "), err, got)
	}
	return string(got)
}

// TestTLSOnlyAuthClusterFromGenerator: an SSL-only, authenticating 3-broker
// cluster configured by qpid-cluster-conf: the brokers replicate to each
// other over TLS with SCRAM-SHA-256 (qpid-ha status --all over TLS, from
// the generated qpidd.conf, shows them ready), clients send persistent
// messages over amqps and the failover checker runs, the primary is
// SIGKILLed, another is promoted (qpid-ha --cluster-manager promote over
// TLS) and every message is received from it, the checker losing none;
// nothing listens on plain TCP; a broker with a wrong ha-password warns
// that the primary refused its credentials and never becomes ready.
func TestTLSOnlyAuthClusterFromGenerator(t *testing.T) {
	c := newTLSCluster(t)
	for _, w := range []string{"subjectAltNames", "serverAuth and clientAuth"} {
		if !strings.Contains(c.warnings, w) {
			t.Errorf("qpid-cluster-conf did not warn about %s:\n%s", w, c.warnings)
		}
	}
	conf, err := os.ReadFile(c.confs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{
		fmt.Sprintf("ha-brokers-url=ssl:127.0.0.1:%d,ssl:127.0.0.2:%[1]d,ssl:127.0.0.3:%[1]d\n", c.sslPort),
		"listen-disable=tcp\n", "require-encryption=yes\n", "auth=yes\n",
	} {
		if !strings.Contains(string(conf), l) {
			t.Fatalf("qpidd-node1.conf lacks %q:\n%s", l, conf)
		}
	}
	for i := 0; i < 3; i++ {
		c.brokers = append(c.brokers, c.start(t, i))
	}

	// Nothing listens on the plain port, on any node.
	for i := range c.brokers {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(tlsNodeIP(i), strconv.Itoa(c.port)), time.Second); err == nil {
			conn.Close()
			t.Errorf("%s:%d (plain AMQP) accepts connections", tlsNodeIP(i), c.port)
		}
		if strings.Contains(c.brokers[i].Log(), "listening on port") {
			t.Errorf("node%d listens on plain TCP:\n%s", i+1, c.brokers[i].Log())
		}
	}

	c.promote(t, 0)
	c.waitReady(t, 0, 2)
	// An administrator other than the brokers' own user reaches a backup's
	// management over TLS (as the lab's tools do).
	if st, err := c.status(t, 1); err != nil || st["status"] != "ready" {
		t.Errorf("node2's status as %s: %v %v", tlsAdmin, st["status"], err)
	}
	// So does qpid-ha with a user in the address and only the CA (the TLS
	// lab's qpidlab-run asks so).
	got, err := exec.Command(qpiddtest.Bin(t, "qpid-ha"), "status", "-b", tlsAdmin+"/"+tlsAdminPw+"@ssl:"+c.addr(1),
		"--ssl-ca-file", c.ca.CertFile, "--timeout", "5").CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "ready" {
		t.Errorf("qpid-ha status -b %s/...@ssl:%s --ssl-ca-file: %v %q", tlsAdmin, c.addr(1), err, got)
	}
	out := c.qpidHA(t, 0, "status", "--all")
	t.Logf("qpid-ha status --all over TLS:\n%s", out)
	for i := 1; i < 3; i++ {
		if !strings.Contains(out, "ssl:"+c.addr(i)+" ready") {
			t.Errorf("qpid-ha status --all does not show %s ready:\n%s", c.addr(i), out)
		}
	}

	// Durable queues (the brokers create none on demand).
	a, err := c.admin(t, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"tq", "tls-checker"} {
		if _, err := a.CreateQueue(ctxFor(t, 10*time.Second), q, map[string]any{"durable": true}); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()

	// The failover checker's go clients over amqps with PLAIN, on every
	// node's address (the backups send them on), through the failover.
	tc, err := checker.TLSTrusting(c.ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	run, err := checker.Start(checker.Config{
		URLs:      []string{c.addr(0), c.addr(1), c.addr(2)},
		Queue:     "tls-checker",
		Senders:   1,
		Receivers: 1,
		Rate:      100,
		Client:    "go",
		TLS:       tc,
		User:      tlsAdmin, Password: tlsAdminPw,
		BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		DrainIdle: 3 * time.Second, DrainMax: 30 * time.Second,
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Abort()
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		if n, _ := run.Tracker().Progress(); n < 20 {
			return fmt.Errorf("the checker has %d confirmed messages", n)
		}
		return nil
	})

	// Persistent messages on a durable queue, over amqps.
	const n = 50
	snd, err := c.session(t, 0).NewSender(ctxFor(t, 10*time.Second), "tq", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m := goamqp.NewMessage([]byte(fmt.Sprintf("m-%03d", i)))
		m.Header = &goamqp.MessageHeader{Durable: true}
		if err := snd.Send(ctxFor(t, 10*time.Second), m, nil); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	// Every message was acknowledged with both backups ready: each has it.
	c.waitReady(t, 0, 2)

	// The primary dies; another is promoted and has every message.
	c.brokers[0].Kill()
	c.qpidHA(t, 1, "--cluster-manager", "promote")
	c.waitReady(t, 1, 1)
	rcv, err := c.session(t, 1).NewReceiver(ctxFor(t, 10*time.Second), "tq", &goamqp.ReceiverOptions{Credit: n})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < n {
		m, err := rcv.Receive(ctxFor(t, 10*time.Second), nil)
		if err != nil {
			t.Fatalf("received %d of %d from the new primary: %v", len(seen), n, err)
		}
		seen[string(m.GetData())] = true
		if err := rcv.AcceptMessage(ctxFor(t, 10*time.Second), m); err != nil {
			t.Fatal(err)
		}
	}

	// The checker carries on with the new primary.
	before, _ := run.Tracker().Progress()
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		if n, _ := run.Tracker().Progress(); n < before+20 {
			return fmt.Errorf("the checker has %d confirmed messages, %d before the failover", n, before)
		}
		return nil
	})
	run.StopSending()
	rep := run.Wait()
	t.Logf("checker over amqps: %s", rep.Summary())
	if !rep.OK || rep.Lost > 0 || !rep.DrainComplete {
		t.Errorf("checker: %s %v", rep.Summary(), rep.Problems)
	}

	// The old primary returns with a wrong ha-password: the new primary
	// refuses its login, it says so, and it never becomes a ready backup.
	c.brokers[0] = c.start(t, 0, "--ha-password", "wrong-password")
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		for _, l := range strings.Split(c.brokers[0].Log(), "\n") {
			if strings.Contains(l, "level=warning") && strings.Contains(l, "refused this backup's credentials") && strings.Contains(l, c.addr(1)) {
				t.Logf("node1: %s", l)
				return nil
			}
		}
		return fmt.Errorf("node1 with a wrong ha-password does not warn that %s refused its credentials:\n%s", c.addr(1), c.brokers[0].Log())
	})
	st, err := c.status(t, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ready, _ := st["ready"].([]any); len(ready) != 1 {
		t.Errorf("the primary's ready set is %v: a broker with a wrong ha-password joined it", st["ready"])
	}
}
