package types_test

import (
	"bytes"
	"encoding/xml"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// encodeCases are values with the exact bytes of their most compact encoding.
var encodeCases = []struct {
	name string
	v    any
	want []byte
}{
	{"null", nil, hx("40")},
	{"true", true, hx("41")},
	{"false", false, hx("42")},

	{"ubyte 0", uint8(0), hx("50 00")},
	{"ubyte max", uint8(255), hx("50 ff")},
	{"ushort 0", uint16(0), hx("60 00 00")},
	{"ushort max", uint16(math.MaxUint16), hx("60 ff ff")},
	{"uint 0", uint32(0), hx("43")},
	{"uint 5", uint32(5), hx("52 05")},
	{"uint 255", uint32(255), hx("52 ff")},
	{"uint 256", uint32(256), hx("70 00 00 01 00")},
	{"uint max", uint32(math.MaxUint32), hx("70 ff ff ff ff")},
	{"ulong 0", uint64(0), hx("44")},
	{"ulong 5", uint64(5), hx("53 05")},
	{"ulong 255", uint64(255), hx("53 ff")},
	{"ulong 256", uint64(256), hx("80 00 00 00 00 00 00 01 00")},
	{"ulong max", uint64(math.MaxUint64), hx("80 ff ff ff ff ff ff ff ff")},

	{"byte 0", int8(0), hx("51 00")},
	{"byte min", int8(math.MinInt8), hx("51 80")},
	{"byte max", int8(math.MaxInt8), hx("51 7f")},
	{"short min", int16(math.MinInt16), hx("61 80 00")},
	{"short max", int16(math.MaxInt16), hx("61 7f ff")},
	{"int 0", int32(0), hx("54 00")},
	{"int -1", int32(-1), hx("54 ff")},
	{"int -128", int32(-128), hx("54 80")},
	{"int 127", int32(127), hx("54 7f")},
	{"int 128", int32(128), hx("71 00 00 00 80")},
	{"int -129", int32(-129), hx("71 ff ff ff 7f")},
	{"int min", int32(math.MinInt32), hx("71 80 00 00 00")},
	{"int max", int32(math.MaxInt32), hx("71 7f ff ff ff")},
	{"long 0", int64(0), hx("55 00")},
	{"long -128", int64(-128), hx("55 80")},
	{"long 127", int64(127), hx("55 7f")},
	{"long 128", int64(128), hx("81 00 00 00 00 00 00 00 80")},
	{"long -129", int64(-129), hx("81 ff ff ff ff ff ff ff 7f")},
	{"long min", int64(math.MinInt64), hx("81 80 00 00 00 00 00 00 00")},
	{"long max", int64(math.MaxInt64), hx("81 7f ff ff ff ff ff ff ff")},
	{"Go int", 300, hx("81 00 00 00 00 00 00 01 2c")},
	{"Go uint", uint(7), hx("53 07")},

	{"float 0", float32(0), hx("72 00 00 00 00")},
	{"float -0", float32(math.Copysign(0, -1)), hx("72 80 00 00 00")},
	{"float 1.5", float32(1.5), hx("72 3f c0 00 00")},
	{"float +Inf", float32(math.Inf(1)), hx("72 7f 80 00 00")},
	{"float -Inf", float32(math.Inf(-1)), hx("72 ff 80 00 00")},
	{"float NaN", math.Float32frombits(0x7fc00001), hx("72 7f c0 00 01")},
	{"float max", float32(math.MaxFloat32), hx("72 7f 7f ff ff")},
	{"double 0", float64(0), hx("82 00 00 00 00 00 00 00 00")},
	{"double 1.5", 1.5, hx("82 3f f8 00 00 00 00 00 00")},
	{"double +Inf", math.Inf(1), hx("82 7f f0 00 00 00 00 00 00")},
	{"double -Inf", math.Inf(-1), hx("82 ff f0 00 00 00 00 00 00")},
	{"double NaN", math.Float64frombits(0x7ff8000000000001), hx("82 7f f8 00 00 00 00 00 01")},
	{"double smallest", math.SmallestNonzeroFloat64, hx("82 00 00 00 00 00 00 00 01")},

	{"decimal32", types.Decimal32{1, 2, 3, 4}, hx("74 01 02 03 04")},
	{"decimal64", types.Decimal64{1, 2, 3, 4, 5, 6, 7, 8}, hx("84 01 02 03 04 05 06 07 08")},
	{"decimal128", types.Decimal128{0: 0xff, 15: 0x01}, hx("94 ff 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01")},
	{"char a", types.Char('a'), hx("73 00 00 00 61")},
	{"char max", types.Char(0x10ffff), hx("73 00 10 ff ff")},
	{"timestamp 0", types.Timestamp(0), hx("83 00 00 00 00 00 00 00 00")},
	{"timestamp -1", types.Timestamp(-1), hx("83 ff ff ff ff ff ff ff ff")},
	{"timestamp 2024", types.Timestamp(1704067200000), hx("83 00 00 01 8c c2 51 f4 00")},
	{"uuid", types.UUID{0: 0xf8, 15: 0x1d}, hx("98 f8 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1d")},

	{"binary empty", []byte{}, hx("a0 00")},
	{"binary 3", []byte{1, 2, 3}, hx("a0 03 01 02 03")},
	{"binary 255", bytes.Repeat([]byte{7}, 255), cat(hx("a0 ff"), rep("07", 255))},
	{"binary 256", bytes.Repeat([]byte{7}, 256), cat(hx("b0 00 00 01 00"), rep("07", 256))},
	{"binary 70000", bytes.Repeat([]byte{7}, 70000), cat(hx("b0 00 01 11 70"), rep("07", 70000))},
	{"string empty", "", hx("a1 00")},
	{"string hi", "hi", hx("a1 02 68 69")},
	{"string utf8", "é€𝄞", hx("a1 09 c3 a9 e2 82 ac f0 9d 84 9e")},
	{"string 255", strings.Repeat("s", 255), cat(hx("a1 ff"), rep("73", 255))},
	{"string 256", strings.Repeat("s", 256), cat(hx("b1 00 00 01 00"), rep("73", 256))},
	{"string 70000", strings.Repeat("s", 70000), cat(hx("b1 00 01 11 70"), rep("73", 70000))},
	{"symbol empty", types.Symbol(""), hx("a3 00")},
	{"symbol", types.Symbol("amqp:x"), hx("a3 06 61 6d 71 70 3a 78")},
	{"symbol 255", types.Symbol(strings.Repeat("y", 255)), cat(hx("a3 ff"), rep("79", 255))},
	{"symbol 256", types.Symbol(strings.Repeat("y", 256)), cat(hx("b3 00 00 01 00"), rep("79", 256))},
	{"symbol 70000", types.Symbol(strings.Repeat("y", 70000)), cat(hx("b3 00 01 11 70"), rep("79", 70000))},

	{"list empty", []any{}, hx("45")},
	{"list one", []any{uint32(5)}, hx("c0 03 01 52 05")},
	{"list mixed", []any{nil, true, "a"}, hx("c0 06 03 40 41 a1 01 61")},
	{"list nested", []any{[]any{}, []any{nil}}, hx("c0 06 02 45 c0 02 01 40")},
	{"list 254 nulls", make([]any, 254), cat(hx("c0 ff fe"), rep("40", 254))},
	{"list 255 nulls", make([]any, 255), cat(hx("d0 00 00 01 03 00 00 00 ff"), rep("40", 255))},
	{"list body 255", []any{strings.Repeat("s", 252)}, cat(hx("c0 ff 01 a1 fc"), rep("73", 252))},
	{"list body 256", []any{strings.Repeat("s", 253)}, cat(hx("d0 00 00 01 03 00 00 00 01 a1 fd"), rep("73", 253))},

	{"map empty", types.Map{}, hx("c1 01 00")},
	{"map one", types.Map{{types.Symbol("a"), uint32(1)}}, hx("c1 06 02 a3 01 61 52 01")},
	{"map binary key", types.Map{{[]byte{9}, nil}}, hx("c1 05 02 a0 01 09 40")},
	{"map 128 entries", bigMap(128), cat(hx("d1 00 00 01 83 00 00 01 00"), bigMapBody(128))},
	{"Go map sorted", map[string]any{"b": int32(2), "a": nil}, hx("c1 0a 04 a1 01 61 40 a1 01 62 54 02")},
	{"Go symbol map", map[types.Symbol]any{"k": true}, hx("c1 05 02 a3 01 6b 41")},

	{"array zeros", types.Array{Type: types.TypeUint, Items: []any{uint32(0), uint32(0)}}, hx("e0 04 02 52 00 00")},
	{"array ulong zeros", types.Array{Type: types.TypeUlong, Items: []any{uint64(0)}}, hx("e0 03 01 53 00")},
	{"array smalluint", types.Array{Type: types.TypeUint, Items: []any{uint32(1), uint32(255)}}, hx("e0 04 02 52 01 ff")},
	{"array uint", types.Array{Type: types.TypeUint, Items: []any{uint32(1), uint32(256)}}, hx("e0 0a 02 70 00 00 00 01 00 00 01 00")},
	{"array symbols", types.Array{Type: types.TypeSymbol, Items: []any{types.Symbol("a"), types.Symbol("bc")}}, hx("e0 07 02 a3 01 61 02 62 63")},
	{"Go symbols", []types.Symbol{"a", "bc"}, hx("e0 07 02 a3 01 61 02 62 63")},
	{"Go no symbols", []types.Symbol{}, hx("e0 02 00 a3")},
	{"Go strings", []string{"a"}, hx("e0 04 01 a1 01 61")},
	{"array empty", types.Array{Type: types.TypeNull}, hx("e0 02 00 40")},
	{"array described", types.Array{Type: types.TypeSymbol, Descriptor: types.Symbol("x:y"), Items: []any{types.Symbol("a")}},
		hx("e0 0a 01 00 a3 03 78 3a 79 a3 01 61")},
	{"array of lists", types.Array{Type: types.TypeList, Items: []any{[]any{}, []any{true}}},
		hx("e0 13 02 d0 00 00 00 04 00 00 00 00 00 00 00 05 00 00 00 01 41")},
	{"array of arrays", types.Array{Type: types.TypeArray, Items: []any{types.Array{Type: types.TypeBoolean, Items: []any{true, false}}}},
		hx("e0 0d 01 f0 00 00 00 07 00 00 00 02 56 01 00")},
	{"array 256 bytes", types.Array{Type: types.TypeUbyte, Items: make254ubytes()},
		cat(hx("f0 00 00 01 03 00 00 00 fe 50"), rep("01", 254))},

	{"described ulong", types.Described{Descriptor: uint64(0x1234), Value: "v"}, hx("00 80 00 00 00 00 00 00 12 34 a1 01 76")},
	{"described small", types.Described{Descriptor: uint64(5), Value: nil}, hx("00 53 05 40")},
	{"described symbol", types.Described{Descriptor: types.Symbol("x:y"), Value: uint32(0)}, hx("00 a3 03 78 3a 79 43")},
	{"described list", types.Described{Descriptor: uint64(0x77777), Value: []any{}}, hx("00 80 00 00 00 00 00 07 77 77 45")},
	{"composite", &types.Accepted{}, hx("00 53 24 45")},
}

// bigMap is a map of n uint32 keys to null, whose encoding needs map32.
func bigMap(n int) types.Map {
	m := make(types.Map, n)
	for i := range m {
		m[i] = types.MapEntry{Key: uint32(i), Value: nil}
	}
	return m
}

func bigMapBody(n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = types.AppendNull(types.AppendUint(b, uint32(i)))
	}
	return b
}

