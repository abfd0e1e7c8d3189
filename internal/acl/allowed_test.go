package acl

import (
	"fmt"
	"strings"
	"testing"
)

// lookupProps returns properties a broker check of action on object would
// pass: the name and the first property set qpidd registered for the pair.
func lookupProps(action Action, object Object) map[Property]string {
	props := map[Property]string{PropName: "obj"}
	if sets := LookupProperties(action, object); sets != nil {
		for _, n := range sets[0] {
			props[lookupProperty(n)] = "v"
		}
		props[PropName] = "obj"
	}
	if action == ActCreate && object == ObjConnection {
		props = map[Property]string{PropHost: "192.0.2.7"}
	}
	return props
}

// TestDecisionTable checks every action on every object, for a user allowed
// everything, a user denied everything, a user allowed (or denied) exactly
// that pair, and the default, in deny mode and in allow mode.
func TestDecisionTable(t *testing.T) {
	for _, mode := range []Permission{Deny, Allow} {
		for _, act := range Actions() {
			for _, obj := range Objects() {
				pair := fmt.Sprintf("%s %s", act, obj)
				extra := ""
				if act == ActCreate && obj == ObjConnection {
					extra = " host=192.0.2.0,192.0.2.255"
				}
				text := "group admins alice@QPID\n" +
					"acl deny-log bob@QPID all all\n" +
					"acl allow-log admins all all\n" +
					"acl allow carol@QPID " + pair + extra + "\n" +
					"acl deny dan@QPID " + pair + extra + "\n" +
					"acl " + mode.String() + " all all\n"
				if act == ActCreate && obj == ObjConnection {
					// "all all" rules do not decide connections; the
					// connection default is an explicit rule.
					text += "acl " + mode.String() + " all create connection host=all\n"
				}
				a := mustParse(t, text)
				props := lookupProps(act, obj)
				isConn := act == ActCreate && obj == ObjConnection
				check := func(user string, want bool, wantText string) {
					t.Helper()
					got, r := a.Allowed(user, act, obj, props)
					if got != want || r.Text != wantText {
						t.Errorf("mode %s, %s, %s: %v by %q, want %v by %q", mode, pair, user, got, r.Text, want, wantText)
					}
				}
				def := "acl " + mode.String() + " all all"
				if isConn {
					def = "acl " + mode.String() + " all create connection host=all"
					check("alice@QPID", mode.Allows(), def)
					check("bob@QPID", mode.Allows(), def)
				} else {
					check("alice@QPID", true, "acl allow-log admins all all")
					check("bob@QPID", false, "acl deny-log bob@QPID all all")
				}
				check("carol@QPID", true, "acl allow carol@QPID "+pair+extra)
				check("dan@QPID", false, "acl deny dan@QPID "+pair+extra)
				check("erin@QPID", mode.Allows(), def)
				// carol's and dan's rules cover no other pair.
				for _, other := range Actions() {
					if other == act || other == ActCreate && obj == ObjConnection {
						continue
					}
					got, r := a.Allowed("carol@QPID", other, obj, lookupProps(other, obj))
					if got != mode.Allows() || !r.Default {
						t.Errorf("mode %s, rule for %s decided %s %s for carol: %v by %s", mode, pair, other, obj, got, r)
					}
					got, r = a.Allowed("dan@QPID", other, obj, lookupProps(other, obj))
					if got != mode.Allows() || !r.Default {
						t.Errorf("mode %s, rule for %s decided %s %s for dan: %v by %s", mode, pair, other, obj, got, r)
					}
				}
			}
		}
	}
}

