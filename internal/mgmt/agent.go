package mgmt

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qpidha/qpidha/internal/acl"
	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
)

// TypeHandler serves the requests for one object type. Handle gets a
// request whose Type is the registered full name and whose Operation is
// upper case; it must not keep the request.
type TypeHandler interface {
	Handle(req *Request) Response
}

// HandlerFunc adapts a function to a TypeHandler.
type HandlerFunc func(req *Request) Response

// Handle implements TypeHandler.
func (f HandlerFunc) Handle(req *Request) Response { return f(req) }

// Operations is a TypeHandler dispatching on the operation name (upper
// case); an operation it lacks is answered 501 Not Implemented.
type Operations map[string]func(req *Request) Response

// Handle implements TypeHandler.
func (o Operations) Handle(req *Request) Response {
	if f := o[req.Operation]; f != nil {
		return f(req)
	}
	ops := make([]string, 0, len(o))
	for op := range o {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return Errorf(StatusNotImplemented, "operation %s is not supported on %s (supported: %s)",
		req.Operation, req.Type, strings.Join(ops, ", "))
}

// Server is what the agent needs of the AMQP server (*amqpserver.Server).
// When it also has a method Addrs() []net.Addr (the listening addresses),
// the broker object's port is the one it listens on.
type Server interface {
	Connections() []amqpserver.ConnInfo
}

// port is the port the broker listens on, when the server tells, else the
// configured one.
func (a *Agent) port() int {
	if s := a.server.Load(); s != nil {
		if l, ok := (*s).(interface{ Addrs() []net.Addr }); ok {
			for _, addr := range l.Addrs() {
				if t, ok := addr.(*net.TCPAddr); ok {
					return t.Port
				}
			}
		}
	}
	return a.cfg.Port
}

// Config configures an agent.
type Config struct {
	Broker *broker.Broker
	// Name is the broker's name: its AMQP container id.
	Name    string
	Version string
	// Port is the configured port (0 when the broker picks one).
	Port int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Store, if the broker has one, gives the store's figures (the store
	// object); nil: the broker has no store.
	Store interface{ Attributes() map[string]any }
}

// Agent answers management requests: it implements amqpserver.Management.
type Agent struct {
	cfg     Config
	started time.Time
	server  atomic.Pointer[Server]

	mu    sync.RWMutex
	types map[string]TypeHandler
}

var _ amqpserver.Management = (*Agent)(nil)

// NewAgent returns an agent serving the broker's queues, exchanges,
// bindings, broker and (once SetServer is called) connections.
func NewAgent(cfg Config) *Agent {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Agent{cfg: cfg, started: cfg.Now(), types: map[string]TypeHandler{}}
	a.registerBrokerTypes()
	return a
}

// SetServer gives the agent the server, which is made after the agent, for
// the connection and broker objects.
func (a *Agent) SetServer(s Server) { a.server.Store(&s) }

func (a *Agent) connections() []amqpserver.ConnInfo {
	if s := a.server.Load(); s != nil {
		return (*s).Connections()
	}
	return nil
}

// Register adds the handler of an object type, named in full
// ("org.apache.qpid.ha:habroker"); requests may also use the part after the
// last colon when no other type ends the same way. Registering a type twice
// is a programming error and panics.
func (a *Agent) Register(typeName string, h TypeHandler) {
	if typeName == "" || h == nil {
		panic("mgmt: Register needs a type name and a handler")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.types[typeName]; dup {
		panic(fmt.Sprintf("mgmt: type %s registered twice", typeName))
	}
	a.types[typeName] = h
}

// Types lists the registered type names.
func (a *Agent) Types() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.types))
	for t := range a.types {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// resolve finds a type's handler by full or short name.
func (a *Agent) resolve(name string) (string, TypeHandler, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if h := a.types[name]; h != nil {
		return name, h, nil
	}
	if strings.Contains(name, ":") {
		return "", nil, fmt.Errorf("unknown type %q", name)
	}
	var found []string
	for full := range a.types {
		if full[strings.LastIndexByte(full, ':')+1:] == name {
			found = append(found, full)
		}
	}
	switch len(found) {
	case 0:
		return "", nil, fmt.Errorf("unknown type %q", name)
	case 1:
		return found[0], a.types[found[0]], nil
	}
	sort.Strings(found)
	return "", nil, fmt.Errorf("type %q is ambiguous: %s", name, strings.Join(found, ", "))
}

// Serve answers a decoded request: the protocol's core, free of the wire.
func (a *Agent) Serve(req *Request) (resp Response) {
	req.Operation = strings.ToUpper(req.Operation)
	if req.Operation == "" {
		return Errorf(StatusBadRequest, "a management request needs an %q application property", PropOperation)
	}
	if req.Type == "" {
		return Errorf(StatusBadRequest, "a management request needs a %q application property", PropType)
	}
	full, h, err := a.resolve(req.Type)
	if err != nil {
		return Errorf(StatusNotFound, "%v", err)
	}
	req.Type = full
	if req.Attributes == nil {
		req.Attributes = map[string]any{}
	}
	if denied := a.authorizeOperation(req); denied != nil {
		return *denied
	}
	defer func() {
		if p := recover(); p != nil {
			resp = Errorf(StatusInternalError, "%s of %s failed: %v", req.Operation, req.Type, p)
		}
	}()
	resp = h.Handle(req)
	if resp.Status == 0 {
		resp = Errorf(StatusInternalError, "%s of %s gave no status", req.Operation, req.Type)
	}
	// A change is answered once it is on disk (the store's journal).
	if resp.Success() && (req.Operation == OpCreate || req.Operation == OpDelete) {
		if err := a.cfg.Broker.SyncJournal(); err != nil {
			resp = Errorf(StatusInternalError, "%s of %s: done, but the store could not write it to disk: %v", req.Operation, req.Type, err)
		}
	}
	return resp
}

// Handle implements amqpserver.Management: it decodes the request, serves it
// and encodes the response (nil when the request has no reply-to).
func (a *Agent) Handle(from amqpserver.ConnInfo, m *message.Message) []byte {
	req, err := DecodeRequest(m)
	var resp Response
	if err != nil {
		resp = Errorf(StatusBadRequest, "%v", err)
	} else {
		req.From = from
		resp = a.Serve(req)
	}
	reply := ReplyTo(m)
	if reply.To == "" {
		return nil
	}
	return EncodeResponse(reply, resp)
}

// Access control. The agent applies the server's ACL (the server given to
// SetServer, when it has an Authorize method: *amqpserver.Server) with the
// checks qpidd's management agent and broker made for QMF requests:
//
//	READ                access query name=<type>:<name> schemaclass=<class>
//	QUERY               access query name=<class> schemaclass=<class>
//	CREATE, DELETE      access method name=create|delete
//	                    schemapackage=org.apache.qpid.broker schemaclass=broker
//	                    (qpidd's broker methods; for types of other packages, the
//	                    type's own package and class), then, for broker types:
//	  queue             create queue (name alternate durable exclusive autodelete
//	                    policytype paging [maxqueuecount] [maxqueuesize]) /
//	                    delete queue (name alternate durable exclusive autodelete
//	                    policytype)
//	  exchange          create exchange (name type alternate durable autodelete) /
//	                    delete exchange (name type alternate durable)
//	  binding           bind / unbind exchange name=<exchange> queuename routingkey
//	UPDATE              update queue / update exchange (bindings: the exchange) /
//	                    update broker (every other type), name=<name>
//	PURGE of a queue    access method name=purge schemaclass=queue, then purge
//	                    queue name=<name> (the agent has no purge yet: allowed
//	                    requests are answered 501)
//	other operations    access method name=<operation, lower case>
//	                    schemapackage=<package> schemaclass=<class>
//
// where <type> is the full type name (org.apache.qpid.broker:queue), <class>
// the part after its last colon and <package> the part before. A denial is
// a 403 whose description names the user and the request; the server logs
// it with the rule that decided.

// authorizer is what the agent needs of the server to apply the ACL.
type authorizer interface {
	Authorize(from amqpserver.ConnInfo, action acl.Action, object acl.Object, props map[acl.Property]string) *types.Error
}

// BrokerPackage is the schema package of the broker's own types.
const BrokerPackage = "org.apache.qpid.broker"

// authorize applies the ACL to one check of a request: nil when allowed,
// else the 403 response.
// queueCreator is the server's QueueCreator (*amqpserver.Server): whom a
// queue a client creates counts for, with their limit.
type queueCreator interface {
	QueueCreator(from amqpserver.ConnInfo) broker.Creator
}

// declareQueue creates a queue for the requester: it counts in their
// limit of queues (max-queues-per-user, the ACL's quota queues) when the
// server has one.
func (a *Agent) declareQueue(req *Request, name string, s broker.QueueSettings) (*broker.Queue, bool, error) {
	if srv := a.server.Load(); srv != nil {
		if qc, ok := (*srv).(queueCreator); ok {
			return a.cfg.Broker.DeclareQueueAs(name, s, qc.QueueCreator(req.From))
		}
	}
	return a.cfg.Broker.DeclareQueue(name, s)
}

func (a *Agent) authorize(req *Request, action acl.Action, object acl.Object, props map[acl.Property]string) *Response {
	s := a.server.Load()
	if s == nil {
		return nil
	}
	z, ok := (*s).(authorizer)
	if !ok {
		return nil
	}
	if e := z.Authorize(req.From, action, object, props); e != nil {
		r := Errorf(StatusForbidden, "%s", e.Description)
		return &r
	}
	return nil
}

// splitType splits a full type name into its package and class.
func splitType(full string) (pkg, class string) {
	if i := strings.LastIndexByte(full, ':'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

// requestName is the name a request is about: the name property, else a
// name or id attribute.
func requestName(req *Request) string {
	if req.Name != "" {
		return req.Name
	}
	for _, k := range []string{"name", "id"} {
		if s, ok := asString(req.Attributes[k]); ok && s != "" {
			return s
		}
	}
	return ""
}

// authorizeOperation is the check every request gets before its type's
// handler runs (the object checks of CREATE and DELETE are in the
// handlers, which know the object).
func (a *Agent) authorizeOperation(req *Request) *Response {
	pkg, class := splitType(req.Type)
	name := requestName(req)
	switch req.Operation {
	case OpRead:
		return a.authorize(req, acl.ActAccess, acl.ObjQuery, map[acl.Property]string{
			acl.PropName: req.Type + ":" + name, acl.PropSchemaClass: class})
	case OpQuery:
		return a.authorize(req, acl.ActAccess, acl.ObjQuery, map[acl.Property]string{
			acl.PropName: class, acl.PropSchemaClass: class})
	case OpUpdate:
		object := acl.ObjBroker
		if pkg == BrokerPackage {
			switch class {
			case "queue":
				object = acl.ObjQueue
			case "exchange":
				object = acl.ObjExchange
			case "binding":
				object = acl.ObjExchange
				if i := strings.IndexByte(name, '/'); i >= 0 {
					name = name[:i]
				}
			}
		}
		return a.authorize(req, acl.ActUpdate, object, map[acl.Property]string{acl.PropName: name})
	case OpCreate, OpDelete:
		mpkg, mclass := pkg, class
		if pkg == BrokerPackage {
			mclass = "broker"
		}
		return a.authorize(req, acl.ActAccess, acl.ObjMethod, map[acl.Property]string{
			acl.PropName: strings.ToLower(req.Operation), acl.PropSchemaPackage: mpkg, acl.PropSchemaClass: mclass})
	}
	if denied := a.authorize(req, acl.ActAccess, acl.ObjMethod, map[acl.Property]string{
		acl.PropName: strings.ToLower(req.Operation), acl.PropSchemaPackage: pkg, acl.PropSchemaClass: class}); denied != nil {
		return denied
	}
	if req.Operation == "PURGE" && req.Type == TypeQueue {
		return a.authorize(req, acl.ActPurge, acl.ObjQueue, map[acl.Property]string{acl.PropName: name})
	}
	return nil
}
