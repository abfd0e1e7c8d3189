package selector

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// likeRegexp is the reference semantics of LIKE: a regular expression in
// which % is .*, _ is . and everything else is literal.
func likeRegexp(pattern string, esc rune) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	escaped := false
	for _, r := range pattern {
		switch {
		case escaped:
			b.WriteString(regexp.QuoteMeta(string(r)))
			escaped = false
		case r == esc:
			escaped = true
		case r == '%':
			b.WriteString(".*")
		case r == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String())
}

func TestLikeAgainstRegexp(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	alphabet := []rune("ab%_!é")
	values := []rune("abé!%_")
	randString := func(set []rune, n int) string {
		rs := make([]rune, rng.Intn(n+1))
		for i := range rs {
			rs[i] = set[rng.Intn(len(set))]
		}
		return string(rs)
	}
	for i := 0; i < 50000; i++ {
		pattern := randString(alphabet, 8)
		esc := rune(-1)
		if rng.Intn(2) == 0 {
			esc = '!'
		}
		p, ok := compileLike(pattern, esc)
		if !ok {
			if !strings.HasSuffix(pattern, "!") || esc != '!' {
				t.Fatalf("compileLike(%q) failed", pattern)
			}
			continue
		}
		re := likeRegexp(pattern, esc)
		s := randString(values, 10)
		if got, want := p.match(s), re.MatchString(s); got != want {
			t.Fatalf("%q LIKE %q (escape %q) = %v, want %v", s, pattern, esc, got, want)
		}
	}
}

func FuzzLike(f *testing.F) {
	f.Add("abc", "a%c", true)
	f.Add("a_b", "a!_b", false)
	f.Add("mississippi", "%s_s%p_", true)
	f.Add("日本語", "_本%", false)
	f.Fuzz(func(t *testing.T, s, pattern string, withEscape bool) {
		if !utf8.ValidString(s) || !utf8.ValidString(pattern) || len(pattern) > 64 || len(s) > 256 {
			return
		}
		esc := rune(-1)
		if withEscape {
			esc = '!'
		}
		p, ok := compileLike(pattern, esc)
		if !ok {
			return
		}
		if got, want := p.match(s), likeRegexp(pattern, esc).MatchString(s); got != want {
			t.Fatalf("%q LIKE %q (escape %q) = %v, want %v", s, pattern, esc, got, want)
		}
	})
}

// TestLikeHostile checks that patterns that make backtracking matchers
// exponential are fast here.
func TestLikeHostile(t *testing.T) {
	value := strings.Repeat("a", 100000)
	for _, pattern := range []string{
		strings.Repeat("%a", 5000) + "%b",
		strings.Repeat("a%", 5000) + "b",
		"%" + strings.Repeat("_", 1000) + "b",
		strings.Repeat("%_", 2000) + "%b%",
		"%" + strings.Repeat("a", 3000) + "b%",
	} {
		s := MustParse("v LIKE '" + pattern + "'")
		start := time.Now()
		if s.Match(MapFields{"v": value}) {
			t.Errorf("%.20q... matched", pattern)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%.20q... took %v", pattern, d)
		}
	}
	// And a pattern that does match a long value.
	s := MustParse("v LIKE '" + strings.Repeat("%a", 5000) + "%'")
	if !s.Match(MapFields{"v": value}) {
		t.Error("long matching pattern did not match")
	}
}
