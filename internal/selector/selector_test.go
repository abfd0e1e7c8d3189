package selector

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// eval3 evaluates s against m and names the three-valued result.
func eval3(t *testing.T, s *Selector, m Fields) string {
	t.Helper()
	if s.root == nil {
		return "TRUE"
	}
	v := s.root.eval(m)
	r := "UNKNOWN"
	if v.k == kBool {
		r = "FALSE"
		if v.b {
			r = "TRUE"
		}
	}
	if got := s.Match(m); got != (r == "TRUE") {
		t.Fatalf("%q: Match = %v but the expression is %s", s, got, r)
	}
	return r
}

// msg is the message most of the table runs against.
var msg = MapFields{
	"colour":   "green",
	"color":    "blue",
	"weight":   int32(3000),
	"price":    9.5,
	"qty":      int64(12),
	"small":    uint8(7),
	"big":      uint64(math.MaxUint64),
	"f32":      float32(0.5),
	"flag":     true,
	"off":      false,
	"name":     "Bye, bye cruel world",
	"empty":    "",
	"quote":    "it's",
	"Country":  "UK",
	"phone":    "12993",
	"word":     "lose",
	"under":    "_foo",
	"pct":      "100%",
	"unicode":  "naïve café",
	"nil":      nil,
	"list":     []any{1, 2},
	"dotted.k": "d",
	"AND":      "keyword-named",
	"neg":      int64(-5),
	"zero":     0,
	"min":      int64(math.MinInt64),
	"nan":      math.NaN(),
	"inf":      math.Inf(1),
}

