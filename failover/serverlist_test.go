package failover

import (
	"reflect"
	"testing"
)

func TestParseFailoverServerList(t *testing.T) {
	// As go-amqp decodes an Artemis-style list: maps with symbol keys become
	// map[string]any; a port may be any integer type or a string.
	v := []any{
		map[string]any{"network-host": "node1", "port": int32(5672), "scheme": "amqp", "hostname": "node1"},
		map[string]any{"network-host": "10.0.0.2", "port": uint16(5671), "scheme": "amqps"},
		map[string]any{"network-host": "node3", "port": "5673"},            // scheme of the connection
		map[string]any{"network-host": "fe80::1", "port": int64(5672)},     // IPv6
		map[any]any{"network-host": "node4", "port": uint32(5674), 7: "x"}, // non-string keys kept aside
		map[string]any{"network-host": "node1", "port": int32(5672)},       // duplicate
		map[string]any{"port": int32(5672)},                                // no host
		map[string]any{"network-host": "node5", "port": int32(0)},          // bad port
		map[string]any{"network-host": "node6", "port": "x"},               // bad port
		map[string]any{"network-host": "node7", "port": 1, "scheme": "ws"}, // unsupported scheme
		"node8:5672", // not a map
	}
	addrs, skipped, err := ParseFailoverServerList(v, "amqp")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"amqp://node1:5672", "amqps://10.0.0.2:5671", "amqp://node3:5673", "amqp://[fe80::1]:5672", "amqp://node4:5674"}
	if !reflect.DeepEqual(addrs, want) {
		t.Errorf("addresses:\n got %q\nwant %q", addrs, want)
	}
	if len(skipped) != 5 {
		t.Errorf("skipped %d entries, want 5: %v", len(skipped), skipped)
	}

	// The default scheme is the connection's.
	addrs, _, _ = ParseFailoverServerList([]any{map[string]any{"network-host": "n", "port": 1}}, "amqps")
	if !reflect.DeepEqual(addrs, []string{"amqps://n:1"}) {
		t.Errorf("default scheme: %q", addrs)
	}
	// Not a list.
	for _, bad := range []any{nil, "amqp://n:1", map[string]any{}, []byte("x")} {
		if _, _, err := ParseFailoverServerList(bad, ""); err == nil {
			t.Errorf("%#v: no error", bad)
		}
	}
	// Empty list: no addresses, no error.
	if addrs, _, err := ParseFailoverServerList([]any{}, ""); err != nil || len(addrs) != 0 {
		t.Errorf("empty list: %q %v", addrs, err)
	}
}

func TestMergeAndNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"node1":                "amqp://node1:5672",
		"node1:5000":           "amqp://node1:5000",
		"amqps://node2":        "amqps://node2:5671",
		"amqp://u:p@node3:1":   "amqp://u:p@node3:1",
		"amqp+ssl://node4:443": "amqp+ssl://node4:443",
	} {
		if got, err := normalize(in); err != nil || got != want {
			t.Errorf("normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://node1", "amqp://", "amqp://no de"} {
		if _, err := normalize(bad); err == nil {
			t.Errorf("normalize(%q): no error", bad)
		}
	}
	if got := noDowngrade([]string{"amqp://a:1", "amqps://b:2", "amqp+ssl://c:3"}, "amqps"); !reflect.DeepEqual(got, []string{"amqps://b:2", "amqp+ssl://c:3"}) {
		t.Errorf("a TLS connection learnt plain addresses: %q", got)
	}
	if got := noDowngrade([]string{"amqp://a:1", "amqps://b:2"}, "amqp"); len(got) != 2 {
		t.Errorf("a plain connection dropped addresses: %q", got)
	}
	got := mergeAddrs([]string{"amqp://vip:5672"}, []string{"amqp://n1:5672", "amqp://vip:5672", "amqp://n2:5672"})
	if want := []string{"amqp://vip:5672", "amqp://n1:5672", "amqp://n2:5672"}; !reflect.DeepEqual(got, want) {
		t.Errorf("merge: %q", got)
	}
}
