package broker

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// step is one action of a queue script. Consumers are named; each holds the
// entries it fetched, found again by body.
type step struct {
	c    string   // consumer (subscribed on first use)
	op   string   // put, fetch, accept, release, fail (release counting the attempt), reject, close
	msgs []string // bodies to put or settle; for fetch, the bodies expected
	n    int      // fetch: how many at most
}

// runScript plays steps against q.
func runScript(t *testing.T, q *Queue, steps []step) {
	t.Helper()
	subs := map[string]*sub{}
	held := map[string]map[string]*Entry{}
	consumer := func(name string) *sub {
		if subs[name] == nil {
			subs[name] = subscribe(t, q, name)
			held[name] = map[string]*Entry{}
		}
		return subs[name]
	}
	for i, s := range steps {
		where := fmt.Sprintf("step %d (%s %s %v)", i, s.c, s.op, s.msgs)
		switch s.op {
		case "put":
			enqueue(t, q, s.msgs...)
			continue
		case "fetch":
			c := consumer(s.c)
			es := c.fetch(s.n)
			if got := bodies(t, es); !eq(got, s.msgs) {
				t.Fatalf("%s: fetched %v, want %v", where, got, s.msgs)
			}
			for _, e := range es {
				held[s.c][bodyOf(t, e.Msg)] = e
			}
			continue
		case "close":
			consumer(s.c).Close()
			held[s.c] = map[string]*Entry{}
			continue
		}
		c := consumer(s.c)
		for _, m := range s.msgs {
			e := held[s.c][m]
			if e == nil {
				t.Fatalf("%s: %s holds no %q", where, s.c, m)
			}
			delete(held[s.c], m)
			switch s.op {
			case "accept":
				c.Accept(e)
			case "release":
				c.Release(e, false)
			case "fail":
				c.Release(e, true)
			case "reject":
				c.Reject(e)
			default:
				t.Fatalf("%s: unknown op", where)
			}
		}
	}
}

func TestQueueOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		left  []string // what a fresh consumer finds at the end
	}{
		{"fifo", []step{
			{"c1", "put", []string{"1", "2", "3"}, 0},
			{"c1", "fetch", []string{"1", "2"}, 2},
			{"c1", "fetch", []string{"3"}, 5},
			{"c1", "fetch", []string{}, 5},
			{"c1", "accept", []string{"1", "2", "3"}, 0},
		}, []string{}},
		{"a released message comes back before later ones", []step{
			{"c1", "put", []string{"1", "2", "3", "4", "5"}, 0},
			{"c1", "fetch", []string{"1", "2"}, 2},
			{"c1", "release", []string{"1"}, 0},
			{"c1", "fetch", []string{"1", "3"}, 2},
			{"c1", "accept", []string{"2"}, 0},
			{"c1", "fetch", []string{"4", "5"}, 10},
			{"c1", "fail", []string{"3"}, 0},
			{"c1", "release", []string{"5"}, 0},
			{"c1", "fetch", []string{"3", "5"}, 10},
			{"c1", "accept", []string{"1", "3", "4", "5"}, 0},
		}, []string{}},
		{"release in reverse order keeps queue order", []step{
			{"c1", "put", []string{"1", "2", "3", "4"}, 0},
			{"c1", "fetch", []string{"1", "2", "3"}, 3},
			{"c1", "release", []string{"3", "1", "2"}, 0},
			{"c1", "put", []string{"5"}, 0},
		}, []string{"1", "2", "3", "4", "5"}},
		{"released messages go to whoever fetches next", []step{
			{"c1", "put", []string{"1", "2", "3", "4", "5"}, 0},
			{"c1", "fetch", []string{"1"}, 1},
			{"c2", "fetch", []string{"2"}, 1},
			{"c1", "release", []string{"1"}, 0},
			{"c2", "fetch", []string{"1", "3"}, 2},
			{"c1", "fetch", []string{"4", "5"}, 5},
			{"c2", "accept", []string{"1", "2", "3"}, 0},
			{"c1", "release", []string{"5"}, 0},
		}, []string{"5"}},
		{"a closed consumer's messages return in place", []step{
			{"c1", "put", []string{"1", "2", "3", "4"}, 0},
			{"c1", "fetch", []string{"1", "2", "3"}, 3},
			{"c1", "accept", []string{"2"}, 0},
			{"c1", "close", nil, 0},
			{"c2", "fetch", []string{"1", "3", "4"}, 10},
			{"c2", "release", []string{"1", "3", "4"}, 0},
		}, []string{"1", "3", "4"}},
		{"rejected messages are gone", []step{
			{"c1", "put", []string{"1", "2", "3"}, 0},
			{"c1", "fetch", []string{"1", "2"}, 2},
			{"c1", "reject", []string{"1"}, 0},
			{"c1", "release", []string{"2"}, 0},
		}, []string{"2", "3"}},
		{"messages put while others are out", []step{
			{"c1", "put", []string{"1"}, 0},
			{"c1", "fetch", []string{"1"}, 5},
			{"c1", "put", []string{"2"}, 0},
			{"c1", "release", []string{"1"}, 0},
			{"c1", "put", []string{"3"}, 0},
		}, []string{"1", "2", "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue("q", QueueSettings{})
			runScript(t, q, tc.steps)
			if got := drain(t, q); !eq(got, tc.left) {
				t.Errorf("left on the queue: %v, want %v", got, tc.left)
			}
		})
	}
}

