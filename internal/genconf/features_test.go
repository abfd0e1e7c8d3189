package genconf

import (
	"strings"
	"testing"
)

// render parses a description that must be valid and returns its files by
// name.
func render(t *testing.T, text string) (*Spec, map[string]string) {
	t.Helper()
	s, err := Parse("t.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	files, err := s.Generate()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		out[f.Name] = string(f.Data)
	}
	return s, out
}

func wantLines(t *testing.T, name, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, l) {
			t.Errorf("%s lacks %q:\n%s", name, l, text)
		}
	}
}

func TestIPv6(t *testing.T) {
	text := strings.NewReplacer(
		`"10.0.0.1"`, `"fd00::1"`, `"10.0.0.2"`, `"fd00::2"`, `"10.0.0.3"`, `"fd00::3"`,
		`"10.0.0.100"`, `"fd00::100"`, "cidr_netmask = 24", "cidr_netmask = 64").Replace(base)
	s, files := render(t, text)
	if len(s.Warnings) != 1 {
		t.Errorf("warnings %q", s.Warnings)
	}
	wantLines(t, "qpidd-n1.conf", files["qpidd-n1.conf"],
		"ha-brokers-url=[fd00::1]:5672,[fd00::2]:5672,[fd00::3]:5672\n",
		"ha-public-url=[fd00::100]:5672\n")
	wantLines(t, "pcs-setup.sh", files[PcsScriptName], "ip=fd00::100 cidr_netmask=64")
	wantLines(t, "cluster.conf", files[ClusterConfName], `<ip address="fd00::100"`)
}

func TestTwoNodes(t *testing.T) {
	text := strings.Replace(base, "[[node]]\nname = \"n3\"\naddress = \"10.0.0.3\"\n", "", 1)
	_, files := render(t, text)
	wantLines(t, "cluster.conf", files[ClusterConfName], `<cman two_node="1" expected_votes="1"/>`)
	wantLines(t, "pcs-setup.sh", files[PcsScriptName], "clone-max=2 ")
}

// Per-node options that are not one host argument give one Pacemaker
// device per node; several methods give fencing levels.
func TestFenceSplitAndLevels(t *testing.T) {
	text := edit(t,
		"stonith_enabled = false\n", "",
		"address = \"10.0.0.1\"\n", "address = \"10.0.0.1\"\nfence = [{ device = \"ipmi\", options = { ip = \"10.1.0.1\", lanplus = true } }, { method = \"2\", device = \"pdu\", options = { plug = \"1\" } }]\n",
		"address = \"10.0.0.2\"\n", "address = \"10.0.0.2\"\nfence = [{ device = \"ipmi\", options = { ip = \"10.1.0.2\", lanplus = true } }, { method = \"2\", device = \"pdu\", options = { plug = \"2\" } }]\n",
		"address = \"10.0.0.3\"\n", "address = \"10.0.0.3\"\nfence = [{ device = \"ipmi\", options = { ip = \"10.1.0.3\", lanplus = true } }, { method = \"2\", device = \"pdu\", options = { plug = \"3\" } }]\n",
	) + `
[[fence]]
name = "ipmi"
agent = "fence_ipmilan"
options = { username = "admin", password = "it's secret" }

[[fence]]
name = "pdu"
agent = "fence_apc"
options = { ip = "10.1.0.100", username = "apc", password = "apc" }
pcs_options = { pcmk_delay_max = "5s" }
`
	s, files := render(t, text)
	if len(s.Warnings) != 0 {
		t.Errorf("warnings %q", s.Warnings)
	}
	pcs := files[PcsScriptName]
	wantLines(t, "pcs-setup.sh", pcs,
		"pcs_cib property set stonith-enabled=true\n",
		"\tpcs_cib_create stonith create ipmi-n1 fence_ipmilan \\\n\t\tip=10.1.0.1 lanplus=1 'password=it'\\''s secret' username=admin pcmk_host_list=n1\n",
		"\tpcs_cib_create stonith create pdu fence_apc \\\n\t\tip=10.1.0.100 password=apc username=apc pcmk_delay_max=5s pcmk_host_argument=plug 'pcmk_host_map=n1:1;n2:2;n3:3'\n",
		"if missing \"//fencing-level[@target='n1'][@index='1']\"; then\n\tpcs_cib stonith level add 1 n1 ipmi-n1\n",
		"if missing \"//fencing-level[@target='n3'][@index='2']\"; then\n\tpcs_cib stonith level add 2 n3 pdu\n")
	cc := files[ClusterConfName]
	wantLines(t, "cluster.conf", cc,
		"      <fence>\n        <method name=\"1\">\n          <device name=\"ipmi\" ip=\"10.1.0.1\" lanplus=\"1\"/>\n        </method>\n        <method name=\"2\">\n          <device name=\"pdu\" plug=\"1\"/>\n",
		`<fencedevice name="ipmi" agent="fence_ipmilan" password="it&#39;s secret" username="admin"/>`,
		`<fencedevice name="pdu" agent="fence_apc" ip="10.1.0.100" password="apc" username="apc"/>`)
	if strings.Contains(cc, "pcmk_") {
		t.Errorf("cluster.conf has Pacemaker-only options:\n%s", cc)
	}
}

