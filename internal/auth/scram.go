package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// SCRAMSHA256 is the SASL mechanism name of SCRAM-SHA-256 (RFC 7677).
const SCRAMSHA256 = "SCRAM-SHA-256"

// Limits on SCRAM parameters, both for stored credentials and for what a
// peer announces.
const (
	// DefaultIterations is the PBKDF2 iteration count of new credentials.
	DefaultIterations = 4096
	// MinIterations is the least count accepted anywhere: RFC 7677 section 4
	// says the iteration count SHOULD be at least 4096.
	MinIterations = 4096
	// MaxIterations bounds the work a stored credential or a server can ask
	// for (a client must not be made to spin by a hostile server).
	MaxIterations = 10000000
	// SaltLen is the length of the random salt of new credentials.
	SaltLen = 16
	// maxSaltLen bounds salts read from a file or a server.
	maxSaltLen = 256
	// maxMessageLen bounds every SCRAM message a mechanism accepts.
	maxMessageLen = 4096
	// keyLen is the length of SHA-256 keys (StoredKey, ServerKey, proofs).
	keyLen = sha256.Size
	// nonceBytes is the number of random bytes in a generated nonce.
	nonceBytes = 18
)

// Credential is what the database keeps for a user: the SCRAM-SHA-256
// verifiers of RFC 5802 section 3, never the password.
type Credential struct {
	User       string // qualified, user@realm
	Iterations int
	Salt       []byte
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// DeriveCredential computes the SCRAM-SHA-256 credential of a password with
// a given salt and iteration count. A nil salt means a fresh random one.
// The user name is stored as given.
func DeriveCredential(user, password string, salt []byte, iterations int) (Credential, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return Credential{}, fmt.Errorf("iteration count %d out of range [%d, %d]", iterations, MinIterations, MaxIterations)
	}
	if salt == nil {
		salt = make([]byte, SaltLen)
		if _, err := rand.Read(salt); err != nil {
			return Credential{}, fmt.Errorf("generating salt: %w", err)
		}
	}
	if len(salt) == 0 || len(salt) > maxSaltLen {
		return Credential{}, fmt.Errorf("salt length %d out of range [1, %d]", len(salt), maxSaltLen)
	}
	salted := saltedPassword(password, salt, iterations)
	return Credential{
		User:       user,
		Iterations: iterations,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  storedKey(clientKey(salted)),
		ServerKey:  hmacSHA256(salted, []byte("Server Key")),
	}, nil
}

func (c Credential) clone() Credential {
	c.Salt = append([]byte(nil), c.Salt...)
	c.StoredKey = append([]byte(nil), c.StoredKey...)
	c.ServerKey = append([]byte(nil), c.ServerKey...)
	return c
}

// saltedPassword is Hi(Normalize(password), salt, i). Normalize would be
// SASLprep (RFC 4013); it is the identity here (see package doc).
func saltedPassword(password string, salt []byte, iterations int) []byte {
	return pbkdf2SHA256([]byte(password), salt, iterations, keyLen)
}

func clientKey(salted []byte) []byte { return hmacSHA256(salted, []byte("Client Key")) }

func storedKey(clientKey []byte) []byte {
	h := sha256.Sum256(clientKey)
	return h[:]
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

func xorBytes(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// randomNonce returns a printable nonce from crypto/rand. Standard base64
// never contains ',' so it is a valid SCRAM nonce.
func randomNonce() (string, error) {
	b := make([]byte, nonceBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating nonce: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// validNonce reports whether s is a SCRAM nonce: printable ASCII except ','.
func validNonce(s string) bool {
	if s == "" || len(s) > maxMessageLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// encodeSaslname escapes a user name for n= and a= (RFC 5802 section 5.1).
func encodeSaslname(s string) string {
	s = strings.ReplaceAll(s, "=", "=3D")
	return strings.ReplaceAll(s, ",", "=2C")
}

var errSaslname = errors.New("malformed saslname")

// decodeSaslname undoes encodeSaslname; any other '=' escape is an error.
func decodeSaslname(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errSaslname
		}
		switch strings.ToUpper(s[i+1 : i+3]) {
		case "2C":
			b.WriteByte(',')
		case "3D":
			b.WriteByte('=')
		default:
			return "", errSaslname
		}
		i += 2
	}
	return b.String(), nil
}

// attr splits one "x=value" attribute of a SCRAM message.
func attr(field string) (name byte, value string, ok bool) {
	if len(field) < 2 || field[1] != '=' {
		return 0, "", false
	}
	c := field[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return 0, "", false
	}
	return c, field[2:], true
}

// checkExtensions validates optional trailing attributes, which are ignored.
func checkExtensions(fields []string) error {
	for _, f := range fields {
		if _, _, ok := attr(f); !ok {
			return fmt.Errorf("malformed attribute %q", truncate(f))
		}
	}
	return nil
}

// truncate shortens peer-supplied text quoted in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
