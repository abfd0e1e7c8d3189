package mgmt

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/qpidha/qpidha/internal/acl"
	"github.com/qpidha/qpidha/internal/amqp/types"
	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/broker"
)

// Attributes of each broker type, in the order tools show them.
var (
	queueAttributes = []string{"name", "durable", "autoDelete", "exclusive", "alternateExchange", "arguments",
		"messageDepth", "byteDepth", "enqueues", "dequeues", "consumerCount", "flowStopped", "flowStoppedCount"}
	exchangeAttributes   = []string{"name", "type", "durable", "autoDelete", "alternateExchange", "arguments", "bindingCount", "builtin"}
	bindingAttributes    = []string{"name", "exchange", "queue", "key", "arguments"}
	brokerAttributes     = []string{"name", "version", "port", "uptime", "started", "connectionCount", "queueCount", "exchangeCount"}
	connectionAttributes = []string{"id", "remote", "container", "user", "admin", "opened", "properties"}
	storeAttributes      = []string{"name", "directory", "journalFiles", "journalBytes", "liveBytes", "durableQueues", "messages",
		"syncedPosition", "syncs", "records", "recordsPerSync", "syncLatencyUs", "maxSyncLatencyUs", "diskFull", "reclaimedFiles"}
)

func (a *Agent) registerBrokerTypes() {
	a.Register(TypeQueue, Operations{
		OpCreate: a.createQueue,
		OpRead:   a.readQueue,
		OpDelete: a.deleteQueue,
		OpQuery:  func(req *Request) Response { return query(req, "queue", queueAttributes, a.queues()) },
	})
	a.Register(TypeExchange, Operations{
		OpCreate: a.createExchange,
		OpRead:   a.readExchange,
		OpDelete: a.deleteExchange,
		OpQuery:  func(req *Request) Response { return query(req, "exchange", exchangeAttributes, a.exchanges()) },
	})
	a.Register(TypeBinding, Operations{
		OpCreate: a.createBinding,
		OpRead:   a.readBinding,
		OpDelete: a.deleteBinding,
		OpQuery:  func(req *Request) Response { return query(req, "binding", bindingAttributes, a.bindings()) },
	})
	a.Register(TypeBroker, Operations{
		OpRead: func(*Request) Response { return OK(a.brokerAttrs()) },
		OpQuery: func(req *Request) Response {
			return query(req, "broker", brokerAttributes, []map[string]any{a.brokerAttrs()})
		},
	})
	if a.cfg.Store != nil {
		a.Register(TypeStore, Operations{
			OpRead: func(*Request) Response { return OK(a.cfg.Store.Attributes()) },
			OpQuery: func(req *Request) Response {
				return query(req, "store", storeAttributes, []map[string]any{a.cfg.Store.Attributes()})
			},
		})
	}
	a.Register(TypeConnection, Operations{
		OpRead:  a.readConnection,
		OpQuery: func(req *Request) Response { return query(req, "connection", connectionAttributes, a.connectionList()) },
	})
}

// query lists the objects passing the request's filters.
func query(req *Request, what string, known []string, objects []map[string]any) Response {
	for k := range req.Attributes {
		if !contains(known, k) {
			return Errorf(StatusBadRequest, "unknown %s attribute %q in query (attributes: %s)", what, k, strings.Join(known, ", "))
		}
	}
	out := []any{}
	for _, o := range objects {
		ok := true
		for k, want := range req.Attributes {
			if !sameValue(want, o[k]) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, o)
		}
	}
	return OK(out)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkAttributes refuses attributes a CREATE cannot set: read-only ones
// are ignored (a READ's result may be sent back as is), unknown ones are a
// 400.
func checkAttributes(what string, attrs map[string]any, settable, known []string) error {
	for k := range attrs {
		if !contains(settable, k) && !contains(known, k) {
			return fmt.Errorf("unknown %s attribute %q (settable: %s)", what, k, strings.Join(settable, ", "))
		}
	}
	return nil
}

// nameOf is the request's name property or, failing that, its name attribute.
func nameOf(req *Request, what string) (string, *Response) {
	name := req.Name
	if name == "" {
		var err error
		if name, err = attrString(req.Attributes, "name"); err != nil {
			r := Errorf(StatusBadRequest, "%v", err)
			return "", &r
		}
	} else if n, _ := attrString(req.Attributes, "name"); n != "" && n != name {
		r := Errorf(StatusBadRequest, "the name property %q and the name attribute %q differ", name, n)
		return "", &r
	}
	if name == "" {
		r := Errorf(StatusBadRequest, "%s of a %s needs a name", req.Operation, what)
		return "", &r
	}
	return name, nil
}

