package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store/journal"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// fuzzBody is a message body that proves itself: n and a hash of n. A
// recovered message with any other body was invented by the recovery.
func fuzzBody(n int) string {
	h := sha256.Sum256([]byte(strconv.Itoa(n)))
	return fmt.Sprintf("%d.%s", n, hex.EncodeToString(h[:8]))
}

func genuine(body string) bool {
	n, _, ok := strings.Cut(body, ".")
	i, err := strconv.Atoi(n)
	return ok && err == nil && fuzzBody(i) == body
}

// seedJournal writes a journal through the store: queues, an exchange,
// bindings, messages (some consumed, one failed), a committed and an
// uncommitted transaction; all of it in one file.
func seedJournal(t testing.TB, messages int) (journal []byte, sent map[string]bool) {
	sent = map[string]bool{}
	fs := vfs.NewMem()
	st, rec, err := Open(Config{Dir: "/s", FS: fs, SegmentSize: 64 << 20, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fs: fs, st: st, rec: rec}
	if e.b, err = broker.New(broker.Config{}); err != nil {
		t.Fatal(err)
	}
	e.b.SetJournal(st)
	q := e.queue("q", broker.Args{"durable": true, "qpid.max_count": int64(1000)})
	lvq := e.queue("lvq", broker.Args{"durable": true, "qpid.last_value_queue_key": "k"})
	e.b.DeclareExchange("x", broker.Topic, broker.ExchangeSettings{Durable: true})
	e.b.Bind("x", "q", "a.#", nil)
	e.b.Bind("amq.direct", "lvq", "k", broker.Args{"a": int64(1)})
	for i := 0; i < messages; i++ {
		e.send(q, spec{body: fuzzBody(i), persistent: true, priority: uint8(i % 10)})
		e.send(lvq, spec{body: fuzzBody(1000 + i), persistent: true, props: types.Map{{Key: "k", Value: i % 3}}})
		sent[fuzzBody(i)], sent[fuzzBody(1000+i)] = true, true
	}
	c, _ := q.Subscribe("c", func() {})
	if got := c.Fetch(nil, 3); len(got) == 3 {
		c.Accept(got[0])
		c.Release(got[1], true)
		c.AcceptTx(got[2], "t1")
	}
	q.EnqueueTx(e.msg(spec{body: fuzzBody(5000), persistent: true}), "t1")
	sent[fuzzBody(5000)] = true
	e.b.CommitJournal("t1")
	q.EnqueueTx(e.msg(spec{body: fuzzBody(5001), persistent: true}), "t2") // never committed
	e.flush()
	data, err := vfs.ReadAll(fs, "journal/0000000000000001.jnl")
	if err != nil {
		t.Fatal(err)
	}
	return data, sent
}

// FuzzRecover recovers a store from one journal file: seeded with journals
// the store wrote, mutated (truncated, bits flipped, bytes spliced). Never
// a panic; never a message that was not written (every body the seeds hold
// proves itself); and recovering a second time finds the same. (What
// recovery allocates is bounded by the file's size:
// TestRecoveryAllocationBounded.)
func FuzzRecover(f *testing.F) {
	for _, n := range []int{0, 1, 5, 40} {
		data, _ := seedJournal(f, n)
		f.Add(data)
		f.Add(data[:len(data)*2/3])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := vfs.NewMem()
		if err := fs.MkdirAll(JournalDir); err != nil {
			t.Fatal(err)
		}
		file, _ := fs.Create("journal/0000000000000001.jnl")
		file.WriteAt(data, 0)
		file.Sync()
		fs.SyncDir(JournalDir)
		st, rec, err := Open(Config{Dir: "/s", FS: fs, Manual: true})
		if err != nil {
			return // a journal of another version, a record that does not decode
		}
		st.Close()
		count := 0
		for _, q := range rec.Queues {
			for _, m := range q.Messages {
				if body := bodyOf(m.Msg); !genuine(body) {
					t.Fatalf("queue %s: invented message %q", q.Name, body)
				}
				count++
			}
		}
		st2, rec2, err := Open(Config{Dir: "/s", FS: fs.Crash(nil), Manual: true})
		if err != nil {
			t.Fatalf("the second recovery failed: %v", err)
		}
		st2.Close()
		if rec2.Messages() != count || rec2.Journal.Damage != nil || len(rec2.Queues) != len(rec.Queues) {
			t.Fatalf("the second recovery found %d messages (damage %v), the first %d", rec2.Messages(), rec2.Journal.Damage, count)
		}
	})
}

