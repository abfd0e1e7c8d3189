// Package message splits an encoded AMQP message into its sections (part
// 3.2) the way a broker needs it: the header parsed (it changes per
// delivery), the bare message kept as the exact bytes the sender produced (it
// must be forwarded unchanged), and the properties and application properties
// decoded only when routing or a selector asks for them.
package message

import (
	"errors"
	"fmt"
	"sync"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Message is an encoded message with its section boundaries.
type Message struct {
	// Header is the sender's header; HasHeader tells whether there was one.
	Header    types.Header
	HasHeader bool
	// MessageAnnotations is the encoded message-annotations section, or nil.
	MessageAnnotations []byte
	// Bare is the bare message: properties, application-properties and the
	// body sections, byte for byte as sent.
	Bare []byte
	// Footer is the encoded footer section, or nil.
	Footer []byte

	propsOff, appPropsOff int // offsets in Bare, -1 if absent
	// Decoded on first use, from any goroutine: a message routed to several
	// queues is read by all of them.
	propsOnce, appPropsOnce sync.Once
	properties              *types.Properties
	appProperties           types.Map
}

// Parse splits an encoded message. Delivery annotations are dropped: they
// are meant for the next hop only, which is this broker. Parse keeps
// references into b: the caller must not reuse b.
func Parse(b []byte) (*Message, error) {
	m := &Message{Header: types.DefaultHeader(), propsOff: -1, appPropsOff: -1}
	d := types.NewDecoder(b)
	bareStart, bareEnd := -1, -1
	last := uint64(0)
	sawBody := false
	for d.Len() > 0 {
		start := d.Offset()
		code, err := d.ReadDescriptor()
		if err != nil {
			return nil, fmt.Errorf("message section at offset %d: %w", start, err)
		}
		if code < types.DescriptorHeader || code > types.DescriptorFooter {
			return nil, fmt.Errorf("message: descriptor 0x%x is not a message section", code)
		}
		// Sections come in a fixed order; body sections may repeat.
		isBody := code == types.DescriptorData || code == types.DescriptorAMQPSequence || code == types.DescriptorAMQPValue
		if code < last || (code == last && !isBody) || (sawBody && !isBody && code != types.DescriptorFooter) {
			return nil, fmt.Errorf("message: section 0x%x out of order", code)
		}
		last = code
		if code == types.DescriptorHeader {
			d.Seek(start)
			if err := m.Header.Unmarshal(d); err != nil {
				return nil, fmt.Errorf("message header: %w", err)
			}
			m.HasHeader = true
			continue
		}
		if err := d.Skip(); err != nil {
			return nil, fmt.Errorf("message section 0x%x: %w", code, err)
		}
		end := d.Offset()
		switch code {
		case types.DescriptorDeliveryAnnotations:
		case types.DescriptorMessageAnnotations:
			m.MessageAnnotations = b[start:end]
		case types.DescriptorFooter:
			m.Footer = b[start:end]
		default:
			if bareStart < 0 {
				bareStart = start
			}
			bareEnd = end
			switch code {
			case types.DescriptorProperties:
				m.propsOff = start - bareStart
			case types.DescriptorApplicationProperties:
				m.appPropsOff = start - bareStart
			default:
				sawBody = true
			}
		}
	}
	if bareStart >= 0 {
		m.Bare = b[bareStart:bareEnd]
	}
	return m, nil
}

// Size is the encoded size of what the broker stores for the message.
func (m *Message) Size() int { return len(m.MessageAnnotations) + len(m.Bare) + len(m.Footer) + 16 }

// Properties returns the decoded properties section (nil if absent or bad).
func (m *Message) Properties() *types.Properties {
	m.propsOnce.Do(func() {
		if m.propsOff >= 0 {
			p := new(types.Properties)
			if err := p.Unmarshal(types.NewDecoder(m.Bare[m.propsOff:])); err == nil {
				m.properties = p
			}
		}
	})
	return m.properties
}

// ApplicationProperties returns the decoded application-properties map.
func (m *Message) ApplicationProperties() types.Map {
	m.appPropsOnce.Do(func() {
		if m.appPropsOff >= 0 {
			d := types.NewDecoder(m.Bare[m.appPropsOff:])
			if _, err := d.ReadDescriptor(); err == nil {
				if v, err := d.Value(); err == nil {
					m.appProperties, _ = v.(types.Map)
				}
			}
		}
	})
	return m.appProperties
}

// Subject is the properties' subject, the routing key for exchanges.
func (m *Message) Subject() string {
	if p := m.Properties(); p != nil {
		return p.Subject
	}
	return ""
}

// ErrNotValue says a body is data or amqp-sequence sections, where an
// amqp-value was expected.
var ErrNotValue = errors.New("the body is not an amqp-value section")

// Value decodes the body's amqp-value section: nil with no body,
// ErrNotValue for other body sections.
func (m *Message) Value() (any, error) {
	d := types.NewDecoder(m.Bare)
	for d.Len() > 0 {
		code, err := d.ReadDescriptor()
		if err != nil {
			return nil, err
		}
		switch code {
		case types.DescriptorAMQPValue:
			return d.Value()
		case types.DescriptorData, types.DescriptorAMQPSequence:
			return nil, ErrNotValue
		}
		if err := d.Skip(); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// Append encodes the message for delivery with the given header (nil: none)
// onto b: header, message annotations, the bare message, the footer.
func (m *Message) Append(b []byte, h *types.Header) []byte {
	if h != nil {
		b, _ = h.Marshal(b) // a header has no fields that can fail to encode
	}
	b = append(b, m.MessageAnnotations...)
	b = append(b, m.Bare...)
	return append(b, m.Footer...)
}

// EncodedSize is the size Append produces with a header of at most hsize bytes.
func (m *Message) EncodedSize(hsize int) int {
	return hsize + len(m.MessageAnnotations) + len(m.Bare) + len(m.Footer)
}

// DefaultHeader reports whether h encodes as an empty header, which can be
// left out entirely.
func DefaultHeader(h *types.Header) bool {
	return !h.Durable && h.Priority == 4 && !h.TTL.Set && !h.FirstAcquirer && h.DeliveryCount == 0
}
