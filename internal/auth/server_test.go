package auth

import (
	"errors"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/sasl"
)

func serverDB(t *testing.T) *DB {
	t.Helper()
	db := memDB(t)
	if err := db.Add("guest", "guest-pw"); err != nil {
		t.Fatal(err)
	}
	if err := db.Add("ops@OTHER", "ops-pw"); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestServerMechanisms(t *testing.T) {
	db := serverDB(t)
	if got := strings.Join(NewServer(db, false).Mechanisms(), " "); got != "SCRAM-SHA-256 PLAIN" {
		t.Errorf("auth=yes: %s", got)
	}
	if got := strings.Join(NewServer(db, true).Mechanisms(), " "); got != "SCRAM-SHA-256 PLAIN ANONYMOUS" {
		t.Errorf("auth=no: %s", got)
	}
	if got := strings.Join(NewServer(nil, true).Mechanisms(), " "); got != "ANONYMOUS" {
		t.Errorf("no db: %s", got)
	}
	if _, err := NewServer(db, false).Start("ANONYMOUS"); !errors.Is(err, sasl.ErrAuth) {
		t.Errorf("ANONYMOUS not allowed: %v", err)
	}
	if _, err := NewServer(db, true).Start("CRAM-MD5"); !errors.Is(err, sasl.ErrAuth) {
		t.Errorf("unknown mechanism: %v", err)
	}
	// The returned list is the caller's.
	s := NewServer(db, true)
	s.Mechanisms()[0] = "X"
	if s.Mechanisms()[0] != SCRAMSHA256 {
		t.Error("Mechanisms shares its slice")
	}
}

func TestServerExchanges(t *testing.T) {
	db := serverDB(t)
	for _, tc := range []struct {
		name           string
		allowAnonymous bool
		client         sasl.ClientMechanism
		identity       string // "" for a failure
	}{
		{"scram", false, NewSCRAMClient("guest", "guest-pw"), "guest@QPID"},
		{"scram qualified", false, NewSCRAMClient("guest@QPID", "guest-pw"), "guest@QPID"},
		{"scram other realm", false, NewSCRAMClient("ops@OTHER", "ops-pw"), "ops@OTHER"},
		{"scram wrong password", false, NewSCRAMClient("guest", "nope"), ""},
		{"scram unknown user", false, NewSCRAMClient("nobody", "guest-pw"), ""},
		{"scram wrong realm", false, NewSCRAMClient("ops", "ops-pw"), ""},
		{"plain", false, sasl.ClientPlain("guest", "guest-pw"), "guest@QPID"},
		{"plain qualified", false, sasl.ClientPlain("guest@QPID", "guest-pw"), "guest@QPID"},
		{"plain other realm", false, sasl.ClientPlain("ops@OTHER", "ops-pw"), "ops@OTHER"},
		{"plain wrong password", false, sasl.ClientPlain("guest", "nope"), ""},
		{"plain unknown user", false, sasl.ClientPlain("nobody", "guest-pw"), ""},
		{"plain auth=no still checks", true, sasl.ClientPlain("guest", "nope"), ""},
		{"anonymous", true, sasl.ClientAnonymous(), "anonymous"},
		{"anonymous not allowed", false, sasl.ClientAnonymous(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(db, tc.allowAnonymous)
			m, err := srv.Start(tc.client.Name())
			if err != nil {
				if tc.identity != "" || !errors.Is(err, sasl.ErrAuth) {
					t.Fatalf("Start: %v", err)
				}
				return
			}
			serr, cerr := run(m, tc.client)
			if cerr != nil {
				t.Fatalf("client: %v", cerr)
			}
			if tc.identity == "" {
				if !errors.Is(serr, sasl.ErrAuth) {
					t.Fatalf("server: %v, want ErrAuth", serr)
				}
				if m.Identity() != "" {
					t.Errorf("identity %q after failure", m.Identity())
				}
				return
			}
			if serr != nil {
				t.Fatalf("server: %v", serr)
			}
			if m.Identity() != tc.identity {
				t.Errorf("identity %q, want %q", m.Identity(), tc.identity)
			}
		})
	}
}

// PLAIN without an initial response asks for it, as sasl.NewPlain does.
func TestServerPlainNoInitialResponse(t *testing.T) {
	m, _ := NewServer(serverDB(t), false).Start(sasl.Plain)
	ch, done, err := m.Step(nil)
	if err != nil || done || len(ch) != 0 {
		t.Fatalf("%q %v %v", ch, done, err)
	}
	if _, done, err := m.Step([]byte("\x00guest\x00guest-pw")); err != nil || !done {
		t.Fatal(done, err)
	}
	if m.Identity() != "guest@QPID" {
		t.Errorf("identity %q", m.Identity())
	}
}
