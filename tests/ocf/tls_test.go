package ocf

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/testpki"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// TestSSLOnly: the agent with ssl=yes runs an SSL-only cluster (no plain
// port, require-encryption, ha-brokers-url of ssl: addresses): it starts
// the brokers with its ssl_port, reaches them at ssl:localhost:ssl_port
// with the CA and certificate of the configuration file, scores, promotes,
// and promotes another broker once the primary stops.
func TestSSLOnly(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	ca := testpki.NewCA(t, c.dir, "ocf")
	cert := ca.Broker(t, "broker")
	ports := qpiddtest.FreePorts(t, len(c.nodes))
	var addrs []string
	for _, p := range ports {
		addrs = append(addrs, "ssl:127.0.0.1:"+strconv.Itoa(p))
	}
	for i, n := range c.nodes {
		n.writeConfig(strings.Join(addrs, ","))
		tls := "ssl-cert-file=" + cert.CertFile + "\nssl-key-file=" + cert.KeyFile + "\nssl-ca-file=" + ca.CertFile + "\n" +
			"listen-disable=tcp\nrequire-encryption=yes\n"
		f, err := os.OpenFile(n.config, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(tls); err != nil {
			t.Fatal(err)
		}
		f.Close()
		n.moreEnv = []string{"OCF_RESKEY_ssl=yes", "OCF_RESKEY_ssl_port=" + strconv.Itoa(ports[i])}
	}
	n1, n2 := c.nodes[0], c.nodes[1]
	// ssl=yes without a certificate in the file is a configuration error.
	if r := n1.run("validate-all", "OCF_RESKEY_config=/dev/null"); r.rc != ocfErrConfigured {
		t.Fatalf("validate-all with no ssl-cert-file: %s", r)
	}
	bootstrap(t, c)
	n1.must("stop", ocfSuccess)
	n2.monitorUntil(ocfSuccess, "1000")
	n2.must("promote", ocfSuccess)
	n2.must("monitor", ocfRunningPromoted)
}