// No per-node options: one device with a host list.
func TestFenceHostList(t *testing.T) {
	text := edit(t,
		"stonith_enabled = false\n", "stonith_enabled = true\n",
		"address = \"10.0.0.1\"\n", "address = \"10.0.0.1\"\nfence = [{ device = \"sbd\" }]\n",
		"address = \"10.0.0.2\"\n", "address = \"10.0.0.2\"\nfence = [{ device = \"sbd\" }]\n",
		"address = \"10.0.0.3\"\n", "address = \"10.0.0.3\"\nfence = [{ device = \"sbd\" }]\n",
	) + "\n[[fence]]\nname = \"sbd\"\nagent = \"fence_sbd\"\noptions = { devices = \"/dev/sdb\" }\n"
	_, files := render(t, text)
	wantLines(t, "pcs-setup.sh", files[PcsScriptName],
		"pcs_cib_create stonith create sbd fence_sbd \\\n\t\tdevices=/dev/sdb 'pcmk_host_list=n1 n2 n3'\n")
	if strings.Contains(files[PcsScriptName], "level add") {
		t.Error("fencing levels with one method per node")
	}
	wantLines(t, "cluster.conf", files[ClusterConfName], `<device name="sbd"/>`)
}

func TestPacemakerNames(t *testing.T) {
	text := edit(t, "stonith_enabled = false\n", `stonith_enabled = false
resource = "broker"
clone = "brokers"
vip_resource = "client-ip"
agent = "ocf:example:qpidd"
start_timeout = 120
`)
	_, files := render(t, text)
	wantLines(t, "pcs-setup.sh", files[PcsScriptName],
		"pcs_cib_create resource create broker ocf:example:qpidd \\\n",
		"op start timeout=120s \\\n",
		"\t\tpromotable brokers promoted-max=1 promoted-node-max=1 clone-max=3 clone-node-max=1 notify=false\n",
		"pcs_cib constraint colocation add client-ip with Promoted brokers INFINITY id=colocation-client-ip-with-promoted-brokers\n",
		"pcs_cib constraint order promote brokers then start client-ip symmetrical=false kind=Mandatory id=order-promote-brokers-then-start-client-ip\n",
		"pcs_cib constraint order stop client-ip then demote brokers symmetrical=false kind=Mandatory id=order-stop-client-ip-then-demote-brokers\n")
}

