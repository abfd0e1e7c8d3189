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

// Verifier is implemented by client mechanisms that must check the data the
// server sends with a successful sasl-outcome. The engine calls Verify with
// the outcome's additional-data (nil when absent) and fails the connection
// if it returns an error.
type Verifier interface {
	Verify(additionalData []byte) error
}

// SCRAMClient is the client side of SCRAM-SHA-256 (RFC 5802, RFC 7677),
// without channel binding. It implements sasl.ClientMechanism and Verifier.
//
// In AMQP the exchange is: sasl-init carrying Start's client-first-message;
// sasl-challenge with the server-first-message, answered by Step with the
// client-final-message; sasl-outcome whose additional-data is the
// server-final-message, to be passed to Verify. A server that sends the
// server-final-message as one more challenge instead is handled too: Step
// verifies it and answers with an empty response, and Verify of an empty
// outcome then succeeds. Until the server's signature has been checked the
// server is not authenticated: Verify(nil) before that is an error.
type SCRAMClient struct {
	user, password string
	nonce          func() (string, error)

	state           int
	clientNonce     string
	bare            string
	serverSignature []byte
}

const (
	clientNew = iota
	clientFirstSent
	clientFinalSent
	clientVerified
	clientFailed
)

var (
	_ sasl.ClientMechanism = (*SCRAMClient)(nil)
	_ Verifier             = (*SCRAMClient)(nil)
)

// NewSCRAMClient returns the client side of SCRAM-SHA-256 for user (sent as
// given: "name" is qualified by the server's realm) and password.
func NewSCRAMClient(user, password string) *SCRAMClient {
	return &SCRAMClient{user: user, password: password, nonce: randomNonce}
}

// Name is SCRAM-SHA-256.
func (c *SCRAMClient) Name() string { return SCRAMSHA256 }

// Start returns the client-first-message, "n,,n=user,r=nonce".
func (c *SCRAMClient) Start() ([]byte, error) {
	if c.state != clientNew {
		return nil, errors.New("SCRAM: exchange already started")
	}
	if c.user == "" {
		return nil, errors.New("SCRAM: empty user name")
	}
	nonce, err := c.nonce()
	if err != nil {
		return nil, err
	}
	if !validNonce(nonce) {
		return nil, errors.New("SCRAM: invalid client nonce")
	}
	c.clientNonce = nonce
	c.bare = "n=" + encodeSaslname(c.user) + ",r=" + nonce
	c.state = clientFirstSent
	return []byte("n,," + c.bare), nil
}

// Step answers the server-first-message with the client-final-message; given
// the server-final-message as a later challenge, it verifies it and returns
// an empty response.
func (c *SCRAMClient) Step(challenge []byte) ([]byte, error) {
	switch c.state {
	case clientFirstSent:
		out, err := c.clientFinal(challenge)
		if err != nil {
			c.state = clientFailed
			return nil, err
		}
		c.state = clientFinalSent
		return out, nil
	case clientFinalSent:
		if err := c.Verify(challenge); err != nil {
			return nil, err
		}
		return []byte{}, nil
	default:
		return nil, errors.New("SCRAM: unexpected challenge")
	}
}

func (c *SCRAMClient) clientFinal(challenge []byte) ([]byte, error) {
	if len(challenge) > maxMessageLen {
		return nil, errors.New("SCRAM: server-first-message too long")
	}
	first := string(challenge)
	fields := strings.Split(first, ",")
	if len(fields) < 3 {
		return nil, errors.New("SCRAM: malformed server-first-message")
	}
	if strings.HasPrefix(fields[0], "m=") {
		return nil, errors.New("SCRAM: unsupported mandatory extension")
	}
	if !strings.HasPrefix(fields[0], "r=") || !strings.HasPrefix(fields[1], "s=") || !strings.HasPrefix(fields[2], "i=") {
		return nil, errors.New("SCRAM: malformed server-first-message")
	}
	nonce := fields[0][2:]
	if !validNonce(nonce) || len(nonce) <= len(c.clientNonce) || !strings.HasPrefix(nonce, c.clientNonce) {
		return nil, errors.New("SCRAM: server nonce does not extend the client nonce")
	}
	salt, err := base64.StdEncoding.DecodeString(fields[1][2:])
	if err != nil || len(salt) == 0 || len(salt) > maxSaltLen {
		return nil, errors.New("SCRAM: bad salt")
	}
	iterations, err := strconv.Atoi(fields[2][2:])
	if err != nil || iterations < MinIterations || iterations > MaxIterations {
		return nil, fmt.Errorf("SCRAM: iteration count %q out of range [%d, %d]", truncate(fields[2][2:]), MinIterations, MaxIterations)
	}
	if err := checkExtensions(fields[3:]); err != nil {
		return nil, fmt.Errorf("SCRAM: server-first-message: %w", err)
	}

	withoutProof := "c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce
	authMessage := []byte(c.bare + "," + first + "," + withoutProof)
	salted := saltedPassword(c.password, salt, iterations)
	ck := clientKey(salted)
	clientSignature := hmacSHA256(storedKey(ck), authMessage)
	proof := xorBytes(ck, clientSignature)
	c.serverSignature = hmacSHA256(hmacSHA256(salted, []byte("Server Key")), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// Verify checks the server-final-message ("v=ServerSignature"), normally the
// sasl-outcome's additional-data. It returns nil once the server has proved
// it knows the user's credential, and an error otherwise (no or a wrong
// signature, or a server error "e=...", which wraps sasl.ErrAuth).
func (c *SCRAMClient) Verify(additionalData []byte) error {
	switch c.state {
	case clientFinalSent:
	case clientVerified:
		if len(additionalData) == 0 {
			return nil // verified from a challenge already
		}
	default:
		return errors.New("SCRAM: nothing to verify: the exchange has not reached its final step")
	}
	if len(additionalData) == 0 {
		return errors.New("SCRAM: the server sent no signature")
	}
	if len(additionalData) > maxMessageLen {
		c.state = clientFailed
		return errors.New("SCRAM: server-final-message too long")
	}
	msg := string(additionalData)
	if e, ok := strings.CutPrefix(msg, "e="); ok {
		c.state = clientFailed
		return fmt.Errorf("%w: SCRAM server error %q", sasl.ErrAuth, truncate(e))
	}
	v, ok := strings.CutPrefix(strings.SplitN(msg, ",", 2)[0], "v=")
	if !ok {
		c.state = clientFailed
		return errors.New("SCRAM: malformed server-final-message")
	}
	sig, err := base64.StdEncoding.DecodeString(v)
	if err != nil || subtle.ConstantTimeCompare(sig, c.serverSignature) != 1 {
		c.state = clientFailed
		return errors.New("SCRAM: the server's signature does not match: it does not know the user's credential")
	}
	c.state = clientVerified
	return nil
}

// Verified reports whether the server's signature has been checked.
func (c *SCRAMClient) Verified() bool { return c.state == clientVerified }
