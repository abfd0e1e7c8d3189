package types

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// AppendArray appends an array. Every item must be of the array's type; the
// element constructor is the most compact one that fits all of them, except
// that zeros are not given the zero-width uint0/ulong0 encodings: the decoder
// bounds zero-width elements (see maxZeroWidthItems), and what this package
// encodes must decode.
func AppendArray(b []byte, a Array) ([]byte, error) {
	code, err := arrayElementCode(a)
	if err != nil {
		return b, err
	}
	var encErr error
	b = appendArray(b, len(a.Items), func(b []byte) []byte {
		if a.Descriptor != nil {
			if b, encErr = appendDescriptorValue(b, a.Descriptor); encErr != nil {
				return b
			}
		}
		b = append(b, code)
		for _, v := range a.Items {
			if b, encErr = appendElement(b, code, v); encErr != nil {
				return b
			}
		}
		return b
	})
	return b, encErr
}

// arrayElementCode picks the shared element constructor for an array.
func arrayElementCode(a Array) (byte, error) {
	fits := func(ok func(v any) bool) bool {
		for _, v := range a.Items {
			if !ok(v) {
				return false
			}
		}
		return len(a.Items) > 0
	}
	short := func(v any) bool {
		switch x := v.(type) {
		case []byte:
			return len(x) < 256
		case string:
			return len(x) < 256
		case Symbol:
			return len(x) < 256
		}
		return false
	}
	switch a.Type {
	case TypeNull:
		return CodeNull, nil
	case TypeBoolean:
		return CodeBoolean, nil
	case TypeUbyte:
		return CodeUbyte, nil
	case TypeUshort:
		return CodeUshort, nil
	case TypeUint:
		if fits(func(v any) bool { x, ok := v.(uint32); return ok && x < 256 }) {
			return CodeUintSmalluint, nil
		}
		return CodeUint, nil
	case TypeUlong:
		if fits(func(v any) bool { x, ok := v.(uint64); return ok && x < 256 }) {
			return CodeUlongSmallulong, nil
		}
		return CodeUlong, nil
	case TypeByte:
		return CodeByte, nil
	case TypeShort:
		return CodeShort, nil
	case TypeInt:
		if fits(func(v any) bool { x, ok := v.(int32); return ok && x >= -128 && x <= 127 }) {
			return CodeIntSmallint, nil
		}
		return CodeInt, nil
	case TypeLong:
		if fits(func(v any) bool { x, ok := v.(int64); return ok && x >= -128 && x <= 127 }) {
			return CodeLongSmalllong, nil
		}
		return CodeLong, nil
	case TypeFloat:
		return CodeFloatIeee754, nil
	case TypeDouble:
		return CodeDoubleIeee754, nil
	case TypeDecimal32:
		return CodeDecimal32Ieee754, nil
	case TypeDecimal64:
		return CodeDecimal64Ieee754, nil
	case TypeDecimal128:
		return CodeDecimal128Ieee754, nil
	case TypeChar:
		return CodeCharUtf32, nil
	case TypeTimestamp:
		return CodeTimestampMs64, nil
	case TypeUUID:
		return CodeUUID, nil
	case TypeBinary:
		if fits(short) {
			return CodeBinaryVbin8, nil
		}
		return CodeBinaryVbin32, nil
	case TypeString:
		if fits(short) {
			return CodeStringStr8Utf8, nil
		}
		return CodeStringStr32Utf8, nil
	case TypeSymbol:
		if fits(short) {
			return CodeSymbolSym8, nil
		}
		return CodeSymbolSym32, nil
	case TypeList:
		return CodeListList32, nil
	case TypeMap:
		return CodeMapMap32, nil
	case TypeArray:
		return CodeArrayArray32, nil
	}
	return 0, fmt.Errorf("amqp: cannot encode an array of %v", a.Type)
}