// Every prefix of a journal recovers a state the journal passed through,
// each longer prefix no fewer records; every single bit flipped recovers
// what the records before it say: never an invented message, never one of
// the transaction that did not commit.
func TestTruncatedAndFlippedJournals(t *testing.T) {
	data, sent := seedJournal(t, 8)
	whole := recoverBytes(t, data)
	if len(whole) == 0 || whole[fuzzBody(5001)] {
		t.Fatalf("the whole journal recovers %v", whole)
	}
	for cut := 0; cut <= len(data); cut += 1 + cut/64 {
		for body := range recoverBytes(t, data[:cut]) {
			if !sent[body] {
				t.Fatalf("cut at %d: %q was never sent in a committed way", cut, body)
			}
		}
	}
	for i := 0; i < len(data)*8; i += 7 {
		flipped := append([]byte(nil), data...)
		flipped[i/8] ^= 1 << (i % 8)
		for body := range recoverBytes(t, flipped) {
			if !sent[body] || !genuine(body) {
				t.Fatalf("bit %d flipped: %q came back", i, body)
			}
		}
	}
}

func recoverBytes(t *testing.T, data []byte) map[string]bool {
	fs := vfs.NewMem()
	fs.MkdirAll(JournalDir)
	file, _ := fs.Create("journal/0000000000000001.jnl")
	file.WriteAt(data, 0)
	file.Sync()
	fs.SyncDir(JournalDir)
	st, rec, err := Open(Config{Dir: "/s", FS: fs, Manual: true})
	if err != nil {
		return nil
	}
	st.Close()
	out := map[string]bool{}
	for _, q := range rec.Queues {
		for _, m := range q.Messages {
			out[bodyOf(m.Msg)] = true
		}
	}
	return out
}

// What recovery allocates is bounded by the journal's size, whatever its
// records claim: lengths, counts and sizes larger than the bytes there are
// errors, not allocations.
func TestRecoveryAllocationBounded(t *testing.T) {
	huge := binary.AppendUvarint(nil, 1<<40)
	hugeMap := []byte{0xd1, 0x00, 0x00, 0x00, 0x10, 0x7f, 0xff, 0xff, 0xff} // map32: 16 bytes, 2^31 entries
	crafted := map[string][]byte{
		"a name of 2^40 bytes":     append(putUvarint(nil, 1), huge...),
		"arguments of 2^31 pairs":  append(putString(putString(putString(putUvarint(nil, 1), "q"), "id"), ""), hugeMap...),
		"a message id of 2^40":     huge,
		"an enqueue with no bytes": putUvarint(nil, 7),
	}
	kinds := map[string]byte{"a name of 2^40 bytes": recQueue, "arguments of 2^31 pairs": recQueue,
		"a message id of 2^40": recEnqueue, "an enqueue with no bytes": recEnqueue}
	for name, payload := range crafted {
		fs := vfs.NewMem()
		j, _, err := journal.Open(journal.Config{FS: fs, Dir: JournalDir, Manual: true}, func(journal.Record) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		j.Append(kinds[name], nil, payload)
		j.Close()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err = Open(Config{Dir: "/s", FS: fs.Crash(nil), Manual: true})
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("%s: recovered", name)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: recovery allocated %d bytes", name, grew)
		}
	}
	// A record claiming a gigabyte in a small file is a torn tail.
	data, _ := seedJournal(t, 40)
	bad := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(bad[40+4:], 1<<30)
	for _, in := range [][]byte{data, bad} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		recoverBytes(t, in)
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(64*len(in)+1<<20) {
			t.Errorf("recovering %d bytes allocated %d", len(in), grew)
		}
	}
}
