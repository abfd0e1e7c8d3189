package types

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// ErrDecode is wrapped by every decoding failure; the engine answers it with
// amqp:decode-error.
var ErrDecode = errors.New("amqp: decode error")

// MaxDepth bounds the nesting of compound values, so hostile input cannot
// exhaust the stack.
const MaxDepth = 64

// maxZeroWidthItems bounds the array elements that take no bytes (array of
// null, of uint0, ...) one decoder decodes in all: their count is the only
// thing an attacker would have to send, and many small arrays of them would
// otherwise make a few bytes of input allocate gigabytes.
const maxZeroWidthItems = 1 << 16

func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrDecode}, args...)...)
}

// Decoder reads AMQP encoded values from a byte slice. Binary and string values
// returned by it copy their bytes unless stated otherwise, so the input may be
// reused after decoding.
type Decoder struct {
	b         []byte
	off       int
	depth     int
	zeroWidth int // zero-width array elements decoded so far
}

// NewDecoder returns a decoder over b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

// Reset points the decoder at new input.
func (d *Decoder) Reset(b []byte) { *d = Decoder{b: b} }

// Len is the number of bytes not yet read.
func (d *Decoder) Len() int { return len(d.b) - d.off }

// Offset is the number of bytes read so far.
func (d *Decoder) Offset() int { return d.off }

// Rest returns the unread bytes without copying them.
func (d *Decoder) Rest() []byte { return d.b[d.off:] }

func (d *Decoder) need(n int) error {
	if n < 0 || d.Len() < n {
		return decodeErr("need %d bytes at offset %d, have %d", n, d.off, d.Len())
	}
	return nil
}

func (d *Decoder) readByte() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	c := d.b[d.off]
	d.off++
	return c, nil
}

