package auth

import (
	"fmt"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
)

// NewServer returns the SASL server of the broker: SCRAM-SHA-256 and PLAIN,
// both checking against db, and ANONYMOUS too when allowAnonymous (auth=no).
// With a nil db only ANONYMOUS can be offered.
//
// Mechanisms are listed in decreasing preference, as AMQP 1.0 (part 5.3.3.1,
// sasl-mechanisms) asks: SCRAM-SHA-256, PLAIN, ANONYMOUS. Identities are
// user@realm; ANONYMOUS's stays "anonymous".
func NewServer(db *DB, allowAnonymous bool) sasl.Server {
	s := &server{mechs: sasl.Mechanisms{}}
	if db != nil {
		s.mechs[SCRAMSHA256] = func() sasl.ServerMechanism { return NewSCRAMServer(db) }
		s.mechs[sasl.Plain] = func() sasl.ServerMechanism {
			return &qualified{ServerMechanism: sasl.NewPlain(db), db: db}
		}
		s.order = append(s.order, SCRAMSHA256, sasl.Plain)
	}
	if allowAnonymous {
		s.mechs[sasl.Anonymous] = sasl.NewAnonymous
		s.order = append(s.order, sasl.Anonymous)
	}
	return s
}

// server is a sasl.Mechanisms listed in preference order rather than sorted.
type server struct {
	mechs sasl.Mechanisms
	order []string
}

func (s *server) Mechanisms() []string { return append([]string(nil), s.order...) }

func (s *server) Start(name string) (sasl.ServerMechanism, error) { return s.mechs.Start(name) }

// qualified reports a mechanism's identity as user@realm.
type qualified struct {
	sasl.ServerMechanism
	db *DB
}

func (q *qualified) Identity() string {
	id := q.ServerMechanism.Identity()
	if id == "" {
		return ""
	}
	return q.db.Qualify(id)
}

// WithExternal returns the mechanisms of base (nil: none) with EXTERNAL
// first, for a connection whose TLS client certificate authenticated it as
// identity: with a certificate, a client needs no password.
func WithExternal(base sasl.Server, identity string) sasl.Server {
	return withExternal{base: base, identity: identity}
}

type withExternal struct {
	base     sasl.Server
	identity string
}

func (w withExternal) Mechanisms() []string {
	ms := []string{sasl.External}
	if w.base != nil {
		ms = append(ms, w.base.Mechanisms()...)
	}
	return ms
}

func (w withExternal) Start(name string) (sasl.ServerMechanism, error) {
	if name == sasl.External {
		return sasl.NewExternal(w.identity), nil
	}
	if w.base == nil {
		return nil, fmt.Errorf("%w: mechanism %q is not offered on this connection", sasl.ErrAuth, name)
	}
	return w.base.Start(name)
}
