package acl

// The vocabulary of ACL files and ACL lookups, spelled exactly as qpidd's
// src/qpid/acl/AclLexer.cpp spells it. All tokens are case sensitive.

// Permission is the first word after "acl": what a matching rule decides.
type Permission uint8

const (
	Allow    Permission = iota // allow
	AllowLog                   // allow-log: allow, and the broker logs the decision
	Deny                       // deny
	DenyLog                    // deny-log: deny, and the broker logs the decision
	numPermissions
)

var permissionNames = [numPermissions]string{"allow", "allow-log", "deny", "deny-log"}

func (p Permission) String() string {
	if p < numPermissions {
		return permissionNames[p]
	}
	return "permission(?)"
}

// Allows reports whether the permission grants the request.
func (p Permission) Allows() bool { return p == Allow || p == AllowLog }

// Logs reports whether the broker should log the decision (allow-log,
// deny-log; qpidd logs them at info level and raises a QMF event).
func (p Permission) Logs() bool { return p == AllowLog || p == DenyLog }

// ParsePermission parses allow, allow-log, deny or deny-log.
func ParsePermission(s string) (Permission, bool) {
	for i, n := range permissionNames {
		if n == s {
			return Permission(i), true
		}
	}
	return 0, false
}

// Action is what a user wants to do to an object.
type Action uint8

const (
	ActAccess   Action = iota // access: look at / declare passively / resolve
	ActBind                   // bind a queue to an exchange
	ActConsume                // consume from a queue
	ActCreate                 // create
	ActDelete                 // delete
	ActMove                   // move messages between queues (management)
	ActPublish                // publish a message to an exchange
	ActPurge                  // purge a queue
	ActRedirect               // redirect a queue (management)
	ActReroute                // reroute a queue's messages to an exchange (management)
	ActUnbind                 // unbind
	ActUpdate                 // update a broker setting
	numActions

	// ActionAll is the "all" keyword in a rule's action position. It is
	// never a valid lookup action.
	ActionAll Action = 255
)

var actionNames = [numActions]string{
	"access", "bind", "consume", "create", "delete",
	"move", "publish", "purge", "redirect", "reroute",
	"unbind", "update"}

func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	if a == ActionAll {
		return "all"
	}
	return "action(?)"
}

// ParseAction parses an action name (not "all").
func ParseAction(s string) (Action, bool) {
	for i, n := range actionNames {
		if n == s {
			return Action(i), true
		}
	}
	return 0, false
}

// Actions lists every action, in qpidd's order.
func Actions() []Action {
	out := make([]Action, numActions)
	for i := range out {
		out[i] = Action(i)
	}
	return out
}

// Object is the kind of thing acted upon.
type Object uint8

const (
	ObjBroker     Object = iota // broker
	ObjConnection               // connection (create connection host=... rules)
	ObjExchange                 // exchange
	ObjLink                     // link: a federation / inter-broker (HA) link
	ObjMethod                   // method: a management method
	ObjQuery                    // query: a management query
	ObjQueue                    // queue
	numObjects

	// ObjectAll is the "all" keyword (or an absent object) in a rule. It is
	// never a valid lookup object.
	ObjectAll Object = 255
)

var objectNames = [numObjects]string{
	"broker", "connection", "exchange", "link", "method", "query", "queue"}

func (o Object) String() string {
	if o < numObjects {
		return objectNames[o]
	}
	if o == ObjectAll {
		return "all"
	}
	return "object(?)"
}

// ParseObject parses an object name (not "all").
func ParseObject(s string) (Object, bool) {
	for i, n := range objectNames {
		if n == s {
			return Object(i), true
		}
	}
	return 0, false
}

// Objects lists every object type, in qpidd's order.
func Objects() []Object {
	out := make([]Object, numObjects)
	for i := range out {
		out[i] = Object(i)
	}
	return out
}

// Property names a property of a lookup (what the broker passes to
// Allowed) or of a rule (what an ACL file writes as name=value). Most are
// shared; the numeric limits differ: the broker passes the requested value
// (PropMaxQueueSize ...) and a rule states a bound (PropQueueMaxSizeUpperLimit
// ...), as in qpidd's Property/SpecProperty split.
type Property uint8

