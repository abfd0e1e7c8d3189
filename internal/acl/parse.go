package acl

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// MaxLineLength is the longest line qpidd reads (its buffer is 1024 bytes
// with the terminating NUL): longer lines are an error.
const MaxLineLength = 1023

// MaxQuota is the largest quota qpidd accepts (AclData::getConnectMaxSpec).
const MaxQuota = 65530

// Error is one mistake in an ACL file.
type Error struct {
	File string
	Line int // 1-based; 0 when the error is not about one line
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// ErrorList is what Parse returns for a bad file: every mistake found, in
// line order (like qpidd, reading goes on after a bad line to report them
// all). Error() is one "path:line: reason" per line.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap lets errors.As find each *Error.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// maxErrors bounds the report for a file that is not an ACL file at all.
const maxErrors = 50

// Load reads and parses the ACL file at path (the broker's acl-file).
func Load(path string) (*ACL, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// Parse reads an ACL file; name is used in error messages and in the rules
// returned by Allowed. On a bad file the error is an ErrorList.
func Parse(r io.Reader, name string) (*ACL, error) {
	p := &parser{
		acl: &ACL{
			name:       name,
			groups:     map[string]*group{},
			connUser:   map[string][]int{},
			connQuota:  map[string]int{},
			queueQuota: map[string]int{},
		},
		uses: map[string]int{},
	}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			p.line++
			p.processLine(strings.TrimSuffix(line, "\n"))
			if len(p.errs) >= maxErrors {
				p.errs = append(p.errs, &Error{File: name, Line: p.line, Msg: "too many errors"})
				break
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(p.errs) < maxErrors {
		p.finish()
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	sort.SliceStable(p.acl.warnings, func(i, j int) bool { return p.acl.warnings[i].line < p.acl.warnings[j].line })
	return p.acl, nil
}

// group is a named set of users, flattened when defined (qpidd copies a
// sub-group's members into the group being defined).
type group struct {
	name    string
	line    int
	members []string // in order of first appearance
	set     map[string]struct{}
	failed  bool // the definition was bad: its continuation lines are skipped
}

func (g *group) add(names ...string) {
	for _, n := range names {
		if _, ok := g.set[n]; !ok {
			g.set[n] = struct{}{}
			g.members = append(g.members, n)
		}
	}
}

type parser struct {
	acl  *ACL
	line int
	errs ErrorList
	// cont is the group whose definition the previous line continued with
	// a trailing '\'; contLine is that line.
	cont     *group
	contLine int
	// uses records, for each rule or quota name that was not a defined
	// group when used, the first line using it: a group defined later is
	// an error, a bare name a warning.
	uses map[string]int
}

func (p *parser) errorf(format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.acl.name, Line: p.line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) errorAt(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.acl.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) warnAt(line int, format string, args ...any) {
	p.acl.warnings = append(p.acl.warnings, warning{line, fmt.Sprintf(format, args...)})
}

// isSpace is the token separator set of AclReader::tokenize.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\f', '\v', '\r':
		return true
	}
	return false
}

func (p *parser) processLine(raw string) {
	if len(raw) > MaxLineLength {
		p.errorf("line is longer than %d characters", MaxLineLength)
		return
	}
	// Empty lines and lines starting with '#' are skipped; they do not end
	// a group continuation. A '#' later in a line is not a comment: it is
	// the topic wildcard in routing keys.
	if raw == "" || raw[0] == '#' {
		return
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; (c < ' ' && !isSpace(rune(c))) || c == 0x7f {
			p.errorf("control character 0x%02x", c)
			return
		}
	}
	text, cont := raw, false
	if i := strings.LastIndexByte(raw, '\\'); i >= 0 {
		if strings.TrimFunc(raw[i+1:], isSpace) != "" {
			p.errorf("characters after the line continuation character '\\' (it must end the line)")
			return
		}
		text, cont = raw[:i], true
	}
	toks := strings.FieldsFunc(text, isSpace)
	if cont && len(toks) == 0 {
		p.errorf("line contains an illegal extension: a continuation line must name group members before the '\\'")
		return
	}
	if len(toks) == 0 {
		return // white space only: skipped, like an empty line
	}
	if p.cont != nil {
		g := p.cont
		if !cont {
			p.cont = nil
		}
		if g.failed {
			return
		}
		if k := toks[0]; k == "group" || k == "acl" || k == "quota" {
			p.errorf("this line continues the definition of group %q (line %d ends with '\\') but starts with the keyword %q", g.name, p.contLine, k)
			return
		}
		p.contLine = p.line
		p.addMembers(g, toks)
		return
	}
	switch toks[0] {
	case "group":
		p.processGroup(toks, cont)
	case "acl", "quota":
		if cont {
			p.errorf("only group definitions may be continued with '\\'")
			return
		}
		if toks[0] == "acl" {
			p.processACL(toks)
		} else {
			p.processQuota(toks)
		}
	default:
		if strings.HasPrefix(toks[0], "#") {
			p.errorf("a comment must start with '#' in the first column")
			return
		}
		p.errorf(`non-continuation line must start with "group", "acl" or "quota"`)
	}
}

// validGroupName: letters, digits, '-' and '_' (AclReader::isValidGroupName).
func validGroupName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// checkUserName is AclReader::isValidUserName: a group member that is not a
// group must be name@realm of letters, digits, '-', '_', '@', '.', '/'.
func checkUserName(s string) error {
	if i := strings.IndexByte(s, '@'); i < 0 || i == len(s)-1 {
		return fmt.Errorf("username %q must contain a realm (name@REALM)", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("-_@./", rune(c)) {
			return fmt.Errorf("username %q contains illegal characters", s)
		}
	}
	return nil
}

func (p *parser) processGroup(toks []string, cont bool) {
	need := 3
	if cont {
		need = 2
	}
	fail := func() {
		if cont {
			p.cont, p.contLine = &group{failed: true}, p.line
		}
	}
	if len(toks) < need {
		p.errorf("insufficient tokens for group definition")
		fail()
		return
	}
	name := toks[1]
	switch {
	case !validGroupName(name):
		p.errorf("group name %q contains illegal characters", name)
		fail()
		return
	case name == "all":
		p.errorf(`group name "all" is reserved`)
		fail()
		return
	}
	if g, ok := p.acl.groups[name]; ok {
		p.errorf("duplicate group name %q (defined at line %d)", name, g.line)
		fail()
		return
	}
	g := &group{name: name, line: p.line, set: map[string]struct{}{}}
	p.acl.groups[name] = g
	p.acl.groupOrder = append(p.acl.groupOrder, name)
	if cont {
		p.cont, p.contLine = g, p.line
	}
	p.addMembers(g, toks[2:])
}

// addMembers adds a group line's members. Like qpidd, a name that could be
// a group name must be a group already defined (naming the group itself is
// ignored), anything else must be a user name with a realm; the first bad
// member ends the line.
func (p *parser) addMembers(g *group, toks []string) {
	for _, m := range toks {
		if validGroupName(m) {
			if m == g.name {
				continue
			}
			sub, ok := p.acl.groups[m]
			if !ok {
				p.errorf("sub-group %q not defined yet (a group must be defined before it is used; a user name needs a realm, as in %s@QPID)", m, m)
				return
			}
			g.add(sub.members...)
			continue
		}
		if err := checkUserName(m); err != nil {
			p.errorf("%v", err)
			return
		}
		g.add(m)
	}
}

// subject resolves the user position of an acl or quota line: "all", a
// defined group, or else one user name as written.
func (p *parser) subject(name string) (all bool, users []string) {
	if name == "all" {
		return true, nil
	}
	if g, ok := p.acl.groups[name]; ok {
		return false, g.members
	}
	if _, ok := p.uses[name]; !ok {
		p.uses[name] = p.line
	}
	return false, []string{name}
}

func (p *parser) processACL(toks []string) {
	if len(toks) < 4 {
		p.errorf("insufficient tokens for acl definition")
		return
	}
	perm, ok := ParsePermission(toks[1])
	if !ok {
		p.errorf("unknown ACL permission %q (allow, allow-log, deny or deny-log)", toks[1])
		return
	}
	r := Rule{
		File:       p.acl.name,
		Line:       p.line,
		Number:     len(p.acl.rules) + 1,
		Text:       strings.Join(toks, " "),
		Permission: perm,
		Subject:    toks[2],
		Action:     ActionAll,
		Object:     ObjectAll,
	}
	if strings.Contains(r.Subject, "*") {
		p.errorf("user %q: qpidd ACL files have no wildcard user names; use all or a group", r.Subject)
		return
	}
	if toks[3] != "all" {
		a, ok := ParseAction(toks[3])
		if !ok {
			p.errorf("unknown action %q", toks[3])
			return
		}
		r.Action = a
	} else if r.Subject == "all" && len(toks) > 4 {
		p.errorf(`tokens found after action "all"`)
		return
	}
	if len(toks) >= 5 && toks[4] != "all" {
		o, ok := ParseObject(toks[4])
		if !ok {
			p.errorf("unknown object %q", toks[4])
			return
		}
		r.Object = o
	}
	for _, nv := range toks[min(5, len(toks)):] {
		n, v, ok := strings.Cut(nv, "=")
		if !ok || v == "" {
			p.errorf("badly formed property name-value pair %q (must be name=value)", nv)
			return
		}
		prop, ok := ParseRuleProperty(n)
		if !ok {
			p.errorf("unknown property %q", n)
			return
		}
		if err := checkValue(prop, v); err != nil {
			p.errorf("%v", err)
			return
		}
		if r.Props == nil {
			r.Props = map[Property]string{}
		}
		if old, dup := r.Props[prop]; dup {
			p.warnAt(p.line, "property %s given twice: the first value %q is used, %q is ignored", prop, old, v)
			continue
		}
		r.Props[prop] = v
	}
	var users []string
	r.all, users = p.subject(r.Subject)
	if !r.all {
		r.Users = append([]string(nil), users...)
		sort.Strings(r.Users)
		r.users = make(map[string]struct{}, len(users))
		for _, u := range users {
			r.users[u] = struct{}{}
		}
	}
	for prop, v := range r.Props {
		if hasKeyword(v) {
			r.subst |= 1 << prop
		}
	}
	if k, ok := r.Props[PropRoutingKey]; ok {
		r.topic = strings.Split(k, ".")
	}
	p.acl.rules = append(p.acl.rules, r)
}

// checkValue is AclValidator's value check: policytype is one of qpidd's
// policies and limits are integers from 0 to 2^63-2.
func checkValue(p Property, v string) error {
	switch {
	case p == PropPolicyType:
		switch v {
		case "ring", "self-destruct", "reject":
			return nil
		}
		return fmt.Errorf("%s is not a valid value for 'policytype', possible values are one of { 'ring' 'self-destruct' 'reject' }", v)
	case p.IsLimit():
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n == math.MaxInt64 {
			return fmt.Errorf("%s is not a valid value for '%s', values should be between 0 and %d", v, p, int64(math.MaxInt64))
		}
	}
	return nil
}

func (p *parser) processQuota(toks []string) {
	if len(toks) < 3 {
		p.errorf("insufficient tokens for quota definition")
		return
	}
	var m map[string]int
	switch toks[1] {
	case "connections":
		m, p.acl.connQuotaSet = p.acl.connQuota, true
	case "queues":
		m, p.acl.queueQuotaSet = p.acl.queueQuota, true
	default:
		p.errorf("quota type %q unrecognized (connections or queues)", toks[1])
		return
	}
	n, err := strconv.ParseUint(toks[2], 10, 16)
	if err != nil {
		p.errorf("%s quota value %q cannot be converted to a 16-bit unsigned integer", toks[1], toks[2])
		return
	}
	if n > MaxQuota {
		p.errorf("%s quota value %q exceeds maximum configuration setting of %d", toks[1], toks[2], MaxQuota)
		return
	}
	if len(toks) == 3 {
		p.warnAt(p.line, "quota line names nobody")
	}
	for _, name := range toks[3:] {
		if name == "all" {
			m["all"] = int(n)
			continue
		}
		_, users := p.subject(name)
		for _, u := range users {
			m[u] = int(n)
		}
	}
}

// finish does what qpidd's AclReader::loadDecisionData does once the whole
// file is read: choose the default, set the connection rules apart, index
// the others by action and object, and check names against groups.
func (p *parser) finish() {
	a := p.acl
	// The default decision is the last "acl <permission> all all" of the
	// file; without one it is deny (AclData's decisionMode).
	a.def = -1
	for i := len(a.rules) - 1; i >= 0; i-- {
		if r := &a.rules[i]; r.all && r.Action == ActionAll {
			a.def = i
			r.Default = true
			break
		}
	}
	if a.def >= 0 && a.def != len(a.rules)-1 {
		r := a.rules[a.def]
		p.warnAt(r.Line, "%q is not the last rule: as in qpidd it only decides what no other rule matches, the rules after it still apply", r.Text)
	}
	a.connDefault = Rule{File: a.name, Text: "acl allow all create connection host=all", Permission: Allow, Action: ActCreate, Object: ObjConnection, all: true, Default: true}
	connModeLine := 0
	for i := range a.rules {
		r := &a.rules[i]
		if i == a.def {
			continue
		}
		if r.all && r.Action == ActionAll {
			p.warnAt(r.Line, "%q matches every request: the rules after it never decide (except create connection rules)", r.Text)
		}
		specific := r.Action != ActionAll && r.Object != ObjectAll
		if specific && !canMatch(r.Action, r.Object, r.Props) {
			p.warnAt(r.Line, "rule ignored: qpidd checks action %q on object %q but never with the property set %s", r.Action, r.Object, propString(r.Props))
			continue
		}
		if specific && !Checked(r.Action, r.Object) {
			p.warnAt(r.Line, "qpidd never checks action %q on object %q: the rule only decides if this broker does", r.Action, r.Object)
		}
		if r.Action == ActCreate && r.Object == ObjConnection {
			p.connectionRule(i, &connModeLine)
			continue
		}
		if r.Action == ActionAll || r.Action == ActPublish {
			a.publish = true
		}
		indexed := false
		for act := Action(0); act < numActions; act++ {
			if r.Action != ActionAll && r.Action != act {
				continue
			}
			for obj := Object(0); obj < numObjects; obj++ {
				if r.Object != ObjectAll && r.Object != obj {
					continue
				}
				if act == ActCreate && obj == ObjConnection {
					continue // connections are decided by the create connection rules only
				}
				if canMatch(act, obj, r.Props) {
					a.index[act][obj] = append(a.index[act][obj], i)
					indexed = indexed || Checked(act, obj)
				}
			}
		}
		if !indexed && (r.Action == ActionAll || r.Object == ObjectAll) {
			p.warnAt(r.Line, "no check of qpidd's broker passes the property set %s: the rule only decides checks qpidd did not make", propString(r.Props))
		}
	}
	for _, q := range []struct {
		kind string
		set  bool
		m    map[string]int
	}{{"connections", a.connQuotaSet, a.connQuota}, {"queues", a.queueQuotaSet, a.queueQuota}} {
		if _, ok := q.m["all"]; q.set && !ok {
			p.warnAt(0, "quota %s has no value for all: as in qpidd, users no quota line names get a quota of 0", q.kind)
		}
	}
	// Names used in rules and quotas that were not groups at the time.
	for name, line := range p.uses {
		if g, ok := a.groups[name]; ok {
			p.errorAt(line, "group %q is used before its definition at line %d (groups must be defined before the rules that use them)", name, g.line)
		} else if !strings.Contains(name, "@") && name != "anonymous" {
			p.warnAt(line, "%q is neither a defined group nor a user name with a realm (name@REALM): it matches only the user id %q", name, name)
		}
	}
}

// connectionRule sets a create connection rule apart (AclReader's
// CREATE CONNECTION interception).
func (p *parser) connectionRule(i int, modeLine *int) {
	a := p.acl
	r := &a.rules[i]
	if _, ok := r.Props[PropName]; ok {
		p.errorAt(r.Line, "create connection rule must not have a 'name' property")
		return
	}
	spec, ok := r.Props[PropHost]
	if !ok {
		p.errorAt(r.Line, "create connection rule has no 'host' property")
		return
	}
	h, err := parseHostRange(spec)
	if err != nil {
		p.errorAt(r.Line, "%v", err)
		return
	}
	r.host = h
	switch {
	case r.all && h.all:
		if *modeLine != 0 {
			p.errorAt(r.Line, "only one create connection rule for user all and host=all is allowed (another at line %d)", *modeLine)
			return
		}
		*modeLine = r.Line
		r.Default = true
		a.connDefault = *r
	case r.all:
		a.connGlobal = append(a.connGlobal, i)
	default:
		for u := range r.users {
			a.connUser[u] = append(a.connUser[u], i)
		}
	}
}

func propString(m map[Property]string) string {
	if len(m) == 0 {
		return "{ }"
	}
	keys := make([]Property, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var b strings.Builder
	b.WriteString("{")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, m[k])
	}
	b.WriteString(" }")
	return b.String()
}