// appendElement appends the body of one array element (no constructor).
func appendElement(b []byte, code byte, v any) ([]byte, error) {
	bad := func() ([]byte, error) {
		return b, fmt.Errorf("amqp: array element %T does not match its array's type", v)
	}
	be := binary.BigEndian
	switch code {
	case CodeNull:
		if v != nil {
			return bad()
		}
		return b, nil
	case CodeBoolean:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		if x {
			return append(b, 1), nil
		}
		return append(b, 0), nil
	case CodeUbyte:
		x, ok := v.(uint8)
		if !ok {
			return bad()
		}
		return append(b, x), nil
	case CodeUshort:
		x, ok := v.(uint16)
		if !ok {
			return bad()
		}
		return be.AppendUint16(b, x), nil
	case CodeUintSmalluint:
		return append(b, byte(v.(uint32))), nil
	case CodeUint:
		x, ok := v.(uint32)
		if !ok {
			return bad()
		}
		return be.AppendUint32(b, x), nil
	case CodeUlongSmallulong:
		return append(b, byte(v.(uint64))), nil
	case CodeUlong:
		x, ok := v.(uint64)
		if !ok {
			return bad()
		}
		return be.AppendUint64(b, x), nil
	case CodeByte:
		x, ok := v.(int8)
		if !ok {
			return bad()
		}
		return append(b, byte(x)), nil
	case CodeShort:
		x, ok := v.(int16)
		if !ok {
			return bad()
		}
		return be.AppendUint16(b, uint16(x)), nil
	case CodeIntSmallint:
		return append(b, byte(int8(v.(int32)))), nil
	case CodeInt:
		x, ok := v.(int32)
		if !ok {
			return bad()
		}
		return be.AppendUint32(b, uint32(x)), nil
	case CodeLongSmalllong:
		return append(b, byte(int8(v.(int64)))), nil
	case CodeLong:
		x, ok := v.(int64)
		if !ok {
			return bad()
		}
		return be.AppendUint64(b, uint64(x)), nil
	case CodeFloatIeee754:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		return be.AppendUint32(b, math.Float32bits(x)), nil
	case CodeDoubleIeee754:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		return be.AppendUint64(b, math.Float64bits(x)), nil
	case CodeDecimal32Ieee754:
		x, ok := v.(Decimal32)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case CodeDecimal64Ieee754:
		x, ok := v.(Decimal64)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case CodeDecimal128Ieee754:
		x, ok := v.(Decimal128)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case CodeCharUtf32:
		x, ok := v.(Char)
		if !ok {
			return bad()
		}
		return be.AppendUint32(b, uint32(x)), nil
	case CodeTimestampMs64:
		x, ok := v.(Timestamp)
		if !ok {
			return bad()
		}
		return be.AppendUint64(b, uint64(x)), nil
	case CodeUUID:
		x, ok := v.(UUID)
		if !ok {
			return bad()
		}
		return append(b, x[:]...), nil
	case CodeBinaryVbin8, CodeStringStr8Utf8, CodeSymbolSym8,
		CodeBinaryVbin32, CodeStringStr32Utf8, CodeSymbolSym32:
		var s string
		switch x := v.(type) {
		case []byte:
			if code != CodeBinaryVbin8 && code != CodeBinaryVbin32 {
				return bad()
			}
			s = string(x)
		case string:
			if code != CodeStringStr8Utf8 && code != CodeStringStr32Utf8 {
				return bad()
			}
			if !utf8.ValidString(x) {
				return b, fmt.Errorf("amqp: string is not valid UTF-8")
			}
			s = x
		case Symbol:
			if code != CodeSymbolSym8 && code != CodeSymbolSym32 {
				return bad()
			}
			s = string(x)
		default:
			return bad()
		}
		if code == CodeBinaryVbin8 || code == CodeStringStr8Utf8 || code == CodeSymbolSym8 {
			return append(append(b, byte(len(s))), s...), nil
		}
		return append(be.AppendUint32(b, uint32(len(s))), s...), nil
	case CodeListList32, CodeMapMap32, CodeArrayArray32:
		// Encode the value whole in its 32-bit form and drop the constructor.
		var enc []byte
		var err error
		switch x := v.(type) {
		case []any:
			if code != CodeListList32 {
				return bad()
			}
			enc, err = AppendValue(nil, x)
		case Map:
			if code != CodeMapMap32 {
				return bad()
			}
			enc, err = AppendValue(nil, x)
		case Array:
			if code != CodeArrayArray32 {
				return bad()
			}
			enc, err = AppendArray(nil, x)
		default:
			return bad()
		}
		if err != nil {
			return b, err
		}
		return append(b, widen(enc)...), nil
	}
	return b, fmt.Errorf("amqp: no array element encoding 0x%02x", code)
}

// widen converts an encoded list, map or array in any form to the body of its
// 32-bit form (without the constructor byte).
func widen(enc []byte) []byte {
	switch enc[0] {
	case CodeListList0:
		return []byte{0, 0, 0, 4, 0, 0, 0, 0}
	case CodeListList8, CodeMapMap8, CodeArrayArray8:
		size, count := int(enc[1]), int(enc[2])
		out := binary.BigEndian.AppendUint32(nil, uint32(size-1+4))
		out = binary.BigEndian.AppendUint32(out, uint32(count))
		return append(out, enc[3:]...)
	}
	return enc[1:]
}

// sortedMap turns a Go map into a Map in key order, so encodings are stable.
func sortedMap[K cmp.Ordered](m map[K]any, key func(K) any) Map {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(Map, 0, len(m))
	for _, k := range keys {
		out = append(out, MapEntry{key(k), m[k]})
	}
	return out
}
