// Package selector implements JMS-style message selectors: the SQL-92 subset
// of JMS 1.1 section 3.8.1.1 that qpid-jms, proton's Selector and other AMQP
// clients send as the "apache.org:selector-filter:string" filter on a
// receiver's source, with the extensions the Qpid C++ broker accepted.
//
// A selector is parsed once with [Parse] and then evaluated against each
// message with [Selector.Match]. The message is reached only through the small
// [Fields] interface, so this package does not depend on the broker; [FromAMQP]
// adapts the sections of a decoded AMQP 1.0 message and [MapFields] a plain Go
// map.
//
// # Grammar
//
//	selector   = [ or ]                        (empty: every message matches)
//	or         = and { OR and }
//	and        = cmp { AND cmp }
//	cmp        = NOT cmp
//	           | sum IS [NOT] NULL
//	           | sum [NOT] LIKE string [ESCAPE string]
//	           | sum [NOT] BETWEEN sum AND sum
//	           | sum [NOT] IN "(" sum { "," sum } ")"
//	           | sum ( "=" | "<>" | "<" | "<=" | ">" | ">=" ) sum
//	           | sum
//	sum        = product { ( "+" | "-" ) product }
//	product    = unary { ( "*" | "/" ) unary }
//	unary      = ( "+" | "-" ) unary | "(" or ")" | primary
//	primary    = identifier | string | exact | approximate | TRUE | FALSE
//
// Keywords (AND OR NOT BETWEEN LIKE ESCAPE IN IS NULL TRUE FALSE) are
// case-insensitive. Identifiers follow Java's rules (a letter, "_" or "$"
// followed by letters, digits, "_" or "$") and, as in qpid-cpp, may also contain
// "." after the first character; any name may be written as a quoted identifier
// "like this" (a doubled "" stands for one "), which is never a keyword.
// Strings are in single quotes, doubled for an embedded quote. Exact numerics are
// decimal, octal (leading 0), hexadecimal (0x) or binary (0b), may contain "_"
// between digits and may end in L; -9223372036854775808 is accepted. Approximate
// numerics have a fraction, an exponent or an F/D suffix (hexadecimal ones a
// binary exponent: 0x1p-3) and are evaluated as float64.
//
// # Evaluation
//
// Evaluation follows SQL three-valued logic. A missing or NULL field, a type
// mismatch (comparing a string with a number, ordering strings or booleans,
// arithmetic on a non-number, LIKE on a non-string, a non-boolean operand of
// AND, OR or NOT) and integer division by zero all yield UNKNOWN, never an
// error; a message matches only when the whole selector is TRUE. Exact and
// approximate numbers compare and combine after promotion of the exact operand
// to float64; exact arithmetic wraps as Java's long does. x BETWEEN a AND b is
// x >= a AND x <= b, and x IN (a, b) is x = a OR x = b, both with three-valued
// AND and OR; NOT BETWEEN, NOT IN and NOT LIKE are the negations. IS NULL is
// TRUE for a missing field and for an UNKNOWN sub-expression.
//
// # Differences from the Qpid C++ broker
//
// The grammar, literals and identifier names are qpid-cpp's. Evaluation
// differs where qpid-cpp departs from SQL's three-valued logic: qpid-cpp makes
// = and <> between mismatched types (and ordering of strings) FALSE, so that
// NOT (n = 'x') is TRUE for a number n, where here it is UNKNOWN; it evaluates
// BETWEEN as UNKNOWN whenever any operand is NULL, where here 5 BETWEEN 6 AND
// NULL is FALSE as in SQL; and its exact division by zero is undefined
// behaviour. See [FromAMQP] for the identifier mapping and its differences.
//
// # Limits
//
// Parse rejects expressions longer than [MaxLength] bytes or nested (through
// parentheses, NOT and unary signs) deeper than [MaxDepth], so neither parsing
// nor evaluation can exhaust the stack. LIKE patterns are matched without
// backtracking beyond the last "%": the cost is at most proportional to the
// length of the value times the length of the pattern.
package selector

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

const (
	// MaxLength is the longest selector, in bytes, that Parse accepts.
	MaxLength = 64 << 10
	// MaxDepth is how deeply parentheses, NOT and unary signs may nest.
	MaxDepth = 256
)

// Selector is a parsed message selector. It is immutable, and safe for
// concurrent use by multiple goroutines.
type Selector struct {
	expr string
	root node // nil: the empty selector, which matches every message
}

// SyntaxError describes why Parse rejected a selector.
type SyntaxError struct {
	Offset int    // byte offset in the expression where the problem was found
	Reason string // the description, including the offset, without the "selector: " prefix
}

func (e *SyntaxError) Error() string { return "selector: " + e.Reason }

// Parse parses a selector expression. An expression that is empty or only
// white space selects every message. Errors are *SyntaxError values.
func Parse(expr string) (*Selector, error) {
	if len(expr) > MaxLength {
		return nil, &SyntaxError{Offset: MaxLength, Reason: fmt.Sprintf(
			"expression is %d bytes long, limit %d", len(expr), MaxLength)}
	}
	if !utf8.ValidString(expr) {
		off := 0
		for off < len(expr) {
			r, size := utf8.DecodeRuneInString(expr[off:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			off += size
		}
		return nil, &SyntaxError{Offset: off, Reason: fmt.Sprintf("invalid UTF-8 at offset %d", off)}
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{src: expr, toks: toks}
	root, err := p.parseSelector()
	if err != nil {
		return nil, err
	}
	return &Selector{expr: expr, root: root}, nil
}

// MustParse is like Parse but panics on error; for selectors written in code.
func MustParse(expr string) *Selector {
	s, err := Parse(expr)
	if err != nil {
		panic(err)
	}
	return s
}

// String returns the expression the selector was parsed from.
func (s *Selector) String() string {
	if s == nil {
		return ""
	}
	return s.expr
}

// Match reports whether the message whose fields are m satisfies the selector:
// whether the expression evaluates to TRUE (FALSE and UNKNOWN do not match).
// A nil Selector, like an empty one, matches every message; a nil m is a
// message without any fields.
func (s *Selector) Match(m Fields) bool {
	if s == nil || s.root == nil {
		return true
	}
	if m == nil {
		m = noFields{}
	}
	v := s.root.eval(m)
	return v.k == kBool && v.b
}

type noFields struct{}

func (noFields) Get(string) (any, bool) { return nil, false }

// describe renders a piece of the source for an error message.
func describe(s string) string {
	const max = 40
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strconv.Quote(s)
}
