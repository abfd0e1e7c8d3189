package qpidd

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// memCluster is three HA brokers in this process, each with its store on a
// file system of its own in memory (vfs.Mem), which can lose power (keeping
// only what was synced) or stall its syncs. The HA state files are in real
// temporary directories: a power loss keeps what they held at that moment.
type memCluster struct {
	t       *testing.T
	urls    []string
	ports   []int
	dirs    []string
	fs      []*vfs.Mem
	brokers []*Broker
	extra   []string
	each    func(i int) []string // broker i's own options, if any
	log     *logrus.Logger
}

func newMemCluster(t *testing.T, extra ...string) *memCluster {
	return newMemClusterEach(t, nil, extra...)
}

// newMemClusterEach is newMemCluster with options of each broker's own.
func newMemClusterEach(t *testing.T, each func(i int) []string, extra ...string) *memCluster {
	c := &memCluster{t: t, ports: freePorts(t, 3), extra: extra, each: each, log: logrus.New()}
	c.log.SetOutput(io.Discard)
	if testing.Verbose() {
		c.log.SetOutput(os.Stderr)
	}
	for i, p := range c.ports {
		c.urls = append(c.urls, "127.0.0.1:"+strconv.Itoa(p))
		c.dirs = append(c.dirs, t.TempDir())
		c.fs = append(c.fs, disk(vfs.NewMem(), i))
	}
	c.brokers = make([]*Broker, 3)
	for i := range c.brokers {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.brokers {
			c.stop(i)
		}
	})
	return c
}

// slowDisk makes a sync take as long as a disk's does, between fast and
// slow: what was written waits for it, and one broker's disk lags
// another's, so a power loss has something to catch.
func slowDisk(m *vfs.Mem, fast, slow time.Duration) *vfs.Mem {
	m.SetSyncHook(func(string) error {
		time.Sleep(fast + time.Duration(rand.Int63n(int64(slow-fast))))
		return nil
	})
	return m
}

// disk is broker i's: the first primary's is fast, the others' slower, as
// when a backup's disk lags (a backup that acknowledged before its sync
// would then lose what its primary acknowledged).
func disk(m *vfs.Mem, i int) *vfs.Mem {
	if i == 0 {
		return slowDisk(m, 100*time.Microsecond, 500*time.Microsecond)
	}
	return slowDisk(m, time.Millisecond, 6*time.Millisecond)
}

