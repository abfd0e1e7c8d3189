package broker

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// routeNames routes a message with the given subject through exchange name
// and returns the names of the queues it reaches, sorted.
func routeNames(t *testing.T, b *Broker, exchange string, o mo) []string {
	t.Helper()
	e := b.Exchange(exchange)
	if e == nil {
		t.Fatalf("no exchange %q", exchange)
	}
	qs := b.Route(e, msg(t, o), nil)
	names := []string{}
	for _, q := range qs {
		names = append(names, q.Name())
	}
	sort.Strings(names)
	return names
}

// sorted returns a sorted copy, never nil.
func sorted(s ...string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func TestBuiltinExchanges(t *testing.T) {
	b := newBroker(t, Config{})
	want := map[string]string{"": Direct, "amq.direct": Direct, "amq.topic": Topic, "amq.fanout": Fanout, "amq.match": Headers}
	es := b.Exchanges()
	if len(es) != len(want) {
		t.Fatalf("a new broker has %d exchanges, want %d", len(es), len(want))
	}
	for _, e := range es {
		if kind, ok := want[e.Name()]; !ok || kind != e.Type() {
			t.Errorf("exchange %q of type %s, want type %q", e.Name(), e.Type(), kind)
		}
		if !e.Builtin() || !e.Settings().Durable {
			t.Errorf("exchange %q: builtin %v durable %v, want both", e.Name(), e.Builtin(), e.Settings().Durable)
		}
		if err := b.DeleteExchange(e.Name(), false); !errors.Is(err, ErrBuiltin) {
			t.Errorf("DeleteExchange(%q): %v, want ErrBuiltin", e.Name(), err)
		}
	}
	if b.Exchange("amq.topic") == nil || len(b.Exchanges()) != len(want) {
		t.Errorf("a refused deletion removed the exchange")
	}

	declare(t, b, "q", QueueSettings{})
	if _, err := b.Bind("", "q", "other", nil); !errors.Is(err, ErrBuiltin) {
		t.Errorf("binding to the default exchange: %v, want ErrBuiltin", err)
	}
	if err := b.DeleteExchange("nope", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteExchange of an unknown exchange: %v, want ErrNotFound", err)
	}
	// Redeclaring a built-in exchange with its own type is fine, with
	// another an error.
	if e, created, err := b.DeclareExchange("amq.topic", Topic, ExchangeSettings{}); err != nil || created || !e.Builtin() {
		t.Errorf("DeclareExchange(amq.topic, topic): created %v, %v", created, err)
	}
	if _, _, err := b.DeclareExchange("amq.topic", Direct, ExchangeSettings{}); !errors.Is(err, ErrExists) {
		t.Errorf("DeclareExchange(amq.topic, direct): %v, want ErrExists", err)
	}
}

func TestDefaultExchangeRoutesByQueueName(t *testing.T) {
	b := newBroker(t, Config{})
	for _, n := range []string{"a", "b", "a.b"} {
		declare(t, b, n, QueueSettings{})
	}
	for _, tc := range []struct {
		subject string
		want    []string
	}{
		{"a", []string{"a"}},
		{"a.b", []string{"a.b"}},
		{"b", []string{"b"}},
		{"c", []string{}},
		{"", []string{}},
		{"A", []string{}},
	} {
		if got := routeNames(t, b, "", mo{Subject: tc.subject}); !eq(got, tc.want) {
			t.Errorf("default exchange, subject %q: %v, want %v", tc.subject, got, tc.want)
		}
	}
	if err := b.DeleteQueue("a", false, false); err != nil {
		t.Fatal(err)
	}
	if got := routeNames(t, b, "", mo{Subject: "a"}); len(got) != 0 {
		t.Errorf("deleted queue still reachable: %v", got)
	}
}

func TestDirectExchange(t *testing.T) {
	b := newBroker(t, Config{})
	for _, n := range []string{"q1", "q2", "q3"} {
		declare(t, b, n, QueueSettings{})
	}
	bind(t, b, "amq.direct", "q1", "k1", nil)
	bind(t, b, "amq.direct", "q2", "k1", nil)
	bind(t, b, "amq.direct", "q3", "k2", nil)
	bind(t, b, "amq.direct", "q1", "k3", nil)
	bind(t, b, "amq.direct", "q1", "k1", nil) // again: replaces, no second copy
	bind(t, b, "amq.direct", "q3", "", nil)

	check := func(stage string, table map[string][]string) {
		t.Helper()
		for key, want := range table {
			if got := routeNames(t, b, "amq.direct", mo{Subject: key}); !eq(got, sorted(want...)) {
				t.Errorf("%s: key %q reaches %v, want %v", stage, key, got, want)
			}
		}
	}
	check("bound", map[string][]string{
		"k1":   {"q1", "q2"},
		"k2":   {"q3"},
		"k3":   {"q1"},
		"":     {"q3"},
		"K1":   {},
		"k":    {},
		"k1.x": {},
		"nope": {},
	})
	if n := len(b.Exchange("amq.direct").Bindings()); n != 5 {
		t.Errorf("%d bindings, want 5 (binding twice replaces)", n)
	}

	if err := b.Unbind("amq.direct", "q1", "k1"); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	if err := b.Unbind("amq.direct", "q1", "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Unbind: %v, want ErrNotFound", err)
	}
	if err := b.Unbind("amq.direct", "q3", "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unbind of a key the queue is not bound with: %v, want ErrNotFound", err)
	}
	if err := b.Unbind("nope", "q1", "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unbind on an unknown exchange: %v, want ErrNotFound", err)
	}
	check("after unbinding q1 from k1", map[string][]string{
		"k1": {"q2"},
		"k3": {"q1"},
	})

	// Deleting a queue removes its bindings.
	if err := b.DeleteQueue("q2", false, false); err != nil {
		t.Fatal(err)
	}
	check("after deleting q2", map[string][]string{"k1": {}, "k2": {"q3"}})
	for _, bd := range b.Exchange("amq.direct").Bindings() {
		if bd.Queue == "q2" {
			t.Errorf("binding %+v of a deleted queue survived", bd)
		}
	}
}