func TestQueueAgainstModel(t *testing.T) {
	// Random puts, fetches, accepts, releases and rejects, long enough for
	// the lanes to compact many times, checked against a plain model: the
	// available messages ordered by priority level, then position.
	for _, levels := range []int{0, 3, 10} {
		t.Run(fmt.Sprint("levels ", levels), func(t *testing.T) {
			rng := rand.New(rand.NewSource(int64(levels) + 1))
			q := NewQueue("q", QueueSettings{Priorities: levels})
			level := func(p uint8) int {
				if levels <= 1 {
					return 0
				}
				first := 5 - min(5, (levels+1)/2)
				if int(p) <= first {
					return 0
				}
				return min(int(p)-first, levels-1)
			}
			type modelEntry struct {
				pos   uint64
				level int
			}
			avail := map[uint64]modelEntry{}
			consumers := []*sub{subscribe(t, q, "a"), subscribe(t, q, "b")}
			held := [][]*Entry{nil, nil}
			var puts, gone int
			for i := 0; i < 5000; i++ {
				switch r := rng.Intn(10); {
				case r < 4:
					p := uint8(rng.Intn(10))
					e, err := q.Enqueue(prio(t, p, fmt.Sprint(puts)))
					if err != nil {
						t.Fatal(err)
					}
					puts++
					avail[e.Pos] = modelEntry{e.Pos, level(p)}
				case r < 7:
					ci := rng.Intn(2)
					n := rng.Intn(4) + 1
					var want []modelEntry
					for _, m := range avail {
						want = append(want, m)
					}
					sort.Slice(want, func(i, j int) bool {
						if want[i].level != want[j].level {
							return want[i].level > want[j].level
						}
						return want[i].pos < want[j].pos
					})
					want = want[:min(n, len(want))]
					got := consumers[ci].fetch(n)
					if len(got) != len(want) {
						t.Fatalf("op %d: fetched %d, want %d", i, len(got), len(want))
					}
					for k := range got {
						if got[k].Pos != want[k].pos {
							t.Fatalf("op %d: fetched position %d, want %d", i, got[k].Pos, want[k].pos)
						}
						delete(avail, got[k].Pos)
					}
					held[ci] = append(held[ci], got...)
				default:
					ci := rng.Intn(2)
					if len(held[ci]) == 0 {
						continue
					}
					k := rng.Intn(len(held[ci]))
					e := held[ci][k]
					held[ci] = append(held[ci][:k], held[ci][k+1:]...)
					switch rng.Intn(3) {
					case 0:
						consumers[ci].Accept(e)
						gone++
					case 1:
						consumers[ci].Reject(e)
						gone++
					default:
						consumers[ci].Release(e, rng.Intn(2) == 0)
						avail[e.Pos] = modelEntry{e.Pos, level(e.Msg.Header.Priority)}
					}
				}
			}
			st := q.Stats()
			if st.Enqueues != uint64(puts) || st.Dequeues != uint64(gone) || st.Depth != puts-gone {
				t.Errorf("stats %+v after %d puts and %d removals", st, puts, gone)
			}
		})
	}
}

func TestDeliveryCountAndFirstAcquirer(t *testing.T) {
	h := types.DefaultHeader()
	h.DeliveryCount = 3
	q := NewQueue("q", QueueSettings{})
	if _, err := q.Enqueue(body(t, "plain")); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(msg(t, mo{Header: &h, Body: "counted"})); err != nil {
		t.Fatal(err)
	}
	c := subscribe(t, q, "c")

	type want struct {
		count uint32
		first bool
	}
	check := func(stage string, es []*Entry, w ...want) {
		t.Helper()
		if len(es) != len(w) {
			t.Fatalf("%s: %d entries, want %d", stage, len(es), len(w))
		}
		for i, e := range es {
			if e.DeliveryCount() != w[i].count || e.FirstAcquirer() != w[i].first {
				t.Errorf("%s: %s: delivery-count %d first-acquirer %v, want %d %v",
					stage, bodyOf(t, e.Msg), e.DeliveryCount(), e.FirstAcquirer(), w[i].count, w[i].first)
			}
		}
	}
	es := c.fetch(2)
	check("first delivery", es, want{0, true}, want{3, true})

	// A plain release (released outcome) is not a failed attempt, but the
	// next acquirer is not the first.
	c.Release(es[0], false)
	c.Release(es[1], false)
	es = c.fetch(2)
	check("after release", es, want{0, false}, want{3, false})

	// modified with delivery-failed counts.
	c.Release(es[0], true)
	c.Release(es[1], true)
	es = c.fetch(2)
	check("after a failed delivery", es, want{1, false}, want{4, false})

	// A consumer that goes away with messages counts them as failed.
	c.Close()
	c2 := subscribe(t, q, "c2")
	es = c2.fetch(2)
	check("after the consumer closed", es, want{2, false}, want{5, false})
	if es[0].Pos != 1 || es[1].Pos != 2 {
		t.Errorf("positions %d %d, want 1 2", es[0].Pos, es[1].Pos)
	}
}

func TestSettleOnlyOwnEntries(t *testing.T) {
	q := NewQueue("q", QueueSettings{})
	enqueue(t, q, "1", "2")
	c1 := subscribe(t, q, "c1")
	c2 := subscribe(t, q, "c2")
	e := c1.fetch(1)[0]
	// Another consumer cannot settle an entry it does not hold.
	c2.Accept(e)
	c2.Reject(e)
	c2.Release(e, true)
	if e.DeliveryCount() != 0 || q.Depth() != 2 {
		t.Fatalf("c2 settled c1's entry: depth %d, delivery-count %d", q.Depth(), e.DeliveryCount())
	}
	if got := bodies(t, c2.fetch(5)); !eq(got, []string{"2"}) {
		t.Errorf("c2 fetched %v, want [2]", got)
	}
	// Settling twice is harmless; so is settling after close.
	c1.Accept(e)
	c1.Accept(e)
	c1.Release(e, true)
	if st := q.Stats(); st.Depth != 1 || st.Dequeues != 1 {
		t.Errorf("stats after double accept: %+v", st)
	}
	c2.Close()
	c2.Close()
	c2.Accept(e)
	if got := c2.Fetch(nil, 5); len(got) != 0 {
		t.Errorf("a closed consumer fetched %d", len(got))
	}
	if q.Consumers() != 1 {
		t.Errorf("%d consumers, want 1", q.Consumers())
	}
}

func TestFetchAppendsToBuffer(t *testing.T) {
	q := NewQueue("q", QueueSettings{})
	enqueue(t, q, "1", "2", "3", "4")
	c := subscribe(t, q, "c")
	buf := c.Fetch(nil, 1)
	buf = c.Fetch(buf, 2) // max counts what is added, not the total
	if got := bodies(t, buf); !eq(got, []string{"1", "2", "3"}) {
		t.Errorf("Fetch appending: %v", got)
	}
	if got := c.Fetch(buf[:0], 0); len(got) != 0 {
		t.Errorf("Fetch of 0 returned %d", len(got))
	}
	if c.notifications() != 0 {
		t.Errorf("notified without a short fetch")
	}
}

