package message

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// section encodes a described section.
func section(t testing.TB, code uint64, v any) []byte {
	t.Helper()
	b, err := types.AppendValue(types.AppendDescriptor(nil, code), v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func composite(t testing.TB, c types.Composite) []byte {
	t.Helper()
	b, err := c.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSplitsSections(t *testing.T) {
	h := types.DefaultHeader()
	h.Durable, h.Priority, h.TTL = true, 7, types.Some(uint32(5000))
	header := composite(t, &h)
	da := section(t, types.DescriptorDeliveryAnnotations, types.Map{{Key: types.Symbol("x-hop"), Value: "next"}})
	ma := section(t, types.DescriptorMessageAnnotations, types.Map{{Key: types.Symbol("x-opt-a"), Value: int64(1)}})
	props := composite(t, &types.Properties{Subject: "news.sport", To: "amq.topic", MessageID: uint64(9)})
	app := section(t, types.DescriptorApplicationProperties, types.Map{{Key: "colour", Value: "green"}})
	body1 := section(t, types.DescriptorData, []byte("part one"))
	body2 := section(t, types.DescriptorData, []byte("part two"))
	footer := section(t, types.DescriptorFooter, types.Map{{Key: types.Symbol("x-sum"), Value: uint32(3)}})
	var msg []byte
	for _, s := range [][]byte{header, da, ma, props, app, body1, body2, footer} {
		msg = append(msg, s...)
	}
	m, err := Parse(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !m.HasHeader || !m.Header.Durable || m.Header.Priority != 7 || m.Header.TTL.V != 5000 {
		t.Fatalf("header %+v", m.Header)
	}
	if !bytes.Equal(m.MessageAnnotations, ma) || !bytes.Equal(m.Footer, footer) {
		t.Fatal("annotations or footer not kept byte for byte")
	}
	bare := bytes.Join([][]byte{props, app, body1, body2}, nil)
	if !bytes.Equal(m.Bare, bare) {
		t.Fatal("the bare message must be the exact bytes sent")
	}
	if m.Subject() != "news.sport" || m.Properties().MessageID != uint64(9) {
		t.Fatalf("properties %+v", m.Properties())
	}
	if v, _ := m.ApplicationProperties().Get("colour"); v != "green" {
		t.Fatalf("application properties %v", m.ApplicationProperties())
	}
	// Forwarded with a new header: delivery annotations are gone, the rest
	// is unchanged.
	h.DeliveryCount = 2
	out := m.Append(nil, &h)
	want := append(composite(t, &h), ma...)
	want = append(append(want, bare...), footer...)
	if !bytes.Equal(out, want) {
		t.Fatal("Append must write header, annotations, bare message, footer")
	}
}

func TestParseDefaultsAndErrors(t *testing.T) {
	m, err := Parse(section(t, types.DescriptorAMQPValue, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if m.HasHeader || m.Header.Priority != 4 || m.Properties() != nil || m.Subject() != "" {
		t.Fatalf("a message without header or properties: %+v", m)
	}
	if !DefaultHeader(&m.Header) {
		t.Fatal("the default header should be omittable")
	}
	props := composite(t, &types.Properties{Subject: "s"})
	body := section(t, types.DescriptorData, []byte("x"))
	for name, b := range map[string][]byte{
		"properties after the body":  append(append([]byte{}, body...), props...),
		"two properties sections":    append(append([]byte{}, props...), props...),
		"not a section":              section(t, 0x10, []any{"open?"}),
		"undescribed bytes":          {0xa1, 0x01, 'x'},
		"truncated section":          body[:len(body)-1],
		"header after the body":      append(append([]byte{}, body...), composite(t, &types.Header{Priority: 4})...),
		"application data then junk": append(append([]byte{}, body...), 0x00),
	} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

// FuzzParse feeds proton's message-decoder corpus and arbitrary bytes: Parse
// never panics, and what it accepts re-encodes to the same sections.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"corpus", "crash"} {
		files, _ := filepath.Glob(filepath.Join("..", "types", "testdata", "corpus", "fuzz-message-decode", dir, "*"))
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		_ = m.Properties()
		_ = m.ApplicationProperties()
		var h *types.Header
		if m.HasHeader {
			h = &m.Header
		}
		m2, err := Parse(m.Append(nil, h))
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if !bytes.Equal(m2.Bare, m.Bare) || !bytes.Equal(m2.MessageAnnotations, m.MessageAnnotations) || !bytes.Equal(m2.Footer, m.Footer) {
			t.Fatal("re-encoding changed the message")
		}
	})
}