func make254ubytes() []any {
	items := make([]any, 254)
	for i := range items {
		items[i] = uint8(1)
	}
	return items
}

func TestEncodeExactAndRoundTrip(t *testing.T) {
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			got := mustEncode(t, c.v)
			if !bytes.Equal(got, c.want) {
				t.Fatalf("encoding\n got % x\nwant % x", trim(got), trim(c.want))
			}
			// Appending keeps what is already in the buffer.
			prefixed, err := types.AppendValue([]byte{0xaa}, c.v)
			if err != nil || !bytes.Equal(prefixed, cat([]byte{0xaa}, c.want)) {
				t.Fatalf("appending to a prefix: % x, %v", trim(prefixed), err)
			}
			v, err := decodeAll(got)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !types.Equal(v, canonical(c.v)) {
				t.Fatalf("decoded %#v, want %#v", v, c.v)
			}
			d := types.NewDecoder(got)
			if err := d.Skip(); err != nil || d.Len() != 0 {
				t.Fatalf("Skip: %v, %d bytes left", err, d.Len())
			}
		})
	}
}

// canonical is the Go form a value decodes to.
func canonical(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case uint:
		return uint64(x)
	case map[string]any:
		m := types.Map{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			m = append(m, types.MapEntry{Key: k, Value: x[k]})
		}
		return m
	case map[types.Symbol]any:
		m := types.Map{}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			m = append(m, types.MapEntry{Key: k, Value: x[k]})
		}
		return m
	case []types.Symbol:
		a := types.Array{Type: types.TypeSymbol, Items: []any{}}
		for _, s := range x {
			a.Items = append(a.Items, s)
		}
		return a
	case []string:
		a := types.Array{Type: types.TypeString}
		for _, s := range x {
			a.Items = append(a.Items, s)
		}
		return a
	}
	return v
}