func TestWakeUpRoundRobin(t *testing.T) {
	q := NewQueue("q", QueueSettings{})
	c1, c2, c3 := subscribe(t, q, "c1"), subscribe(t, q, "c2"), subscribe(t, q, "c3")
	expect := func(stage string, n1, n2, n3 int) {
		t.Helper()
		g1, g2, g3 := c1.notifications(), c2.notifications(), c3.notifications()
		if g1 != n1 || g2 != n2 || g3 != n3 {
			t.Errorf("%s: notified %d %d %d times, want %d %d %d", stage, g1, g2, g3, n1, n2, n3)
		}
	}
	// Nobody is notified before asking.
	enqueue(t, q, "0")
	expect("enqueue before any fetch", 0, 0, 0)
	if got := bodies(t, c1.fetch(1)); !eq(got, []string{"0"}) {
		t.Fatalf("fetch: %v", got)
	}
	// A fetch that got all it asked for does not wait.
	enqueue(t, q, "00")
	expect("after a full fetch", 0, 0, 0)
	drainWith := func(c *sub) []*Entry { return c.fetch(100) }
	for _, e := range drainWith(c1) {
		c1.Accept(e)
	}
	// c1 came back short: it waits. c2 and c3 too, in that order.
	c2.fetch(1)
	c3.fetch(1)
	expect("short fetches", 0, 0, 0)

	enqueue(t, q, "1")
	expect("first message", 1, 0, 0)
	enqueue(t, q, "2")
	expect("second message", 0, 1, 0)
	enqueue(t, q, "3")
	expect("third message", 0, 0, 1)
	enqueue(t, q, "4")
	expect("nobody waiting", 0, 0, 0)

	// c2 takes everything and waits again; only it is woken next.
	es := c2.fetch(10)
	if got := bodies(t, es); !eq(got, []string{"1", "2", "3", "4"}) {
		t.Fatalf("c2 fetched %v", got)
	}
	enqueue(t, q, "5")
	expect("c2 waits again", 0, 1, 0)

	// A short fetch while already waiting does not queue the consumer twice.
	c1.fetch(10) // takes 5
	c1.fetch(10)
	c1.fetch(10)
	enqueue(t, q, "6")
	expect("c1 waiting once", 1, 0, 0)
	enqueue(t, q, "7")
	expect("c1 no longer waiting", 0, 0, 0)

	// A release wakes a waiting consumer.
	c3.fetch(10) // takes 6 and 7, waits
	c2.Release(es[0], false)
	expect("release", 0, 0, 1)
	c2.Release(es[1], false)
	expect("release with nobody waiting", 0, 0, 0)

	// A closing consumer's messages wake one waiter each.
	c1.fetch(10) // takes 1 and 2, waits
	c3.fetch(10) // nothing, waits
	c2.fetch(10) // nothing, waits
	c2.Close()   // c2 held 3 and 4
	expect("close with two messages", 1, 0, 1)

	// A closed consumer that was waiting is skipped.
	c1.fetch(10) // takes 3 4, waits
	c3.fetch(10) // waits
	c1.Close()   // c1 held 1 2 3 4: wakes c3 only once, nobody else waits
	expect("close wakes the remaining waiter", 0, 0, 1)
	enqueue(t, q, "8")
	expect("closed consumers are never woken", 0, 0, 0)
}

func TestLimits(t *testing.T) {
	size := int64(body(t, "0").Size())
	for _, tc := range []struct {
		name    string
		s       QueueSettings
		steps   []step
		refused []string // bodies whose Enqueue must fail
		left    []string
	}{
		{"max count, reject", QueueSettings{MaxCount: 3},
			[]step{{"p", "put", []string{"1", "2", "3"}, 0}},
			[]string{"4", "5"}, []string{"1", "2", "3"}},
		{"max bytes, reject", QueueSettings{MaxBytes: 3 * size},
			[]step{{"p", "put", []string{"1", "2", "3"}, 0}},
			[]string{"4"}, []string{"1", "2", "3"}},
		{"room after accept", QueueSettings{MaxCount: 2},
			[]step{
				{"p", "put", []string{"1", "2"}, 0},
				{"c", "fetch", []string{"1"}, 1},
				{"c", "accept", []string{"1"}, 0},
				{"p", "put", []string{"3"}, 0},
			},
			[]string{"4"}, []string{"2", "3"}},
		{"acquired messages count", QueueSettings{MaxCount: 2},
			[]step{
				{"p", "put", []string{"1", "2"}, 0},
				{"c", "fetch", []string{"1", "2"}, 2},
				{"c", "release", []string{"1", "2"}, 0},
			},
			[]string{"3"}, []string{"1", "2"}},
		{"ring by count drops the oldest", QueueSettings{MaxCount: 3, Policy: PolicyRing},
			[]step{{"p", "put", []string{"1", "2", "3", "4", "5"}, 0}},
			nil, []string{"3", "4", "5"}},
		{"ring by bytes drops the oldest", QueueSettings{MaxBytes: 2 * size, Policy: PolicyRing},
			[]step{{"p", "put", []string{"1", "2", "3"}, 0}},
			nil, []string{"2", "3"}},
		{"ring never drops acquired messages", QueueSettings{MaxCount: 3, Policy: PolicyRing},
			[]step{
				{"p", "put", []string{"1", "2", "3"}, 0},
				{"c", "fetch", []string{"1"}, 1},
				{"p", "put", []string{"4", "5"}, 0},
				{"c", "release", []string{"1"}, 0},
			},
			nil, []string{"1", "4", "5"}},
		{"ring drops released messages in queue order", QueueSettings{MaxCount: 3, Policy: PolicyRing},
			[]step{
				{"p", "put", []string{"1", "2", "3"}, 0},
				{"c", "fetch", []string{"1", "2"}, 2},
				{"c", "release", []string{"2"}, 0},
				{"p", "put", []string{"4"}, 0}, // drops 2: 1 is out
				{"c", "release", []string{"1"}, 0},
			},
			nil, []string{"1", "3", "4"}},
		{"ring refuses when everything is acquired", QueueSettings{MaxCount: 2, Policy: PolicyRing},
			[]step{
				{"p", "put", []string{"1", "2"}, 0},
				{"c", "fetch", []string{"1", "2"}, 2},
			},
			[]string{"3"}, nil /* c still holds 1 and 2 */},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue("q", tc.s)
			runScript(t, q, tc.steps)
			before := q.Stats()
			for _, r := range tc.refused {
				_, err := q.Enqueue(body(t, r))
				wantErr(t, "Enqueue("+r+")", err, ErrQueueFull)
			}
			if after := q.Stats(); after != before {
				t.Errorf("refusals changed the stats: %+v, then %+v", before, after)
			}
			if got := drain(t, q); tc.left != nil && !eq(got, tc.left) {
				t.Errorf("left %v, want %v", got, tc.left)
			}
		})
	}
}