func TestBindErrors(t *testing.T) {
	b := newBroker(t, Config{})
	declare(t, b, "q", QueueSettings{})
	if _, err := b.Bind("nope", "q", "k", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Bind to an unknown exchange: %v", err)
	}
	if _, err := b.Bind("amq.direct", "nope", "k", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Bind of an unknown queue: %v", err)
	}
	// A binding keeps its own copy of the arguments.
	args := Args{"x-match": "any", "a": 1}
	bd, err := b.Bind("amq.match", "q", "k", args)
	if err != nil {
		t.Fatal(err)
	}
	args["x-match"] = "bogus"
	if bd.Args["x-match"] != "any" || bd.Exchange != "amq.match" || bd.Queue != "q" || bd.Key != "k" {
		t.Errorf("binding %+v", bd)
	}
	// Binding to a deleted exchange fails even with a stale pointer.
	if _, _, err := b.DeclareExchange("x", Direct, ExchangeSettings{}); err != nil {
		t.Fatal(err)
	}
	e := b.Exchange("x")
	if err := b.DeleteExchange("x", false); err != nil {
		t.Fatal(err)
	}
	if err := e.bind(&Binding{Exchange: "x", Queue: "q", Key: "k", queue: b.Queue("q")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("bind on a deleted exchange: %v", err)
	}
}

func TestDeclareAndDeleteExchange(t *testing.T) {
	b := newBroker(t, Config{})
	for _, tc := range []struct {
		name, kind string
		s          ExchangeSettings
		err        bool
	}{
		{"d", Direct, ExchangeSettings{}, false},
		{"t", Topic, ExchangeSettings{Durable: true}, false},
		{"f", Fanout, ExchangeSettings{}, false},
		{"h", Headers, ExchangeSettings{}, false},
		{"self-alt", Fanout, ExchangeSettings{AlternateExchange: "self-alt"}, false},
		{"alt", Fanout, ExchangeSettings{AlternateExchange: "amq.fanout"}, false},
		{"", Direct, ExchangeSettings{}, true},
		{"bad", "x-consistent-hash", ExchangeSettings{}, true},
		{"no-alt", Fanout, ExchangeSettings{AlternateExchange: "missing"}, true},
	} {
		e, created, err := b.DeclareExchange(tc.name, tc.kind, tc.s)
		if (err != nil) != tc.err {
			t.Errorf("DeclareExchange(%q, %q, %+v): %v, want error %v", tc.name, tc.kind, tc.s, err, tc.err)
			continue
		}
		if err != nil {
			if b.Exchange(tc.name) != nil && tc.name != "" {
				t.Errorf("failed declaration of %q left an exchange", tc.name)
			}
			continue
		}
		if !created || e.Name() != tc.name || e.Type() != tc.kind || e.Builtin() || e.Settings().Durable != tc.s.Durable {
			t.Errorf("DeclareExchange(%q): created %v, %q %q builtin %v", tc.name, created, e.Name(), e.Type(), e.Builtin())
		}
		again, created, err := b.DeclareExchange(tc.name, tc.kind, ExchangeSettings{Durable: !tc.s.Durable})
		if err != nil || created || again != e || again.Settings().Durable != tc.s.Durable {
			t.Errorf("redeclaring %q: created %v, %v; the first declaration's settings must stay", tc.name, created, err)
		}
	}

	declare(t, b, "q", QueueSettings{})
	bind(t, b, "d", "q", "k", nil)
	if err := b.DeleteExchange("d", true); !errors.Is(err, ErrInUse) {
		t.Errorf("DeleteExchange(ifUnused) of a bound exchange: %v, want ErrInUse", err)
	}
	if err := b.DeleteExchange("d", false); err != nil {
		t.Errorf("DeleteExchange: %v", err)
	}
	if b.Exchange("d") != nil {
		t.Errorf("deleted exchange still registered")
	}
	if err := b.DeleteExchange("f", true); err != nil {
		t.Errorf("DeleteExchange(ifUnused) of an unbound exchange: %v", err)
	}
	// The queue survives its exchange.
	if b.Queue("q") == nil {
		t.Errorf("deleting an exchange deleted a bound queue")
	}
	names := []string{}
	for _, e := range b.Exchanges() {
		names = append(names, e.Name())
	}
	if want := []string{"", "alt", "amq.direct", "amq.fanout", "amq.match", "amq.topic", "h", "self-alt", "t"}; !eq(names, want) {
		t.Errorf("Exchanges() = %q, want %q", names, want)
	}
}

func TestTopicMatching(t *testing.T) {
	// Each pattern is bound to a queue of the same name; each key lists the
	// patterns it must match (and no others).
	patterns := []string{
		"a.b.c", "a.*.c", "a.#", "#", "#.c", "a.#.c", "*.b.*", "a.*", "#.#",
		"", "*", "a..b", "a.*.b", "#.b.#", "*.#", "#.*", "a.#.#.c", "*.*",
	}
	table := []struct {
		key  string
		want []string
	}{
		{"a.b.c", []string{"a.b.c", "a.*.c", "a.#", "#", "#.c", "a.#.c", "*.b.*", "#.#", "#.b.#", "*.#", "#.*", "a.#.#.c"}},
		{"a.c", []string{"a.#", "#", "#.c", "a.#.c", "a.*", "#.#", "*.#", "#.*", "a.#.#.c", "*.*"}},
		{"a.x.y.c", []string{"a.#", "#", "#.c", "a.#.c", "#.#", "*.#", "#.*", "a.#.#.c"}},
		{"a", []string{"a.#", "#", "#.#", "*", "*.#", "#.*"}},
		{"a.b", []string{"a.#", "#", "a.*", "#.#", "#.b.#", "*.#", "#.*", "*.*"}},
		{"a.b.c.d", []string{"a.#", "#", "#.#", "#.b.#", "*.#", "#.*"}},
		{"c", []string{"#", "#.c", "#.#", "*", "*.#", "#.*"}},
		{"b", []string{"#", "#.#", "*", "#.b.#", "*.#", "#.*"}},
		{"x.b.y", []string{"#", "*.b.*", "#.#", "#.b.#", "*.#", "#.*"}},
		// The empty key is one empty word (as in qpid's TokenIterator).
		{"", []string{"#", "#.#", "", "*", "*.#", "#.*"}},
		// Empty words are words.
		{"a..b", []string{"a.#", "#", "#.#", "a..b", "a.*.b", "#.b.#", "*.#", "#.*"}},
		{"a.x.b", []string{"a.#", "#", "#.#", "a.*.b", "#.b.#", "*.#", "#.*"}},
		{".", []string{"#", "#.#", "*.#", "#.*", "*.*"}},
		// Wildcards in a key are plain words.
		{"*", []string{"#", "#.#", "*", "*.#", "#.*"}},
		{"#", []string{"#", "#.#", "*", "*.#", "#.*"}},
		{"A.B.C", []string{"#", "#.#", "*.#", "#.*"}},
	}

	b := newBroker(t, Config{})
	for _, p := range patterns {
		declare(t, b, "q:"+p, QueueSettings{})
		bind(t, b, "amq.topic", "q:"+p, p, nil)
	}
	for _, tc := range table {
		want := []string{}
		for _, p := range tc.want {
			want = append(want, "q:"+p)
		}
		sort.Strings(want)
		if got := routeNames(t, b, "amq.topic", mo{Subject: tc.key}); !eq(got, want) {
			t.Errorf("key %q matches %v,\n want %v", tc.key, strip(got), strip(want))
		}
	}
}

func strip(names []string) []string {
	out := []string{}
	for _, n := range names {
		out = append(out, strings.TrimPrefix(n, "q:"))
	}
	return out
}

func TestTopicMatchFunction(t *testing.T) {
	for _, tc := range []struct {
		pattern, key string
		want         bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.c", false},
		{"a.*.c", "a.b.b.c", false},
		{"a.#.c", "a.c", true},
		{"a.#.c", "a.x.y.c", true},
		{"a.#.c", "a.x.y.c.d", false},
		{"a.#.c", "a.c.c", true},
		{"a.#", "a", true},
		{"a.#", "ab", false},
		{"#.c", "c", true},
		{"#.c", "c.d", false},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"a.*", "a.", true}, // an empty second word
		{"#.#", "", true},
		{"#.#.#", "x.y", true},
		{"*.*.#", "x", false},
		{"#.*.#", "x", true},
		{"#.a.#.b.#", "x.a.y.b.z", true},
		{"#.a.#.b.#", "x.b.y.a.z", false},
	} {
		got := topicMatch(strings.Split(tc.pattern, "."), strings.Split(tc.key, "."))
		if got != tc.want {
			t.Errorf("topicMatch(%q, %q) = %v, want %v", tc.pattern, tc.key, got, tc.want)
		}
	}
}

