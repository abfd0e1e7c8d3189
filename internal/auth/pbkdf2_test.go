package auth

import (
	"encoding/hex"
	"testing"
)

// Published PBKDF2-HMAC-SHA256 test vectors: the first two from RFC 7914
// section 11, the others the widely used SHA-256 counterparts of RFC 6070's
// vectors.
func TestPBKDF2SHA256Vectors(t *testing.T) {
	for _, v := range []struct {
		password, salt string
		iterations     int
		want           string
	}{
		{"passwd", "salt", 1, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"},
		{"Password", "NaCl", 80000, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"},
		{"password", "salt", 1, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"},
		{"password", "salt", 2, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"},
		{"password", "salt", 4096, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"},
		{"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9"},
		{"pass\x00word", "sa\x00lt", 4096, "89b69d0516f829893c696226650a8687"},
	} {
		want, _ := hex.DecodeString(v.want)
		got := pbkdf2SHA256([]byte(v.password), []byte(v.salt), v.iterations, len(want))
		if hex.EncodeToString(got) != v.want {
			t.Errorf("PBKDF2(%q, %q, %d, %d) = %x, want %s", v.password, v.salt, v.iterations, len(want), got, v.want)
		}
	}
}
