package acl

import (
	"fmt"
	"net/netip"
	"strings"
)

// hostRange is the host= value of a create connection rule (qpid::AclHost):
// "all", one address, or an inclusive "low,high" range of one family.
type hostRange struct {
	all    bool
	lo, hi netip.Addr
}

func parseHostRange(spec string) (hostRange, error) {
	if spec == "all" {
		return hostRange{all: true}, nil
	}
	parts := strings.Split(spec, ",")
	if len(parts) > 2 {
		return hostRange{}, fmt.Errorf("invalid host %q: must be one address or two separated with a comma", spec)
	}
	var addrs [2]netip.Addr
	for i, p := range parts {
		if len(p) >= 3 && p[0] == '[' && p[len(p)-1] == ']' {
			p = p[1 : len(p)-1]
		}
		a, err := netip.ParseAddr(p)
		if err != nil || a.Zone() != "" {
			return hostRange{}, fmt.Errorf("invalid host %q: %q is not a numeric IP address (host names are not resolved)", spec, p)
		}
		addrs[i] = a.Unmap()
	}
	if len(parts) == 1 {
		addrs[1] = addrs[0]
	}
	if addrs[0].BitLen() != addrs[1].BitLen() {
		return hostRange{}, fmt.Errorf("invalid host %q: the addresses cannot be compared (IPv4 and IPv6)", spec)
	}
	return hostRange{lo: addrs[0], hi: addrs[1]}, nil
}

func (h hostRange) contains(a netip.Addr) bool {
	if h.all {
		return true
	}
	return a.BitLen() == h.lo.BitLen() && h.lo.Compare(a) <= 0 && a.Compare(h.hi) <= 0
}

// parseClientHost parses the client address the broker passes: an IP
// address, possibly bracketed, possibly with a port or an IPv6 zone.
func parseClientHost(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().WithZone("").Unmap(), true
	}
	if len(s) >= 3 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}
