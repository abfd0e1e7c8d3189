package amqpserver

// Access control: the acl-file applied to connections, links, messages and
// (through Server.Authorize) management requests, with the checks qpidd
// made for AMQP 1.0 clients (src/qpid/broker/amqp/Authorise.cpp,
// Session::resolve, Broker::createQueue and friends).
//
// What is checked, per operation (the lookups of package acl's table):
//
//	connection open           create connection host=<client IP> (AllowedConnection), then
//	                          the "quota connections" limit; refused: close with
//	                          amqp:unauthorized-access (quota: amqp:resource-limit-exceeded)
//	queue created by a client the "quota queues" limit, with max-queues-per-user (the
//	                          smaller applies; queues.go): amqp:resource-limit-exceeded
//	attach to a named node    access queue name=N and access exchange name=N, only
//	                          the one asked for when the terminus has the capability
//	                          "queue" or "topic" (qpidd's node resolution)
//	  made on demand          create queue name=N alternate durable exclusive autodelete
//	                          policytype paging [maxqueuecount] [maxqueuesize]
//	                          (queue-patterns), or create exchange name=N type=topic
//	                          alternate durable autodelete (topic-patterns)
//	sender to a queue         access queue (with its properties), then
//	                          publish exchange name="" routingkey=<queue>
//	sender to an exchange     access exchange name=E type durable; each message then
//	                          publish exchange name=E routingkey=<subject> when the file
//	                          has publish rules (HasPublishRules)
//	anonymous relay           access exchange name=ANONYMOUS-RELAY at attach; each message
//	                          as a sender to the node its "to" names
//	receiver from a queue     access queue, then consume queue name=Q
//	receiver from an exchange access exchange, create queue (the subscription queue),
//	                          bind exchange name=E queuename=Q routingkey=K per binding,
//	                          consume queue name=Q
//	dynamic node              node resolution and create queue of the generated name,
//	                          access queue, then consume or publish as above
//	extension node ("$...")   create link (qpidd's inter-broker link check), for the nodes
//	                          of an extension such as HA's $ha-replicate
//
// A denial refuses the attach (or detaches a producer whose message was
// denied, rejecting the message) with amqp:unauthorized-access and a
// description naming the user and the request. Every denial is logged at
// info level with the user, action, object, name, properties and deciding
// rule (file:line); allow-log rules log what they allow too.
//
// The identity checked is the SASL identity (user@REALM); a connection
// without one (auth=no and no SASL layer) is "anonymous", as ANONYMOUS's is.

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/acl"
	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/broker"
)

// AnonymousUser is the identity ACL rules see for a connection that did
// not authenticate.
const AnonymousUser = "anonymous"

// AnonymousRelay is the node name qpidd's ACL checks ("access exchange")
// when a client attaches a sender without a target address.
const AnonymousRelay = "ANONYMOUS-RELAY"

// AccessControl is the ACL a server enforces (Config.ACL); nil allows
// everything. It is safe for concurrent use, and SetACL swaps the rules of
// a running server (a reload).
type AccessControl struct {
	acl atomic.Pointer[acl.ACL]
	log *logrus.Logger

	queuePatterns, topicPatterns []*regexp.Regexp

	mu    sync.Mutex
	conns map[string]int // open connections per user, for "quota connections"
}

// NewAccessControl enforces a (nil: allow everything). queuePatterns and
// topicPatterns are the broker's (broker.Config): with them the server
// knows, before an attach makes a node on demand, whether it will be a
// queue or an exchange, and checks "create queue" or "create exchange"
// first. log receives the decisions (nil: logrus's standard logger).
func NewAccessControl(a *acl.ACL, queuePatterns, topicPatterns []string, log *logrus.Logger) (*AccessControl, error) {
	if log == nil {
		log = logrus.StandardLogger()
	}
	ac := &AccessControl{log: log, conns: map[string]int{}}
	var err error
	if ac.queuePatterns, err = compilePatterns("queue-patterns", queuePatterns); err != nil {
		return nil, err
	}
	if ac.topicPatterns, err = compilePatterns("topic-patterns", topicPatterns); err != nil {
		return nil, err
	}
	ac.acl.Store(a)
	return ac, nil
}

