package mgmt

import (
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
)

// FuzzHandle feeds arbitrary messages to the agent: it may answer with an
// error status but must not panic, and every answer must parse.
func FuzzHandle(f *testing.F) {
	for _, req := range []*Request{
		{Operation: OpCreate, Type: "queue", Name: "q", Attributes: map[string]any{"durable": true, "arguments": map[string]any{"qpid.max_count": int64(2)}}},
		{Operation: OpQuery, Type: TypeBinding, Attributes: map[string]any{"exchange": "amq.direct"}},
		{Operation: OpDelete, Type: "exchange", Name: "x", Attributes: map[string]any{"ifUnused": "yes"}},
		{Operation: OpCreate, Type: "binding", Name: "amq.match/q/k", Attributes: map[string]any{"arguments": map[string]any{"x-match": "any"}}},
	} {
		b, err := EncodeRequest(req, "id", "reply")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	b, err := broker.New(broker.Config{})
	if err != nil {
		f.Fatal(err)
	}
	a := NewAgent(Config{Broker: b, Name: "fuzz"})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := message.Parse(b)
		if err != nil {
			return
		}
		out := a.Handle(amqpserver.ConnInfo{ID: "fuzz"}, m)
		if out == nil {
			return
		}
		r, err := message.Parse(out)
		if err != nil {
			t.Fatalf("unparsable response: %v", err)
		}
		if _, _, err := DecodeResponse(r); err != nil {
			t.Fatalf("undecodable response: %v", err)
		}
	})
}