const (
	PropName          Property = iota // name: object name (a lookup passes "" when there is none)
	PropDurable                       // durable: "true" / "false"
	PropOwner                         // owner (qpidd never passes it)
	PropRoutingKey                    // routingkey: matched with topic wildcards
	PropAutoDelete                    // autodelete: "true" / "false"
	PropExclusive                     // exclusive: "true" / "false"
	PropType                          // type: exchange type
	PropAlternate                     // alternate: alternate exchange name
	PropQueueName                     // queuename: the queue of a bind/unbind/move/redirect
	PropExchangeName                  // exchangename: the exchange of a reroute
	PropSchemaPackage                 // schemapackage: QMF schema package
	PropSchemaClass                   // schemaclass: QMF schema class
	PropPolicyType                    // policytype: ring, self-destruct or reject
	PropPaging                        // paging: "true" / "false"
	PropHost                          // host: client IP (create connection)

	// Lookup-only numeric values, compared with the rule limits below.
	PropMaxPages      // maxpages
	PropMaxPageFactor // maxpagefactor
	PropMaxQueueSize  // maxqueuesize (bytes)
	PropMaxQueueCount // maxqueuecount (messages)
	PropMaxFileSize   // maxfilesize
	PropMaxFileCount  // maxfilecount

	// Rule-only numeric limits. In a file, maxqueuesize= and maxqueuecount=
	// are accepted as the old names of the two queue upper limits.
	PropQueueMaxSizeLowerLimit  // queuemaxsizelowerlimit
	PropQueueMaxSizeUpperLimit  // queuemaxsizeupperlimit
	PropQueueMaxCountLowerLimit // queuemaxcountlowerlimit
	PropQueueMaxCountUpperLimit // queuemaxcountupperlimit
	PropFileMaxSizeLowerLimit   // filemaxsizelowerlimit
	PropFileMaxSizeUpperLimit   // filemaxsizeupperlimit
	PropFileMaxCountLowerLimit  // filemaxcountlowerlimit
	PropFileMaxCountUpperLimit  // filemaxcountupperlimit
	PropPagesLowerLimit         // pageslowerlimit
	PropPagesUpperLimit         // pagesupperlimit
	PropPageFactorLowerLimit    // pagefactorlowerlimit
	PropPageFactorUpperLimit    // pagefactorupperlimit
	numProperties
)

var propertyNames = [numProperties]string{
	"name", "durable", "owner", "routingkey", "autodelete", "exclusive", "type",
	"alternate", "queuename", "exchangename", "schemapackage",
	"schemaclass", "policytype", "paging", "host",
	"maxpages", "maxpagefactor",
	"maxqueuesize", "maxqueuecount", "maxfilesize", "maxfilecount",
	"queuemaxsizelowerlimit", "queuemaxsizeupperlimit",
	"queuemaxcountlowerlimit", "queuemaxcountupperlimit",
	"filemaxsizelowerlimit", "filemaxsizeupperlimit",
	"filemaxcountlowerlimit", "filemaxcountupperlimit",
	"pageslowerlimit", "pagesupperlimit",
	"pagefactorlowerlimit", "pagefactorupperlimit",
}

func (p Property) String() string {
	if p < numProperties {
		return propertyNames[p]
	}
	return "property(?)"
}

// ParseRuleProperty parses a property name as written in an ACL file
// (qpidd's AclHelper::getSpecProperty): the shared names, the limit names
// and the aliases maxqueuesize / maxqueuecount for the queue upper limits.
// The lookup-only names (maxpages, maxfilesize, ...) are not rule properties.
func ParseRuleProperty(s string) (Property, bool) {
	switch s {
	case "maxqueuesize":
		return PropQueueMaxSizeUpperLimit, true
	case "maxqueuecount":
		return PropQueueMaxCountUpperLimit, true
	}
	for i, n := range propertyNames {
		p := Property(i)
		if n == s && !p.lookupOnly() {
			return p, true
		}
	}
	return 0, false
}

func (p Property) lookupOnly() bool { return p >= PropMaxPages && p <= PropMaxFileCount }

// IsLimit reports whether p is a rule-only numeric limit.
func (p Property) IsLimit() bool {
	return p >= PropQueueMaxSizeLowerLimit && p < numProperties
}

// limitOf returns, for a rule limit property, the lookup property it
// bounds and whether it is an upper bound (AclData::lookupMatchRule).
func (p Property) limitOf() (lookup Property, upper bool) {
	switch p {
	case PropQueueMaxSizeLowerLimit:
		return PropMaxQueueSize, false
	case PropQueueMaxSizeUpperLimit:
		return PropMaxQueueSize, true
	case PropQueueMaxCountLowerLimit:
		return PropMaxQueueCount, false
	case PropQueueMaxCountUpperLimit:
		return PropMaxQueueCount, true
	case PropFileMaxSizeLowerLimit:
		return PropMaxFileSize, false
	case PropFileMaxSizeUpperLimit:
		return PropMaxFileSize, true
	case PropFileMaxCountLowerLimit:
		return PropMaxFileCount, false
	case PropFileMaxCountUpperLimit:
		return PropMaxFileCount, true
	case PropPagesLowerLimit:
		return PropMaxPages, false
	case PropPagesUpperLimit:
		return PropMaxPages, true
	case PropPageFactorLowerLimit:
		return PropMaxPageFactor, false
	case PropPageFactorUpperLimit:
		return PropMaxPageFactor, true
	}
	return p, false
}