func TestRingRefusesMessageLargerThanTheLimit(t *testing.T) {
	// qpid's ring queue refuses a message bigger than its byte limit
	// outright; it must not throw away what it holds first.
	small := body(t, "s")
	big := body(t, strings.Repeat("b", 100))
	q := NewQueue("q", QueueSettings{MaxBytes: int64(3 * small.Size()), Policy: PolicyRing})
	enqueue(t, q, "1", "2", "3")
	if _, err := q.Enqueue(big); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue of a message larger than the queue: %v, want ErrQueueFull", err)
	}
	if got := drain(t, q); !eq(got, []string{"1", "2", "3"}) {
		t.Errorf("the refused message emptied the ring: left %v", got)
	}
	if st := q.Stats(); st.Dequeues != 3 || st.Enqueues != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestRingDropsByBytesAsNeeded(t *testing.T) {
	one := int64(body(t, "x").Size())
	twoish := body(t, strings.Repeat("y", int(one))) // about twice the size of one
	q := NewQueue("q", QueueSettings{MaxBytes: 4 * one, Policy: PolicyRing})
	enqueue(t, q, "1", "2", "3", "4")
	if _, err := q.Enqueue(twoish); err != nil {
		t.Fatal(err)
	}
	got := drain(t, q)
	if len(got) != 3 || got[0] != "3" || got[1] != "4" {
		t.Errorf("after a double-size message: %v, want [3 4 yyy...]", got)
	}
}

