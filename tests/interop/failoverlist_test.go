package interop

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// The primary advertises ha-public-url (never ha-brokers-url) in its open's
// failover-server-list, as ActiveMQ brokers do for qpid-jms; a proton
// client sees it in the connection's remote properties (the port an AMQP
// int, as Java brokers send it).
func TestFailoverServerList(t *testing.T) {
	c := qpiddtest.StartCluster(t, 1, "--ha-public-url", "ssl:vip.example.com,10.0.0.2:5673")
	b := c.Brokers[0]
	if err := qpiddtest.Promote(t, b); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, b, "active", 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	script := `
import sys
from proton.handlers import MessagingHandler
from proton.reactor import Container
class H(MessagingHandler):
    def on_start(self, e):
        e.container.connect(sys.argv[1], reconnect=False)
    def on_connection_opened(self, e):
        for entry in e.connection.remote_properties.get("failover-server-list", []):
            print(sorted((str(k), v) for k, v in entry.items()))
        e.connection.close()
Container(H()).run()
`
	out, err := qpiddtest.Python(ctx, "-c", script, b.Addr())
	if err != nil {
		t.Fatalf("proton: %v\n%s", err, out)
	}
	want := "[('hostname', 'vip.example.com'), ('network-host', 'vip.example.com'), ('port', int32(5671)), ('scheme', 'amqps')]\n" +
		"[('hostname', '10.0.0.2'), ('network-host', '10.0.0.2'), ('port', int32(5673)), ('scheme', 'amqp')]\n"
	if out != want {
		t.Fatalf("failover-server-list as proton sees it:\n%s\nwant:\n%s", out, want)
	}
	if strings.Contains(out, "127.0.0.1") {
		t.Fatal("ha-brokers-url advertised")
	}
}
