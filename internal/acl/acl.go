package acl

import "fmt"

// ACL is a parsed ACL file. It is immutable and safe for concurrent use; to
// reload, Load a new one and swap the pointer.
//
// A nil *ACL stands for "no acl-file": everything is allowed, as in qpidd
// without the ACL module.
type ACL struct {
	name       string
	rules      []Rule // every acl line, in file order
	def        int    // index of the default rule in rules, -1 for the implicit deny
	index      [numActions][numObjects][]int
	publish    bool
	groups     map[string]*group
	groupOrder []string

	connGlobal  []int            // create connection rules for all users and specific hosts
	connUser    map[string][]int // create connection rules per user
	connDefault Rule             // the all/host=all rule, else an implicit allow

	connQuota, queueQuota       map[string]int
	connQuotaSet, queueQuotaSet bool

	warnings []warning
}

type warning struct {
	line int
	msg  string
}

// Rule is one acl line of a file (or the default decision) as Allowed
// returns it: the rule that decided, for the broker's log. Its maps and
// slices are shared; do not modify them.
type Rule struct {
	File string
	Line int // 0 for an implicit rule
	// Number is the rule's position among the file's acl lines, from 1,
	// which is how qpidd's logs number rules; 0 for an implicit rule.
	Number int
	// Text is the line's tokens joined by one space, e.g.
	// "acl allow-log bob@QPID create queue name=tmp.*".
	Text       string
	Permission Permission
	// Subject is the user position as written: "all", a group or a user.
	Subject string
	// Users are the user names the rule applies to (a group's members,
	// flattened, sorted); nil when Subject is "all".
	Users  []string
	Action Action // ActionAll for "all"
	Object Object // ObjectAll for "all" or when the line names no object
	Props  map[Property]string
	// Default marks the rule deciding what no other rule matches: the
	// file's last "acl <permission> all all", or the implicit
	// "acl deny all all" (for connections: the "create connection" rule for
	// all users and host=all, or the implicit allow).
	Default bool
	// LimitExceeded is set on a decision where the rule matched but a
	// lookup value was outside one of its numeric limits: as in qpidd the
	// rule's allow became a deny (allow-log a deny-log).
	LimitExceeded bool

	all   bool
	users map[string]struct{}
	subst propSet   // properties whose value holds ${user} / ${domain} / ${userdomain}
	topic []string  // the routingkey pattern's words
	host  hostRange // create connection rules
}

// String is "file:line: text", for logs.
func (r Rule) String() string {
	if r.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Text)
	}
	if r.File == "" {
		return r.Text
	}
	return fmt.Sprintf("%s: %s (implicit)", r.File, r.Text)
}

func (r *Rule) appliesTo(user string) bool {
	if r.all {
		return true
	}
	_, ok := r.users[user]
	return ok
}

var noFile = Rule{Text: "no ACL file: everything is allowed", Permission: Allow, Action: ActionAll, Object: ObjectAll, Default: true, all: true}

// Name is the name the file was parsed with (its path for Load).
func (a *ACL) Name() string { return a.name }

// Rules returns the file's acl rules in file order.
func (a *ACL) Rules() []Rule { return append([]Rule(nil), a.rules...) }

// Default returns the rule that decides requests no other rule matches.
func (a *ACL) Default() Rule {
	if a == nil {
		return noFile
	}
	if a.def >= 0 {
		return a.rules[a.def]
	}
	return Rule{File: a.name, Text: "acl deny all all", Permission: Deny, Subject: "all", Action: ActionAll, Object: ObjectAll, Default: true, all: true}
}

// Groups returns each group's members (flattened), in definition order of
// the groups.
func (a *ACL) Groups() (names []string, members map[string][]string) {
	members = make(map[string][]string, len(a.groups))
	for _, n := range a.groupOrder {
		members[n] = append([]string(nil), a.groups[n].members...)
	}
	return append([]string(nil), a.groupOrder...), members
}

// Warnings are the file's legal but doubtful lines, as "file:line: text":
// rules qpidd would ignore, a default that is not the last rule, names that
// are neither groups nor name@realm users, repeated properties.
func (a *ACL) Warnings() []string {
	out := make([]string, len(a.warnings))
	for i, w := range a.warnings {
		out[i] = (&Error{File: a.name, Line: w.line, Msg: w.msg}).Error()
	}
	return out
}

// HasPublishRules reports whether some rule can concern publish (its action
// is publish or all). qpidd checks each message published (the per-message
// "publish exchange" lookup, AMQP 0-10 and 1.0 alike) only when this is true
// — with no such rule messages flow unchecked even in deny mode — while it
// always checks publish when an AMQP 1.0 sender link attaches to a queue.
func (a *ACL) HasPublishRules() bool { return a != nil && a.publish }

