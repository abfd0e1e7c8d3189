package qpidd

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/sirupsen/logrus"
)

// No goroutine outlives Stop: three HA brokers in this process (one
// promoted, messages replicated) and a standalone broker with a store are
// started and stopped; afterwards the process runs the goroutines it ran
// before, and no more.
func TestNoGoroutineOutlivesStop(t *testing.T) {
	before := runtime.NumGoroutine()
	log := logrus.New()
	log.SetOutput(io.Discard)

	ports := freePorts(t, 3)
	var urls []string
	for _, p := range ports {
		urls = append(urls, "127.0.0.1:"+strconv.Itoa(p))
	}
	var brokers []*Broker
	for _, p := range ports {
		opts := load(t, "--port", strconv.Itoa(p), "--interface", "127.0.0.1", "--data-dir", t.TempDir(), "--auth", "no",
			"--ha-cluster", "yes", "--ha-brokers-url", strings.Join(urls, ","), "--ha-replicate", "all",
			"--link-maintenance-interval", "0.1", "--link-heartbeat-interval", "2", "--queue-patterns", ".*")
		b, err := New(opts, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		brokers = append(brokers, b)
	}
	primary := brokers[0].HA()
	if err := primary.Promote(primary.CheckPeers(time.Second)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); len(primary.Membership().Ready) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backups not ready: %v", primary.Membership())
		}
	}
	standalone, err := New(load(t, "--port", "0", "--interface", "127.0.0.1", "--data-dir", t.TempDir(), "--auth", "no", "--queue-patterns", ".*"), log)
	if err != nil {
		t.Fatal(err)
	}
	if err := standalone.Start(); err != nil {
		t.Fatal(err)
	}
	brokers = append(brokers, standalone)
	for _, addr := range []string{urls[0], standalone.Addrs()[0].String()} {
		send(t, "amqp://"+addr)
	}
	for _, b := range brokers {
		b.Stop()
	}

	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			var stacks bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Fatalf("%d goroutines before, %d after every broker stopped:\n%s", before, runtime.NumGoroutine(), stacks.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func send(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, url, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := s.NewSender(ctx, "q", &goamqp.SenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		m := goamqp.NewMessage([]byte("m"))
		m.Header = &goamqp.MessageHeader{Durable: true}
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}
