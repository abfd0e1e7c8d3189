// Package wire holds the names and numbers of the management protocol
// (documented in package mgmt) that both the broker's agent and the
// clients use. It imports nothing, so tools need not link the broker.
package wire

// Address is the management node requests are sent to.
const Address = "$management"

// AdminProperty is the connection property (value true) by which a tool
// says it is an administrator.
const AdminProperty = "qpid.ha-admin"

// Application properties of requests and responses.
const (
	PropOperation         = "operation"
	PropType              = "type"
	PropName              = "name"
	PropIdentity          = "identity"
	PropStatusCode        = "statusCode"
	PropStatusDescription = "statusDescription"
)

// Operations every type may support.
const (
	OpCreate = "CREATE"
	OpRead   = "READ"
	OpUpdate = "UPDATE"
	OpDelete = "DELETE"
	OpQuery  = "QUERY"
)

// The broker's object types.
const (
	TypeQueue      = "org.apache.qpid.broker:queue"
	TypeExchange   = "org.apache.qpid.broker:exchange"
	TypeBinding    = "org.apache.qpid.broker:binding"
	TypeBroker     = "org.apache.qpid.broker:broker"
	TypeConnection = "org.apache.qpid.broker:connection"
	TypeStore      = "org.apache.qpid.broker:store"
)

// Status codes of responses (HTTP's, as the draft uses them).
const (
	StatusOK             = 200
	StatusCreated        = 201
	StatusNoContent      = 204
	StatusBadRequest     = 400
	StatusForbidden      = 403
	StatusNotFound       = 404
	StatusTimeout        = 408
	StatusConflict       = 409
	StatusInternalError  = 500
	StatusNotImplemented = 501
)
