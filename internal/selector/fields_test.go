package selector

import (
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

func amqpMessage() (*types.Header, *types.Properties, types.Map) {
	h := types.DefaultHeader()
	h.Durable = true
	h.Priority = 7
	h.DeliveryCount = 2
	h.TTL = types.Some[uint32](60000)
	p := types.DefaultProperties()
	p.MessageID = "ID:abc-123"
	p.UserID = []byte("guest")
	p.To = "queue.orders"
	p.Subject = "car"
	p.ReplyTo = "queue.replies"
	p.CorrelationID = uint64(42)
	p.ContentType = "text/plain"
	p.CreationTime = types.Some[types.Timestamp](1700000000000)
	p.AbsoluteExpiryTime = types.Some[types.Timestamp](1700000060000)
	p.GroupID = "g1"
	p.GroupSequence = types.Some[uint32](3)
	app := types.Map{
		{Key: "color", Value: "blue"},
		{Key: "weight", Value: int32(2600)},
		{Key: types.Symbol("sym"), Value: types.Symbol("symbolic")},
		{Key: "when", Value: types.Timestamp(5)},
		{Key: "ch", Value: types.Char('x')},
		{Key: "uuid", Value: types.UUID{}},
		{Key: "bin", Value: []byte("b")},
		{Key: "null", Value: nil},
		{Key: "JMSFoo", Value: "custom"},
		{Key: "amqp.custom", Value: int64(1)},
		{Key: "u64", Value: uint64(1) << 63},
		{Key: "f32", Value: float32(1.5)},
		{Key: "i8", Value: int8(-3)},
		{Key: "u16", Value: uint16(65535)},
	}
	return &h, &p, app
}

func TestFromAMQP(t *testing.T) {
	h, p, app := amqpMessage()
	m := FromAMQP(h, p, app)
	for _, tc := range []struct {
		sel  string
		want string
	}{
		// The JMS specification's example, with JMSType in the subject.
		{"JMSType = 'car' AND color = 'blue' AND weight > 2500", "TRUE"},
		{"JMSMessageID = 'ID:abc-123'", "TRUE"},
		{"JMSCorrelationID = '42'", "TRUE"},
		{"JMSCorrelationID = 42", "UNKNOWN"},
		{"JMSPriority = 7", "TRUE"},
		{"JMSPriority > 4", "TRUE"},
		{"JMSDeliveryMode = 'PERSISTENT'", "TRUE"},
		{"JMSTimestamp = 1700000000000", "TRUE"},
		{"JMSExpiration - JMSTimestamp = 60000", "TRUE"},
		{"JMSRedelivered", "TRUE"},
		{"JMSRedelivered = TRUE", "TRUE"},
		{"JMSDestination = 'queue.orders'", "TRUE"},
		{"JMSReplyTo LIKE '%replies'", "TRUE"},
		{"JMSXUserID = 'guest'", "TRUE"},
		{"JMSXGroupID = 'g1'", "TRUE"},
		{"JMSXGroupSeq = 3", "TRUE"},
		{"JMSXDeliveryCount = 3", "TRUE"},
		{"JMSFoo = 'custom'", "TRUE"}, // other JMS names are application properties
		{"amqp.custom = 1", "TRUE"},   // and so are other amqp. names
		{"amqp.durable", "TRUE"},
		{"amqp.delivery_mode = 'PERSISTENT'", "TRUE"},
		{"amqp.priority = 7", "TRUE"},
		{"amqp.delivery_count = 2", "TRUE"},
		{"amqp.redelivered", "TRUE"},
		{"amqp.first_acquirer", "FALSE"},
		{"amqp.ttl = 60000", "TRUE"},
		{"amqp.message_id = 'ID:abc-123'", "TRUE"},
		{"amqp.user_id = 'guest'", "TRUE"},
		{"amqp.to = 'queue.orders'", "TRUE"},
		{"amqp.subject = 'car'", "TRUE"},
		{"amqp.reply_to = 'queue.replies'", "TRUE"},
		{"amqp.correlation_id = '42'", "TRUE"},
		{"amqp.content_type = 'text/plain'", "TRUE"},
		{"amqp.content_encoding IS NULL", "TRUE"},
		{"amqp.absolute_expiry_time = 1700000060000", "TRUE"},
		{"amqp.creation_time = 1700000000000", "TRUE"},
		{"amqp.group_id = 'g1'", "TRUE"},
		{"amqp.group_sequence = 3", "TRUE"},
		{"amqp.reply_to_group_id IS NULL", "TRUE"},
		{"sym = 'symbolic'", "TRUE"}, // symbol keys and values
		{"when = 5", "TRUE"},         // timestamps are exact numbers
		{"ch = 'x'", "TRUE"},         // chars are strings
		{"uuid IS NOT NULL", "TRUE"}, // present, but not comparable
		{"uuid = uuid", "UNKNOWN"},
		{"bin IS NULL", "FALSE"},
		{"bin = 'b'", "UNKNOWN"},
		{`"null" IS NULL`, "TRUE"}, // a keyword as a quoted identifier
		{"u64 = 9.223372036854775808e18", "TRUE"},
		{"u64 > 0", "TRUE"},
		{"f32 = 1.5", "TRUE"},
		{"i8 = -3", "TRUE"},
		{"u16 = 65535", "TRUE"},
		{"missing IS NULL", "TRUE"},
		{"Color = 'blue'", "UNKNOWN"}, // names are case-sensitive
		{"jmspriority = 7", "UNKNOWN"},
	} {
		s, err := Parse(tc.sel)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.sel, err)
			continue
		}
		if got := eval3(t, s, m); got != tc.want {
			t.Errorf("%q = %s, want %s", tc.sel, got, tc.want)
		}
	}
}