// compilePatterns compiles patterns as package broker does: anchored.
func compilePatterns(what string, patterns []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range patterns {
		re, err := regexp.Compile("^(?:" + p + ")$")
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", what, p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// LoadAccessControl loads the acl-file at path for a server; an empty path
// means no ACL file (nil, nil: everything allowed). Errors name the file
// and line ("acl-file: path:line: reason", one line per mistake); the
// file's warnings are logged, and so is what quota lines this broker does
// not enforce.
func LoadAccessControl(path string, queuePatterns, topicPatterns []string, log *logrus.Logger) (*AccessControl, error) {
	if path == "" {
		return nil, nil
	}
	a, err := acl.Load(path)
	if err != nil {
		return nil, fmt.Errorf("acl-file: %w", err)
	}
	ac, err := NewAccessControl(a, queuePatterns, topicPatterns, log)
	if err != nil {
		return nil, err
	}
	ac.logLoaded(a)
	return ac, nil
}

func (ac *AccessControl) logLoaded(a *acl.ACL) {
	for _, w := range a.Warnings() {
		ac.log.Warn("acl-file: " + w)
	}
	d := a.Default()
	ac.log.WithFields(logrus.Fields{"file": a.Name(), "rules": len(a.Rules()), "default": d.Permission.String()}).
		Info("ACL file loaded")
}

// ACL is the ACL in force (nil: everything allowed).
func (ac *AccessControl) ACL() *acl.ACL {
	if ac == nil {
		return nil
	}
	return ac.acl.Load()
}

// SetACL replaces the rules in force (nil allows everything); decisions
// already made stand.
func (ac *AccessControl) SetACL(a *acl.ACL) {
	ac.acl.Store(a)
	if a != nil {
		ac.logLoaded(a)
	}
}

// aclUser is the identity rules see.
func aclUser(user string) string {
	if user == "" {
		return AnonymousUser
	}
	return user
}

// decide applies the ACL to one request; nil means allowed. Denials are
// logged, and so are the decisions of allow-log and deny-log rules.
func (ac *AccessControl) decide(log *logrus.Entry, user string, action acl.Action, object acl.Object, props map[acl.Property]string) *types.Error {
	a := ac.ACL()
	if a == nil {
		return nil
	}
	user = aclUser(user)
	allowed, rule := a.Allowed(user, action, object, props)
	if allowed && !rule.Permission.Logs() {
		return nil
	}
	logDecision(log, allowed, user, action.String(), object.String(), props, rule)
	if allowed {
		return nil
	}
	return types.NewError(types.CondUnauthorizedAccess, "%s", Denial(user, action, object, props))
}

func logDecision(log *logrus.Entry, allowed bool, user, action, object string, props map[acl.Property]string, rule acl.Rule) {
	f := logrus.Fields{"user": user, "action": action, "object": object, "name": props[acl.PropName], "rule": rule.String()}
	if s := propString(props); s != "" {
		f["properties"] = s
	}
	if rule.LimitExceeded {
		f["limit-exceeded"] = true
	}
	if allowed {
		log.WithFields(f).Info("ACL allowed")
	} else {
		log.WithFields(f).Info("ACL denied")
	}
}

// propString is the properties other than name, sorted: "durable=true
// routingkey=a.b".
func propString(props map[acl.Property]string) string {
	var parts []string
	for p, v := range props {
		if p != acl.PropName {
			parts = append(parts, p.String()+"="+v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Denial is the description of a denied request, as clients see it:
// `ACL denied bob@QPID: consume queue "q1"`, with the queue name and
// routing key of bindings and publishes.
func Denial(user string, action acl.Action, object acl.Object, props map[acl.Property]string) string {
	s := fmt.Sprintf("ACL denied %s: %s %s", aclUser(user), action, object)
	if name, ok := props[acl.PropName]; ok {
		s += fmt.Sprintf(" %q", name)
	}
	if q, ok := props[acl.PropQueueName]; ok {
		s += fmt.Sprintf(" queuename=%q", q)
	}
	if k, ok := props[acl.PropRoutingKey]; ok {
		s += fmt.Sprintf(" routingkey=%q", k)
	}
	if h, ok := props[acl.PropHost]; ok {
		s += " from " + h
	}
	return s
}

// AdminAllowed reports whether user may administer the broker: the ACL
// allows it both "access broker" and "update broker", qpidd's checks for
// reading and changing broker-wide settings (there "acl allow admin all
// all" or "... all broker" grants them). The HA module asks it of
// administrators' connections to a backup and of promote requests. With
// no ACL everyone may. Denials are logged.
func (ac *AccessControl) AdminAllowed(user string) bool {
	if ac.ACL() == nil {
		return true
	}
	log := logrus.NewEntry(ac.log).WithField("check", "administrator")
	for _, action := range []acl.Action{acl.ActAccess, acl.ActUpdate} {
		if ac.decide(log, user, action, acl.ObjBroker, map[acl.Property]string{}) != nil {
			return false
		}
	}
	return true
}

// AdminAllowed is the server's AccessControl.AdminAllowed.
func (s *Server) AdminAllowed(user string) bool { return s.cfg.ACL.AdminAllowed(user) }

// Authorize applies the ACL to a request of a client (management
// operations): nil means allowed, else an amqp:unauthorized-access error
// whose description names the user and the request. Denials are logged
// with the connection, user, action, object, name and rule.
func (s *Server) Authorize(from ConnInfo, action acl.Action, object acl.Object, props map[acl.Property]string) *types.Error {
	if s.cfg.ACL.ACL() == nil {
		return nil
	}
	log := s.log.WithFields(logrus.Fields{"connection": from.ID, "remote": from.Remote})
	return s.cfg.ACL.decide(log, from.User, action, object, props)
}

// authorize applies the ACL to a request of this connection's client.
func (c *conn) authorize(action acl.Action, object acl.Object, props map[acl.Property]string) *types.Error {
	ac := c.srv.cfg.ACL
	if ac.ACL() == nil {
		return nil
	}
	user := ""
	if info := c.info.Load(); info != nil {
		user = info.User
	}
	return ac.decide(c.log, user, action, object, props)
}

// admitACL decides an opening connection: the create connection rules for
// the client's address, then the user's connection quota, which it takes
// a place of until the connection ends (releaseACL).
func (c *conn) admitACL() *types.Error {
	ac := c.srv.cfg.ACL
	a := ac.ACL()
	if a == nil {
		return nil
	}
	user := aclUser(c.info.Load().User)
	host := c.dc.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	allowed, rule := a.AllowedConnection(user, host)
	props := map[acl.Property]string{acl.PropHost: host}
	if !allowed || rule.Permission.Logs() {
		logDecision(c.log, allowed, user, acl.ActCreate.String(), acl.ObjConnection.String(), props, rule)
	}
	if !allowed {
		return types.NewError(types.CondUnauthorizedAccess, "%s", Denial(user, acl.ActCreate, acl.ObjConnection, props))
	}
	limit, enforced := a.ConnectionQuota(user)
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if enforced && ac.conns[user] >= limit {
		c.log.WithFields(logrus.Fields{"user": user, "quota": limit}).Info("ACL denied: connection quota reached")
		return types.NewError(types.CondResourceLimitExceeded, "ACL denied %s: the connection quota (%d) is reached", user, limit)
	}
	ac.conns[user]++
	c.aclUser = user
	return nil
}

// releaseACL gives back the connection's place in its user's quota.
func (c *conn) releaseACL() {
	if c.aclUser == "" {
		return
	}
	ac := c.srv.cfg.ACL
	ac.mu.Lock()
	if ac.conns[c.aclUser]--; ac.conns[c.aclUser] <= 0 {
		delete(ac.conns, c.aclUser)
	}
	ac.mu.Unlock()
	c.aclUser = ""
}

// capabilities reads the "queue" and "topic" capabilities of a terminus:
// asking for both is asking for neither (Session::resolve).
func capabilities(caps []types.Symbol) (queue, topic bool) {
	for _, c := range caps {
		switch c {
		case "queue":
			queue = true
		case "topic":
			topic = true
		}
	}
	if queue && topic {
		return false, false
	}
	return queue, topic
}

// authorizeResolve is qpidd's check before resolving a node name: access
// queue and access exchange by name, or only the kind the client asked for.
func (c *conn) authorizeResolve(name string, caps []types.Symbol) *types.Error {
	queue, topic := capabilities(caps)
	props := map[acl.Property]string{acl.PropName: name}
	if !queue {
		if e := c.authorize(acl.ActAccess, acl.ObjExchange, props); e != nil {
			return e
		}
	}
	if !topic {
		if e := c.authorize(acl.ActAccess, acl.ObjQueue, props); e != nil {
			return e
		}
	}
	return nil
}

// resolve is broker.Resolve under the ACL: the node-resolution check, and
// "create queue" or "create exchange" before a node is made on demand.
func (c *conn) resolve(address string, args broker.Args, caps []types.Symbol) (broker.Node, error) {
	b := c.srv.cfg.Broker
	ac := c.srv.cfg.ACL
	if ac.ACL() == nil {
		return b.ResolveAs(address, args, c.id, c.creator())
	}
	if e := c.authorizeResolve(address, caps); e != nil {
		return broker.Node{}, e
	}
	if b.Queue(address) == nil && b.Exchange(address) == nil {
		if e := c.authorizeOnDemand(address, args); e != nil {
			return broker.Node{}, e
		}
	}
	return b.ResolveAs(address, args, c.id, c.creator())
}

// authorizeOnDemand checks the creation broker.Resolve is about to make:
// a queue when the name matches a queue pattern, else an exchange when it
// matches a topic pattern. Bad arguments are left for Resolve to refuse.
func (c *conn) authorizeOnDemand(address string, args broker.Args) *types.Error {
	ac := c.srv.cfg.ACL
	for _, re := range ac.queuePatterns {
		if re.MatchString(address) {
			s, err := broker.ParseQueueArgs(args)
			if err != nil {
				return nil
			}
			return c.authorize(acl.ActCreate, acl.ObjQueue, CreateQueueProps(address, s))
		}
	}
	for _, re := range ac.topicPatterns {
		if re.MatchString(address) {
			s, err := broker.ParseExchangeArgs(args)
			if err != nil {
				return nil
			}
			return c.authorize(acl.ActCreate, acl.ObjExchange, CreateExchangeProps(address, broker.Topic, s))
		}
	}
	return nil
}

// authorizeIncoming checks a sender's node (Authorise::incoming): access to
// it and, for a queue, publishing to it through the default exchange.
func (c *conn) authorizeIncoming(node broker.Node) *types.Error {
	switch {
	case node.Queue != nil:
		q := node.Queue
		if e := c.authorize(acl.ActAccess, acl.ObjQueue, QueueProps(q.Name(), q.Settings())); e != nil {
			return e
		}
		return c.authorizePublishToQueue(q.Name())
	case node.Exchange != nil:
		return c.authorizeAccessExchange(node.Exchange)
	}
	return nil
}

// authorizeAccessExchange checks access to an existing exchange, which
// senders to it and receivers from it need.
func (c *conn) authorizeAccessExchange(e *broker.Exchange) *types.Error {
	return c.authorize(acl.ActAccess, acl.ObjExchange, ExchangeProps(e))
}

// authorizeRelay checks a sender without a target address: qpidd's
// access exchange name=ANONYMOUS-RELAY.
func (c *conn) authorizeRelay() *types.Error {
	return c.authorize(acl.ActAccess, acl.ObjExchange, map[acl.Property]string{acl.PropName: AnonymousRelay})
}

func (c *conn) authorizePublishToQueue(queue string) *types.Error {
	return c.authorize(acl.ActPublish, acl.ObjExchange, map[acl.Property]string{acl.PropName: "", acl.PropRoutingKey: queue})
}

// authorizeOutgoing checks a receiver from a queue (Authorise::outgoing):
// access to it and consuming from it.
func (c *conn) authorizeOutgoing(q *broker.Queue) *types.Error {
	if e := c.authorize(acl.ActAccess, acl.ObjQueue, QueueProps(q.Name(), q.Settings())); e != nil {
		return e
	}
	return c.authorize(acl.ActConsume, acl.ObjQueue, map[acl.Property]string{acl.PropName: q.Name()})
}

// authorizeDynamic checks a dynamic node before it is made: resolving its
// generated name, creating it, access, and consuming from it (receivers)
// or publishing to it (senders).
func (c *conn) authorizeDynamic(name string, s broker.QueueSettings, caps []types.Symbol, outgoing bool) *types.Error {
	if c.srv.cfg.ACL.ACL() == nil {
		return nil
	}
	if e := c.authorizeResolve(name, caps); e != nil {
		return e
	}
	if e := c.authorize(acl.ActCreate, acl.ObjQueue, CreateQueueProps(name, s)); e != nil {
		return e
	}
	if e := c.authorize(acl.ActAccess, acl.ObjQueue, QueueProps(name, s)); e != nil {
		return e
	}
	if outgoing {
		return c.authorize(acl.ActConsume, acl.ObjQueue, map[acl.Property]string{acl.PropName: name})
	}
	return c.authorizePublishToQueue(name)
}

// authorizeSubscription checks the private queue of a receiver on an
// exchange before it is made: creating it, binding it with each key, and
// consuming from it.
func (c *conn) authorizeSubscription(e *broker.Exchange, name string, s broker.QueueSettings, keys []string) *types.Error {
	if c.srv.cfg.ACL.ACL() == nil {
		return nil
	}
	if err := c.authorize(acl.ActCreate, acl.ObjQueue, CreateQueueProps(name, s)); err != nil {
		return err
	}
	for _, k := range keys {
		props := map[acl.Property]string{acl.PropName: e.Name(), acl.PropQueueName: name, acl.PropRoutingKey: k}
		if err := c.authorize(acl.ActBind, acl.ObjExchange, props); err != nil {
			return err
		}
	}
	return c.authorize(acl.ActConsume, acl.ObjQueue, map[acl.Property]string{acl.PropName: name})
}

// authorizeMessage is the per-message check of a producer: publish
// exchange with the message's routing key when the ACL has publish rules
// (Authorise::route), always for a queue reached through the relay
// (Authorise::incoming).
func (c *conn) authorizeMessage(node broker.Node, relay bool, subject string) *types.Error {
	a := c.srv.cfg.ACL.ACL()
	if a == nil {
		return nil
	}
	switch {
	case node.Queue != nil && relay:
		q := node.Queue
		if e := c.authorize(acl.ActAccess, acl.ObjQueue, QueueProps(q.Name(), q.Settings())); e != nil {
			return e
		}
		return c.authorizePublishToQueue(q.Name())
	case node.Exchange != nil && a.HasPublishRules():
		return c.authorize(acl.ActPublish, acl.ObjExchange, map[acl.Property]string{acl.PropName: node.Exchange.Name(), acl.PropRoutingKey: subject})
	}
	return nil
}

// authorizeExtension is the check of a link to an extension's node (a
// name starting with '$', other than the management node): qpidd's
// "create link" for inter-broker links.
func (c *conn) authorizeExtension(l *amqp.Link) *types.Error {
	if c.srv.cfg.ACL.ACL() == nil {
		return nil
	}
	var address string
	if l.IsSender() {
		if s := l.RemoteSource(); s != nil {
			address = s.Address
		}
	} else if t, ok := l.RemoteTarget().(*types.Target); ok {
		address = t.Address
	}
	if !strings.HasPrefix(address, "$") || address == ManagementAddress {
		return nil
	}
	return c.authorize(acl.ActCreate, acl.ObjLink, map[acl.Property]string{acl.PropName: address})
}

// Properties of the ACL lookups, as qpidd's broker passed them.

func boolString(b bool) string { return strconv.FormatBool(b) }

const unlimited = "18446744073709551615" // qpidd's value for an explicit 0 limit

func policyType(s broker.QueueSettings) string {
	if s.Policy == "" {
		return string(broker.PolicyReject)
	}
	return string(s.Policy)
}

// CreateQueueProps are the properties of "create queue" for a queue about
// to be made with s (Broker::createQueue): maxqueuecount and maxqueuesize
// only when the arguments set them (0 is unlimited).
func CreateQueueProps(name string, s broker.QueueSettings) map[acl.Property]string {
	p := map[acl.Property]string{
		acl.PropName:       name,
		acl.PropAlternate:  s.AlternateExchange,
		acl.PropDurable:    boolString(s.Durable),
		acl.PropExclusive:  boolString(s.Exclusive),
		acl.PropAutoDelete: boolString(s.AutoDelete),
		acl.PropPolicyType: policyType(s),
		acl.PropPaging:     "false",
	}
	if _, ok := s.Args[broker.ArgMaxCount]; ok {
		p[acl.PropMaxQueueCount] = limitString(int64(s.MaxCount))
	}
	if _, ok := s.Args[broker.ArgMaxSize]; ok {
		p[acl.PropMaxQueueSize] = limitString(s.MaxBytes)
	} else if s.MaxBytes > 0 {
		p[acl.PropMaxQueueSize] = limitString(s.MaxBytes)
	}
	return p
}

func limitString(n int64) string {
	if n <= 0 {
		return unlimited
	}
	return strconv.FormatInt(n, 10)
}

// QueueProps are the properties of "access queue" for an existing queue
// (Authorise::access): the alternate exchange and policy type only when
// set, the limits when the queue has them.
func QueueProps(name string, s broker.QueueSettings) map[acl.Property]string {
	p := map[acl.Property]string{
		acl.PropName:       name,
		acl.PropDurable:    boolString(s.Durable),
		acl.PropExclusive:  boolString(s.Exclusive),
		acl.PropAutoDelete: boolString(s.AutoDelete),
	}
	if s.AlternateExchange != "" {
		p[acl.PropAlternate] = s.AlternateExchange
	}
	if v, ok := s.Args[broker.ArgPolicyType]; ok {
		p[acl.PropPolicyType] = fmt.Sprint(v)
	}
	if s.MaxCount > 0 {
		p[acl.PropMaxQueueCount] = strconv.Itoa(s.MaxCount)
	}
	if s.MaxBytes > 0 {
		p[acl.PropMaxQueueSize] = strconv.FormatInt(s.MaxBytes, 10)
	}
	return p
}

// DeleteQueueProps are the properties of "delete queue"
// (Broker::deleteQueue).
func DeleteQueueProps(name string, s broker.QueueSettings) map[acl.Property]string {
	return map[acl.Property]string{
		acl.PropName:       name,
		acl.PropAlternate:  s.AlternateExchange,
		acl.PropDurable:    boolString(s.Durable),
		acl.PropExclusive:  boolString(s.Exclusive),
		acl.PropAutoDelete: boolString(s.AutoDelete),
		acl.PropPolicyType: policyType(s),
	}
}

// CreateExchangeProps are the properties of "create exchange"
// (Broker::createExchange).
func CreateExchangeProps(name, kind string, s broker.ExchangeSettings) map[acl.Property]string {
	return map[acl.Property]string{
		acl.PropName:       name,
		acl.PropType:       kind,
		acl.PropAlternate:  s.AlternateExchange,
		acl.PropDurable:    boolString(s.Durable),
		acl.PropAutoDelete: boolString(s.AutoDelete),
	}
}

// ExchangeProps are the properties of "access exchange" for an existing
// exchange (Authorise::access).
func ExchangeProps(e *broker.Exchange) map[acl.Property]string {
	return map[acl.Property]string{
		acl.PropName:    e.Name(),
		acl.PropType:    e.Type(),
		acl.PropDurable: boolString(e.Settings().Durable),
	}
}

// DeleteExchangeProps are the properties of "delete exchange"
// (Broker::deleteExchange).
func DeleteExchangeProps(e *broker.Exchange) map[acl.Property]string {
	p := ExchangeProps(e)
	p[acl.PropAlternate] = e.Settings().AlternateExchange
	return p
}
