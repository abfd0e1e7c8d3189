package broker

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNewRejectsBadPatterns(t *testing.T) {
	for _, cfg := range []Config{
		{QueuePatterns: []string{"ok", "bad("}},
		{TopicPatterns: []string{"[z-a]"}},
	} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "pattern") {
			t.Errorf("New(%+v): %v, want a pattern error", cfg, err)
		}
	}
}

func TestResolve(t *testing.T) {
	cfg := Config{
		QueuePatterns: []string{`tmp\..*`, `work-[0-9]+`, `both\..*`},
		TopicPatterns: []string{`events\..*`, `news`, `both\..*`},
	}
	for _, tc := range []struct {
		name     string
		address  string
		args     Args
		queue    bool   // a queue is expected
		exchange string // else an exchange of this type
		err      error  // or this error
		errText  string // or an error mentioning this
		check    func(t *testing.T, n Node)
	}{
		{name: "existing queue", address: "existing", queue: true},
		{name: "existing queue ignores arguments", address: "existing", args: Args{"qpid.max_count": "bogus"}, queue: true},
		{name: "built-in exchange", address: "amq.topic", exchange: Topic},
		{name: "built-in headers exchange", address: "amq.match", exchange: Headers},
		{name: "queue pattern", address: "tmp.a", queue: true},
		{name: "queue pattern, empty suffix", address: "tmp.", queue: true},
		{name: "second queue pattern", address: "work-42", queue: true},
		{name: "queue pattern with arguments", address: "tmp.args",
			args:  Args{"qpid.max_count": "5", "qpid.policy_type": "ring", "durable": true, "x-other": 1},
			queue: true, check: func(t *testing.T, n Node) {
				s := n.Queue.Settings()
				if s.MaxCount != 5 || s.Policy != PolicyRing || !s.Durable || s.Args["x-other"] != 1 {
					t.Errorf("settings %+v", s)
				}
			}},
		{name: "queue pattern with a priority argument", address: "tmp.prio", args: Args{"qpid.priorities": uint8(3)}, queue: true,
			check: func(t *testing.T, n Node) {
				if n.Queue.Settings().Priorities != 3 {
					t.Errorf("settings %+v", n.Queue.Settings())
				}
			}},
		{name: "patterns are anchored", address: "xtmp.a", err: ErrNotFound},
		{name: "patterns are anchored at the end", address: "work-42x", err: ErrNotFound},
		{name: "queue pattern not matching", address: "work-x", err: ErrNotFound},
		{name: "bad queue arguments", address: "tmp.bad", args: Args{"qpid.max_count": "many"}, errText: "qpid.max_count"},
		{name: "unknown alternate exchange", address: "tmp.alt", args: Args{"alternate-exchange": "nope"}, err: ErrNotFound},
		{name: "known alternate exchange", address: "tmp.alt2", args: Args{"alternate-exchange": "amq.fanout"}, queue: true},
		{name: "topic pattern", address: "events.orders", exchange: Topic},
		{name: "second topic pattern", address: "news", exchange: Topic},
		{name: "topic pattern with arguments", address: "events.durable", args: Args{"durable": "yes", "qpid.replicate": "none"}, exchange: Topic,
			check: func(t *testing.T, n Node) {
				s := n.Exchange.Settings()
				if !s.Durable || s.Args["qpid.replicate"] != "none" || n.Exchange.Builtin() {
					t.Errorf("settings %+v", s)
				}
			}},
		{name: "bad exchange arguments", address: "events.bad", args: Args{"qpid.replicate": "maybe"}, errText: "qpid.replicate"},
		{name: "exchange with unknown alternate", address: "events.alt", args: Args{"alternate-exchange": "nope"}, err: ErrNotFound},
		{name: "queue patterns come first", address: "both.x", queue: true},
		{name: "no pattern", address: "unknown", err: ErrNotFound},
		{name: "empty address", address: "", exchange: Direct}, // the default exchange
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBroker(t, cfg)
			existing := declare(t, b, "existing", QueueSettings{MaxCount: 9})
			n, err := b.Resolve(tc.address, tc.args, "conn-1")
			switch {
			case tc.err != nil || tc.errText != "":
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Resolve(%q): %v, want %v %q", tc.address, err, tc.err, tc.errText)
				}
				if b.Queue(tc.address) != nil || (b.Exchange(tc.address) != nil && tc.address != "") {
					t.Errorf("a failed Resolve created %q", tc.address)
				}
				return
			case err != nil:
				t.Fatalf("Resolve(%q): %v", tc.address, err)
			case tc.queue:
				if n.Queue == nil || n.Exchange != nil || n.Queue.Name() != tc.address || b.Queue(tc.address) != n.Queue {
					t.Fatalf("Resolve(%q) = %+v, want the queue", tc.address, n)
				}
				if tc.address == "existing" && (n.Queue != existing || n.Queue.Settings().MaxCount != 9) {
					t.Errorf("the existing queue was replaced or changed")
				}
			default:
				if n.Exchange == nil || n.Queue != nil || n.Exchange.Type() != tc.exchange || b.Exchange(tc.address) != n.Exchange {
					t.Fatalf("Resolve(%q) = %+v, want a %s exchange", tc.address, n, tc.exchange)
				}
			}
			if tc.check != nil {
				tc.check(t, n)
			}
			// Resolving again finds the same node, whatever the arguments.
			again, err := b.Resolve(tc.address, Args{"qpid.max_count": "1", "durable": false}, "")
			if err != nil || again != n {
				t.Errorf("second Resolve(%q) = %+v, %v; want the same node", tc.address, again, err)
			}
		})
	}
}

