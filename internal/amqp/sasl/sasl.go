// Package sasl holds the SASL mechanisms the AMQP engine negotiates (AMQP 1.0
// part 5.3): the server side of ANONYMOUS, PLAIN, whose passwords are
// checked against a PasswordChecker, and EXTERNAL, whose identity the TLS
// layer established; and the client side of the three.
//
// A mechanism is a small state machine stepped by the engine: it never does IO.
package sasl

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
)

// Mechanism names.
const (
	Anonymous = "ANONYMOUS"
	Plain     = "PLAIN"
	External  = "EXTERNAL"
)

// ErrAuth is wrapped by every authentication failure (sasl-code auth).
var ErrAuth = errors.New("authentication failed")

// ServerMechanism is one server-side exchange, for one connection attempt.
type ServerMechanism interface {
	// Step takes the client's initial response (first call; nil when the
	// client sent none) or a later response. It returns either a challenge
	// to send, or done with the exchange complete. An error wrapping ErrAuth
	// means the credentials were rejected; any other error is a system error.
	Step(response []byte) (challenge []byte, done bool, err error)
	// Identity is the authenticated user once done ("anonymous" for ANONYMOUS).
	Identity() string
}

// Server offers a set of mechanisms to connecting clients.
type Server interface {
	Mechanisms() []string
	Start(mechanism string) (ServerMechanism, error)
}

// PasswordChecker verifies a user's password, for PLAIN.
type PasswordChecker interface {
	CheckPassword(user, password string) bool
}

// Mechanisms is a Server built from named mechanism factories.
type Mechanisms map[string]func() ServerMechanism

// Mechanisms lists the names, in a stable order.
func (m Mechanisms) Mechanisms() []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Start begins an exchange with a mechanism the server offers.
func (m Mechanisms) Start(name string) (ServerMechanism, error) {
	f, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("%w: mechanism %q is not offered", ErrAuth, name)
	}
	return f(), nil
}

// NewAnonymous returns a server ANONYMOUS mechanism (RFC 4505).
func NewAnonymous() ServerMechanism { return &anonymous{} }

type anonymous struct{}

func (*anonymous) Step([]byte) ([]byte, bool, error) { return nil, true, nil }
func (*anonymous) Identity() string                  { return "anonymous" }

// NewPlain returns a server PLAIN mechanism (RFC 4616) checking with c.
func NewPlain(c PasswordChecker) ServerMechanism { return &plain{checker: c} }

type plain struct {
	checker  PasswordChecker
	identity string
	asked    bool
}

func (p *plain) Step(response []byte) ([]byte, bool, error) {
	if response == nil && !p.asked {
		// The client sent no initial response: ask for it with an empty challenge.
		p.asked = true
		return []byte{}, false, nil
	}
	// message = [authzid] NUL authcid NUL passwd
	parts := bytes.Split(response, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, false, fmt.Errorf("%w: malformed PLAIN response", ErrAuth)
	}
	user, pass := string(parts[1]), string(parts[2])
	if authz := string(parts[0]); authz != "" && authz != user {
		return nil, false, fmt.Errorf("%w: %s may not act as %s", ErrAuth, user, authz)
	}
	if !p.checker.CheckPassword(user, pass) {
		return nil, false, fmt.Errorf("%w: wrong user name or password for %s", ErrAuth, user)
	}
	p.identity = user
	return nil, true, nil
}

func (p *plain) Identity() string { return p.identity }

// NewExternal returns a server EXTERNAL mechanism (RFC 4422 appendix A)
// for a connection whose client the TLS layer authenticated as identity.
// The client may ask for no identity or for that one; it may not act as
// another.
func NewExternal(identity string) ServerMechanism { return &external{identity: identity} }

type external struct {
	identity string
	asked    bool
	done     bool
}

func (e *external) Step(response []byte) ([]byte, bool, error) {
	if response == nil && !e.asked {
		// No initial response: ask for the authorization identity.
		e.asked = true
		return []byte{}, false, nil
	}
	if e.identity == "" {
		return nil, false, fmt.Errorf("%w: EXTERNAL needs a client certificate with a common name", ErrAuth)
	}
	if authz := string(response); authz != "" && authz != e.identity {
		return nil, false, fmt.Errorf("%w: the certificate of %s may not act as %q", ErrAuth, e.identity, authz)
	}
	e.done = true
	return nil, true, nil
}

func (e *external) Identity() string {
	if !e.done {
		return ""
	}
	return e.identity
}

// ClientMechanism is the client side of an exchange.
type ClientMechanism interface {
	Name() string
	// Start returns the initial response (nil for none).
	Start() ([]byte, error)
	// Step answers a challenge.
	Step(challenge []byte) ([]byte, error)
}

// Chooser is a ClientMechanism that picks among the mechanisms the server
// offers: the engine gives it the offer before asking its Name.
type Chooser interface {
	ClientMechanism
	Offered(mechanisms []string)
}

// ClientAnonymous returns the client side of ANONYMOUS.
func ClientAnonymous() ClientMechanism { return clientAnonymous{} }

type clientAnonymous struct{}

func (clientAnonymous) Name() string           { return Anonymous }
func (clientAnonymous) Start() ([]byte, error) { return []byte{}, nil }
func (clientAnonymous) Step([]byte) ([]byte, error) {
	return nil, errors.New("ANONYMOUS takes no challenge")
}

// ClientPlain returns the client side of PLAIN.
func ClientPlain(user, password string) ClientMechanism { return clientPlain{user, password} }

type clientPlain struct{ user, password string }

func (clientPlain) Name() string { return Plain }
func (c clientPlain) Start() ([]byte, error) {
	return []byte("\x00" + c.user + "\x00" + c.password), nil
}
func (c clientPlain) Step([]byte) ([]byte, error) { return c.Start() }

// ClientExternal returns the client side of EXTERNAL: the identity is the
// one the TLS client certificate establishes.
func ClientExternal() ClientMechanism { return clientExternal{} }

type clientExternal struct{}

func (clientExternal) Name() string                { return External }
func (clientExternal) Start() ([]byte, error)      { return []byte{}, nil }
func (clientExternal) Step([]byte) ([]byte, error) { return []byte{}, nil }