func trim(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

// decodeCases are hand-built inputs, in particular the wide and alternative
// encodings the encoder never produces.
var decodeCases = []struct {
	in   string
	want any
}{
	{"40", nil},
	{"41", true},
	{"42", false},
	{"56 00", false},
	{"56 01", true},
	{"50 05", uint8(5)},
	{"60 01 02", uint16(0x102)},
	{"43", uint32(0)},
	{"52 05", uint32(5)},
	{"70 00 00 00 05", uint32(5)},
	{"70 00 00 00 00", uint32(0)},
	{"44", uint64(0)},
	{"53 05", uint64(5)},
	{"80 00 00 00 00 00 00 00 05", uint64(5)},
	{"51 fb", int8(-5)},
	{"61 ff fb", int16(-5)},
	{"54 fb", int32(-5)},
	{"71 00 00 00 05", int32(5)},
	{"71 ff ff ff fb", int32(-5)},
	{"55 fb", int64(-5)},
	{"81 00 00 00 00 00 00 00 05", int64(5)},
	{"72 3f 80 00 00", float32(1)},
	{"82 3f f0 00 00 00 00 00 00", float64(1)},
	{"74 00 00 00 01", types.Decimal32{3: 1}},
	{"84 00 00 00 00 00 00 00 01", types.Decimal64{7: 1}},
	{"94 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01", types.Decimal128{15: 1}},
	{"73 00 00 00 41", types.Char('A')},
	{"83 00 00 00 00 00 00 00 01", types.Timestamp(1)},
	{"98 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", types.UUID{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
	{"a0 02 01 02", []byte{1, 2}},
	{"b0 00 00 00 02 01 02", []byte{1, 2}},
	{"b0 00 00 00 00", []byte{}},
	{"a1 02 68 69", "hi"},
	{"b1 00 00 00 02 68 69", "hi"},
	{"a3 02 68 69", types.Symbol("hi")},
	{"b3 00 00 00 02 68 69", types.Symbol("hi")},
	{"45", []any{}},
	{"c0 01 00", []any{}},
	{"c0 02 01 43", []any{uint32(0)}},
	{"d0 00 00 00 04 00 00 00 00", []any{}},
	{"d0 00 00 00 06 00 00 00 02 43 41", []any{uint32(0), true}},
	{"c1 01 00", types.Map{}},
	{"c1 03 02 43 40", types.Map{{uint32(0), nil}}},
	{"d1 00 00 00 04 00 00 00 00", types.Map{}},
	{"d1 00 00 00 08 00 00 00 02 a3 01 6b 40", types.Map{{types.Symbol("k"), nil}}},
	{"e0 02 02 43", types.Array{Type: types.TypeUint, Items: []any{uint32(0), uint32(0)}}},
	{"e0 04 02 56 01 00", types.Array{Type: types.TypeBoolean, Items: []any{true, false}}},
	{"e0 02 02 41", types.Array{Type: types.TypeBoolean, Items: []any{true, true}}},
	{"e0 02 01 45", types.Array{Type: types.TypeList, Items: []any{[]any{}}}},
	{"e0 04 01 c0 01 00", types.Array{Type: types.TypeList, Items: []any{[]any{}}}},
	{"e0 06 01 c1 03 02 40 40", types.Array{Type: types.TypeMap, Items: []any{types.Map{{nil, nil}}}}},
	{"e0 05 01 e0 02 00 40", types.Array{Type: types.TypeArray, Items: []any{types.Array{Type: types.TypeNull, Items: []any{}}}}},
	{"f0 00 00 00 07 00 00 00 02 52 01 02", types.Array{Type: types.TypeUint, Items: []any{uint32(1), uint32(2)}}},
	{"f0 00 00 00 05 00 00 00 00 70", types.Array{Type: types.TypeUint, Items: []any{}}},
	{"e0 06 01 00 53 07 52 09", types.Array{Type: types.TypeUint, Descriptor: uint64(7), Items: []any{uint32(9)}}},
	{"00 53 07 40", types.Described{Descriptor: uint64(7), Value: nil}},
	{"00 44 43", types.Described{Descriptor: uint64(0), Value: uint32(0)}},
	{"00 b3 00 00 00 01 61 40", types.Described{Descriptor: types.Symbol("a"), Value: nil}},
	{"00 53 24 45", &types.Accepted{}},
	{"00 53 24 c0 01 00", &types.Accepted{}},
	{"00 a3 12 61 6d 71 70 3a 61 63 63 65 70 74 65 64 3a 6c 69 73 74 45", &types.Accepted{}},
	{"00 53 24 a1 00", types.Described{Descriptor: uint64(0x24), Value: ""}}, // not a list: not the composite
	{"00 53 75 a0 01 ff", types.Described{Descriptor: uint64(0x75), Value: []byte{0xff}}},
	{"00 a3 10 61 6d 71 70 3a 64 61 74 61 3a 62 69 6e 61 72 79 a0 00", types.Described{Descriptor: types.Symbol("amqp:data:binary"), Value: []byte{}}},
}

func TestDecodeEveryEncoding(t *testing.T) {
	for _, c := range decodeCases {
		v, err := decodeAll(hx(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if !types.Equal(v, c.want) {
			t.Errorf("%s: decoded %#v, want %#v", c.in, v, c.want)
		}
	}
}

// TestSpecEncodingsCovered checks that every encoding code types.xml lists is
// decoded by a case above, and that the generated constants match the spec.
func TestSpecEncodingsCovered(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("spec", "types.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Sections []struct {
			Types []struct {
				Name      string `xml:"name,attr"`
				Encodings []struct {
					Code string `xml:"code,attr"`
				} `xml:"encoding"`
			} `xml:"type"`
		} `xml:"section"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	covered := map[byte]bool{}
	for _, c := range decodeCases {
		covered[hx(c.in)[0]] = true
	}
	n := 0
	for _, s := range doc.Sections {
		for _, typ := range s.Types {
			for _, e := range typ.Encodings {
				code, err := strconv.ParseUint(strings.TrimPrefix(e.Code, "0x"), 16, 8)
				if err != nil {
					t.Fatalf("%s: code %q: %v", typ.Name, e.Code, err)
				}
				n++
				if !covered[byte(code)] {
					t.Errorf("no decode case for %s encoding 0x%02x", typ.Name, code)
				}
			}
		}
	}
	if n != 39 {
		t.Errorf("types.xml lists %d encodings, want 39", n)
	}
}

func TestDecodeInvalid(t *testing.T) {
	for _, c := range []struct {
		in        string
		skipFails bool // the structure is broken too, so Skip fails as well
	}{
		{"", true},                               // no constructor
		{"01", true},                             // unknown code
		{"ff", true},                             // unknown code
		{"70 00 00", true},                       // truncated fixed
		{"98 00", true},                          // truncated uuid
		{"a0 05 01", true},                       // binary shorter than its length
		{"c0 05 01 43 43", true},                 // list size beyond the input
		{"00", true},                             // described without descriptor
		{"00 53 01", true},                       // described without value
		{"00 40 40", true},                       // null descriptor
		{"00 a1 01 61 40", true},                 // string descriptor
		{"00 53 01 00 53 02 40", true},           // descriptor of a descriptor
		{"00 00 53 01 53 02 40", true},           // described descriptor
		{"56 02", false},                         // boolean byte other than 0/1
		{"a1 01 ff", false},                      // invalid UTF-8
		{"a1 02 c3 28", false},                   // invalid UTF-8
		{"b1 00 00 00 01 c3", false},             // truncated UTF-8 sequence
		{"a1 03 ed a0 80", false},                // UTF-16 surrogate
		{"e0 03 01 a1 01 ff", false},             // invalid UTF-8 in an array
		{"c0 00", false},                         // list8 size too small for its count
		{"d0 00 00 00 03 00 00 00", false},       // list32 size too small for its count
		{"c0 03 01 43 43", false},                // list size does not match its contents
		{"c0 02 02 43", false},                   // count beyond the list's bytes
		{"c1 02 01 40", false},                   // map with an odd count
		{"d1 00 00 00 05 00 00 00 01 40", false}, // map32 with an odd count
		{"e0 01 00", false},                      // array without an element constructor
		{"e0 03 01 43 00", false},                // array size does not match
		{"e0 03 02 52 01", false},                // array count beyond its bytes
		{"e0 02 01 00", false},                   // element constructor missing after 0x00
		{"00 53 10 45", false},                   // open without its mandatory field
		{"00 53 10 c0 03 01 a3 00", false},       // open with a symbol container-id
	} {
		_, err := decodeAll(hx(c.in))
		wantDecodeErr(t, c.in, err)
		if c.skipFails {
			wantDecodeErr(t, "Skip "+c.in, types.NewDecoder(hx(c.in)).Skip())
		}
	}
}

func TestEncodeInvalid(t *testing.T) {
	for name, v := range map[string]any{
		"invalid UTF-8 string":         "a\xffb",
		"invalid UTF-8 in a list":      []any{"\xc3"},
		"invalid UTF-8 in a map":       types.Map{{"k", "\xed\xa0\x80"}},
		"invalid UTF-8 string array":   types.Array{Type: types.TypeString, Items: []any{"ok", "\xff"}},
		"invalid UTF-8 Go strings":     []string{"\xff"},
		"Go struct":                    struct{}{},
		"Go slice":                     []int{1},
		"array item of the wrong type": types.Array{Type: types.TypeInt, Items: []any{int32(1), "x"}},
		"array uint item not uint":     types.Array{Type: types.TypeUint, Items: []any{"x"}},
		"array ulong item not ulong":   types.Array{Type: types.TypeUlong, Items: []any{uint32(0)}},
		"array null item not null":     types.Array{Type: types.TypeNull, Items: []any{true}},
		"array of an unknown type":     types.Array{Type: types.Type(99), Items: []any{}},
		"array of lists holding a map": types.Array{Type: types.TypeList, Items: []any{types.Map{}}},
		"unencodable array descriptor": types.Array{Type: types.TypeNull, Descriptor: struct{}{}, Items: []any{nil}},
		"unencodable described value":  types.Described{Descriptor: uint64(1), Value: struct{}{}},
		"described described value":    types.Described{Descriptor: uint64(1), Value: types.Described{Descriptor: uint64(2)}},
		"described composite":          types.Described{Descriptor: uint64(1), Value: &types.Accepted{}},
		"Go int descriptor":            types.Described{Descriptor: 1, Value: nil},
		"string descriptor":            types.Described{Descriptor: "x:y", Value: nil},
		"Go int array descriptor":      types.Array{Type: types.TypeNull, Descriptor: 1, Items: []any{nil}},
	} {
		if b, err := types.AppendValue(nil, v); err == nil {
			t.Errorf("%s: encoded as % x", name, b)
		}
	}
}
