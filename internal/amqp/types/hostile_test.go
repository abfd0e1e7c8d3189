package types_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

func be32(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// nested returns levels copies of head wrapped around inner, each followed
// after the inner part by tail; head is given the length of what it wraps.
func nested(levels int, inner []byte, head func(innerLen int) []byte, tail []byte) []byte {
	// Sizes grow from the inside, so compute the length each level wraps first.
	lens := make([]int, levels+1)
	lens[levels] = len(inner)
	for i := levels - 1; i >= 0; i-- {
		lens[i] = len(head(lens[i+1])) + lens[i+1] + len(tail)
	}
	out := make([]byte, 0, lens[0])
	for i := 0; i < levels; i++ {
		out = append(out, head(lens[i+1])...)
	}
	out = append(out, inner...)
	for i := 0; i < levels; i++ {
		out = append(out, tail...)
	}
	return out
}

// hostileInputs are inputs crafted to make a decoder allocate or recurse in
// proportion to what they declare rather than to what they hold.
func hostileInputs() []struct {
	name string
	in   []byte
} {
	const deep = 100000
	return []struct {
		name string
		in   []byte
	}{
		{"vbin32 of 4 GB", hx("b0 ff ff ff ff 01 02 03")},
		{"str32 of 4 GB", hx("b1 ff ff ff ff 61 62 63")},
		{"sym32 of 4 GB", hx("b3 ff ff ff ff 61 62 63")},
		{"vbin8 of 255", hx("a0 ff 01 02 03")},
		{"list32 of 4 GB", hx("d0 ff ff ff ff 00 00 00 01 40")},
		{"list32 count 2^32-1", hx("d0 00 00 00 08 ff ff ff ff 40 40 40 40")},
		{"list8 count 255", hx("c0 04 ff 40 40 40")},
		{"map32 count 2^32-2", hx("d1 00 00 00 08 ff ff ff fe 40 40 40 40")},
		{"map8 odd count", hx("c1 02 01 40")},
		{"map32 odd count", hx("d1 00 00 00 06 00 00 00 03 40 40")},
		{"array32 of 2^32-1 uint0", hx("f0 00 00 00 05 ff ff ff ff 43")},
		{"array32 of 2^32-1 null", hx("f0 00 00 00 05 ff ff ff ff 40")},
		{"array32 of 2^32-1 list0", hx("f0 00 00 00 05 ff ff ff ff 45")},
		{"array32 of 2^32-1 true", hx("f0 00 00 00 05 ff ff ff ff 41")},
		{"array32 of 2^32-1 ulong", hx("f0 00 00 00 0d ff ff ff ff 80 00 00 00 00 00 00 00 01")},
		{"array32 of 2^32-1 str32", hx("f0 00 00 00 09 ff ff ff ff b1 00 00 00 00")},
		{"array32 of 2^32-1 list32", hx("f0 00 00 00 0d ff ff ff ff d0 00 00 00 04 00 00 00 00")},
		{"array32 of 2^32-1 described null", hx("f0 00 00 00 08 ff ff ff ff 00 53 01 40")},
		{"array of 2000 arrays of 65536 nulls",
			cat(hx("f0"), be32(4+1+2000*9), be32(2000), hx("f0"), rep("00 00 00 05 00 01 00 00 40", 2000))},
		{"array of 2000 arrays of 65536 list0",
			cat(hx("f0"), be32(4+1+2000*9), be32(2000), hx("f0"), rep("00 00 00 05 00 01 00 00 45", 2000))},
		{"list of 2000 arrays of 65536 uint0",
			cat(hx("d0"), be32(4+2000*10), be32(2000), rep("f0 00 00 00 05 00 01 00 00 43", 2000))},
		{"descriptor of a descriptor", hx("00 53 01 00 53 02 40")},
		{"described descriptor", hx("00 00 53 01 53 02 40")},
		{"100000 nested descriptors", cat(rep("00", deep), hx("53 01 40"))},
		{"100000 nested list8", cat(rep("c0 ff 01", deep), hx("40"))},
		{"100000 nested list32", nested(deep, hx("45"), func(n int) []byte { return cat(hx("d0"), be32(n+4), be32(1)) }, nil)},
		{"100000 nested map32", nested(deep, hx("45"), func(n int) []byte { return cat(hx("d1"), be32(n+5), be32(2)) }, hx("40"))},
		{"100000 nested array32", cat(hx("f0"), nested(deep, hx("00 00 00 05 00 00 00 00 40"),
			func(n int) []byte { return cat(be32(n+5), be32(1), hx("f0")) }, nil))},
		{"100000 nested described lists", nested(deep, hx("45"), func(n int) []byte { return cat(hx("00 53 01 d0"), be32(n+4), be32(1)) }, nil)},
		{"100000 nested transfers", nested(deep, hx("00 53 24 45"), func(n int) []byte {
			// transfer(handle 0, state = the next level)
			return cat(hx("00 53 14 d0"), be32(n+11), be32(8), hx("43 40 40 40 40 40 40"))
		}, nil)},
		{"100000 nested attach sources", nested(deep, hx("40"), func(n int) []byte {
			// source(default-outcome = the next level)
			return cat(hx("00 53 28 d0"), be32(n+12), be32(9), hx("40 40 40 40 40 40 40 40"))
		}, nil)},
	}
}

// TestHostileInputs checks that each hostile input fails with ErrDecode,
// quickly and with an allocation bounded by a small multiple of its length.
func TestHostileInputs(t *testing.T) {
	for _, c := range hostileInputs() {
		t.Run(c.name, func(t *testing.T) {
			var err error
			start := time.Now()
			alloc := allocBytes(func() { _, err = decodeAll(c.in) })
			elapsed := time.Since(start)
			wantDecodeErr(t, "Value", err)
			if limit := uint64(4<<20 + 64*len(c.in)); alloc > limit {
				t.Errorf("allocated %d bytes decoding %d, limit %d", alloc, len(c.in), limit)
			}
			if elapsed > 2*time.Second {
				t.Errorf("took %v", elapsed)
			}
			// The same inside a performative's field.
			var tr types.Transfer
			wantDecodeErr(t, "Transfer", types.Unmarshal(cat(hx("00 53 14 d0"), be32(len(c.in)+11), be32(8),
				hx("43 40 40 40 40 40 40"), c.in), &tr))
		})
	}
}

// TestBigCountsAllocateNothing checks that declared counts are rejected before
// anything is allocated for them.
func TestBigCountsAllocateNothing(t *testing.T) {
	for _, in := range []string{
		"b0 ff ff ff ff 01 02 03",
		"d0 00 00 00 08 ff ff ff ff 40 40 40 40",
		"d1 00 00 00 08 ff ff ff fe 40 40 40 40",
		"f0 00 00 00 05 ff ff ff ff 43",
		"f0 00 00 00 0d ff ff ff ff 80 00 00 00 00 00 00 00 01",
	} {
		b := hx(in)
		d := types.NewDecoder(b)
		// Only the error is allocated.
		if n := testing.AllocsPerRun(100, func() { d.Reset(b); _, _ = d.Value() }); n > 8 {
			t.Errorf("%s: %v allocations", in, n)
		}
		if n := allocBytes(func() { d.Reset(b); _, _ = d.Value() }); n > 4096 {
			t.Errorf("%s: %d bytes allocated", in, n)
		}
	}
}

// TestDepthLimit checks nesting up to MaxDepth decodes and one more does not.
func TestDepthLimit(t *testing.T) {
	for _, c := range []struct {
		name string
		wrap func(v any) any
	}{
		{"list", func(v any) any { return []any{v} }},
		{"map", func(v any) any { return types.Map{{v, nil}} }},
		{"array", func(v any) any { return types.Array{Type: types.TypeList, Items: []any{[]any{v}}} }},
		{"described", func(v any) any { return types.Described{Descriptor: uint64(1 << 40), Value: []any{v}} }},
		{"composite", func(v any) any { return &types.Transfer{State: v} }},
	} {
		var v any = uint32(1)
		levels := 0
		for {
			enc := mustEncode(t, c.wrap(v))
			if _, err := decodeAll(enc); err != nil {
				wantDecodeErr(t, c.name, err)
				break
			}
			v = c.wrap(v)
			if levels++; levels > types.MaxDepth {
				t.Fatalf("%s: %d levels decoded, MaxDepth is %d", c.name, levels, types.MaxDepth)
			}
		}
		if levels < types.MaxDepth/2 {
			t.Errorf("%s: only %d levels decode", c.name, levels)
		}
	}
}
