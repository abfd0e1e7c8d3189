package mgmt

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/server"
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

// Server is what the agent needs of the AMQP server (*server.Server).
// When it also has a method Addrs() []net.Addr (the listening addresses),
// the broker object's port is the one it listens on.
type Server interface {
	Connections() []server.ConnInfo
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
}

// Agent answers management requests: it implements server.Management.
type Agent struct {
	cfg     Config
	started time.Time
	server  atomic.Pointer[Server]

	mu    sync.RWMutex
	types map[string]TypeHandler
}

var _ server.Management = (*Agent)(nil)

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

func (a *Agent) connections() []server.ConnInfo {
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
	defer func() {
		if p := recover(); p != nil {
			resp = Errorf(StatusInternalError, "%s of %s failed: %v", req.Operation, req.Type, p)
		}
	}()
	resp = h.Handle(req)
	if resp.Status == 0 {
		resp = Errorf(StatusInternalError, "%s of %s gave no status", req.Operation, req.Type)
	}
	return resp
}

// Handle implements server.Management: it decodes the request, serves it
// and encodes the response (nil when the request has no reply-to).
func (a *Agent) Handle(from server.ConnInfo, m *message.Message) []byte {
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