func TestFirstMatchWins(t *testing.T) {
	// The book's example: charlie is denied although he is in users.
	a := mustParse(t, `group users alice@QPID bob@QPID charlie@QPID
acl deny  charlie@QPID create queue
acl allow users        create queue
acl deny all all
`)
	q := map[Property]string{PropName: "q"}
	for user, want := range map[string]bool{"alice@QPID": true, "bob@QPID": true, "charlie@QPID": false, "dave@QPID": false} {
		if got, _ := a.Allowed(user, ActCreate, ObjQueue, q); got != want {
			t.Errorf("%s: %v", user, got)
		}
	}
	// Reversed, the group rule comes first and wins.
	a = mustParse(t, `group users alice@QPID bob@QPID charlie@QPID
acl allow users        create queue
acl deny  charlie@QPID create queue
acl deny all all
`)
	if got, r := a.Allowed("charlie@QPID", ActCreate, ObjQueue, q); !got || r.Line != 2 || r.Number != 1 {
		t.Errorf("charlie: %v %s (number %d)", got, r, r.Number)
	}
	// The book's rule matching example: rule 1 fails on durable, rule 2 on
	// the name, rule 3 (the default) decides; then rule 2 matches.
	a = mustParse(t, `acl deny bob@QPID create exchange name=test durable=true
acl deny bob@QPID create exchange name=myEx type=direct
acl allow all all
`)
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjExchange, map[Property]string{PropName: "test", PropDurable: "false", PropType: "direct", PropAlternate: ""}); !got || !r.Default {
		t.Errorf("lookup 1: %v %s", got, r)
	}
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjExchange, map[Property]string{PropName: "myEx", PropDurable: "true", PropType: "direct", PropAlternate: ""}); got || r.Line != 2 {
		t.Errorf("lookup 2: %v %s", got, r)
	}
	// A rule property the lookup lacks: no match.
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjExchange, map[Property]string{PropName: "test"}); !got || !r.Default {
		t.Errorf("lookup 3: %v %s", got, r)
	}
}

func TestDefault(t *testing.T) {
	q := map[Property]string{PropName: "q"}
	// No "all all" line: deny, by an implicit rule.
	a := mustParse(t, "acl allow bob@QPID create queue\n")
	if got, r := a.Allowed("alice@QPID", ActCreate, ObjQueue, q); got || !r.Default || r.Line != 0 || r.Text != "acl deny all all" || r.String() != "test.acl: acl deny all all (implicit)" {
		t.Errorf("implicit: %v %+v %s", got, r, r)
	}
	// An empty file denies everything.
	a = mustParse(t, "")
	if got, _ := a.Allowed("bob@QPID", ActConsume, ObjQueue, q); got {
		t.Error("empty file allows")
	}
	// Allow mode.
	a = mustParse(t, "acl deny bob@QPID bind exchange\nacl allow all all\n")
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjQueue, q); !got || r.Line != 2 || r.String() != "test.acl:2: acl allow all all" {
		t.Errorf("allow mode: %v %s", got, r)
	}
	if got, _ := a.Allowed("bob@QPID", ActBind, ObjExchange, map[Property]string{PropName: "amq.direct", PropQueueName: "q", PropRoutingKey: "k"}); got {
		t.Error("bob binds")
	}
	// The last line needs no newline (qpidd's own tests write files so).
	a = mustParse(t, "acl deny bob@QPID all all\nacl allow all all")
	if got, r := a.Allowed("alice@QPID", ActCreate, ObjQueue, q); !got || r.Line != 2 {
		t.Errorf("no final newline: %v %s", got, r)
	}
	// Logged default.
	a = mustParse(t, "acl deny-log all all\n")
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjQueue, q); got || !r.Permission.Logs() {
		t.Errorf("deny-log default: %v %s", got, r)
	}
	// qpidd takes the LAST "all all" line as the default, wherever it is,
	// and the rules after it still apply; an earlier one is a plain rule.
	a = mustParse(t, "acl allow all all\nacl deny bob@QPID create queue\n")
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjQueue, q); got || r.Line != 2 {
		t.Errorf("hoisted default: %v %s", got, r)
	}
	if got, r := a.Allowed("alice@QPID", ActCreate, ObjQueue, q); !got || !r.Default || r.Line != 1 {
		t.Errorf("hoisted default: %v %s", got, r)
	}
	if w := a.Warnings(); len(w) != 1 || !strings.Contains(w[0], "is not the last rule") {
		t.Errorf("warnings %v", w)
	}
	a = mustParse(t, "acl allow all all\nacl deny bob@QPID create queue\nacl deny all all\n")
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjQueue, q); !got || r.Line != 1 {
		t.Errorf("plain all-all rule: %v %s", got, r)
	}
	if d := a.Default(); d.Line != 3 {
		t.Errorf("default %s", d)
	}
	// "acl allow bob@QPID all all" is not the default.
	a = mustParse(t, "acl allow bob@QPID all all\n")
	if d := a.Default(); d.Line != 0 || d.Permission != Deny {
		t.Errorf("default %s", d)
	}
}

