package acl

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *ACL {
	t.Helper()
	a, err := Parse(strings.NewReader(text), "test.acl")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return a
}

func TestLoadRealisticFile(t *testing.T) {
	a, err := Load("testdata/qpidd.acl")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "testdata/qpidd.acl" {
		t.Errorf("Name = %q", a.Name())
	}
	if w := a.Warnings(); len(w) != 0 {
		t.Errorf("unexpected warnings:\n%s", strings.Join(w, "\n"))
	}
	names, members := a.Groups()
	wantNames := []string{"admin", "ha-brokers", "user-consume", "group2", "publisher", "blocked"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("groups %v, want %v", names, wantNames)
	}
	wantMembers := map[string][]string{
		"admin":        {"ted@QPID", "martin@QPID"},
		"ha-brokers":   {"qpid-ha@QPID"},
		"user-consume": {"martin@QPID", "ted@QPID"},
		"group2":       {"kim@QPID", "martin@QPID", "ted@QPID", "rob@QPID"},
		"publisher":    {"kim@QPID", "martin@QPID", "ted@QPID", "rob@QPID", "tom@QPID", "andrew@QPID", "debbie@QPID"},
		"blocked":      {"mallory@EVIL.ORG", "host/intruder.example.com@EVIL.ORG"},
	}
	if !reflect.DeepEqual(members, wantMembers) {
		t.Errorf("members\n%v\nwant\n%v", members, wantMembers)
	}
	d := a.Default()
	if d.Permission != Deny || !d.Default || d.Line == 0 || d.Text != "acl deny all all" {
		t.Errorf("default %+v", d)
	}
	if !a.HasPublishRules() {
		t.Error("HasPublishRules false")
	}

	type c struct {
		user   string
		action Action
		object Object
		props  map[Property]string
		want   Permission // of the deciding rule
		allow  bool
		line   string // text of the deciding rule
	}
	cases := []c{
		// The HA rule.
		{"qpid-ha@QPID", ActCreate, ObjLink, nil, Allow, true, "acl allow qpid-ha@QPID all all"},
		{"qpid-ha@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "q", PropDurable: "true"}, Allow, true, "acl allow qpid-ha@QPID all all"},
		{"qpid-ha@QPID", ActDelete, ObjExchange, map[Property]string{PropName: "x"}, Allow, true, "acl allow qpid-ha@QPID all all"},
		// Admins, through the group.
		{"ted@QPID", ActPurge, ObjQueue, map[Property]string{PropName: "q"}, AllowLog, true, "acl allow-log admin all all"},
		{"martin@QPID", ActUpdate, ObjBroker, nil, AllowLog, true, "acl allow-log admin all all"},
		// Blocked users.
		{"mallory@EVIL.ORG", ActConsume, ObjQueue, map[Property]string{PropName: "q"}, DenyLog, false, "acl deny-log blocked all all"},
		// Per-queue rules with name wildcards, specific before general.
		{"carlt@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "carl.secret"}, Deny, false, "acl deny carlt@QPID create queue name=carl.secret"},
		{"carlt@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "carl.public"}, Allow, true, "acl allow carlt@QPID create queue name=carl.*"},
		{"carlt@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "carlq"}, Deny, false, "acl deny all all"},
		{"carlt@QPID", ActCreate, ObjExchange, map[Property]string{PropName: "carl.x", PropType: "topic"}, Allow, true, "acl allow carlt@QPID create exchange name=carl.*"},
		{"rob@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "anything"}, Allow, true, "acl allow rob@QPID create queue"},
		{"kim@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "RequestQueue"}, Allow, true, "acl allow publisher create queue name=RequestQueue"},
		{"kim@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "other"}, Deny, false, "acl deny all all"},
		{"fred@QPID", ActCreate, ObjExchange, map[Property]string{PropName: "e"}, Allow, true, "acl allow fred@QPID create all"},
		{"fred@QPID", ActDelete, ObjExchange, map[Property]string{PropName: "e"}, Deny, false, "acl deny all all"},
		{"bob@QPID", ActDelete, ObjQueue, map[Property]string{PropName: "q"}, Allow, true, "acl allow bob@QPID all queue"},
		{"bob@QPID", ActDelete, ObjExchange, map[Property]string{PropName: "q"}, Deny, false, "acl deny all all"},
		// Routing keys with topic wildcards.
		{"guest@QPID", ActBind, ObjExchange, map[Property]string{PropName: "amq.topic", PropQueueName: "q", PropRoutingKey: "stocks.rht.nyse.#"}, Allow, true, "acl allow guest@QPID bind exchange name=amq.topic routingkey=stocks.rht.#"},
		{"guest@QPID", ActBind, ObjExchange, map[Property]string{PropName: "amq.topic", PropQueueName: "q", PropRoutingKey: "stocks.ibm"}, Deny, false, "acl deny all all"},
		{"guest@QPID", ActPublish, ObjExchange, map[Property]string{PropName: "amq.topic", PropRoutingKey: "stocks.rht.quote"}, AllowLog, true, "acl allow-log guest@QPID publish exchange name=amq.topic routingkey=stocks.*.quote"},
		{"guest@QPID", ActPublish, ObjExchange, map[Property]string{PropName: "amq.topic", PropRoutingKey: "stocks.rht.nyse.quote"}, Deny, false, "acl deny all all"},
		{"tom@QPID", ActPublish, ObjExchange, map[Property]string{PropName: "amq.topic", PropRoutingKey: "a.secret.b"}, DenyLog, false, "acl deny-log all publish exchange name=amq.topic routingkey=#.secret.#"},
		{"tom@QPID", ActPublish, ObjExchange, map[Property]string{PropName: "", PropRoutingKey: "RequestQueue"}, Allow, true, "acl allow publisher publish exchange name=amq.default routingkey=RequestQueue"},
		{"tom@QPID", ActPublish, ObjExchange, map[Property]string{PropName: "amq.default", PropRoutingKey: "RequestQueue"}, Deny, false, "acl deny all all"},
		// Substitution.
		{"zoe@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "zoe-work"}, Allow, true, "acl allow all create queue name=${user}-work"},
		{"zoe@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "yan-work"}, Deny, false, "acl deny all all"},
		{"zoe@QPID", ActPublish, ObjExchange, map[Property]string{PropName: "amq.direct", PropRoutingKey: "zoe.news"}, Allow, true, "acl allow all publish exchange name=amq.direct routingkey=${user}.#"},
		{"zoe@QPID", ActPublish, ObjExchange, map[Property]string{PropName: "amq.direct", PropRoutingKey: "yan.news"}, Deny, false, "acl deny all all"},
		// Limits.
		{"zoe@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "big.1", PropMaxQueueSize: "1000"}, Allow, true, "acl allow all create queue name=big.* queuemaxsizeupperlimit=1048576"},
		{"zoe@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "big.1", PropMaxQueueSize: "2000000"}, Allow, false, "acl allow all create queue name=big.* queuemaxsizeupperlimit=1048576"},
		// Management.
		{"guest@QPID", ActCreate, ObjLink, nil, DenyLog, false, "acl deny-log guest@QPID create link"},
		{"guest@QPID", ActAccess, ObjMethod, map[Property]string{PropName: "connect", PropSchemaPackage: "org.apache.qpid.broker", PropSchemaClass: "broker"}, DenyLog, false, "acl deny-log guest@QPID access method name=connect"},
		{"guest@QPID", ActAccess, ObjMethod, map[Property]string{PropName: "getLogLevel", PropSchemaPackage: "org.apache.qpid.broker", PropSchemaClass: "broker"}, Allow, true, "acl allow all access method name=get*"},
		{"anonymous", ActAccess, ObjQuery, map[Property]string{PropName: "queue", PropSchemaClass: "queue"}, Allow, true, "acl allow all access query"},
		{"anonymous", ActConsume, ObjQueue, map[Property]string{PropName: "q"}, Allow, true, "acl allow all consume queue"},
		{"anonymous", ActCreate, ObjLink, nil, Deny, false, "acl deny all all"},
	}
	for _, tc := range cases {
		allowed, r := a.Allowed(tc.user, tc.action, tc.object, tc.props)
		if allowed != tc.allow || r.Permission != tc.want || r.Text != tc.line {
			t.Errorf("Allowed(%s, %s, %s, %v) = %v by %s (%s), want %v by %q (%s)",
				tc.user, tc.action, tc.object, tc.props, allowed, r, r.Permission, tc.allow, tc.line, tc.want)
		}
		if r.File != "testdata/qpidd.acl" {
			t.Errorf("rule file %q", r.File)
		}
	}
	// Connections.
	conns := []struct {
		user, host string
		allow      bool
		line       string
	}{
		{"ted@QPID", "10.9.1.1", false, "acl deny all create connection host=10.9.0.0,10.9.255.255"},
		{"ted@QPID", "127.0.0.1", true, "acl allow admin create connection host=127.0.0.1"},
		{"mallory@EVIL.ORG", "192.168.1.1", false, "acl deny mallory@EVIL.ORG create connection host=all"},
		{"zoe@QPID", "192.168.1.1:5672", true, "acl allow all create connection host=all"},
	}
	for _, tc := range conns {
		allowed, r := a.AllowedConnection(tc.user, tc.host)
		if allowed != tc.allow || r.Text != tc.line {
			t.Errorf("AllowedConnection(%s, %s) = %v by %q, want %v by %q", tc.user, tc.host, allowed, r.Text, tc.allow, tc.line)
		}
	}
	// Quotas.
	for _, tc := range []struct {
		user       string
		conn, queu int
	}{{"ted@QPID", 10, 50}, {"zoe@QPID", 5, 5}, {"mallory@EVIL.ORG", 0, 5}} {
		if n, ok := a.ConnectionQuota(tc.user); !ok || n != tc.conn {
			t.Errorf("ConnectionQuota(%s) = %d %v", tc.user, n, ok)
		}
		if n, ok := a.QueueQuota(tc.user); !ok || n != tc.queu {
			t.Errorf("QueueQuota(%s) = %d %v", tc.user, n, ok)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.acl"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

func TestLoadReportsPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.acl")
	if err := os.WriteFile(path, []byte("# ok\nacl allow bob@QPID fly queue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || err.Error() != path+`:2: unknown action "fly"` {
		t.Errorf("err = %v", err)
	}
}

func TestSyntax(t *testing.T) {
	// White space, CRLF, blank lines, comments, and continuation forms the
	// qpidd tests accept.
	text := "# comment\r\n" +
		"\r\n" +
		"   \t \r\n" +
		"group test1 joe@EXAMPLE.com \\ \n" +
		"            jack@EXAMPLE.com \\ \n" +
		"jill@TEST.COM \\\t\n" +
		"host/123.example.com@TEST.COM\n" +
		"group test2 jack_123-jill@EXAMPLE.com\n" +
		"group empty \\\n" +
		"  test1\n" +
		"\tacl   allow\ttest2   create  queue   name=a#b\r\n" +
		"acl allow empty all\n" +
		"acl deny all all\n"
	a := mustParse(t, text)
	_, m := a.Groups()
	if want := []string{"joe@EXAMPLE.com", "jack@EXAMPLE.com", "jill@TEST.COM", "host/123.example.com@TEST.COM"}; !reflect.DeepEqual(m["test1"], want) {
		t.Errorf("test1 = %v", m["test1"])
	}
	if !reflect.DeepEqual(m["empty"], m["test1"]) {
		t.Errorf("empty = %v", m["empty"])
	}
	rules := a.Rules()
	if len(rules) != 3 || rules[0].Line != 11 || rules[0].Text != "acl allow test2 create queue name=a#b" || rules[0].Number != 1 {
		t.Fatalf("rules %+v", rules)
	}
	if rules[0].Props[PropName] != "a#b" {
		t.Errorf("'#' inside a line is not a comment: %v", rules[0].Props)
	}
	if ok, _ := a.Allowed("jill@TEST.COM", ActDelete, ObjExchange, map[Property]string{PropName: "x"}); !ok {
		t.Error("group via sub-group and continuation")
	}
	if r := rules[1]; r.Action != ActionAll || r.Object != ObjectAll || r.Subject != "empty" || len(r.Users) != 4 {
		t.Errorf("rule without object: %+v", r)
	}
}

func TestGroupMembership(t *testing.T) {
	a := mustParse(t, `
group a alice@QPID
group b bob@QPID a b
group c \
  b \
  carol@QPID
acl allow c consume queue
acl deny all all
`)
	_, m := a.Groups()
	if want := []string{"bob@QPID", "alice@QPID", "carol@QPID"}; !reflect.DeepEqual(m["c"], want) {
		t.Errorf("c = %v, want %v", m["c"], want)
	}
	for _, u := range []string{"alice@QPID", "bob@QPID", "carol@QPID"} {
		if ok, r := a.Allowed(u, ActConsume, ObjQueue, map[Property]string{PropName: "q"}); !ok || r.Line != 7 {
			t.Errorf("%s: %v %s", u, ok, r)
		}
	}
	if ok, _ := a.Allowed("dave@QPID", ActConsume, ObjQueue, map[Property]string{PropName: "q"}); ok {
		t.Error("dave is not in c")
	}
	// Users are matched exactly: no realm guessing, case sensitive.
	for _, u := range []string{"alice", "alice@qpid", "ALICE@QPID", "c", ""} {
		if ok, _ := a.Allowed(u, ActConsume, ObjQueue, map[Property]string{PropName: "q"}); ok {
			t.Errorf("%q allowed", u)
		}
	}
}

func TestErrors(t *testing.T) {
	long := "acl allow all all" + strings.Repeat(" ", MaxLineLength)
	cases := []struct {
		text string
		line int
		msg  string
	}{
		{"acl group\n", 1, "insufficient tokens for acl definition"},
		{"# x\nacl group admins bob@QPID joe@QPID\n", 2, `unknown ACL permission "group"`},
		{"acl permit bob@QPID all all\n", 1, `unknown ACL permission "permit"`},
		{"acl allow bob@QPID frobnicate queue\n", 1, `unknown action "frobnicate"`},
		{"acl allow bob@QPID CREATE queue\n", 1, `unknown action "CREATE"`},
		{"acl allow bob@QPID create queues\n", 1, `unknown object "queues"`},
		{"acl allow bob@QPID create virtualhost\n", 1, `unknown object "virtualhost"`},
		{"acl allow bob@QPID create queue name\n", 1, `badly formed property name-value pair "name"`},
		{"acl allow bob@QPID create queue name=\n", 1, `badly formed property name-value pair "name="`},
		{"acl allow bob@QPID create queue colour=red\n", 1, `unknown property "colour"`},
		{"acl allow bob@QPID create queue =red\n", 1, `unknown property ""`},
		{"acl allow bob@QPID create queue maxpages=3\n", 1, `unknown property "maxpages"`},
		{"acl allow all all queue\n", 1, `tokens found after action "all"`},
		{"acl deny bob@QPID create queue name=q2 exclusive=true policytype=ding\n", 1, "ding is not a valid value for 'policytype', possible values are one of"},
		{"acl deny bob@QPID create queue queuemaxsizeupperlimit=-1\n", 1, "-1 is not a valid value for 'queuemaxsizeupperlimit', values should be between 0 and 9223372036854775807"},
		{"acl deny bob@QPID create queue maxqueuecount=lots\n", 1, "lots is not a valid value for 'queuemaxcountupperlimit'"},
		{"acl allow *@QPID all all\n", 1, `user "*@QPID": qpidd ACL files have no wildcard user names`},
		{"acl allow * create queue\n", 1, "no wildcard user names"},
		{"group admins\n", 1, "insufficient tokens for group definition"},
		{"group \\\n      group3 a@QPID\n", 1, "insufficient tokens for group definition"},
		{"group a.b c@QPID\n", 1, `group name "a.b" contains illegal characters`},
		{"group all c@QPID\n", 1, `group name "all" is reserved`},
		{"group admins a@QPID\n\ngroup admins b@QPID\n", 3, `duplicate group name "admins" (defined at line 1)`},
		{"group admin bob\n", 1, `sub-group "bob" not defined yet`},
		{"group a x@QPID later\ngroup later y@QPID\n", 1, `sub-group "later" not defined yet`},
		{"group test1 joe$H@EXAMPLE.com\n", 1, `username "joe$H@EXAMPLE.com" contains illegal characters`},
		{"group g joe@\n", 1, `username "joe@" must contain a realm`},
		{"group g joe.smith\n", 1, `username "joe.smith" must contain a realm`},
		{"acl allow admins create queue\ngroup admins a@QPID\n", 1, `group "admins" is used before its definition at line 2`},
		{"quota queues 5 admins\ngroup admins a@QPID\n", 1, `group "admins" is used before its definition at line 2`},
		{"group g a@QPID \\ b@QPID\n", 1, "characters after the line continuation character"},
		{"acl allow bob@QPID publish exchange routingkey=a\\b\n", 1, "characters after the line continuation character"},
		{"group g a@QPID \\\n\\\nb@QPID\n", 2, "line contains an illegal extension"},
		{"acl allow all all \\\n", 1, "only group definitions may be continued"},
		{"quota queues 5 all \\\n", 1, "only group definitions may be continued"},
		{"group g a@QPID \\\nacl allow all all\n", 2, `continues the definition of group "g" (line 1 ends with '\')`},
		{"allow all all\n", 1, `non-continuation line must start with "group", "acl" or "quota"`},
		{"  # indented comment\n", 1, "a comment must start with '#' in the first column"},
		{"quota connections\n", 1, "insufficient tokens for quota definition"},
		{"quota sessions 5 all\n", 1, `quota type "sessions" unrecognized`},
		{"quota connections 70000 all\n", 1, `connections quota value "70000" cannot be converted to a 16-bit unsigned integer`},
		{"quota queues -1 all\n", 1, `queues quota value "-1" cannot be converted`},
		{"quota queues 65531 all\n", 1, `queues quota value "65531" exceeds maximum configuration setting of 65530`},
		{"acl allow all create connection host=1.1.1.1 name=x\n", 1, "create connection rule must not have a 'name' property"},
		{"acl allow all create connection\n", 1, "create connection rule has no 'host' property"},
		{"acl allow all create connection host=broker.example.com\n", 1, `"broker.example.com" is not a numeric IP address`},
		{"acl allow all create connection host=1.1.1.1,::1\n", 1, "cannot be compared"},
		{"acl allow all create connection host=1.1.1.1,1.1.1.2,1.1.1.3\n", 1, "must be one address or two"},
		{"acl deny all create connection host=all\n#\nacl allow all create connection host=all\n", 3, "only one create connection rule for user all and host=all is allowed (another at line 1)"},
		{long + "\n", 1, "line is longer than 1023 characters"},
		{"acl allow a@QPID\x00 all all\n", 1, "control character 0x00"},
	}
	for _, tc := range cases {
		a, err := Parse(strings.NewReader(tc.text), "f.acl")
		if err == nil {
			t.Errorf("%q: no error (rules %v)", tc.text, a.Rules())
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: error %T %v", tc.text, err, err)
			continue
		}
		if e.File != "f.acl" || e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%q:\n got %v\nwant f.acl:%d: ...%s...", tc.text, err, tc.line, tc.msg)
		}
		if !strings.HasPrefix(err.Error(), "f.acl:") {
			t.Errorf("%q: %v", tc.text, err)
		}
	}
}

func TestAllErrorsReported(t *testing.T) {
	// As the qpidd test: a lone '\' line and the orphan member line after it.
	_, err := Parse(strings.NewReader("group admins bob@QPID \n          \\ \njoe@QPID \nacl allow all all\nacl allow bob@QPID fly queue\n"), "f.acl")
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 3 {
		t.Fatalf("err = %#v", err)
	}
	want := "f.acl:2: line contains an illegal extension: a continuation line must name group members before the '\\'\n" +
		"f.acl:3: non-continuation line must start with \"group\", \"acl\" or \"quota\"\n" +
		"f.acl:5: unknown action \"fly\""
	if err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestWarnings(t *testing.T) {
	a := mustParse(t, `acl allow all all
acl deny bob create exchange name=test durable=true
acl allow all delete broker
acl allow all create queue exchangename=xyz
acl allow all access exchange alternate=abc queuename=xyz
acl allow alice@QPID create queue name=a name=b
acl allow carol@QPID all all owner=me
acl deny anonymous all all
acl deny all all
`)
	want := []string{
		`test.acl:1: "acl allow all all" matches every request: the rules after it never decide (except create connection rules)`,
		`test.acl:2: "bob" is neither a defined group nor a user name with a realm (name@REALM): it matches only the user id "bob"`,
		`test.acl:3: qpidd never checks action "delete" on object "broker": the rule only decides if this broker does`,
		`test.acl:4: rule ignored: qpidd checks action "create" on object "queue" but never with the property set { exchangename=xyz }`,
		`test.acl:5: rule ignored: qpidd checks action "access" on object "exchange" but never with the property set { alternate=abc queuename=xyz }`,
		`test.acl:6: property name given twice: the first value "a" is used, "b" is ignored`,
		`test.acl:7: no check of qpidd's broker passes the property set { owner=me }: the rule only decides checks qpidd did not make`,
	}
	if got := a.Warnings(); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The first name= is kept.
	if ok, _ := a.Allowed("alice@QPID", ActCreate, ObjQueue, map[Property]string{PropName: "a"}); !ok {
		t.Error("name=a")
	}
}
