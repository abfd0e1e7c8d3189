package types

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Composite is implemented by every generated composite type.
type Composite interface {
	Descriptor() uint64
	Marshal(b []byte) ([]byte, error)
	Unmarshal(d *Decoder) error
}

// NewComposite returns a zero composite of the type with the given descriptor
// (a uint64 code or a Symbol name).
func NewComposite(descriptor any) (Composite, bool) {
	f, ok := compositeByDescriptor(descriptor)
	if !ok {
		return nil, false
	}
	return f(), true
}

func compositeByDescriptor(descriptor any) (func() Composite, bool) {
	code, ok := descriptorCode(descriptor)
	if !ok {
		return nil, false
	}
	f, ok := compositeByCode[code]
	return f, ok
}

// descriptorCode normalizes a descriptor to its numeric code.
func descriptorCode(descriptor any) (uint64, bool) {
	switch x := descriptor.(type) {
	case uint64:
		return x, true
	case Symbol:
		code, ok := compositeByName[x]
		return code, ok
	}
	return 0, false
}

// ReadDescriptor reads a described value's constructor and returns the
// descriptor as a numeric code (symbolic descriptors of known types are mapped
// to their codes). The underlying value is left to be read.
func (d *Decoder) ReadDescriptor() (uint64, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, err
	}
	if code != 0x00 {
		return 0, decodeErr("expected a described type, found code 0x%02x", code)
	}
	v, err := d.Value()
	if err != nil {
		return 0, err
	}
	c, ok := descriptorCode(v)
	if !ok {
		return 0, decodeErr("unknown descriptor %v", v)
	}
	return c, nil
}

// compositeHeader reads a described list with the given descriptor and returns
// its field count and end offset.
func (d *Decoder) compositeHeader(want uint64, name string) (n, end int, err error) {
	got, err := d.ReadDescriptor()
	if err != nil {
		return 0, 0, err
	}
	if got != want {
		return 0, 0, decodeErr("expected %s, found descriptor 0x%x", name, got)
	}
	n, end, err = d.ReadList()
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, end, nil
}

func fieldErr(name string, i int, err error) error {
	return fmt.Errorf("%s field %d: %w", name, i, err)
}

func itoa(i int) string { return strconv.Itoa(i) }

// The readers below decode a field of a composite: present is false when the
// field holds null. Narrower encodings of the same family are accepted (a ubyte
// where a uint is expected) since they carry the same values.

func (d *Decoder) fieldCode() (byte, bool, error) {
	code, err := d.readByte()
	if err != nil {
		return 0, false, err
	}
	if code == 0x00 {
		return 0, false, decodeErr("described value in a primitive field")
	}
	return code, code != CodeNull, nil
}

func (d *Decoder) readBool() (bool, bool, error) {
	code, ok, err := d.fieldCode()
	if !ok {
		return false, false, err
	}
	switch code {
	case CodeBooleanTrue:
		return true, true, nil
	case CodeBooleanFalse:
		return false, true, nil
	case CodeBoolean:
		b, err := d.readByte()
		if err != nil {
			return false, false, err
		}
		if b > 1 {
			return false, false, decodeErr("boolean byte 0x%02x", b)
		}
		return b == 1, true, nil
	}
	return false, false, decodeErr("expected boolean, found code 0x%02x", code)
}

// readUnsigned reads any unsigned integer encoding no wider than max bytes.
func (d *Decoder) readUnsigned(max int) (uint64, bool, error) {
	code, ok, err := d.fieldCode()
	if !ok {
		return 0, false, err
	}
	var w int
	switch code {
	case CodeUintUint0, CodeUlongUlong0:
		return 0, true, nil
	case CodeUbyte, CodeUintSmalluint, CodeUlongSmallulong:
		w = 1
	case CodeUshort:
		w = 2
	case CodeUint:
		w = 4
	case CodeUlong:
		w = 8
	default:
		return 0, false, decodeErr("expected an unsigned integer, found code 0x%02x", code)
	}
	if w > max {
		return 0, false, decodeErr("unsigned integer of %d bytes where %d fit", w, max)
	}
	p, err := d.next(w)
	if err != nil {
		return 0, false, err
	}
	switch w {
	case 1:
		return uint64(p[0]), true, nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), true, nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), true, nil
	}
	return binary.BigEndian.Uint64(p), true, nil
}

