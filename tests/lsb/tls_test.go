package lsb

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/testpki"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// TestPrimaryOverTLS: with QPID_BROKER=ssl:localhost, qpidd-primary and
// the init script reach a broker that refuses secrets on plain TCP
// (require-encryption) over TLS, with the port, CA and client certificate
// of the broker's own qpidd.conf.
func TestPrimaryOverTLS(t *testing.T) {
	ports := qpiddtest.FreePorts(t, 2)
	self := "127.0.0.1:" + strconv.Itoa(ports[0])
	n := newNode(t, "node1", nodeConfig{port: ports[0], brokersURL: self})
	ca := testpki.NewCA(t, n.dir, "test")
	srv := ca.Broker(t, "broker")
	f, err := os.OpenFile(n.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("ssl-port=" + strconv.Itoa(ports[1]) + "\nssl-cert-file=" + srv.CertFile + "\nssl-key-file=" + srv.KeyFile +
		"\nssl-ca-file=" + ca.CertFile + "\nssl-require-client-authentication=yes\nrequire-encryption=yes\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(n.sysconfig)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, n.sysconfig, string(text)+"QPID_BROKER='ssl:localhost'\n", 0o644)

	r := n.expect(0, "qpidd-primary", "start")
	if !strings.Contains(r.stdout, "is primary") {
		t.Errorf("start: %s", r)
	}
	if r := n.expect(0, "qpidd-primary", "status"); !strings.Contains(r.stdout, "qpidd is primary") {
		t.Errorf("status: %s", r)
	}
	n.expect(0, "qpidd", "status")
	// The control: over plain TCP the broker refuses the tools.
	writeFile(t, n.sysconfig, string(text), 0o644)
	if r := n.run("qpidd-primary", "status"); r.code != 4 || !strings.Contains(r.stdout, "require-encryption") {
		t.Errorf("status over plain TCP: %s", r)
	}
	writeFile(t, n.sysconfig, string(text)+"QPID_BROKER='ssl:localhost'\n", 0o644)
	n.expect(0, "qpidd-primary", "stop")
	n.expect(3, "qpidd-primary", "status")
}

// TestSSLOnlyNeedsNoBrokerAddress: with listen-disable=tcp in qpidd.conf,
// qpidd-primary and the init script's qpid-ha reach the local broker at
// ssl:localhost and its ssl-port by themselves: no QPID_BROKER.
func TestSSLOnlyNeedsNoBrokerAddress(t *testing.T) {
	ports := qpiddtest.FreePorts(t, 2)
	n := newNode(t, "node1", nodeConfig{port: ports[0], brokersURL: "ssl:127.0.0.1:" + strconv.Itoa(ports[1])})
	ca := testpki.NewCA(t, n.dir, "test")
	srv := ca.Broker(t, "broker")
	f, err := os.OpenFile(n.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("ssl-port=" + strconv.Itoa(ports[1]) + "\nssl-cert-file=" + srv.CertFile + "\nssl-key-file=" + srv.KeyFile +
		"\nssl-ca-file=" + ca.CertFile + "\nlisten-disable=tcp\nrequire-encryption=yes\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if r := n.expect(0, "qpidd-primary", "start"); !strings.Contains(r.stdout, "is primary") {
		t.Errorf("start: %s", r)
	}
	if r := n.expect(0, "qpidd-primary", "status"); !strings.Contains(r.stdout, "qpidd is primary") {
		t.Errorf("status: %s", r)
	}
	n.expect(0, "qpidd", "status")
	n.expect(0, "qpidd-primary", "stop")
	n.expect(3, "qpidd-primary", "status")
}