func TestNoFile(t *testing.T) {
	var a *ACL
	if got, r := a.Allowed("anyone", ActDelete, ObjQueue, nil); !got || !r.Default {
		t.Errorf("nil ACL: %v %s", got, r)
	}
	if got, _ := a.AllowedConnection("anyone", "10.0.0.1"); !got {
		t.Error("nil ACL connection")
	}
	if _, on := a.ConnectionQuota("x"); on {
		t.Error("nil ACL quota")
	}
	if a.HasPublishRules() {
		t.Error("nil ACL publish")
	}
}

func TestWildcardUsersAndNames(t *testing.T) {
	a := mustParse(t, `acl allow anonymous create queue name=anon.*
acl allow all create queue name=tmp.*
acl allow all create queue name=a*b
acl allow all consume queue name=*
acl allow all create exchange name=x alternate=alt.*
acl deny all all
`)
	cases := []struct {
		user   string
		action Action
		props  map[Property]string
		want   bool
	}{
		{"anonymous", ActCreate, map[Property]string{PropName: "anon.1"}, true},
		{"anonymous@QPID", ActCreate, map[Property]string{PropName: "anon.1"}, false},
		{"x@Y", ActCreate, map[Property]string{PropName: "tmp."}, true},
		{"x@Y", ActCreate, map[Property]string{PropName: "tmp.a.b"}, true},
		{"x@Y", ActCreate, map[Property]string{PropName: "tmp"}, false},
		{"x@Y", ActCreate, map[Property]string{PropName: "Tmp.a"}, false},
		{"x@Y", ActCreate, map[Property]string{PropName: "a*b"}, true}, // '*' inside is literal
		{"x@Y", ActCreate, map[Property]string{PropName: "axxb"}, false},
		{"x@Y", ActConsume, map[Property]string{PropName: "anything"}, true},
		// "*" matches the empty name.
		{"x@Y", ActConsume, map[Property]string{}, true},
		// "all" covers any identity.
		{"", ActConsume, nil, true},
		// The exchange rule does not decide for queues.
		{"x@Y", ActCreate, map[Property]string{PropName: "x", PropAlternate: "alt.1", PropDurable: "true"}, false},
	}
	for _, tc := range cases {
		if got, r := a.Allowed(tc.user, tc.action, ObjQueue, tc.props); got != tc.want {
			t.Errorf("%q %s %v: %v by %s", tc.user, tc.action, tc.props, got, r)
		}
	}
	if got, _ := a.Allowed("x@Y", ActCreate, ObjExchange, map[Property]string{PropName: "x", PropAlternate: "alt.1", PropType: "fanout"}); !got {
		t.Error("alternate prefix")
	}
	if got, _ := a.Allowed("x@Y", ActCreate, ObjExchange, map[Property]string{PropName: "x", PropAlternate: "other"}); got {
		t.Error("alternate mismatch")
	}
	if got, _ := a.Allowed("x@Y", ActCreate, ObjExchange, map[Property]string{PropName: "x"}); got {
		t.Error("alternate absent from lookup")
	}
}