func TestFromAMQPDefaults(t *testing.T) {
	// No sections at all: the header's defaults, no properties.
	for _, m := range []Fields{FromAMQP(nil, nil, nil), FromAMQP(nil, &types.Properties{}, types.Map{})} {
		for _, tc := range []struct {
			sel  string
			want string
		}{
			{"JMSPriority = 4", "TRUE"},
			{"JMSDeliveryMode = 'NON_PERSISTENT'", "TRUE"},
			{"JMSRedelivered", "FALSE"},
			{"NOT JMSRedelivered", "TRUE"},
			{"JMSXDeliveryCount = 1", "TRUE"},
			{"amqp.durable", "FALSE"},
			{"amqp.delivery_count = 0", "TRUE"},
			{"amqp.ttl IS NULL", "TRUE"},
			{"JMSTimestamp = 0", "TRUE"},  // as qpid-jms reports an unset timestamp
			{"JMSExpiration = 0", "TRUE"}, // and as JMS means "never expires"
			{"JMSMessageID IS NULL", "TRUE"},
			{"JMSCorrelationID IS NULL", "TRUE"},
			{"JMSType IS NULL", "TRUE"},
			{"JMSType = 'car'", "UNKNOWN"},
			{"JMSDestination IS NULL", "TRUE"},
			{"JMSReplyTo IS NULL", "TRUE"},
			{"JMSXUserID IS NULL", "TRUE"},
			{"JMSXGroupID IS NULL", "TRUE"},
			{"JMSXGroupSeq IS NULL", "TRUE"},
			{"colour = 'green'", "UNKNOWN"},
			{"colour IS NULL", "TRUE"},
		} {
			if got := eval3(t, MustParse(tc.sel), m); got != tc.want {
				t.Errorf("%q = %s, want %s", tc.sel, got, tc.want)
			}
		}
	}
}

func TestMessageIDForms(t *testing.T) {
	uuid := types.UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	for _, tc := range []struct {
		id   any
		sel  string
		want string
	}{
		{"plain", "JMSMessageID = 'plain'", "TRUE"},
		{types.Symbol("sym"), "JMSMessageID = 'sym'", "TRUE"},
		{uint64(18446744073709551615), "JMSMessageID = '18446744073709551615'", "TRUE"},
		{uuid, "JMSMessageID = '12345678-9abc-def0-0123-456789abcdef'", "TRUE"},
		{[]byte("raw"), "JMSMessageID = 'raw'", "TRUE"},
		{"", "JMSMessageID IS NULL", "TRUE"},
		{nil, "JMSMessageID IS NULL", "TRUE"},
		{int64(5), "JMSMessageID IS NULL", "TRUE"}, // not a valid message-id type
	} {
		p := &types.Properties{MessageID: tc.id, CorrelationID: tc.id}
		m := FromAMQP(nil, p, nil)
		if got := eval3(t, MustParse(tc.sel), m); got != tc.want {
			t.Errorf("message-id %#v: %q = %s, want %s", tc.id, tc.sel, got, tc.want)
		}
		if got := eval3(t, MustParse("JMSCorrelationID"+tc.sel[len("JMSMessageID"):]), m); got != tc.want {
			t.Errorf("correlation-id %#v: = %s, want %s", tc.id, got, tc.want)
		}
	}
}

func TestMapFields(t *testing.T) {
	m := MapFields{"a": 1, "b": nil}
	if v, ok := m.Get("a"); !ok || v != 1 {
		t.Errorf("Get(a) = %v, %v", v, ok)
	}
	if _, ok := m.Get("c"); ok {
		t.Error("Get(c) found something")
	}
	if !MustParse("b IS NULL AND c IS NULL AND a IS NOT NULL").Match(m) {
		t.Error("nil values and missing keys are NULL")
	}
}
