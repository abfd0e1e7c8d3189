package types

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"
)

// Encoding appends to a byte slice and always chooses the most compact form:
// uint0/ulong0, small integers, str8/sym8/vbin8, list0/list8, true/false.

// AppendNull appends the null value.
func AppendNull(b []byte) []byte { return append(b, CodeNull) }

// AppendBool appends a boolean in its zero-width form.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, CodeBooleanTrue)
	}
	return append(b, CodeBooleanFalse)
}

func AppendUbyte(b []byte, v uint8) []byte { return append(b, CodeUbyte, v) }

func AppendUshort(b []byte, v uint16) []byte {
	return binary.BigEndian.AppendUint16(append(b, CodeUshort), v)
}

func AppendUint(b []byte, v uint32) []byte {
	switch {
	case v == 0:
		return append(b, CodeUintUint0)
	case v < 256:
		return append(b, CodeUintSmalluint, byte(v))
	}
	return binary.BigEndian.AppendUint32(append(b, CodeUint), v)
}

func AppendUlong(b []byte, v uint64) []byte {
	switch {
	case v == 0:
		return append(b, CodeUlongUlong0)
	case v < 256:
		return append(b, CodeUlongSmallulong, byte(v))
	}
	return binary.BigEndian.AppendUint64(append(b, CodeUlong), v)
}

func AppendByte(b []byte, v int8) []byte { return append(b, CodeByte, byte(v)) }

func AppendShort(b []byte, v int16) []byte {
	return binary.BigEndian.AppendUint16(append(b, CodeShort), uint16(v))
}