// TestTopicRoutingKeys replays qpidd's test_topic_exchange_publish_tests.
func TestTopicRoutingKeys(t *testing.T) {
	a := mustParse(t, `acl allow-log uPlain1@COMPANY   publish exchange name=X routingkey=ab.cd.e
acl allow-log uPlain2@COMPANY   publish exchange name=X routingkey=.
acl allow-log uStar1@COMPANY    publish exchange name=X routingkey=a.*.b
acl allow-log uStar2@COMPANY    publish exchange name=X routingkey=*.x
acl allow-log uStar3@COMPANY    publish exchange name=X routingkey=x.x.*
acl allow-log uHash1@COMPANY    publish exchange name=X routingkey=a.#.b
acl allow-log uHash2@COMPANY    publish exchange name=X routingkey=a.#
acl allow-log uHash3@COMPANY    publish exchange name=X routingkey=#.a
acl allow-log uHash4@COMPANY    publish exchange name=X routingkey=a.#.b.#.c
acl allow-log uMixed1@COMPANY   publish exchange name=X routingkey=*.x.#.y
acl allow-log uMixed2@COMPANY   publish exchange name=X routingkey=a.#.b.*
acl allow-log uMixed3@COMPANY   publish exchange name=X routingkey=*.*.*.#
acl allow-log all publish exchange name=X routingkey=MN.OP.Q
acl allow-log all publish exchange name=X routingkey=M.*.N
acl allow-log all publish exchange name=X routingkey=M.#.N
acl allow-log all publish exchange name=X routingkey=*.M.#.N
acl deny-log all all
`)
	cases := []struct{ user, key, want string }{
		{"uPlain1@COMPANY", "ab.cd.e", "allow-log"},
		{"uPlain1@COMPANY", "abx.cd.e", "deny-log"},
		{"uPlain1@COMPANY", "ab.cd", "deny-log"},
		{"uPlain1@COMPANY", "ab.cd..e.", "deny-log"},
		{"uPlain1@COMPANY", "ab.cd.e.", "deny-log"},
		{"uPlain1@COMPANY", ".ab.cd.e", "deny-log"},
		{"uPlain2@COMPANY", ".", "allow-log"},
		{"uStar1@COMPANY", "a.xx.b", "allow-log"},
		{"uStar1@COMPANY", "a.b", "deny-log"},
		{"uStar2@COMPANY", "y.x", "allow-log"},
		{"uStar2@COMPANY", ".x", "allow-log"},
		{"uStar2@COMPANY", "x", "deny-log"},
		{"uStar3@COMPANY", "x.x.y", "allow-log"},
		{"uStar3@COMPANY", "x.x.", "allow-log"},
		{"uStar3@COMPANY", "x.x", "deny-log"},
		{"uStar3@COMPANY", "q.x.y", "deny-log"},
		{"uHash1@COMPANY", "a.b", "allow-log"},
		{"uHash1@COMPANY", "a.x.b", "allow-log"},
		{"uHash1@COMPANY", "a..x.y.zz.b", "allow-log"},
		{"uHash1@COMPANY", "a.b.", "deny-log"},
		{"uHash1@COMPANY", "q.x.b", "deny-log"},
		{"uHash2@COMPANY", "a", "allow-log"},
		{"uHash2@COMPANY", "a.b", "allow-log"},
		{"uHash2@COMPANY", "a.b.c", "allow-log"},
		{"uHash3@COMPANY", "a", "allow-log"},
		{"uHash3@COMPANY", "x.y.a", "allow-log"},
		{"uHash4@COMPANY", "a.b.c", "allow-log"},
		{"uHash4@COMPANY", "a.x.b.y.c", "allow-log"},
		{"uHash4@COMPANY", "a.x.x.b.y.y.c", "allow-log"},
		{"uMixed1@COMPANY", "a.x.y", "allow-log"},
		{"uMixed1@COMPANY", "a.x.p.qq.y", "allow-log"},
		{"uMixed1@COMPANY", "a.a.x.y", "deny-log"},
		{"uMixed1@COMPANY", "aa.x.b.c", "deny-log"},
		{"uMixed2@COMPANY", "a.b.x", "allow-log"},
		{"uMixed2@COMPANY", "a.x.x.x.b.x", "allow-log"},
		{"uMixed3@COMPANY", "x.y.z", "allow-log"},
		{"uMixed3@COMPANY", "x.y.z.a.b.c", "allow-log"},
		{"uMixed3@COMPANY", "x.y", "deny-log"},
		{"uMixed3@COMPANY", "x", "deny-log"},
		{"uPlain1@COMPANY", "MN.OP.Q", "allow-log"},
		{"uStar1@COMPANY", "M.xx.N", "allow-log"},
		{"uHash1@COMPANY", "M.N", "allow-log"},
		{"uHash1@COMPANY", "M.x.N", "allow-log"},
		{"uHash1@COMPANY", "M..x.y.zz.N", "allow-log"},
		{"uMixed1@COMPANY", "a.M.N", "allow-log"},
		{"uMixed1@COMPANY", "a.M.p.qq.N", "allow-log"},
		{"dev@QPID", "MN.OP.Q", "allow-log"},
		{"dev@QPID", "M.xx.N", "allow-log"},
		{"dev@QPID", "M.N", "allow-log"},
		{"dev@QPID", "M.x.N", "allow-log"},
		{"dev@QPID", "M..x.y.zz.N", "allow-log"},
		{"dev@QPID", "a.M.N", "allow-log"},
		{"dev@QPID", "a.M.p.qq.N", "allow-log"},
	}
	for _, tc := range cases {
		got, r := a.Allowed(tc.user, ActPublish, ObjExchange, map[Property]string{PropName: "X", PropRoutingKey: tc.key})
		if r.Permission.String() != tc.want || got != r.Permission.Allows() {
			t.Errorf("%s publish X %q: %v by %s, want %s", tc.user, tc.key, got, r, tc.want)
		}
	}
}

