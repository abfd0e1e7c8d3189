// Package frame reads and writes AMQP 1.0 frames (part 2.3) and protocol
// headers (part 2.2, part 5.1): the layer between bytes and performatives.
package frame

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Frame types.
const (
	TypeAMQP uint8 = 0
	TypeSASL uint8 = 1
)

// HeaderSize is the size of a frame header and of a protocol header.
const HeaderSize = 8

// MinMaxFrameSize is the largest frame size every peer accepts before open
// has been exchanged (MIN-MAX-FRAME-SIZE).
const MinMaxFrameSize = 512

// Protocol identifiers of the protocol header "AMQP" id major minor revision.
const (
	ProtoAMQP uint8 = 0
	ProtoTLS  uint8 = 2
	ProtoSASL uint8 = 3
)

// Header returns the protocol header for a protocol id, version 1.0.0.
func Header(proto uint8) []byte { return []byte{'A', 'M', 'Q', 'P', proto, 1, 0, 0} }

// ErrBadHeader reports a protocol header that is not AMQP 1.0.0.
var ErrBadHeader = errors.New("not an AMQP 1.0 protocol header")

// ParseHeader checks an 8-byte protocol header and returns its protocol id.
func ParseHeader(h []byte) (uint8, error) {
	if len(h) < HeaderSize || string(h[:4]) != "AMQP" {
		return 0, fmt.Errorf("%w: % x", ErrBadHeader, h)
	}
	if h[5] != 1 || h[6] != 0 || h[7] != 0 {
		return h[4], fmt.Errorf("%w: version %d.%d.%d is not supported", ErrBadHeader, h[5], h[6], h[7])
	}
	switch h[4] {
	case ProtoAMQP, ProtoTLS, ProtoSASL:
		return h[4], nil
	}
	return h[4], fmt.Errorf("%w: unknown protocol id %d", ErrBadHeader, h[4])
}

// Frame is one decoded frame. Body is nil for an empty frame (a heartbeat).
// Payload holds the bytes after a transfer's performative and aliases the
// input given to Parse.
type Frame struct {
	Type    uint8
	Channel uint16
	Body    types.Composite
	Payload []byte
}

// Parse decodes the first frame in b. It returns n == 0 and no error when b
// does not yet hold a whole frame. A frame larger than maxSize, or malformed,
// is an *types.Error with condition framing-error or decode-error.
func Parse(b []byte, maxSize uint32) (f Frame, n int, err error) {
	if len(b) < HeaderSize {
		return f, 0, nil
	}
	size := binary.BigEndian.Uint32(b)
	doff := int(b[4]) * 4
	f.Type = b[5]
	f.Channel = binary.BigEndian.Uint16(b[6:])
	switch {
	case size < HeaderSize:
		return f, 0, types.NewError(types.CondConnectionFramingError, "frame size %d is smaller than a frame header", size)
	case size > maxSize:
		return f, 0, types.NewError(types.CondConnectionFramingError, "frame size %d exceeds the maximum frame size %d", size, maxSize)
	case doff < HeaderSize || uint32(doff) > size:
		return f, 0, types.NewError(types.CondConnectionFramingError, "data offset %d is outside the frame of %d bytes", doff, size)
	case f.Type != TypeAMQP && f.Type != TypeSASL:
		return f, 0, types.NewError(types.CondConnectionFramingError, "unknown frame type %d", f.Type)
	}
	if uint64(len(b)) < uint64(size) {
		return f, 0, nil
	}
	body := b[doff:size]
	if len(body) == 0 {
		return f, int(size), nil
	}
	d := types.NewDecoder(body)
	code, err := d.ReadDescriptor()
	if err != nil {
		return f, 0, decodeError(err)
	}
	comp, ok := types.NewComposite(code)
	if !ok || !fits(comp, f.Type) {
		return f, 0, types.NewError(types.CondDecodeError, "descriptor 0x%x is not a %s frame body", code, typeName(f.Type))
	}
	d.Reset(body)
	if err := comp.Unmarshal(d); err != nil {
		return f, 0, decodeError(err)
	}
	if d.Len() > 0 {
		if _, isTransfer := comp.(*types.Transfer); !isTransfer {
			return f, 0, types.NewError(types.CondDecodeError, "%d bytes follow a %T performative", d.Len(), comp)
		}
		f.Payload = d.Rest()
	}
	f.Body = comp
	return f, int(size), nil
}

func fits(c types.Composite, frameType uint8) bool {
	if frameType == TypeSASL {
		_, ok := c.(types.SASLFrame)
		return ok
	}
	_, ok := c.(types.Performative)
	return ok
}

func typeName(t uint8) string {
	if t == TypeSASL {
		return "SASL"
	}
	return "AMQP"
}

func decodeError(err error) *types.Error {
	return types.NewError(types.CondDecodeError, "%v", err)
}

// Append encodes a frame onto b. A nil body makes an empty frame.
func Append(b []byte, frameType uint8, channel uint16, body types.Composite, payload []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 2, frameType, byte(channel>>8), byte(channel))
	if body != nil {
		var err error
		if b, err = body.Marshal(b); err != nil {
			return b[:start], err
		}
	}
	b = append(b, payload...)
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b, nil
}

// AppendEmpty appends an empty frame, the heartbeat.
func AppendEmpty(b []byte) []byte { return append(b, 0, 0, 0, 8, 2, TypeAMQP, 0, 0) }
