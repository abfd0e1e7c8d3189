// Package mgmt is the broker's management agent and the reference of the
// management protocol that qpid-config, qpid-ha and any AMQP 1.0 client
// speak to it. The agent is a set of pure functions from a decoded Request
// to a Response (Agent.Serve), with a thin codec (DecodeRequest,
// EncodeResponse) between AMQP messages and those structs; the client side
// is package mgmt/client.
//
// # Transport
//
// Management is request/response over ordinary AMQP 1.0 messages, in the
// style of the OASIS AMQP Management draft (1.0 WD11), on the same port as
// every other client:
//
//   - Requests go to the node "$management" (server.ManagementAddress): a
//     sender link whose target address is "$management", or a message whose
//     "to" is "$management" on the anonymous relay (a link with no target
//     address). The broker accepts every request message at once; the
//     outcome of the operation is in the response, never in the disposition.
//   - The requester attaches a receiver with a dynamic source (go-amqp:
//     ReceiverOptions{DynamicAddress: true}; proton: dynamic=True); the
//     broker creates a temporary queue, private to the connection and deleted
//     with the link, and returns its name as the source address. The request
//     carries that address in properties.reply-to. A request without a
//     reply-to is executed and answered with nothing.
//   - The response's properties.correlation-id is the request's
//     correlation-id if it has one, else its message-id (the draft's rule),
//     so a requester sets a message-id (any AMQP message-id type) and
//     matches responses on it. The response's "to" is the reply-to.
//   - A connection that sets the connection property "qpid.ha-admin" to true
//     (server.AdminProperty) is an administrator's: it is how tools get into
//     a backup broker (which admits nothing else), and handlers see it in
//     Request.From.Admin. The agent itself serves every connection.
//
// # Request
//
// Application properties (string values; keys are strings):
//
//	operation  CREATE, READ, UPDATE, DELETE, QUERY, or an operation a type
//	           defines (later: qpid-ha's promote, status, ...); case-insensitive.
//	type       the object type: "org.apache.qpid.broker:queue", ":exchange",
//	           ":binding", ":broker", ":connection"; a name without a colon is
//	           the short form of a registered type ("queue").
//	name       the object's name, for CREATE, READ, UPDATE and DELETE of named
//	           objects (a binding's name is "exchange/queue/key").
//	identity   accepted as a synonym of name when name is absent.
//
// Body: an amqp-value holding a map with string keys, or no body (amqp-value
// null is the same). For CREATE it holds the new object's attributes; for
// QUERY, filters: an object is listed when each filter's attribute equals
// the given value (integers compare by value, strings and symbols alike);
// for DELETE and type-defined operations, the operation's arguments.
//
// # Response
//
// Application properties:
//
//	statusCode         int: 200 OK (READ, QUERY, other operations),
//	                   201 Created (CREATE), 204 No Content (DELETE done),
//	                   400 Bad Request (malformed request, bad attribute value,
//	                   unknown attribute), 403 Forbidden (not allowed on this
//	                   object, e.g. deleting a built-in exchange; later ACL
//	                   denials), 404 Not Found (no such object, or an object
//	                   the request refers to, or an unknown type),
//	                   409 Conflict (exists already, not empty, in use),
//	                   500 Internal Error, 501 Not Implemented (an operation
//	                   the type does not support, e.g. UPDATE).
//	statusDescription  string: one sentence naming the problem or what was
//	                   done, e.g. `queue "q1" not found`, `queue "q1" created`.
//
// Body (amqp-value): the object's attribute map for READ and CREATE, a list
// of attribute maps for QUERY (this agent lists whole objects: the draft's
// attributeNames/results table is not used), null for DELETE and errors.
//
// # Object types and attributes
//
// org.apache.qpid.broker:queue (CREATE READ DELETE QUERY)
//
//	name string, durable bool, autoDelete bool, exclusive bool,
//	alternateExchange string ("" for none), arguments map (kept verbatim as
//	declared: qpid.replicate, qpid.max_count, qpid.max_size,
//	qpid.policy_type, qpid.last_value_queue_key, qpid.priorities, ...),
//	messageDepth long, byteDepth long, enqueues ulong, dequeues ulong,
//	consumerCount long.
//
// CREATE takes name (or the name property), durable, autoDelete, exclusive
// (owned by the requesting connection), alternateExchange and arguments;
// the arguments are checked as the broker interprets them (a bad
// qpid.replicate level or limit policy is a 400). Creating an existing queue
// is a 409. DELETE takes ifEmpty and ifUnused (bool, default false): with
// them a queue holding messages, or with consumers, is a 409.
//
// org.apache.qpid.broker:exchange (CREATE READ DELETE QUERY)
//
//	name string, type string (direct, topic, fanout, headers), durable bool,
//	autoDelete bool, alternateExchange string, arguments map, bindingCount
//	long, builtin bool (the nameless default exchange and amq.*).
//
// CREATE needs type. DELETE takes ifUnused; built-in exchanges cannot be
// deleted (403), nor one that a queue or exchange uses as its alternate
// exchange (409).
//
// org.apache.qpid.broker:binding (CREATE READ DELETE QUERY)
//
//	name string ("exchange/queue/key"), exchange string, queue string,
//	key string, arguments map (a headers binding's match: x-match all|any and
//	the header values).
//
// CREATE and DELETE take exchange, queue, key (and arguments) as attributes
// in the body, or the name "exchange/queue/key" (the key is everything after
// the second slash). Binding again with the same key replaces the
// arguments. The default exchange takes no bindings (403).
//
// org.apache.qpid.broker:broker (READ QUERY)
//
//	name string (the container id), version string, port long (the port it
//	listens on, when the server tells; else the configured one, 0 when the
//	broker picked one), uptime long (seconds), started
//	timestamp, connectionCount long, queueCount long, exchangeCount long.
//
// org.apache.qpid.broker:connection (READ QUERY; the name is the id)
//
//	id string, remote string (address:port), container string, user string
//	(the SASL identity), admin bool, opened timestamp, properties map.
//
// # Extending
//
// Other modules add their own types and operations through the same node:
// Agent.Register("org.apache.qpid.ha:habroker", handler), where the handler
// is any TypeHandler; Operations maps operation names to functions and
// answers 501 for the others. Handlers return a Response built with the
// helpers OK, Created, Deleted and Errorf.
package mgmt