func (d *Decoder) readUbyte() (uint8, bool, error) {
	v, ok, err := d.readUnsigned(1)
	return uint8(v), ok, err
}

func (d *Decoder) readUshort() (uint16, bool, error) {
	v, ok, err := d.readUnsigned(2)
	return uint16(v), ok, err
}

func (d *Decoder) readUint() (uint32, bool, error) {
	v, ok, err := d.readUnsigned(4)
	return uint32(v), ok, err
}

func (d *Decoder) readUlong() (uint64, bool, error) { return d.readUnsigned(8) }

func (d *Decoder) readTimestamp() (Timestamp, bool, error) {
	code, ok, err := d.fieldCode()
	if !ok {
		return 0, false, err
	}
	if code != CodeTimestampMs64 {
		return 0, false, decodeErr("expected timestamp, found code 0x%02x", code)
	}
	p, err := d.next(8)
	if err != nil {
		return 0, false, err
	}
	return Timestamp(binary.BigEndian.Uint64(p)), true, nil
}

// readVariable reads a variable-width value of the given type, without copying.
func (d *Decoder) readVariable(code8, code32 byte, what string) ([]byte, bool, error) {
	code, ok, err := d.fieldCode()
	if !ok {
		return nil, false, err
	}
	var w int
	switch code {
	case code8:
		w = 1
	case code32:
		w = 4
	default:
		return nil, false, decodeErr("expected %s, found code 0x%02x", what, code)
	}
	n, err := d.size(w)
	if err != nil {
		return nil, false, err
	}
	p, err := d.next(n)
	return p, err == nil, err
}

func (d *Decoder) readString() (string, bool, error) {
	p, ok, err := d.readVariable(CodeStringStr8Utf8, CodeStringStr32Utf8, "string")
	if ok && !utf8.Valid(p) {
		return "", false, decodeErr("string is not valid UTF-8")
	}
	return string(p), ok, err
}

func (d *Decoder) readSymbol() (Symbol, bool, error) {
	p, ok, err := d.readVariable(CodeSymbolSym8, CodeSymbolSym32, "symbol")
	return Symbol(p), ok, err
}

func (d *Decoder) readBinary() ([]byte, bool, error) {
	p, ok, err := d.readVariable(CodeBinaryVbin8, CodeBinaryVbin32, "binary")
	if !ok {
		return nil, false, err
	}
	return append(make([]byte, 0, len(p)), p...), true, nil
}

// readSymbols reads a "multiple" symbol field: a single symbol or an array.
func (d *Decoder) readSymbols() ([]Symbol, bool, error) {
	v, err := d.Value()
	if err != nil || v == nil {
		return nil, false, err
	}
	switch x := v.(type) {
	case Symbol:
		return []Symbol{x}, true, nil
	case Array:
		if s, ok := x.Symbols(); ok {
			return s, true, nil
		}
	}
	return nil, false, decodeErr("expected symbols, found %T", v)
}

func (d *Decoder) readMap() (Map, bool, error) {
	v, err := d.Value()
	if err != nil || v == nil {
		return nil, false, err
	}
	m, ok := v.(Map)
	if !ok {
		return nil, false, decodeErr("expected map, found %T", v)
	}
	return m, true, nil
}

func (d *Decoder) readAny() (any, bool, error) {
	v, err := d.Value()
	return v, v != nil && err == nil, err
}

// readComposite reads a field holding a composite of type T (or null).
func readComposite[T any, P interface {
	*T
	Composite
}](d *Decoder) (P, bool, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, false, err
	}
	if c == CodeNull {
		d.off++
		return nil, false, nil
	}
	var v P = new(T)
	if err := v.Unmarshal(d); err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Unmarshal decodes a composite of a known type from b.
func Unmarshal(b []byte, c Composite) error {
	d := NewDecoder(b)
	if err := c.Unmarshal(d); err != nil {
		return err
	}
	if d.Len() != 0 {
		return decodeErr("%d bytes after the value", d.Len())
	}
	return nil
}
