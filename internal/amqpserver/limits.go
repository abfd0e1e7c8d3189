package amqpserver

// Connection limits: max-connections (in total), connection-limit-per-user
// (per authenticated identity) and connection-limit-per-ip (per client
// address), checked when a client's open arrives, after the ACL's create
// connection rules and quota and after an extension (HA) admitted it. A
// connection over a limit is closed at once with
// amqp:resource-limit-exceeded and a description naming the limit, its
// value and the option that sets it; the refusal is logged at info level.
// A connection takes its places until it ends, then another may have them.
//
// Exempt, and not counted: the connections of administrators, which set
// the connection property qpid.ha-admin (AdminProperty) AND whose identity
// may administer the broker (AccessControl.AdminAllowed). The HA brokers'
// own connections set that property too, and so do qpid-ha, qpidd-primary
// and the OCF agent, which connect every second or two: a flood of clients
// filling the places must not make the cluster manager's monitor fail and
// start a failover storm. Without an ACL everyone may administer, so any
// client setting the property is exempt (with authentication on, an
// unauthenticated client cannot connect at all); with an ACL only
// identities it allows "access broker" and "update broker" are exempt,
// which the HA user (ha-username) needs anyway.
//
// Connections still in the protocol or SASL handshake are not counted:
// until its open arrives a connection cannot be told from an
// administrator's, and refusing those at accept time would let a flood
// shut out the cluster manager. They are bounded in time instead: one
// that has not opened within the handshake timeout (max-negotiate-time,
// Config.HandshakeTimeout) is dropped, so at any moment they are at most
// what clients can open in that time, and each costs only a goroutine and
// its read buffer until then.

import (
	"net"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// connCounts are the places taken in the connection limits.
type connCounts struct {
	mu     sync.Mutex
	total  int
	byUser map[string]int
	byIP   map[string]int
}

func (s *Server) limitsOn() bool {
	return s.cfg.MaxConnections > 0 || s.cfg.ConnectionLimitPerUser > 0 || s.cfg.ConnectionLimitPerIP > 0
}

// exempt reports whether a connection is free of the connection limits:
// an administrator's (see above).
func (s *Server) exempt(info *ConnInfo) bool {
	return info.Admin && s.cfg.ACL.AdminAllowed(info.User)
}

// clientIP is the address part of a remote address.
func clientIP(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// admitLimits takes the connection's places in the connection limits, or
// says which limit refuses it.
func (c *conn) admitLimits() *types.Error {
	s := c.srv
	if !s.limitsOn() {
		return nil
	}
	info := c.info.Load()
	if s.exempt(info) {
		return nil
	}
	user, ip := aclUser(info.User), clientIP(info.Remote)
	n := &s.counts
	n.mu.Lock()
	defer n.mu.Unlock()
	var refusal *types.Error
	switch max := s.cfg.MaxConnections; {
	case max > 0 && n.total >= max:
		refusal = types.NewError(types.CondResourceLimitExceeded,
			"the broker's connection limit (%d, max-connections) is reached", max)
	case s.cfg.ConnectionLimitPerUser > 0 && n.byUser[user] >= s.cfg.ConnectionLimitPerUser:
		refusal = types.NewError(types.CondResourceLimitExceeded,
			"the connection limit of user %s (%d, connection-limit-per-user) is reached", user, s.cfg.ConnectionLimitPerUser)
	case s.cfg.ConnectionLimitPerIP > 0 && n.byIP[ip] >= s.cfg.ConnectionLimitPerIP:
		refusal = types.NewError(types.CondResourceLimitExceeded,
			"the connection limit of client address %s (%d, connection-limit-per-ip) is reached", ip, s.cfg.ConnectionLimitPerIP)
	}
	if refusal != nil {
		c.log.WithFields(logrus.Fields{"user": user, "address": ip}).Info("connection refused: " + refusal.Description)
		return refusal
	}
	if n.byUser == nil {
		n.byUser, n.byIP = map[string]int{}, map[string]int{}
	}
	n.total++
	n.byUser[user]++
	n.byIP[ip]++
	c.limitUser, c.limitIP, c.limited = user, ip, true
	return nil
}

// releaseLimits gives back the connection's places.
func (c *conn) releaseLimits() {
	if !c.limited {
		return
	}
	c.limited = false
	n := &c.srv.counts
	n.mu.Lock()
	defer n.mu.Unlock()
	n.total--
	if n.byUser[c.limitUser]--; n.byUser[c.limitUser] <= 0 {
		delete(n.byUser, c.limitUser)
	}
	if n.byIP[c.limitIP]--; n.byIP[c.limitIP] <= 0 {
		delete(n.byIP, c.limitIP)
	}
}