func TestMatchTable(t *testing.T) {
	const T, F, U = "TRUE", "FALSE", "UNKNOWN"
	tests := []struct {
		sel  string
		want string
	}{
		// Empty selectors match everything.
		{"", T},
		{"   \t\n", T},

		// proton's example and the JMS specification's examples.
		{"colour = 'green'", T},
		{"colour = 'red'", F},
		{"colour <> 'red'", T},
		{"color = 'blue' AND weight > 2500", T},
		{"color = 'blue' AND weight > 3000", F},
		{"Country IN ('UK', 'US', 'France')", T},
		{"Country NOT IN ('UK', 'US', 'France')", F},
		{"Country IN ('Peru')", F},
		{"Country NOT IN ('Peru')", T},
		{"phone LIKE '12%3'", T},
		{"phone NOT LIKE '12%3'", F},
		{"'123' LIKE '12%3'", T},
		{"'1234' LIKE '12%3'", F},
		{"word LIKE 'l_se'", T},
		{"'loose' LIKE 'l_se'", F},
		{`under LIKE '\_%' ESCAPE '\'`, T},
		{`'bar' LIKE '\_%' ESCAPE '\'`, F},
		{"weight BETWEEN 2500 AND 3000", T},
		{"weight BETWEEN 3001 AND 4000", F},
		{"weight NOT BETWEEN 3001 AND 4000", T},
		{"missing IS NULL", T},
		{"missing IS NOT NULL", F},
		{"colour IS NULL", F},
		{"colour IS NOT NULL", T},

		// Missing properties and NULL values are UNKNOWN.
		{"missing = 'green'", U},
		{"missing <> 'green'", U},
		{"NOT missing = 'green'", U},
		{"missing > 1", U},
		{"missing + 1 > 1", U},
		{"-missing > 1", U},
		{"missing LIKE 'a%'", U},
		{"missing NOT LIKE 'a%'", U},
		{"missing IN ('a', 'b')", U},
		{"missing NOT IN ('a', 'b')", U},
		{"missing BETWEEN 1 AND 2", U},
		{"missing NOT BETWEEN 1 AND 2", U},
		{"nil IS NULL", T},
		{"nil = 1", U},
		{"missing = missing", U},
		{"missing IS NULL OR missing = 'x'", T},
		{"colour = 'green' OR missing = 1", T},
		{"colour = 'green' AND missing = 1", U},
		{"colour = 'red' AND missing = 1", F},
		{"colour = 'red' OR missing = 1", U},

		// Booleans.
		{"flag", T},
		{"off", F},
		{"NOT flag", F},
		{"NOT off", T},
		{"flag = TRUE", T},
		{"flag = true", T},
		{"flag <> FALSE", T},
		{"off = FALSE", T},
		{"flag = off", F},
		{"TRUE", T},
		{"FALSE", F},
		{"NOT TRUE", F},
		{"NOT NOT TRUE", T},
		{"flag > off", U},
		{"missing", U},
		{"colour", U},          // a string is not a condition
		{"weight", U},          // neither is a number
		{"NOT colour", U},      // nor can either be negated
		{"flag AND weight", U}, // or combined
		{"off AND weight", F},
		{"flag OR weight", T},
		{"(weight > 1) = TRUE", T},
		{"(missing > 1) IS NULL", T},
		{"(weight > 1) IS NOT NULL", T},

		// Strings: only = and <>, case-sensitive, '' escape.
		{"quote = 'it''s'", T},
		{"quote <> 'it''s'", F},
		{"colour = 'GREEN'", F},
		{"colour < 'z'", U},
		{"colour >= 'a'", U},
		{"empty = ''", T},
		{"empty IS NULL", F},
		{"unicode = 'naïve café'", T},
		{"'abc' = 'abc'", T},
		{"'' = ''", T},

		// Type mismatches are UNKNOWN, not FALSE.
		{"colour = 1", U},
		{"colour <> 1", U},
		{"NOT colour = 1", U},
		{"weight = '3000'", U},
		{"flag = 1", U},
		{"flag = 'true'", U},
		{"list = 1", U},
		{"list IS NULL", F},
		{"list IS NOT NULL", T},
		{"colour + 1 = 1", U},
		{"flag * 2 = 2", U},
		{"'a' BETWEEN 'a' AND 'b'", U},
		{"weight BETWEEN '1' AND '9'", U},
		{"weight IN ('3000')", U},
		{"weight NOT IN ('3000')", U},
		{"weight LIKE '3%'", U},
		{"colour IN (1, 'green')", T},
		{"colour IN (1, 'blue')", U},
		{"colour NOT IN (1, 'blue')", U},
		{"colour NOT IN (1, 'green')", F},
		{"+colour = 'green'", U},
		{"-colour = 'green'", U},

		// Numbers and promotion between exact and approximate.
		{"weight = 3000", T},
		{"weight = 3000.0", T},
		{"weight = 3e3", T},
		{"weight > 2999.5", T},
		{"weight < 3000.5", T},
		{"price = 9.5", T},
		{"price > 9", T},
		{"price < 10", T},
		{"price * 2 = 19", T},
		{"qty / 5 = 2", T},     // exact division truncates
		{"qty / 5.0 = 2.4", T}, // approximate does not
		{"qty / 5.0 = 2", F},
		{"qty * 1.0 / 5 = 2.4", T},
		{"small + weight = 3007", T},
		{"small = 7", T},
		{"f32 = 0.5", T},
		{"f32 = 0.5f", T},
		{"big > 1.8e19", T},
		{"big > 9223372036854775807", T},
		{"neg < 0", T},
		{"neg = -5", T},
		{"-neg = 5", T},
		{"- -neg = -5", T},
		{"+neg = -5", T},
		{"zero = 0", T},
		{"zero = -0.0", T},
		{"weight - 1000 * 2 = 1000", T},
		{"(weight - 1000) * 2 = 4000", T},
		{"weight / 2 / 3 = 500", T},
		{"weight - 1000 - 1000 = 1000", T},
		{"weight >= 3000 AND weight <= 3000", T},
		{"weight > 3000", F},
		{"weight <> 3000", F},
		{"17/4 = 4", T},
		{"17/4 > 4", F},
		{"-17/4 = -4", T},
		{"17 - -4 = 21", T},
		{"2 * 3 + 4 * 5 = 26", T},
		{"2 * (3 + 4) * 5 = 70", T},
		{"weight / 0 = 0", U}, // integer division by zero
		{"weight / 0 IS NULL", T},
		{"weight / 0.0 > 1e308", T}, // IEEE infinity
		{"price / 0 > 1e308", T},
		{"nan = nan", F},
		{"nan <> nan", T},
		{"inf > 1e308", T},
		{"min / -1 = min", T}, // wraps like Java
		{"min - 1 > 0", T},    // wraps like Java
		{"9223372036854775807 + 1 < 0", T},
		{"9223372036854775807 > 0", T},
		{"-9223372036854775808 < 0", T},
		{"-9223372036854775808 = 0x8000_0000_0000_0000", T},
		{"0x8000_0000_0000_0001 = -9223372036854775807", T},
		{"0xFFFFFFFFFFFFFFFF = -1", T},
		{"0xFF = 255L", T},
		{"0Xff = 255", T},
		{"077L = 0b111_111", T},
		{"077 = 63", T},
		{"0B101 = 5", T},
		{"00 = 0", T},
		{"1_000_000 = 1000000", T},
		{"1000_020.4f > 0.3d", T},
		{"0.4f > 0.3d", T},
		{"0x800p-3 = 256", T},
		{"0x1000_0000 = 0x1000_0000p0", T},
		{".5 = 0.5", T},
		{"5. = 5", T},
		{"3.e2 = 300", T},
		{"1E+2 = 100", T},
		{"1e-2 = 0.01", T},
		{"1e-400 = 0", T},
		{"5d = 5", T},
		{"5D = 5.0", T},
		{"34l = 34", T},

		// BETWEEN is x >= lo AND x <= hi.
		{"3 BETWEEN -17 AND 98.5", T},
		{"14 NOT BETWEEN 11 AND 9", T},
		{"14 BETWEEN 11 AND 9", F},
		{"weight BETWEEN weight AND weight", T},
		{"price BETWEEN 9 AND 10", T},
		{"price BETWEEN 9.5 AND 9.5", T},
		{"price NOT BETWEEN 9 AND 10", F},
		{"weight BETWEEN missing AND 4000", U},
		{"weight BETWEEN 1 AND missing", U},
		{"weight BETWEEN 4000 AND missing", F}, // FALSE AND UNKNOWN
		{"weight NOT BETWEEN 4000 AND missing", T},
		{"weight BETWEEN missing AND 2000", F},
		{"weight BETWEEN 1 + 1 AND 2 * 2000", T},
		{"weight BETWEEN 1 AND 4000 AND colour = 'green'", T},
		{"weight BETWEEN 1 AND 4000 AND colour = 'red'", F},
		{"weight BETWEEN 1 AND 4000 OR missing", T},

		// IN is x = a OR x = b ...
		{"colour IN ('green')", T},
		{"colour IN ('red', 'green', 'blue')", T},
		{"colour IN ('red', 'blue')", F},
		{"colour IN ('red', missing)", U},
		{"colour IN (missing, 'green')", T},
		{"colour NOT IN ('red', missing)", U},
		{"colour NOT IN ('red', 'blue')", T},
		{"weight IN (1, 3000, 5)", T},
		{"weight IN (1, 3000.0)", T},
		{"weight IN (1, 2)", F},
		{"weight IN (1000 * 3)", T},
		{"price IN (9.5)", T},
		{"flag IN (TRUE)", T},
		{"'hello' IN ('hello', 'there', 1, true, (1-17))", T},
		{"-16 IN ('hello', 'there', 1, true, (1-17))", T},
		{"-16 NOT IN ('hello', 'there', 1, true, (1-17))", F},
		{"1 IN ('hello', 'there')", U},

		// LIKE.
		{"colour LIKE 'green'", T},
		{"colour LIKE 'gr%'", T},
		{"colour LIKE '%en'", T},
		{"colour LIKE '%ee%'", T},
		{"colour LIKE 'g___n'", T},
		{"colour LIKE 'g__n'", F},
		{"colour LIKE '%'", T},
		{"colour LIKE '%%'", T},
		{"colour LIKE '_%_'", T},
		{"colour LIKE 'G%'", F},
		{"colour NOT LIKE 'G%'", T},
		{"empty LIKE '%'", T},
		{"empty LIKE '_'", F},
		{"empty LIKE ''", T},
		{"name LIKE '%cru_l%'", T},
		{"name LIKE 'Bye%world'", T},
		{"name LIKE 'Bye%world%'", T},
		{"name LIKE 'Bye%world_'", F},
		{"pct LIKE '100!%' ESCAPE '!'", T},
		{"pct LIKE '1!%' ESCAPE '!'", F},
		{"pct LIKE '%!%' ESCAPE '!'", T},
		{"'100' LIKE '%!%' ESCAPE '!'", F},
		{"pct LIKE '100%'", T},
		{"'a.b' LIKE 'a.b'", T},
		{"'axb' LIKE 'a.b'", F},
		{"'a*b' LIKE 'a*b'", T},
		{"'aab' LIKE 'a*b'", F},
		{"'a[b]c' LIKE 'a[b]c'", T},
		{"'abc' LIKE 'a[b]c'", F},
		{"'a\\b' LIKE 'a\\b'", T},
		{"'^$' LIKE '^$'", T},
		{"'_%%_hello.th_re%' LIKE 'z_%.%z_%z%' ESCAPE 'z'", T},
		{"name NOT LIKE 'z_%.%z_%z%' ESCAPE 'z'", T},
		{`'{}[]<>,.!"$%^&*()_-+=?/|\' LIKE '{}[]<>,.!"$z%^&*()z_-+=?/|\' ESCAPE 'z'`, T},
		{"unicode LIKE 'na_ve caf_'", T},
		{"unicode LIKE 'na__ve%'", F},
		{"unicode LIKE '%é'", T},
		{"'日本語' LIKE '_本_'", T},
		{"'日本語' LIKE '__'", F},
		{"'aaa' LIKE 'a%a%a'", T},
		{"'aa' LIKE 'a%a%a'", F},
		{"'abcabc' LIKE '%bc%bc'", T},
		{"'abcab' LIKE '%bc%bc'", F},
		{"'ab' LIKE '%b%b%'", F},
		{"'mississippi' LIKE 'm%iss%ppi'", T},
		{"'mississippi' LIKE '%s_s%'", T},
		{"'mississippi' LIKE '%s__p%'", T},
		{"'mississippi' LIKE '%_ss_%_pp_'", T},
		{"'mississippi' LIKE '%_ss_%_ppx'", F},
		{"'ab' LIKE 'a%_b'", F},
		{"'axb' LIKE 'a%_b'", T},
		{"colour || 'x' LIKE 'green'", "PARSE"},
		{"weight + 0 LIKE '3%'", U},

		// NOT, AND, OR precedence and associativity.
		{"NOT colour = 'red' AND flag", T},
		{"NOT (colour = 'red' AND flag)", T},
		{"colour = 'red' AND flag OR weight = 3000", T},
		{"colour = 'red' AND (flag OR weight = 3000)", F},
		{"flag OR colour = 'red' AND off", T},
		{"(flag OR colour = 'red') AND off", F},
		{"NOT NOT NOT off", T},
		{"NOT weight > 3000", T},
		{"nOt colour = 'red' AnD flag", T},
		{"NOT colour = 'red' AND FLAG", U}, // identifiers are case-sensitive

		// Identifiers.
		{"dotted.k = 'd'", T},
		{`"dotted.k" = 'd'`, T},
		{`"AND" = 'keyword-named'`, T},
		{`"colour" = 'green'`, T},
		{`"col""our" IS NULL`, T},
		{"$x IS NULL", T},
		{"_x IS NULL", T},
		{"Colour IS NULL", T}, // identifiers are case-sensitive
		{"ÿx IS NULL", T},

		// Constant selectors.
		{"42 IS NULL", F},
		{"'Daft' IS NOT NULL", T},
		{"-354", U},
		{"(354.6)", U},
		{"'hello'", U},
		{"missing IS NULL AND 'hello out there'", U},
		{"17/4 > +4", F},
		{"17/4 > -4", T},
		{"NOT 1", U},
	}
	for _, tc := range tests {
		s, err := Parse(tc.sel)
		if tc.want == "PARSE" {
			if err == nil {
				t.Errorf("Parse(%q) succeeded, want an error", tc.sel)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.sel, err)
			continue
		}
		if got := eval3(t, s, msg); got != tc.want {
			t.Errorf("%q = %s, want %s", tc.sel, got, tc.want)
		}
	}
}

