package amqpserver

// Queues per user: max-queues-per-user and the ACL's "quota queues" bound
// the queues one identity (the SASL identity; "anonymous" without one) has
// created and not deleted; the smaller of the two applies. The queues that
// count are those that outlive the link that made them: named queues made
// on demand by an attach (queue patterns) and queues created through
// management. A queue counts until it is deleted, by whomever or by
// auto-delete. Temporary queues (dynamic nodes and the private queues of
// receivers on exchanges, exclusive to their connection and deleted with
// their link) do not count: they go with the connection, which the
// connection limits bound, and counting them would keep a user at the
// limit from using management at all (its replies come back on one). Over
// the limit the creation is refused with amqp:resource-limit-exceeded (a
// management create: 403) naming the limit, its value and what sets it.
// Queues the broker makes itself (the queue option at start-up, those
// restored from the store, those HA replicates on a backup) count for
// nobody; so after a restart or a failover, a user's earlier queues do
// not count until deleted and made again.

import (
	"github.com/qpidha/qpidha/internal/broker"
)

// QueueCreator is whom a queue a client creates counts for, with their
// limit: max-queues-per-user and the ACL's quota queues, the smaller.
func (s *Server) QueueCreator(from ConnInfo) broker.Creator {
	user := aclUser(from.User)
	by := broker.Creator{User: user}
	if n := s.cfg.MaxQueuesPerUser; n > 0 {
		by.Limited, by.Max, by.Source = true, n, "max-queues-per-user"
	}
	if n, on := s.cfg.ACL.ACL().QueueQuota(user); on && (!by.Limited || n < by.Max) {
		by.Limited, by.Max, by.Source = true, n, "the ACL's quota queues"
	}
	return by
}

// creator is QueueCreator for this connection's client.
func (c *conn) creator() broker.Creator {
	var info ConnInfo
	if i := c.info.Load(); i != nil {
		info = *i
	}
	return c.srv.QueueCreator(info)
}
