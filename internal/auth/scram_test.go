package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
)

// The example exchange of RFC 7677 section 3.
const (
	rfcUser        = "user"
	rfcPassword    = "pencil"
	rfcClientNonce = "rOprNGfwEbeRWgbNEkqO"
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

func fixed(s string) func() (string, error) { return func() (string, error) { return s, nil } }

// rfcDB holds the RFC's user with the RFC's salt.
func rfcDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open("", "")
	if err != nil {
		t.Fatal(err)
	}
	salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
	c, err := DeriveCredential(rfcUser, rfcPassword, salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetCredential(c); err != nil {
		t.Fatal(err)
	}
	return db
}

func rfcServer(db *DB) *scramServer {
	s := NewSCRAMServer(db).(*scramServer)
	s.nonce = fixed(rfcServerNonce)
	return s
}

func TestSCRAMServerRFC7677(t *testing.T) {
	s := rfcServer(rfcDB(t))
	ch, done, err := s.Step([]byte(rfcClientFirst))
	if err != nil || done || string(ch) != rfcServerFirst {
		t.Fatalf("server-first = %q, %v, %v; want %q", ch, done, err, rfcServerFirst)
	}
	out, done, err := s.Step([]byte(rfcClientFinal))
	if err != nil || !done || string(out) != rfcServerFinal {
		t.Fatalf("server-final = %q, %v, %v; want %q", out, done, err, rfcServerFinal)
	}
	if id := s.Identity(); id != "user@QPID" {
		t.Errorf("Identity = %q", id)
	}
	if _, _, err := s.Step([]byte(rfcClientFinal)); !errors.Is(err, sasl.ErrAuth) {
		t.Errorf("step after done: %v", err)
	}
}

func TestSCRAMClientRFC7677(t *testing.T) {
	c := NewSCRAMClient(rfcUser, rfcPassword)
	c.nonce = fixed(rfcClientNonce)
	if c.Name() != "SCRAM-SHA-256" {
		t.Errorf("Name = %q", c.Name())
	}
	first, err := c.Start()
	if err != nil || string(first) != rfcClientFirst {
		t.Fatalf("client-first = %q, %v", first, err)
	}
	final, err := c.Step([]byte(rfcServerFirst))
	if err != nil || string(final) != rfcClientFinal {
		t.Fatalf("client-final = %q, %v; want %q", final, err, rfcClientFinal)
	}
	if c.Verified() {
		t.Fatal("verified before the server-final-message")
	}
	if err := c.Verify([]byte(rfcServerFinal)); err != nil {
		t.Fatal(err)
	}
	if !c.Verified() {
		t.Fatal("not verified")
	}
}

// The client and server mechanisms against each other, with the RFC nonces.
func TestSCRAMClientAgainstServerRFC7677(t *testing.T) {
	s := rfcServer(rfcDB(t))
	c := NewSCRAMClient(rfcUser, rfcPassword)
	c.nonce = fixed(rfcClientNonce)
	var transcript []string
	first, _ := c.Start()
	transcript = append(transcript, string(first))
	ch, _, err := s.Step(first)
	if err != nil {
		t.Fatal(err)
	}
	transcript = append(transcript, string(ch))
	resp, err := c.Step(ch)
	if err != nil {
		t.Fatal(err)
	}
	transcript = append(transcript, string(resp))
	out, done, err := s.Step(resp)
	if err != nil || !done {
		t.Fatal(done, err)
	}
	transcript = append(transcript, string(out))
	if err := c.Verify(out); err != nil {
		t.Fatal(err)
	}
	want := []string{rfcClientFirst, rfcServerFirst, rfcClientFinal, rfcServerFinal}
	if strings.Join(transcript, "\n") != strings.Join(want, "\n") {
		t.Errorf("transcript\n%s\nwant\n%s", strings.Join(transcript, "\n"), strings.Join(want, "\n"))
	}
}

// run drives a server mechanism with a client mechanism as the AMQP engine
// would: the outcome's additional-data goes to Verify.
// It is safe to call from any goroutine.
func run(s sasl.ServerMechanism, c sasl.ClientMechanism) (serverErr, clientErr error) {
	resp, err := c.Start()
	if err != nil {
		return nil, err
	}
	for i := 0; i < 10; i++ {
		ch, done, err := s.Step(resp)
		if err != nil {
			return err, nil
		}
		if done {
			if v, ok := c.(Verifier); ok {
				return nil, v.Verify(ch)
			}
			return nil, nil
		}
		if resp, err = c.Step(ch); err != nil {
			return nil, err
		}
	}
	return errors.New("exchange does not end"), nil
}

func TestSCRAMPasswords(t *testing.T) {
	db, _ := Open("", "")
	if err := db.Add("guest", "guest-pw"); err != nil {
		t.Fatal(err)
	}
	if err := db.Add("odd,name=x", "odd-pw"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password, identity string
		ok                       bool
	}{
		{"guest", "guest-pw", "guest@QPID", true},
		{"guest@QPID", "guest-pw", "guest@QPID", true},
		{"odd,name=x", "odd-pw", "odd,name=x@QPID", true},
		{"guest", "wrong", "", false},
		{"guest", "", "", false},
		{"guest@OTHER", "guest-pw", "", false},
		{"nobody", "guest-pw", "", false},
	} {
		s := NewSCRAMServer(db)
		serr, cerr := run(s, NewSCRAMClient(tc.user, tc.password))
		if tc.ok {
			if serr != nil || cerr != nil {
				t.Errorf("%s/%s: server %v, client %v", tc.user, tc.password, serr, cerr)
			}
		} else if !errors.Is(serr, sasl.ErrAuth) || cerr != nil {
			t.Errorf("%s/%s: server %v, client %v; want ErrAuth from the server", tc.user, tc.password, serr, cerr)
		}
		if s.Identity() != tc.identity {
			t.Errorf("%s: identity %q, want %q", tc.user, s.Identity(), tc.identity)
		}
	}
}

// An unknown user gets a server-first-message like a real one's: same salt
// length and iteration count, a salt stable across attempts, different per
// name. Only the proof fails.
func TestSCRAMUnknownUserIndistinguishable(t *testing.T) {
	db, _ := Open("", "")
	db.Add("known", "pw")
	first := func(user string) (salt string, iterations string) {
		s := NewSCRAMServer(db)
		ch, done, err := s.Step([]byte("n,,n=" + user + ",r=abc"))
		if err != nil || done {
			t.Fatalf("%s: %v %v", user, done, err)
		}
		f := strings.Split(string(ch), ",")
		if len(f) != 3 {
			t.Fatalf("server-first %q", ch)
		}
		return f[1], f[2]
	}
	ks, ki := first("known")
	us, ui := first("unknown")
	us2, _ := first("unknown")
	other, _ := first("other")
	if ki != ui || ui != "i=4096" {
		t.Errorf("iterations %s vs %s", ki, ui)
	}
	kb, _ := base64.StdEncoding.DecodeString(ks[2:])
	ub, _ := base64.StdEncoding.DecodeString(us[2:])
	if len(kb) != len(ub) || len(ub) != SaltLen {
		t.Errorf("salt lengths %d vs %d", len(kb), len(ub))
	}
	if us != us2 {
		t.Errorf("unknown user's salt changes: %s vs %s", us, us2)
	}
	if us == other {
		t.Errorf("unknown users share a salt")
	}
}

func TestSCRAMClientRejectsBadServerSignature(t *testing.T) {
	c := NewSCRAMClient(rfcUser, rfcPassword)
	c.nonce = fixed(rfcClientNonce)
	c.Start()
	if _, err := c.Step([]byte(rfcServerFirst)); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(nil); err == nil {
		t.Error("Verify(nil) before any signature succeeded")
	}
	bad := "v=" + base64.StdEncoding.EncodeToString(make([]byte, 32))
	if err := c.Verify([]byte(bad)); err == nil {
		t.Error("wrong signature accepted")
	}
	if c.Verified() {
		t.Error("Verified after a wrong signature")
	}
	if err := c.Verify([]byte(rfcServerFinal)); err == nil {
		t.Error("Verify after a failure succeeded")
	}

	// A server that does not know the password's credential.
	db, _ := Open("", "")
	db.Add("user", "not-pencil")
	s := NewSCRAMServer(db).(*scramServer)
	c = NewSCRAMClient("user", "pencil")
	first, _ := c.Start()
	ch, _, _ := s.Step(first)
	final, _ := c.Step(ch)
	// Forge what a rogue server holding only the salt could send.
	if _, _, err := s.Step(final); !errors.Is(err, sasl.ErrAuth) {
		t.Fatalf("server accepted a wrong password: %v", err)
	}
	if err := c.Verify([]byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")); err == nil {
		t.Error("client accepted a forged signature")
	}

	c = NewSCRAMClient(rfcUser, rfcPassword)
	c.nonce = fixed(rfcClientNonce)
	c.Start()
	c.Step([]byte(rfcServerFirst))
	if err := c.Verify([]byte("e=invalid-proof")); !errors.Is(err, sasl.ErrAuth) {
		t.Errorf("e=: %v", err)
	}
	if err := NewSCRAMClient("u", "p").Verify([]byte(rfcServerFinal)); err == nil {
		t.Error("Verify before Start succeeded")
	}
}

// Some servers send the server-final-message as a last challenge.
func TestSCRAMClientServerFinalAsChallenge(t *testing.T) {
	c := NewSCRAMClient(rfcUser, rfcPassword)
	c.nonce = fixed(rfcClientNonce)
	c.Start()
	c.Step([]byte(rfcServerFirst))
	resp, err := c.Step([]byte(rfcServerFinal))
	if err != nil || resp == nil || len(resp) != 0 {
		t.Fatalf("Step(server-final) = %q, %v", resp, err)
	}
	if err := c.Verify(nil); err != nil {
		t.Errorf("Verify(empty outcome) after a verified challenge: %v", err)
	}
	if err := c.Verify([]byte(rfcServerFinal)); err != nil {
		t.Errorf("Verify(same signature) again: %v", err)
	}
}

func TestSCRAMClientRejectsBadServerFirst(t *testing.T) {
	for _, first := range []string{
		"",
		"garbage",
		"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",   // nonce not extended
		"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",            // nonce not ours
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096",                        // empty salt
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=!!,i=4096",                      // bad base64
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",   // too few iterations
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1e9", // not a number
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000000",
		"m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,bad",
		"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096," + strings.Repeat("x", 5000),
	} {
		c := NewSCRAMClient(rfcUser, rfcPassword)
		c.nonce = fixed(rfcClientNonce)
		c.Start()
		if resp, err := c.Step([]byte(first)); err == nil {
			t.Errorf("server-first %q accepted: %q", truncate(first), resp)
		}
	}
}

func TestSCRAMServerClientFirst(t *testing.T) {
	db := rfcDB(t)
	for _, tc := range []struct {
		msg string
		ok  bool
	}{
		{rfcClientFirst, true},
		{"y,,n=user,r=abc", true},
		{"n,a=user,n=user,r=abc", true},
		{"n,a=user@QPID,n=user,r=abc", true},
		{"n,,n=user,r=abc,x=ext", true},
		{"n,,n=nobody,r=abc", true}, // fails later, at the proof
		{"", false},
		{"x", false},
		{"n", false},
		{"n,", false},
		{"n,,", false},
		{"p=tls-unique,,n=user,r=abc", false},
		{"n,,n=user", false},
		{"n,,r=abc,n=user", false},
		{"n,,m=ext,n=user,r=abc", false},
		{"n,,n=,r=abc", false},
		{"n,,n=us=er,r=abc", false},
		{"n,,n=user=2,r=abc", false},
		{"n,,n=user,r=", false},
		{"n,,n=user,r=a b", false},
		{"n,,n=user,r=abc,", false},
		{"n,x=y,n=user,r=abc", false},
		{"n,a=,n=user,r=abc", false},
		{"n,a=other,n=user,r=abc", false},
		{"n,,n=" + strings.Repeat("u", 5000) + ",r=abc", false},
	} {
		s := rfcServer(db)
		ch, done, err := s.Step([]byte(tc.msg))
		if tc.ok && (err != nil || done || !strings.HasPrefix(string(ch), "r=")) {
			t.Errorf("%q: %q %v %v", truncate(tc.msg), ch, done, err)
		}
		if !tc.ok && !errors.Is(err, sasl.ErrAuth) {
			t.Errorf("%q accepted or not ErrAuth: %q %v %v", truncate(tc.msg), ch, done, err)
		}
	}
}

func TestSCRAMServerClientFinal(t *testing.T) {
	db := rfcDB(t)
	nonce := rfcClientNonce + rfcServerNonce
	proof := "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	for _, msg := range []string{
		"",
		"c=biws",
		"c=biws,r=" + nonce,
		"c=biws," + proof,
		"c=biws,r=wrong," + proof,
		"c=eSws,r=" + nonce + "," + proof, // "y,," but the client said "n,,"
		"c=!!,r=" + nonce + "," + proof,
		"c=biws,r=" + nonce + ",p=!!",
		"c=biws,r=" + nonce + ",p=AAAA",
		"c=biws,r=" + nonce + "," + proof + ",x=late",
		"c=biws,r=" + nonce + ",bad," + proof,
		"r=" + nonce + ",c=biws," + proof,
		"c=biws,r=" + nonce + ",p=" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		rfcClientFinal + strings.Repeat("A", 5000),
	} {
		s := rfcServer(db)
		if _, _, err := s.Step([]byte(rfcClientFirst)); err != nil {
			t.Fatal(err)
		}
		out, done, err := s.Step([]byte(msg))
		if !errors.Is(err, sasl.ErrAuth) || done || out != nil {
			t.Errorf("%q: %q %v %v", truncate(msg), out, done, err)
		}
		if s.Identity() != "" {
			t.Errorf("%q: identity %q after failure", truncate(msg), s.Identity())
		}
	}

	// "y,," binds as "eSws".
	s := rfcServer(db)
	if _, _, err := s.Step([]byte("y,,n=user,r=" + rfcClientNonce)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Step([]byte("c=biws,r=" + nonce + "," + proof)); !errors.Is(err, sasl.ErrAuth) {
		t.Errorf("c=biws accepted after y,,: %v", err)
	}
}

// A missing initial response is asked for with an empty challenge, once.
func TestSCRAMServerNoInitialResponse(t *testing.T) {
	s := rfcServer(rfcDB(t))
	ch, done, err := s.Step(nil)
	if err != nil || done || ch == nil || len(ch) != 0 {
		t.Fatalf("Step(nil) = %q %v %v", ch, done, err)
	}
	ch, _, err = s.Step([]byte(rfcClientFirst))
	if err != nil || string(ch) != rfcServerFirst {
		t.Fatalf("%q %v", ch, err)
	}
	if _, _, err := rfcServer(rfcDB(t)).Step(nil); err != nil {
		t.Fatal(err)
	}
	s = rfcServer(rfcDB(t))
	s.Step(nil)
	if _, _, err := s.Step(nil); !errors.Is(err, sasl.ErrAuth) {
		t.Errorf("second Step(nil): %v", err)
	}
}

func TestSCRAMServerNonceError(t *testing.T) {
	s := NewSCRAMServer(rfcDB(t)).(*scramServer)
	s.nonce = func() (string, error) { return "", errors.New("no entropy") }
	if _, _, err := s.Step([]byte(rfcClientFirst)); err == nil || errors.Is(err, sasl.ErrAuth) {
		t.Errorf("nonce failure should be a system error: %v", err)
	}
}

func TestSaslname(t *testing.T) {
	for in, want := range map[string]string{"a": "a", "a,b": "a=2Cb", "a=b": "a=3Db", "=,": "=3D=2C"} {
		if got := encodeSaslname(in); got != want {
			t.Errorf("encode %q = %q", in, got)
		}
		if got, err := decodeSaslname(want); err != nil || got != in {
			t.Errorf("decode %q = %q %v", want, got, err)
		}
	}
	for _, bad := range []string{"=", "=2", "=2D", "a=", "=3"} {
		if _, err := decodeSaslname(bad); err == nil {
			t.Errorf("decode %q succeeded", bad)
		}
	}
}

// FuzzSCRAMServer checks that no input makes the server panic or succeed.
func FuzzSCRAMServer(f *testing.F) {
	f.Add([]byte(rfcClientFirst), []byte(rfcClientFinal))
	f.Add([]byte("n,,n=user,r=a"), []byte("c=biws,r=a,p="))
	f.Add([]byte("y,a=x,n=x,r=b,q=1"), []byte("c=eSxhPXgs,r=b%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA"))
	f.Add([]byte{}, []byte{0xff, ',', '='})
	db, _ := Open("", "")
	salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
	c, _ := DeriveCredential(rfcUser, rfcPassword, salt, 4096)
	db.SetCredential(c)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		s := rfcServer(db)
		if _, _, err := s.Step(first); err != nil {
			return
		}
		_, done, err := s.Step(final)
		if err == nil && done && (string(first) != rfcClientFirst || string(final) != rfcClientFinal) {
			t.Errorf("accepted %q / %q", first, final)
		}
	})
}

func TestSCRAMClientMisuse(t *testing.T) {
	if _, err := NewSCRAMClient("", "pw").Start(); err == nil {
		t.Error("empty user accepted")
	}
	c := NewSCRAMClient("u", "pw")
	if _, err := c.Step([]byte(rfcServerFirst)); err == nil {
		t.Error("Step before Start succeeded")
	}
	c.Start()
	if _, err := c.Start(); err == nil {
		t.Error("second Start succeeded")
	}
	c = NewSCRAMClient("u", "pw")
	c.nonce = fixed("has,comma")
	if _, err := c.Start(); err == nil {
		t.Error("invalid nonce accepted")
	}
	c = NewSCRAMClient("u", "pw")
	c.nonce = func() (string, error) { return "", errors.New("no entropy") }
	if _, err := c.Start(); err == nil {
		t.Error("nonce error ignored")
	}
}
