package acl

import (
	"sort"
	"strings"
)

// The broker's lookups, as registered in qpidd's AclValidator constructor
// (src/qpid/acl/AclValidator.cpp, "generated manually 20140712"): for each
// action and object the broker checks, the property sets it passes. qpidd
// uses the table to drop rules that can never match: a rule for a
// registered action/object is kept only if its properties other than name
// are a subset of one lookup's set (a lookup property maxqueuesize etc.
// admits both limits on it). This package does the same, so that
// callers passing more properties than qpidd did cannot revive rules qpidd
// ignored. The table doubles as the contract for callers: pass these
// properties for these checks.
var lookupTable = []struct {
	action Action
	object Object
	props  string
	what   string
}{
	{ActAccess, ObjBroker, "", "User querying message timestamp setting"},
	{ActAccess, ObjExchange, "name", "AMQP 0-10 protocol received 'query'"},
	{ActAccess, ObjExchange, "name queuename routingkey", "AMQP 0-10 query binding"},
	{ActAccess, ObjExchange, "name type alternate durable autodelete", "AMQP 0-10 exchange declare"},
	{ActAccess, ObjExchange, "name type durable", "AMQP 1.0 exchange access"},
	{ActAccess, ObjExchange, "name", "AMQP 1.0 node resolution"},
	{ActAccess, ObjMethod, "name schemapackage schemaclass", "Management method request"},
	{ActAccess, ObjMethod, "name schemapackage schemaclass", "Management agent method request"},
	{ActAccess, ObjQuery, "name schemaclass", "Management agent query"},
	{ActAccess, ObjQueue, "name", "QMF 'query queue' method"},
	{ActAccess, ObjQueue, "name", "AMQP 0-10 query"},
	{ActAccess, ObjQueue, "name alternate durable exclusive autodelete policytype maxqueuecount maxqueuesize", "AMQP 0-10 queue declare"},
	{ActAccess, ObjQueue, "name alternate durable exclusive autodelete policytype maxqueuecount maxqueuesize", "AMQP 1.0 queue access"},
	{ActAccess, ObjQueue, "name", "AMQP 1.0 node resolution"},
	{ActBind, ObjExchange, "name queuename routingkey", "AMQP 0-10 or QMF bind request"},
	{ActBind, ObjExchange, "name queuename routingkey", "AMQP 1.0 new outgoing link from exchange"},
	{ActConsume, ObjQueue, "name", "AMQP 0-10 subscribe request"},
	{ActConsume, ObjQueue, "name", "AMQP 1.0 new outgoing link from queue"},
	{ActCreate, ObjConnection, "host", "TCP/IP connection creation"},
	{ActCreate, ObjExchange, "name type alternate durable autodelete", "Create exchange"},
	{ActCreate, ObjLink, "", "Interbroker link creation"},
	{ActCreate, ObjLink, "", "Interbroker link creation (AMQP 1.0)"},
	{ActCreate, ObjQueue, "name alternate durable exclusive autodelete policytype paging maxpages maxpagefactor maxqueuecount maxqueuesize maxfilecount maxfilesize", "Create queue"},
	{ActDelete, ObjExchange, "name type alternate durable", "Delete exchange"},
	{ActDelete, ObjQueue, "name alternate durable exclusive autodelete policytype", "Delete queue"},
	{ActMove, ObjQueue, "name queuename", "Management 'move queue' request"},
	{ActPublish, ObjExchange, "name routingkey", "AMQP 0-10 received message processing"},
	{ActPublish, ObjExchange, "routingkey", "AMQP 1.0 establish sender link to queue"},
	{ActPublish, ObjExchange, "name routingkey", "AMQP 1.0 received message processing"},
	{ActPurge, ObjQueue, "name", "Management 'purge queue' request"},
	{ActPurge, ObjQueue, "name", "Management 'purge queue' request"},
	{ActRedirect, ObjQueue, "name queuename", "Management 'redirect queue' request"},
	{ActReroute, ObjQueue, "name exchangename", "Management 'reroute queue' request"},
	{ActUnbind, ObjExchange, "name queuename routingkey", "Management 'unbind exchange' request"},
	{ActUpdate, ObjBroker, "", "User modifying message timestamp setting"},
}

// propSet is a set of rule properties, as a bit mask.
type propSet uint64

func (s propSet) has(p Property) bool { return s&(1<<p) != 0 }

// lookupRuleProps[action][object] lists, per registered lookup, the rule
// properties that lookup can satisfy; nil when qpidd never checks the pair.
var lookupRuleProps [numActions][numObjects][]propSet

func init() {
	for _, l := range lookupTable {
		var s propSet
		for _, f := range strings.Fields(l.props) {
			p := lookupProperty(f)
			s |= 1 << p
			for q := PropQueueMaxSizeLowerLimit; q < numProperties; q++ {
				if lp, _ := q.limitOf(); lp == p {
					s |= 1 << q
				}
			}
		}
		lookupRuleProps[l.action][l.object] = append(lookupRuleProps[l.action][l.object], s)
	}
}

func lookupProperty(name string) Property {
	for i, n := range propertyNames {
		if n == name {
			return Property(i)
		}
	}
	panic("acl: bad lookup table property " + name)
}

// Checked reports whether qpidd's broker ever checks action on object.
func Checked(action Action, object Object) bool {
	return action < numActions && object < numObjects && lookupRuleProps[action][object] != nil
}

// LookupProperties returns the property sets qpidd's broker passes when it
// checks action on object (one entry per kind of check, sorted names), or
// nil when it never checks the pair.
func LookupProperties(action Action, object Object) [][]string {
	if !Checked(action, object) {
		return nil
	}
	var out [][]string
	for _, l := range lookupTable {
		if l.action == action && l.object == object {
			f := strings.Fields(l.props)
			sort.Strings(f)
			out = append(out, f)
		}
	}
	return out
}

// canMatch is AclValidator::validateAllowedProperties for a registered
// pair; pairs qpidd never checks accept any rule (see package doc).
func canMatch(action Action, object Object, props map[Property]string) bool {
	sets := lookupRuleProps[action][object]
	if sets == nil {
		return true
	}
	for _, s := range sets {
		ok := true
		for p := range props {
			if p != PropName && !s.has(p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
