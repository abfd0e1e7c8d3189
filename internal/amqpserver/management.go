package amqpserver

import (
	"fmt"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/message"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// ManagementAddress is the node management requests are sent to (the AMQP
// Management draft's well-known address), directly or via the relay.
const ManagementAddress = "$management"

// AdminProperty is the connection property by which a tool says it is an
// administrator (qpid-ha always sets it). It proves nothing by itself: the
// broker still checks the authenticated identity.
const AdminProperty = "qpid.ha-admin"

// Management answers requests sent to the management node.
type Management interface {
	// Handle answers one request. The reply is an encoded message that the
	// server routes to the request's reply-to address; nil sends nothing.
	Handle(from ConnInfo, request *message.Message) []byte
}

// ConnInfo describes a client connection.
type ConnInfo struct {
	ID         string
	Remote     string
	Container  string
	User       string // SASL identity
	Admin      bool   // it set the admin connection property
	Properties types.Map
	Opened     time.Time
}

// Connections describes the open connections.
func (s *Server) Connections() []ConnInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ConnInfo, 0, len(s.conns))
	for c := range s.conns {
		if info := c.info.Load(); info != nil {
			out = append(out, *info)
		}
	}
	return out
}

// opened records who the client is, once its open has arrived.
func (c *conn) opened() {
	eng := c.dc.Engine
	info := &ConnInfo{ID: c.id, Remote: c.dc.RemoteAddr().String(), User: eng.Identity(), Opened: time.Now()}
	if open := eng.RemoteOpen(); open != nil {
		info.Container = open.ContainerID
		info.Properties = open.Properties
		if v, ok := open.Properties.Get(types.Symbol(AdminProperty)); ok {
			info.Admin = v == true || v == "true" || v == int64(1) || v == int32(1)
		}
	}
	c.info.Store(info)
}

// manage answers a management request and routes the reply to its
// reply-to address; the request itself is always accepted.
func (c *conn) manage(req *message.Message) {
	mgmt := c.srv.cfg.Management
	reply := mgmt.Handle(*c.info.Load(), req)
	if reply == nil {
		return
	}
	m, err := message.Parse(reply)
	if err != nil {
		c.log.WithError(err).Error("management produced an unparsable reply")
		return
	}
	to := ""
	if p := req.Properties(); p != nil {
		to = p.ReplyTo
	}
	if err := c.deliverTo(to, m); err != nil {
		c.log.WithError(err).WithField("reply-to", to).Info("management reply not delivered")
	}
}

// deliverTo enqueues a message on the node an address names.
func (c *conn) deliverTo(address string, m *message.Message) error {
	if address == "" {
		return fmt.Errorf("no reply-to address")
	}
	b := c.srv.cfg.Broker
	if q := b.Queue(address); q != nil {
		_, err := q.Enqueue(m)
		return err
	}
	if e := b.Exchange(address); e != nil {
		for _, q := range b.Route(e, m, nil) {
			_, _ = q.Enqueue(m)
		}
		return nil
	}
	return fmt.Errorf("no node named %q", address)
}
