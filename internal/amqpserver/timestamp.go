package amqpserver

import (
	"time"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// IngressTimestamp is the message annotation that enable-timestamp adds to
// each received message: its time of arrival at the broker, an AMQP
// timestamp (milliseconds since the Unix epoch).
const IngressTimestamp = types.Symbol("x-opt-ingress-timestamp")

// stampArrival returns the encoded message-annotations section ann (nil:
// none) with IngressTimestamp set to now, replacing a sender's value. The
// rest of the message is untouched; an annotations section that does not
// decode as a map is kept as it is.
func stampArrival(ann []byte, now time.Time) []byte {
	var m types.Map
	if ann != nil {
		d := types.NewDecoder(ann)
		if _, err := d.ReadDescriptor(); err != nil {
			return ann
		}
		v, err := d.Value()
		if err != nil {
			return ann
		}
		if v != nil {
			var ok bool
			if m, ok = v.(types.Map); !ok {
				return ann
			}
		}
	}
	m.Set(IngressTimestamp, types.TimestampOf(now))
	out, err := types.AppendValue(types.AppendDescriptor(make([]byte, 0, len(ann)+32), types.DescriptorMessageAnnotations), m)
	if err != nil {
		return ann
	}
	return out
}