func AppendInt(b []byte, v int32) []byte {
	if v >= -128 && v <= 127 {
		return append(b, CodeIntSmallint, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint32(append(b, CodeInt), uint32(v))
}

func AppendLong(b []byte, v int64) []byte {
	if v >= -128 && v <= 127 {
		return append(b, CodeLongSmalllong, byte(int8(v)))
	}
	return binary.BigEndian.AppendUint64(append(b, CodeLong), uint64(v))
}

func AppendFloat(b []byte, v float32) []byte {
	return binary.BigEndian.AppendUint32(append(b, CodeFloatIeee754), math.Float32bits(v))
}

func AppendDouble(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(append(b, CodeDoubleIeee754), math.Float64bits(v))
}

func AppendChar(b []byte, v Char) []byte {
	return binary.BigEndian.AppendUint32(append(b, CodeCharUtf32), uint32(v))
}

func AppendTimestamp(b []byte, v Timestamp) []byte {
	return binary.BigEndian.AppendUint64(append(b, CodeTimestampMs64), uint64(v))
}

func AppendUUID(b []byte, v UUID) []byte { return append(append(b, CodeUUID), v[:]...) }

func appendVariable(b []byte, code8, code32 byte, n int) []byte {
	if n < 256 {
		return append(b, code8, byte(n))
	}
	return binary.BigEndian.AppendUint32(append(b, code32), uint32(n))
}

// AppendBinary appends binary data (vbin8 or vbin32).
func AppendBinary(b []byte, v []byte) []byte {
	return append(appendVariable(b, CodeBinaryVbin8, CodeBinaryVbin32, len(v)), v...)
}

// AppendString appends a UTF-8 string (str8 or str32).
func AppendString(b []byte, v string) []byte {
	return append(appendVariable(b, CodeStringStr8Utf8, CodeStringStr32Utf8, len(v)), v...)
}

// AppendSymbol appends a symbol (sym8 or sym32).
func AppendSymbol(b []byte, v Symbol) []byte {
	return append(appendVariable(b, CodeSymbolSym8, CodeSymbolSym32, len(v)), v...)
}

// AppendDescriptor appends the descriptor constructor 0x00 and a ulong code.
func AppendDescriptor(b []byte, code uint64) []byte {
	return AppendUlong(append(b, 0x00), code)
}

// BeginCompound reserves room for a list or map header of the 32-bit form;
// EndList/EndMap fill it in, shrinking it to the 8-bit (or list0) form when the
// contents allow. Elements are appended between the two calls.
func BeginCompound(b []byte) ([]byte, int) {
	start := len(b)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0), start
}

// EndList completes a list begun at start with count elements.
func EndList(b []byte, start, count int) []byte {
	if count == 0 {
		return append(b[:start], CodeListList0)
	}
	return endCompound(b, start, count, CodeListList8, CodeListList32)
}

// EndMap completes a map begun at start with count keys plus values.
func EndMap(b []byte, start, count int) []byte {
	return endCompound(b, start, count, CodeMapMap8, CodeMapMap32)
}

func endCompound(b []byte, start, count int, code8, code32 byte) []byte {
	body := len(b) - start - 9
	if body+1 <= 255 && count <= 255 {
		b[start] = code8
		b[start+1] = byte(body + 1)
		b[start+2] = byte(count)
		copy(b[start+3:], b[start+9:])
		return b[:len(b)-6]
	}
	b[start] = code32
	binary.BigEndian.PutUint32(b[start+1:], uint32(body+4))
	binary.BigEndian.PutUint32(b[start+5:], uint32(count))
	return b
}

// AppendSymbolArray appends symbols as an array (the form "multiple" fields use).
func AppendSymbolArray(b []byte, syms []Symbol) []byte {
	wide := false
	for _, s := range syms {
		if len(s) > 255 {
			wide = true
		}
	}
	return appendArray(b, len(syms), func(b []byte) []byte {
		if wide {
			b = append(b, CodeSymbolSym32)
			for _, s := range syms {
				b = append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
			}
			return b
		}
		b = append(b, CodeSymbolSym8)
		for _, s := range syms {
			b = append(append(b, byte(len(s))), s...)
		}
		return b
	})
}

// appendArray writes an array header and lets body append the element
// constructor and the elements; the 8-bit form is used when it fits.
func appendArray(b []byte, count int, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = body(b)
	return endCompound(b, start, count, CodeArrayArray8, CodeArrayArray32)
}

// appendDescriptorValue appends 0x00 and a descriptor, which must be a ulong
// or a symbol.
func appendDescriptorValue(b []byte, descriptor any) ([]byte, error) {
	switch x := descriptor.(type) {
	case uint64:
		return AppendDescriptor(b, x), nil
	case Symbol:
		return AppendSymbol(append(b, 0x00), x), nil
	}
	return b, fmt.Errorf("amqp: descriptor of Go type %T is not a ulong or a symbol", descriptor)
}

// Marshaler is implemented by values that encode themselves, such as the
// generated composite types.
type Marshaler interface {
	Marshal(b []byte) ([]byte, error)
}

// AppendValue appends any generic value (see the table in value.go) and the
// typed Go forms callers commonly use: int, []Symbol, []string, map[string]any,
// map[Symbol]any, and Marshalers.
func AppendValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return AppendNull(b), nil
	case bool:
		return AppendBool(b, x), nil
	case uint8:
		return AppendUbyte(b, x), nil
	case uint16:
		return AppendUshort(b, x), nil
	case uint32:
		return AppendUint(b, x), nil
	case uint64:
		return AppendUlong(b, x), nil
	case int8:
		return AppendByte(b, x), nil
	case int16:
		return AppendShort(b, x), nil
	case int32:
		return AppendInt(b, x), nil
	case int64:
		return AppendLong(b, x), nil
	case int:
		return AppendLong(b, int64(x)), nil
	case uint:
		return AppendUlong(b, uint64(x)), nil
	case float32:
		return AppendFloat(b, x), nil
	case float64:
		return AppendDouble(b, x), nil
	case Decimal32:
		return append(append(b, CodeDecimal32Ieee754), x[:]...), nil
	case Decimal64:
		return append(append(b, CodeDecimal64Ieee754), x[:]...), nil
	case Decimal128:
		return append(append(b, CodeDecimal128Ieee754), x[:]...), nil
	case Char:
		return AppendChar(b, x), nil
	case Timestamp:
		return AppendTimestamp(b, x), nil
	case UUID:
		return AppendUUID(b, x), nil
	case []byte:
		return AppendBinary(b, x), nil
	case string:
		if !utf8.ValidString(x) {
			return b, fmt.Errorf("amqp: string is not valid UTF-8")
		}
		return AppendString(b, x), nil
	case Symbol:
		return AppendSymbol(b, x), nil
	case []any:
		b, start := BeginCompound(b)
		for _, e := range x {
			var err error
			if b, err = AppendValue(b, e); err != nil {
				return b, err
			}
		}
		return EndList(b, start, len(x)), nil
	case Map:
		b, start := BeginCompound(b)
		for _, e := range x {
			var err error
			if b, err = AppendValue(b, e.Key); err != nil {
				return b, err
			}
			if b, err = AppendValue(b, e.Value); err != nil {
				return b, err
			}
		}
		return EndMap(b, start, 2*len(x)), nil
	case map[string]any:
		return AppendValue(b, sortedMap(x, func(k string) any { return k }))
	case map[Symbol]any:
		return AppendValue(b, sortedMap(x, func(k Symbol) any { return k }))
	case []Symbol:
		return AppendSymbolArray(b, x), nil
	case []string:
		items := make([]any, len(x))
		for i, s := range x {
			items[i] = s
		}
		return AppendArray(b, Array{Type: TypeString, Items: items})
	case Array:
		return AppendArray(b, x)
	case Described:
		b, err := appendDescriptorValue(b, x.Descriptor)
		if err != nil {
			return b, err
		}
		start := len(b)
		if b, err = AppendValue(b, x.Value); err == nil && b[start] == 0x00 {
			err = fmt.Errorf("amqp: the value of a described value cannot be described")
		}
		return b, err
	case Marshaler:
		return x.Marshal(b)
	}
	return b, fmt.Errorf("amqp: cannot encode Go type %T", v)
}
