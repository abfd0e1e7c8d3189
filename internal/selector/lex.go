package selector

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tExact  // exact numeric literal
	tApprox // approximate numeric literal
	tLParen
	tRParen
	tComma
	tPlus
	tMinus
	tStar
	tSlash
	tEq
	tNe
	tLt
	tLe
	tGt
	tGe
	// keywords
	tAnd
	tOr
	tNot
	tBetween
	tLike
	tEscape
	tIn
	tIs
	tNull
	tTrue
	tFalse
)

var keywords = map[string]tokKind{
	"and": tAnd, "or": tOr, "not": tNot, "between": tBetween, "like": tLike,
	"escape": tEscape, "in": tIn, "is": tIs, "null": tNull, "true": tTrue, "false": tFalse,
}

type token struct {
	kind     tokKind
	off, end int    // byte range in the source
	text     string // identifier name or string contents (quotes removed and unescaped)
}

func lexErr(off int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Offset: off, Reason: fmt.Sprintf(format, args...) + fmt.Sprintf(" at offset %d", off)}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func isIdentStart(r rune) bool {
	return r == '_' || r == '$' || unicode.IsLetter(r)
}

func isIdentPart(r rune) bool {
	return r == '_' || r == '$' || r == '.' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// lex splits a (valid UTF-8) expression into tokens, ending with tEOF.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i == len(src) {
			return append(toks, token{kind: tEOF, off: i, end: i}), nil
		}
		start := i
		c := src[i]
		var kind tokKind
		switch c {
		case '(':
			kind = tLParen
		case ')':
			kind = tRParen
		case ',':
			kind = tComma
		case '+':
			kind = tPlus
		case '-':
			kind = tMinus
		case '*':
			kind = tStar
		case '/':
			kind = tSlash
		case '=':
			kind = tEq
		case '<':
			kind = tLt
			if i+1 < len(src) && src[i+1] == '>' {
				kind, i = tNe, i+1
			} else if i+1 < len(src) && src[i+1] == '=' {
				kind, i = tLe, i+1
			}
		case '>':
			kind = tGt
			if i+1 < len(src) && src[i+1] == '=' {
				kind, i = tGe, i+1
			}
		}
		if kind != tEOF {
			i++
			toks = append(toks, token{kind: kind, off: start, end: i})
			continue
		}
		switch {
		case c == '\'' || c == '"':
			text, end, ok := lexQuoted(src, i)
			if !ok {
				if c == '\'' {
					return nil, lexErr(start, "unterminated string literal")
				}
				return nil, lexErr(start, "unterminated quoted identifier")
			}
			kind = tString
			if c == '"' {
				kind = tIdent
			}
			toks = append(toks, token{kind: kind, off: start, end: end, text: text})
			i = end
		case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
			tok, err := lexNumber(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, tok)
			i = tok.end
		default:
			r, size := utf8.DecodeRuneInString(src[i:])
			if !isIdentStart(r) {
				return nil, lexErr(start, "unexpected character %q", r)
			}
			i += size
			for i < len(src) {
				r, size = utf8.DecodeRuneInString(src[i:])
				if !isIdentPart(r) {
					break
				}
				i += size
			}
			word := src[start:i]
			kind = tIdent
			if len(word) <= len("between") {
				if k, ok := keywords[strings.ToLower(word)]; ok {
					kind = k
				}
			}
			toks = append(toks, token{kind: kind, off: start, end: i, text: word})
		}
	}
}

// lexQuoted reads a literal quoted by src[i] in which a doubled quote stands
// for one, returning its contents and the offset just past it.
func lexQuoted(src string, i int) (string, int, bool) {
	q := src[i]
	i++
	var b strings.Builder
	for {
		j := strings.IndexByte(src[i:], q)
		if j < 0 {
			return "", 0, false
		}
		if i+j+1 < len(src) && src[i+j+1] == q { // doubled: an embedded quote
			b.WriteString(src[i : i+j+1])
			i += j + 2
			continue
		}
		if b.Len() == 0 {
			return src[i : i+j], i + j + 1, true
		}
		b.WriteString(src[i : i+j])
		return b.String(), i + j + 1, true
	}
}

// lexNumber reads a numeric literal starting at src[i] (a digit, or "." and a
// digit). The token's text is the literal without underscores and suffix.
func lexNumber(src string, i int) (token, error) {
	start := i
	digits := func(ok func(byte) bool) int { // consumes digits and "_"; returns how many digits
		n := 0
		for i < len(src) && (ok(src[i]) || src[i] == '_' && n > 0) {
			if src[i] != '_' {
				n++
			}
			i++
		}
		return n
	}
	exponent := func() bool { // after e/E/p/P: [+-] digits
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		return digits(isDigit) > 0
	}
	kind := tExact
	isBin := func(c byte) bool { return c == '0' || c == '1' }
	var body string
	switch {
	case src[i] == '0' && i+1 < len(src) && (src[i+1]|0x20 == 'x'):
		i += 2
		if digits(isHex) == 0 {
			return token{}, lexErr(start, "malformed hexadecimal literal %s", describe(src[start:i]))
		}
		if i < len(src) && src[i]|0x20 == 'p' {
			kind = tApprox
			if !exponent() {
				return token{}, lexErr(start, "malformed number %s", describe(src[start:i]))
			}
		}
		body = src[start:i]
	case src[i] == '0' && i+1 < len(src) && (src[i+1]|0x20 == 'b'):
		i += 2
		if digits(isBin) == 0 {
			return token{}, lexErr(start, "malformed binary literal %s", describe(src[start:i]))
		}
		body = src[start:i]
	default:
		digits(isDigit)
		if i < len(src) && src[i] == '.' {
			kind = tApprox
			i++
			digits(isDigit)
		}
		if i < len(src) && src[i]|0x20 == 'e' {
			kind = tApprox
			if !exponent() {
				return token{}, lexErr(start, "malformed number %s", describe(src[start:i]))
			}
		}
		body = src[start:i]
	}
	if i < len(src) {
		switch src[i] | 0x20 {
		case 'l':
			if kind == tExact {
				i++
			}
		case 'f', 'd':
			// Float and double suffixes apply to decimal literals and
			// hexadecimal ones with a binary exponent, not to binary ones.
			if len(body) < 2 || body[1]|0x20 != 'b' || kind == tApprox {
				kind = tApprox
				i++
			}
		}
	}
	return token{kind: kind, off: start, end: i, text: strings.ReplaceAll(body, "_", "")}, nil
}
