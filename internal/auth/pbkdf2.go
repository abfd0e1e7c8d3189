package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// pbkdf2SHA256 is PBKDF2 (RFC 8018 section 5.2) with HMAC-SHA-256 as the
// pseudorandom function. SCRAM's Hi(password, salt, i) is exactly
// pbkdf2SHA256(password, salt, i, 32).
//
// It lives here because crypto/pbkdf2 only arrived in Go 1.24 and the module
// builds with Go 1.23.
func pbkdf2SHA256(password, salt []byte, iterations, keyLen int) []byte {
	prf := hmac.New(sha256.New, password)
	hLen := prf.Size()
	blocks := (keyLen + hLen - 1) / hLen
	out := make([]byte, 0, blocks*hLen)
	var index [4]byte
	u := make([]byte, 0, hLen)
	t := make([]byte, hLen)
	for block := 1; block <= blocks; block++ {
		// U_1 = PRF(P, S || INT(i))
		prf.Reset()
		prf.Write(salt)
		binary.BigEndian.PutUint32(index[:], uint32(block))
		prf.Write(index[:])
		u = prf.Sum(u[:0])
		copy(t, u)
		// U_c = PRF(P, U_{c-1}); T = U_1 ^ U_2 ^ ... ^ U_c
		for n := 2; n <= iterations; n++ {
			prf.Reset()
			prf.Write(u)
			u = prf.Sum(u[:0])
			for j := range t {
				t[j] ^= u[j]
			}
		}
		out = append(out, t...)
	}
	return out[:keyLen]
}
