package metrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha"
	"github.com/qpidha/qpidha/internal/store"
)

type fakeServer struct{ c, s, l int }

func (f fakeServer) Counts() (int, int, int) { return f.c, f.s, f.l }

type fakeHA struct{ m ha.Metrics }

func (f fakeHA) Metrics() ha.Metrics { return f.m }

type fakeStore struct{ st store.Stats }

func (f fakeStore) Stats() store.Stats { return f.st }

func body(t *testing.T, s string) *message.Message {
	t.Helper()
	b := types.AppendDescriptor(nil, types.DescriptorData)
	b = types.AppendBinary(b, []byte(s))
	m, err := message.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newBroker(t *testing.T) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func declare(t *testing.T, b *broker.Broker, name string, s broker.QueueSettings, msgs int) *broker.Queue {
	t.Helper()
	q, _, err := b.DeclareQueue(name, s)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < msgs; i++ {
		if _, err := q.Enqueue(body(t, fmt.Sprintf("%s-%d", name, i))); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

// scrape serves m on a loopback port, scrapes it once, and stops.
func scrape(t *testing.T, m *Metrics) Snapshot {
	t.Helper()
	e, err := m.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Scrape(ctx, e.URL())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func want(t *testing.T, s Snapshot, v float64, name string, labels ...string) {
	t.Helper()
	got, ok := s.Value(name, labels...)
	switch {
	case !ok:
		t.Errorf("no %s%v in:\n%s", name, labels, s.String("qpidha_"))
	case got != v:
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

// Every figure is read from its source when scraped.
func TestCollect(t *testing.T) {
	b := newBroker(t)
	q := declare(t, b, "orders", broker.QueueSettings{Durable: true}, 3)
	c, err := q.Subscribe("c", func() {})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Fetch(nil, 2)
	c.Accept(got[0])
	c.Release(got[1], false)
	m := New(Config{Version: "1.2.3"})
	m.Watch(Sources{
		Server: fakeServer{2, 3, 5},
		Queues: b,
		HA: fakeHA{ha.Metrics{State: ha.Active, Epoch: 7, ReadyBackups: 2, Promotions: 1, GuardHeld: 4,
			Backups: []ha.BackupLag{{ID: "b1", Messages: 10, Bytes: 2048, Seconds: 1.5}, {ID: "b2"}}}},
		Store: fakeStore{store.Stats{Messages: 9, LiveBytes: 100, Syncing: 2 * time.Second, Stopped: false}},
	})
	m.ObserveGuard(30 * time.Millisecond)
	m.ObserveGuard(3 * time.Second)
	m.ObserveSync(200*time.Microsecond, 17)
	s := scrape(t, m)

	want(t, s, 2, "qpidha_connections")
	want(t, s, 3, "qpidha_sessions")
	want(t, s, 5, "qpidha_links")
	want(t, s, float64(len(b.Queues())), "qpidha_queues")
	want(t, s, 2, "qpidha_queue_depth_messages", "queue", "orders")
	want(t, s, 3, "qpidha_queue_enqueued_total", "queue", "orders")
	want(t, s, 1, "qpidha_queue_dequeued_total", "queue", "orders")
	want(t, s, 1, "qpidha_queue_redelivered_total", "queue", "orders")
	want(t, s, 0, "qpidha_queue_expired_total", "queue", "orders")
	want(t, s, 0, "qpidha_queue_flow_stopped", "queue", "orders")
	want(t, s, 1, "qpidha_queue_consumers", "queue", "orders")
	if v, _ := s.Value("qpidha_queue_depth_bytes", "queue", "orders"); v <= 0 {
		t.Errorf("orders holds %v bytes", v)
	}
	want(t, s, 1, "qpidha_ha_state", "state", "active")
	want(t, s, 0, "qpidha_ha_state", "state", "ready")
	if got := s.LabelValues("qpidha_ha_state", "state"); len(got) != 6 {
		t.Errorf("states %v, want all 6", got)
	}
	want(t, s, 7, "qpidha_ha_epoch")
	want(t, s, 2, "qpidha_ha_ready_backups")
	want(t, s, 1, "qpidha_ha_promotions_total")
	want(t, s, 4, "qpidha_ha_guard_held_messages")
	want(t, s, 10, "qpidha_ha_backup_lag_messages", "backup", "b1")
	want(t, s, 2048, "qpidha_ha_backup_lag_bytes", "backup", "b1")
	want(t, s, 1.5, "qpidha_ha_backup_lag_seconds", "backup", "b1")
	want(t, s, 0, "qpidha_ha_backup_lag_seconds", "backup", "b2")
	want(t, s, 9, "qpidha_store_messages")
	want(t, s, 2, "qpidha_store_sync_in_progress_seconds")
	want(t, s, 0, "qpidha_store_disk_full")
	want(t, s, 1, "qpidha_build_info", "version", "1.2.3")
	if n, sum, atMost, ok := s.Histogram("qpidha_ha_guard_hold_seconds", 1); !ok || n != 2 || atMost != 1 || sum < 3 {
		t.Errorf("guard histogram: %d samples, %d at most 1 s, sum %v; want 2, 1, >= 3", n, atMost, sum)
	}
	if n, _, _, ok := s.Histogram("qpidha_store_sync_seconds", 1); !ok || n != 1 {
		t.Errorf("sync histogram: %d samples", n)
	}
	if n, sum, _, _ := s.Histogram("qpidha_store_records_per_sync", 1); n != 1 || sum != 17 {
		t.Errorf("records per sync: %d samples, sum %v", n, sum)
	}
	if _, ok := s.Value("go_goroutines"); !ok {
		t.Error("no Go runtime metrics")
	}
}

// Without HA or a store, their metrics are absent, not zero.
func TestStandaloneOmitsHAAndStore(t *testing.T) {
	m := New(Config{})
	m.Watch(Sources{Server: fakeServer{}, Queues: newBroker(t)})
	s := scrape(t, m)
	for _, n := range []string{"qpidha_ha_state", "qpidha_ha_epoch", "qpidha_store_messages", "qpidha_ha_guard_hold_seconds", "qpidha_store_sync_seconds"} {
		if _, ok := s[n]; ok {
			t.Errorf("%s exported without its source", n)
		}
	}
	want(t, s, 0, "qpidha_connections")
}

// Beyond the limit, lasting queues keep their series and temporary ones
// are summed into queue="_other".
func TestQueueSeriesLimit(t *testing.T) {
	b := newBroker(t)
	declare(t, b, "zz-durable", broker.QueueSettings{Durable: true}, 1)
	declare(t, b, "a-named", broker.QueueSettings{}, 2)
	declare(t, b, "tmp-1", broker.QueueSettings{AutoDelete: true}, 3)
	declare(t, b, "tmp-2", broker.QueueSettings{AutoDelete: true}, 4)
	declare(t, b, "tmp-0", broker.QueueSettings{Exclusive: true, Owner: "c"}, 5)
	builtin := len(b.Queues()) - 5 // queues the broker itself declares, if any
	m := New(Config{QueueSeriesLimit: builtin + 3})
	m.Watch(Sources{Queues: b})
	s := scrape(t, m)
	got := s.LabelValues("qpidha_queue_depth_messages", "queue")
	for _, name := range []string{"zz-durable", "a-named", "tmp-0", OtherQueues} {
		if !contains(got, name) {
			t.Errorf("no series for %s: %v", name, got)
		}
	}
	for _, name := range []string{"tmp-1", "tmp-2"} {
		if contains(got, name) {
			t.Errorf("a series for %s beyond the limit: %v", name, got)
		}
	}
	if len(got) != builtin+4 {
		t.Errorf("%d series, want %d: %v", len(got), builtin+4, got)
	}
	want(t, s, 7, "qpidha_queue_depth_messages", "queue", OtherQueues)
	want(t, s, 7, "qpidha_queue_enqueued_total", "queue", OtherQueues)
	want(t, s, float64(builtin+5), "qpidha_queues")
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// The endpoint serves /metrics only, and stops with Close.
func TestEndpoint(t *testing.T) {
	m := New(Config{})
	e, err := m.Serve(ListenAddress("127.0.0.1", 0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(e.URL(), "/metrics") || !strings.HasPrefix(e.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %s", e.URL())
	}
	resp, err := http.Get("http://" + e.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / answered %s", resp.Status)
	}
	e.Close()
	if _, err := http.Get(e.URL()); err == nil {
		t.Error("the endpoint still answers after Close")
	}
	if got := ListenAddress("0.0.0.0", 9100); got != ":9100" {
		t.Errorf("ListenAddress(0.0.0.0) = %s", got)
	}
	if got := ListenAddress("::1", 9100); got != "[::1]:9100" {
		t.Errorf("ListenAddress(::1) = %s", got)
	}
}

// A queue named like the sum, when there is a sum, is counted in it: two
// series with the same labels would fail the whole scrape.
func TestQueueNamedOther(t *testing.T) {
	b := newBroker(t)
	declare(t, b, OtherQueues, broker.QueueSettings{Durable: true}, 2)
	declare(t, b, "a", broker.QueueSettings{Durable: true}, 1)
	declare(t, b, "tmp", broker.QueueSettings{AutoDelete: true}, 4)
	builtin := len(b.Queues()) - 3
	m := New(Config{QueueSeriesLimit: builtin + 2})
	m.Watch(Sources{Queues: b})
	s := scrape(t, m)
	want(t, s, 6, "qpidha_queue_depth_messages", "queue", OtherQueues)
	want(t, s, 1, "qpidha_queue_depth_messages", "queue", "a")

	m = New(Config{}) // no sum: the queue has its own series
	m.Watch(Sources{Queues: b})
	want(t, scrape(t, m), 2, "qpidha_queue_depth_messages", "queue", OtherQueues)
}

// What the guard's timing adds per held message: a timed hold instead of a
// plain one, a clock read at each end, and one histogram observation.
func BenchmarkGuardHold(b *testing.B) {
	start := time.Now()
	m := New(Config{})
	m.Watch(Sources{HA: fakeHA{}})
	ended := func(began int64) { m.ObserveGuard(time.Since(start) - time.Duration(began)) }
	b.Run("plain", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h := broker.NewHold(3)
			h.Release(1)
			h.Release(2)
		}
	})
	b.Run("timed", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h := broker.NewTimedHold(3, int64(time.Since(start)), ended)
			h.Release(1)
			h.Release(2)
		}
	})
}
