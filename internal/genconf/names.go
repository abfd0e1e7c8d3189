package genconf

import (
	"net"
	"strconv"
	"strings"
)

// parseIP parses an IPv4 or IPv6 address (no zone, no brackets).
func parseIP(s string) net.IP {
	if strings.ContainsAny(s, "[]%/") {
		return nil
	}
	return net.ParseIP(s)
}

func isIP(s string) bool { return parseIP(s) != nil }

func isHostOrIP(s string) bool {
	return isIP(s) || (len(s) <= 253 && hostRE.MatchString(s) && !allDigitsAndDots(s))
}

// allDigitsAndDots: a would-be IPv4 address that did not parse (10.0.0.256).
func allDigitsAndDots(s string) bool {
	return strings.Trim(s, "0123456789.") == ""
}

// sameSubnet reports whether a and b share the first bits bits.
func sameSubnet(a, b net.IP, bits int) bool {
	if (a.To4() == nil) != (b.To4() == nil) {
		return false
	}
	size := 128
	if a.To4() != nil {
		a, b, size = a.To4(), b.To4(), 32
	}
	mask := net.CIDRMask(bits, size)
	return a.Mask(mask).Equal(b.Mask(mask))
}

// hostPort joins a host and a port as a qpid URL address wants it.
func hostPort(host string, port int64) string {
	if ip := parseIP(host); ip != nil && ip.To4() == nil {
		return "[" + host + "]:" + itoa(port)
	}
	return host + ":" + itoa(port)
}

// suggest returns the candidate nearest to s (edit distance at most a third
// of its length, at least 2), or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", -1
	limit := len(s) / 3
	if limit < 2 {
		limit = 2
	}
	norm := func(x string) string { return strings.ToLower(strings.NewReplacer("_", "-").Replace(x)) }
	for _, c := range candidates {
		d := editDistance(norm(s), norm(c))
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, with a swap of two
// neighbouring characters counted as one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
