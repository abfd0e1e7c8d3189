package genconf

import (
	"errors"
	"strings"
	"testing"
)

// base is a small valid description; the cases below edit it.
const base = `[cluster]
name = "t"

[[node]]
name = "n1"
address = "10.0.0.1"

[[node]]
name = "n2"
address = "10.0.0.2"

[[node]]
name = "n3"
address = "10.0.0.3"

[vip]
address = "10.0.0.100"
cidr_netmask = 24

[broker]
auth = false
link_heartbeat_interval = 5

[pacemaker]
stonith_enabled = false
`

// edit replaces old by new in base (old must be there).
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("base has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

func TestBaseIsValid(t *testing.T) {
	s, err := Parse("t.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "no fencing") {
		t.Errorf("warnings %q", s.Warnings)
	}
	if _, err := s.Generate(); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		toml string
		want []string // substrings of the error, each on some line
	}{
		{"unknown key", edit(t, "auth = false\n", "auth = false\nha_usrname = \"x\"\n"),
			[]string{`t.toml:22: broker.ha_usrname: unknown key (did you mean "ha_username"?)`}},
		{"unknown key in a node", edit(t, "name = \"n2\"\n", "name = \"n2\"\nadress = \"x\"\n"),
			[]string{`t.toml:10: node.adress: unknown key (did you mean "address"?)`}},
		{"unknown key named like another table's", edit(t, "cidr_netmask = 24\n", "cidr_netmask = 24\nname = \"v\"\n"),
			[]string{`t.toml:19: vip.name: unknown key`}},
		{"unknown table", base + "\n[brokr]\nport = 1\n",
			[]string{`t.toml:27: brokr: unknown table (did you mean "broker"?)`}},
		{"syntax error", base + "\n[vip\n",
			[]string{`t.toml:28: expected '.' or ']' to end table name`}},
		{"wrong type", edit(t, "auth = false\n", "auth = false\nport = \"abc\"\n"),
			[]string{`t.toml:22: broker.port: incompatible types: TOML value has type string; destination has type integer`}},
		{"missing node address", edit(t, "address = \"10.0.0.2\"\n", ""),
			[]string{`t.toml: node[2].address: missing`}},
		{"duplicate node name", edit(t, "name = \"n2\"", "name = \"n1\""),
			[]string{`node[2].name: "n1": duplicate node name (also node[1])`}},
		{"duplicate address", edit(t, "address = \"10.0.0.2\"", "address = \"10.0.0.1\""),
			[]string{`node[2].address: "10.0.0.1": duplicate address (also node[1])`}},
		{"duplicate nodeid", edit(t, "name = \"n2\"\n", "name = \"n2\"\nnodeid = 1\n"),
			[]string{`node[2].nodeid: 1: duplicate nodeid (also node[1])`}},
		{"one node", strings.Replace(strings.Replace(base, "[[node]]\nname = \"n2\"\naddress = \"10.0.0.2\"\n", "", 1), "[[node]]\nname = \"n3\"\naddress = \"10.0.0.3\"\n", "", 1),
			[]string{`node: 1 [[node]] tables: a cluster needs at least 2 nodes`}},
		{"bad node name", edit(t, "name = \"n2\"", "name = \"n 2\""),
			[]string{`node[2].name: "n 2": not a host name`}},
		{"no cluster name", edit(t, "name = \"t\"\n", ""),
			[]string{`cluster.name: missing`}},
		{"long cluster name", edit(t, "name = \"t\"", "name = \"a-very-long-cluster-name\""),
			[]string{`cman accepts at most 15`}},
		{"bad transport", edit(t, "name = \"t\"\n", "name = \"t\"\ntransport = \"knet\"\n"),
			[]string{`cluster.transport: "knet": cman's transport is one of udp`}},
		{"zero totem token", edit(t, "name = \"t\"\n", "name = \"t\"\ntotem_token = 0\n"),
			[]string{`cluster.totem_token: 0: must be a positive number of milliseconds`}},
		{"negative totem consensus", edit(t, "name = \"t\"\n", "name = \"t\"\ntotem_token = 1000\ntotem_consensus = -1\n"),
			[]string{`cluster.totem_consensus: -1: must be a positive number of milliseconds`}},
		{"totem consensus below 1.2 x token", edit(t, "name = \"t\"\n", "name = \"t\"\ntotem_token = 1000\ntotem_consensus = 1199\n"),
			[]string{`cluster.totem_consensus: 1199: must be at least 1.2 x totem_token (1000 ms): 1200 or more`}},
		{"totem consensus below 1.2 x the default token", edit(t, "name = \"t\"\n", "name = \"t\"\ntotem_consensus = 3000\n"),
			[]string{`cluster.totem_consensus: 3000: must be at least 1.2 x corosync's default token (3000 ms): 3600 or more`}},
		{"totem token as a string", edit(t, "name = \"t\"\n", "name = \"t\"\ntotem_token = \"1s\"\n"),
			[]string{`cluster.totem_token: incompatible types`}},
		{"vip is not an ip", edit(t, "address = \"10.0.0.100\"", "address = \"vip.example.com\""),
			[]string{`vip.address: "vip.example.com": not an IP address`}},
		{"vip is a node's address", edit(t, "address = \"10.0.0.100\"", "address = \"10.0.0.3\""),
			[]string{`vip.address: "10.0.0.3" is also the address of node[3]`}},
		{"bad prefix", edit(t, "cidr_netmask = 24", "cidr_netmask = 33"),
			[]string{`vip.cidr_netmask: 33: a prefix length is 1..32`}},
		{"unknown qpidd option", base + "\n[broker.options]\nqueue-pattern = \".*\"\n",
			[]string{`broker.options.queue-pattern: unknown qpidd option "queue-pattern" (did you mean "queue-patterns"?)`}},
		{"typo of a reserved option", base + "\n[broker.options]\nha-clster = true\n",
			[]string{`broker.options.ha-clster: unknown qpidd option "ha-clster" (did you mean "ha-cluster"? it cannot be set here: the generator sets ha-cluster=yes)`}},
		{"bad qpidd value", base + "\n[broker.options]\nmax-connections = \"lots\"\n",
			[]string{`broker.options.max-connections: invalid value "lots" for qpidd option max-connections: expected a non-negative whole number`}},
		{"bad qpidd bool", base + "\n[broker.options]\nenable-timestamp = \"maybe\"\n",
			[]string{`broker.options.enable-timestamp: invalid value "maybe" for qpidd option enable-timestamp`}},
		{"table as qpidd value", base + "\n[broker.options]\nqueue = { a = 1 }\n",
			[]string{`broker.options.queue: expected a string, number or boolean, not a table`}},
		{"bad seconds", edit(t, "link_heartbeat_interval = 5", "link_heartbeat_interval = \"5x\""),
			[]string{`broker.link_heartbeat_interval: invalid value "5x" for qpidd option link-heartbeat-interval: expected a number of seconds`}},
		{"bad ha_replicate", edit(t, "auth = false\n", "auth = false\nha_replicate = \"some\"\n"),
			[]string{`broker.ha_replicate: invalid value "some" for qpidd option ha-replicate: expected one of none, configuration, all`}},
		{"bad port", edit(t, "auth = false\n", "auth = false\nport = 70000\n"),
			[]string{`broker.port: 70000: a TCP port is 1..65535`}},
		{"reserved option", base + "\n[broker.options]\nport = 5673\n",
			[]string{`broker.options.port: qpidd option "port" cannot be set here: set broker.port`}},
		{"reserved node option", edit(t, "address = \"10.0.0.3\"\n", "address = \"10.0.0.3\"\noptions = { ha-cluster = false }\n"),
			[]string{`node[3].options.ha-cluster: qpidd option "ha-cluster" cannot be set here`}},
		{"bad node option", edit(t, "address = \"10.0.0.3\"\n", "address = \"10.0.0.3\"\noptions = { log-level = \"loud\" }\n"),
			[]string{`node[3].options.log-level: invalid value "loud" for qpidd option log-level`}},
		{"hash in a value", edit(t, "auth = false\n", "auth = true\nha_username = \"ha\"\nha_password = \"a#b\"\n"),
			[]string{`broker.ha_password: "a#b": qpidd.conf cannot hold '#'`}},
		{"relative data dir", edit(t, "auth = false\n", "auth = false\ndata_dir = \"var/qpidd\"\n"),
			[]string{`broker.data_dir: "var/qpidd": an absolute path`}},
		{"no fencing", edit(t, "stonith_enabled = false\n", ""),
			[]string{`t.toml: fence: no [[fence]] device: a cluster needs fencing`}},
		{"stonith on without devices", edit(t, "stonith_enabled = false", "stonith_enabled = true"),
			[]string{`pacemaker.stonith_enabled: true, but there is no [[fence]] device`}},
		{"unknown fence device", edit(t, "address = \"10.0.0.1\"\n", "address = \"10.0.0.1\"\nfence = [{ device = \"ipmj\" }]\n") +
			"\n[[fence]]\nname = \"ipmi\"\nagent = \"fence_ipmilan\"\n",
			[]string{`node[1].fence[1].device: "ipmj": no [[fence]] device has this name (did you mean "ipmi"?)`,
				`node[2].fence: node "n2" has no fence method`}},
		{"bad fence agent", edit(t, "address = \"10.0.0.1\"\n", "address = \"10.0.0.1\"\nfence = [{ device = \"x\" }]\n") +
			"\n[[fence]]\nname = \"x\"\nagent = \"ipmilan\"\n",
			[]string{`fence[1].agent: "ipmilan": a fence agent's name is fence_<something>`}},
		{"fence option named name", "[[fence]]\nname = \"x\"\nagent = \"fence_x\"\noptions = { name = \"y\" }\n" + base,
			[]string{`fence[1].options.name: "name" is the device's own attribute`}},
		{"unused fence device", base + "\n[[fence]]\nname = \"x\"\nagent = \"fence_x\"\n",
			[]string{`fence[1]: device "x" is used by no node's fence list`}},
		{"equal monitor intervals", edit(t, "stonith_enabled = false\n", "stonith_enabled = false\nmonitor_promoted_interval = \"11s\"\n"),
			[]string{`pacemaker.monitor_unpromoted_interval: "11s": the same interval as monitor_promoted_interval`}},
		{"bad duration", edit(t, "stonith_enabled = false\n", "stonith_enabled = false\nstart_timeout = \"1 minute\"\n"),
			[]string{`pacemaker.start_timeout: "1 minute": expected a whole number with an optional unit`}},
		{"bad resource id", edit(t, "stonith_enabled = false\n", "stonith_enabled = false\nresource = \"1qpidd\"\n"),
			[]string{`pacemaker.resource: "1qpidd": a Pacemaker id starts with a letter`}},
		{"same ids", edit(t, "stonith_enabled = false\n", "stonith_enabled = false\nvip_resource = \"qpidd\"\n"),
			[]string{`pacemaker.vip_resource: "qpidd": the same id as pacemaker.resource`}},
		{"generated agent param", base + "\n[pacemaker.agent_params]\nport = 1\n",
			[]string{`pacemaker.agent_params.port: the generator sets port from broker.port`}},
		{"generated meta", base + "\n[pacemaker.meta]\nnotify = false\n",
			[]string{`pacemaker.meta.notify: the generator sets notify on the clone`}},
		{"stonith-enabled property", base + "\n[pacemaker.properties]\nstonith-enabled = true\n",
			[]string{`pacemaker.properties.stonith-enabled: set pacemaker.stonith_enabled instead`}},
		{"bad poll interval", base + "\n[rgmanager]\nstatus_poll_interval = 0\n",
			[]string{`rgmanager.status_poll_interval: 0: whole seconds, at least 1`}},
		{"cert without key", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"/etc/qpid/tls/b.pem\"\n"),
			[]string{`broker.ssl_key_file: missing: ssl_cert_file is set`}},
		{"key without cert", edit(t, "auth = false\n", "auth = false\nssl_key_file = \"/etc/qpid/tls/b.key\"\n"),
			[]string{`broker.ssl_cert_file: missing: ssl_key_file is set`}},
		{"ssl_only without a certificate", edit(t, "auth = false\n", "auth = false\nssl_only = true\n"),
			[]string{`broker.ssl_only: set, but not ssl_cert_file`}},
		{"ca without a certificate", edit(t, "auth = false\n", "auth = false\nssl_ca_file = \"/etc/qpid/tls/ca.pem\"\n"),
			[]string{`broker.ssl_ca_file: set, but not ssl_cert_file`}},
		{"relative certificate", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"tls/b.pem\"\nssl_key_file = \"/k\"\n"),
			[]string{`broker.ssl_cert_file: "tls/b.pem": an absolute path`}},
		{"relative ca", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\nssl_ca_file = \"ca.pem\"\n"),
			[]string{`broker.ssl_ca_file: "ca.pem": an absolute path`}},
		{"external without tls", edit(t, "auth = false\n", "auth = true\nha_username = \"ha\"\nha_mechanism = \"EXTERNAL\"\n"),
			[]string{`broker.ha_mechanism: EXTERNAL: the brokers identify themselves by their TLS certificates, but there is no TLS`}},
		{"external without ca", edit(t, "auth = false\n", "auth = true\nha_username = \"ha\"\nha_mechanism = \"EXTERNAL\"\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\n"),
			[]string{`broker.ha_mechanism: EXTERNAL: the brokers verify each other's certificates with ssl_ca_file, which is not set`}},
		{"client authentication without ca", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\nssl_require_client_authentication = true\n"),
			[]string{`broker.ssl_require_client_authentication: true, but ssl_ca_file is not set`}},
		{"ssl port is the port", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\nssl_port = 5672\n"),
			[]string{`broker.ssl_port: 5672: the same port as broker.port`}},
		{"bad ssl port", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\nssl_port = 0\n"),
			[]string{`broker.ssl_port: 0: a TCP port is 1..65535`}},
		{"reserved tls option", base + "\n[broker.options]\nlisten-disable = \"tcp\"\nssl-cert-file = \"/x\"\n",
			[]string{`broker.options.listen-disable: qpidd option "listen-disable" cannot be set here: set broker.ssl_only`,
				`broker.options.ssl-cert-file: qpidd option "ssl-cert-file" cannot be set here: set broker.ssl_cert_file`}},
		{"generated ssl agent param", base + "\n[pacemaker.agent_params]\nssl = true\n",
			[]string{`pacemaker.agent_params.ssl: the generator sets ssl from broker.ssl_cert_file`}},
		{"several errors at once", edit(t, "address = \"10.0.0.2\"\n", "", "cidr_netmask = 24", "cidr_netmask = 0"),
			[]string{`node[2].address: missing`, `vip.cidr_netmask: 0`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tc.toml))
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %T %v, want Errors", err, err)
			}
			if !errors.Is(errs[0], ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", errs[0])
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error:\n%v\nwant a line with %q", err, w)
				}
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		name string
		toml string
		want string
	}{
		{"vip in no subnet", edit(t, "address = \"10.0.0.100\"", "address = \"10.0.1.100\""),
			`vip.address: 10.0.1.100/24 is in the subnet of no node's client_address (or address)`},
		{"vip in the client subnet", edit(t, "address = \"10.0.0.100\"", "address = \"10.0.1.100\"",
			"address = \"10.0.0.1\"\n", "address = \"10.0.0.1\"\nclient_address = \"10.0.1.1\"\n"), ""},
		{"obsolete option", base + "\n[broker.options]\nworker-threads = 4\n",
			`broker.options.worker-threads: option "worker-threads" is obsolete and ignored`},
		{"no credentials", edit(t, "auth = false", "auth = true"),
			`broker.ha_username: not set while auth is on`},
		{"anonymous", edit(t, "auth = false", "auth = true\nha_username = \"u\"\nha_password = \"p\"\nha_mechanism = \"ANONYMOUS\""),
			`broker.ha_mechanism: ANONYMOUS with auth on`},
		{"unknown mechanism", edit(t, "auth = false", "auth = true\nha_username = \"u\"\nha_mechanism = \"DIGEST-MD5\""),
			`broker.ha_mechanism: "DIGEST-MD5" is not a mechanism this broker offers`},
		{"no heartbeat", edit(t, "link_heartbeat_interval = 5\n", ""),
			`broker.link_heartbeat_interval: not set: qpidd's default of 120 seconds is very high`},
		{"tls names", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\nssl_ca_file = \"/ca\"\n"),
			`broker.ssl_cert_file: each node's certificate must name, as subjectAltNames (the CN is not checked), its own address, the VIP and localhost: 10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.100, localhost; and allow both the serverAuth and clientAuth`},
		{"tls without ca", edit(t, "auth = false\n", "auth = false\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\n"),
			`broker.ssl_ca_file: not set: the brokers verify each other's certificates`},
		{"tls but plain tcp open", edit(t, "auth = false\n", "auth = true\nha_username = \"u\"\nssl_cert_file = \"/b.pem\"\nssl_key_file = \"/k\"\nssl_ca_file = \"/ca\"\n"),
			`broker.ssl_only: not set: clients may still log in over plain TCP`},
		{"unknown agent param", base + "\n[pacemaker.agent_params]\ntimout = 3\n",
			`pacemaker.agent_params.timout: ocf:qpid:qpidd has no parameter "timout" (did you mean "timeout"?)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("t.toml", []byte(tc.toml))
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(s.Warnings, "\n")
			if tc.want == "" {
				if strings.Contains(all, "subnet") {
					t.Errorf("warnings:\n%s", all)
				}
				return
			}
			if !strings.Contains(all, tc.want) {
				t.Errorf("warnings:\n%s\nwant one with %q", all, tc.want)
			}
		})
	}
}