func TestTopicExchangeOneCopyAndUnbind(t *testing.T) {
	b := newBroker(t, Config{})
	declare(t, b, "q", QueueSettings{})
	declare(t, b, "r", QueueSettings{})
	bind(t, b, "amq.topic", "q", "a.*", nil)
	bind(t, b, "amq.topic", "q", "#", nil)
	bind(t, b, "amq.topic", "q", "a.b", nil)
	bind(t, b, "amq.topic", "r", "a.b", nil)
	if got := routeNames(t, b, "amq.topic", mo{Subject: "a.b"}); !eq(got, []string{"q", "r"}) {
		t.Errorf("a queue bound three ways must get one copy: %v", got)
	}
	// The routed copy really arrives once.
	m := msg(t, mo{Subject: "a.b", Body: "x"})
	for _, q := range b.Route(b.Exchange("amq.topic"), m, nil) {
		if _, err := q.Enqueue(m); err != nil {
			t.Fatal(err)
		}
	}
	if d := b.Queue("q").Depth(); d != 1 {
		t.Errorf("q holds %d copies, want 1", d)
	}
	if err := b.Unbind("amq.topic", "q", "#"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]string{"x": {}, "a.x": {"q"}, "a.b": {"q", "r"}} {
		if got := routeNames(t, b, "amq.topic", mo{Subject: key}); !eq(got, want) {
			t.Errorf("after unbinding #: key %q reaches %v, want %v", key, got, want)
		}
	}
	// Route appends to out without disturbing what is there.
	pre := []*Queue{b.Queue("r")}
	out := b.Exchange("amq.topic").Route("a.b", m, pre)
	if len(out) != 3 || out[0] != b.Queue("r") {
		t.Errorf("Route with a non-empty out: %d queues", len(out))
	}
}

