package sasl

import (
	"bytes"
	"errors"
	"testing"
)

type onePassword struct{ user, password string }

func (o onePassword) CheckPassword(user, password string) bool {
	return user == o.user && password == o.password
}

// steps runs a server mechanism over the client's messages: the first is
// the initial response (nil: none, when noInitial), the rest answer
// challenges. It stops at completion or the first error.
func steps(m ServerMechanism, noInitial bool, msgs ...[]byte) (done bool, err error) {
	for i, msg := range msgs {
		if i == 0 && noInitial {
			msg = nil
		} else if msg == nil {
			msg = []byte{}
		}
		_, done, err = m.Step(msg)
		if done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// The PLAIN server exchange on hostile input: it never panics, fails only
// with ErrAuth, and completes only for alice's password, as alice.
func FuzzPlainServer(f *testing.F) {
	f.Add(false, []byte("\x00alice\x00pw"), []byte{})
	f.Add(true, []byte{}, []byte("alice\x00alice\x00pw"))
	f.Add(false, []byte("bob\x00alice\x00pw"), []byte{})
	f.Add(false, []byte("\x00alice\x00pw\x00"), []byte{})
	f.Add(false, []byte("\x00\x00"), []byte("\x00alice"))
	f.Fuzz(func(t *testing.T, noInitial bool, first, second []byte) {
		m := NewPlain(onePassword{"alice", "pw"})
		done, err := steps(m, noInitial, first, second)
		if err != nil && !errors.Is(err, ErrAuth) {
			t.Fatalf("error %v does not wrap ErrAuth", err)
		}
		if !done {
			if m.Identity() != "" {
				t.Fatalf("identity %q before completion", m.Identity())
			}
			return
		}
		answer := first
		if noInitial {
			answer = second
		}
		if m.Identity() != "alice" || !(bytes.Equal(answer, []byte("\x00alice\x00pw")) || bytes.Equal(answer, []byte("alice\x00alice\x00pw"))) {
			t.Fatalf("completed as %q for %q", m.Identity(), answer)
		}
	})
}

// The EXTERNAL server exchange on hostile input: it completes only with no
// authorization identity or the certificate's own, and never as anyone
// else; without a certificate identity it never completes.
func FuzzExternalServer(f *testing.F) {
	f.Add("carol@example.com", false, []byte{}, []byte{})
	f.Add("carol@example.com", true, []byte{}, []byte("carol@example.com"))
	f.Add("carol@example.com", false, []byte("admin@QPID"), []byte{})
	f.Add("", false, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, identity string, noInitial bool, first, second []byte) {
		m := NewExternal(identity)
		done, err := steps(m, noInitial, first, second)
		if err != nil && !errors.Is(err, ErrAuth) {
			t.Fatalf("error %v does not wrap ErrAuth", err)
		}
		if !done {
			if m.Identity() != "" {
				t.Fatalf("identity %q before completion", m.Identity())
			}
			return
		}
		answer := first
		if noInitial {
			answer = second
		}
		if identity == "" || m.Identity() != identity || (len(answer) > 0 && string(answer) != identity) {
			t.Fatalf("completed as %q (certificate %q) for authorization identity %q", m.Identity(), identity, answer)
		}
	})
}
