package broker

import (
	"fmt"
	"strings"
	"sync"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Exchange types.
const (
	Direct  = "direct"
	Topic   = "topic"
	Fanout  = "fanout"
	Headers = "headers"
)

// ExchangeSettings are an exchange's declared properties.
type ExchangeSettings struct {
	Durable           bool
	AutoDelete        bool
	AlternateExchange string
	// Args are the declared arguments, kept verbatim (qpid.replicate, ...).
	Args Args
	// Identity tells this exchange from one of the same name declared later
	// (set by the broker when empty).
	Identity string
}

// Binding routes messages from an exchange to a queue.
type Binding struct {
	Exchange string
	Queue    string
	Key      string
	Args     Args

	queue    *Queue
	exchange *Exchange
	pattern  []string // topic: the key split into words
	headers  headerMatch
	jid      uint64 // the journal's id, 0 if not durable
}

// From is the bound exchange.
func (b *Binding) From() *Exchange { return b.exchange }

// To is the bound queue.
func (b *Binding) To() *Queue { return b.queue }

// Exchange routes messages to the queues bound to it.
type Exchange struct {
	name     string
	kind     string
	settings ExchangeSettings
	builtin  bool

	mu       sync.RWMutex
	bindings []*Binding
	byKey    map[string][]*Binding // direct: bindings by key
	deleted  bool
	jid      uint64 // the journal's id, 0 if not durable
}

func newExchange(name, kind string, s ExchangeSettings, builtin bool) (*Exchange, error) {
	switch kind {
	case Direct, Topic, Fanout, Headers:
	default:
		return nil, fmt.Errorf("unknown exchange type %q (direct, topic, fanout or headers)", kind)
	}
	return &Exchange{name: name, kind: kind, settings: s, builtin: builtin, byKey: map[string][]*Binding{}}, nil
}

// Identity is the exchange's identity (see NewIdentity).
func (e *Exchange) Identity() string { return e.settings.Identity }

// Name is the exchange's name.
func (e *Exchange) Name() string { return e.name }

// Type is direct, topic, fanout or headers.
func (e *Exchange) Type() string { return e.kind }

// Settings are the exchange's declared properties.
func (e *Exchange) Settings() ExchangeSettings { return e.settings }

// Builtin reports whether the broker created the exchange itself (the
// nameless default and the amq.* exchanges): such exchanges are never
// replicated or deleted.
func (e *Exchange) Builtin() bool { return e.builtin }

// Bindings returns a copy of the exchange's bindings.
func (e *Exchange) Bindings() []*Binding {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return append([]*Binding(nil), e.bindings...)
}

// bind adds a binding; an identical one (same queue and key) is replaced.
func (e *Exchange) bind(b *Binding) error {
	switch e.kind {
	case Topic:
		b.pattern = strings.Split(b.Key, ".")
	case Headers:
		m, err := parseHeaderMatch(b.Args)
		if err != nil {
			return err
		}
		b.headers = m
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.deleted {
		return fmt.Errorf("%w: exchange %s", ErrNotFound, e.name)
	}
	e.removeLocked(b.Queue, b.Key)
	e.bindings = append(e.bindings, b)
	if e.kind == Direct {
		e.byKey[b.Key] = append(e.byKey[b.Key], b)
	}
	return nil
}

// unbind removes the binding of queue with key; it reports whether one existed.
func (e *Exchange) unbind(queue, key string) *Binding {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.removeLocked(queue, key)
}

func (e *Exchange) removeLocked(queue, key string) *Binding {
	for i, b := range e.bindings {
		if b.Queue == queue && b.Key == key {
			e.bindings = append(e.bindings[:i], e.bindings[i+1:]...)
			if e.kind == Direct {
				list := e.byKey[key]
				for j, d := range list {
					if d == b {
						list = append(list[:j], list[j+1:]...)
						break
					}
				}
				if len(list) == 0 {
					delete(e.byKey, key)
				} else {
					e.byKey[key] = list
				}
			}
			return b
		}
	}
	return nil
}

// unbindQueue removes every binding to a queue and returns them.
func (e *Exchange) unbindQueue(queue string) []*Binding {
	e.mu.Lock()
	defer e.mu.Unlock()
	var removed []*Binding
	for _, b := range append([]*Binding(nil), e.bindings...) {
		if b.Queue == queue {
			removed = append(removed, e.removeLocked(b.Queue, b.Key))
		}
	}
	return removed
}

// Route appends the queues a message with this routing key goes to. A queue
// bound twice receives the message once.
func (e *Exchange) Route(key string, m *message.Message, out []*Queue) []*Queue {
	e.mu.RLock()
	defer e.mu.RUnlock()
	start := len(out)
	add := func(q *Queue) {
		for _, have := range out[start:] {
			if have == q {
				return
			}
		}
		out = append(out, q)
	}
	switch e.kind {
	case Direct:
		for _, b := range e.byKey[key] {
			add(b.queue)
		}
	case Fanout:
		for _, b := range e.bindings {
			add(b.queue)
		}
	case Topic:
		words := strings.Split(key, ".")
		for _, b := range e.bindings {
			if topicMatch(b.pattern, words) {
				add(b.queue)
			}
		}
	case Headers:
		props := m.ApplicationProperties()
		for _, b := range e.bindings {
			if b.headers.match(props) {
				add(b.queue)
			}
		}
	}
	return out
}

// topicMatch matches dot-separated words against a binding pattern where
// "*" is exactly one word and "#" zero or more words.
func topicMatch(pattern, words []string) bool {
	if len(pattern) == 0 {
		return len(words) == 0
	}
	switch pattern[0] {
	case "#":
		// Skip consecutive #s, then try every split point.
		rest := pattern[1:]
		for len(rest) > 0 && rest[0] == "#" {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return true
		}
		for i := 0; i <= len(words); i++ {
			if topicMatch(rest, words[i:]) {
				return true
			}
		}
		return false
	case "*":
		return len(words) > 0 && topicMatch(pattern[1:], words[1:])
	}
	return len(words) > 0 && words[0] == pattern[0] && topicMatch(pattern[1:], words[1:])
}

// headerMatch is a headers-exchange binding: x-match all (every pair must
// match) or any (one is enough); a pair with no value matches on presence.
type headerMatch struct {
	any   bool
	pairs []MapPair
}

// MapPair is a key and value of a header binding.
type MapPair struct {
	Key   string
	Value any
}

func parseHeaderMatch(args Args) (headerMatch, error) {
	var m headerMatch
	v := args["x-match"]
	if sym, ok := v.(types.Symbol); ok {
		v = string(sym) // AMQP 1.0 maps often carry symbols
	}
	switch v {
	case nil, "all":
	case "any":
		m.any = true
	default:
		return m, fmt.Errorf("x-match must be all or any, not %v", v)
	}
	for k, v := range args {
		if strings.HasPrefix(k, "x-") {
			continue
		}
		m.pairs = append(m.pairs, MapPair{k, v})
	}
	return m, nil
}

func (h headerMatch) match(props types.Map) bool {
	if len(h.pairs) == 0 {
		return !h.any // all of nothing matches; any of nothing does not
	}
	for _, p := range h.pairs {
		v, ok := lookupProperty(props, p.Key)
		hit := ok && (p.Value == nil || p.Value == "" || sameValue(p.Value, v))
		if hit && h.any {
			return true
		}
		if !hit && !h.any {
			return false
		}
	}
	return !h.any
}

func lookupProperty(props types.Map, key string) (any, bool) {
	for _, e := range props {
		if k, ok := e.Key.(string); ok && k == key {
			return e.Value, true
		}
	}
	return nil, false
}

// sameValue compares a binding value with a message property, treating all
// integers alike (a binding declared with 1 matches a property sent as a
// long or an int).
func sameValue(a, b any) bool {
	if x, ok := asInt(a); ok {
		y, ok := asInt(b)
		return ok && x == y
	}
	if sym, ok := a.(types.Symbol); ok {
		a = string(sym) // a symbol binding value matches a string property too
	}
	if s, ok := a.(string); ok {
		switch t := b.(type) {
		case string:
			return s == t
		case types.Symbol:
			return s == string(t)
		}
		return false
	}
	return types.Equal(a, b)
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= 1<<63-1 {
			return int64(x), true
		}
	}
	return 0, false
}
