package selector

import (
	"strconv"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Fields gives a selector access to the fields of one message.
//
// Get returns the value of the named field and whether the message has it; a
// missing field and a nil value are both NULL. Values of the Go types bool,
// string, int, int8 ... int64, uint, uint8 ... uint64 (above MaxInt64 it
// becomes approximate), float32, float64, types.Symbol (a string),
// types.Char (a one-character string) and types.Timestamp (milliseconds, an
// exact number) take part in comparisons; any other value is present (IS NOT
// NULL is TRUE) but compares as UNKNOWN with everything.
type Fields interface {
	Get(name string) (any, bool)
}

// MapFields is a Fields backed by a Go map; handy for tests and for callers
// that already hold a message's properties as a map.
type MapFields map[string]any

// Get implements Fields.
func (m MapFields) Get(name string) (any, bool) {
	v, ok := m[name]
	return v, ok
}

// field identifies a message field that is not an application property.
type field uint8

const (
	fDurable field = iota + 1
	fDeliveryMode
	fPriority
	fDeliveryCount
	fRedelivered
	fFirstAcquirer
	fTTL
	fMessageID
	fUserID
	fTo
	fSubject
	fReplyTo
	fCorrelationID
	fContentType
	fContentEncoding
	fAbsoluteExpiryTime
	fCreationTime
	fGroupID
	fGroupSequence
	fReplyToGroupID
	fJMSXDeliveryCount
)

// specialFields maps the identifiers that name header and properties fields
// rather than application properties. The JMS names are aliases of qpid-cpp's
// "amqp." names (see FromAMQP).
var specialFields = map[string]field{
	// JMS 1.1 header fields, as qpid-cpp aliases them.
	"JMSMessageID":     fMessageID,
	"JMSCorrelationID": fCorrelationID,
	"JMSType":          fSubject,
	"JMSPriority":      fPriority,
	"JMSDeliveryMode":  fDeliveryMode,
	"JMSTimestamp":     fCreationTime,
	"JMSExpiration":    fAbsoluteExpiryTime,
	"JMSRedelivered":   fRedelivered,
	"JMSDestination":   fTo,
	"JMSReplyTo":       fReplyTo,
	// JMS-defined properties that the AMQP JMS mapping (and qpid-jms) carries
	// in the header and properties sections rather than application-properties.
	"JMSXUserID":        fUserID,
	"JMSXGroupID":       fGroupID,
	"JMSXGroupSeq":      fGroupSequence,
	"JMSXDeliveryCount": fJMSXDeliveryCount,
	// qpid-cpp's names for the AMQP 1.0 header and properties fields.
	"amqp.durable":              fDurable,
	"amqp.delivery_mode":        fDeliveryMode,
	"amqp.priority":             fPriority,
	"amqp.delivery_count":       fDeliveryCount,
	"amqp.redelivered":          fRedelivered,
	"amqp.first_acquirer":       fFirstAcquirer,
	"amqp.ttl":                  fTTL,
	"amqp.message_id":           fMessageID,
	"amqp.user_id":              fUserID,
	"amqp.to":                   fTo,
	"amqp.subject":              fSubject,
	"amqp.reply_to":             fReplyTo,
	"amqp.correlation_id":       fCorrelationID,
	"amqp.content_type":         fContentType,
	"amqp.content_encoding":     fContentEncoding,
	"amqp.absolute_expiry_time": fAbsoluteExpiryTime,
	"amqp.creation_time":        fCreationTime,
	"amqp.group_id":             fGroupID,
	"amqp.group_sequence":       fGroupSequence,
	"amqp.reply_to_group_id":    fReplyToGroupID,
}

// FromAMQP returns the Fields of an AMQP 1.0 message made of the given header,
// properties and application-properties sections, any of which may be absent
// (nil): an absent header has every field at its default.
//
// Identifiers resolve as in the Qpid C++ broker's selectors:
//
//	JMSMessageID      amqp.message_id           properties message-id, as a string (*)
//	JMSCorrelationID  amqp.correlation_id       properties correlation-id, as a string (*)
//	JMSType           amqp.subject              properties subject
//	JMSDestination    amqp.to                   properties to
//	JMSReplyTo        amqp.reply_to             properties reply-to
//	JMSTimestamp      amqp.creation_time        properties creation-time in ms; 0 when absent
//	JMSExpiration     amqp.absolute_expiry_time properties absolute-expiry-time in ms; 0 when absent
//	JMSPriority       amqp.priority             header priority (default 4)
//	JMSDeliveryMode   amqp.delivery_mode        'PERSISTENT' if header durable, else 'NON_PERSISTENT'
//	JMSRedelivered    amqp.redelivered          header delivery-count > 0
//	                  amqp.durable              header durable
//	                  amqp.delivery_count       header delivery-count
//	                  amqp.first_acquirer       header first-acquirer
//	                  amqp.ttl                  header ttl in ms
//	JMSXUserID        amqp.user_id              properties user-id, as a string
//	JMSXGroupID       amqp.group_id             properties group-id
//	JMSXGroupSeq      amqp.group_sequence       properties group-sequence
//	                  amqp.reply_to_group_id    properties reply-to-group-id
//	                  amqp.content_type         properties content-type
//	                  amqp.content_encoding     properties content-encoding
//	JMSXDeliveryCount                           header delivery-count + 1
//
// (*) a string id as it is, a ulong in decimal, a uuid in its canonical
// 8-4-4-4-12 hexadecimal form, a binary id as its bytes.
//
// Properties that are absent or empty strings are NULL. Every other identifier,
// including unlisted names beginning "JMS" or "amqp.", names an application
// property (keys may be strings or symbols).
//
// JMSType is the subject, as in qpid-cpp and qpid-jms (the AMQP JMS mapping's
// x-opt-jms-type annotation is not consulted, and qpid-cpp's amqp.jms_type,
// which read a "jms-type" message annotation, is not provided since the
// annotations are not among FromAMQP's arguments). Unlike qpid-cpp,
// JMSRedelivered is delivery-count > 0 (qpid-cpp made it always TRUE, counting
// on the delivery about to happen), JMSTimestamp is the message's own
// creation-time (qpid-cpp used the broker's arrival timestamp), the JMSX names
// follow the AMQP JMS mapping as qpid-jms implements it (qpid-cpp had none),
// and unknown JMS and amqp. names fall back to application properties
// (qpid-cpp made them NULL).
func FromAMQP(header *types.Header, props *types.Properties, appProps types.Map) Fields {
	return &amqpFields{header: header, props: props, app: appProps}
}

// Read-only stand-ins for absent sections.
var (
	defaultHeader = types.DefaultHeader()
	noProperties  types.Properties
)

type amqpFields struct {
	header *types.Header
	props  *types.Properties
	app    types.Map
}

// Get implements Fields.
func (f *amqpFields) Get(name string) (any, bool) {
	if id := specialField(name); id != 0 {
		v, ok := f.special(id)
		return v.toGo(), ok
	}
	return f.appProperty(name)
}

// specialField returns the field an identifier names, or 0 for an application property.
func specialField(name string) field {
	if len(name) > 5 && (name[0] == 'J' || name[0] == 'a') {
		return specialFields[name]
	}
	return 0
}

func (f *amqpFields) appProperty(name string) (any, bool) {
	for _, e := range f.app {
		switch k := e.Key.(type) {
		case string:
			if k == name {
				return e.Value, true
			}
		case types.Symbol:
			if string(k) == name {
				return e.Value, true
			}
		}
	}
	return nil, false
}

func str(s string) (value, bool) {
	if s == "" {
		return unknown, false
	}
	return value{k: kString, s: s}, true
}

func integer(i int64) (value, bool) { return value{k: kInt, i: i}, true }

func (f *amqpFields) special(id field) (value, bool) {
	h := f.header
	if h == nil {
		h = &defaultHeader
	}
	switch id {
	case fDurable:
		return boolValue(h.Durable), true
	case fDeliveryMode:
		if h.Durable {
			return str("PERSISTENT")
		}
		return str("NON_PERSISTENT")
	case fPriority:
		return integer(int64(h.Priority))
	case fDeliveryCount:
		return integer(int64(h.DeliveryCount))
	case fJMSXDeliveryCount:
		return integer(int64(h.DeliveryCount) + 1)
	case fRedelivered:
		return boolValue(h.DeliveryCount > 0), true
	case fFirstAcquirer:
		return boolValue(h.FirstAcquirer), true
	case fTTL:
		if !h.TTL.Set {
			return unknown, false
		}
		return integer(int64(h.TTL.V))
	}
	p := f.props
	if p == nil {
		p = &noProperties
	}
	switch id {
	case fMessageID:
		return idString(p.MessageID)
	case fCorrelationID:
		return idString(p.CorrelationID)
	case fUserID:
		return str(string(p.UserID))
	case fTo:
		return str(p.To)
	case fSubject:
		return str(p.Subject)
	case fReplyTo:
		return str(p.ReplyTo)
	case fContentType:
		return str(string(p.ContentType))
	case fContentEncoding:
		return str(string(p.ContentEncoding))
	case fAbsoluteExpiryTime:
		return integer(int64(p.AbsoluteExpiryTime.Get(0)))
	case fCreationTime:
		return integer(int64(p.CreationTime.Get(0)))
	case fGroupID:
		return str(p.GroupID)
	case fGroupSequence:
		if !p.GroupSequence.Set {
			return unknown, false
		}
		return integer(int64(p.GroupSequence.V))
	case fReplyToGroupID:
		return str(p.ReplyToGroupID)
	}
	return unknown, false
}

// idString renders a message-id or correlation-id as qpid-cpp does.
func idString(id any) (value, bool) {
	switch id := id.(type) {
	case string:
		return str(id)
	case types.Symbol:
		return str(string(id))
	case uint64:
		return str(strconv.FormatUint(id, 10))
	case types.UUID:
		return str(id.String())
	case []byte:
		return str(string(id))
	}
	return unknown, false
}
