package store

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// env is a broker on a store on an in-memory file system, written by hand
// (Manual): each test says when batches are written and synced.
type env struct {
	t   testing.TB
	fs  *vfs.Mem
	st  *Store
	b   *broker.Broker
	rec *Recovered
	now time.Time
}

const testSegment = 4096

func start(t testing.TB, fs *vfs.Mem) *env {
	t.Helper()
	e := &env{t: t, fs: fs, now: time.Unix(1_800_000_000, 0)}
	var err error
	e.st, e.rec, err = Open(Config{Dir: "/store", FS: fs, SegmentSize: testSegment, Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	e.b, err = broker.New(broker.Config{Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rec.Restore(e.b); err != nil {
		t.Fatal(err)
	}
	e.b.SetJournal(e.st)
	return e
}

// crash loses power now: what was synced is what the next start finds.
func (e *env) crash(tear *rand.Rand) *env {
	e.t.Helper()
	after := e.fs.Crash(tear)
	return start(e.t, after)
}

// lookAfterCrash starts on what a power loss now would leave, while this
// one runs on.
func (e *env) lookAfterCrash() *env {
	e.t.Helper()
	return start(e.t, e.fs.Durable(nil))
}

// restart stops cleanly and starts again.
func (e *env) restart() *env {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	return start(e.t, e.fs.Crash(nil))
}

func (e *env) flush() {
	e.t.Helper()
	if err := e.st.Flush(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) queue(name string, args broker.Args) *broker.Queue {
	e.t.Helper()
	s, err := broker.ParseQueueArgs(args)
	if err != nil {
		e.t.Fatal(err)
	}
	q, _, err := e.b.DeclareQueue(name, s)
	if err != nil {
		e.t.Fatal(err)
	}
	return q
}

// spec describes a test message.
type spec struct {
	body       string
	persistent bool
	priority   uint8
	ttl        time.Duration
	props      types.Map
	subject    string
	count      uint32 // the sender's delivery-count
}

func (e *env) msg(s spec) *message.Message {
	e.t.Helper()
	var b []byte
	h := types.DefaultHeader()
	h.Durable = s.persistent
	if s.priority != 0 {
		h.Priority = s.priority
	}
	if s.ttl > 0 {
		h.TTL = types.Some(uint32(s.ttl / time.Millisecond))
	}
	h.DeliveryCount = s.count
	b, _ = h.Marshal(b)
	b = types.AppendDescriptor(b, types.DescriptorMessageAnnotations)
	b, _ = types.AppendValue(b, types.Map{{Key: types.Symbol("x-opt-test"), Value: "annotation"}})
	p := types.DefaultProperties()
	p.MessageID = s.body
	p.Subject = s.subject
	b, _ = p.Marshal(b)
	if s.props != nil {
		b = types.AppendDescriptor(b, types.DescriptorApplicationProperties)
		b, _ = types.AppendValue(b, s.props)
	}
	b = types.AppendDescriptor(b, types.DescriptorData)
	b = types.AppendBinary(b, []byte(s.body))
	m, err := message.Parse(b)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// send enqueues and returns the hold the sender's acknowledgement waits for
// (nil: at once).
func (e *env) send(q *broker.Queue, s spec) (*broker.Entry, *broker.Hold) {
	e.t.Helper()
	en, err := q.Enqueue(e.msg(s))
	if err != nil {
		e.t.Fatalf("enqueue %s: %v", s.body, err)
	}
	return en, en.StoreHold()
}

// bodies lists a queue's messages, oldest first.
func bodies(q *broker.Queue) []string {
	var out []string
	q.Entries(func(live []*broker.Entry) {
		for _, en := range live {
			out = append(out, bodyOf(en.Msg))
		}
	})
	return out
}

func bodyOf(m *message.Message) string {
	d := types.NewDecoder(m.Bare)
	for d.Len() > 0 {
		code, err := d.ReadDescriptor()
		if err != nil {
			return "?"
		}
		if code == types.DescriptorData {
			v, err := d.Value()
			if err != nil {
				return "?"
			}
			if b, ok := v.([]byte); ok {
				return string(b)
			}
			return fmt.Sprint(v)
		}
		if err := d.Skip(); err != nil {
			return "?"
		}
	}
	return ""
}

// done reports whether a hold (nil: none) is done.
func done(h *broker.Hold) bool {
	if h == nil {
		return true
	}
	return h.Pending() == 0
}