// A node's own options replace [broker.options] of the same name.
func TestNodeOptions(t *testing.T) {
	text := edit(t, "address = \"10.0.0.2\"\n", "address = \"10.0.0.2\"\noptions = { log-to-file = \"/var/log/n2.log\", queue-patterns = [\"a.*\", \"b.*\"] }\n") +
		"\n[broker.options]\nlog-to-file = \"/var/log/qpidd.log\"\nmax-connections = 1000\n"
	_, files := render(t, text)
	n1, n2 := files["qpidd-n1.conf"], files["qpidd-n2.conf"]
	wantLines(t, "qpidd-n1.conf", n1, "log-to-file=/var/log/qpidd.log\n", "max-connections=1000\n")
	wantLines(t, "qpidd-n2.conf", n2, "max-connections=1000\n",
		"# Options of n2 only ([[node]] options).\nlog-to-file=/var/log/n2.log\nqueue-patterns=a.*\nqueue-patterns=b.*\n")
	if strings.Contains(n2, "/var/log/qpidd.log") {
		t.Errorf("qpidd-n2.conf keeps the overridden option:\n%s", n2)
	}
}

// Short names: the first label, unless two nodes share it.
func TestShortNames(t *testing.T) {
	text := strings.NewReplacer(`name = "n1"`, `name = "a.x.com"`, `name = "n2"`, `name = "a.y.com"`, `name = "n3"`, `name = "c.x.com"`).Replace(base)
	_, files := render(t, text)
	wantLines(t, "cluster.conf", files[ClusterConfName], `<failoverdomain name="a.x.com-domain" restricted="1">`, `<service name="c.x.com-qpidd-service"`)
	text = strings.NewReplacer(`name = "n1"`, `name = "a.x.com"`, `name = "n2"`, `name = "b.x.com"`, `name = "n3"`, `name = "c.x.com"`).Replace(base)
	_, files = render(t, text)
	wantLines(t, "cluster.conf", files[ClusterConfName], `<failoverdomain name="a-domain" restricted="1">`, `<service name="c-qpidd-service" domain="c-domain" recovery="restart">`)
}

func TestEscaping(t *testing.T) {
	text := edit(t, "stonith_enabled = false\n", "stonith_enabled = false\n[pacemaker.agent_params]\noptions = \"--log-level debug & more\"\n",
		"auth = false\n", "auth = false\nacl_file = \"/etc/qpid/a b.acl\"\n")
	_, files := render(t, text)
	wantLines(t, "pcs-setup.sh", files[PcsScriptName], "'options=--log-level debug & more'")
	wantLines(t, "qpidd-n1.conf", files["qpidd-n1.conf"], "acl-file=/etc/qpid/a b.acl\n")
}

