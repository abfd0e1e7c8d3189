package qpidha

import (
	"bytes"
	"io"
	"maps"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/mgmt"
	"github.com/qpidha/qpidha/internal/mgmt/client"
)

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		status, expect string
		want           bool
	}{
		{"active", "primary", true}, {"recovering", "primary", true}, {"ready", "primary", false},
		{"joining", "backup", true}, {"catchup", "backup", true}, {"ready", "backup", true},
		{"active", "backup", false}, {"standalone", "backup", false}, {"standalone", "primary", false},
		{"ready", "ready", true}, {"ready", "READY", true}, {"ready", "active", false},
		{"standalone", "standalone", true},
	} {
		if got := matches(tc.status, tc.expect); got != tc.want {
			t.Errorf("matches(%q, %q) = %v", tc.status, tc.expect, got)
		}
	}
	for _, e := range []string{"primary", "Backup", "joining", "catchup", "ready", "recovering", "active", "standalone"} {
		if !validExpect(e) {
			t.Errorf("--expect=%s refused", e)
		}
	}
	for _, e := range []string{"", "up", "primaryy"} {
		if validExpect(e) {
			t.Errorf("--expect=%s accepted", e)
		}
	}
}

func TestPortsGiven(t *testing.T) {
	for in, want := range map[string][]bool{
		"localhost":                        {false},
		"localhost:5673":                   {true},
		"u/p@host":                         {false},
		"u/p@host:1":                       {true},
		"amqp:tcp:a:1,ssl:b,[::1],[::1]:2": {true, false, false, true},
		"amqp://u:p@host":                  {false},
		"amqp://u:p@host:5/x":              {true},
		"amqps://[::1]":                    {false},
	} {
		if got := client.PortsGiven(in); !reflect.DeepEqual(got, want) {
			t.Errorf("PortsGiven(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestAddressURL(t *testing.T) {
	a := client.Address{Host: "h", Port: 1}
	s := client.Address{TLS: true, Host: "::1", Port: 2}
	for _, tc := range []struct {
		a              client.Address
		user, password string
		want           string
	}{
		{a, "", "", "h:1"},
		{s, "", "", "ssl:[::1]:2"},
		{a, "u", "p/w:x", "u/p/w:x@h:1"},
		{a, "u", "p@w", "amqp://u:p@w@h:1"},
		{s, "u", "p@w", "amqps://u:p@w@[::1]:2"},
	} {
		got, err := addressURL(tc.a, tc.user, tc.password)
		if err != nil || got != tc.want {
			t.Errorf("addressURL(%v, %q, %q) = %q, %v; want %q", tc.a, tc.user, tc.password, got, err, tc.want)
			continue
		}
		// The URL carries the credentials and address back.
		target, err := client.ParseURL(got)
		if err != nil || target.User != tc.user || target.Password != tc.password || !reflect.DeepEqual(target.Addrs, []client.Address{tc.a}) {
			t.Errorf("ParseURL(%q) = %+v, %v", got, target, err)
		}
	}
	if _, err := addressURL(a, "u", "p@/w"); err == nil {
		t.Error("a password with both '@' and '/' cannot be carried")
	}
}

func qpidHA(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return qpidHAEnv(t, nil, args...)
}

func qpidHAEnv(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(args, env, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frob"}, `unknown command "frob"`},
		{[]string{"status", "--bogus"}, "no such option: --bogus"},
		{[]string{"status", "--expect"}, "--expect option requires an argument"},
		{[]string{"status", "--expect=up"}, "option --expect: invalid choice: 'up'"},
		{[]string{"status", "--expect=ready", "--is-primary"}, "--expect and --is-primary cannot be combined"},
		{[]string{"status", "--all", "--expect=ready"}, "--all cannot be combined with --expect"},
		{[]string{"query", "--is-primary"}, "option --is-primary is not an option of query"},
		{[]string{"ping", "x"}, `unexpected argument "x"`},
		{[]string{"replicate", "node1"}, "replicate needs <queue>"},
		{[]string{"replicate"}, "replicate needs <remote-broker> and <queue>"},
		{[]string{"status", "--timeout", "-1"}, "option --timeout: invalid value: '-1'"},
		{[]string{"status", "--timeout=soon"}, "option --timeout: invalid value: 'soon'"},
		{[]string{"status", "-b", "host:port"}, "option --broker: broker address"},
		{[]string{"status", "--ssl-key", "k"}, "missing '--ssl-certificate'"},
		{[]string{"status", "--all=maybe"}, "invalid"},
	} {
		code, out, errOut := qpidHA(t, tc.args...)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, "Usage: qpid-ha") || !strings.Contains(errOut, "qpid-ha: error: "+tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--help", "--bogus"}, {"-b", "-h", "--help"}} {
		code, out, _ := qpidHA(t, args...)
		if code != 0 || !strings.HasPrefix(out, generalUsage) || strings.Contains(out, "promote") {
			t.Fatalf("%q: exit %d\n%s", args, code, out)
		}
	}
	code, out, _ := qpidHA(t, "--cluster-manager", "--help")
	if code != 0 || !strings.Contains(out, "  promote      [Cluster manager only] Promote a backup broker to primary.\n") {
		t.Fatalf("--cluster-manager --help: exit %d\n%s", code, out)
	}
	code, out, _ = qpidHA(t, "help-all")
	if code != 0 || strings.Contains(out, "promote") || strings.Count(out, "Usage: qpid-ha") != 4 {
		t.Fatalf("help-all: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"status", "--help"}, {"help", "status"}} {
		code, out, _ = qpidHA(t, args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: qpid-ha [OPTIONS] status [--expect=<status>] [--is-primary] [--all] [--json] [--verbose]\n") {
			t.Fatalf("%q: exit %d\n%s", args, code, out)
		}
		for _, f := range flags() {
			if f.Names()[0] == optDryRun {
				continue // promote's
			}
			if !strings.Contains(out, dashes(f.Names()[0])) {
				t.Errorf("status --help does not mention %s", dashes(f.Names()[0]))
			}
		}
	}
	code, out, _ = qpidHA(t, "ping", "--help")
	if code != 0 || strings.Contains(out, "--expect") || !strings.Contains(out, "--timeout") {
		t.Fatalf("ping --help: exit %d\n%s", code, out)
	}
	code, out, _ = qpidHA(t, "--cluster-manager", "promote", "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: qpid-ha --cluster-manager [OPTIONS] promote [--dry-run]\n") || !strings.Contains(out, "--dry-run") {
		t.Fatalf("--cluster-manager promote --help: exit %d\n%s", code, out)
	}
	code, out, errOut := qpidHA(t, "promote", "--help")
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "Error: 'promote' should only be called by the cluster manager.") {
		t.Fatalf("promote --help without --cluster-manager: exit %d %q %q", code, out, errOut)
	}
}

func TestPromoteNeedsClusterManager(t *testing.T) {
	// Refused before connecting: no broker is needed to see it.
	for _, args := range [][]string{{"promote"}, {"promote", "-b", "127.0.0.1:1"}, {"--cluster-manager=false", "promote"}} {
		code, out, errOut := qpidHA(t, args...)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 ||
			!strings.Contains(errOut, "should only be called by the cluster manager") || !strings.Contains(errOut, "qpid-ha --cluster-manager promote") {
			t.Fatalf("%q: exit %d %q %q", args, code, out, errOut)
		}
	}
}

// fakeHA is the HA management type of an in-process broker.
type fakeHA struct {
	mu         sync.Mutex
	status     map[string]any
	delay      time.Duration // before answering READ: a hung broker
	replicate  bool          // REPLICATE is implemented
	lastAttrs  map[string]any
	promoteErr string
}

func (f *fakeHA) operations() mgmt.Operations {
	ops := mgmt.Operations{
		"READ": func(*mgmt.Request) mgmt.Response {
			f.mu.Lock()
			delay := f.delay
			f.mu.Unlock()
			time.Sleep(delay)
			f.mu.Lock()
			defer f.mu.Unlock()
			return mgmt.OK(maps.Clone(f.status))
		},
		"PROMOTE": func(*mgmt.Request) mgmt.Response {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.promoteErr != "" {
				return mgmt.Errorf(mgmt.StatusConflict, "%s", f.promoteErr)
			}
			f.status["status"] = "recovering"
			return mgmt.OK(maps.Clone(f.status))
		},
	}
	if f.replicate {
		ops["REPLICATE"] = func(req *mgmt.Request) mgmt.Response {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.lastAttrs = req.Attributes
			return mgmt.Created("replicating queue q from node1", map[string]any{"queue": req.Attributes["queue"]})
		}
	}
	return ops
}

// set changes the fake under its lock.
func (f *fakeHA) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

// serve starts an in-process broker; with ha, it has the HA type.
func serve(t *testing.T, ha *fakeHA) string {
	t.Helper()
	b, err := broker.New(broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	agent := mgmt.NewAgent(mgmt.Config{Broker: b, Name: "b-" + t.Name()})
	if ha != nil {
		agent.Register(haBrokerType, ha.operations())
	}
	s := amqpserver.New(amqpserver.Config{Broker: b, Log: log, Management: agent})
	agent.SetServer(s)
	addr, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(5 * time.Second) })
	return addr.String()
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestAgainstServer(t *testing.T) {
	down := closedPort(t)
	ha := &fakeHA{replicate: true, status: map[string]any{
		"status": "ready", "brokerId": "id-1", "replicate": "all", "publicUrl": "amqp:tcp:vip:5672",
		"inReadySet": true, "position": "3.1042",
	}}
	addr := serve(t, ha)
	ha.set(func() { ha.status["brokersUrl"] = addr + "," + down })
	run := func(args ...string) (int, string, string) {
		return qpidHA(t, append(args, "-b", addr, "--timeout", "5")...)
	}
	if code, out, errOut := run("status"); code != 0 || out != "ready\n" || errOut != "" {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run("status", "--all"); code != 0 || !strings.HasPrefix(out, addr+" ready\n"+down+" cannot connect: connection refused") {
		t.Fatalf("status --all: %d %q", code, out)
	}
	code, out, _ := run("query")
	wantQuery := "Status:              ready\nBroker ID:           id-1\nBrokers URL:         " + addr + "," + down +
		"\nPublic URL:          amqp:tcp:vip:5672\nReplicate:           all\nIn ready set:        yes\nPosition:            3.1042\n"
	if code != 0 || out != wantQuery {
		t.Fatalf("query: %d\n%s\nwant\n%s", code, out, wantQuery)
	}
	code, out, _ = run("query", "--all")
	if code != 0 || out != "Address:             "+addr+"\n"+wantQuery+"\n"+down+" cannot connect: connection refused\n\n" {
		t.Fatalf("query --all: %d\n%q", code, out)
	}
	if code, out, errOut := run("status", "--expect=backup"); code != 0 || out != "" || errOut != "" {
		t.Fatalf("--expect=backup on ready: %d %q %q", code, out, errOut)
	}
	if code, out, errOut := run("status", "--is-primary"); code != 1 || out != "" || errOut != "" {
		t.Fatalf("--is-primary on ready: %d %q %q", code, out, errOut)
	}

	code, out, errOut := run("replicate", "node1", "q")
	if code != 0 || out != "replicating queue q from node1\nqueue:               q\n" || errOut != "" {
		t.Fatalf("replicate: %d %q %q", code, out, errOut)
	}
	var last map[string]any
	ha.set(func() { last = ha.lastAttrs })
	if !reflect.DeepEqual(last, map[string]any{"remote": "node1", "queue": "q"}) {
		t.Fatalf("REPLICATE attributes %v", last)
	}

	ha.set(func() { ha.promoteErr = "Still catching up, cannot be promoted" })
	code, _, errOut = run("--cluster-manager", "promote")
	if code != 1 || errOut != "Error: the broker at "+addr+" refused to be promoted: Still catching up, cannot be promoted\n" {
		t.Fatalf("refused promote: %d %q", code, errOut)
	}
	ha.set(func() { ha.promoteErr = "" })
	if code, out, errOut := run("--cluster-manager", "promote"); code != 0 || out != "" || errOut != "" {
		t.Fatalf("promote: %d %q %q", code, out, errOut)
	}
	if code, _, _ := run("status", "--expect=primary"); code != 0 {
		t.Fatal("promoted broker is not primary")
	}

	// A broker that hangs after the connection is open: the timeout still holds.
	ha.set(func() { ha.delay = 3 * time.Second })
	start := time.Now()
	code, _, errOut = qpidHA(t, "status", "-b", addr, "--timeout", "0.5")
	if took := time.Since(start); code != 1 || !strings.Contains(errOut, "no answer within 500ms") || took > 2*time.Second {
		t.Fatalf("status on a hung broker: %d %q after %v", code, errOut, took)
	}
}

func TestReplicateUnsupported(t *testing.T) {
	addr := serve(t, &fakeHA{status: map[string]any{"status": "active"}})
	code, out, errOut := qpidHA(t, "replicate", "node1", "q", "-b", addr)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "Error: the broker at "+addr+" does not support replicate: operation REPLICATE is not supported") {
		t.Fatalf("replicate (501): %d %q %q", code, out, errOut)
	}
	addr = serve(t, nil)
	code, _, errOut = qpidHA(t, "replicate", "node1", "q", "-b", addr)
	if code != 1 || !strings.Contains(errOut, "it has no HA module") {
		t.Fatalf("replicate (404): %d %q", code, errOut)
	}
	code, out, _ = qpidHA(t, "status", "-b", addr)
	if code != 0 || out != "standalone\n" {
		t.Fatalf("status without the HA module: %d %q", code, out)
	}
	code, out, _ = qpidHA(t, "query", "-b", addr)
	if code != 0 || !strings.HasPrefix(out, "Status:              standalone\nBroker ID:           b-TestReplicateUnsupported\n") {
		t.Fatalf("query without the HA module: %d %q", code, out)
	}
}

func TestConfigFile(t *testing.T) {
	addr := serve(t, nil)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := dir + "/qpidd.conf"
	write := func(text string) {
		t.Helper()
		if err := writeFile(conf, text); err != nil {
			t.Fatal(err)
		}
	}
	write("port=" + port + "\nlink-heartbeat-interval=7\n")
	if code, out, errOut := qpidHA(t, "status", "--config", conf, "-b", "127.0.0.1"); code != 0 || out != "standalone\n" {
		t.Fatalf("--config port: %d %q %q", code, out, errOut)
	}
	// ha-mechanism, here one this broker (auth=no) does not offer.
	write("port=" + port + "\nha-username=admin\nha-password=secret\nha-mechanism=SCRAM-SHA-256\n")
	code, _, errOut := qpidHA(t, "ping", "--config", conf, "-b", "127.0.0.1")
	if code != 1 || !strings.Contains(errOut, "the broker does not offer the SASL mechanism this client asked for, SCRAM-SHA-256 (it offers ANONYMOUS)") {
		t.Fatalf("ha-mechanism=SCRAM-SHA-256: %d %q", code, errOut)
	}
	// Command-line options win, the environment overrides the file.
	if code, _, errOut := qpidHA(t, "ping", "--config", conf, "-b", "127.0.0.1", "--sasl-mechanism", "ANONYMOUS"); code != 0 {
		t.Fatalf("--sasl-mechanism over ha-mechanism: %d %q", code, errOut)
	}
	if code, _, errOut := qpidHAEnv(t, []string{"QPID_HA_MECHANISM=ANONYMOUS"}, "ping", "--config", conf, "-b", "127.0.0.1"); code != 0 {
		t.Fatalf("QPID_HA_MECHANISM over ha-mechanism: %d %q", code, errOut)
	}
	write("bogus-option=1\n")
	if code, _, errOut := qpidHA(t, "ping", "--config", conf); code != 1 || !strings.Contains(errOut, `unknown option "bogus-option"`) {
		t.Fatalf("bad config file: %d %q", code, errOut)
	}
}

func TestConnectionSettings(t *testing.T) {
	dir := t.TempDir()
	conf := dir + "/qpidd.conf"
	if err := writeFile(conf, "port=6000\nssl-port=6001\nlink-heartbeat-interval=3\nha-username=ha\nha-password=pw\nha-mechanism=PLAIN\n"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args, env  []string
		addrs      string
		user, mech string
		timeout    time.Duration
	}{
		{args: nil, addrs: "localhost:5672", timeout: 10 * time.Second},
		{args: []string{"--config", conf}, addrs: "localhost:6000", user: "ha", mech: "PLAIN", timeout: 3 * time.Second},
		{args: []string{"--config", conf, "-b", "x/y@h,ssl:s,h2:7"}, addrs: "h:6000,s:6001,h2:7", user: "x", mech: "PLAIN", timeout: 3 * time.Second},
		{args: []string{"--config", conf, "--timeout", "0"}, addrs: "localhost:6000", user: "ha", mech: "PLAIN"},
		{args: []string{"--config", conf, "--sasl-mechanism", "ANONYMOUS"}, env: []string{"QPID_PORT=6100", "QPID_LINK_HEARTBEAT_INTERVAL=0.5"},
			addrs: "localhost:6100", user: "ha", mech: "ANONYMOUS", timeout: 500 * time.Millisecond},
		{args: []string{"-b", "amqp://u:p@h", "--timeout", "2.5"}, addrs: "h:5672", user: "u", timeout: 2500 * time.Millisecond},
		{args: []string{"--config", conf}, env: []string{"QPID_AUTH=no"}, addrs: "localhost:6000", timeout: 3 * time.Second},
	} {
		got := probeSettings(t, tc.args, tc.env)
		var addrs []string
		for _, a := range got.addrs {
			addrs = append(addrs, a.HostPort())
		}
		if strings.Join(addrs, ",") != tc.addrs || got.user != tc.user || got.opts.Mechanism != tc.mech ||
			got.timeout != tc.timeout || got.opts.Timeout != tc.timeout || !got.opts.Admin {
			t.Errorf("%q %q: addrs %v user %q mech %q timeout %v admin %v", tc.args, tc.env, addrs, got.user, got.opts.Mechanism, got.timeout, got.opts.Admin)
		}
	}
}

// probeSettings parses a command line as `ping` would and returns its
// connection settings, without connecting.
func probeSettings(t *testing.T, args, env []string) *settings {
	t.Helper()
	var got *settings
	err := runArgs(append([]string{"ping"}, args...), env, io.Discard, func(inv *invocation) error {
		got = inv.conn
		return nil
	})
	if err != nil || got == nil {
		t.Fatalf("%q: %v", args, err)
	}
	return got
}

func writeFile(path, text string) error {
	return os.WriteFile(path, []byte(text), 0o644)
}

// A backup whose store does not keep up says so: in query, a Store: line;
// in status --all, a line of its own under the broker's.
func TestStoreHealthShown(t *testing.T) {
	st := &haStatus{Status: "ready", BrokerID: "b", StoreHealth: "the store's disk is full"}
	var q bytes.Buffer
	writeQuery(&q, st)
	if !strings.Contains(q.String(), "\nStore:               the store's disk is full\n") {
		t.Fatalf("query:\n%s", q.String())
	}
	var s bytes.Buffer
	writeStatusLine(&s, "node2:5672", st, nil)
	writeStatusLine(&s, "node3:5672", &haStatus{Status: "ready", StoreHealth: "ok"}, nil)
	if want := "node2:5672 ready\n  store: the store's disk is full\nnode3:5672 ready\n"; s.String() != want {
		t.Fatalf("status --all: %q, want %q", s.String(), want)
	}
}
