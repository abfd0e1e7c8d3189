package qpidd

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/metrics"
)

// scrapeOK scrapes a broker's metrics, failing the test if it cannot.
func scrapeOK(t *testing.T, url string) metrics.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := metrics.Scrape(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// value is a sample's value, or an error saying it is missing.
func value(s metrics.Snapshot, name string, labels ...string) (float64, error) {
	v, ok := s.Value(name, labels...)
	if !ok {
		return 0, fmt.Errorf("no %s%v", name, labels)
	}
	return v, nil
}

func quietLog() *logrus.Logger {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return log
}

// metrics-port serves the metrics (off by default) on metrics-address
// (127.0.0.1 by default; 0.0.0.0 is every interface); a bad address, or the
// AMQP port, is refused at start, as is a port already taken.
func TestMetricsOptions(t *testing.T) {
	ports := freePorts(t, 3)
	base := func(extra ...string) []string {
		return append([]string{"--port", strconv.Itoa(ports[0]), "--interface", "127.0.0.1", "--no-data-dir", "yes",
			"--auth", "no", "--queue-patterns", ".*"}, extra...)
	}
	start := func(args ...string) *Broker {
		t.Helper()
		b, err := New(load(t, args...), quietLog())
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		return b
	}

	b := start(base()...)
	if u := b.MetricsURL(); u != "" {
		t.Errorf("metrics served by default at %s", u)
	}
	b.Stop()

	b = start(base("--metrics-port", strconv.Itoa(ports[1]))...)
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1])
	if u := b.MetricsURL(); u != url {
		t.Errorf("metrics at %q, want %q (metrics-address defaults to 127.0.0.1)", u, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://"+b.Addrs()[0].String(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "mq", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := snd.Send(ctx, goamqp.NewMessage([]byte("m")), nil); err != nil {
			t.Fatal(err)
		}
	}
	s := scrapeOK(t, url)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"qpidha_connections", nil, 1}, {"qpidha_sessions", nil, 1}, {"qpidha_links", nil, 1},
		{"qpidha_queue_enqueued_total", []string{"queue", "mq"}, 3},
		{"qpidha_queue_depth_messages", []string{"queue", "mq"}, 3},
	} {
		if v, err := value(s, c.name, c.labels...); err != nil || v != c.want {
			t.Errorf("%s%v = %v (%v), want %v", c.name, c.labels, v, err, c.want)
		}
	}
	for _, n := range []string{"qpidha_ha_state", "qpidha_store_messages"} {
		if _, ok := s[n]; ok {
			t.Errorf("a standalone broker without a store exports %s", n)
		}
	}
	conn.Close()
	b.Stop()
	if _, err := metrics.Scrape(ctx, url); err == nil {
		t.Error("the metrics are still served after the broker stopped")
	}

	b = start(base("--metrics-port", strconv.Itoa(ports[1]), "--metrics-address", "0.0.0.0")...)
	if a, ok := b.endpoint.Addr().(*net.TCPAddr); !ok || !a.IP.IsUnspecified() {
		t.Errorf("metrics-address 0.0.0.0 listens on %v, not every interface", b.endpoint.Addr())
	}
	// The port is taken now: a second broker does not start.
	b2, err := New(load(t, "--port", strconv.Itoa(ports[2]), "--interface", "127.0.0.1", "--no-data-dir", "yes",
		"--auth", "no", "--metrics-port", strconv.Itoa(ports[1])), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(); err == nil || !strings.Contains(err.Error(), "cannot listen for metrics") {
		t.Errorf("a second broker on the same metrics-port started: %v", err)
		if err == nil {
			b2.Stop()
		}
	}
	b.Stop()

	for _, c := range []struct {
		args []string
		want string
	}{
		{base("--metrics-port", "9100", "--metrics-address", "not an address!"), "metrics-address"},
		{base("--metrics-port", strconv.Itoa(ports[0])), "is the AMQP port"},
	} {
		if _, err := New(load(t, c.args...), quietLog()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
}

// During an HA run the primary's metrics show its state, epoch and ready
// set, the messages sent, and the guard; when a backup's disk stalls, that
// backup's lag grows (messages, seconds) and the guard holds messages;
// when it recovers, the lag returns to 0, the guard holds nothing, and the
// guard's histogram counts the messages it held for the stall's length.
func TestMetricsDuringHARun(t *testing.T) {
	mports := freePorts(t, 3)
	// A long ha-backup-lag-timeout: the stalled backup stays in the ready
	// set, and the guard waits for it.
	c := newMemClusterEach(t, func(i int) []string {
		return []string{"--metrics-port", strconv.Itoa(mports[i])}
	}, "--ha-backup-lag-timeout", "120")
	urls := make([]string, 3)
	for i, b := range c.brokers {
		urls[i] = b.MetricsURL()
		if urls[i] == "" {
			t.Fatalf("broker %d serves no metrics", i)
		}
	}
	// Before a promotion every broker is joining.
	if v, err := value(scrapeOK(t, urls[1]), "qpidha_ha_state", "state", "joining"); err != nil || v != 1 {
		t.Fatalf("a new broker's joining state: %v %v", v, err)
	}
	c.promote(0)
	primary := c.brokers[0].HA()
	epoch := float64(primary.Membership().Epoch)
	id1, id2 := c.brokers[1].HA().BrokerID(), c.brokers[2].HA().BrokerID()
	eventually(t, 30*time.Second, func() error {
		s := scrapeOK(t, urls[0])
		for _, w := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"qpidha_ha_state", []string{"state", "active"}, 1},
			{"qpidha_ha_ready_backups", nil, 2},
			{"qpidha_ha_epoch", nil, epoch},
			{"qpidha_ha_promotions_total", nil, 1},
		} {
			if v, err := value(s, w.name, w.labels...); err != nil || v != w.want {
				return fmt.Errorf("primary: %s%v = %v (%v), want %v", w.name, w.labels, v, err, w.want)
			}
		}
		if got := s.LabelValues("qpidha_ha_backup_lag_messages", "backup"); len(got) != 2 {
			return fmt.Errorf("lag for backups %v, want both", got)
		}
		return nil
	})
	for _, i := range []int{1, 2} {
		s := scrapeOK(t, urls[i])
		if v, err := value(s, "qpidha_ha_state", "state", "ready"); err != nil || v != 1 {
			t.Errorf("backup %d: ready = %v (%v)", i, v, err)
		}
		if v, _ := value(s, "qpidha_ha_epoch"); v != epoch {
			t.Errorf("backup %d knows epoch %v, the primary's is %v", i, v, epoch)
		}
		if v, _ := value(s, "qpidha_ha_promotions_total"); v != 0 {
			t.Errorf("backup %d was promoted %v times", i, v)
		}
	}

	c.declareDurable(0)
	l := startLoad(t, "amqp://"+c.urls[0], "r")
	var once sync.Once
	stop := func() { once.Do(l.close) }
	t.Cleanup(stop)
	l.await(t, 0, 200, 30*time.Second)
	s := scrapeOK(t, urls[0])
	if v, _ := value(s, "qpidha_queue_enqueued_total", "queue", "dq"); v < 200 {
		t.Errorf("dq enqueued %v after 200 acknowledged", v)
	}
	if n, _, _, ok := s.Histogram("qpidha_ha_guard_hold_seconds", 1); !ok || n < 200 {
		t.Errorf("the guard held %d messages after 200 acknowledged", n)
	}
	if n, _, _, ok := s.Histogram("qpidha_store_sync_seconds", 1); !ok || n == 0 {
		t.Errorf("the primary's store synced %d times", n)
	}
	if v, _ := value(s, "qpidha_store_records_total"); v < 200 {
		t.Errorf("the primary's store synced %v records", v)
	}

	// Backup 2's disk stalls: its acknowledgements stop.
	stalled := make(chan struct{})
	resume := sync.OnceFunc(func() { close(stalled) })
	t.Cleanup(resume)
	c.fs[2].SetSyncHook(func(string) error { <-stalled; return nil })
	var held metrics.Snapshot
	eventually(t, 30*time.Second, func() error {
		s := scrapeOK(t, urls[0])
		if v, err := value(s, "qpidha_ha_backup_lag_seconds", "backup", id2); err != nil || v < 1.5 {
			return fmt.Errorf("stalled backup's lag %vs (%v)", v, err)
		}
		if v, _ := value(s, "qpidha_ha_backup_lag_messages", "backup", id2); v < 1 {
			return fmt.Errorf("stalled backup's lag %v messages", v)
		}
		if v, _ := value(s, "qpidha_ha_backup_lag_bytes", "backup", id2); v < 1 {
			return fmt.Errorf("stalled backup's lag %v bytes", v)
		}
		if v, _ := value(s, "qpidha_ha_guard_held_messages"); v < 1 {
			return fmt.Errorf("the guard holds %v messages", v)
		}
		held = s
		return nil
	})
	if v, _ := value(held, "qpidha_ha_backup_lag_seconds", "backup", id1); v > 1 {
		t.Errorf("the healthy backup lags %vs too", v)
	}
	if v, _ := value(scrapeOK(t, urls[2]), "qpidha_store_sync_in_progress_seconds"); v < 1 {
		t.Errorf("the stalled backup's sync in progress for %vs", v)
	}
	if v, _ := value(scrapeOK(t, urls[0]), "qpidha_ha_ready_backups"); v != 2 {
		t.Errorf("ready set of %v while the backup stalls within ha-backup-lag-timeout", v)
	}
	count0, _, fast0, _ := held.Histogram("qpidha_ha_guard_hold_seconds", 1)
	t.Logf("stalled: guard held %v messages; histogram %d samples, %d under 1 s",
		mustValue(held, "qpidha_ha_guard_held_messages"), count0, fast0)

	// The senders stop (their last messages stay held); the disk recovers.
	stop()
	resume()
	disk(c.fs[2], 2)
	eventually(t, 30*time.Second, func() error {
		s := scrapeOK(t, urls[0])
		for _, id := range []string{id1, id2} {
			for _, n := range []string{"qpidha_ha_backup_lag_messages", "qpidha_ha_backup_lag_bytes", "qpidha_ha_backup_lag_seconds"} {
				if v, err := value(s, n, "backup", id); err != nil || v != 0 {
					return fmt.Errorf("%s{backup=%s} = %v (%v), want 0", n, id, v, err)
				}
			}
		}
		if v, _ := value(s, "qpidha_ha_guard_held_messages"); v != 0 {
			return fmt.Errorf("the guard still holds %v messages", v)
		}
		count, _, fast, _ := s.Histogram("qpidha_ha_guard_hold_seconds", 1)
		if count <= count0 || count-fast <= count0-fast0 {
			return fmt.Errorf("guard histogram: %d samples (%d before), %d over 1 s (%d before): the held messages are not counted",
				count, count0, count-fast, count0-fast0)
		}
		return nil
	})
}

func mustValue(s metrics.Snapshot, name string, labels ...string) float64 {
	v, _ := s.Value(name, labels...)
	return v
}
