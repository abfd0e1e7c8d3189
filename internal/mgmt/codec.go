package mgmt

import (
	"errors"
	"fmt"
	"sort"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
)

// Reply is where a response goes and what it correlates with.
type Reply struct {
	To            string
	CorrelationID any
}

// ReplyTo reads a request's reply-to address and the correlation-id its
// response carries: the request's correlation-id, else its message-id.
func ReplyTo(m *message.Message) Reply {
	p := m.Properties()
	if p == nil {
		return Reply{}
	}
	r := Reply{To: p.ReplyTo, CorrelationID: p.CorrelationID}
	if r.CorrelationID == nil {
		r.CorrelationID = p.MessageID
	}
	return r
}

// DecodeRequest reads a request's application properties and body.
func DecodeRequest(m *message.Message) (*Request, error) {
	req := &Request{Properties: map[string]any{}}
	for _, e := range m.ApplicationProperties() {
		k, ok := key(e.Key)
		if !ok {
			continue // application property keys are strings by definition
		}
		req.Properties[k] = e.Value
	}
	var err error
	if req.Operation, err = stringProperty(req.Properties, PropOperation); err != nil {
		return nil, err
	}
	if req.Type, err = stringProperty(req.Properties, PropType); err != nil {
		return nil, err
	}
	if req.Name, err = stringProperty(req.Properties, PropName); err != nil {
		return nil, err
	}
	if req.Name == "" {
		if req.Name, err = stringProperty(req.Properties, PropIdentity); err != nil {
			return nil, err
		}
	}
	body, err := Body(m)
	if err != nil {
		return nil, err
	}
	switch b := body.(type) {
	case nil:
	case types.Map:
		attrs, err := stringMap(b)
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		req.Attributes = attrs
	default:
		return nil, fmt.Errorf("the request body must be a map of attributes, not %T", body)
	}
	return req, nil
}

func stringProperty(props map[string]any, name string) (string, error) {
	switch v := props[name].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case types.Symbol:
		return string(v), nil
	default:
		return "", fmt.Errorf("application property %q must be a string, not %T", name, v)
	}
}

// Body decodes a message's amqp-value body section (nil without one).
// Other body sections (data, amqp-sequence) are errors.
func Body(m *message.Message) (any, error) {
	v, err := m.Value()
	if errors.Is(err, message.ErrNotValue) {
		return nil, errors.New("the body must be an amqp-value section holding a map")
	}
	return v, err
}

func key(k any) (string, bool) {
	switch k := k.(type) {
	case string:
		return k, true
	case types.Symbol:
		return string(k), true
	}
	return "", false
}

// stringMap converts a map with string (or symbol) keys, recursively.
func stringMap(m types.Map) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for _, e := range m {
		k, ok := key(e.Key)
		if !ok {
			return nil, fmt.Errorf("map key %v (%T) is not a string", e.Key, e.Key)
		}
		out[k] = normalize(e.Value)
	}
	return out, nil
}

// normalize turns nested maps with string keys into map[string]any and
// leaves other values as decoded.
func normalize(v any) any {
	switch x := v.(type) {
	case types.Map:
		if m, err := stringMap(x); err == nil {
			return m
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// EncodeResponse encodes a response message. A body that cannot be encoded
// turns the response into a 500 without a body.
func EncodeResponse(r Reply, resp Response) []byte {
	b, err := encode(r.To, nil, r.CorrelationID, map[string]any{
		PropStatusCode:        int32(resp.Status),
		PropStatusDescription: resp.Description,
	}, resp.Body)
	if err != nil {
		b, _ = encode(r.To, nil, r.CorrelationID, map[string]any{
			PropStatusCode:        int32(StatusInternalError),
			PropStatusDescription: fmt.Sprintf("cannot encode the response: %v", err),
		}, nil)
	}
	return b
}

// EncodeRequest encodes a request message (for tests and in-broker
// clients; tools use mgmt/client).
func EncodeRequest(req *Request, messageID any, replyTo string) ([]byte, error) {
	props := map[string]any{}
	for k, v := range req.Properties {
		props[k] = v
	}
	props[PropOperation] = req.Operation
	props[PropType] = req.Type
	if req.Name != "" {
		props[PropName] = req.Name
	}
	var body any
	if req.Attributes != nil {
		body = req.Attributes
	}
	b, err := encode(Address, replyTo, messageID, props, body)
	return b, err
}

// DecodeResponse reads a response message and its correlation-id.
func DecodeResponse(m *message.Message) (Response, any, error) {
	var resp Response
	var corr any
	if p := m.Properties(); p != nil {
		corr = p.CorrelationID
	}
	props, err := stringMap(m.ApplicationProperties())
	if err != nil {
		return resp, corr, err
	}
	code, ok := asInt(props[PropStatusCode])
	if !ok {
		return resp, corr, fmt.Errorf("response without a %s", PropStatusCode)
	}
	resp.Status = int(code)
	resp.Description, _ = stringProperty(props, PropStatusDescription)
	body, err := Body(m)
	if err != nil {
		return resp, corr, err
	}
	resp.Body = normalize(body)
	return resp, corr, nil
}

// encode builds a message: properties (to, reply-to, message-id or
// correlation-id), application properties, and an amqp-value body. For a
// request id is the message-id and replyTo a string; for a response replyTo
// is nil and id the correlation-id.
func encode(to string, replyTo any, id any, appProps map[string]any, body any) ([]byte, error) {
	p := types.DefaultProperties()
	p.To = to
	if rt, ok := replyTo.(string); ok {
		p.ReplyTo = rt
		p.MessageID = id
	} else {
		p.CorrelationID = id
	}
	b, err := p.Marshal(nil)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(appProps))
	for k := range appProps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ap := make(types.Map, 0, len(keys))
	for _, k := range keys {
		ap = append(ap, types.MapEntry{Key: k, Value: appProps[k]})
	}
	b = types.AppendDescriptor(b, types.DescriptorApplicationProperties)
	if b, err = types.AppendValue(b, ap); err != nil {
		return nil, err
	}
	b = types.AppendDescriptor(b, types.DescriptorAMQPValue)
	return types.AppendValue(b, encodable(body))
}

// encodable converts the Go forms handlers use (broker.Args, []map) into
// ones types.AppendValue takes.
func encodable(v any) any {
	switch x := v.(type) {
	case broker.Args:
		return encodable(map[string]any(x))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = encodable(e)
		}
		return out
	case []map[string]any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = encodable(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = encodable(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	}
	return v
}
