package failover

import (
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"
)

// FailoverServerListProperty is the connection property in which a broker
// advertises the addresses of its cluster, in its open frame. The format is
// the one ActiveMQ Artemis sends and qpid-jms reads (AmqpSupport
// FAILOVER_SERVER_LIST): a list of maps with symbol keys
//
//	network-host  the DNS name or IP address to connect to (required)
//	port          its port, a number or a string of digits (required)
//	scheme        "amqp" or "amqps" (optional: the scheme of the address the
//	              client is connected to)
//	hostname      the AMQP open hostname (virtual host) to use there
//	              (optional; ignored here: go-amqp takes one HostName for
//	              every address, Options.ConnOptions.HostName)
//	path          (optional; ignored)
//
// qpidd advertises its ha-public-url addresses so.
const FailoverServerListProperty = "failover-server-list"

// ParseFailoverServerList reads the value of the failover-server-list
// connection property, as go-amqp's Conn.Properties decodes it, into
// addresses: "scheme://network-host:port", with the scheme of an entry, else
// defaultScheme (that of the current connection), else "amqp". Invalid
// entries (no host, no valid port, an unknown scheme) are skipped and
// reported in skipped; a value that is not a list yields an error.
func ParseFailoverServerList(v any, defaultScheme string) (addrs []string, skipped []error, err error) {
	if defaultScheme == "" {
		defaultScheme = "amqp"
	}
	list := reflect.ValueOf(v)
	if !list.IsValid() || (list.Kind() != reflect.Slice && list.Kind() != reflect.Array) || list.Type().Elem().Kind() == reflect.Uint8 {
		return nil, nil, fmt.Errorf("%s: want a list of maps, got %T", FailoverServerListProperty, v)
	}
	seen := map[string]bool{}
	for i := 0; i < list.Len(); i++ {
		entry, ok := stringMap(list.Index(i).Interface())
		if !ok {
			skipped = append(skipped, fmt.Errorf("entry %d: want a map, got %T", i, list.Index(i).Interface()))
			continue
		}
		host, _ := asString(entry["network-host"])
		if host == "" {
			skipped = append(skipped, fmt.Errorf("entry %d: no network-host", i))
			continue
		}
		port, ok := asPort(entry["port"])
		if !ok {
			skipped = append(skipped, fmt.Errorf("entry %d (%s): invalid port %v", i, host, entry["port"]))
			continue
		}
		scheme, _ := asString(entry["scheme"])
		if scheme == "" {
			scheme = defaultScheme
		}
		if scheme != "amqp" && scheme != "amqps" && scheme != "amqp+ssl" {
			skipped = append(skipped, fmt.Errorf("entry %d (%s): unsupported scheme %q", i, host, scheme))
			continue
		}
		a := (&url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}).String()
		if !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	return addrs, skipped, nil
}

// stringMap turns a decoded AMQP map with string or symbol keys (go-amqp
// gives map[string]any for those, map[any]any otherwise) into
// map[string]any.
func stringMap(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Map {
		return nil, false
	}
	out := map[string]any{}
	it := rv.MapRange()
	for it.Next() {
		k := it.Key()
		if k.Kind() == reflect.Interface {
			k = k.Elem()
		}
		if k.Kind() == reflect.String {
			out[k.String()] = it.Value().Interface()
		}
	}
	return out, true
}

// asString reads a string or a symbol.
func asString(v any) (string, bool) {
	rv := reflect.ValueOf(v)
	if rv.IsValid() && rv.Kind() == reflect.String {
		return rv.String(), true
	}
	return "", false
}

// asPort reads a port: any integer type, or a string of digits (qpid-jms
// parses the value's string form).
func asPort(v any) (int, bool) {
	var n int64
	rv := reflect.ValueOf(v)
	switch {
	case !rv.IsValid():
		return 0, false
	case rv.CanInt():
		n = rv.Int()
	case rv.CanUint():
		if rv.Uint() > 65535 {
			return 0, false
		}
		n = int64(rv.Uint())
	case rv.Kind() == reflect.String:
		p, err := strconv.Atoi(rv.String())
		if err != nil {
			return 0, false
		}
		n = int64(p)
	default:
		return 0, false
	}
	if n < 1 || n > 65535 {
		return 0, false
	}
	return int(n), true
}
