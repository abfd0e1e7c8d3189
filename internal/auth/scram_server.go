package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
)

// NewSCRAMServer returns the server side of one SCRAM-SHA-256 exchange
// (RFC 5802, RFC 7677) checking against db. Channel binding is not
// supported: the gs2 header must be "n,," or "y,," (with an optional a=).
//
// Step takes the client-first-message and returns the server-first-message
// as a challenge; it then takes the client-final-message and returns done
// with the server-final-message ("v=ServerSignature"), which the engine must
// send as the sasl-outcome's additional-data. Identity is user@realm.
func NewSCRAMServer(db *DB) sasl.ServerMechanism {
	return &scramServer{db: db, nonce: randomNonce}
}

type scramState int

const (
	scramStart scramState = iota
	scramFirstSent
	scramDone
	scramFailed
)

type scramServer struct {
	db    *DB
	nonce func() (string, error) // the server's part of the nonce; tests replace it

	state    scramState
	asked    bool // sent an empty challenge for a missing initial response
	gs2      string
	bare     string // client-first-message-bare
	first    string // server-first-message
	nonceAll string // client nonce + server nonce
	user     string // qualified
	cred     Credential
	known    bool
	identity string
}

func (s *scramServer) Identity() string { return s.identity }

func (s *scramServer) Step(response []byte) ([]byte, bool, error) {
	switch s.state {
	case scramStart:
		if response == nil && !s.asked {
			// No initial response: ask for the client-first-message.
			s.asked = true
			return []byte{}, false, nil
		}
		challenge, err := s.clientFirst(response)
		if err != nil {
			s.state = scramFailed
			return nil, false, err
		}
		s.state = scramFirstSent
		return challenge, false, nil
	case scramFirstSent:
		outcome, err := s.clientFinal(response)
		if err != nil {
			s.state = scramFailed
			return nil, false, err
		}
		s.state = scramDone
		return outcome, true, nil
	default:
		s.state = scramFailed
		return nil, false, fmt.Errorf("%w: SCRAM exchange already finished", sasl.ErrAuth)
	}
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: malformed SCRAM message: %s", sasl.ErrAuth, fmt.Sprintf(format, args...))
}

// parseGS2 splits a client-first-message into its gs2 header, the decoded
// authzid ("" if none), and the client-first-message-bare.
func parseGS2(msg string) (header, authzid, bare string, err error) {
	switch {
	case strings.HasPrefix(msg, "n,"), strings.HasPrefix(msg, "y,"):
	case strings.HasPrefix(msg, "p="):
		return "", "", "", fmt.Errorf("%w: SCRAM channel binding is not supported", sasl.ErrAuth)
	default:
		return "", "", "", malformed("bad gs2 header")
	}
	rest := msg[2:]
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return "", "", "", malformed("bad gs2 header")
	}
	if a := rest[:comma]; a != "" {
		if !strings.HasPrefix(a, "a=") {
			return "", "", "", malformed("bad authzid")
		}
		if authzid, err = decodeSaslname(a[2:]); err != nil || authzid == "" {
			return "", "", "", malformed("bad authzid")
		}
	}
	return msg[:2+comma+1], authzid, rest[comma+1:], nil
}

func (s *scramServer) clientFirst(response []byte) ([]byte, error) {
	if len(response) > maxMessageLen {
		return nil, malformed("client-first-message too long")
	}
	header, authzid, bare, err := parseGS2(string(response))
	if err != nil {
		return nil, err
	}
	fields := strings.Split(bare, ",")
	if len(fields) < 2 {
		return nil, malformed("client-first-message needs n= and r=")
	}
	if strings.HasPrefix(fields[0], "m=") {
		return nil, fmt.Errorf("%w: unsupported SCRAM mandatory extension", sasl.ErrAuth)
	}
	if !strings.HasPrefix(fields[0], "n=") {
		return nil, malformed("expected n=")
	}
	user, err := decodeSaslname(fields[0][2:])
	if err != nil || user == "" {
		return nil, malformed("bad user name")
	}
	if !strings.HasPrefix(fields[1], "r=") || !validNonce(fields[1][2:]) {
		return nil, malformed("bad client nonce")
	}
	if err := checkExtensions(fields[2:]); err != nil {
		return nil, malformed("%v", err)
	}
	s.user = s.db.Qualify(user)
	if authzid != "" && s.db.Qualify(authzid) != s.user {
		return nil, fmt.Errorf("%w: %s may not act as %s", sasl.ErrAuth, s.user, authzid)
	}

	s.cred, s.known = s.db.Lookup(s.user)
	if !s.known {
		// Answer as if the user existed; the proof will fail.
		s.cred = s.db.fakeCredential(s.user)
	}
	serverNonce, err := s.nonce()
	if err != nil {
		return nil, err // a system error, not ErrAuth
	}
	if !validNonce(serverNonce) {
		return nil, errors.New("auth: invalid server nonce")
	}
	s.gs2 = header
	s.bare = bare
	s.nonceAll = fields[1][2:] + serverNonce
	s.first = "r=" + s.nonceAll +
		",s=" + base64.StdEncoding.EncodeToString(s.cred.Salt) +
		",i=" + strconv.Itoa(s.cred.Iterations)
	return []byte(s.first), nil
}

func (s *scramServer) clientFinal(response []byte) ([]byte, error) {
	if response == nil || len(response) > maxMessageLen {
		return nil, malformed("bad client-final-message length")
	}
	msg := string(response)
	fields := strings.Split(msg, ",")
	if len(fields) < 3 {
		return nil, malformed("client-final-message needs c=, r= and p=")
	}
	if !strings.HasPrefix(fields[0], "c=") {
		return nil, malformed("expected c=")
	}
	cbind, err := base64.StdEncoding.DecodeString(fields[0][2:])
	if err != nil || string(cbind) != s.gs2 {
		return nil, fmt.Errorf("%w: SCRAM channel binding data does not match", sasl.ErrAuth)
	}
	if !strings.HasPrefix(fields[1], "r=") {
		return nil, malformed("expected r=")
	}
	if fields[1][2:] != s.nonceAll {
		return nil, fmt.Errorf("%w: SCRAM nonce does not match", sasl.ErrAuth)
	}
	last := fields[len(fields)-1]
	if !strings.HasPrefix(last, "p=") {
		return nil, malformed("expected p= last")
	}
	if err := checkExtensions(fields[2 : len(fields)-1]); err != nil {
		return nil, malformed("%v", err)
	}
	proof, err := base64.StdEncoding.DecodeString(last[2:])
	if err != nil || len(proof) != keyLen {
		return nil, malformed("bad proof")
	}
	withoutProof := msg[:len(msg)-len(last)-1]
	authMessage := []byte(s.bare + "," + s.first + "," + withoutProof)

	clientSignature := hmacSHA256(s.cred.StoredKey, authMessage)
	clientKey := xorBytes(proof, clientSignature)
	ok := subtle.ConstantTimeCompare(storedKey(clientKey), s.cred.StoredKey) == 1
	if !ok || !s.known {
		return nil, fmt.Errorf("%w: wrong user name or password for %s", sasl.ErrAuth, s.user)
	}
	s.identity = s.user
	serverSignature := hmacSHA256(s.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), nil
}