func TestFanoutExchange(t *testing.T) {
	b := newBroker(t, Config{})
	for _, n := range []string{"q1", "q2", "q3"} {
		declare(t, b, n, QueueSettings{})
	}
	if got := routeNames(t, b, "amq.fanout", mo{Subject: "x"}); len(got) != 0 {
		t.Errorf("unbound fanout routes to %v", got)
	}
	bind(t, b, "amq.fanout", "q1", "", nil)
	bind(t, b, "amq.fanout", "q2", "ignored", nil)
	bind(t, b, "amq.fanout", "q3", "a", nil)
	bind(t, b, "amq.fanout", "q3", "b", nil) // bound twice: one copy
	for _, subject := range []string{"", "x", "a.b.c", "ignored"} {
		if got := routeNames(t, b, "amq.fanout", mo{Subject: subject}); !eq(got, []string{"q1", "q2", "q3"}) {
			t.Errorf("fanout with subject %q reaches %v", subject, got)
		}
	}
	if err := b.Unbind("amq.fanout", "q3", "a"); err != nil {
		t.Fatal(err)
	}
	if got := routeNames(t, b, "amq.fanout", mo{}); !eq(got, []string{"q1", "q2", "q3"}) {
		t.Errorf("q3 is still bound with key b: %v", got)
	}
	if err := b.Unbind("amq.fanout", "q3", "b"); err != nil {
		t.Fatal(err)
	}
	if got := routeNames(t, b, "amq.fanout", mo{}); !eq(got, []string{"q1", "q2"}) {
		t.Errorf("after unbinding q3: %v", got)
	}
}

