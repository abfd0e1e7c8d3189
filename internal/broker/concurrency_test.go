package broker

import (
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// worker is a consumer goroutine's view of its subscription: Fetch, and on
// a short fetch wait for the notification.
type worker struct {
	c    *Consumer
	wake chan struct{}
}

func newWorker(t *testing.T, q *Queue, owner string) *worker {
	t.Helper()
	w := &worker{wake: make(chan struct{}, 1)}
	c, err := q.Subscribe(owner, func() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	w.c = c
	return w
}

func TestConcurrentProducersAndConsumers(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    QueueSettings
	}{
		{"fifo", QueueSettings{}},
		{"priorities", QueueSettings{Priorities: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const producers, perProducer, consumers = 4, 500, 4
			const total = producers * perProducer
			q := NewQueue("q", tc.s)

			var accepted sync.Map // position -> consumer
			var nAccepted, duplicates atomic.Int64
			done := make(chan struct{})
			var wg sync.WaitGroup
			for i := 0; i < consumers; i++ {
				w := newWorker(t, q, fmt.Sprint("c", i))
				wg.Add(1)
				go func(i int, w *worker) {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(i)))
					var buf []*Entry
					for {
						buf = w.c.Fetch(buf[:0], 1+rng.Intn(8))
						if len(buf) == 0 {
							select {
							case <-w.wake:
								continue
							case <-done:
								return
							}
						}
						for _, e := range buf {
							switch r := rng.Intn(10); {
							case r < 2:
								w.c.Release(e, r == 0)
							default:
								if _, dup := accepted.LoadOrStore(e.Pos, i); dup {
									duplicates.Add(1)
								}
								w.c.Accept(e)
								if nAccepted.Add(1) == total {
									close(done)
								}
							}
						}
					}
				}(i, w)
			}
			var pw sync.WaitGroup
			for p := 0; p < producers; p++ {
				pw.Add(1)
				go func(p int) {
					defer pw.Done()
					for i := 0; i < perProducer; i++ {
						m := prio(t, uint8((p+i)%10), fmt.Sprintf("%d/%d", p, i))
						if _, err := q.Enqueue(m); err != nil {
							t.Errorf("Enqueue: %v", err)
							return
						}
					}
				}(p)
			}
			pw.Wait()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("only %d of %d messages accepted: a wake-up was lost (stats %+v)", nAccepted.Load(), total, q.Stats())
			}
			wg.Wait()

			if d := duplicates.Load(); d != 0 {
				t.Errorf("%d messages were accepted twice", d)
			}
			for pos := uint64(1); pos <= total; pos++ {
				if _, ok := accepted.Load(pos); !ok {
					t.Errorf("position %d was never accepted", pos)
				}
			}
			if st := q.Stats(); st.Depth != 0 || st.Bytes != 0 || st.Enqueues != total || st.Dequeues != total || st.Consumers != consumers {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestConcurrentConsumersClosing(t *testing.T) {
	// Consumers come and go holding messages; what they held comes back
	// and is eventually accepted by someone, exactly once.
	const total = 2000
	q := NewQueue("q", QueueSettings{})
	var accepted sync.Map
	var nAccepted, duplicates atomic.Int64
	done := make(chan struct{})
	go func() {
		for i := 0; i < total; i++ {
			if _, err := q.Enqueue(body(t, fmt.Sprint(i))); err != nil {
				t.Errorf("Enqueue: %v", err)
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(i)))
			for {
				w := newWorker(t, q, "c")
				rounds := 1 + rng.Intn(5)
				for round := 0; round < rounds; round++ {
					es := w.c.Fetch(nil, 1+rng.Intn(10))
					if len(es) == 0 {
						select {
						case <-w.wake:
						case <-done:
							w.c.Close()
							return
						case <-time.After(time.Millisecond):
						}
						continue
					}
					// Accept some, keep the rest for Close to give back.
					for _, e := range es[:rng.Intn(len(es)+1)] {
						if _, dup := accepted.LoadOrStore(e.Pos, true); dup {
							duplicates.Add(1)
						}
						w.c.Accept(e)
						if nAccepted.Add(1) == total {
							close(done)
						}
					}
				}
				w.c.Close()
			}
		}(i)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("only %d of %d accepted (stats %+v)", nAccepted.Load(), total, q.Stats())
	}
	wg.Wait()
	if d := duplicates.Load(); d != 0 {
		t.Errorf("%d accepted twice", d)
	}
	if st := q.Stats(); st.Depth != 0 || st.Dequeues != total || st.Consumers != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestConcurrentDeleteWhileConsuming(t *testing.T) {
	// The queue is deleted while consumers fetch, accept and release:
	// nothing may be lost (every message is accepted or dead-lettered),
	// consumers learn of the deletion, and nothing races.
	for round := 0; round < 20; round++ {
		b := newBroker(t, Config{})
		dlq := declare(t, b, "dlq", QueueSettings{})
		bind(t, b, "amq.fanout", "dlq", "", nil)
		q := declare(t, b, "q", QueueSettings{AlternateExchange: "amq.fanout"})
		bind(t, b, "amq.direct", "q", "k", nil)
		const total = 300
		for i := 0; i < total; i++ {
			enqueue(t, q, fmt.Sprint(i))
		}

		var mu sync.Mutex
		accepted := map[string]bool{}
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			w := newWorker(t, q, "c")
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				rng := rand.New(rand.NewSource(int64(round*10 + i)))
				for {
					es := w.c.Fetch(nil, 1+rng.Intn(5))
					if len(es) == 0 {
						if w.c.Deleted() {
							w.c.Close()
							return
						}
						<-w.wake // a deletion notifies too
						continue
					}
					for _, e := range es {
						if rng.Intn(4) == 0 {
							w.c.Release(e, false)
							continue
						}
						mu.Lock()
						accepted[bodyOf(t, e.Msg)] = true
						mu.Unlock()
						w.c.Accept(e)
					}
				}
			}(i)
		}
		// Producers keep going through the deletion.
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				// Late messages are accepted or dead-lettered like the
				// others; only the first total are checked below.
				if _, err := q.Enqueue(body(t, fmt.Sprint("late", i))); err != nil {
					if !errors.Is(err, ErrQueueDeleted) {
						t.Errorf("Enqueue: %v", err)
					}
					return
				}
			}
		}()
		time.Sleep(time.Duration(round%5) * 100 * time.Microsecond)
		if err := b.DeleteQueue("q", false, false); err != nil {
			t.Fatal(err)
		}
		wg.Wait()

		dead := map[string]bool{}
		for _, e := range peekEntries(dlq) {
			dead[bodyOf(t, e.Msg)] = true
		}
		for i := 0; i < total; i++ {
			s := fmt.Sprint(i)
			if !accepted[s] && !dead[s] {
				t.Fatalf("round %d: message %s was lost (%d accepted, %d dead-lettered)", round, s, len(accepted), len(dead))
			}
		}
		if st := q.Stats(); st.Depth != 0 || st.Consumers != 0 {
			t.Errorf("round %d: deleted queue stats %+v", round, st)
		}
		if len(b.Exchange("amq.direct").Bindings()) != 0 || b.Queue("q") != nil {
			t.Errorf("round %d: deleted queue still registered or bound", round)
		}
	}
}

