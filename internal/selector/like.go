package selector

import (
	"strings"
	"unicode/utf8"
)

// likePattern is a compiled LIKE pattern: the pieces between unescaped "%"
// wildcards. A pattern without "%" has a single segment that must match the
// whole value.
type likePattern struct {
	segs [][]likeItem
}

// likeItem is a run of literal text or, when lit is empty, one "_" (any one character).
type likeItem struct {
	lit string
}

// compileLike compiles pattern with the escape character esc (-1 for none). It
// fails only when the pattern ends with the escape character.
func compileLike(pattern string, esc rune) (*likePattern, bool) {
	p := &likePattern{}
	var seg []likeItem
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			seg = append(seg, likeItem{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); {
		r, size := utf8.DecodeRuneInString(pattern[i:])
		switch {
		case r == esc:
			if i+size == len(pattern) {
				return nil, false
			}
			r2, size2 := utf8.DecodeRuneInString(pattern[i+size:])
			lit.WriteRune(r2)
			size += size2
		case r == '%':
			flush()
			p.segs = append(p.segs, seg)
			seg = nil
		case r == '_':
			flush()
			seg = append(seg, likeItem{})
		default:
			lit.WriteString(pattern[i : i+size])
		}
		i += size
	}
	flush()
	p.segs = append(p.segs, seg)
	return p, true
}

// matchForward matches seg against s starting at i, returning the end of the match.
func matchForward(seg []likeItem, s string, i int) (int, bool) {
	for _, it := range seg {
		if it.lit == "" {
			if i >= len(s) {
				return 0, false
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		} else {
			if !strings.HasPrefix(s[i:], it.lit) {
				return 0, false
			}
			i += len(it.lit)
		}
	}
	return i, true
}

// matchBackward matches seg against s ending at e, returning the start of the match.
func matchBackward(seg []likeItem, s string, e int) (int, bool) {
	for k := len(seg) - 1; k >= 0; k-- {
		it := seg[k]
		if it.lit == "" {
			if e == 0 {
				return 0, false
			}
			_, size := utf8.DecodeLastRuneInString(s[:e])
			e -= size
		} else {
			if !strings.HasSuffix(s[:e], it.lit) {
				return 0, false
			}
			e -= len(it.lit)
		}
	}
	return e, true
}

// find returns the end of the leftmost match of seg in s at or after pos.
func find(seg []likeItem, s string, pos int) (int, bool) {
	if len(seg) == 0 {
		return pos, true
	}
	if first := seg[0].lit; first != "" {
		for pos <= len(s) {
			k := strings.Index(s[pos:], first)
			if k < 0 {
				return 0, false
			}
			if e, ok := matchForward(seg, s, pos+k); ok {
				return e, true
			}
			pos += k + 1
		}
		return 0, false
	}
	for pos < len(s) {
		if e, ok := matchForward(seg, s, pos); ok {
			return e, true
		}
		_, size := utf8.DecodeRuneInString(s[pos:])
		pos += size
	}
	return 0, false
}

// match reports whether the whole of s matches the pattern. The first segment
// is anchored at the start, the last at the end, and each one between them is
// matched at its leftmost position, which never needs to be revisited: the
// cost is O(len(s) * len(pattern)) at worst, with no exponential backtracking.
func (p *likePattern) match(s string) bool {
	first := p.segs[0]
	if len(p.segs) == 1 {
		e, ok := matchForward(first, s, 0)
		return ok && e == len(s)
	}
	pos, ok := matchForward(first, s, 0)
	if !ok {
		return false
	}
	limit, ok := matchBackward(p.segs[len(p.segs)-1], s, len(s))
	if !ok || limit < pos {
		return false
	}
	s = s[:limit]
	for _, seg := range p.segs[1 : len(p.segs)-1] {
		if pos, ok = find(seg, s, pos); !ok {
			return false
		}
	}
	return true
}