// TestSubstitution replays parts of qpidd's test_user_name_substitution.
func TestSubstitution(t *testing.T) {
	a := mustParse(t, `acl allow all create queue    name=tmp-${userdomain}
acl allow all create queue    name=${userdomain}-tmp
acl allow all create queue    name=tmp-${userdomain}-tmp-${userdomain}
acl allow all create  queue    name=temp0-${userdomain}
acl allow all access  queue    name=temp0-${userdomain}
acl allow all bind    exchange name=temp0-${userdomain}
acl allow all publish exchange name=temp0-${userdomain}
acl allow all   publish exchange name=X routingkey=${userdomain}.cd.e
acl allow all   publish exchange name=X routingkey=b.#.${userdomain}
acl allow all   create  queue    name=user-${user}
acl allow all   publish exchange name=U routingkey=a.*.${user}
acl allow all   create  queue    name=domain-${domain}
acl allow all   publish exchange name=D routingkey=*.${domain}.#.y
acl allow all   create  queue    name=mixed-OK-${user}_${domain}
acl allow all   publish exchange name=NOGO routingkey=${user}_${domain}.cd.e
acl allow all   publish exchange name=OK   routingkey=${user}___${domain}.cd.e
acl allow all   bind exchange name=amq.direct queuename=${user}.q routingkey=${user}
acl deny-log all all
`)
	q := func(user string, act Action, obj Object, name string) bool {
		got, _ := a.Allowed(user, act, obj, map[Property]string{PropName: name})
		return got
	}
	pub := func(user, ex, key string) bool {
		got, _ := a.Allowed(user, ActPublish, ObjExchange, map[Property]string{PropName: ex, PropRoutingKey: key})
		return got
	}
	for _, tc := range []struct {
		got  bool
		want bool
		what string
	}{
		{q("alice@QPID", ActCreate, ObjQueue, "tmp-alice_QPID"), true, "userdomain"},
		{q("bob@QPID", ActCreate, ObjQueue, "bob_QPID-tmp"), true, "userdomain prefix"},
		{q("dave@QPID", ActCreate, ObjQueue, "tmp-dave_QPID-tmp-dave_QPID"), true, "twice"},
		{q("ed@BIG.COM", ActCreate, ObjQueue, "tmp-ed_BIG_COM"), true, "dots"},
		{q("c.e.r@BIG.GER.COM", ActCreate, ObjQueue, "tmp-c_e_r_BIG_GER_COM"), true, "dots in user"},
		{q("c@", ActCreate, ObjQueue, "tmp-c_"), true, "empty realm"},
		{q("someuser", ActCreate, ObjQueue, "tmp-someuser"), true, "no realm"},
		{q("alice@QPID", ActCreate, ObjQueue, "tmp-${user}"), false, "keyword in the lookup"},
		{q("bob@QPID", ActAccess, ObjQueue, "temp0-bob_QPID"), true, "access"},
		{q("alice@QPID", ActAccess, ObjQueue, "temp0-bob_QPID"), false, "another user's"},
		{pub("bob@QPID", "temp0-bob_QPID", "x"), true, "publish name"},
		{q("bob@QPID", ActCreate, ObjQueue, "user-bob"), true, "user"},
		{q("bob@QPID", ActCreate, ObjQueue, "domain-QPID"), true, "domain"},
		{q("uPlain1@COMPANY", ActCreate, ObjQueue, "mixed-OK-uPlain1_COMPANY"), true, "user_domain in a name"},
		{pub("uPlain1@COMPANY", "X", "uPlain1_COMPANY.cd.e"), true, "key userdomain"},
		{pub("uHash1@COMPANY", "X", "b.x.uHash1_COMPANY"), true, "key hash"},
		{pub("uHash1@COMPANY", "X", "b.uHash1_COMPANY."), false, "key trailing dot"},
		{pub("uStar1@COMPANY", "U", "a.xx.uStar1"), true, "key user"},
		{pub("uStar1@COMPANY", "U", "a.b"), false, "key user mismatch"},
		{pub("uMixed1@COMPANY.COM", "D", "a.COMPANY_COM.y"), true, "key domain"},
		{pub("uMixed1@COMPANY", "D", "aa.COMPANY.b.c"), false, "key domain mismatch"},
		// As qpidd documents: ${user}_${domain} never matches in a key.
		{pub("uPlain1@COMPANY", "NOGO", "uPlain1_COMPANY.cd.e"), false, "user_domain in a key"},
		{pub("uPlain1@COMPANY", "OK", "uPlain1___COMPANY.cd.e"), true, "user___domain in a key"},
		// A published key holding a keyword never matches.
		{pub("uPlain1@COMPANY", "X", "${userdomain}.cd.e"), false, "keyword in a published key"},
		// queuename substitution, and routingkey outside publish.
		{func() bool {
			got, _ := a.Allowed("zed@QPID", ActBind, ObjExchange, map[Property]string{PropName: "amq.direct", PropQueueName: "zed.q", PropRoutingKey: "zed"})
			return got
		}(), true, "bind queuename"},
		{func() bool {
			got, _ := a.Allowed("zed@QPID", ActBind, ObjExchange, map[Property]string{PropName: "amq.direct", PropQueueName: "amy.q", PropRoutingKey: "zed"})
			return got
		}(), false, "bind other queuename"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
}

func TestPublishDefaultExchange(t *testing.T) {
	a := mustParse(t, `acl allow bob@QPID publish exchange name=amq.default routingkey=q1
acl allow bob@QPID publish exchange name=ex
acl allow bob@QPID publish exchange routingkey=any.#
acl deny all all
`)
	pub := func(ex, key string, withKey bool) bool {
		props := map[Property]string{PropName: ex}
		if withKey {
			props[PropRoutingKey] = key
		}
		got, _ := a.Allowed("bob@QPID", ActPublish, ObjExchange, props)
		return got
	}
	if !pub("", "q1", true) || pub("", "q2", true) || pub("amq.default", "q1", true) {
		t.Error("amq.default is the default exchange, named \"\" in lookups")
	}
	if !pub("ex", "whatever", true) || !pub("ex", "", false) {
		t.Error("publish by exchange name")
	}
	if !pub("other", "any", true) || !pub("other", "any.x.y", true) || pub("other", "", false) {
		t.Error("publish by key (a missing key is \"\")")
	}
	// AMQP 1.0 sender link to a queue: qpidd checks publish with the
	// default exchange and the queue name as key, and no exchange name.
	if got, _ := a.Allowed("bob@QPID", ActPublish, ObjExchange, map[Property]string{PropRoutingKey: "q1"}); !got {
		t.Error("link to queue q1")
	}
}

func TestLimits(t *testing.T) {
	a := mustParse(t, `acl allow-log bob@QPID create queue name=q.* maxqueuesize=1000 queuemaxcountlowerlimit=10
acl allow bob@QPID create queue name=zero.* queuemaxsizeupperlimit=0
acl allow all all
`)
	cases := []struct {
		props    map[Property]string
		want     bool
		line     int
		exceeded bool
	}{
		{map[Property]string{PropName: "q.1", PropMaxQueueSize: "1000", PropMaxQueueCount: "10"}, true, 1, false},
		{map[Property]string{PropName: "q.1", PropMaxQueueSize: "1001", PropMaxQueueCount: "10"}, false, 1, true},
		{map[Property]string{PropName: "q.1", PropMaxQueueSize: "5", PropMaxQueueCount: "9"}, false, 1, true},
		{map[Property]string{PropName: "q.1", PropMaxQueueSize: "x", PropMaxQueueCount: "10"}, false, 1, true},
		// A lookup without the limited value: the rule does not match.
		{map[Property]string{PropName: "q.1", PropMaxQueueSize: "5"}, true, 3, false},
		{map[Property]string{PropName: "zero.1", PropMaxQueueSize: "99999999999"}, true, 2, false},
	}
	for _, tc := range cases {
		got, r := a.Allowed("bob@QPID", ActCreate, ObjQueue, tc.props)
		if got != tc.want || r.Line != tc.line || r.LimitExceeded != tc.exceeded {
			t.Errorf("%v: %v by %s (exceeded %v)", tc.props, got, r, r.LimitExceeded)
		}
		if tc.exceeded && (r.Permission != AllowLog || !r.Permission.Logs()) {
			t.Errorf("demoted decision keeps the rule's permission for logging: %s", r.Permission)
		}
	}
	if r := a.Rules()[0]; r.Props[PropQueueMaxSizeUpperLimit] != "1000" || r.Props[PropQueueMaxCountLowerLimit] != "10" {
		t.Errorf("props %v", r.Props)
	}
}

func TestConnections(t *testing.T) {
	a := mustParse(t, `group admins alice@QPID
acl allow all create connection host=192.168.1.10
acl deny all create connection host=192.168.1.0,192.168.1.255
acl deny all create connection host=[::1]
acl allow admins create connection host=10.0.0.1,10.0.0.9
acl deny admins create connection host=all
acl allow all all
`)
	cases := []struct {
		user, host string
		want       bool
		line       int
	}{
		{"bob@QPID", "192.168.1.10", true, 2},
		{"alice@QPID", "192.168.1.11", false, 3},
		{"bob@QPID", "::1", false, 4},
		{"bob@QPID", "[::1]:5672", false, 4},
		{"bob@QPID", "::ffff:192.168.1.12", false, 3},
		{"alice@QPID", "10.0.0.5", true, 5},
		{"alice@QPID", "10.0.0.10", false, 6},
		{"bob@QPID", "10.0.0.10", true, 0},   // implicit connection default: allow
		{"alice@QPID", "localhost", true, 0}, // not an IP: not checked
	}
	for _, tc := range cases {
		got, r := a.AllowedConnection(tc.user, tc.host)
		if got != tc.want || r.Line != tc.line {
			t.Errorf("%s from %s: %v by %s", tc.user, tc.host, got, r)
		}
		got2, r2 := a.Allowed(tc.user, ActCreate, ObjConnection, map[Property]string{PropHost: tc.host})
		if got2 != got || r2.Text != r.Text {
			t.Errorf("Allowed create connection differs: %v %s", got2, r2)
		}
	}
	// The "all all" rules do not decide connections.
	a = mustParse(t, "acl deny all all\n")
	if got, r := a.AllowedConnection("bob@QPID", "10.1.1.1"); !got || !r.Default {
		t.Errorf("connection default: %v %s", got, r)
	}
	a = mustParse(t, "acl deny-log all create connection host=all\nacl allow all all\n")
	if got, r := a.AllowedConnection("bob@QPID", "10.1.1.1"); got || !r.Default || r.Line != 1 {
		t.Errorf("connection mode: %v %s", got, r)
	}
}

func TestQuotas(t *testing.T) {
	a := mustParse(t, "acl allow all all\n")
	if n, on := a.ConnectionQuota("bob@QPID"); on || n != 0 {
		t.Errorf("no quota: %d %v", n, on)
	}
	a = mustParse(t, "group g a@Q b@Q\nquota queues 3 g\nquota queues 7 b@Q c@Q\n")
	for u, want := range map[string]int{"a@Q": 3, "b@Q": 7, "c@Q": 7, "d@Q": 0} {
		if n, on := a.QueueQuota(u); !on || n != want {
			t.Errorf("%s: %d %v", u, n, on)
		}
	}
	if _, on := a.ConnectionQuota("a@Q"); on {
		t.Error("connection quota enforced")
	}
	if w := a.Warnings(); len(w) != 1 || w[0] != "test.acl: quota queues has no value for all: as in qpidd, users no quota line names get a quota of 0" {
		t.Errorf("warnings %q", w)
	}
	conns, queues := a.Quotas()
	if len(conns) != 0 || len(queues) != 3 {
		t.Errorf("quotas %v %v", conns, queues)
	}
}

func TestIgnoredRulesDoNotMatch(t *testing.T) {
	// qpidd drops a rule whose properties no broker check passes, so a
	// caller passing extra properties does not revive it.
	a := mustParse(t, `acl deny bob@QPID consume queue durable=true
acl deny bob@QPID all queue exclusive=true
acl allow all all
`)
	props := map[Property]string{PropName: "q", PropDurable: "true", PropExclusive: "true"}
	if got, r := a.Allowed("bob@QPID", ActConsume, ObjQueue, props); !got || !r.Default {
		t.Errorf("consume: %v %s", got, r)
	}
	// exclusive=true is a create queue property: rule 2 applies there.
	if got, r := a.Allowed("bob@QPID", ActCreate, ObjQueue, props); got || r.Line != 2 {
		t.Errorf("create: %v %s", got, r)
	}
	if got, r := a.Allowed("bob@QPID", ActPurge, ObjQueue, props); !got || !r.Default {
		t.Errorf("purge: %v %s", got, r)
	}
}

func TestInvalidLookup(t *testing.T) {
	a := mustParse(t, "acl allow all all\n")
	if got, _ := a.Allowed("bob@QPID", ActionAll, ObjQueue, nil); got {
		t.Error("ActionAll lookup allowed")
	}
	if got, _ := a.Allowed("bob@QPID", ActCreate, ObjectAll, nil); got {
		t.Error("ObjectAll lookup allowed")
	}
}

func TestLexicon(t *testing.T) {
	for _, act := range Actions() {
		if got, ok := ParseAction(act.String()); !ok || got != act {
			t.Errorf("action %s", act)
		}
	}
	for _, obj := range Objects() {
		if got, ok := ParseObject(obj.String()); !ok || got != obj {
			t.Errorf("object %s", obj)
		}
	}
	for p := Permission(0); p < numPermissions; p++ {
		if got, ok := ParsePermission(p.String()); !ok || got != p {
			t.Errorf("permission %s", p)
		}
	}
	for p := Property(0); p < numProperties; p++ {
		if p == PropMaxQueueSize || p == PropMaxQueueCount {
			continue // the old names of the queue upper limits, below
		}
		got, ok := ParseRuleProperty(p.String())
		if ok != !p.lookupOnly() || ok && got != p {
			t.Errorf("property %s: %v %v", p, got, ok)
		}
	}
	if p, _ := ParseRuleProperty("maxqueuesize"); p != PropQueueMaxSizeUpperLimit {
		t.Error("maxqueuesize alias")
	}
	if p, _ := ParseRuleProperty("maxqueuecount"); p != PropQueueMaxCountUpperLimit {
		t.Error("maxqueuecount alias")
	}
	if !Checked(ActCreate, ObjLink) || Checked(ActDelete, ObjBroker) || LookupProperties(ActDelete, ObjBroker) != nil {
		t.Error("Checked")
	}
	if got := LookupProperties(ActBind, ObjExchange); len(got) != 2 || strings.Join(got[0], " ") != "name queuename routingkey" {
		t.Errorf("LookupProperties(bind, exchange) = %v", got)
	}
}

func TestTopicMatchEdges(t *testing.T) {
	cases := []struct {
		pattern, key string
		want         bool
	}{
		{"#", "", true},
		{"*", "", true},
		{"a", "", false},
		{"#.#", "a.b", true},
		{"#.*", "", true},
		{"#.*", "a.b", true},
		{"*.#", "a", true},
		{"a.#.#.b", "a.b", true},
		{"#.a.#", "x.a", true},
		{"#.a.#", "x.b", false},
	}
	for _, tc := range cases {
		if got := topicMatch(strings.Split(tc.pattern, "."), tc.key); got != tc.want {
			t.Errorf("topicMatch(%q, %q) = %v", tc.pattern, tc.key, got)
		}
	}
}
