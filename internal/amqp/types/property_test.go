package types_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// valueGen makes random AMQP values in the Go form the decoder produces.
type valueGen struct{ r *rand.Rand }

func newValueGen(seed uint64) valueGen {
	return valueGen{rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// allTypes lists every AMQP primitive type.
var allTypes = []types.Type{
	types.TypeNull, types.TypeBoolean, types.TypeUbyte, types.TypeUshort, types.TypeUint, types.TypeUlong,
	types.TypeByte, types.TypeShort, types.TypeInt, types.TypeLong, types.TypeFloat, types.TypeDouble,
	types.TypeDecimal32, types.TypeDecimal64, types.TypeDecimal128, types.TypeChar, types.TypeTimestamp,
	types.TypeUUID, types.TypeBinary, types.TypeString, types.TypeSymbol, types.TypeList, types.TypeMap,
	types.TypeArray,
}

// value returns a random value: a primitive, a compound holding values up to
// depth levels deep, a described value or a generated composite.
func (g valueGen) value(depth int) any {
	switch n := g.r.IntN(len(allTypes) + 2); {
	case n < len(allTypes):
		return g.of(allTypes[n], depth)
	case depth <= 0:
		return nil
	case n == len(allTypes):
		v := g.value(depth - 1)
		switch v.(type) {
		case types.Described, types.Composite:
			v = nil // a described value's value is not described
		}
		return types.Described{Descriptor: g.descriptor(), Value: v}
	default:
		return g.composite()
	}
}

// of returns a random value of type t.
func (g valueGen) of(t types.Type, depth int) any {
	r := g.r
	switch t {
	case types.TypeNull:
		return nil
	case types.TypeBoolean:
		return r.IntN(2) == 0
	case types.TypeUbyte:
		return uint8(g.uint(math.MaxUint8))
	case types.TypeUshort:
		return uint16(g.uint(math.MaxUint16))
	case types.TypeUint:
		return uint32(g.uint(math.MaxUint32))
	case types.TypeUlong:
		return g.uint(math.MaxUint64)
	case types.TypeByte:
		return int8(g.uint(math.MaxUint8))
	case types.TypeShort:
		return int16(g.uint(math.MaxUint16))
	case types.TypeInt:
		return int32(g.uint(math.MaxUint32))
	case types.TypeLong:
		return int64(g.uint(math.MaxUint64))
	case types.TypeFloat:
		return math.Float32frombits(uint32(g.uint(math.MaxUint32)))
	case types.TypeDouble:
		return math.Float64frombits(g.uint(math.MaxUint64))
	case types.TypeDecimal32:
		var d types.Decimal32
		g.fill(d[:])
		return d
	case types.TypeDecimal64:
		var d types.Decimal64
		g.fill(d[:])
		return d
	case types.TypeDecimal128:
		var d types.Decimal128
		g.fill(d[:])
		return d
	case types.TypeChar:
		return types.Char(g.uint(0x10ffff))
	case types.TypeTimestamp:
		return types.Timestamp(g.uint(math.MaxUint64))
	case types.TypeUUID:
		var u types.UUID
		g.fill(u[:])
		return u
	case types.TypeBinary:
		b := make([]byte, g.length())
		g.fill(b)
		return b
	case types.TypeString:
		var sb strings.Builder
		for n := g.length(); sb.Len() < n; {
			c := rune(r.IntN(0x10ffff + 1))
			if c >= 0xd800 && c <= 0xdfff {
				continue
			}
			if r.IntN(4) > 0 {
				c = rune(' ' + r.IntN(95))
			}
			sb.WriteRune(c)
		}
		return sb.String()
	case types.TypeSymbol:
		b := make([]byte, g.length())
		for i := range b {
			b[i] = byte(' ' + r.IntN(95))
		}
		return types.Symbol(b)
	case types.TypeList:
		if depth <= 0 {
			return []any{}
		}
		l := make([]any, r.IntN(5))
		for i := range l {
			l[i] = g.value(depth - 1)
		}
		return l
	case types.TypeMap:
		if depth <= 0 {
			return types.Map{}
		}
		m := make(types.Map, r.IntN(4))
		for i := range m {
			m[i] = types.MapEntry{Key: g.value(depth - 1), Value: g.value(depth - 1)}
		}
		return m
	case types.TypeArray:
		return g.array(depth)
	}
	panic("unknown type")
}

// array returns a random array whose elements are of one random type.
func (g valueGen) array(depth int) types.Array {
	t := allTypes[g.r.IntN(len(allTypes))]
	if depth <= 0 && (t == types.TypeList || t == types.TypeMap || t == types.TypeArray) {
		t = types.TypeUint
	}
	a := types.Array{Type: t, Items: make([]any, g.r.IntN(5))}
	if g.r.IntN(4) == 0 {
		a.Descriptor = g.descriptor()
	}
	// Runs of zeros make the zero-width element encodings (uint0, ulong0) likely.
	zero := g.r.IntN(3) == 0
	for i := range a.Items {
		if zero && t == types.TypeUint {
			a.Items[i] = uint32(0)
		} else if zero && t == types.TypeUlong {
			a.Items[i] = uint64(0)
		} else {
			a.Items[i] = g.of(t, depth-1)
		}
	}
	return a
}

// uint returns a number no greater than max, biased towards the boundaries
// of the compact encodings.
func (g valueGen) uint(max uint64) uint64 {
	var v uint64
	switch g.r.IntN(6) {
	case 0:
		v = 0
	case 1:
		v = uint64(g.r.IntN(256))
	case 2:
		v = []uint64{127, 128, 255, 256, 0xff7f, 0xff80, 0xffffff7f, 0xffffff80, math.MaxUint64}[g.r.IntN(9)]
	default:
		v = g.r.Uint64()
	}
	if max < math.MaxUint64 {
		v %= max + 1
	}
	return v
}

// length returns a length for binary, string and symbol values, sometimes on
// either side of the 8-bit encoding's limit.
func (g valueGen) length() int {
	if g.r.IntN(20) == 0 {
		return 250 + g.r.IntN(10)
	}
	return g.r.IntN(12)
}

func (g valueGen) fill(b []byte) {
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
}

// descriptor returns a numeric or symbolic descriptor no generated composite has.
func (g valueGen) descriptor() any {
	if g.r.IntN(2) == 0 {
		return uint64(0x12345)<<32 | g.r.Uint64()>>32
	}
	return types.Symbol("test:" + strings.Repeat("d", g.r.IntN(4)))
}

// composite returns one of a few generated composites.
func (g valueGen) composite() any {
	switch g.r.IntN(4) {
	case 0:
		return &types.Accepted{}
	case 1:
		return &types.Received{SectionNumber: uint32(g.uint(math.MaxUint32)), SectionOffset: g.uint(math.MaxUint64)}
	case 2:
		return &types.Rejected{Error: &types.Error{Condition: types.CondDecodeError, Description: "d", Info: types.Map{{types.Symbol("k"), int32(1)}}}}
	}
	return &types.Modified{DeliveryFailed: true, MessageAnnotations: types.Map{}}
}

// TestRandomValuesRoundTrip encodes random nested values, decodes them and
// checks that the result equals the original and re-encodes to the same bytes.
func TestRandomValuesRoundTrip(t *testing.T) {
	g := newValueGen(1)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		v := g.value(4)
		enc := mustEncode(t, v)
		got, err := decodeAll(enc)
		if err != nil {
			t.Fatalf("value %d: decode %#v from % x: %v", i, v, trim(enc), err)
		}
		if !types.Equal(got, v) {
			t.Fatalf("value %d: decoded %#v, want %#v", i, got, v)
		}
		if again := mustEncode(t, got); !bytes.Equal(again, enc) {
			t.Fatalf("value %d: re-encoded\n% x\nwant\n% x", i, trim(again), trim(enc))
		}
		d := types.NewDecoder(enc)
		if err := d.Skip(); err != nil || d.Len() != 0 {
			t.Fatalf("value %d: Skip: %v, %d bytes left", i, err, d.Len())
		}
	}
}

// TestArrayEveryElementType round-trips arrays of every type, plain and
// described, with no, one and several items.
func TestArrayEveryElementType(t *testing.T) {
	g := newValueGen(2)
	for _, typ := range allTypes {
		for _, n := range []int{0, 1, 3, 300} {
			for _, desc := range []any{nil, uint64(0x77), types.Symbol("x:y")} {
				a := types.Array{Type: typ, Descriptor: desc, Items: make([]any, n)}
				for i := range a.Items {
					a.Items[i] = g.of(typ, 2)
				}
				enc := mustEncode(t, a)
				got, err := decodeAll(enc)
				if err != nil {
					t.Fatalf("%v x%d: %v", typ, n, err)
				}
				if !types.Equal(got, a) {
					t.Fatalf("%v x%d: decoded %#v, want %#v", typ, n, got, a)
				}
			}
		}
	}
}

// TestRandomBytesNeverPanic decodes random bytes and random mutations of valid
// encodings: every outcome is a value or an ErrDecode, never a panic.
func TestRandomBytesNeverPanic(t *testing.T) {
	g := newValueGen(3)
	r := g.r
	n := 50000
	if testing.Short() {
		n = 5000
	}
	for i := 0; i < n; i++ {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, r.IntN(64))
			g.fill(b)
		} else {
			b = mustEncode(t, g.value(3))
			for k := 1 + r.IntN(4); k > 0 && len(b) > 0; k-- {
				switch r.IntN(3) {
				case 0:
					b[r.IntN(len(b))] = byte(r.Uint32())
				case 1:
					b = b[:r.IntN(len(b))]
				default:
					j := r.IntN(len(b))
					b = append(b[:j:j], append([]byte{byte(r.Uint32())}, b[j:]...)...)
				}
			}
		}
		checkDecodeInvariants(t, b)
	}
}
