package selector

import (
	"fmt"
	"testing"
)

const typicalSelector = "JMSType = 'car' AND color IN ('blue', 'red') AND weight > 2500 AND JMSPriority >= 4"

func BenchmarkMatch(b *testing.B) {
	h, p, app := amqpMessage()
	s := MustParse(typicalSelector)
	m := FromAMQP(h, p, app)
	if !s.Match(m) {
		b.Fatal("the benchmark selector does not match")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Match(m)
	}
}

// BenchmarkMatchFromAMQP includes wrapping the message's sections, as the
// broker will do for every message it offers to a filtered consumer.
func BenchmarkMatchFromAMQP(b *testing.B) {
	h, p, app := amqpMessage()
	s := MustParse(typicalSelector)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Match(FromAMQP(h, p, app))
	}
}

func BenchmarkMatchColour(b *testing.B) {
	s := MustParse("colour = 'green'")
	m := MapFields{"colour": "green", "size": 3}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Match(m)
	}
}

func BenchmarkMatchLike(b *testing.B) {
	s := MustParse("name LIKE '%cru_l%world'")
	m := MapFields{"name": "Bye, bye cruel world"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Match(m)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(typicalSelector); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleParse() {
	s, err := Parse("colour = 'green' AND size > 2")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Match(MapFields{"colour": "green", "size": 3}))
	fmt.Println(s.Match(MapFields{"colour": "green"})) // size IS NULL: UNKNOWN
	_, err = Parse("colour = ")
	fmt.Println(err)
	// Output:
	// true
	// false
	// selector: unexpected end of input at offset 9, expected an expression
}