func (c *memCluster) start(i int) {
	c.t.Helper()
	args := append([]string{"--port", strconv.Itoa(c.ports[i]), "--interface", "127.0.0.1", "--data-dir", c.dirs[i], "--auth", "no",
		"--ha-cluster", "yes", "--ha-brokers-url", strings.Join(c.urls, ","), "--ha-replicate", "all",
		"--link-maintenance-interval", "0.1", "--link-heartbeat-interval", "2", "--queue-patterns", ".*"}, c.extra...)
	if c.each != nil {
		args = append(args, c.each(i)...)
	}
	b, err := NewWithHooks(load(c.t, args...), c.log, Hooks{
		StoreFS:          c.fs[i],
		StoreSegmentSize: 64 << 10,        // small: a full disk shows soon
		StopSelf:         func(string) {}, // the test stops it
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.brokers[i] = b
}

func (c *memCluster) stop(i int) {
	if b := c.brokers[i]; b != nil {
		b.Stop()
		c.brokers[i] = nil
	}
}

// declareDurable declares the durable queue dq on broker i (the primary).
func (c *memCluster) declareDurable(i int) {
	c.t.Helper()
	if _, _, err := c.brokers[i].broker.DeclareQueue("dq", broker.QueueSettings{Durable: true}); err != nil {
		c.t.Fatal(err)
	}
}

// underLoad is a cluster, broker 0 primary, with ha-backup-lag-timeout 1 s,
// and senders to its durable queue dq that had 200 messages acknowledged.
func underLoad(t *testing.T) (*memCluster, *sendLoad) {
	c := newMemCluster(t, "--ha-backup-lag-timeout", "1")
	c.promote(0)
	c.declareDurable(0)
	l := startLoad(t, "amqp://"+c.urls[0], "r")
	t.Cleanup(l.close)
	l.await(t, 0, 200, 30*time.Second)
	return c, l
}

// promote makes broker i the primary and waits for the others.
func (c *memCluster) promote(i int) {
	c.t.Helper()
	m := c.brokers[i].HA()
	if err := m.Promote(m.CheckPeers(time.Second)); err != nil {
		c.t.Fatalf("promoting broker %d: %v", i, err)
	}
	c.waitReady(i, 2)
}

// waitReady waits until primary i's ready set holds n backups.
func (c *memCluster) waitReady(i, n int) {
	c.t.Helper()
	m := c.brokers[i].HA()
	eventually(c.t, 30*time.Second, func() error {
		if ms := m.Membership(); len(ms.Ready) != n {
			return fmt.Errorf("ready set %v, want %d backups", ms.Ready, n)
		}
		return nil
	})
}

// powerLoss cuts every broker's power, one right after the other: each
// store keeps what it synced (a torn, garbled unsynced tail at random),
// each state file what it held. Then the brokers' processes are gone.
func (c *memCluster) powerLoss(rng *rand.Rand) {
	c.t.Helper()
	states := make([][]byte, 3)
	for i := range c.fs {
		states[i], _ = os.ReadFile(filepath.Join(c.dirs[i], ha.StateFile))
	}
	for _, fs := range c.fs {
		fs.PowerOff()
	}
	for i, fs := range c.fs {
		tear := rng // half the time a torn, garbled part of what was not synced stays
		if rng.Intn(2) == 0 {
			tear = nil
		}
		c.fs[i] = disk(fs.Durable(tear), i)
	}
	for i := range c.brokers {
		c.stop(i)
		if err := os.WriteFile(filepath.Join(c.dirs[i], ha.StateFile), states[i], 0o640); err != nil {
			c.t.Fatal(err)
		}
	}
}

func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendLoad sends persistent messages to dq from 16 senders until stop is
// closed, and records which were acknowledged while counting is on.
type sendLoad struct {
	mu       sync.Mutex
	acked    map[string]bool
	counting atomic.Bool
	n        atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, url, round string) *sendLoad {
	l := &sendLoad{acked: map[string]bool{}, stop: make(chan struct{})}
	l.counting.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	for s := 0; s < 16; s++ {
		conn, err := goamqp.Dial(ctx, url, &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := conn.NewSession(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		snd, err := sess.NewSender(ctx, "dq", nil)
		if err != nil {
			t.Fatal(err)
		}
		l.wg.Add(1)
		go func(s int) {
			defer l.wg.Done()
			defer conn.Close()
			for i := 0; ; i++ {
				body := fmt.Sprintf("%s-s%d-%06d", round, s, i)
				m := goamqp.NewMessage([]byte(body))
				m.Header = &goamqp.MessageHeader{Durable: true}
				if err := snd.Send(ctx, m, nil); err != nil {
					return
				}
				if l.counting.Load() {
					l.mu.Lock()
					l.acked[body] = true
					l.mu.Unlock()
				}
				l.n.Add(1)
			}
		}(s)
	}
	go func() {
		<-l.stop
		cancel()
	}()
	return l
}

// await waits until at least n more messages than since were acknowledged,
// for at most within.
func (l *sendLoad) await(t *testing.T, since, n int64, within time.Duration) {
	t.Helper()
	eventually(t, within, func() error {
		if got := l.n.Load() - since; got < n {
			return fmt.Errorf("%d acknowledged, want %d", got, n)
		}
		return nil
	})
}

// end stops counting (before a power loss: what is acknowledged after may
// or may not survive) and returns what was acknowledged.
func (l *sendLoad) end() map[string]bool {
	l.counting.Store(false)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

func (l *sendLoad) close() {
	close(l.stop)
	l.wg.Wait()
}

// drain takes every message of dq from broker b.
func drain(t *testing.T, b *Broker) map[string]bool {
	t.Helper()
	q := b.broker.Queue("dq")
	if q == nil {
		t.Fatal("dq is gone")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := goamqp.Dial(ctx, "amqp://"+b.Addrs()[0].String(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := sess.NewReceiver(ctx, "dq", &goamqp.ReceiverOptions{Credit: 500})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for n := q.Stats().Depth; len(got) < n; {
		m, err := rcv.Receive(ctx, nil)
		if err != nil {
			t.Fatalf("received %d of %d: %v", len(got), n, err)
		}
		got[string(m.GetData())] = true
		if err := rcv.AcceptMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// Every broker of the cluster loses power at a random moment under load,
// three times in a row; each time the broker the OCF agent's first start
// chooses (the highest position its state file holds, taken from its
// store at start) is promoted by its own rules, and the others catch up
// from it; half the time the old primary's node stays down until then, so
// that a former backup must hold every acknowledged message. At the end every acknowledged persistent message is there and
// nothing that was never sent.
func TestPowerLossOfTheWholeCluster(t *testing.T) {
	seed := time.Now().UnixNano()
	if s := os.Getenv("HA_POWER_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (HA_POWER_SEED=%d replays the random moments)", seed, seed)
	rng := rand.New(rand.NewSource(seed))
	c := newMemCluster(t)
	c.promote(0)
	c.declareDurable(0)
	acked := map[string]bool{}
	primary := 0
	for round := 0; round < 3; round++ {
		l := startLoad(t, "amqp://"+c.urls[primary], fmt.Sprintf("r%d", round))
		l.await(t, 0, 300, 30*time.Second)
		time.Sleep(time.Duration(rng.Intn(300)) * time.Millisecond)
		for body := range l.end() {
			acked[body] = true
		}
		c.powerLoss(rng)
		l.close()

		// Half the time the old primary's node never comes back (until
		// a new primary serves): a former backup must hold everything.
		gone := -1
		if rng.Intn(2) == 0 {
			gone = primary
		}
		best := -1
		for i := range c.brokers {
			if i == gone {
				continue
			}
			c.start(i)
			if best < 0 || positionOf(t, c.dirs[best]).Less(positionOf(t, c.dirs[i])) {
				best = i
			}
		}
		t.Logf("round %d: %d acknowledged in all; positions %s %s %s; broker %d stays down: promoting %d", round, len(acked),
			positionOf(t, c.dirs[0]), positionOf(t, c.dirs[1]), positionOf(t, c.dirs[2]), gone, best)
		m := c.brokers[best].HA()
		if err := m.Promote(m.CheckPeers(time.Second)); err != nil {
			t.Fatalf("promoting broker %d: %v", best, err)
		}
		if gone >= 0 {
			c.start(gone)
		}
		c.waitReady(best, 2)
		primary = best
	}
	got := drain(t, c.brokers[primary])
	lost := 0
	for body := range acked {
		if !got[body] {
			if lost++; lost <= 5 {
				t.Errorf("acknowledged, not recovered: %s", body)
			}
		}
	}
	for body := range got {
		var r, s, i int
		if _, err := fmt.Sscanf(body, "r%d-s%d-%d", &r, &s, &i); err != nil {
			t.Errorf("recovered %q, never sent", body)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost", lost, len(acked))
	}
	t.Logf("%d acknowledged before the power losses, %d recovered", len(acked), len(got))
}

func positionOf(t *testing.T, dir string) ha.Position {
	t.Helper()
	p, err := ha.ReadPersistent(dir)
	if err != nil {
		t.Fatal(err)
	}
	return p.Position
}

// A backup whose disk stalls (its syncs block; its heartbeats go on) is
// cut off by the primary once its acknowledgements lag past
// ha-backup-lag-timeout: it leaves the ready set, the senders go on, its
// status says why; once its disk recovers it catches up and is ready again.
func TestStalledBackupDisk(t *testing.T) {
	c, l := underLoad(t)

	stalled := make(chan struct{})
	c.fs[2].SetSyncHook(func(string) error { <-stalled; return nil })
	stalledAt := time.Now()
	backup := c.brokers[2].HA()
	id := backup.BrokerID()
	primary := c.brokers[0].HA()
	eventually(t, 20*time.Second, func() error {
		if primary.Membership().IsReady(id) {
			return fmt.Errorf("the stalled backup is still in the ready set")
		}
		return nil
	})
	t.Logf("the stalled backup left the ready set after %s", time.Since(stalledAt).Round(time.Millisecond))
	eventually(t, 10*time.Second, func() error {
		if h := backup.Status()["storeHealth"]; !strings.Contains(fmt.Sprint(h), "for one sync so far") {
			return fmt.Errorf("the stalled backup's store health: %v", h)
		}
		return nil
	})
	l.await(t, l.n.Load(), 200, 10*time.Second) // the senders go on without it
	// It may still think itself ready (the news of its drop never reached
	// it), as any backup cut off does; the other backup knows better.
	if ms := c.brokers[1].HA().Membership(); ms.IsReady(id) {
		t.Fatalf("the other backup still has the stalled one in its ready set: %v", ms)
	}

	close(stalled)
	disk(c.fs[2], 2)
	c.waitReady(0, 2)
	if h := backup.Status()["storeHealth"]; h != "ok" {
		t.Fatalf("store health after the disk recovered: %v", h)
	}
}

// A backup whose disk fills up (ENOSPC: its journal keeps what it could not
// write and tries again every second) is cut off like a stalled one, says
// so in its status, and is ready again once space is freed.
func TestFullBackupDisk(t *testing.T) {
	c, l := underLoad(t)
	fs := c.fs[2]
	fs.SetQuota(fs.Used()) // the current journal file fills, then ENOSPC
	backup := c.brokers[2].HA()
	primary := c.brokers[0].HA()
	eventually(t, 20*time.Second, func() error {
		if primary.Membership().IsReady(backup.BrokerID()) {
			return fmt.Errorf("the backup with a full disk is still in the ready set")
		}
		if h := fmt.Sprint(backup.Status()["storeHealth"]); !strings.Contains(h, "disk is full") {
			return fmt.Errorf("its store health: %s", h)
		}
		return nil
	})
	l.await(t, l.n.Load(), 200, 10*time.Second) // the senders go on without it
	fs.SetQuota(0)
	c.waitReady(0, 2)
	if h := backup.Status()["storeHealth"]; h != "ok" {
		t.Fatalf("store health once space is back: %v", h)
	}
}
