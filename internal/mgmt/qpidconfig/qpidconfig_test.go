package qpidconfig

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	amqpmessage "github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/mgmt"
	"github.com/qpidha/qpidha/internal/mgmt/client"
)

func TestReorder(t *testing.T) {
	fl := flags()
	for _, tc := range []struct{ in, want string }{
		{"add queue q --durable", "--durable -- add queue q"},
		{"-b host:1 add queue q", "-b host:1 -- add queue q"},
		{"add queue q --max-queue-count 5 --durable --replicate all", "--max-queue-count 5 --durable --replicate all -- add queue q"},
		{"add queue q --argument a=1 --argument=b=2", "--argument a=1 --argument=b=2 -- add queue q"},
		{"bind amq.match q k all a=1 -b h", "-b h -- bind amq.match q k all a=1"},
		{"queues -r", "-r -- queues"},
		{"bind x q -f -", "-f - -- bind x q"},
		{"add queue -- --odd-name", "-- add queue --odd-name"},
		{"add queue q --bogus value", "--bogus -- add queue q value"},
		{"", "--"},
	} {
		args, err := Reorder(strings.Fields(tc.in), fl)
		if err != nil {
			t.Fatalf("Reorder(%q): %v", tc.in, err)
		}
		got := strings.Join(args, " ")
		if got != tc.want {
			t.Errorf("Reorder(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReorderMissingValue(t *testing.T) {
	if _, err := Reorder([]string{"add", "queue", "q", "-t"}, flags()); err == nil || err.Error() != "-t option requires an argument" {
		t.Fatalf("got %v", err)
	}
}

func TestFlagError(t *testing.T) {
	for in, want := range map[string]string{
		"flag provided but not defined: -bogus":                                      "no such option: --bogus",
		"flag provided but not defined: -x":                                          "no such option: -x",
		`invalid value "ten" for flag -max-queue-count: parse error`:                 "option --max-queue-count: invalid integer value: 'ten'",
		"flag needs an argument: -broker":                                            "--broker option requires an argument",
		"something else":                                                             "something else",
		`invalid value "1.5" for flag -file-count: strconv.ParseInt: invalid syntax`: "option --file-count: invalid integer value: '1.5'",
	} {
		if got := flagError(errorString(in)); got != want {
			t.Errorf("flagError(%q) = %q, want %q", in, got, want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestArgValueAndHeaderMatch(t *testing.T) {
	for in, want := range map[string][2]any{"a=1": {"a", int64(1)}, "b=x": {"b", "x"}, "c": {"c", nil}, "d=": {"d", ""}, "e=1=2": {"e", "1=2"}} {
		k, v := argValue(in)
		if k != want[0] || v != want[1] {
			t.Errorf("argValue(%q) = %q, %#v", in, k, v)
		}
	}
	m, err := headerMatch([]string{"any", "a=1", "b=two,", ","})
	if err != nil || !reflect.DeepEqual(m, map[string]any{"x-match": "any", "a": "1", "b": "two"}) {
		t.Fatalf("headerMatch: %v, %v", m, err)
	}
	for _, bad := range [][]string{{"all"}, {"some", "a=1"}, {"all", "novalue"}} {
		if _, err := headerMatch(bad); err == nil {
			t.Errorf("headerMatch(%q) accepted", bad)
		}
	}
}

var sampleQueues = []client.Object{
	{"name": "q1", "durable": true, "autoDelete": false, "exclusive": false, "alternateExchange": "amq.fanout",
		"arguments": map[string]any{"qpid.replicate": "all", "qpid.max_count": int64(10), "qpid.policy_type": "ring_strict", "x-extra": "v", "durable": true}},
	{"name": "a-much-longer-queue-name", "durable": false, "autoDelete": true, "exclusive": true, "arguments": map[string]any{}},
}

func TestWriteQueues(t *testing.T) {
	var b bytes.Buffer
	if !writeQueues(&b, sampleQueues, "") {
		t.Fatal("nothing written")
	}
	want := `Queue Name                Attributes
=============================================
q1                        --durable --replicate=all --max-queue-count=10 --limit-policy=ring-strict --alternate-exchange=amq.fanout --argument x-extra=v
a-much-longer-queue-name  auto-del excl
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if !writeQueues(&b, sampleQueues, "q1") || strings.Contains(b.String(), "longer") {
		t.Fatalf("filter: %s", b.String())
	}
	if writeQueues(&b, sampleQueues, "zzz") {
		t.Fatal("a filter matching nothing wrote a table")
	}
}

var sampleExchanges = []client.Object{
	{"name": "", "type": "direct", "durable": true},
	{"name": "amq.direct", "type": "direct", "durable": true},
	{"name": "t", "type": "topic", "durable": false, "alternateExchange": "amq.direct",
		"arguments": map[string]any{"qpid.replicate": "configuration", "qpid.msg_sequence": int64(1), "other": int64(7)}},
}

func TestWriteExchanges(t *testing.T) {
	var b bytes.Buffer
	writeExchanges(&b, sampleExchanges, "", false)
	want := `Type      Exchange Name  Attributes
=============================================
direct                   --durable
direct    amq.direct     --durable
topic     t              --replicate=configuration --sequence --alternate-exchange=amq.direct --argument other=7
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	writeExchanges(&b, sampleExchanges, "", true)
	if strings.Count(b.String(), "\n") != 4 {
		t.Fatalf("--ignore-default:\n%s", b.String())
	}
}

func TestWriteRecursive(t *testing.T) {
	bindings := withDefaultBindings([]client.Object{
		{"exchange": "t", "queue": "q1", "key": "a.#", "arguments": map[string]any{}},
		{"exchange": "amq.match", "queue": "q1", "key": "k", "arguments": map[string]any{"x-match": "all", "a": "1"}},
	}, sampleQueues[:1])
	var b bytes.Buffer
	writeExchangesRecursive(&b, append(sampleExchanges, client.Object{"name": "amq.match", "type": "headers"}), bindings, "", false)
	want := `Exchange '' (direct)
    bind [q1] => q1
Exchange 'amq.direct' (direct)
Exchange 't' (topic)
    bind [a.#] => q1
Exchange 'amq.match' (headers)
    bind [k] => q1 {'a': '1', 'x-match': 'all'}
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	writeQueuesRecursive(&b, sampleQueues, bindings, "", false)
	want = `Queue 'q1'
    bind [q1] => ''
    bind [a.#] => t
    bind [k] => amq.match {'a': '1', 'x-match': 'all'}
Queue 'a-much-longer-queue-name'
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	writeQueuesRecursive(&b, sampleQueues, bindings, "q1", true)
	if strings.Contains(b.String(), "''") || strings.Contains(b.String(), "longer") {
		t.Fatalf("filtered, ignoring the default exchange:\n%s", b.String())
	}
}

func TestWriteOverview(t *testing.T) {
	var b bytes.Buffer
	writeOverview(&b, append(sampleExchanges, client.Object{"name": "x", "type": "fanout"}), sampleQueues)
	want := `Total Exchanges: 4
         direct: 2
          topic: 1
         fanout: 1

   Total Queues: 2
        durable: 1
    non-durable: 1
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteObjectList(t *testing.T) {
	var b bytes.Buffer
	writeObjectList(&b, "queue", sampleQueues, nil, defaultProperties["queue"])
	want := `Objects of type 'queue'
  name                      durable  autoDelete
  ===============================================
  q1                        True     False
  a-much-longer-queue-name  False    True
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	opened := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	writeObjectList(&b, "thing", []client.Object{{"name": "n", "when": opened, "size": int64(3)}}, []string{"when", "nope"}, nil)
	want = `Warning: No such property 'nope' for type 'thing'
Objects of type 'thing'
  when
  =====================
  2024-05-06 07:08:09
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	writeObjectList(&b, "thing", nil, nil, nil)
	if b.String() != "Objects of type 'thing'\n" {
		t.Fatalf("empty list: %q", b.String())
	}
}

// message is a small message for a queue.
func message(t *testing.T) *amqpmessage.Message {
	t.Helper()
	b := types.AppendString(types.AppendDescriptor(nil, types.DescriptorAMQPValue), "hello")
	m, err := amqpmessage.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// qpidConfig runs qpid-config and returns its exit status, stdout and stderr.
func qpidConfig(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"add", "queue"}, "add queue needs a queue name"},
		{[]string{"add", "exchange", "direct"}, "add exchange needs a type and a name"},
		{[]string{"add"}, "add needs a type and a name"},
		{[]string{"del", "queue"}, "del queue needs a queue name"},
		{[]string{"del", "exchange"}, "del exchange needs an exchange name"},
		{[]string{"bind", "x"}, "bind needs an exchange and a queue"},
		{[]string{"unbind"}, "unbind needs an exchange and a queue"},
		{[]string{"list"}, "list needs a type"},
		{[]string{"queues", "--bogus"}, "no such option: --bogus"},
		{[]string{"add", "queue", "q", "--max-queue-count", "many"}, "option --max-queue-count: invalid integer value: 'many'"},
		{[]string{"add", "queue", "q", "--limit-policy", "flow"}, "option --limit-policy: invalid choice: 'flow'"},
		{[]string{"queues", "-t", "soon"}, "option --timeout: invalid value: 'soon'"},
		{[]string{"queues", "-b"}, "-b option requires an argument"},
		{[]string{"queues", "--ssl-key", "k"}, "missing '--ssl-certificate'"},
	} {
		code, out, errOut := qpidConfig(t, tc.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "qpid-config: error: "+tc.want) || !strings.HasPrefix(errOut, "Usage:  qpid-config") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := qpidConfig(t, "add", "queue", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, f := range flags() {
		for _, n := range f.Names() {
			if !strings.Contains(out, dashes(n)) {
				t.Errorf("help does not mention %s", dashes(n))
			}
		}
	}
	for _, cmd := range []string{"exchanges", "queues", "add exchange", "del exchange", "add queue", "del queue", "bind", "unbind", "list"} {
		if !strings.Contains(out, "qpid-config [OPTIONS] "+cmd) {
			t.Errorf("help does not show the command %q", cmd)
		}
	}
}

func TestFailures(t *testing.T) {
	code, _, errOut := qpidConfig(t, "-b", "127.0.0.1:1", "queues")
	if code != 1 || !strings.HasPrefix(errOut, "Error: cannot connect to 127.0.0.1:1: connection refused") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	code, _, errOut = qpidConfig(t, "add", "queue", "q", "--replicate", "most")
	if code != 1 || errOut != "Error: Invalid replication level 'most', should be one of: none, configuration, all\n" {
		t.Fatalf("exit %d, %q", code, errOut)
	}
	code, _, errOut = qpidConfig(t, "--sasl-mechanism", "DIGEST-MD5", "-b", "127.0.0.1:1", "queues")
	if code != 1 || !strings.Contains(errOut, "SASL mechanism DIGEST-MD5 is not supported by this tool") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

// TestAgainstServer runs commands against an in-process broker.
func TestAgainstServer(t *testing.T) {
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	agent := mgmt.NewAgent(mgmt.Config{Broker: b, Name: "b"})
	s := amqpserver.New(amqpserver.Config{Broker: b, Log: log, Management: agent})
	agent.SetServer(s)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	qc := func(args ...string) (int, string, string) {
		return qpidConfig(t, append(args, "-b", addr.String(), "-t", "5")...)
	}
	if code, out, errOut := qc("queues"); code != 1 || out != "" || errOut != "Error: no queues\n" {
		t.Fatalf("queues of an empty broker (the reply queue is hidden): %d %q %q", code, out, errOut)
	}
	if code, _, errOut := qc("add", "queue", "q", "--durable", "--replicate", "all", "--max-queue-count", "3", "--limit-policy", "reject"); code != 0 {
		t.Fatalf("add queue: %d %q", code, errOut)
	}
	if s := b.Queue("q").Settings(); !s.Durable || s.MaxCount != 3 || s.Args["qpid.replicate"] != "all" {
		t.Fatalf("settings %+v", s)
	}
	code, out, _ := qc("queues")
	if code != 0 || !strings.Contains(out, "q           --durable --replicate=all --max-queue-count=3 --limit-policy=reject\n") {
		t.Fatalf("queues: %d\n%s", code, out)
	}
	if _, err := b.Queue("q").Enqueue(message(t)); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := qc("del", "queue", "q")
	if code != 1 || errOut != "Error: queue \"q\" is not empty: it holds 1 message (--force deletes it anyway)\n" {
		t.Fatalf("del queue: %d %q", code, errOut)
	}
	if code, _, errOut := qc("del", "queue", "q", "--force-if-not-empty"); code != 0 {
		t.Fatalf("del queue --force-if-not-empty: %d %q", code, errOut)
	}
	if code, _, errOut := qc("del", "queue", "q"); code != 1 || errOut != "Error: queue \"q\" not found\n" {
		t.Fatalf("del of a deleted queue: %d %q", code, errOut)
	}
}

func TestConfigFile(t *testing.T) {
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	agent := mgmt.NewAgent(mgmt.Config{Broker: b, Name: "b"})
	s := amqpserver.New(amqpserver.Config{Broker: b, Log: log, Management: agent})
	agent.SetServer(s)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	_, port, _ := net.SplitHostPort(addr.String())
	dir := t.TempDir()
	conf := filepath.Join(dir, "qpidd.conf")
	// TLS files that do not exist: only a TLS connection would read them.
	text := "port=" + port + "\nauth=no\nssl-ca-file=" + dir + "/ca.pem\nssl-cert-file=" + dir + "/c.pem\nssl-key-file=" + dir + "/k.pem\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := qpidConfig(t, "--config", conf, "add", "queue", "q"); code != 0 {
		t.Fatalf("--config's port: %d %q", code, errOut)
	}
	if code, _, errOut := qpidConfig(t, "--config", conf, "-b", "localhost", "queues"); code != 0 {
		t.Fatalf("--config's port for -b without one: %d %q", code, errOut)
	}
	if code, _, errOut := qpidConfig(t, "--config", conf, "-b", "127.0.0.1:1", "queues"); code != 1 || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("-b's port wins: %d %q", code, errOut)
	}
	code, _, errOut := qpidConfig(t, "--config", conf, "-b", "ssl:127.0.0.1:1", "queues")
	if code != 1 || !strings.Contains(errOut, "connection refused") {
		t.Fatalf("ssl: to a closed port: %d %q", code, errOut)
	}
	if code, _, errOut := qpidConfig(t, "--ssl-ca-file", dir+"/ca.pem", "-b", addr.String(), "queues"); code != 1 || !strings.Contains(errOut, "ca.pem") {
		t.Fatalf("a missing --ssl-ca-file: %d %q", code, errOut)
	}
	// A broker with listen-disable=tcp is reached at ssl:localhost and its
	// ssl-port (here a closed one), not at the plain port that answers.
	if err := os.WriteFile(conf, []byte(text+"listen-disable=tcp\nssl-port=1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := qpidConfig(t, "--config", conf, "queues"); code != 1 || !strings.Contains(errOut, "localhost:1:") {
		t.Fatalf("an SSL-only broker of --config: %d %q", code, errOut)
	}
	// With auth=yes, ha-username and ha-mechanism are used.
	if err := os.WriteFile(conf, []byte("port="+port+"\nauth=yes\nha-username=admin\nha-password=x\nha-mechanism=SCRAM-SHA-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = qpidConfig(t, "--config", conf, "queues")
	if code != 1 || !strings.Contains(errOut, "does not offer the SASL mechanism this client asked for, SCRAM-SHA-256 (it offers ANONYMOUS)") {
		t.Fatalf("ha-mechanism: %d %q", code, errOut)
	}
	if code, _, errOut := qpidConfig(t, "--config", filepath.Join(dir, "none.conf"), "queues"); code != 1 || !strings.Contains(errOut, "--config") {
		t.Fatalf("a missing --config: %d %q", code, errOut)
	}
}
