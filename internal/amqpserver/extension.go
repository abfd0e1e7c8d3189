package amqpserver

import (
	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Admission says what an opening connection may do.
type Admission uint8

const (
	// AdmitAll serves the connection normally.
	AdmitAll Admission = iota
	// AdmitManagement lets the connection reach only the management node
	// (an administrator on an HA backup).
	AdmitManagement
	// Refuse closes the connection with the error Admit returned.
	Refuse
)

// Extension is a module that decides which connections the broker admits
// and serves links to nodes of its own (the HA module's replication nodes).
type Extension interface {
	// Admit is called when a connection's open arrives.
	Admit(info ConnInfo) (Admission, *types.Error)
	// Attach is offered every link before the broker resolves its address;
	// an extension that takes it answers the attach (or refuses it), sets
	// the link's Context to a LinkHandler and returns true.
	Attach(c *Conn, l *amqp.Link) bool
}

// LinkHandler receives the events of a link an extension took.
type LinkHandler interface {
	OnFlow(c *Conn, l *amqp.Link)
	OnDelivery(c *Conn, l *amqp.Link, d *amqp.Delivery)
	OnDisposition(c *Conn, l *amqp.Link, d *amqp.Delivery)
	OnDetach(c *Conn, l *amqp.Link)
}

// Conn is what an extension may use of a connection: run work with the
// connection locked (from any goroutine), and its description and log.
type Conn struct{ c *conn }

// Inject runs f with the connection's engine locked; false once it ended.
func (x *Conn) Inject(f func()) bool { return x.c.dc.Inject(f) }

// Info describes the connection.
func (x *Conn) Info() ConnInfo {
	if info := x.c.info.Load(); info != nil {
		return *info
	}
	return ConnInfo{ID: x.c.id}
}

// Log is the connection's logger.
func (x *Conn) Log() *logrus.Entry { return x.c.log }

// Close closes the connection with an error.
func (x *Conn) Close(e *types.Error) { x.c.dc.Engine.Close(e) }