func TestConcurrentRegistry(t *testing.T) {
	// Declaring, binding, routing and deleting from many goroutines at once
	// must be free of races and deadlocks.
	b := newBroker(t, Config{QueuePatterns: []string{"auto\\..*"}})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				name := fmt.Sprintf("auto.%d", i%10)
				n, err := b.Resolve(name, Args{"qpid.max_count": 1000}, "")
				if err != nil {
					continue // deleted and not yet recreated is fine; errors are not
				}
				_, _ = b.Bind("amq.topic", name, fmt.Sprintf("k.%d.#", g), nil)
				m := msg(t, mo{Subject: fmt.Sprintf("k.%d.x", g), Body: "x"})
				for _, q := range b.Route(b.Exchange("amq.topic"), m, nil) {
					_, _ = q.Enqueue(m)
				}
				if n.Queue != nil && i%7 == 0 {
					_ = b.DeleteQueue(name, false, false)
				}
				if i%13 == 0 {
					_ = b.Unbind("amq.topic", name, fmt.Sprintf("k.%d.#", g))
				}
				_ = b.Queues()
				_ = b.Exchanges()
				_ = b.PurgeExpired()
			}
		}(g)
	}
	wg.Wait()
	for _, q := range b.Queues() {
		if st := q.Stats(); st.Depth < 0 || st.Dequeues > st.Enqueues {
			t.Errorf("queue %s: stats %+v", q.Name(), st)
		}
	}
}

func TestConcurrentRefusals(t *testing.T) {
	// Producers hammer a small queue while consumers drain it: refusals
	// (ErrQueueFull) and acceptances interleave; every message that was
	// taken is accepted exactly once and the counters add up.
	for _, policy := range []LimitPolicy{PolicyReject, PolicyRing} {
		t.Run(string(policy), func(t *testing.T) {
			q := NewQueue("q", QueueSettings{MaxCount: 5, Policy: policy})
			var taken, refused, accepted atomic.Int64
			stop := make(chan struct{})
			var consumers, producers sync.WaitGroup
			for i := 0; i < 3; i++ {
				w := newWorker(t, q, "c")
				consumers.Add(1)
				go func() {
					defer consumers.Done()
					for {
						es := w.c.Fetch(nil, 2)
						for _, e := range es {
							w.c.Accept(e)
							accepted.Add(1)
						}
						if len(es) == 0 {
							select {
							case <-w.wake:
							case <-stop:
								return
							}
						}
					}
				}()
			}
			for p := 0; p < 4; p++ {
				producers.Add(1)
				go func() {
					defer producers.Done()
					for i := 0; i < 500; i++ {
						_, err := q.Enqueue(body(t, "m"))
						switch {
						case err == nil:
							taken.Add(1)
						case errors.Is(err, ErrQueueFull):
							refused.Add(1)
						default:
							t.Errorf("Enqueue: %v", err)
						}
					}
				}()
			}
			producers.Wait()
			// Let the consumers finish what is left.
			deadline := time.Now().Add(10 * time.Second)
			for q.Depth() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			close(stop)
			consumers.Wait()
			st := q.Stats()
			if taken.Load()+refused.Load() != 2000 || st.Enqueues != uint64(taken.Load()) {
				t.Errorf("taken %d refused %d, stats %+v", taken.Load(), refused.Load(), st)
			}
			if st.Depth != 0 || st.Dequeues != st.Enqueues {
				t.Errorf("stats %+v", st)
			}
			// With the ring policy, dropped messages are dequeued without
			// being accepted.
			if policy == PolicyReject && accepted.Load() != taken.Load() {
				t.Errorf("accepted %d of %d", accepted.Load(), taken.Load())
			}
		})
	}
}
