package mgmt

import (
	"fmt"

	"github.com/qpidha/qpidha/internal/amqpserver"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// The protocol's names and numbers (see package wire, which clients use).
const (
	// Address is the management node requests are sent to.
	Address = wire.Address
	// AdminProperty is the connection property of administrators' connections.
	AdminProperty = wire.AdminProperty

	PropOperation         = wire.PropOperation
	PropType              = wire.PropType
	PropName              = wire.PropName
	PropIdentity          = wire.PropIdentity
	PropStatusCode        = wire.PropStatusCode
	PropStatusDescription = wire.PropStatusDescription

	OpCreate = wire.OpCreate
	OpRead   = wire.OpRead
	OpUpdate = wire.OpUpdate
	OpDelete = wire.OpDelete
	OpQuery  = wire.OpQuery

	TypeQueue      = wire.TypeQueue
	TypeExchange   = wire.TypeExchange
	TypeBinding    = wire.TypeBinding
	TypeBroker     = wire.TypeBroker
	TypeStore      = wire.TypeStore
	TypeConnection = wire.TypeConnection

	StatusOK             = wire.StatusOK
	StatusCreated        = wire.StatusCreated
	StatusNoContent      = wire.StatusNoContent
	StatusBadRequest     = wire.StatusBadRequest
	StatusForbidden      = wire.StatusForbidden
	StatusNotFound       = wire.StatusNotFound
	StatusTimeout        = wire.StatusTimeout
	StatusConflict       = wire.StatusConflict
	StatusInternalError  = wire.StatusInternalError
	StatusNotImplemented = wire.StatusNotImplemented
)

// Request is a decoded management request.
type Request struct {
	// Operation is upper case (CREATE, READ, ...).
	Operation string
	// Type is the object type; Agent.Serve resolves a short name to the
	// registered full name before calling the type's handler.
	Type string
	// Name is the name (or identity) property, "" if absent.
	Name string
	// Attributes is the body map: attributes, filters or arguments.
	Attributes map[string]any
	// Properties are all the application properties as sent.
	Properties map[string]any
	// From describes the requesting connection.
	From amqpserver.ConnInfo
}

// Response is the answer to a request.
type Response struct {
	Status      int
	Description string
	// Body is nil, an attribute map (map[string]any) or a list of them
	// ([]any); its values must be encodable by types.AppendValue.
	Body any
}

// OK is a 200 response with a body.
func OK(body any) Response { return Response{Status: StatusOK, Description: "OK", Body: body} }

// Created is a 201 response with the new object's attributes.
func Created(desc string, body any) Response {
	return Response{Status: StatusCreated, Description: desc, Body: body}
}

// Deleted is a 204 response.
func Deleted(desc string) Response { return Response{Status: StatusNoContent, Description: desc} }

// Errorf is an error response.
func Errorf(status int, format string, args ...any) Response {
	return Response{Status: status, Description: fmt.Sprintf(format, args...)}
}

// Success reports a 2xx status.
func (r Response) Success() bool { return r.Status >= 200 && r.Status < 300 }
