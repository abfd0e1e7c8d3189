package types

import "encoding/binary"

// Readers (and a writer) of single values for composites coded by hand outside this
// package (HA's replication events), with the checks the generated
// performatives use and without boxing each value in an interface: the
// generic Value costs an allocation per field. present is false when the
// field holds null.

// ReadList reads a list's constructor and header: its element count and the
// offset where it ends.
func (d *Decoder) ReadList() (count, end int, err error) {
	code, err := d.readByte()
	if err != nil {
		return 0, 0, err
	}
	switch code {
	case CodeListList0:
		return 0, d.off, nil
	case CodeListList8:
		return d.compoundHeader(1)
	case CodeListList32:
		return d.compoundHeader(4)
	}
	return 0, 0, decodeErr("expected a list, found code 0x%02x", code)
}

// ReadString reads a string field.
func (d *Decoder) ReadString() (string, bool, error) { return d.readString() }

// ReadSymbol reads a symbol field.
func (d *Decoder) ReadSymbol() (Symbol, bool, error) { return d.readSymbol() }

// ReadUlong reads an unsigned integer field of any width.
func (d *Decoder) ReadUlong() (uint64, bool, error) { return d.readUlong() }

// ReadBinary reads a binary field into a new slice.
func (d *Decoder) ReadBinary() ([]byte, bool, error) { return d.readBinary() }

// ReadBinaryInPlace reads a binary field as a slice of the decoder's
// input, not a copy: for input the caller owns and keeps unchanged.
func (d *Decoder) ReadBinaryInPlace() ([]byte, bool, error) {
	return d.readVariable(CodeBinaryVbin8, CodeBinaryVbin32, "binary")
}

// ReadUlongs reads an array of ulongs, appending them to dst.
func (d *Decoder) ReadUlongs(dst []uint64) ([]uint64, bool, error) {
	code, ok, err := d.fieldCode()
	if !ok {
		return dst, false, err
	}
	var count, end int
	switch code {
	case CodeArrayArray8:
		count, end, err = d.compoundHeaderArray(1)
	case CodeArrayArray32:
		count, end, err = d.compoundHeaderArray(4)
	default:
		return dst, false, decodeErr("expected an array of ulongs, found code 0x%02x", code)
	}
	if err != nil {
		return dst, false, err
	}
	elem, err := d.readByte()
	if err != nil {
		return dst, false, err
	}
	width := 0
	switch elem {
	case CodeUlong:
		width = 8
	case CodeUlongSmallulong:
		width = 1
	case CodeUlongUlong0:
		if d.zeroWidth += count; d.zeroWidth > maxZeroWidthItems {
			return dst, false, decodeErr("array of %d zero-width elements exceeds the limit of %d in all", count, maxZeroWidthItems)
		}
	default:
		if count > 0 {
			return dst, false, decodeErr("expected an array of ulongs, found elements of code 0x%02x", elem)
		}
	}
	if int64(count)*int64(width) > int64(end-d.off) {
		return dst, false, decodeErr("array count %d exceeds its %d bytes", count, end-d.off)
	}
	for i := 0; i < count; i++ {
		p, err := d.next(width)
		if err != nil {
			return dst, false, err
		}
		switch width {
		case 8:
			dst = append(dst, binary.BigEndian.Uint64(p))
		case 1:
			dst = append(dst, uint64(p[0]))
		default:
			dst = append(dst, 0)
		}
	}
	return dst, true, d.expectEnd(end)
}

// AppendUlongs appends an array of ulongs, each in 8 bytes (ReadUlongs
// reads it), without boxing each one as AppendArray's items are.
func AppendUlongs(b []byte, v []uint64) []byte {
	return appendArray(b, len(v), func(b []byte) []byte {
		b = append(b, CodeUlong)
		for _, x := range v {
			b = binary.BigEndian.AppendUint64(b, x)
		}
		return b
	})
}
