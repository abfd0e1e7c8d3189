package broker

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// mo describes a test message. The zero value is a message with no header,
// no properties, no application properties and an empty data section.
type mo struct {
	Header  *types.Header // nil: no header section (priority 4, no ttl)
	Subject string        // properties subject: the routing key
	To      string        // properties to
	Expiry  time.Time     // properties absolute-expiry-time, zero: none
	Props   types.Map     // application properties, nil: none
	Body    string        // the data section
}

// msg encodes a message from its description and parses it back the way
// the server does, so the broker sees exactly what a client would send.
func msg(t testing.TB, o mo) *message.Message {
	t.Helper()
	var b []byte
	var err error
	if o.Header != nil {
		if b, err = o.Header.Marshal(b); err != nil {
			t.Fatalf("encoding header: %v", err)
		}
	}
	if o.Subject != "" || o.To != "" || !o.Expiry.IsZero() {
		p := types.DefaultProperties()
		p.Subject, p.To = o.Subject, o.To
		if !o.Expiry.IsZero() {
			p.AbsoluteExpiryTime = types.Some(types.TimestampOf(o.Expiry))
		}
		if b, err = p.Marshal(b); err != nil {
			t.Fatalf("encoding properties: %v", err)
		}
	}
	if o.Props != nil {
		b = types.AppendDescriptor(b, types.DescriptorApplicationProperties)
		if b, err = types.AppendValue(b, o.Props); err != nil {
			t.Fatalf("encoding application properties: %v", err)
		}
	}
	b = types.AppendDescriptor(b, types.DescriptorData)
	b = types.AppendBinary(b, []byte(o.Body))
	m, err := message.Parse(b)
	if err != nil {
		t.Fatalf("message.Parse: %v", err)
	}
	return m
}

// body is a plain message carrying s.
func body(t testing.TB, s string) *message.Message { return msg(t, mo{Body: s}) }

// prio is a message carrying s with a header of the given priority.
func prio(t testing.TB, p uint8, s string) *message.Message {
	h := types.DefaultHeader()
	h.Priority = p
	return msg(t, mo{Header: &h, Body: s})
}

// withTTL is a message carrying s with a header ttl.
func withTTL(t testing.TB, ttl time.Duration, s string) *message.Message {
	h := types.DefaultHeader()
	h.TTL = types.Some(uint32(ttl / time.Millisecond))
	return msg(t, mo{Header: &h, Body: s})
}

// props builds application properties from alternating keys and values.
func props(kv ...any) types.Map {
	m := types.Map{}
	for i := 0; i+1 < len(kv); i += 2 {
		m = append(m, types.MapEntry{Key: kv[i], Value: kv[i+1]})
	}
	return m
}

// bodyOf returns the content of a message's data section.
func bodyOf(t testing.TB, m *message.Message) string {
	t.Helper()
	d := types.NewDecoder(m.Bare)
	for d.Len() > 0 {
		code, err := d.ReadDescriptor()
		if err != nil {
			t.Fatalf("bodyOf: %v", err)
		}
		v, err := d.Value()
		if err != nil {
			t.Fatalf("bodyOf: %v", err)
		}
		if code == types.DescriptorData {
			return string(v.([]byte))
		}
	}
	t.Fatalf("bodyOf: the message has no data section")
	return ""
}

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newBroker returns a broker with the given configuration or fails.
func newBroker(t testing.TB, cfg Config) *Broker {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// declare declares a queue on b or fails.
func declare(t testing.TB, b *Broker, name string, s QueueSettings) *Queue {
	t.Helper()
	q, _, err := b.DeclareQueue(name, s)
	if err != nil {
		t.Fatalf("DeclareQueue(%q): %v", name, err)
	}
	return q
}

// bind binds queue to exchange on b or fails.
func bind(t testing.TB, b *Broker, exchange, queue, key string, args Args) {
	t.Helper()
	if _, err := b.Bind(exchange, queue, key, args); err != nil {
		t.Fatalf("Bind(%q, %q, %q, %v): %v", exchange, queue, key, args, err)
	}
}

// enqueue puts messages with the given bodies on q or fails.
func enqueue(t testing.TB, q *Queue, bodies ...string) []*Entry {
	t.Helper()
	var es []*Entry
	for _, s := range bodies {
		e, err := q.Enqueue(body(t, s))
		if err != nil {
			t.Fatalf("Enqueue(%q) on %s: %v", s, q.Name(), err)
		}
		es = append(es, e)
	}
	return es
}

// sub is a consumer that counts its notifications.
type sub struct {
	*Consumer
	mu       sync.Mutex
	notified int
}

func subscribe(t testing.TB, q *Queue, owner string) *sub {
	t.Helper()
	s := &sub{}
	c, err := q.Subscribe(owner, func() {
		s.mu.Lock()
		s.notified++
		s.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("Subscribe(%q) to %s: %v", owner, q.Name(), err)
	}
	s.Consumer = c
	return s
}

// notifications returns how often the consumer was notified and resets it.
func (s *sub) notifications() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.notified
	s.notified = 0
	return n
}

// fetch acquires up to max entries.
func (s *sub) fetch(max int) []*Entry { return s.Fetch(nil, max) }

// bodies returns the bodies of entries.
func bodies(t testing.TB, es []*Entry) []string {
	t.Helper()
	out := []string{}
	for _, e := range es {
		out = append(out, bodyOf(t, e.Msg))
	}
	return out
}

// drain fetches, accepts and returns the bodies of every available message.
func drain(t testing.TB, q *Queue) []string {
	t.Helper()
	c, err := q.Subscribe("drain", func() {})
	if err != nil {
		t.Fatalf("Subscribe to %s: %v", q.Name(), err)
	}
	defer c.Close()
	es := c.Fetch(nil, 1<<20)
	for _, e := range es {
		c.Accept(e)
	}
	return bodies(t, es)
}

// eq compares string slices.
func eq(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wantErr checks that err wraps target (or is nil when target is nil).
func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case target != nil && !errors.Is(err, target):
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

// peekEntries returns every entry on q, acquired or not, expired or not,
// in the order Fetch would consider them.
func peekEntries(q *Queue) []*Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []*Entry
	for i := len(q.lanes) - 1; i >= 0; i-- {
		l := q.lanes[i]
		for _, e := range l.entries[l.head:] {
			if e.state != removed {
				out = append(out, e)
			}
		}
	}
	return out
}
