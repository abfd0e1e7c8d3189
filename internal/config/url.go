package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Default ports of URL addresses without one.
const (
	DefaultPort    = 5672 // tcp (AMQP)
	DefaultSSLPort = 5671 // ssl (AMQPS); the original used 5672 here too, see ParseURL
)

// URL is a qpid broker URL: optional credentials and a list of addresses,
// as in ha-brokers-url and ha-public-url. The zero URL (no addresses) is the
// empty URL, the default of both options.
type URL struct {
	User     string
	Password string
	Addrs    []Address
}

// Address is one broker address of a URL.
type Address struct {
	Scheme string // "tcp" or "ssl"
	Host   string // name, IPv4 or IPv6 literal (without brackets)
	Port   int
}

// Empty reports whether the URL has no addresses.
func (u URL) Empty() bool { return len(u.Addrs) == 0 }

// String renders the URL in the original's canonical form, without the
// password: "amqp:user@tcp:node1:5672,ssl:[::1]:5671". The empty URL renders
// as "".
func (u URL) String() string {
	if u.Empty() {
		return ""
	}
	var b strings.Builder
	b.WriteString("amqp:")
	if u.User != "" {
		b.WriteString(u.User)
		b.WriteString("@")
	}
	for i, a := range u.Addrs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(a.String())
	}
	return b.String()
}

// String renders the address as the original does: "tcp:node1:5672",
// "ssl:[::1]:5671".
func (a Address) String() string {
	return a.Scheme + ":" + a.HostPort()
}

// HostPort is the address in net.Dial form: "node1:5672", "[::1]:5671".
func (a Address) HostPort() string {
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// ParseURL parses a URL of the grammar (the HA manual's):
//
//	url  = ["amqp:"] [user ["/" password] "@"] addr ("," addr)*
//	addr = ["tcp:" | "ssl:"] host [":" port]
//
// e.g. "20.0.20.1,20.0.20.2", "amqp:user/pass@node1:5673,tcp:node2",
// "ssl:host", "[::1]:5672". As in the original, ':' may also separate user
// and password, the credentials end at the first '@', and host is a DNS name
// or IPv4 address (letters, digits, "-._~" and %XX escapes) or an IPv6
// literal in brackets. The port defaults to 5672 (DefaultPort) for tcp and to
// 5671 (DefaultSSLPort, the port amqps listens on) for ssl; the original
// defaulted ssl addresses to 5672 as well, where no TLS listener usually is.
// The rdma transport of the original is not supported. The empty string is
// an error here (a URL needs an address); options whose default is empty
// accept it as the empty URL.
func ParseURL(s string) (URL, error) {
	var u URL
	rest := strings.TrimPrefix(s, "amqp:")
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		cred := rest[:at]
		if i := strings.IndexAny(cred, "/:"); i >= 0 {
			u.User, u.Password = cred[:i], cred[i+1:]
		} else {
			u.User = cred
		}
		rest = rest[at+1:]
	}
	if rest == "" {
		return URL{}, errors.New("no address")
	}
	for _, item := range strings.Split(rest, ",") {
		a, err := parseAddress(item)
		if err != nil {
			return URL{}, err
		}
		u.Addrs = append(u.Addrs, a)
	}
	return u, nil
}

func parseAddress(s string) (Address, error) {
	if s == "" {
		return Address{}, errors.New("empty address")
	}
	a := Address{Scheme: "tcp", Port: DefaultPort}
	rest := s
	if scheme, after, ok := strings.Cut(s, ":"); ok {
		switch scheme {
		case "tcp":
			rest = after
		case "ssl":
			a.Scheme, a.Port, rest = "ssl", DefaultSSLPort, after
		case "rdma":
			return Address{}, fmt.Errorf("address %q: the rdma transport is not supported", s)
		}
	}
	var port string
	hasPort := false
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Address{}, fmt.Errorf("address %q: missing ']' after IPv6 address", s)
		}
		a.Host = rest[1:end]
		if len(a.Host) < 2 || strings.Trim(a.Host, "0123456789abcdefABCDEF:.") != "" || !strings.Contains(a.Host, ":") {
			return Address{}, fmt.Errorf("address %q: bad IPv6 address %q", s, a.Host)
		}
		after := rest[end+1:]
		if after != "" {
			if after[0] != ':' {
				return Address{}, fmt.Errorf("address %q: unexpected %q after ']'", s, after)
			}
			port, hasPort = after[1:], true
		}
	} else {
		a.Host, port, hasPort = strings.Cut(rest, ":")
		if a.Host == "" {
			return Address{}, fmt.Errorf("address %q: missing host", s)
		}
		if err := checkHost(a.Host); err != nil {
			return Address{}, fmt.Errorf("address %q: %v", s, err)
		}
	}
	if hasPort {
		n, err := parseUint(port, 1, 65535)
		if err != nil {
			return Address{}, fmt.Errorf("address %q: bad port %q: %v", s, port, err)
		}
		a.Port = int(n)
	}
	return a, nil
}

// checkHost accepts the original's liberal host syntax: unreserved
// characters of RFC 3986 and %XX escapes.
func checkHost(h string) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-._~", c) >= 0:
		case c == '%' && i+2 < len(h) && isHex(h[i+1]) && isHex(h[i+2]):
			i += 2
		default:
			return fmt.Errorf("bad character %q in host %q", c, h)
		}
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