// brokerError turns a broker error into a response whose description reads
// as a sentence: `not found: queue "q"` becomes `queue "q" not found`.
func brokerError(err error) Response {
	msg := err.Error()
	switch {
	case errors.Is(err, broker.ErrNotFound):
		return Errorf(StatusNotFound, "%s not found", strings.TrimPrefix(msg, broker.ErrNotFound.Error()+": "))
	case errors.Is(err, broker.ErrExists):
		return Errorf(StatusConflict, "%s", strings.TrimPrefix(msg, broker.ErrExists.Error()+": "))
	case errors.Is(err, broker.ErrInUse):
		return Errorf(StatusConflict, "%s", strings.TrimPrefix(msg, broker.ErrInUse.Error()+": "))
	case errors.Is(err, broker.ErrBuiltin), errors.Is(err, broker.ErrQueueQuota):
		return Errorf(StatusForbidden, "%s", msg)
	}
	return Errorf(StatusBadRequest, "%s", msg)
}

// args copies arguments for a response (nil becomes an empty map).
func args(a broker.Args) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	return out
}

// Queues.

var queueSettable = []string{"name", "durable", "autoDelete", "exclusive", "alternateExchange", "arguments"}

func queueAttrs(q *broker.Queue) map[string]any {
	s, st := q.Settings(), q.Stats()
	return map[string]any{
		"name":              q.Name(),
		"durable":           s.Durable,
		"autoDelete":        s.AutoDelete,
		"exclusive":         s.Exclusive,
		"alternateExchange": s.AlternateExchange,
		"arguments":         args(s.Args),
		"messageDepth":      int64(st.Depth),
		"byteDepth":         st.Bytes,
		"enqueues":          st.Enqueues,
		"dequeues":          st.Dequeues,
		"consumerCount":     int64(st.Consumers),
		"flowStopped":       st.FlowStopped,
		"flowStoppedCount":  st.FlowStops,
	}
}

func (a *Agent) queues() []map[string]any {
	qs := a.cfg.Broker.Queues()
	out := make([]map[string]any, len(qs))
	for i, q := range qs {
		out[i] = queueAttrs(q)
	}
	return out
}

func (a *Agent) createQueue(req *Request) Response {
	name, bad := nameOf(req, "queue")
	if bad != nil {
		return *bad
	}
	at := req.Attributes
	if err := checkAttributes("queue", at, queueSettable, queueAttributes); err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	argMap, err := attrMap(at, "arguments")
	if err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	s, err := broker.ParseQueueArgs(broker.Args(argMap))
	if err != nil {
		return Errorf(StatusBadRequest, "queue %q: %v", name, err)
	}
	// Attributes override what the arguments say (the original took durable,
	// auto-delete and alternate-exchange out of the arguments; here both work).
	for attr, dst := range map[string]*bool{"durable": &s.Durable, "autoDelete": &s.AutoDelete, "exclusive": &s.Exclusive} {
		if _, ok := at[attr]; ok {
			if *dst, err = attrBool(at, attr); err != nil {
				return Errorf(StatusBadRequest, "queue %q: %v", name, err)
			}
		}
	}
	if _, ok := at["alternateExchange"]; ok {
		if s.AlternateExchange, err = attrString(at, "alternateExchange"); err != nil {
			return Errorf(StatusBadRequest, "queue %q: %v", name, err)
		}
	}
	if s.Exclusive {
		s.Owner = req.From.ID
	}
	if denied := a.authorize(req, acl.ActCreate, acl.ObjQueue, amqpserver.CreateQueueProps(name, s)); denied != nil {
		return *denied
	}
	if s.AlternateExchange != "" && a.cfg.Broker.Exchange(s.AlternateExchange) == nil {
		return Errorf(StatusNotFound, "alternate exchange %q of queue %q not found", s.AlternateExchange, name)
	}
	if a.cfg.Broker.Queue(name) != nil {
		return Errorf(StatusConflict, "queue %q already exists", name)
	}
	q, created, err := a.declareQueue(req, name, s)
	if err != nil {
		return brokerError(err)
	}
	if !created {
		return Errorf(StatusConflict, "queue %q already exists", name)
	}
	return Created(fmt.Sprintf("queue %q created", name), queueAttrs(q))
}

func (a *Agent) readQueue(req *Request) Response {
	name, bad := nameOf(req, "queue")
	if bad != nil {
		return *bad
	}
	q := a.cfg.Broker.Queue(name)
	if q == nil {
		return Errorf(StatusNotFound, "queue %q not found", name)
	}
	return OK(queueAttrs(q))
}