func TestPriorities(t *testing.T) {
	q := NewQueue("q", QueueSettings{Priorities: 10})
	for _, m := range []struct {
		p uint8
		b string
	}{{0, "a"}, {9, "b"}, {4, "c"}, {9, "d"}, {0, "e"}, {5, "f"}} {
		if _, err := q.Enqueue(prio(t, m.p, m.b)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Enqueue(body(t, "no-header")); err != nil { // priority 4
		t.Fatal(err)
	}
	if got := drain(t, q); !eq(got, []string{"b", "d", "f", "c", "no-header", "a", "e"}) {
		t.Errorf("priority order %v", got)
	}
}

func TestPriorityLevels(t *testing.T) {
	// qpid maps priorities 0-9 onto N levels the AMQP 0-10 way (rule
	// priority-level-implementation): priorities up to 5-ceil(N/2) share
	// the lowest level, then each priority gets its own level until the
	// highest, which takes the rest.
	for _, tc := range []struct {
		levels int
		level  [10]int // level of priority 0..9
	}{
		{0, [10]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{1, [10]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{2, [10]int{0, 0, 0, 0, 0, 1, 1, 1, 1, 1}},
		{3, [10]int{0, 0, 0, 0, 1, 2, 2, 2, 2, 2}},
		{4, [10]int{0, 0, 0, 0, 1, 2, 3, 3, 3, 3}},
		{5, [10]int{0, 0, 0, 1, 2, 3, 4, 4, 4, 4}},
		{6, [10]int{0, 0, 0, 1, 2, 3, 4, 5, 5, 5}},
		{8, [10]int{0, 0, 1, 2, 3, 4, 5, 6, 7, 7}},
		{10, [10]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
	} {
		t.Run(fmt.Sprint(tc.levels), func(t *testing.T) {
			q := NewQueue("q", QueueSettings{Priorities: tc.levels})
			type sent struct {
				body  string
				level int
			}
			var all []sent
			// Two rounds, so FIFO order within a level shows too.
			for round := 0; round < 2; round++ {
				for p := 0; p < 10; p++ {
					b := fmt.Sprintf("p%d-%d", p, round)
					if _, err := q.Enqueue(prio(t, uint8(p), b)); err != nil {
						t.Fatal(err)
					}
					all = append(all, sent{b, tc.level[p]})
				}
			}
			// Out-of-range priorities go to the top level.
			if _, err := q.Enqueue(prio(t, 200, "p200")); err != nil {
				t.Fatal(err)
			}
			all = append(all, sent{"p200", tc.level[9]})
			sort.SliceStable(all, func(i, j int) bool { return all[i].level > all[j].level })
			var want []string
			for _, s := range all {
				want = append(want, s.body)
			}
			if got := drain(t, q); !eq(got, want) {
				t.Errorf("order %v,\n want %v", got, want)
			}
		})
	}
}

func TestPriorityReleaseKeepsPlace(t *testing.T) {
	q := NewQueue("q", QueueSettings{Priorities: 10})
	put := func(p uint8, b string) {
		if _, err := q.Enqueue(prio(t, p, b)); err != nil {
			t.Fatal(err)
		}
	}
	put(5, "a")
	put(5, "b")
	put(5, "c")
	put(1, "d")
	c := subscribe(t, q, "c")
	es := c.fetch(2)
	if got := bodies(t, es); !eq(got, []string{"a", "b"}) {
		t.Fatalf("fetched %v", got)
	}
	c.Release(es[0], false)
	put(5, "e")
	put(9, "f")
	c.Release(es[1], true)
	es = c.fetch(10)
	if got := bodies(t, es); !eq(got, []string{"f", "a", "b", "c", "e", "d"}) {
		t.Errorf("after release: %v", got)
	}
}

func TestLastValueQueue(t *testing.T) {
	kv := func(key any, b string) mo {
		if key == nil {
			return mo{Body: b}
		}
		return mo{Props: props("k", key, "other", "x"), Body: b}
	}
	for _, tc := range []struct {
		name string
		puts []mo
		want []string
	}{
		{"newest value wins, at the end", []mo{kv("x", "x1"), kv("y", "y1"), kv("x", "x2")}, []string{"y1", "x2"}},
		{"many replacements", []mo{kv("x", "1"), kv("x", "2"), kv("x", "3"), kv("x", "4")}, []string{"4"}},
		{"messages without the key are kept", []mo{kv(nil, "a"), kv(nil, "b"), kv("x", "x1"), kv(nil, "c")}, []string{"a", "b", "x1", "c"}},
		{"integer keys", []mo{kv(int32(1), "one"), kv(int32(2), "two"), kv(int32(1), "uno")}, []string{"two", "uno"}},
		{"keys are case-sensitive", []mo{kv("x", "lower"), kv("X", "upper")}, []string{"lower", "upper"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue("q", QueueSettings{LVQKey: "k"})
			for _, o := range tc.puts {
				if _, err := q.Enqueue(msg(t, o)); err != nil {
					t.Fatal(err)
				}
			}
			st := q.Stats()
			if got := drain(t, q); !eq(got, tc.want) {
				t.Errorf("left %v, want %v", got, tc.want)
			}
			if st.Depth != len(tc.want) || st.Enqueues != uint64(len(tc.puts)) || st.Dequeues != uint64(len(tc.puts)-len(tc.want)) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestLastValueQueueKeepsAcquired(t *testing.T) {
	q := NewQueue("q", QueueSettings{LVQKey: "k"})
	put := func(key, b string) {
		if _, err := q.Enqueue(msg(t, mo{Props: props("k", key), Body: b})); err != nil {
			t.Fatal(err)
		}
	}
	put("x", "x1")
	c := subscribe(t, q, "c")
	es := c.fetch(1)
	put("x", "x2") // x1 is being delivered: it stays
	if d := q.Depth(); d != 2 {
		t.Fatalf("depth %d, want 2", d)
	}
	put("x", "x3") // x2 was available: replaced
	c.Accept(es[0])
	if got := drain(t, q); !eq(got, []string{"x3"}) {
		t.Errorf("left %v, want [x3]", got)
	}
}

func TestLastValueQueueRefusalKeepsOldValue(t *testing.T) {
	old := msg(t, mo{Props: props("k", "x"), Body: "old"})
	huge := msg(t, mo{Props: props("k", "x"), Body: strings.Repeat("h", 200)})
	q := NewQueue("q", QueueSettings{LVQKey: "k", MaxBytes: int64(old.Size()) + 50})
	if _, err := q.Enqueue(old); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(huge); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Enqueue of a value larger than the queue: %v, want ErrQueueFull", err)
	}
	if got := drain(t, q); !eq(got, []string{"old"}) {
		t.Errorf("a refused value destroyed the last value: left %v", got)
	}

	// At a full count, a replacement fits since it takes the old one's place.
	q = NewQueue("q", QueueSettings{LVQKey: "k", MaxCount: 2})
	for _, o := range []mo{{Props: props("k", "x"), Body: "x1"}, {Props: props("k", "y"), Body: "y1"}, {Props: props("k", "x"), Body: "x2"}} {
		if _, err := q.Enqueue(msg(t, o)); err != nil {
			t.Fatalf("Enqueue(%s): %v", o.Body, err)
		}
	}
	if _, err := q.Enqueue(msg(t, mo{Props: props("k", "z"), Body: "z1"})); !errors.Is(err, ErrQueueFull) {
		t.Errorf("a new key on a full queue: %v, want ErrQueueFull", err)
	}
	if got := drain(t, q); !eq(got, []string{"y1", "x2"}) {
		t.Errorf("left %v, want [y1 x2]", got)
	}
}

func TestLegacyLastValueQueue(t *testing.T) {
	s, err := ParseQueueArgs(Args{"qpid.last_value_queue": true})
	if err != nil {
		t.Fatal(err)
	}
	q := NewQueue("q", s)
	for _, o := range []mo{
		{Props: props("qpid.LVQ_key", "a"), Body: "a1"},
		{Props: props("k", "a"), Body: "other-key"},
		{Props: props("qpid.LVQ_key", "a"), Body: "a2"},
	} {
		if _, err := q.Enqueue(msg(t, o)); err != nil {
			t.Fatal(err)
		}
	}
	if got := drain(t, q); !eq(got, []string{"other-key", "a2"}) {
		t.Errorf("legacy LVQ left %v", got)
	}
}

func TestExpiry(t *testing.T) {
	clk := newClock()
	b := newBroker(t, Config{Now: clk.Now})
	declare(t, b, "dlq", QueueSettings{})
	bind(t, b, "amq.fanout", "dlq", "", nil)
	q := declare(t, b, "q", QueueSettings{AlternateExchange: "amq.fanout"})
	start := clk.Now()
	withBoth := func(ttl, abs int, s string) {
		h := types.DefaultHeader()
		h.TTL = types.Some(uint32(ttl * 1000))
		if _, err := q.Enqueue(msg(t, mo{Header: &h, Expiry: start.Add(sec(abs)), Body: s})); err != nil {
			t.Fatal(err)
		}
	}
	put := func(m mo) {
		if _, err := q.Enqueue(msg(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Enqueue(withTTL(t, sec(10), "ttl10")); err != nil {
		t.Fatal(err)
	}
	put(mo{Body: "forever"})
	put(mo{Expiry: start.Add(sec(5)), Body: "abs5"})
	if _, err := q.Enqueue(withTTL(t, sec(20), "ttl20")); err != nil {
		t.Fatal(err)
	}
	withBoth(10, 30, "ttl10-abs30") // the sooner one counts
	withBoth(30, 2, "ttl30-abs2")
	put(mo{Expiry: start.Add(-sec(1)), Body: "already-expired"})

	// What reaches the dead-letter queue is looked at in place: messages
	// with an absolute expiry time are expired there too.
	var seen uint64
	dlq := func() []string {
		t.Helper()
		out := []string{}
		for _, e := range peekEntries(b.Queue("dlq")) {
			if e.Pos > seen {
				out = append(out, bodyOf(t, e.Msg))
				seen = e.Pos
			}
		}
		return out
	}
	c := subscribe(t, q, "c")

	clk.Advance(sec(1))
	if n := q.Purge(); n != 1 {
		t.Errorf("Purge at 1s removed %d, want 1", n)
	}
	if got := dlq(); !eq(got, []string{"already-expired"}) {
		t.Errorf("dead-lettered at 1s: %v", got)
	}

	clk.Advance(sec(2)) // 3s
	// PurgeExpired covers every queue: ttl30-abs2 on q, and on dlq the
	// already-expired message dead-lettered there before.
	if n := b.PurgeExpired(); n != 2 {
		t.Errorf("PurgeExpired at 3s removed %d, want 2", n)
	}
	if got := dlq(); !eq(got, []string{"ttl30-abs2"}) {
		t.Errorf("dead-lettered at 3s: %v", got)
	}

	clk.Advance(sec(2)) // exactly 5s: abs5 has expired
	es := c.fetch(10)
	if got := bodies(t, es); !eq(got, []string{"ttl10", "forever", "ttl20", "ttl10-abs30"}) {
		t.Errorf("fetched at 5s %v", got)
	}
	if got := dlq(); !eq(got, []string{"abs5"}) {
		t.Errorf("Fetch dead-lettered %v, want [abs5]", got)
	}

	// Acquired messages do not expire under the consumer.
	clk.Advance(sec(6)) // 11s
	if n := q.Purge(); n != 0 {
		t.Errorf("Purge removed %d acquired messages", n)
	}
	for _, e := range es {
		c.Release(e, false)
	}
	if n := q.Purge(); n != 2 {
		t.Errorf("Purge at 11s removed %d, want 2", n)
	}
	if got := dlq(); !eq(got, []string{"ttl10", "ttl10-abs30"}) {
		t.Errorf("dead-lettered at 11s: %v", got)
	}
	es = c.fetch(2)      // forever and ttl20
	clk.Advance(sec(10)) // 21s: ttl20 expired while acquired
	c.Release(es[0], false)
	c.Release(es[1], false)
	if got := bodies(t, c.fetch(10)); !eq(got, []string{"forever"}) {
		t.Errorf("fetched at 21s %v", got)
	}
	if got := dlq(); !eq(got, []string{"ttl20"}) {
		t.Errorf("dead-lettered at 21s: %v", got)
	}
	if st := q.Stats(); st.Depth != 1 || st.Enqueues != 7 || st.Dequeues != 6 {
		t.Errorf("stats %+v", st)
	}
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func TestExpiryWithoutAlternateExchange(t *testing.T) {
	clk := newClock()
	b := newBroker(t, Config{Now: clk.Now})
	q := declare(t, b, "q", QueueSettings{})
	for i := 0; i < 100; i++ {
		if _, err := q.Enqueue(withTTL(t, sec(1), fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, q, "last")
	clk.Advance(sec(1))
	if n := q.Purge(); n != 100 {
		t.Errorf("Purge removed %d of 100 expired messages", n)
	}
	if st := q.Stats(); st.Depth != 1 || st.Dequeues != 100 {
		t.Errorf("stats after purge %+v", st)
	}
	if got := drain(t, q); !eq(got, []string{"last"}) {
		t.Errorf("left %v", got)
	}
}

func TestAlternateExchange(t *testing.T) {
	b := newBroker(t, Config{})
	declare(t, b, "errors", QueueSettings{})
	declare(t, b, "all", QueueSettings{})
	bind(t, b, "amq.topic", "errors", "err.#", nil)
	bind(t, b, "amq.topic", "all", "#", nil)
	if _, _, err := b.DeclareQueue("x", QueueSettings{AlternateExchange: "missing"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown alternate exchange: %v, want ErrNotFound", err)
	}
	q := declare(t, b, "q", QueueSettings{AlternateExchange: "amq.topic"})
	plain := declare(t, b, "plain", QueueSettings{})
	for _, s := range []string{"err.disk", "info", "err.net"} {
		if _, err := q.Enqueue(msg(t, mo{Subject: s, Body: s})); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(t, plain, "p")

	// Rejected messages go to the alternate exchange, routed by subject.
	c := subscribe(t, q, "c")
	es := c.fetch(2)
	c.Reject(es[0])
	c.Reject(es[1])
	if got := drain(t, b.Queue("errors")); !eq(got, []string{"err.disk"}) {
		t.Errorf("errors got %v", got)
	}
	if got := drain(t, b.Queue("all")); !eq(got, []string{"err.disk", "info"}) {
		t.Errorf("all got %v", got)
	}
	// A queue without one just drops them.
	pc := subscribe(t, plain, "pc")
	pc.Reject(pc.fetch(1)[0])
	if plain.Depth() != 0 {
		t.Errorf("plain depth %d", plain.Depth())
	}

	// Deleting the queue sends what it holds, acquired or not.
	enqueue(t, q, "after")
	held := c.fetch(1)
	if got := bodies(t, held); !eq(got, []string{"err.net"}) {
		t.Fatalf("fetched %v", got)
	}
	if err := b.DeleteQueue("q", false, false); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, b.Queue("all")); !eq(got, []string{"err.net", "after"}) {
		t.Errorf("all got %v on deletion", got)
	}
	if got := drain(t, b.Queue("errors")); !eq(got, []string{"err.net"}) {
		t.Errorf("errors got %v on deletion", got)
	}
	// The consumer's settlement of a dead-lettered message does nothing.
	c.Accept(held[0])
	c.Release(held[0], true)
	if st := q.Stats(); st.Depth != 0 || st.Bytes != 0 {
		t.Errorf("deleted queue stats %+v", st)
	}
}

func TestAlternateExchangeFullQueueDrops(t *testing.T) {
	b := newBroker(t, Config{})
	dlq := declare(t, b, "dlq", QueueSettings{MaxCount: 1})
	bind(t, b, "amq.fanout", "dlq", "", nil)
	q := declare(t, b, "q", QueueSettings{AlternateExchange: "amq.fanout"})
	enqueue(t, q, "1", "2")
	c := subscribe(t, q, "c")
	for _, e := range c.fetch(2) {
		c.Reject(e)
	}
	if got := drain(t, dlq); !eq(got, []string{"1"}) {
		t.Errorf("a full alternate queue got %v", got)
	}
	// An alternate exchange deleted since is ignored.
	if _, _, err := b.DeclareExchange("alt", Fanout, ExchangeSettings{}); err != nil {
		t.Fatal(err)
	}
	q2 := declare(t, b, "q2", QueueSettings{AlternateExchange: "alt"})
	if err := b.DeleteExchange("alt", false); err != nil {
		t.Fatal(err)
	}
	enqueue(t, q2, "x")
	c2 := subscribe(t, q2, "c")
	c2.Reject(c2.fetch(1)[0])
	if q2.Depth() != 0 {
		t.Errorf("depth %d", q2.Depth())
	}
}

func TestDeleteQueueWithManyMessages(t *testing.T) {
	// More than enough messages for the lanes to compact while the queue
	// is emptied: every one of them must reach the alternate exchange.
	for _, n := range []int{1, 33, 66, 100, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := newBroker(t, Config{})
			dlq := declare(t, b, "dlq", QueueSettings{})
			bind(t, b, "amq.fanout", "dlq", "", nil)
			q := declare(t, b, "q", QueueSettings{AlternateExchange: "amq.fanout", Priorities: 2})
			var want []string
			for i := 0; i < n; i++ {
				want = append(want, fmt.Sprint(i))
			}
			enqueue(t, q, want...)
			if err := b.DeleteQueue("q", false, false); err != nil {
				t.Fatal(err)
			}
			if st := q.Stats(); st.Depth != 0 || st.Bytes != 0 || st.Dequeues != uint64(n) {
				t.Errorf("deleted queue stats %+v", st)
			}
			if got := drain(t, dlq); !eq(got, want) {
				t.Errorf("dead-lettered %d of %d messages", len(got), n)
			}
		})
	}
}

func TestDeleteQueue(t *testing.T) {
	for _, tc := range []struct {
		name              string
		consumers, depth  int
		ifUnused, ifEmpty bool
		want              error
	}{
		{"unconditional", 1, 1, false, false, nil},
		{"unused and empty", 0, 0, true, true, nil},
		{"if unused, with a consumer", 1, 0, true, false, ErrInUse},
		{"if unused, with messages", 0, 3, true, false, nil},
		{"if empty, with messages", 0, 3, false, true, ErrInUse},
		{"if empty, with a consumer", 2, 0, false, true, nil},
		{"both, with both", 1, 1, true, true, ErrInUse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t, Config{})
			q := declare(t, b, "q", QueueSettings{})
			bind(t, b, "amq.direct", "q", "k", nil)
			for i := 0; i < tc.depth; i++ {
				enqueue(t, q, fmt.Sprint(i))
			}
			var subs []*sub
			for i := 0; i < tc.consumers; i++ {
				s := subscribe(t, q, "c")
				s.fetch(1)
				subs = append(subs, s)
			}
			err := b.DeleteQueue("q", tc.ifUnused, tc.ifEmpty)
			wantErr(t, "DeleteQueue", err, tc.want)
			if tc.want != nil {
				if b.Queue("q") != q || len(b.Exchange("amq.direct").Bindings()) != 1 {
					t.Errorf("a refused deletion changed the broker")
				}
				return
			}
			if b.Queue("q") != nil || len(b.Exchange("amq.direct").Bindings()) != 0 {
				t.Errorf("deleted queue still registered or bound")
			}
			for i, s := range subs {
				if n := s.notifications(); n != 1 {
					t.Errorf("consumer %d notified %d times, want 1", i, n)
				}
				if !s.Deleted() || len(s.fetch(10)) != 0 {
					t.Errorf("consumer %d: Deleted %v after deletion", i, s.Deleted())
				}
				s.Close()
			}
			if _, err := q.Enqueue(body(t, "late")); !errors.Is(err, ErrQueueDeleted) {
				t.Errorf("Enqueue on a deleted queue: %v", err)
			}
			if _, err := q.Subscribe("c", func() {}); !errors.Is(err, ErrQueueDeleted) {
				t.Errorf("Subscribe to a deleted queue: %v", err)
			}
			if err := b.DeleteQueue("q", false, false); !errors.Is(err, ErrNotFound) {
				t.Errorf("deleting twice: %v", err)
			}
			// A queue of the same name is a new queue.
			if q2 := declare(t, b, "q", QueueSettings{}); q2 == q || q2.Depth() != 0 {
				t.Errorf("redeclared queue is the old one")
			}
		})
	}
}

func TestExclusive(t *testing.T) {
	for _, tc := range []struct {
		name  string
		s     QueueSettings
		owner string
		want  error
	}{
		{"owner", QueueSettings{Exclusive: true, Owner: "conn1"}, "conn1", nil},
		{"another connection", QueueSettings{Exclusive: true, Owner: "conn1"}, "conn2", ErrExclusive},
		{"no owner given", QueueSettings{Exclusive: true, Owner: "conn1"}, "", ErrExclusive},
		{"not exclusive", QueueSettings{Owner: "conn1"}, "conn2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := NewQueue("q", tc.s)
			c, err := q.Subscribe(tc.owner, func() {})
			wantErr(t, "Subscribe", err, tc.want)
			if err != nil && (c != nil || q.Consumers() != 0) {
				t.Errorf("a refused subscription was added")
			}
		})
	}
	// The owner may have several consumers.
	q := NewQueue("q", QueueSettings{Exclusive: true, Owner: "conn1"})
	subscribe(t, q, "conn1")
	subscribe(t, q, "conn1")
	if q.Consumers() != 2 {
		t.Errorf("%d consumers", q.Consumers())
	}
}

func TestAutoDelete(t *testing.T) {
	b := newBroker(t, Config{})
	declare(t, b, "dlq", QueueSettings{})
	bind(t, b, "amq.fanout", "dlq", "", nil)
	q := declare(t, b, "auto", QueueSettings{AutoDelete: true, AlternateExchange: "amq.fanout"})
	bind(t, b, "amq.direct", "auto", "k", nil)

	// Never used: it stays.
	enqueue(t, q, "1", "2")
	if b.Queue("auto") == nil {
		t.Fatal("an unused auto-delete queue went away")
	}
	c1 := subscribe(t, q, "a")
	c2 := subscribe(t, q, "b")
	c1.fetch(1)
	c1.Close()
	if b.Queue("auto") == nil {
		t.Fatal("deleted with a consumer left")
	}
	c2.Close()
	if b.Queue("auto") != nil {
		t.Fatal("not deleted with its last consumer")
	}
	if len(b.Exchange("amq.direct").Bindings()) != 0 {
		t.Errorf("bindings of the auto-deleted queue survived")
	}
	if got := drain(t, b.Queue("dlq")); !eq(got, []string{"1", "2"}) {
		t.Errorf("messages of the auto-deleted queue: %v", got)
	}
	c2.Close() // closing again is harmless

	// A queue that is not auto-delete stays.
	keep := declare(t, b, "keep", QueueSettings{})
	subscribe(t, keep, "a").Close()
	if b.Queue("keep") == nil {
		t.Errorf("a plain queue went away with its consumer")
	}
	// An auto-delete queue outside a broker just lives on.
	lone := NewQueue("lone", QueueSettings{AutoDelete: true})
	subscribe(t, lone, "a").Close()
	enqueue(t, lone, "still")
}

func TestQueueStats(t *testing.T) {
	m := body(t, "x")
	size := int64(m.Size())
	q := NewQueue("q", QueueSettings{})
	c := subscribe(t, q, "c")
	check := func(stage string, want QueueStats) {
		t.Helper()
		if got := q.Stats(); got != want {
			t.Errorf("%s: %+v, want %+v", stage, got, want)
		}
		if q.Depth() != want.Depth || q.Consumers() != want.Consumers {
			t.Errorf("%s: Depth() %d Consumers() %d", stage, q.Depth(), q.Consumers())
		}
	}
	check("empty", QueueStats{Consumers: 1})
	enqueue(t, q, "1", "2", "3")
	check("three enqueued", QueueStats{Depth: 3, Bytes: 3 * size, Enqueues: 3, Consumers: 1})
	es := c.fetch(3)
	check("acquired messages still count", QueueStats{Depth: 3, Bytes: 3 * size, Enqueues: 3, Consumers: 1})
	c.Accept(es[0])
	c.Reject(es[1])
	c.Release(es[2], false)
	check("settled", QueueStats{Depth: 1, Bytes: size, Enqueues: 3, Dequeues: 2, Redelivered: 1, Consumers: 1})
	c2 := subscribe(t, q, "c2")
	check("two consumers", QueueStats{Depth: 1, Bytes: size, Enqueues: 3, Dequeues: 2, Redelivered: 1, Consumers: 2})
	c.Close()
	c2.Close()
	check("closed", QueueStats{Depth: 1, Bytes: size, Enqueues: 3, Dequeues: 2, Redelivered: 1})
	if q.Name() != "q" || q.Settings().Policy != PolicyReject {
		t.Errorf("Name %q Settings %+v", q.Name(), q.Settings())
	}
}

func TestDeclareQueue(t *testing.T) {
	b := newBroker(t, Config{DefaultQueueLimit: 1000})
	if _, _, err := b.DeclareQueue("", QueueSettings{}); err == nil {
		t.Errorf("a queue without a name was declared")
	}
	for _, tc := range []struct {
		name      string
		s         QueueSettings
		wantBytes int64
		wantCount int
	}{
		{"default-limit", QueueSettings{}, 1000, 0},
		{"own-bytes", QueueSettings{MaxBytes: 50}, 50, 0},
		{"own-count", QueueSettings{MaxCount: 7}, 0, 7},
	} {
		q, created, err := b.DeclareQueue(tc.name, tc.s)
		if err != nil || !created {
			t.Fatalf("DeclareQueue(%q): %v, created %v", tc.name, err, created)
		}
		if s := q.Settings(); s.MaxBytes != tc.wantBytes || s.MaxCount != tc.wantCount {
			t.Errorf("%s: limits %d bytes %d messages, want %d %d", tc.name, s.MaxBytes, s.MaxCount, tc.wantBytes, tc.wantCount)
		}
		again, created, err := b.DeclareQueue(tc.name, QueueSettings{MaxCount: 99, Durable: true})
		if err != nil || created || again != q || again.Settings().MaxCount == 99 {
			t.Errorf("redeclaring %q: created %v, %v; settings must stay", tc.name, created, err)
		}
	}
	var names []string
	for _, q := range b.Queues() {
		names = append(names, q.Name())
	}
	if !eq(names, []string{"default-limit", "own-bytes", "own-count"}) {
		t.Errorf("Queues() = %v", names)
	}
	if b.Queue("missing") != nil {
		t.Errorf("Queue of an unknown name")
	}
}

// A consumer with a selector takes only matching messages and leaves the
// others, in order, for other consumers.
func TestSelectorConsumerLeavesOthers(t *testing.T) {
	q := NewQueue("q", QueueSettings{})
	for i, colour := range []string{"red", "green", "red", "green"} {
		q.Enqueue(msg(t, mo{Body: fmt.Sprint(i), Props: types.Map{{Key: "colour", Value: colour}}}))
	}
	green, _ := q.SubscribeWith("a", func() {}, SubscribeOptions{Filter: func(m *message.Message) bool {
		v, _ := m.ApplicationProperties().Get("colour")
		return v == "green"
	}})
	got := green.Fetch(nil, 10)
	if len(got) != 2 || bodyOf(t, got[0].Msg) != "1" || bodyOf(t, got[1].Msg) != "3" {
		t.Fatalf("the green consumer got %v", bodies(t, got))
	}
	any, _ := q.Subscribe("b", func() {})
	if got := any.Fetch(nil, 10); len(got) != 2 || bodyOf(t, got[0].Msg) != "0" || bodyOf(t, got[1].Msg) != "2" {
		t.Fatalf("the others got %v", bodies(t, got))
	}
}

// A browser sees every message, including ones being delivered, without
// taking them, and later ones as they arrive.
func TestBrowserCopies(t *testing.T) {
	q := NewQueue("q", QueueSettings{})
	q.Enqueue(msg(t, mo{Body: "a"}))
	q.Enqueue(msg(t, mo{Body: "b"}))
	taker, _ := q.Subscribe("x", func() {})
	taken := taker.Fetch(nil, 1) // "a" is being delivered
	woken := 0
	br, _ := q.SubscribeWith("y", func() { woken++ }, SubscribeOptions{Browse: true})
	if got := br.Fetch(nil, 10); len(got) != 2 {
		t.Fatalf("the browser saw %v", bodies(t, got))
	}
	if q.Depth() != 2 {
		t.Fatal("browsing must not remove messages")
	}
	q.Enqueue(msg(t, mo{Body: "c"}))
	if woken != 1 {
		t.Fatalf("a browser at the end is woken by a new message (woken %d)", woken)
	}
	if got := br.Fetch(nil, 10); len(got) != 1 || bodyOf(t, got[0].Msg) != "c" {
		t.Fatalf("the browser then saw %v", bodies(t, got))
	}
	taker.Accept(taken[0])
}

// The counters metrics read: a message released, modified as failed, or
// left by a consumer that went counts as redelivered; one whose TTL ran
// out, found by a consumer's scan or by the purge, as expired.
func TestRedeliveredAndExpiredCounted(t *testing.T) {
	clk := newClock()
	b := newBroker(t, Config{Now: clk.Now})
	q := declare(t, b, "q", QueueSettings{})
	for _, s := range []string{"a", "b", "c"} {
		if _, err := q.Enqueue(body(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	c := subscribe(t, q, "c")
	got := c.Fetch(nil, 3)
	if len(got) != 3 {
		t.Fatalf("fetched %d, want 3", len(got))
	}
	c.Release(got[0], false)
	c.Release(got[1], true)
	c.Close() // c's third message goes back too
	if st := q.Stats(); st.Redelivered != 3 || st.Expired != 0 {
		t.Fatalf("after 3 returns: redelivered %d, expired %d; want 3, 0", st.Redelivered, st.Expired)
	}
	for _, ttl := range []int{1, 1, 5} {
		if _, err := q.Enqueue(withTTL(t, sec(ttl), "ttl")); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(sec(2))
	c2 := subscribe(t, q, "c2")
	if got := c2.Fetch(nil, 10); len(got) != 4 { // a, b, c and the ttl-5 one
		t.Fatalf("fetched %d, want 4", len(got))
	}
	if st := q.Stats(); st.Expired != 2 {
		t.Fatalf("expired %d after a scan, want 2", st.Expired)
	}
	c2.Close()
	clk.Advance(sec(5))
	if n := q.Purge(); n != 1 {
		t.Fatalf("purged %d, want 1", n)
	}
	if st := q.Stats(); st.Expired != 3 || st.Redelivered != 7 || st.Dequeues != 3 {
		t.Fatalf("expired %d, redelivered %d, dequeued %d; want 3, 7, 3", st.Expired, st.Redelivered, st.Dequeues)
	}
}
