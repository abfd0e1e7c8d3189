package mgmt

import (
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
)

func parse(t *testing.T, b []byte) *message.Message {
	t.Helper()
	m, err := message.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRequestRoundTrip(t *testing.T) {
	in := &Request{Operation: OpCreate, Type: TypeQueue, Name: "q1", Attributes: map[string]any{
		"durable":   true,
		"arguments": map[string]any{"qpid.replicate": "all", "qpid.max_count": int64(3), "nested": map[string]any{"a": "b"}},
	}}
	b, err := EncodeRequest(in, "id-1", "reply-q")
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, b)
	got, err := DecodeRequest(m)
	if err != nil {
		t.Fatal(err)
	}
	if got.Operation != OpCreate || got.Type != TypeQueue || got.Name != "q1" || got.Attributes["durable"] != true {
		t.Fatalf("decoded %+v", got)
	}
	args := got.Attributes["arguments"].(map[string]any)
	if args["qpid.replicate"] != "all" || args["qpid.max_count"] != int64(3) || args["nested"].(map[string]any)["a"] != "b" {
		t.Fatalf("arguments %v", args)
	}
	if r := ReplyTo(m); r.To != "reply-q" || r.CorrelationID != "id-1" {
		t.Fatalf("reply %+v", r)
	}
	if p := m.Properties(); p.To != Address {
		t.Fatalf("to %q", p.To)
	}
}

// request builds a request message by hand: properties, application
// properties and an optional body section.
func request(t *testing.T, props *types.Properties, app types.Map, bodyCode uint64, body any) *message.Message {
	t.Helper()
	var b []byte
	var err error
	if props != nil {
		if b, err = props.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	if app != nil {
		b = types.AppendDescriptor(b, types.DescriptorApplicationProperties)
		if b, err = types.AppendValue(b, app); err != nil {
			t.Fatal(err)
		}
	}
	if bodyCode != 0 {
		b = types.AppendDescriptor(b, bodyCode)
		if b, err = types.AppendValue(b, body); err != nil {
			t.Fatal(err)
		}
	}
	return parse(t, b)
}

func TestDecodeRequestForms(t *testing.T) {
	// Symbols where strings are expected, identity for name, no body.
	m := request(t, nil, types.Map{
		{Key: "operation", Value: types.Symbol("read")},
		{Key: types.Symbol("type"), Value: "queue"},
		{Key: "identity", Value: "q9"},
	}, 0, nil)
	req, err := DecodeRequest(m)
	if err != nil || req.Operation != "read" || req.Type != "queue" || req.Name != "q9" || req.Attributes != nil {
		t.Fatalf("%+v, %v", req, err)
	}
	// A null body is no body.
	m = request(t, nil, types.Map{{Key: "operation", Value: "QUERY"}}, types.DescriptorAMQPValue, nil)
	if req, err := DecodeRequest(m); err != nil || req.Attributes != nil {
		t.Fatalf("%+v, %v", req, err)
	}
	for _, tc := range []struct {
		name string
		m    *message.Message
		want string
	}{
		{"numeric operation", request(t, nil, types.Map{{Key: "operation", Value: int32(1)}}, 0, nil), `"operation" must be a string`},
		{"list body", request(t, nil, types.Map{{Key: "operation", Value: "READ"}}, types.DescriptorAMQPValue, []any{"x"}), "must be a map"},
		{"data body", request(t, nil, types.Map{{Key: "operation", Value: "READ"}}, types.DescriptorData, []byte("x")), "amqp-value"},
		{"binary key", request(t, nil, types.Map{{Key: "operation", Value: "READ"}}, types.DescriptorAMQPValue, types.Map{{Key: []byte("k"), Value: 1}}), "is not a string"},
	} {
		if _, err := DecodeRequest(tc.m); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestHandle(t *testing.T) {
	a, _ := newAgent(t)
	from := amqpserver.ConnInfo{ID: "conn-1"}

	// A good request: the response correlates by message-id.
	b, err := EncodeRequest(&Request{Operation: OpRead, Type: "broker"}, uint64(42), "replies")
	if err != nil {
		t.Fatal(err)
	}
	out := a.Handle(from, parse(t, b))
	resp, corr, err := DecodeResponse(parse(t, out))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != StatusOK || corr != uint64(42) || resp.Body.(map[string]any)["name"] != "b1" {
		t.Fatalf("response %+v corr %v", resp, corr)
	}
	if p := parse(t, out).Properties(); p.To != "replies" {
		t.Fatalf("response to %q", p.To)
	}

	// A correlation-id in the request wins over its message-id.
	props := types.DefaultProperties()
	props.MessageID, props.CorrelationID, props.ReplyTo = "m", "c", "replies"
	m := request(t, &props, types.Map{{Key: "operation", Value: "QUERY"}, {Key: "type", Value: "exchange"}}, 0, nil)
	resp, corr, err = DecodeResponse(parse(t, a.Handle(from, m)))
	if err != nil || corr != "c" || resp.Status != StatusOK || len(resp.Body.([]any)) != 5 {
		t.Fatalf("response %+v corr %v err %v", resp, corr, err)
	}

	// A malformed request gets a 400.
	props = types.DefaultProperties()
	props.MessageID, props.ReplyTo = "bad", "replies"
	m = request(t, &props, types.Map{{Key: "operation", Value: "READ"}}, types.DescriptorAMQPValue, "text")
	resp, corr, err = DecodeResponse(parse(t, a.Handle(from, m)))
	if err != nil || corr != "bad" || resp.Status != StatusBadRequest || !strings.Contains(resp.Description, "must be a map") || resp.Body != nil {
		t.Fatalf("response %+v corr %v err %v", resp, corr, err)
	}

	// Without a reply-to the request is served and nothing is sent.
	b, _ = EncodeRequest(&Request{Operation: OpCreate, Type: "queue", Name: "fire-and-forget"}, "x", "")
	if out := a.Handle(from, parse(t, b)); out != nil {
		t.Fatalf("reply without reply-to: %x", out)
	}
	if a.cfg.Broker.Queue("fire-and-forget") == nil {
		t.Fatal("request without reply-to not served")
	}
}

func TestEncodeResponseUnencodable(t *testing.T) {
	out := EncodeResponse(Reply{To: "r", CorrelationID: "1"}, OK(map[string]any{"bad": make(chan int)}))
	resp, _, err := DecodeResponse(parse(t, out))
	if err != nil || resp.Status != StatusInternalError || !strings.Contains(resp.Description, "cannot encode") {
		t.Fatalf("%+v %v", resp, err)
	}
}