// Allowed decides whether user may do action on object. user is the
// authenticated identity exactly as the broker knows it ("guest@QPID",
// "anonymous"): rules name users exactly, case included. props are the
// lookup's properties (see LookupProperties for what qpidd passed for each
// check); the object's name is props[PropName] ("" when absent), booleans
// are "true"/"false", numbers decimal.
//
// Rules that apply to the user (by name, group or "all") and cover the
// action and object are tried in file order and the first whose properties
// all match decides; if none does, the default decides. The returned rule
// is the deciding one: its Permission.Logs() tells whether to log.
//
// create connection is decided by AllowedConnection(user, props[PropHost]).
func (a *ACL) Allowed(user string, action Action, object Object, props map[Property]string) (allowed bool, rule Rule) {
	if a == nil {
		return true, noFile
	}
	if action >= numActions || object >= numObjects {
		return false, Rule{File: a.name, Text: fmt.Sprintf("invalid lookup: action %v, object %v", action, object), Permission: Deny}
	}
	if action == ActCreate && object == ObjConnection {
		return a.AllowedConnection(user, props[PropHost])
	}
	name := props[PropName]
	for _, i := range a.index[action][object] {
		r := &a.rules[i]
		if !r.appliesTo(user) {
			continue
		}
		matched, limitsOK := r.match(user, action, name, props)
		if !matched {
			continue
		}
		out := *r
		allowed := r.Permission.Allows()
		if !limitsOK && allowed {
			allowed = false
			out.LimitExceeded = true
		}
		return allowed, out
	}
	d := a.Default()
	return d.Permission.Allows(), d
}

// match is AclData::lookupMatchRule (and, for publish,
// lookupMatchPublishExchangeRule): every property of the rule must match.
// A limit outside its bound does not stop the match but clears limitsOK.
func (r *Rule) match(user string, action Action, name string, props map[Property]string) (matched, limitsOK bool) {
	limitsOK = true
	for p, v := range r.Props {
		switch {
		case p == PropName:
			if r.subst.has(p) {
				v = substituteUser(v, user)
			} else if action == ActPublish && v == "amq.default" {
				// In publish rules amq.default names the default exchange,
				// which lookups name "".
				if name != "" {
					return false, limitsOK
				}
				continue
			}
			if !matchName(v, name) {
				return false, limitsOK
			}
		case p.IsLimit():
			lp, upper := p.limitOf()
			value, ok := props[lp]
			if !ok {
				return false, limitsOK
			}
			if !compareLimit(v, value, upper) {
				limitsOK = false
			}
		case p == PropRoutingKey:
			key, ok := props[PropRoutingKey]
			if action == ActPublish {
				// The publish lookup always has a routing key, maybe "";
				// a key holding a substitution keyword never matches.
				if hasKeyword(key) {
					return false, limitsOK
				}
			} else if !ok {
				return false, limitsOK
			}
			if r.subst.has(p) {
				key = substituteKeywords(key, user)
			}
			if !topicMatch(r.topic, key) {
				return false, limitsOK
			}
		default:
			value, ok := props[p]
			if !ok {
				return false, limitsOK
			}
			if (p == PropAlternate || p == PropQueueName) && r.subst.has(p) {
				v = substituteUser(v, user)
			}
			if !matchName(v, value) {
				return false, limitsOK
			}
		}
	}
	return true, limitsOK
}

// AllowedConnection decides whether user may connect from host, the
// client's IP address, with the create connection rules (qpidd's
// AclData::isAllowedConnection): first the rules for all users with a
// specific host, in file order; then the user's own rules (by name or
// group), in file order; then the rule for all users and host=all, or
// allow. A host that is not an IP address is not checked (allowed), as in
// qpidd.
func (a *ACL) AllowedConnection(user, host string) (allowed bool, rule Rule) {
	if a == nil {
		return true, noFile
	}
	addr, ok := parseClientHost(host)
	if !ok {
		return true, Rule{File: a.name, Text: fmt.Sprintf("client host %q is not an IP address: connection rules do not apply", host), Permission: Allow, Action: ActCreate, Object: ObjConnection}
	}
	for _, list := range [][]int{a.connGlobal, a.connUser[user]} {
		for _, i := range list {
			if r := a.rules[i]; r.host.contains(addr) {
				return r.Permission.Allows(), r
			}
		}
	}
	return a.connDefault.Permission.Allows(), a.connDefault
}

// ConnectionQuota is the file's limit on user's simultaneous connections
// ("quota connections N ..."): enforced is false when the file sets none.
// Otherwise limit is the user's own value (last line wins), else the value
// for "all", else 0; as in qpidd a limit of 0 admits no connection.
func (a *ACL) ConnectionQuota(user string) (limit int, enforced bool) {
	if a == nil {
		return 0, false
	}
	return quota(a.connQuota, a.connQuotaSet, user)
}

// QueueQuota is ConnectionQuota for the number of queues a user may own
// ("quota queues N ...").
func (a *ACL) QueueQuota(user string) (limit int, enforced bool) {
	if a == nil {
		return 0, false
	}
	return quota(a.queueQuota, a.queueQuotaSet, user)
}

func quota(m map[string]int, set bool, user string) (int, bool) {
	if !set {
		return 0, false
	}
	if n, ok := m[user]; ok {
		return n, true
	}
	return m["all"], true
}

// Quotas returns the quota lines' values per name ("all" included).
func (a *ACL) Quotas() (connections, queues map[string]int) {
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(a.connQuota), cp(a.queueQuota)
}
