package qpiddtest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/mgmt/client"
)

// FreePorts returns n TCP ports free on 127.0.0.1 right now.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// Cluster is a set of HA brokers on loopback.
type Cluster struct {
	t       testing.TB
	Brokers []*Broker
	URL     string // ha-brokers-url: every broker's address
}

// StartCluster starts n brokers with ha-cluster=yes and the extra args, on
// 127.0.0.1, all joining (none is promoted).
func StartCluster(t testing.TB, n int, args ...string) *Cluster {
	t.Helper()
	ports := FreePorts(t, n)
	var addrs []string
	for _, p := range ports {
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(p))
	}
	c := &Cluster{t: t, URL: strings.Join(addrs, ",")}
	for _, p := range ports {
		a := append([]string{"--port", strconv.Itoa(p), "--interface", "127.0.0.1", "--ha-cluster", "yes",
			"--ha-brokers-url", c.URL, "--link-maintenance-interval", "0.1", "--link-heartbeat-interval", "2"}, args...)
		c.Brokers = append(c.Brokers, Start(t, a...))
	}
	return c
}

// Admin connects to a broker's management node as an administrator.
func Admin(t testing.TB, b *Broker) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, b.Addr(), client.Options{Admin: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("admin connection to %s: %v", b.Addr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// HAStatus reads a broker's HA status attributes.
func HAStatus(t testing.TB, b *Broker) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, b.Addr(), client.Options{Admin: true, Timeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r, err := c.Request(ctx, "READ", "org.apache.qpid.ha:habroker", "", nil)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	m, _ := r.Body.(map[string]any)
	return m, nil
}

// Promote asks a broker to become primary, as the cluster manager would.
func Promote(t testing.TB, b *Broker) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, b.Addr(), client.Options{Admin: true, Timeout: 15 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Request(ctx, "PROMOTE", "org.apache.qpid.ha:habroker", "", nil)
	if err != nil {
		return err
	}
	return r.Err()
}

// WaitStatus waits until a broker reports an HA status.
func WaitStatus(t testing.TB, b *Broker, want string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		st, err := HAStatus(t, b)
		if err != nil {
			return err
		}
		if st["status"] != want {
			return fmt.Errorf("%s is %v, want %s\n%s", b.Addr(), st["status"], want, b.Log())
		}
		return nil
	})
}

// WaitUnresponsive waits until a broker (SIGSTOPped) no longer answers a
// management connection, as a cluster manager's monitor would notice
// before it promotes another.
func WaitUnresponsive(t testing.TB, b *Broker) {
	t.Helper()
	Eventually(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		c, err := client.Dial(ctx, b.Addr(), client.Options{Admin: true, Timeout: 300 * time.Millisecond})
		if err != nil {
			return nil
		}
		c.Close()
		return fmt.Errorf("%s still answers", b.Addr())
	})
}
