package store

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// TestRandomCrashes runs a random workload on a broker whose store is on a
// file system that keeps only what was synced, and loses power at a random
// operation of the file system, again and again: sends (persistent and
// transient), consumers accepting, releasing and failing, transactions,
// queues deleted and declared again, batches synced, files reclaimed. After
// each crash it checks what came back against what the senders and
// consumers were told:
//   - every message whose transfer was settled is there, unless a
//     consumer accepted it;
//   - nothing is invented: every message is one sent, persistent, to a
//     durable queue, and there once;
//   - a queue's messages are in the order they were sent;
//   - a message whose dequeue was on disk (a sync after its accept, or its
//     transaction's commit settled) does not come back.
//
// Each seed replays exactly (one goroutine, the journal written by hand);
// a failure prints the seed and the last events. STORE_CRASH_SEEDS sets how
// many seeds run (default 300).
func TestRandomCrashes(t *testing.T) {
	seeds := 300
	if s, err := strconv.Atoi(os.Getenv("STORE_CRASH_SEEDS")); err == nil && s > 0 {
		seeds = s
	}
	if testing.Short() {
		seeds = 30
	}
	crashes := 0
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
			crashes += runCrashes(t, seed)
		})
	}
	t.Logf("%d seeds, %d crashes", seeds, crashes)
}

// sentMsg is what the model knows of a message.
type sentMsg struct {
	queue      string
	incarn     int // which declaration of the queue it went to
	seq        int // send order
	persistent bool
	hold       *broker.Hold // its store hold (nil: none)
	txnHold    *broker.Hold // the commit's hold, for a message sent in a transaction
	accepted   bool         // a consumer accepted it (or its queue was deleted)
	goneAt     int          // a dequeue is on disk once flushes > goneAt
	goneHold   *broker.Hold // ... or once this commit hold is done
	// uncommitted: sent in a transaction whose commit was never recorded.
	uncommitted bool
	// inOpenTxn: accepted in a transaction whose commit was never
	// recorded: it must come back.
	inOpenTxn bool
}

type crashModel struct {
	t        *testing.T
	rng      *rand.Rand
	e        *env
	sent     map[string]*sentMsg
	order    int
	flushes  int
	incarn   map[string]int
	deleted  map[string]bool
	consumer map[string]*broker.Consumer
	events   []string
	txns     int
	txn      *openTxn
}

var crashQueues = []string{"a", "b", "tmp"}

func runCrashes(t *testing.T, seed int64) int {
	m := &crashModel{
		t:       t,
		rng:     rand.New(rand.NewSource(seed)),
		sent:    map[string]*sentMsg{},
		incarn:  map[string]int{},
		deleted: map[string]bool{},
	}
	defer func() {
		if t.Failed() {
			n := len(m.events)
			t.Logf("seed %d, last events:\n  %s", seed, strings.Join(m.events[max(0, n-40):], "\n  "))
		}
	}()
	m.e = start(t, vfs.NewMem())
	m.setup()
	cycles := 1 + m.rng.Intn(4)
	for c := 0; c < cycles && !t.Failed(); c++ {
		m.e.fs.CrashAfter(1 + m.rng.Intn(400))
		for step := 0; step < 600 && !m.e.fs.Crashed(); step++ {
			m.step()
		}
		var tear *rand.Rand
		if m.rng.Intn(2) == 0 {
			tear = m.rng
		}
		m.log("CRASH (torn writes: %v)", tear != nil)
		m.e = m.e.crash(tear)
		m.check()
		m.setup()
	}
	return cycles
}

func (m *crashModel) log(format string, a ...any) {
	m.events = append(m.events, fmt.Sprintf(format, a...))
}

// setup declares the queues (again, after a restart) and subscribes.
func (m *crashModel) setup() {
	m.consumer = map[string]*broker.Consumer{}
	for _, name := range crashQueues {
		if m.e.b.Queue(name) == nil {
			m.e.queue(name, broker.Args{"durable": true})
			m.incarn[name]++
		}
	}
	m.e.queue("transient", nil)
}

