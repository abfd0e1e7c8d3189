package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
	"github.com/qpidha/qpidha/internal/auth"
)

// mechSCRAM is the mechanism package sasl does not name.
const mechSCRAM = auth.SCRAMSHA256

// checkMechanism refuses, before connecting, a mechanism this client does
// not have and one that needs a user name the URL lacks.
func checkMechanism(mech, user string) error {
	switch m := strings.ToUpper(mech); m {
	case "", sasl.Anonymous, sasl.External:
		return nil
	case sasl.Plain, mechSCRAM:
		if user == "" {
			return fmt.Errorf("SASL mechanism %s needs a user name: give the broker as user/password@host[:port]", m)
		}
		return nil
	default:
		return &MechanismError{Mechanism: m}
	}
}

// selector is the engine's client mechanism for one connection attempt (a
// sasl.Chooser): it learns the mechanisms the broker offers, then plays the
// asked-for mechanism, or the best one the broker offers when none was
// asked for (see Options.Mechanism). The engine uses it from
// the connection's goroutine only; explain runs once the engine is done.
type selector struct {
	asked          string // upper case; "" picks
	user, password string
	certificate    bool // a TLS connection presenting a client certificate

	offered []string
	chosen  sasl.ClientMechanism
}

func newSelector(mech, user, password string, tlsConf *tls.Config) *selector {
	s := &selector{asked: strings.ToUpper(mech), user: user, password: password}
	s.certificate = tlsConf != nil && (len(tlsConf.Certificates) > 0 || tlsConf.GetClientCertificate != nil)
	return s
}

// Offered implements sasl.Chooser.
func (s *selector) Offered(mechanisms []string) {
	s.offered, s.chosen = mechanisms, nil
}

func (s *selector) offers(name string) bool {
	for _, o := range s.offered {
		if o == name {
			return true
		}
	}
	return false
}

// pick is the mechanism's name: the asked-for one, else the best offered.
func (s *selector) pick() string {
	switch {
	case s.asked != "":
		return s.asked
	case s.user != "" && s.offers(mechSCRAM):
		return mechSCRAM
	case s.user != "":
		return sasl.Plain
	case s.certificate && s.offers(sasl.External):
		return sasl.External
	}
	return sasl.Anonymous
}

func (s *selector) mechanism() sasl.ClientMechanism {
	if s.chosen == nil {
		switch name := s.pick(); name {
		case mechSCRAM:
			s.chosen = auth.NewSCRAMClient(s.user, s.password)
		case sasl.Plain:
			s.chosen = sasl.ClientPlain(s.user, s.password)
		case sasl.External:
			s.chosen = sasl.ClientExternal()
		default:
			s.chosen = sasl.ClientAnonymous()
		}
	}
	return s.chosen
}

func (s *selector) Name() string                   { return s.mechanism().Name() }
func (s *selector) Start() ([]byte, error)         { return s.mechanism().Start() }
func (s *selector) Step(ch []byte) ([]byte, error) { return s.mechanism().Step(ch) }
func (s *selector) Verify(additional []byte) error {
	if v, ok := s.mechanism().(auth.Verifier); ok {
		return v.Verify(additional)
	}
	return nil
}

// explain rewords a failed connection's message when the SASL exchange is
// why: a mechanism the broker does not offer, or credentials it refused.
func (s *selector) explain(msg string, err error) string {
	if len(s.offered) > 0 && !s.offers(s.pick()) {
		return fmt.Sprintf("the broker does not offer the SASL mechanism this client asked for, %s (it offers %s)",
			s.pick(), strings.Join(s.offered, ", "))
	}
	if errors.Is(err, sasl.ErrAuth) {
		if s.pick() == sasl.External {
			return "authentication failed (EXTERNAL): the broker did not accept the client certificate's identity"
		}
		return fmt.Sprintf("authentication failed (%s): check the user name and password", s.pick())
	}
	return msg
}