func (a *Agent) deleteQueue(req *Request) Response {
	name, bad := nameOf(req, "queue")
	if bad != nil {
		return *bad
	}
	ifEmpty, err := attrBool(req.Attributes, "ifEmpty")
	if err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	ifUnused, err := attrBool(req.Attributes, "ifUnused")
	if err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	q := a.cfg.Broker.Queue(name)
	if q == nil {
		return Errorf(StatusNotFound, "queue %q not found", name)
	}
	if denied := a.authorize(req, acl.ActDelete, acl.ObjQueue, amqpserver.DeleteQueueProps(name, q.Settings())); denied != nil {
		return *denied
	}
	st := q.Stats()
	if ifUnused && st.Consumers > 0 {
		return Errorf(StatusConflict, "queue %q is in use: it has %d %s", name, st.Consumers, plural(st.Consumers, "consumer"))
	}
	if ifEmpty && st.Depth > 0 {
		return Errorf(StatusConflict, "queue %q is not empty: it holds %d %s", name, st.Depth, plural(st.Depth, "message"))
	}
	if err := a.cfg.Broker.DeleteQueue(name, ifUnused, ifEmpty); err != nil {
		return brokerError(err)
	}
	return Deleted(fmt.Sprintf("queue %q deleted", name))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// Exchanges.

var exchangeSettable = []string{"name", "type", "durable", "autoDelete", "alternateExchange", "arguments"}

func (a *Agent) exchangeAttrs(e *broker.Exchange) map[string]any {
	s := e.Settings()
	return map[string]any{
		"name":              e.Name(),
		"type":              e.Type(),
		"durable":           s.Durable,
		"autoDelete":        s.AutoDelete,
		"alternateExchange": s.AlternateExchange,
		"arguments":         args(s.Args),
		"bindingCount":      int64(len(e.Bindings())),
		"builtin":           e.Builtin(),
	}
}

func (a *Agent) exchanges() []map[string]any {
	es := a.cfg.Broker.Exchanges()
	out := make([]map[string]any, len(es))
	for i, e := range es {
		out[i] = a.exchangeAttrs(e)
	}
	return out
}

func (a *Agent) createExchange(req *Request) Response {
	name, bad := nameOf(req, "exchange")
	if bad != nil {
		return *bad
	}
	at := req.Attributes
	if err := checkAttributes("exchange", at, exchangeSettable, exchangeAttributes); err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	kind, err := attrString(at, "type")
	if err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	switch kind {
	case broker.Direct, broker.Topic, broker.Fanout, broker.Headers:
	case "":
		return Errorf(StatusBadRequest, "exchange %q needs a type (direct, topic, fanout or headers)", name)
	default:
		return Errorf(StatusBadRequest, "invalid exchange type %q (direct, topic, fanout or headers)", kind)
	}
	argMap, err := attrMap(at, "arguments")
	if err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	s, err := broker.ParseExchangeArgs(broker.Args(argMap))
	if err != nil {
		return Errorf(StatusBadRequest, "exchange %q: %v", name, err)
	}
	for attr, dst := range map[string]*bool{"durable": &s.Durable, "autoDelete": &s.AutoDelete} {
		if _, ok := at[attr]; ok {
			if *dst, err = attrBool(at, attr); err != nil {
				return Errorf(StatusBadRequest, "exchange %q: %v", name, err)
			}
		}
	}
	if _, ok := at["alternateExchange"]; ok {
		if s.AlternateExchange, err = attrString(at, "alternateExchange"); err != nil {
			return Errorf(StatusBadRequest, "exchange %q: %v", name, err)
		}
	}
	if denied := a.authorize(req, acl.ActCreate, acl.ObjExchange, amqpserver.CreateExchangeProps(name, kind, s)); denied != nil {
		return *denied
	}
	if alt := s.AlternateExchange; alt != "" && alt != name && a.cfg.Broker.Exchange(alt) == nil {
		return Errorf(StatusNotFound, "alternate exchange %q of exchange %q not found", alt, name)
	}
	if a.cfg.Broker.Exchange(name) != nil {
		return Errorf(StatusConflict, "exchange %q already exists", name)
	}
	e, created, err := a.cfg.Broker.DeclareExchange(name, kind, s)
	if err != nil {
		return brokerError(err)
	}
	if !created {
		return Errorf(StatusConflict, "exchange %q already exists", name)
	}
	return Created(fmt.Sprintf("exchange %q created", name), a.exchangeAttrs(e))
}

// exchangeName reads the name of an existing exchange, which may be the
// nameless default exchange when the name attribute is present and empty.
func exchangeName(req *Request) (string, *Response) {
	if req.Name == "" {
		if v, ok := req.Attributes["name"]; ok {
			if s, ok := asString(v); ok && s == "" {
				return "", nil
			}
		}
	}
	return nameOf(req, "exchange")
}

func (a *Agent) readExchange(req *Request) Response {
	name, bad := exchangeName(req)
	if bad != nil {
		return *bad
	}
	e := a.cfg.Broker.Exchange(name)
	if e == nil {
		return Errorf(StatusNotFound, "exchange %q not found", name)
	}
	return OK(a.exchangeAttrs(e))
}

func (a *Agent) deleteExchange(req *Request) Response {
	name, bad := exchangeName(req)
	if bad != nil {
		return *bad
	}
	ifUnused, err := attrBool(req.Attributes, "ifUnused")
	if err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	b := a.cfg.Broker
	e := b.Exchange(name)
	if e == nil {
		return Errorf(StatusNotFound, "exchange %q not found", name)
	}
	if denied := a.authorize(req, acl.ActDelete, acl.ObjExchange, amqpserver.DeleteExchangeProps(e)); denied != nil {
		return *denied
	}
	if e.Builtin() {
		return Errorf(StatusForbidden, "exchange %q is built in and cannot be deleted", name)
	}
	for _, q := range b.Queues() {
		if q.Settings().AlternateExchange == name {
			return Errorf(StatusConflict, "exchange %q is in use as the alternate exchange of queue %q", name, q.Name())
		}
	}
	for _, x := range b.Exchanges() {
		if x.Name() != name && x.Settings().AlternateExchange == name {
			return Errorf(StatusConflict, "exchange %q is in use as the alternate exchange of exchange %q", name, x.Name())
		}
	}
	if ifUnused {
		if n := len(e.Bindings()); n > 0 {
			return Errorf(StatusConflict, "exchange %q is in use: it has %d %s", name, n, plural(n, "binding"))
		}
	}
	if err := b.DeleteExchange(name, ifUnused); err != nil {
		return brokerError(err)
	}
	return Deleted(fmt.Sprintf("exchange %q deleted", name))
}

// Bindings.

var bindingSettable = []string{"name", "exchange", "queue", "key", "arguments"}

// BindingName is a binding's name: "exchange/queue/key".
func BindingName(exchange, queue, key string) string { return exchange + "/" + queue + "/" + key }

func bindingAttrs(b *broker.Binding) map[string]any {
	return map[string]any{
		"name":      BindingName(b.Exchange, b.Queue, b.Key),
		"exchange":  b.Exchange,
		"queue":     b.Queue,
		"key":       b.Key,
		"arguments": args(b.Args),
	}
}

func (a *Agent) bindings() []map[string]any {
	var out []map[string]any
	for _, e := range a.cfg.Broker.Exchanges() {
		bs := e.Bindings()
		sort.SliceStable(bs, func(i, j int) bool {
			if bs[i].Queue != bs[j].Queue {
				return bs[i].Queue < bs[j].Queue
			}
			return bs[i].Key < bs[j].Key
		})
		for _, b := range bs {
			out = append(out, bindingAttrs(b))
		}
	}
	return out
}

// bindingOf reads which binding a request means: the exchange, queue and
// key attributes, or else the name "exchange/queue/key".
func bindingOf(req *Request) (exchange, queue, key string, bad *Response) {
	at := req.Attributes
	fail := func(format string, args ...any) (string, string, string, *Response) {
		r := Errorf(StatusBadRequest, format, args...)
		return "", "", "", &r
	}
	_, hasE := at["exchange"]
	_, hasQ := at["queue"]
	if hasE || hasQ {
		var err error
		if exchange, err = attrString(at, "exchange"); err != nil {
			return fail("%v", err)
		}
		if queue, err = attrString(at, "queue"); err != nil {
			return fail("%v", err)
		}
		if key, err = attrString(at, "key"); err != nil {
			return fail("%v", err)
		}
	} else {
		name := req.Name
		if name == "" {
			name, _ = attrString(at, "name")
		}
		parts := strings.SplitN(name, "/", 3)
		if len(parts) < 2 {
			return fail("%s of a binding needs exchange and queue attributes or the name \"exchange/queue/key\", not %q", req.Operation, name)
		}
		exchange, queue = parts[0], parts[1]
		if len(parts) == 3 {
			key = parts[2]
		}
	}
	if queue == "" {
		return fail("%s of a binding needs a queue", req.Operation)
	}
	return exchange, queue, key, nil
}

func (a *Agent) createBinding(req *Request) Response {
	if err := checkAttributes("binding", req.Attributes, bindingSettable, bindingAttributes); err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	exchange, queue, key, bad := bindingOf(req)
	if bad != nil {
		return *bad
	}
	argMap, err := attrMap(req.Attributes, "arguments")
	if err != nil {
		return Errorf(StatusBadRequest, "%v", err)
	}
	if denied := a.authorize(req, acl.ActBind, acl.ObjExchange, bindingProps(exchange, queue, key)); denied != nil {
		return *denied
	}
	b := a.cfg.Broker
	e := b.Exchange(exchange)
	if e == nil {
		return Errorf(StatusNotFound, "exchange %q not found", exchange)
	}
	if exchange == "" {
		return Errorf(StatusForbidden, "the default exchange binds every queue by its name and takes no other bindings")
	}
	if b.Queue(queue) == nil {
		return Errorf(StatusNotFound, "queue %q not found", queue)
	}
	bd, err := b.Bind(exchange, queue, key, broker.Args(argMap))
	if err != nil {
		return brokerError(err)
	}
	return Created(fmt.Sprintf("queue %q bound to exchange %q with key %q", queue, exchange, key), bindingAttrs(bd))
}

// bindingProps are the properties of "bind exchange" and "unbind exchange"
// (Broker::bind, Broker::unbind).
func bindingProps(exchange, queue, key string) map[acl.Property]string {
	return map[acl.Property]string{acl.PropName: exchange, acl.PropQueueName: queue, acl.PropRoutingKey: key}
}

func (a *Agent) findBinding(exchange, queue, key string) (*broker.Binding, Response) {
	e := a.cfg.Broker.Exchange(exchange)
	if e == nil {
		return nil, Errorf(StatusNotFound, "exchange %q not found", exchange)
	}
	for _, b := range e.Bindings() {
		if b.Queue == queue && b.Key == key {
			return b, Response{}
		}
	}
	return nil, Errorf(StatusNotFound, "binding of queue %q to exchange %q with key %q not found", queue, exchange, key)
}

func (a *Agent) readBinding(req *Request) Response {
	exchange, queue, key, bad := bindingOf(req)
	if bad != nil {
		return *bad
	}
	b, resp := a.findBinding(exchange, queue, key)
	if b == nil {
		return resp
	}
	return OK(bindingAttrs(b))
}

func (a *Agent) deleteBinding(req *Request) Response {
	exchange, queue, key, bad := bindingOf(req)
	if bad != nil {
		return *bad
	}
	if denied := a.authorize(req, acl.ActUnbind, acl.ObjExchange, bindingProps(exchange, queue, key)); denied != nil {
		return *denied
	}
	if b, resp := a.findBinding(exchange, queue, key); b == nil {
		return resp
	}
	if err := a.cfg.Broker.Unbind(exchange, queue, key); err != nil {
		return brokerError(err)
	}
	return Deleted(fmt.Sprintf("queue %q unbound from exchange %q with key %q", queue, exchange, key))
}

// The broker and its connections.

func (a *Agent) brokerAttrs() map[string]any {
	now := a.cfg.Now()
	return map[string]any{
		"name":            a.cfg.Name,
		"version":         a.cfg.Version,
		"port":            int64(a.port()),
		"uptime":          int64(now.Sub(a.started).Seconds()),
		"started":         types.TimestampOf(a.started),
		"connectionCount": int64(len(a.connections())),
		"queueCount":      int64(len(a.cfg.Broker.Queues())),
		"exchangeCount":   int64(len(a.cfg.Broker.Exchanges())),
	}
}

func connectionAttrs(c amqpserver.ConnInfo) map[string]any {
	props := map[string]any{}
	for _, e := range c.Properties {
		if k, ok := key(e.Key); ok {
			props[k] = normalize(e.Value)
		}
	}
	return map[string]any{
		"id":         c.ID,
		"remote":     c.Remote,
		"container":  c.Container,
		"user":       c.User,
		"admin":      c.Admin,
		"opened":     types.TimestampOf(c.Opened),
		"properties": props,
	}
}

func (a *Agent) connectionList() []map[string]any {
	cs := a.connections()
	sort.Slice(cs, func(i, j int) bool { return cs[i].Opened.Before(cs[j].Opened) })
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = connectionAttrs(c)
	}
	return out
}

func (a *Agent) readConnection(req *Request) Response {
	id := req.Name
	if id == "" {
		id, _ = attrString(req.Attributes, "id")
	}
	if id == "" {
		return Errorf(StatusBadRequest, "READ of a connection needs its id as the name")
	}
	for _, c := range a.connections() {
		if c.ID == id {
			return OK(connectionAttrs(c))
		}
	}
	return Errorf(StatusNotFound, "connection %q not found", id)
}