func (m *crashModel) sub(name string) *broker.Consumer {
	if c := m.consumer[name]; c != nil {
		return c
	}
	q := m.e.b.Queue(name)
	c, err := q.Subscribe("c", func() {})
	if err != nil {
		m.t.Fatal(err)
	}
	m.consumer[name] = c
	return c
}

func (m *crashModel) step() {
	r := m.rng
	switch k := r.Intn(100); {
	case k < 40:
		name := crashQueues[r.Intn(len(crashQueues))]
		if r.Intn(10) == 0 {
			name = "transient"
		}
		m.send(name, r.Intn(5) != 0)
	case k < 60:
		m.consume(crashQueues[r.Intn(len(crashQueues))])
	case k < 67:
		m.txnStep()
	case k < 69:
		m.recreate("tmp")
	case k < 90:
		err := m.e.st.Flush()
		m.log("flush: %v", err)
		if err == nil {
			m.flushes++
		}
	default:
		err := m.e.st.Reclaim()
		m.log("reclaim: %v", err)
	}
}

func (m *crashModel) body() string {
	m.order++
	return fmt.Sprintf("m%d-%s", m.order, strings.Repeat("x", m.rng.Intn(600)))
}

func (m *crashModel) send(name string, persistent bool) {
	q := m.e.b.Queue(name)
	body := m.body()
	en, err := q.Enqueue(m.e.msg(spec{body: body, persistent: persistent}))
	if err != nil {
		m.log("send %s to %s: %v", short(body), name, err) // the store stopped at the crash
		return
	}
	m.sent[body] = &sentMsg{queue: name, incarn: m.incarn[name], seq: m.order, persistent: persistent && name != "transient", hold: en.StoreHold()}
	m.log("send %s to %s (persistent %v)", short(body), name, persistent)
}

func short(body string) string { return body[:strings.IndexByte(body, '-')] }

func (m *crashModel) consume(name string) {
	c := m.sub(name)
	got := c.Fetch(nil, 1+m.rng.Intn(5))
	for _, en := range got {
		body := bodyOf(en.Msg)
		s := m.sent[body]
		switch m.rng.Intn(4) {
		case 0, 1:
			c.Accept(en)
			if s != nil {
				s.accepted, s.goneAt = true, m.flushes
			}
			m.log("accept %s", short(body))
		case 2:
			c.Release(en, true)
			m.log("release %s (failed)", short(body))
		default:
			c.Release(en, false)
			m.log("release %s", short(body))
		}
	}
}

// openTxn is a transaction being committed: its records are written one
// at a time, and other work (syncs, reclaiming, other senders) may come in
// between, as other connections and the reclaimer do while a connection
// commits.
type openTxn struct {
	name     string
	accepted []*sentMsg
	sent     []*sentMsg
}

// txnStep opens a transaction, adds an accept or a send to it, or commits.
func (m *crashModel) txnStep() {
	tx := m.txn
	if tx == nil {
		m.txns++
		tx = &openTxn{name: fmt.Sprintf("tx-%d", m.txns)}
		m.txn = tx
		m.log("%s opens", tx.name)
	}
	switch m.rng.Intn(3) {
	case 0:
		name := crashQueues[m.rng.Intn(2)]
		c := m.sub(name)
		for _, en := range c.Fetch(nil, 1+m.rng.Intn(2)) {
			c.AcceptTx(en, tx.name)
			if s := m.sent[bodyOf(en.Msg)]; s != nil {
				s.accepted, s.goneAt, s.inOpenTxn = true, 1<<62, true // gone only with the commit
				tx.accepted = append(tx.accepted, s)
				m.log("%s accepts %s", tx.name, short(bodyOf(en.Msg)))
			}
		}
	case 1:
		q := m.e.b.Queue(crashQueues[m.rng.Intn(2)])
		body := m.body()
		en, err := q.EnqueueTx(m.e.msg(spec{body: body, persistent: true}), tx.name)
		if err != nil {
			return
		}
		s := &sentMsg{queue: q.Name(), incarn: m.incarn[q.Name()], seq: m.order, persistent: true,
			hold: en.StoreHold(), txnHold: broker.NewHold(1), uncommitted: true}
		m.sent[body] = s
		tx.sent = append(tx.sent, s)
		m.log("%s sends %s to %s", tx.name, short(body), q.Name())
	default:
		h := m.e.b.CommitJournal(tx.name)
		if h == nil {
			h = broker.NewHold(0)
		}
		for _, s := range tx.accepted {
			s.goneHold, s.inOpenTxn = h, false
		}
		for _, s := range tx.sent {
			s.txnHold, s.uncommitted = h, false
		}
		m.txn = nil
		m.log("%s commits", tx.name)
	}
}

