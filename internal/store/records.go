package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
)

// The journal's record types and their payloads (unsigned varints, strings
// as a varint length and bytes, arguments as one AMQP map). Every object
// has an id from one counter that never repeats: a queue deleted and
// declared again is another queue, and a record of the old one can never
// apply to the new.
const (
	recQueue       = 1  // id, name, identity, arguments (with durable, auto-delete, exclusive)
	recQueueDel    = 2  // id: its messages and bindings go with it
	recExchange    = 3  // id, name, type, identity, arguments
	recExchangeDel = 4  // id: its bindings go with it
	recBind        = 5  // id, exchange id (0: a built-in one), exchange name, queue id, key, arguments
	recUnbind      = 6  // id
	recEnqueue     = 7  // id, queue id, position, transaction id, expiry (Unix ns, 0: none), failures, HA epoch and sequence (0 0: none), the message
	recDequeue     = 8  // id, transaction id
	recRedeliver   = 9  // id, failures
	recCommit      = 10 // transaction id: its enqueues and dequeues take effect
	recPosition    = 11 // HA epoch, sequence: every durable change the broker made up to that replication position is in the records before
)

func recordName(t byte) string {
	switch t {
	case recQueue:
		return "queue"
	case recQueueDel:
		return "queue-delete"
	case recExchange:
		return "exchange"
	case recExchangeDel:
		return "exchange-delete"
	case recBind:
		return "bind"
	case recUnbind:
		return "unbind"
	case recEnqueue:
		return "enqueue"
	case recDequeue:
		return "dequeue"
	case recRedeliver:
		return "redeliver"
	case recCommit:
		return "commit"
	case recPosition:
		return "position"
	}
	return fmt.Sprintf("type %d", t)
}

func putUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func putString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// putArgs encodes arguments as an AMQP map, keys sorted. A value the AMQP
// codec cannot encode is kept as its text.
func putArgs(b []byte, a broker.Args) []byte {
	out, err := types.AppendValue(b, encodable(map[string]any(a)))
	if err != nil { // encodable leaves nothing that fails: never here
		out, _ = types.AppendValue(b, types.Map{})
	}
	return out
}

// encodable turns what the AMQP codec has no encoding for into text.
func encodable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := make(types.Map, 0, len(keys))
		for _, k := range keys {
			m = append(m, types.MapEntry{Key: k, Value: encodable(x[k])})
		}
		return m
	case broker.Args:
		return encodable(map[string]any(x))
	case string:
		if !utf8.ValidString(x) {
			return []byte(x)
		}
		return x
	}
	if _, err := types.AppendValue(nil, v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}

// reader decodes a payload; the first error sticks.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("record payload too short")

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) string() string { return string(r.bytes()) }

func (r *reader) args() broker.Args {
	if r.err != nil {
		return nil
	}
	d := types.NewDecoder(r.b)
	v, err := d.Value()
	if err != nil {
		r.err = fmt.Errorf("arguments: %w", err)
		return nil
	}
	r.b = r.b[d.Offset():]
	m, ok := v.(types.Map)
	if !ok {
		r.err = fmt.Errorf("arguments: %T is not a map", v)
		return nil
	}
	return broker.ArgsOf(m)
}

// end checks that the payload was read to its end.
func (r *reader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes left after the record's fields", len(r.b))
	}
	return r.err
}

// queueArgs are a queue's arguments with its flags, as it is restored.
func queueArgs(s broker.QueueSettings) broker.Args {
	a := s.Args.Clone()
	if a == nil {
		a = broker.Args{}
	}
	a[broker.ArgDurable] = s.Durable
	a[broker.ArgAutoDelete] = s.AutoDelete
	a[broker.ArgExclusive] = s.Exclusive
	return a
}

func exchangeArgs(s broker.ExchangeSettings) broker.Args {
	a := s.Args.Clone()
	if a == nil {
		a = broker.Args{}
	}
	a[broker.ArgDurable] = s.Durable
	a[broker.ArgAutoDelete] = s.AutoDelete
	if s.AlternateExchange != "" {
		a[broker.ArgAlternate] = s.AlternateExchange
	}
	return a
}

// enqueue is an enqueue record's fields.
type enqueue struct {
	id, queue, pos, txn uint64
	expires             int64 // Unix ns, 0: never
	failures            uint32
	ha                  broker.MessageID // the message's replication identity (zero: none)
	msg                 []byte           // the encoded message: header, annotations, bare message, footer
}

func (e *enqueue) append(b []byte) []byte {
	b = putUvarint(b, e.id)
	b = putUvarint(b, e.queue)
	b = putUvarint(b, e.pos)
	b = putUvarint(b, e.txn)
	b = putUvarint(b, uint64(e.expires))
	b = putUvarint(b, uint64(e.failures))
	b = putUvarint(b, e.ha.Epoch)
	b = putUvarint(b, e.ha.Seq)
	return append(b, e.msg...)
}

func parseEnqueue(p []byte) (enqueue, error) {
	r := reader{b: p}
	e := enqueue{id: r.uvarint(), queue: r.uvarint(), pos: r.uvarint(), txn: r.uvarint()}
	e.expires = int64(r.uvarint())
	f := r.uvarint()
	if f > 1<<32-1 {
		r.err = fmt.Errorf("failures %d out of range", f)
	}
	e.failures = uint32(f)
	e.ha = broker.MessageID{Epoch: r.uvarint(), Seq: r.uvarint()}
	e.msg = r.b
	if r.err == nil && (e.id == 0 || e.queue == 0) {
		r.err = errors.New("an enqueue without an id or queue")
	}
	return e, r.err
}

// parsePosition reads a position record.
func parsePosition(p []byte) (broker.MessageID, error) {
	r := reader{b: p}
	pos := broker.MessageID{Epoch: r.uvarint(), Seq: r.uvarint()}
	return pos, r.end()
}