func TestComment(t *testing.T) {
	for in, want := range map[string]string{"a--b": "a- -b", "a---b": "a- - -b", "x-": "x", "ok": "ok"} {
		if got := comment(in); got != want {
			t.Errorf("comment(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	names := qpiddOptionNames()
	for in, want := range map[string]string{
		"ha-clster":        "ha-cluster",
		"ha_brokers_url":   "ha-brokers-url",
		"link-hearbeat":    "",
		"queue-pattern":    "queue-patterns",
		"acl_file":         "acl-file",
		"completely-wrong": "",
	} {
		if got := suggest(in, names); got != want && !(want == "" && got == "") {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if len(names) < 50 || !contains(names, "ha-cluster") || !contains(names, "load-module") {
		t.Errorf("option names from qpidd's help: %v", names)
	}
}

// tlsBase is base with an SSL-only, client-authenticating TLS setup.
func tlsBase(t *testing.T) string {
	return edit(t, "auth = false\n", `auth = false
ssl_cert_file = "/etc/qpid/tls/broker.pem"
ssl_key_file = "/etc/qpid/tls/broker.key"
ssl_ca_file = "/etc/qpid/tls/ca.pem"
ssl_port = 5000
ssl_only = true
ssl_require_client_authentication = true
`)
}

func TestTLS(t *testing.T) {
	s, files := render(t, tlsBase(t))
	conf := files["qpidd-n1.conf"]
	wantLines(t, "qpidd-n1.conf", conf,
		"\nha-brokers-url=ssl:10.0.0.1:5000,ssl:10.0.0.2:5000,ssl:10.0.0.3:5000\n",
		"\nha-public-url=ssl:10.0.0.100:5000\n",
		"\nssl-port=5000\n",
		"\nssl-cert-file=/etc/qpid/tls/broker.pem\n",
		"\nssl-key-file=/etc/qpid/tls/broker.key\n",
		"\nssl-ca-file=/etc/qpid/tls/ca.pem\n",
		"\nssl-require-client-authentication=yes\n",
		"\nlisten-disable=tcp\n",
		"\nrequire-encryption=yes\n")
	wantLines(t, "pcs-setup.sh", files[PcsScriptName], " ssl=yes ssl_port=5000 ")
	wantLines(t, "cluster.conf", files[ClusterConfName], "reach the local broker at ssl:localhost by themselves")
	if len(s.Warnings) == 0 {
		t.Error("no warnings")
	}
	// What qpidd makes of the file.
	if _, err := loadConfText(conf); err != nil {
		t.Fatal(err)
	}

	// Without ssl_only: both listeners, and TLS between the brokers still.
	_, files = render(t, strings.Replace(tlsBase(t), "ssl_only = true\n", "", 1))
	conf = files["qpidd-n1.conf"]
	wantLines(t, "qpidd-n1.conf", conf, "\nha-brokers-url=ssl:10.0.0.1:5000,", "\nport=5672\n", "\nssl-port=5000\n")
	for _, l := range []string{"listen-disable", "require-encryption"} {
		if strings.Contains(conf, l) {
			t.Errorf("qpidd-n1.conf without ssl_only has %s:\n%s", l, conf)
		}
	}
	if strings.Contains(files[ClusterConfName], "ssl:localhost") {
		t.Error("cluster.conf without ssl_only speaks of ssl:localhost")
	}

	// Without TLS nothing changes.
	_, files = render(t, base)
	for name, text := range files {
		if strings.Contains(text, "ssl") {
			t.Errorf("%s without TLS mentions ssl:\n%s", name, text)
		}
	}

	// EXTERNAL with TLS is accepted.
	text := strings.Replace(tlsBase(t), "auth = false\n", "auth = true\nha_username = \"ha\"\nha_mechanism = \"EXTERNAL\"\n", 1)
	_, files = render(t, text)
	wantLines(t, "qpidd-n1.conf", files["qpidd-n1.conf"], "\nha-mechanism=EXTERNAL\n")
}

// TestTotem: the opt-in totem settings go into the pcs cluster setup hint,
// in pcs 0.10+ syntax and pcs 0.9's.
func TestTotem(t *testing.T) {
	s, err := Parse("t.toml", []byte(edit(t, "name = \"t\"\n", "name = \"t\"\ntotem_token = 1000\ntotem_consensus = 1200\n")))
	if err != nil {
		t.Fatal(err)
	}
	script := string(s.PcsScript())
	for _, want := range []string{
		"#   pcs cluster setup t n1 addr=10.0.0.1 n2 addr=10.0.0.2 n3 addr=10.0.0.3 totem token=1000 consensus=1200\n",
		"#   pcs cluster setup --name t n1 n2 n3 --token 1000 --consensus 1200;\n",
		"# on a running cluster: pcs cluster config update totem token=1000 consensus=1200, then\n",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("pcs-setup.sh has no %q:\n%s", want, script)
		}
	}
	// The token alone: corosync computes consensus.
	s, err = Parse("t.toml", []byte(edit(t, "name = \"t\"\n", "name = \"t\"\ntotem_token = 600\n")))
	if err != nil {
		t.Fatal(err)
	}
	if script := string(s.PcsScript()); !strings.Contains(script, "addr=10.0.0.3 totem token=600\n") || strings.Contains(script, "consensus") {
		t.Errorf("token only:\n%s", script)
	}
	// Neither: no totem in the hint.
	s, err = Parse("t.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if script := string(s.PcsScript()); strings.Contains(script, "totem") || strings.Contains(script, "--token") {
		t.Errorf("no totem keys, but:\n%s", script)
	}
}