func TestHeadersExchange(t *testing.T) {
	type binding struct {
		queue string
		args  Args
	}
	bindings := []binding{
		{"all-ab", Args{"x-match": "all", "a": "1", "b": int32(2)}},
		{"any-ab", Args{"x-match": "any", "a": "1", "b": int32(2)}},
		{"default-all", Args{"a": "1", "b": int32(2)}},
		{"present-a", Args{"x-match": "all", "a": nil}},
		{"present-a-empty", Args{"a": ""}},
		{"any-present", Args{"x-match": "any", "c": nil, "d": ""}},
		{"int8", Args{"n": int8(7)}},
		{"uint64", Args{"n": uint64(7)}},
		{"int", Args{"n": 7}},
		{"string-x", Args{"s": "x"}},
		{"symbol-x", Args{"s": types.Symbol("x")}},
		{"bool", Args{"flag": true}},
		{"all-of-nothing", Args{"x-match": "all"}},
		{"any-of-nothing", Args{"x-match": "any"}},
		{"x-keys-ignored", Args{"x-match": "all", "x-other": "zzz", "a": "1"}},
	}
	table := []struct {
		name  string
		props types.Map
		want  []string
	}{
		{"no properties", nil, []string{"all-of-nothing"}},
		{"a and b", props("a", "1", "b", int32(2)),
			[]string{"all-ab", "any-ab", "default-all", "present-a", "present-a-empty", "all-of-nothing", "x-keys-ignored"}},
		{"b as a long", props("a", "1", "b", int64(2)),
			[]string{"all-ab", "any-ab", "default-all", "present-a", "present-a-empty", "all-of-nothing", "x-keys-ignored"}},
		{"b as a ubyte", props("a", "1", "b", uint8(2)),
			[]string{"all-ab", "any-ab", "default-all", "present-a", "present-a-empty", "all-of-nothing", "x-keys-ignored"}},
		{"only a", props("a", "1"),
			[]string{"any-ab", "present-a", "present-a-empty", "all-of-nothing", "x-keys-ignored"}},
		{"only b", props("b", int16(2)), []string{"any-ab", "all-of-nothing"}},
		{"a with another value", props("a", "2", "b", int32(3)),
			[]string{"present-a", "present-a-empty", "all-of-nothing"}},
		{"b as a string is not the integer", props("b", "2"), []string{"all-of-nothing"}},
		{"a as a symbol", props("a", types.Symbol("1")),
			[]string{"any-ab", "present-a", "present-a-empty", "all-of-nothing", "x-keys-ignored"}},
		{"presence of d", props("d", false), []string{"any-present", "all-of-nothing"}},
		{"presence of c", props("c", nil), []string{"any-present", "all-of-nothing"}},
		{"n as a short", props("n", int16(7)), []string{"int8", "uint64", "int", "all-of-nothing"}},
		{"n as a ulong", props("n", uint64(7)), []string{"int8", "uint64", "int", "all-of-nothing"}},
		{"n as a uint", props("n", uint32(7)), []string{"int8", "uint64", "int", "all-of-nothing"}},
		{"n is another number", props("n", int64(8)), []string{"all-of-nothing"}},
		{"n as a double", props("n", float64(7)), []string{"all-of-nothing"}},
		{"n as a huge ulong", props("n", uint64(1<<63+7)), []string{"all-of-nothing"}},
		{"s as a string", props("s", "x"), []string{"string-x", "symbol-x", "all-of-nothing"}},
		{"s as a symbol", props("s", types.Symbol("x")), []string{"string-x", "symbol-x", "all-of-nothing"}},
		{"s differs", props("s", "X"), []string{"all-of-nothing"}},
		{"flag", props("flag", true), []string{"bool", "all-of-nothing"}},
		{"flag false", props("flag", false), []string{"all-of-nothing"}},
		{"non-string keys are not headers", props(types.Symbol("a"), "1", int32(5), "x"),
			[]string{"all-of-nothing"}},
	}

	b := newBroker(t, Config{})
	for _, bd := range bindings {
		declare(t, b, bd.queue, QueueSettings{})
		// A headers binding's key only names it.
		bind(t, b, "amq.match", bd.queue, "key-"+bd.queue, bd.args)
	}
	for _, tc := range table {
		if got := routeNames(t, b, "amq.match", mo{Subject: "ignored", Props: tc.props}); !eq(got, sorted(tc.want...)) {
			t.Errorf("%s: reaches %v,\n want %v", tc.name, got, sorted(tc.want...))
		}
	}
}