func TestLikeEscapeOfItself(t *testing.T) {
	// The escape character escapes the next character, whatever it is; a
	// pattern cannot end with it.
	if _, err := Parse("'x' LIKE 'x' ESCAPE 'x'"); err == nil {
		t.Fatal("a pattern ending in its escape character parsed")
	}
	s := MustParse("'x' LIKE 'xx' ESCAPE 'x'")
	if eval3(t, s, nil) != "TRUE" {
		t.Error("'x' LIKE 'xx' ESCAPE 'x' is not TRUE")
	}
	s = MustParse("'a' LIKE '!a' ESCAPE '!'")
	if eval3(t, s, nil) != "TRUE" {
		t.Error("an escaped ordinary character does not match itself")
	}
}

// TestThreeValuedLogic checks the truth tables of NOT, AND and OR, with a
// missing property standing for UNKNOWN.
func TestThreeValuedLogic(t *testing.T) {
	m := MapFields{"t": true, "f": false}
	vals := []struct{ expr, v string }{{"t", "TRUE"}, {"f", "FALSE"}, {"u", "UNKNOWN"}}
	not := map[string]string{"TRUE": "FALSE", "FALSE": "TRUE", "UNKNOWN": "UNKNOWN"}
	and := func(a, b string) string {
		switch {
		case a == "FALSE" || b == "FALSE":
			return "FALSE"
		case a == "TRUE" && b == "TRUE":
			return "TRUE"
		}
		return "UNKNOWN"
	}
	or := func(a, b string) string {
		switch {
		case a == "TRUE" || b == "TRUE":
			return "TRUE"
		case a == "FALSE" && b == "FALSE":
			return "FALSE"
		}
		return "UNKNOWN"
	}
	check := func(expr, want string) {
		t.Helper()
		if got := eval3(t, MustParse(expr), m); got != want {
			t.Errorf("%s = %s, want %s", expr, got, want)
		}
	}
	for _, a := range vals {
		check("NOT "+a.expr, not[a.v])
		check("NOT ("+a.expr+")", not[a.v])
		check("("+a.expr+") IS NULL", map[bool]string{true: "TRUE", false: "FALSE"}[a.v == "UNKNOWN"])
		for _, b := range vals {
			check(a.expr+" AND "+b.expr, and(a.v, b.v))
			check(a.expr+" OR "+b.expr, or(a.v, b.v))
			check("NOT ("+a.expr+" AND "+b.expr+")", not[and(a.v, b.v)])
			check("NOT "+a.expr+" OR NOT "+b.expr, not[and(a.v, b.v)]) // De Morgan
			for _, c := range vals {
				check(a.expr+" AND "+b.expr+" AND "+c.expr, and(and(a.v, b.v), c.v))
				check(a.expr+" OR "+b.expr+" OR "+c.expr, or(or(a.v, b.v), c.v))
				check(a.expr+" OR "+b.expr+" AND "+c.expr, or(a.v, and(b.v, c.v)))
				check(a.expr+" AND "+b.expr+" OR "+c.expr, or(and(a.v, b.v), c.v))
			}
		}
	}
	// The same with comparisons on a missing property as the UNKNOWN operand.
	for _, a := range []struct{ expr, v string }{{"x = 1", "TRUE"}, {"x = 2", "FALSE"}, {"missing = 1", "UNKNOWN"}} {
		m := MapFields{"x": 1}
		if got := eval3(t, MustParse("NOT "+a.expr), m); got != not[a.v] {
			t.Errorf("NOT %s = %s, want %s", a.expr, got, not[a.v])
		}
	}
}