func TestResolvePrefersQueueOverExchange(t *testing.T) {
	b := newBroker(t, Config{})
	if _, _, err := b.DeclareExchange("same", Fanout, ExchangeSettings{}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Resolve("same", nil, ""); err != nil || n.Exchange == nil {
		t.Fatalf("Resolve: %+v, %v", n, err)
	}
	q := declare(t, b, "same", QueueSettings{})
	if n, err := b.Resolve("same", nil, ""); err != nil || n.Queue != q {
		t.Errorf("Resolve with a queue and an exchange of the same name: %+v, %v", n, err)
	}
}

func TestResolvedQueueWorks(t *testing.T) {
	b := newBroker(t, Config{QueuePatterns: []string{".*"}, TopicPatterns: []string{"t\\..*"}})
	n, err := b.Resolve("orders", Args{"qpid.max_count": uint32(2)}, "")
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, n.Queue, "1", "2")
	if _, err := n.Queue.Enqueue(body(t, "3")); !errors.Is(err, ErrQueueFull) {
		t.Errorf("limit from the resolve arguments not applied: %v", err)
	}
	// ".*" matches topic-like names too: queue patterns come first.
	n, err = b.Resolve("t.x", nil, "")
	if err != nil || n.Queue == nil {
		t.Errorf("Resolve(t.x) = %+v, %v", n, err)
	}
	// A resolved topic exchange routes like amq.topic.
	b2 := newBroker(t, Config{TopicPatterns: []string{"t\\..*"}})
	n, err = b2.Resolve("t.x", nil, "")
	if err != nil || n.Exchange == nil {
		t.Fatalf("Resolve(t.x) on b2 = %+v, %v", n, err)
	}
	declare(t, b2, "sub", QueueSettings{})
	bind(t, b2, "t.x", "sub", "a.#", nil)
	if got := routeNames(t, b2, "t.x", mo{Subject: "a.b.c"}); !eq(got, []string{"sub"}) {
		t.Errorf("routing through the resolved exchange: %v", got)
	}
}

// A queue created exclusive on demand belongs to the connection that
// created it: another may not consume from it.
func TestResolveExclusiveOwner(t *testing.T) {
	b, err := New(Config{QueuePatterns: []string{"private-.*"}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.Resolve("private-1", Args{"exclusive": true}, "conn-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Queue.Subscribe("conn-b", func() {}); !errors.Is(err, ErrExclusive) {
		t.Fatalf("another connection subscribed to an exclusive queue: %v", err)
	}
	if _, err := n.Queue.Subscribe("conn-a", func() {}); err != nil {
		t.Fatalf("the owner could not subscribe: %v", err)
	}
}

// The committed-transaction memory answers for the most recent ones and
// forgets the oldest beyond its size.
func TestCommittedTransactionsRemembered(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if b.Committed("tx-1") {
		t.Fatal("a transaction never recorded is reported committed")
	}
	for i := 0; i <= committedMemory; i++ {
		b.RecordCommit(fmt.Sprintf("tx-%d", i))
	}
	b.RecordCommit("tx-5") // already known: no effect on the order
	if b.Committed("tx-0") {
		t.Error("the oldest transaction was not forgotten")
	}
	for _, name := range []string{"tx-1", "tx-5", fmt.Sprintf("tx-%d", committedMemory)} {
		if !b.Committed(name) {
			t.Errorf("%s is not reported committed", name)
		}
	}
}
