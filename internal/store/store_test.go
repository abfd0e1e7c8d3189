package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// A transfer to a durable queue is settled only once its record is synced;
// a transient message or a non-durable queue is settled at once.
func TestSettledOnlyOnceSynced(t *testing.T) {
	e := start(t, vfs.NewMem())
	durable := e.queue("d", broker.Args{"durable": true})
	plain := e.queue("p", nil)
	_, h := e.send(durable, spec{body: "persistent", persistent: true})
	_, transient := e.send(durable, spec{body: "transient"})
	_, elsewhere := e.send(plain, spec{body: "on a non-durable queue", persistent: true})
	if h == nil || done(h) || transient != nil || elsewhere != nil {
		t.Fatalf("holds: persistent %v (done %v), transient %v, non-durable queue %v", h, done(h), transient, elsewhere)
	}
	e.flush()
	if !done(h) {
		t.Fatal("not settled after the sync")
	}
}

// What survives a restart, and how: order, priorities, last-value keys,
// expiry, delivery counts, the message byte for byte, arguments, bindings.
func TestRestartKeepsSemantics(t *testing.T) {
	e := start(t, vfs.NewMem())
	if _, _, err := e.b.DeclareExchange("events", broker.Topic, broker.ExchangeSettings{Durable: true, Args: broker.Args{"qpid.replicate": "configuration"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.b.DeclareExchange("transient-x", broker.Fanout, broker.ExchangeSettings{}); err != nil {
		t.Fatal(err)
	}
	orders := e.queue("orders", broker.Args{"durable": true, "qpid.max_count": int64(100), "alternate-exchange": "amq.fanout", "x-custom": "kept"})
	prio := e.queue("prio", broker.Args{"durable": true, "qpid.priorities": int64(10)})
	lvq := e.queue("lvq", broker.Args{"durable": true, "qpid.last_value_queue_key": "key"})
	ring := e.queue("ring", broker.Args{"durable": true, "qpid.max_count": int64(3), "qpid.policy_type": "ring"})
	temp := e.queue("temp", nil)
	for _, b := range []struct{ x, q, key string }{{"events", "orders", "order.#"}, {"amq.direct", "orders", "direct-key"}, {"transient-x", "orders", ""}, {"events", "temp", "x"}} {
		if _, err := e.b.Bind(b.x, b.q, b.key, broker.Args{"arg": b.key}); err != nil {
			t.Fatal(err)
		}
	}
	var sent []string
	for i, body := range []string{"o1", "o2", "o3", "o4"} {
		e.send(orders, spec{body: body, persistent: true, count: uint32(i)})
		sent = append(sent, body)
	}
	e.send(orders, spec{body: "transient", persistent: false})
	expiring, _ := e.send(orders, spec{body: "o5-ttl", persistent: true, ttl: time.Hour})
	sent = append(sent, "o5-ttl")
	for i, p := range []uint8{1, 9, 4, 9, 0} {
		e.send(prio, spec{body: string(rune('a' + i)), persistent: true, priority: p})
	}
	for i, k := range []string{"x", "y", "x", "z", "y"} {
		e.send(lvq, spec{body: k + string(rune('0'+i)), persistent: true, props: types.Map{{Key: "key", Value: k}}})
	}
	for _, body := range []string{"r1", "r2", "r3", "r4", "r5"} {
		e.send(ring, spec{body: body, persistent: true})
	}
	e.send(temp, spec{body: "gone", persistent: true})
	// A consumer takes o1 and accepts it, takes o2 and loses it (a failed
	// delivery), and holds o3 when the power goes.
	c, err := orders.Subscribe("conn-1", func() {})
	if err != nil {
		t.Fatal(err)
	}
	got := c.Fetch(nil, 3)
	c.Accept(got[0])
	c.Release(got[1], true)
	want := func(q *broker.Queue) []string { return bodies(q) }
	wantOrders := []string{"o2", "o3", "o4", "o5-ttl"} // transient gone
	wantPrio, wantLVQ, wantRing := want(prio), want(lvq), want(ring)
	var bare, annotations []byte
	orders.Entries(func(live []*broker.Entry) {
		bare, annotations = bytes.Clone(live[0].Msg.Bare), bytes.Clone(live[0].Msg.MessageAnnotations)
	})
	expiry := expiring.Expires()
	e.flush()

	e.now = e.now.Add(30 * time.Minute) // the clock moves on while it is down
	e = e.crash(nil)
	b := e.b
	if e.rec.Messages() != 4+5+3+3 {
		t.Fatalf("recovered %d messages, want 15: %s", e.rec.Messages(), fmt.Sprintf("%d queues", len(e.rec.Queues)))
	}
	q := b.Queue("orders")
	if q == nil || b.Queue("temp") != nil || b.Exchange("transient-x") != nil {
		t.Fatalf("queues %v, exchanges %v", b.Queues(), b.Exchanges())
	}
	if g := bodies(q); !reflect.DeepEqual(g, wantOrders) {
		t.Fatalf("orders %v, want %v (sent %v)", g, wantOrders, sent)
	}
	st := q.Settings()
	if !st.Durable || st.MaxCount != 100 || st.AlternateExchange != "amq.fanout" || st.Args["x-custom"] != "kept" {
		t.Fatalf("orders settings %+v", st)
	}
	if x := b.Exchange("events"); x == nil || x.Type() != broker.Topic || !x.Settings().Durable || x.Settings().Args["qpid.replicate"] != "configuration" {
		t.Fatalf("exchange events %+v", x)
	}
	var keys []string
	for _, x := range b.Exchanges() {
		for _, bd := range x.Bindings() {
			keys = append(keys, x.Name()+"/"+bd.Queue+"/"+bd.Key+"/"+bd.Args["arg"].(string))
		}
	}
	if want := []string{"amq.direct/orders/direct-key/direct-key", "events/orders/order.#/order.#"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("bindings %v, want %v", keys, want)
	}
	if g := bodies(b.Queue("prio")); !reflect.DeepEqual(g, wantPrio) {
		t.Fatalf("prio %v, want %v", g, wantPrio)
	}
	if g := bodies(b.Queue("lvq")); !reflect.DeepEqual(g, wantLVQ) {
		t.Fatalf("lvq %v, want %v", g, wantLVQ)
	}
	if g := bodies(b.Queue("ring")); !reflect.DeepEqual(g, wantRing) {
		t.Fatalf("ring %v, want %v", g, wantRing)
	}
	// Delivery order, counts, byte for byte.
	c2, _ := q.Subscribe("conn-2", func() {})
	got = c2.Fetch(nil, 10)
	if len(got) != 4 {
		t.Fatalf("fetched %d", len(got))
	}
	if got[0].DeliveryCount() != 1+1 || got[1].DeliveryCount() != 2 || got[0].FirstAcquirer() {
		t.Fatalf("delivery counts %d, %d (o2 was sent with 1 and failed once; o3 sent with 2)", got[0].DeliveryCount(), got[1].DeliveryCount())
	}
	if !bytes.Equal(got[0].Msg.Bare, bare) || !bytes.Equal(got[0].Msg.MessageAnnotations, annotations) || !got[0].Msg.Header.Durable {
		t.Fatal("the message changed across the restart")
	}
	if !got[3].Expires().Equal(expiry) {
		t.Fatalf("expiry %v, want %v (absolute, not the ttl from the restart)", got[3].Expires(), expiry)
	}
	// The last-value queue still replaces by key; the ring still drops.
	e.send(b.Queue("lvq"), spec{body: "x9", persistent: true, props: types.Map{{Key: "key", Value: "x"}}})
	if g := bodies(b.Queue("lvq")); len(g) != 3 || g[2] != "x9" {
		t.Fatalf("lvq after a new x: %v", g)
	}
	e.send(b.Queue("ring"), spec{body: "r6", persistent: true})
	if g := bodies(b.Queue("ring")); !reflect.DeepEqual(g, []string{"r4", "r5", "r6"}) {
		t.Fatalf("ring after r6: %v", g)
	}
	// Messages keep their positions; new ones come after.
	en, _ := e.send(q, spec{body: "o6", persistent: true})
	if en.Pos <= got[3].Pos {
		t.Fatalf("a new message at position %d, before the restored %d", en.Pos, got[3].Pos)
	}
}

// Deletions and unbinds survive; a queue declared again with the same name
// does not get the old one's messages.
func TestDeletionsSurvive(t *testing.T) {
	e := start(t, vfs.NewMem())
	q := e.queue("q", broker.Args{"durable": true})
	e.send(q, spec{body: "old", persistent: true})
	if _, _, err := e.b.DeclareExchange("x", broker.Direct, broker.ExchangeSettings{Durable: true}); err != nil {
		t.Fatal(err)
	}
	e.b.Bind("x", "q", "k1", nil)
	e.b.Bind("x", "q", "k2", nil)
	e.b.Bind("amq.topic", "q", "t", nil)
	if err := e.b.Unbind("x", "q", "k1"); err != nil {
		t.Fatal(err)
	}
	if err := e.b.DeleteQueue("q", false, false); err != nil {
		t.Fatal(err)
	}
	q = e.queue("q", broker.Args{"durable": true})
	e.send(q, spec{body: "new", persistent: true})
	e.b.Bind("x", "q", "k3", nil)
	e.b.Bind("amq.topic", "q", "t", broker.Args{"second": "yes"}) // replaces
	e.flush()
	e = e.crash(nil)
	if g := bodies(e.b.Queue("q")); !reflect.DeepEqual(g, []string{"new"}) {
		t.Fatalf("q %v", g)
	}
	var keys []string
	for _, x := range e.b.Exchanges() {
		for _, bd := range x.Bindings() {
			keys = append(keys, x.Name()+"/"+bd.Key)
		}
	}
	if !reflect.DeepEqual(keys, []string{"amq.topic/t", "x/k3"}) {
		t.Fatalf("bindings %v", keys)
	}
	if err := e.b.DeleteExchange("x", false); err != nil {
		t.Fatal(err)
	}
	e.flush()
	e = e.crash(nil)
	if e.b.Exchange("x") != nil || len(e.b.Exchange("amq.topic").Bindings()) != 1 {
		t.Fatalf("after deleting x: %v", e.b.Exchanges())
	}
}

// A transaction's records apply together: without its commit on disk,
// neither its enqueues nor its dequeues happened.
func TestTransactionAllOrNothing(t *testing.T) {
	e := start(t, vfs.NewMem())
	q := e.queue("q", broker.Args{"durable": true})
	e.send(q, spec{body: "m1", persistent: true})
	e.send(q, spec{body: "m2", persistent: true})
	e.flush()
	c, _ := q.Subscribe("c", func() {})
	got := c.Fetch(nil, 1)
	// Transaction t1 accepts m1 and sends t1-a; its commit is not on disk.
	c.AcceptTx(got[0], "t1")
	if _, err := q.EnqueueTx(e.msg(spec{body: "t1-a", persistent: true}), "t1"); err != nil {
		t.Fatal(err)
	}
	e.flush()
	crashed := e.lookAfterCrash()
	if g := bodies(crashed.b.Queue("q")); !reflect.DeepEqual(g, []string{"m1", "m2"}) || crashed.rec.DroppedTxns != 1 {
		t.Fatalf("without the commit: %v, dropped %d", g, crashed.rec.DroppedTxns)
	}
	// With it, both apply.
	h := e.b.CommitJournal("t1")
	if h == nil || done(h) {
		t.Fatal("the commit did not wait for the disk")
	}
	e.flush()
	if !done(h) {
		t.Fatal("the commit is not done once synced")
	}
	e = e.crash(nil)
	if g := bodies(e.b.Queue("q")); !reflect.DeepEqual(g, []string{"m2", "t1-a"}) {
		t.Fatalf("after the commit: %v", g)
	}
	if e.b.CommitJournal("nothing-recorded") != nil {
		t.Fatal("a transaction with no records waits for nothing")
	}
}

// A full disk refuses new persistent messages and keeps serving the rest;
// once space is back they are taken again, and those waiting are settled.
func TestFullDisk(t *testing.T) {
	e := start(t, vfs.NewMem())
	q := e.queue("q", broker.Args{"durable": true})
	e.send(q, spec{body: "before", persistent: true})
	e.flush()
	e.fs.SetQuota(e.fs.Used() + 10)
	_, waiting := e.send(q, spec{body: "waits", persistent: true})
	if err := e.st.Flush(); err == nil {
		t.Fatal("flush on a full disk succeeded")
	}
	_, err := q.Enqueue(e.msg(spec{body: "refused", persistent: true}))
	if !errors.Is(err, broker.ErrStoreFull) || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("a persistent message on a full disk: %v", err)
	}
	if _, err := q.Enqueue(e.msg(spec{body: "transient"})); err != nil {
		t.Fatalf("a transient message on a full disk: %v", err)
	}
	if done(waiting) {
		t.Fatal("settled on a full disk")
	}
	if e.st.Attributes()["diskFull"] != true {
		t.Fatal("management does not show the full disk")
	}
	e.fs.SetQuota(0)
	e.flush()
	if !done(waiting) || e.st.Refusal() != nil {
		t.Fatal("not settled once space came back")
	}
	e.send(q, spec{body: "after", persistent: true})
	e.flush()
	e = e.crash(nil)
	if g := bodies(e.b.Queue("q")); !reflect.DeepEqual(g, []string{"before", "waits", "after"}) {
		t.Fatalf("after a full disk: %v", g)
	}
}

// A failed sync stops the store: nothing waiting is settled, ever.
func TestSyncFailureIsFatal(t *testing.T) {
	fs := vfs.NewMem()
	var fatal error
	st, rec, err := Open(Config{Dir: "/s", FS: fs, Manual: true, OnFatal: func(err error) { fatal = err }})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := broker.New(broker.Config{})
	rec.Restore(b)
	b.SetJournal(st)
	s, _ := broker.ParseQueueArgs(broker.Args{"durable": true})
	q, _, _ := b.DeclareQueue("q", s)
	fs.FailSyncs(syscall.EIO)
	en, err := q.Enqueue(persistentMsg(t, "x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(); err == nil || fatal == nil || !errors.Is(fatal, syscall.EIO) {
		t.Fatalf("flush %v, fatal %v", err, fatal)
	}
	fs.FailSyncs(nil)
	st.Flush()
	if done(en.StoreHold()) {
		t.Fatal("settled after a failed sync")
	}
	if _, err := q.Enqueue(persistentMsg(t, "y")); !errors.Is(err, broker.ErrStoreFull) {
		t.Fatalf("a persistent message after a failed sync: %v", err)
	}
}

func persistentMsg(t *testing.T, body string) *message.Message {
	e := &env{t: t}
	return e.msg(spec{body: body, persistent: true})
}

// An unknown format version is refused with what to do.
func TestUnknownVersion(t *testing.T) {
	e := start(t, vfs.NewMem())
	e.send(e.queue("q", broker.Args{"durable": true}), spec{body: "x", persistent: true})
	e.flush()
	fs := e.fs.Crash(nil)
	f, _ := fs.Open("journal/0000000000000001.jnl")
	f.WriteAt([]byte{9}, 8) // the version field (its checksum still matches nothing)
	hdr := make([]byte, 40)
	f.ReadAt(hdr, 0)
	fixHeaderCRC(hdr)
	f.WriteAt(hdr, 0)
	f.Sync()
	_, _, err := Open(Config{Dir: "/store", FS: fs, Manual: true})
	if err == nil || !strings.Contains(err.Error(), "version 9") || !strings.Contains(err.Error(), "--truncate") {
		t.Fatalf("err %v", err)
	}
	// --truncate discards it.
	st, rec, err := Open(Config{Dir: "/store", FS: fs, Manual: true, Truncate: true})
	if err != nil || rec.Messages() != 0 {
		t.Fatalf("truncate: %v, %d messages", err, rec.Messages())
	}
	st.Close()
}

// Disk use follows the live backlog: files whose records are all dead go,
// and one old message does not pin every file after it.
func TestReclaim(t *testing.T) {
	e := start(t, vfs.NewMem())
	q := e.queue("q", broker.Args{"durable": true})
	e.send(q, spec{body: "pinned", persistent: true})
	c, _ := q.Subscribe("c", func() {})
	c.Fetch(nil, 1) // held by a consumer, never accepted
	for round := 0; round < 50; round++ {
		for i := 0; i < 20; i++ {
			e.send(q, spec{body: strings.Repeat("m", 200), persistent: true})
		}
		for _, en := range c.Fetch(nil, 20) {
			c.Accept(en)
		}
		e.flush()
		if err := e.st.Reclaim(); err != nil {
			t.Fatal(err)
		}
	}
	st := e.st.Stats()
	if st.Segments > 2+slackSegments+2 || st.Messages != 1 || st.Reclaimed < 50 {
		t.Fatalf("after 1000 messages consumed: %d files, %d bytes, %d messages, %d reclaimed, %d carried", st.Segments, st.Bytes, st.Messages, st.Reclaimed, st.Carried)
	}
	e = e.crash(nil)
	if g := bodies(e.b.Queue("q")); !reflect.DeepEqual(g, []string{"pinned"}) {
		t.Fatalf("after reclaiming: %v", g)
	}
}

// fixHeaderCRC recomputes a journal file header's checksum (its format:
// package journal).
func fixHeaderCRC(hdr []byte) {
	binary.LittleEndian.PutUint32(hdr[32:], crc32.Checksum(hdr[:32], crc32.MakeTable(crc32.Castagnoli)))
}

// A queue set aside (an HA backup's old incarnation of a replaced queue)
// comes back under its aside name with its messages and without its
// bindings, beside the new queue of its old name; dropped, it is gone.
func TestSetAside(t *testing.T) {
	e := start(t, vfs.NewMem())
	q := e.queue("q", broker.Args{"durable": true})
	e.send(q, spec{body: "old-1", persistent: true})
	e.send(q, spec{body: "old-2", persistent: true})
	e.b.Bind("amq.direct", "q", "k", nil)
	if _, err := e.b.SetQueueAside("q", "qpid.ha-aside.q.1"); err != nil {
		t.Fatal(err)
	}
	q = e.queue("q", broker.Args{"durable": true})
	e.send(q, spec{body: "new", persistent: true})
	e.flush()
	e = e.crash(nil)
	if g := bodies(e.b.Queue("qpid.ha-aside.q.1")); !reflect.DeepEqual(g, []string{"old-1", "old-2"}) {
		t.Fatalf("set aside: %v", g)
	}
	if g := bodies(e.b.Queue("q")); !reflect.DeepEqual(g, []string{"new"}) {
		t.Fatalf("q: %v", g)
	}
	if bs := e.b.Exchange("amq.direct").Bindings(); len(bs) != 0 {
		t.Fatalf("the set-aside queue's binding came back: %v", bs)
	}
	// Dropped (the backup is ready again): gone for good.
	aside, err := e.b.SetQueueAside("qpid.ha-aside.q.1", "qpid.ha-aside.q.2")
	if err != nil {
		t.Fatal(err)
	}
	e.b.DropAside(aside)
	e.flush()
	e = e.crash(nil)
	if e.b.Queue("qpid.ha-aside.q.1") != nil || e.b.Queue("qpid.ha-aside.q.2") != nil || len(e.b.Queues()) != 1 {
		t.Fatalf("queues after the drop: %v", e.b.Queues())
	}
}