func (d *Decoder) next(n int) ([]byte, error) {
	if err := d.need(n); err != nil {
		return nil, err
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, nil
}

// PeekCode returns the next constructor byte without consuming it.
func (d *Decoder) PeekCode() (byte, error) {
	if err := d.need(1); err != nil {
		return 0, err
	}
	return d.b[d.off], nil
}

// constructor reads a constructor: a type code, or 0x00 followed by a
// descriptor value and then the underlying type's constructor.
func (d *Decoder) constructor() (code byte, descriptor any, err error) {
	code, err = d.readByte()
	if err != nil || code != 0x00 {
		return code, nil, err
	}
	if d.depth++; d.depth > MaxDepth {
		return 0, nil, decodeErr("nesting deeper than %d", MaxDepth)
	}
	defer func() { d.depth-- }()
	if descriptor, err = d.Value(); err != nil {
		return 0, nil, err
	}
	switch descriptor.(type) {
	case uint64, Symbol:
	default:
		return 0, nil, decodeErr("descriptor of type %T", descriptor)
	}
	code, err = d.readByte()
	if err == nil && code == 0x00 {
		err = decodeErr("descriptor of a descriptor")
	}
	return code, descriptor, err
}

// width returns the size in bytes of the length/count fields, or of the
// value itself for fixed-width encodings.
func width(code byte) (category, int, error) {
	e := encodings[code]
	if !e.valid {
		return 0, 0, decodeErr("unknown type code 0x%02x", code)
	}
	return e.category, e.width, nil
}

// size reads the length prefix of a variable, compound or array encoding and
// checks it against the input, so no allocation exceeds what was sent.
func (d *Decoder) size(w int) (int, error) {
	var n uint32
	if w == 1 {
		c, err := d.readByte()
		if err != nil {
			return 0, err
		}
		n = uint32(c)
	} else {
		p, err := d.next(4)
		if err != nil {
			return 0, err
		}
		n = binary.BigEndian.Uint32(p)
	}
	if int64(n) > int64(d.Len()) {
		return 0, decodeErr("length %d exceeds the %d bytes left", n, d.Len())
	}
	return int(n), nil
}

// Skip consumes one encoded value, described or not, without decoding it.
func (d *Decoder) Skip() error {
	code, _, err := d.constructor()
	if err != nil {
		return err
	}
	return d.skipBody(code)
}

func (d *Decoder) skipBody(code byte) error {
	cat, w, err := width(code)
	if err != nil {
		return err
	}
	if cat == categoryFixed {
		_, err = d.next(w)
		return err
	}
	n, err := d.size(w)
	if err != nil {
		return err
	}
	_, err = d.next(n)
	return err
}

// Value decodes one value into its generic Go form (see value.go). Described
// values with a descriptor of a generated composite type become that type.
func (d *Decoder) Value() (any, error) {
	start := d.off
	code, desc, err := d.constructor()
	if err != nil {
		return nil, err
	}
	if desc != nil {
		// A composite's fields may hold composites (a transfer's state, an
		// attach's source...): each counts as a level of nesting.
		if d.depth++; d.depth > MaxDepth {
			return nil, decodeErr("nesting deeper than %d", MaxDepth)
		}
		defer func() { d.depth-- }()
		if newComposite, ok := compositeByDescriptor(desc); ok && (code == CodeListList0 || code == CodeListList8 || code == CodeListList32) {
			d.off = start
			c := newComposite()
			if err := c.Unmarshal(d); err != nil {
				return nil, err
			}
			return c, nil
		}
		v, err := d.body(code)
		if err != nil {
			return nil, err
		}
		return Described{Descriptor: desc, Value: v}, nil
	}
	return d.body(code)
}

// body decodes the value after its constructor.
func (d *Decoder) body(code byte) (any, error) {
	cat, w, err := width(code)
	if err != nil {
		return nil, err
	}
	switch cat {
	case categoryFixed:
		p, err := d.next(w)
		if err != nil {
			return nil, err
		}
		return fixedValue(code, p)
	case categoryVariable:
		n, err := d.size(w)
		if err != nil {
			return nil, err
		}
		p, _ := d.next(n)
		switch encodings[code].typ {
		case TypeBinary:
			return append([]byte{}, p...), nil
		case TypeString:
			if !utf8.Valid(p) {
				return nil, decodeErr("string is not valid UTF-8")
			}
			return string(p), nil
		default:
			return Symbol(p), nil
		}
	case categoryCompound:
		if d.depth++; d.depth > MaxDepth {
			return nil, decodeErr("nesting deeper than %d", MaxDepth)
		}
		defer func() { d.depth-- }()
		count, end, err := d.compoundHeader(w)
		if err != nil {
			return nil, err
		}
		if encodings[code].typ == TypeMap {
			if count%2 != 0 {
				return nil, decodeErr("map with an odd count %d", count)
			}
			m := make(Map, 0, count/2)
			for i := 0; i < count; i += 2 {
				k, err := d.Value()
				if err != nil {
					return nil, err
				}
				v, err := d.Value()
				if err != nil {
					return nil, err
				}
				m = append(m, MapEntry{k, v})
			}
			return m, d.expectEnd(end)
		}
		l := make([]any, 0, count)
		for i := 0; i < count; i++ {
			v, err := d.Value()
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, d.expectEnd(end)
	case categoryArray:
		if d.depth++; d.depth > MaxDepth {
			return nil, decodeErr("nesting deeper than %d", MaxDepth)
		}
		defer func() { d.depth-- }()
		return d.array(w)
	}
	return nil, decodeErr("unknown type code 0x%02x", code) // list0 is fixed
}

// compoundHeader reads the size and count of a list or map (list8/32, map8/32)
// and returns the count and the offset where the compound ends.
func (d *Decoder) compoundHeader(w int) (count, end int, err error) {
	n, err := d.size(w)
	if err != nil {
		return 0, 0, err
	}
	end = d.off + n
	if n < w {
		return 0, 0, decodeErr("compound size %d too small for its count", n)
	}
	c := d.count(w)
	// Every element takes at least one byte.
	if int64(c) > int64(end-d.off) {
		return 0, 0, decodeErr("count %d exceeds the compound's %d bytes", c, end-d.off)
	}
	return int(c), end, nil
}

// count reads the count of a compound or array whose size has been checked.
// It is compared with the bytes left before it is made an int, which may have
// 32 bits.
func (d *Decoder) count(w int) uint32 {
	if w == 1 {
		c, _ := d.readByte()
		return uint32(c)
	}
	p, _ := d.next(4)
	return binary.BigEndian.Uint32(p)
}

func (d *Decoder) expectEnd(end int) error {
	if d.off != end {
		return decodeErr("compound size does not match its contents")
	}
	return nil
}

func (d *Decoder) array(w int) (any, error) {
	count, end, err := d.compoundHeaderArray(w)
	if err != nil {
		return nil, err
	}
	code, desc, err := d.constructor()
	if err != nil {
		return nil, err
	}
	e := encodings[code]
	if !e.valid {
		return nil, decodeErr("unknown array element type 0x%02x", code)
	}
	if e.category == categoryFixed && e.width == 0 {
		if d.zeroWidth += count; d.zeroWidth > maxZeroWidthItems {
			return nil, decodeErr("array of %d zero-width elements exceeds the limit of %d in all", count, maxZeroWidthItems)
		}
	}
	if e.category != categoryFixed || e.width > 0 {
		minItem := e.width
		if e.category != categoryFixed {
			minItem = e.width // at least the size field
		}
		if int64(count)*int64(minItem) > int64(end-d.off) {
			return nil, decodeErr("array count %d exceeds its %d bytes", count, end-d.off)
		}
	}
	a := Array{Type: e.typ, Descriptor: desc, Items: make([]any, 0, count)}
	for i := 0; i < count; i++ {
		v, err := d.body(code)
		if err != nil {
			return nil, err
		}
		a.Items = append(a.Items, v)
	}
	return a, d.expectEnd(end)
}

func (d *Decoder) compoundHeaderArray(w int) (count, end int, err error) {
	n, err := d.size(w)
	if err != nil {
		return 0, 0, err
	}
	end = d.off + n
	if n < w {
		return 0, 0, decodeErr("array size %d too small for its count", n)
	}
	c := d.count(w)
	// Elements take at least one byte, but for the zero-width ones, which
	// array bounds separately.
	if int64(c) > int64(end-d.off) && c > maxZeroWidthItems {
		return 0, 0, decodeErr("array count %d exceeds its %d bytes", c, end-d.off)
	}
	return int(c), end, nil
}

func fixedValue(code byte, p []byte) (any, error) {
	be := binary.BigEndian
	switch code {
	case CodeNull:
		return nil, nil
	case CodeBooleanTrue:
		return true, nil
	case CodeBooleanFalse:
		return false, nil
	case CodeBoolean:
		switch p[0] {
		case 0:
			return false, nil
		case 1:
			return true, nil
		}
		return nil, decodeErr("boolean byte 0x%02x", p[0])
	case CodeUbyte:
		return p[0], nil
	case CodeUshort:
		return be.Uint16(p), nil
	case CodeUint:
		return be.Uint32(p), nil
	case CodeUintSmalluint:
		return uint32(p[0]), nil
	case CodeUintUint0:
		return uint32(0), nil
	case CodeUlong:
		return be.Uint64(p), nil
	case CodeUlongSmallulong:
		return uint64(p[0]), nil
	case CodeUlongUlong0:
		return uint64(0), nil
	case CodeByte:
		return int8(p[0]), nil
	case CodeShort:
		return int16(be.Uint16(p)), nil
	case CodeInt:
		return int32(be.Uint32(p)), nil
	case CodeIntSmallint:
		return int32(int8(p[0])), nil
	case CodeLong:
		return int64(be.Uint64(p)), nil
	case CodeLongSmalllong:
		return int64(int8(p[0])), nil
	case CodeFloatIeee754:
		return math.Float32frombits(be.Uint32(p)), nil
	case CodeDoubleIeee754:
		return math.Float64frombits(be.Uint64(p)), nil
	case CodeDecimal32Ieee754:
		return Decimal32(p), nil
	case CodeDecimal64Ieee754:
		return Decimal64(p), nil
	case CodeDecimal128Ieee754:
		return Decimal128(p), nil
	case CodeCharUtf32:
		return Char(be.Uint32(p)), nil
	case CodeTimestampMs64:
		return Timestamp(be.Uint64(p)), nil
	case CodeUUID:
		return UUID(p), nil
	case CodeListList0:
		return []any{}, nil
	}
	return nil, decodeErr("unknown fixed type code 0x%02x", code)
}

// Seek moves the decoder to an offset it has already passed (to re-read a
// value whose descriptor was peeked).
func (d *Decoder) Seek(off int) {
	if off >= 0 && off <= len(d.b) {
		d.off = off
	}
}
