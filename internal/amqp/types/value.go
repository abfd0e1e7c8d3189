// Package types is the AMQP 1.0 type system (OASIS AMQP 1.0 part 1) and every
// composite type the specification defines: performatives, SASL frames, message
// sections, delivery states, termini and transaction types.
//
// The encoding tables and composite types in zz_generated.go are generated from
// the specification's own XML definitions in spec/ by ./gen; the primitives in
// this package are written by hand and every read is bounds-checked, so a hostile
// input can make a decode fail but never panic or allocate beyond its own length.
package types

//go:generate go run ./gen -spec spec -out zz_generated.go

import (
	"bytes"
	"fmt"
	"time"
)

// The Go representation of AMQP values in generic (untyped) positions:
//
//	null        nil              boolean    bool
//	ubyte       uint8            byte       int8
//	ushort      uint16           short      int16
//	uint        uint32           int        int32
//	ulong       uint64           long       int64
//	float       float32          double     float64
//	decimal32   Decimal32        decimal64  Decimal64    decimal128 Decimal128
//	char        Char             timestamp  Timestamp    uuid       UUID
//	binary      []byte           string     string       symbol     Symbol
//	list        []any            map        Map          array      Array
//	described   a generated composite (pointer) when the descriptor is known,
//	            otherwise Described

// Symbol is an AMQP symbol: ASCII, used for names and error conditions.
type Symbol string

// Char is a single unicode character (UTF-32).
type Char rune

// Timestamp is an absolute point in time in milliseconds since the Unix epoch.
type Timestamp int64

// TimestampOf converts a time.Time, truncating to milliseconds.
func TimestampOf(t time.Time) Timestamp { return Timestamp(t.UnixMilli()) }

// Time converts the timestamp to a time.Time.
func (t Timestamp) Time() time.Time { return time.UnixMilli(int64(t)) }

// UUID is an RFC-4122 universally unique identifier.
type UUID [16]byte

func (u UUID) String() string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Decimal32, Decimal64 and Decimal128 carry IEEE 754-2008 decimal values as
// their raw encodings: the broker forwards them and never computes with them.
type (
	Decimal32  [4]byte
	Decimal64  [8]byte
	Decimal128 [16]byte
)

// MapEntry is one key/value pair of a Map.
type MapEntry struct {
	Key, Value any
}

// Map is an AMQP map. It keeps the encoded order (so values round-trip exactly)
// and allows keys Go maps cannot hold, such as binary.
type Map []MapEntry

// Get returns the value stored under key.
func (m Map) Get(key any) (any, bool) {
	for _, e := range m {
		if Equal(e.Key, key) {
			return e.Value, true
		}
	}
	return nil, false
}

// Set replaces the value under key or appends a new entry.
func (m *Map) Set(key, value any) {
	for i, e := range *m {
		if Equal(e.Key, key) {
			(*m)[i].Value = value
			return
		}
	}
	*m = append(*m, MapEntry{key, value})
}

// Delete removes the entry under key, if any.
func (m *Map) Delete(key any) {
	for i, e := range *m {
		if Equal(e.Key, key) {
			*m = append((*m)[:i], (*m)[i+1:]...)
			return
		}
	}
}

// Array is an AMQP array: a sequence of values sharing one type.
// For arrays of described values Descriptor is the shared descriptor and
// Type the type of the described values.
type Array struct {
	Type       Type
	Descriptor any
	Items      []any
}

// Symbols returns the items of an array of symbols.
func (a Array) Symbols() ([]Symbol, bool) {
	if a.Type != TypeSymbol || a.Descriptor != nil {
		return nil, false
	}
	out := make([]Symbol, len(a.Items))
	for i, v := range a.Items {
		out[i] = v.(Symbol)
	}
	return out, true
}

// Described is a described value whose descriptor this package does not know.
type Described struct {
	Descriptor any // uint64 or Symbol
	Value      any
}

// Opt is an optional field of a composite type that has no default value: the
// spec distinguishes "absent" from every value (begin's remote-channel, flow's
// link-credit, transfer's delivery-id, ...).
type Opt[T any] struct {
	V   T
	Set bool
}

// Some returns a present optional value.
func Some[T any](v T) Opt[T] { return Opt[T]{V: v, Set: true} }

// Get returns the value, or def when absent.
func (o Opt[T]) Get(def T) T {
	if o.Set {
		return o.V
	}
	return def
}

// Equal reports whether two generic AMQP values are equal. Binary values compare
// by content; lists, maps and arrays element by element.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case Map:
		y, ok := b.(Map)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i].Key, y[i].Key) || !Equal(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	case Array:
		y, ok := b.(Array)
		if !ok || x.Type != y.Type || !Equal(x.Descriptor, y.Descriptor) || len(x.Items) != len(y.Items) {
			return false
		}
		for i := range x.Items {
			if !Equal(x.Items[i], y.Items[i]) {
				return false
			}
		}
		return true
	case Described:
		y, ok := b.(Described)
		return ok && Equal(x.Descriptor, y.Descriptor) && Equal(x.Value, y.Value)
	case float32:
		y, ok := b.(float32)
		return ok && (x == y || (x != x && y != y)) // NaN equals NaN for round trips
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || (x != x && y != y))
	case Composite:
		y, ok := b.(Composite)
		if !ok || x.Descriptor() != y.Descriptor() {
			return false
		}
		xb, err1 := x.Marshal(nil)
		yb, err2 := y.Marshal(nil)
		return err1 == nil && err2 == nil && bytes.Equal(xb, yb)
	}
	defer func() { _ = recover() }() // incomparable dynamic types are simply unequal
	return a == b
}