func TestHeadersBindingArguments(t *testing.T) {
	b := newBroker(t, Config{})
	declare(t, b, "q", QueueSettings{})
	for _, tc := range []struct {
		args Args
		ok   bool
	}{
		{Args{"x-match": "all"}, true},
		{Args{"x-match": "any"}, true},
		{Args{"x-match": types.Symbol("any")}, true}, // AMQP 1.0 maps often carry symbols
		{Args{"x-match": types.Symbol("all")}, true},
		{nil, true},
		{Args{"x-match": "ALL"}, false},
		{Args{"x-match": "some"}, false},
		{Args{"x-match": 1}, false},
		{Args{"x-match": ""}, false},
	} {
		_, err := b.Bind("amq.match", "q", "k", tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("Bind with %v: %v, want ok %v", tc.args, err, tc.ok)
		}
	}
	// A refused binding leaves the previous binding with that key alone.
	bind(t, b, "amq.match", "q", "k", Args{"x-match": "any", "a": "1"})
	if _, err := b.Bind("amq.match", "q", "k", Args{"x-match": "bad"}); err == nil {
		t.Fatal("bad x-match accepted")
	}
	if got := routeNames(t, b, "amq.match", mo{Props: props("a", "1")}); !eq(got, []string{"q"}) {
		t.Errorf("the earlier binding is gone: %v", got)
	}
	// Binding again with the same key replaces the arguments.
	bind(t, b, "amq.match", "q", "k", Args{"a": "2"})
	if got := routeNames(t, b, "amq.match", mo{Props: props("a", "1")}); len(got) != 0 {
		t.Errorf("rebinding did not replace the arguments: %v", got)
	}
	if got := routeNames(t, b, "amq.match", mo{Props: props("a", "2")}); !eq(got, []string{"q"}) {
		t.Errorf("rebinding: %v", got)
	}
	if n := len(b.Exchange("amq.match").Bindings()); n != 1 {
		t.Errorf("%d bindings, want 1", n)
	}
}