func TestMatchNilAndEmpty(t *testing.T) {
	var s *Selector
	if !s.Match(MapFields{}) || s.String() != "" {
		t.Error("a nil selector must match everything")
	}
	if !MustParse("missing IS NULL").Match(nil) {
		t.Error("a nil Fields has no fields")
	}
	if MustParse("a = 1").Match(nil) {
		t.Error("a comparison with nothing matched")
	}
	if got := MustParse(" colour='green' ").String(); got != " colour='green' " {
		t.Errorf("String() = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		sel, err string
		off      int
	}{
		{"(a = 1))", `selector: unexpected ")" at offset 7, expected an operator or end of input`, 7},
		{"a = (1 + )", `selector: unexpected ")" at offset 9, expected an expression`, 9},
		{"a =", `selector: unexpected end of input at offset 3, expected an expression`, 3},
		{"a = 1 AND", `selector: unexpected end of input at offset 9, expected an expression`, 9},
		{"AND a", `selector: unexpected "AND" at offset 0, expected an expression`, 0},
		{"a = 1 b", `selector: unexpected "b" at offset 6, expected an operator or end of input`, 6},
		{"hello world", `selector: unexpected "world" at offset 6, expected an operator or end of input`, 6},
		{"(a = 1", `selector: unexpected end of input at offset 6, expected ")"`, 6},
		{"A is null and (B='hello out there'", `selector: unexpected end of input at offset 34, expected ")"`, 34},
		{"a IS 1", `selector: unexpected "1" at offset 5, expected NULL`, 5},
		{"a IS NOT 1", `selector: unexpected "1" at offset 9, expected NULL`, 9},
		{"A is null not", `selector: unexpected "not" at offset 10, expected an operator or end of input`, 10},
		{"A is null or not", `selector: unexpected end of input at offset 16, expected an expression`, 16},
		{"A is null or and", `selector: unexpected "and" at offset 13, expected an expression`, 13},
		{"a NOT 1", `selector: unexpected "1" at offset 6, expected LIKE, BETWEEN or IN after NOT`, 6},
		{"a LIKE b", `selector: unexpected "b" at offset 7, expected a string literal after LIKE`, 7},
		{"A like 234", `selector: unexpected "234" at offset 7, expected a string literal after LIKE`, 7},
		{"a LIKE 'x' ESCAPE b", `selector: unexpected "b" at offset 18, expected a string literal after ESCAPE`, 18},
		{"a LIKE 'x' ESCAPE 'ab'", `selector: ESCAPE "ab" at offset 18 must be a single character`, 18},
		{"a LIKE 'x' ESCAPE ''", `selector: ESCAPE "" at offset 18 must be a single character`, 18},
		{"a LIKE 'x' ESCAPE '%'", `selector: ESCAPE "%" at offset 18: % and _ cannot be escape characters`, 18},
		{"a LIKE 'x' ESCAPE '_'", `selector: ESCAPE "_" at offset 18: % and _ cannot be escape characters`, 18},
		{"a LIKE 'x!' ESCAPE '!'", `selector: LIKE pattern "x!" at offset 7 ends with its escape character`, 7},
		{"A BETWEEN AND 'true'", `selector: unexpected "AND" at offset 10, expected an expression`, 10},
		{"A NOT BETWEEN 34 OR 3.9", `selector: unexpected "OR" at offset 17, expected AND in BETWEEN`, 17},
		{"A IN ()", `selector: unexpected ")" at offset 6, expected an expression`, 6},
		{"A NOT IN ()", `selector: unexpected ")" at offset 10, expected an expression`, 10},
		{"A IN 'a', 'b'", `selector: unexpected "'a'" at offset 5, expected "(" after IN`, 5},
		{"A IN ('a' 'b')", `selector: unexpected "'b'" at offset 10, expected "," or ")" in IN list`, 10},
		{"A IN ('a',", `selector: unexpected end of input at offset 10, expected an expression`, 10},
		{"in='hello kitty'", `selector: unexpected "in" at offset 0, expected an expression`, 0},
		{"a = NULL", `selector: unexpected "NULL" at offset 4, expected an expression`, 4},
		{"a = 'abc", `selector: unterminated string literal at offset 4`, 4},
		{"a = 'it''s", `selector: unterminated string literal at offset 4`, 4},
		{`"abc = 1`, `selector: unterminated quoted identifier at offset 0`, 0},
		{"a # 1", `selector: unexpected character '#' at offset 2`, 2},
		{"hello ^ world", `selector: unexpected character '^' at offset 6`, 6},
		{"a = 1 ! 2", `selector: unexpected character '!' at offset 6`, 6},
		{"a == 1", `selector: unexpected "=" at offset 3, expected an expression`, 3},
		{"a != 1", `selector: unexpected character '!' at offset 2`, 2},
		{"a = 1 = 2", `selector: unexpected "=" at offset 6, expected an operator or end of input`, 6},
		{"a = 9223372036854775808", `selector: integer "9223372036854775808" at offset 4 is out of range`, 4},
		{"a = -9223372036854775809", `selector: integer "9223372036854775809" at offset 5 is out of range`, 5},
		{"a = 0x1_0000_0000_0000_0000", `selector: integer "0x1_0000_0000_0000_0000" at offset 4 is out of range`, 4},
		{"a = 1e999", `selector: number "1e999" at offset 4 is out of range`, 4},
		{"a = 019", `selector: malformed octal number "019" at offset 4`, 4},
		{"a = 0x", `selector: malformed hexadecimal literal "0x" at offset 4`, 4},
		{"a = 0X_34Longer", `selector: malformed hexadecimal literal "0X" at offset 4`, 4},
		{"a = 0b2", `selector: malformed binary literal "0b" at offset 4`, 4},
		{"a = 34e", `selector: malformed number "34e" at offset 4`, 4},
		{"a = .3e+", `selector: malformed number ".3e+" at offset 4`, 4},
		{"a = 1.e.5", `selector: malformed number "1.e" at offset 4`, 4},
		{"a = .e5", `selector: unexpected character '.' at offset 4`, 4},
		{"a = 34Longer", `selector: unexpected "onger" at offset 7, expected an operator or end of input`, 7},
		{"a = 0b101f", `selector: unexpected "f" at offset 9, expected an operator or end of input`, 9},
		{"a = 1.5L", `selector: unexpected "L" at offset 7, expected an operator or end of input`, 7},
		{"a = '\xff'", `selector: invalid UTF-8 at offset 5`, 5},
		{"a = 1 AND " + strings.Repeat("bcdefghij", 10) + " c", `selector: unexpected "c" at offset 101, expected an operator or end of input`, 101},
		{"x = 1 " + strings.Repeat("abcdefghij", 10), `selector: unexpected "abcdefghijabcdefghijabcdefghijabcdefghij..." at offset 6, expected an operator or end of input`, 6},
	}
	for _, tc := range tests {
		_, err := Parse(tc.sel)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want %s", tc.sel, tc.err)
			continue
		}
		if err.Error() != tc.err {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.sel, err, tc.err)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error is %T, not *SyntaxError", tc.sel, err)
		} else if se.Offset != tc.off {
			t.Errorf("Parse(%q) offset = %d, want %d", tc.sel, se.Offset, tc.off)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	// From qpid-cpp's selector tests and the JMS specification.
	for _, sel := range []string{
		"'Daft' is not null",
		"42 is null",
		"A is not null",
		"A = C",
		"A<>'hello kitty'",
		"A='hello kitty' OR B='Bye, bye cruel world'",
		"B='hello kitty' AnD A='Bye, bye cruel world'",
		"Z is null OR A is not null and A<>'Bye, bye cruel world'",
		"(Z is null OR A is not null) and A<>'Bye, bye cruel world'",
		"NOT C is not null OR C is null",
		"Not A='' or B=z",
		"Not A=17 or B=5.6",
		"A<>17 and B=5.6e17",
		"A LIKE 'excep%ional'",
		"B NOT LIKE 'excep%ional'",
		`A LIKE 'excep%ional' EScape '\'`,
		"A BETWEEN 13 AND 'true'",
		"A NOT BETWEEN 100 AND 3.9",
		"true",
		"-354",
		"-(X or Y)",
		"-687 or 567",
		"(354.6)",
		"A is null and 'hello out there'",
		"17/4>4",
		"A IN ('hello', 'there', 1 , true, (1-17))",
		"JMSType = 'car' AND color = 'blue' AND weight > 2500",
		"NewsType = 'Sports' OR NewsType = 'Opinion'",
		"x\n=\r\n1\tAND\fy = 2",
		"a=1AND b=2", // numbers end where letters begin, as in qpid-cpp
		"((((((((((a = 1))))))))))",
	} {
		if _, err := Parse(sel); err != nil {
			t.Errorf("Parse(%q): %v", sel, err)
		}
	}
}

func TestQpidCppNumericEval(t *testing.T) {
	m := MapFields{"A": 42.0, "B": 39}
	for _, tc := range []struct {
		sel  string
		want bool
	}{
		{"A>B", true},
		{"A=42", true},
		{"B=39.0", true},
		{"Not A=17 or B=5.6", true},
		{"A<>17 and B=5.6e17", false},
		{"3 BETWEEN -17 and 98.5", true},
		{"A BETWEEN B and 98.5", true},
		{"B NOT BETWEEN 35 AND 100", false},
		{"A BETWEEN B and 40", false},
		{"A BETWEEN C and 40", false},
		{"A BETWEEN 45 and C", false},
		{"(A BETWEEN 40 and C) IS NULL", true},
		{"(A BETWEEN C and 45) IS NULL", true},
		{"17/4=4", true},
		{"A/0=0", false},
		{"A*B+19<A*(B+19)", true},
		{"-A=0-A", true},
		{"P > 19.0 or (P is null)", true},
		{"P is null or P=''", true},
		{"not P=Q", false},
		{"P=Q or not P=Q", false},
		{"P > 19.0 or P <= 19.0", false},
		{"P > 19.0 or 17 <= 19.0", true},
		{"20 >= 19.0 and 20 > 19", true},
		{"42 <= 42.0 and 37.0 >= 37", true},
		{"17 > 19.0", false},
		{"(-16 IN ('hello', A, 'there', true)) IS NULL", true},
		{"(-16 NOT IN ('hello', 'there', C, true)) IS NULL", true},
	} {
		if got := MustParse(tc.sel).Match(m); got != tc.want {
			t.Errorf("%q = %v, want %v", tc.sel, got, tc.want)
		}
	}
}

func TestLimits(t *testing.T) {
	nest := func(n int) string {
		return strings.Repeat("(", n) + "a = 1" + strings.Repeat(")", n)
	}
	if _, err := Parse(nest(MaxDepth)); err != nil {
		t.Errorf("%d levels of parentheses: %v", MaxDepth, err)
	}
	_, err := Parse(nest(MaxDepth + 1))
	want := "selector: expression nested too deeply at offset 256 (limit 256)"
	if err == nil || err.Error() != want {
		t.Errorf("%d levels of parentheses: %v, want %s", MaxDepth+1, err, want)
	}
	for _, deep := range []string{
		strings.Repeat("NOT ", MaxDepth+1) + "a",
		"a = " + strings.Repeat("-", MaxDepth+1) + "a",
		"a = " + strings.Repeat("+", MaxDepth+1) + "a",
		"a = " + strings.Repeat("- (", MaxDepth) + "a" + strings.Repeat(")", MaxDepth),
		strings.Repeat("(", MaxLength),
	} {
		if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
			t.Errorf("Parse(%.20q...): %v, want a nesting error", deep, err)
		}
	}
	if s, err := Parse(strings.Repeat("NOT ", MaxDepth) + "flag"); err != nil {
		t.Errorf("%d NOTs: %v", MaxDepth, err)
	} else if !s.Match(MapFields{"flag": true}) || s.Match(MapFields{"flag": false}) {
		t.Errorf("%d NOTs evaluated wrongly", MaxDepth)
	}

	long := "a = '" + strings.Repeat("x", MaxLength) + "'"
	_, err = Parse(long)
	want = "selector: expression is 65542 bytes long, limit 65536"
	if err == nil || err.Error() != want {
		t.Errorf("long selector: %v, want %s", err, want)
	}

	// Long flat chains are not nesting: they parse into n-ary nodes and
	// evaluate without deep recursion.
	var b strings.Builder
	b.WriteString("a = 0")
	for b.Len() < MaxLength-20 {
		b.WriteString(" OR a = 1")
	}
	s, err := Parse(b.String())
	if err != nil {
		t.Fatalf("long OR chain: %v", err)
	}
	if !s.Match(MapFields{"a": 1}) || s.Match(MapFields{"a": 2}) {
		t.Error("long OR chain evaluated wrongly")
	}
	sum := "a " + strings.Repeat("+ 1 ", (MaxLength-20)/4) + "> 0"
	s, err = Parse(sum)
	if err != nil {
		t.Fatalf("long sum: %v", err)
	}
	if !s.Match(MapFields{"a": 1}) {
		t.Error("long sum evaluated wrongly")
	}
	in := "a IN (0" + strings.Repeat(",1", (MaxLength-20)/2) + ")"
	s, err = Parse(in)
	if err != nil {
		t.Fatalf("long IN: %v", err)
	}
	if !s.Match(MapFields{"a": 1}) {
		t.Error("long IN list evaluated wrongly")
	}
}

func TestConcurrentMatch(t *testing.T) {
	s := MustParse("colour = 'green' AND weight BETWEEN 1 AND 5000 AND name LIKE '%cruel%'")
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func() {
			ok := true
			for i := 0; i < 1000; i++ {
				ok = ok && s.Match(msg)
			}
			done <- ok
		}()
	}
	for g := 0; g < 8; g++ {
		if !<-done {
			t.Error("concurrent Match failed")
		}
	}
}
