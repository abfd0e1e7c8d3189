package selector

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// fuzzMessages are the messages every selector that parses is matched against.
func fuzzMessages() []Fields {
	h, p, app := amqpMessage()
	return []Fields{
		nil,
		MapFields{},
		msg,
		MapFields{"a": 1, "b": 2.5, "c": "x", "d": true, "e": nil, "A": int64(math.MinInt64), "B": -1, "x": 0},
		MapFields{"a": "1", "b": false, "c": math.NaN(), "d": math.Inf(-1), "e": []byte("e"), "x": uint64(math.MaxUint64)},
		FromAMQP(nil, nil, nil),
		FromAMQP(h, p, app),
		FromAMQP(h, &types.Properties{MessageID: types.UUID{1}}, types.Map{{Key: "a", Value: int8(1)}}),
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"colour = 'green'",
		"JMSType = 'car' AND color = 'blue' AND weight > 2500",
		"Country IN ('UK', 'US', 'France')",
		"phone LIKE '12%3'",
		`underscored LIKE '\_%' ESCAPE '\'`,
		"age NOT BETWEEN 15 AND 19",
		"prop IS NOT NULL OR NOT (a = 1)",
		"a / 0 = 0 OR -A = 0 - A OR A * B + 19 < A * (B + 19)",
		"-9223372036854775808 = 0x8000_0000_0000_0000",
		"077L = 0b111_111 AND 0x800p-3 = 256 AND 1e-2 = .01d",
		`"quoted id" = 'it''s' AND dotted.name <> ''`,
		"a IN (1, 'x', TRUE, (1-17), b) AND c NOT IN ('y')",
		"JMSPriority > 4 AND JMSRedelivered AND amqp.delivery_count >= 1",
		"(((a)))",
		"NOT NOT NOT a",
		"x LIKE '%_%!%_' ESCAPE '!'",
		"a = 1 AND",
		"a = 'unterminated",
		"a = 99999999999999999999",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	msgs := fuzzMessages()
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) returned %T", expr, err)
			}
			if se.Offset < 0 || se.Offset > len(expr) && se.Offset != MaxLength {
				t.Fatalf("Parse(%q): offset %d out of range", expr, se.Offset)
			}
			if !strings.HasPrefix(err.Error(), "selector: ") {
				t.Fatalf("Parse(%q): %q", expr, err)
			}
			return
		}
		if s.String() != expr {
			t.Fatalf("String() = %q, want %q", s.String(), expr)
		}
		for _, m := range msgs {
			first := s.Match(m)
			if s.Match(m) != first {
				t.Fatalf("%q: Match is not deterministic", expr)
			}
		}
		// A NOT of a selector in parentheses never matches when the
		// selector does (UNKNOWN makes both false).
		if len(expr)+8 <= MaxLength {
			if n, err := Parse("NOT (" + expr + ")"); err == nil {
				for _, m := range msgs {
					if s.Match(m) && n.Match(m) {
						t.Fatalf("%q and its negation both match", expr)
					}
				}
			}
		}
	})
}