// recreate deletes a queue and declares it again: its messages are gone
// once the deletion is on disk.
func (m *crashModel) recreate(name string) {
	if c := m.consumer[name]; c != nil {
		c.Close()
		delete(m.consumer, name)
	}
	for _, s := range m.sent {
		if s.queue == name && s.incarn == m.incarn[name] && !s.accepted {
			s.accepted, s.goneAt = true, m.flushes
		}
	}
	if err := m.e.b.DeleteQueue(name, false, false); err != nil {
		m.t.Fatal(err)
	}
	m.e.queue(name, broker.Args{"durable": true})
	m.incarn[name]++
	m.log("recreate %s", name)
}

func (s *sentMsg) settled() bool {
	return s.hold != nil && done(s.hold) && (s.txnHold == nil || done(s.txnHold))
}

func (s *sentMsg) gone(flushes int) bool {
	return s.accepted && (flushes > s.goneAt || (s.goneHold != nil && done(s.goneHold)))
}

// check compares what came back with the model, then makes what came back
// the model's truth for the next cycle.
func (m *crashModel) check() {
	t := m.t
	present := map[string]bool{}
	for _, q := range m.e.b.Queues() {
		last := 0
		for _, body := range bodies(q) {
			s := m.sent[body]
			switch {
			case s == nil:
				t.Fatalf("queue %s: invented message %q", q.Name(), short(body))
			case !s.persistent:
				t.Fatalf("queue %s: transient message %s came back", q.Name(), short(body))
			case s.queue != q.Name():
				t.Fatalf("queue %s: message %s was sent to %s", q.Name(), short(body), s.queue)
			case present[body]:
				t.Fatalf("queue %s: message %s twice", q.Name(), short(body))
			case s.seq < last:
				t.Fatalf("queue %s: message %s out of order", q.Name(), short(body))
			case s.uncommitted:
				t.Fatalf("queue %s: message %s of a transaction never committed came back", q.Name(), short(body))
			case s.gone(m.flushes):
				t.Fatalf("queue %s: message %s came back though its dequeue was on disk", q.Name(), short(body))
			}
			present[body] = true
			last = s.seq
		}
	}
	for body, s := range m.sent {
		if s.settled() && (!s.accepted || s.inOpenTxn) && !present[body] {
			t.Fatalf("message %s, settled on queue %s, is lost", short(body), s.queue)
		}
	}
	// What came back is what the next cycle starts from.
	next := map[string]*sentMsg{}
	for body := range present {
		s := *m.sent[body]
		s.hold, s.txnHold, s.goneHold, s.accepted, s.inOpenTxn = nil, nil, nil, false, false
		s.incarn = m.incarn[s.queue]
		next[body] = &s
	}
	m.sent = next
	for _, q := range m.e.b.Queues() {
		for _, body := range bodies(q) {
			next[body].hold = broker.NewHold(0) // on disk: settled
		}
	}
	m.flushes = 0
	m.txn = nil
}
