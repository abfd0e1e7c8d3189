package selector

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

type parser struct {
	src   string
	toks  []token
	pos   int
	depth int
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

// unexpected reports the token t where something else was expected.
func (p *parser) unexpected(t token, expected string) error {
	found := "end of input"
	if t.kind != tEOF {
		found = describe(p.src[t.off:t.end])
	}
	return &SyntaxError{Offset: t.off, Reason: fmt.Sprintf(
		"unexpected %s at offset %d, expected %s", found, t.off, expected)}
}

func (p *parser) expect(k tokKind, expected string) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.unexpected(t, expected)
	}
	return t, nil
}

// enter records one more level of nesting at token t.
func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > MaxDepth {
		return &SyntaxError{Offset: t.off, Reason: fmt.Sprintf(
			"expression nested too deeply at offset %d (limit %d)", t.off, MaxDepth)}
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseSelector() (node, error) {
	if p.peek().kind == tEOF {
		return nil, nil
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.unexpected(t, "an operator or end of input")
	}
	return n, nil
}

func (p *parser) parseOr() (node, error) {
	x, err := p.parseAnd()
	if err != nil || p.peek().kind != tOr {
		return x, err
	}
	xs := []node{x}
	for p.peek().kind == tOr {
		p.next()
		y, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return &orNode{xs: xs}, nil
}

func (p *parser) parseAnd() (node, error) {
	x, err := p.parseCmp()
	if err != nil || p.peek().kind != tAnd {
		return x, err
	}
	xs := []node{x}
	for p.peek().kind == tAnd {
		p.next()
		y, err := p.parseCmp()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return &andNode{xs: xs}, nil
}

func (p *parser) parseCmp() (node, error) {
	if t := p.peek(); t.kind == tNot {
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		x, err := p.parseCmp()
		if err != nil {
			return nil, err
		}
		p.leave()
		if l, ok := x.(*literal); ok {
			return &literal{not(l.v)}, nil
		}
		return &notNode{x: x}, nil
	}
	x, err := p.parseSum()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch t.kind {
	case tIs:
		p.next()
		negated := p.peek().kind == tNot
		if negated {
			p.next()
		}
		if _, err := p.expect(tNull, "NULL"); err != nil {
			return nil, err
		}
		return &isNullNode{x: x, not: negated}, nil
	case tNot:
		p.next()
		switch p.peek().kind {
		case tLike, tBetween, tIn:
			return p.parseSpecial(x, true)
		}
		return nil, p.unexpected(p.peek(), "LIKE, BETWEEN or IN after NOT")
	case tLike, tBetween, tIn:
		return p.parseSpecial(x, false)
	case tEq, tNe, tLt, tLe, tGt, tGe:
		p.next()
		y, err := p.parseSum()
		if err != nil {
			return nil, err
		}
		return &cmpNode{op: cmpOp(t.kind - tEq), l: x, r: y}, nil
	}
	return x, nil
}

// parseSpecial parses LIKE, BETWEEN and IN, whose left operand is x.
func (p *parser) parseSpecial(x node, negated bool) (node, error) {
	switch t := p.next(); t.kind {
	case tLike:
		pat, err := p.expect(tString, "a string literal after LIKE")
		if err != nil {
			return nil, err
		}
		esc := rune(-1)
		if p.peek().kind == tEscape {
			p.next()
			e, err := p.expect(tString, "a string literal after ESCAPE")
			if err != nil {
				return nil, err
			}
			r, size := utf8.DecodeRuneInString(e.text)
			if size == 0 || size != len(e.text) {
				return nil, &SyntaxError{Offset: e.off, Reason: fmt.Sprintf(
					"ESCAPE %s at offset %d must be a single character", describe(e.text), e.off)}
			}
			if r == '%' || r == '_' {
				return nil, &SyntaxError{Offset: e.off, Reason: fmt.Sprintf(
					"ESCAPE %s at offset %d: %% and _ cannot be escape characters", describe(e.text), e.off)}
			}
			esc = r
		}
		lp, ok := compileLike(pat.text, esc)
		if !ok {
			return nil, &SyntaxError{Offset: pat.off, Reason: fmt.Sprintf(
				"LIKE pattern %s at offset %d ends with its escape character", describe(pat.text), pat.off)}
		}
		return &likeNode{x: x, pat: lp, not: negated}, nil
	case tBetween:
		lo, err := p.parseSum()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tAnd, "AND in BETWEEN"); err != nil {
			return nil, err
		}
		hi, err := p.parseSum()
		if err != nil {
			return nil, err
		}
		return &betweenNode{x: x, lo: lo, hi: hi, not: negated}, nil
	default: // tIn
		if _, err := p.expect(tLParen, `"(" after IN`); err != nil {
			return nil, err
		}
		var list []node
		for {
			e, err := p.parseSum()
			if err != nil {
				return nil, err
			}
			list = append(list, e)
			t := p.next()
			if t.kind == tRParen {
				break
			}
			if t.kind != tComma {
				return nil, p.unexpected(t, `"," or ")" in IN list`)
			}
		}
		return &inNode{x: x, list: list, not: negated}, nil
	}
}

func (p *parser) parseSum() (node, error) {
	x, err := p.parseProduct()
	if err != nil {
		return nil, err
	}
	var n *arith
	for {
		t := p.peek()
		if t.kind != tPlus && t.kind != tMinus {
			break
		}
		p.next()
		y, err := p.parseProduct()
		if err != nil {
			return nil, err
		}
		if n == nil {
			n = &arith{first: x}
		}
		n.ops = append(n.ops, p.src[t.off])
		n.rest = append(n.rest, y)
	}
	if n == nil {
		return x, nil
	}
	return n, nil
}

func (p *parser) parseProduct() (node, error) {
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	var n *arith
	for {
		t := p.peek()
		if t.kind != tStar && t.kind != tSlash {
			break
		}
		p.next()
		y, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if n == nil {
			n = &arith{first: x}
		}
		n.ops = append(n.ops, p.src[t.off])
		n.rest = append(n.rest, y)
	}
	if n == nil {
		return x, nil
	}
	return n, nil
}

func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, `")"`); err != nil {
			return nil, err
		}
		p.leave()
		return x, nil
	case tMinus:
		p.next()
		if n := p.peek(); n.kind == tExact { // so that -9223372036854775808 is in range
			p.next()
			return p.exact(n, true)
		}
		fallthrough
	case tPlus:
		if t.kind == tPlus {
			p.next()
		}
		if err := p.enter(t); err != nil {
			return nil, err
		}
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		p.leave()
		if l, ok := x.(*literal); ok { // fold constants
			if t.kind == tMinus {
				return &literal{negate(l.v)}, nil
			}
			return &literal{plus(l.v)}, nil
		}
		if t.kind == tMinus {
			return &negNode{x: x}, nil
		}
		return &plusNode{x: x}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (node, error) {
	t := p.next()
	switch t.kind {
	case tIdent:
		return &ident{name: t.text, special: specialField(t.text)}, nil
	case tString:
		return &literal{value{k: kString, s: t.text}}, nil
	case tTrue:
		return &literal{vTrue}, nil
	case tFalse:
		return &literal{vFalse}, nil
	case tExact:
		return p.exact(t, false)
	case tApprox:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil && !(math.IsInf(f, 0) || f == 0) { // syntax: cannot happen after lex
			return nil, &SyntaxError{Offset: t.off, Reason: fmt.Sprintf(
				"malformed number %s at offset %d", describe(p.src[t.off:t.end]), t.off)}
		}
		if math.IsInf(f, 0) {
			return nil, &SyntaxError{Offset: t.off, Reason: fmt.Sprintf(
				"number %s at offset %d is out of range", describe(p.src[t.off:t.end]), t.off)}
		}
		return &literal{value{k: kFloat, f: f}}, nil
	}
	return nil, p.unexpected(t, "an expression")
}

// exact converts an exact numeric literal, negated when it follows a unary minus.
func (p *parser) exact(t token, negated bool) (node, error) {
	s, base := t.text, 10
	switch {
	case len(s) > 1 && s[1]|0x20 == 'x':
		s, base = s[2:], 16
	case len(s) > 1 && s[1]|0x20 == 'b':
		s, base = s[2:], 2
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
		if strings.ContainsAny(s, "89") {
			return nil, &SyntaxError{Offset: t.off, Reason: fmt.Sprintf(
				"malformed octal number %s at offset %d", describe(p.src[t.off:t.end]), t.off)}
		}
	}
	u, err := strconv.ParseUint(s, base, 64)
	var v int64
	switch {
	case err != nil:
	case base != 10: // like Java's hexadecimal, octal and binary literals: two's complement
		v = int64(u)
	case u <= math.MaxInt64:
		v = int64(u)
	case negated && u == 1<<63:
		return &literal{value{k: kInt, i: math.MinInt64}}, nil
	default:
		err = strconv.ErrRange
	}
	if err != nil {
		return nil, &SyntaxError{Offset: t.off, Reason: fmt.Sprintf(
			"integer %s at offset %d is out of range", describe(p.src[t.off:t.end]), t.off)}
	}
	if negated {
		v = -v
	}
	return &literal{value{k: kInt, i: v}}, nil
}
