package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func memDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open("", "")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestRealms(t *testing.T) {
	db := memDB(t)
	if db.Realm() != "QPID" {
		t.Fatalf("realm %q", db.Realm())
	}
	if err := db.Add("guest", "pw-qpid"); err != nil {
		t.Fatal(err)
	}
	if err := db.Add("guest@OTHER", "pw-other"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(db.List(), " "); got != "guest@OTHER guest@QPID" {
		t.Fatalf("List = %s", got)
	}
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{"guest", "pw-qpid", true},
		{"guest@QPID", "pw-qpid", true},
		{"guest@OTHER", "pw-other", true},
		{"guest", "pw-other", false},
		{"guest@OTHER", "pw-qpid", false},
		{"guest@qpid", "pw-qpid", false}, // realms are case-sensitive
		{"guest@", "pw-qpid", false},
		{"", "pw-qpid", false},
	} {
		if got := db.CheckPassword(tc.user, tc.password); got != tc.ok {
			t.Errorf("CheckPassword(%q, %q) = %v", tc.user, tc.password, got)
		}
	}
	c, ok := db.Lookup("guest")
	if !ok || c.User != "guest@QPID" {
		t.Errorf("Lookup(guest) = %+v %v", c, ok)
	}
	if _, ok := db.Lookup("guest@QPID"); !ok {
		t.Error("Lookup(guest@QPID) failed")
	}

	other, err := Open("", "OTHER")
	if err != nil {
		t.Fatal(err)
	}
	other.Add("guest", "pw")
	if got := other.List(); len(got) != 1 || got[0] != "guest@OTHER" {
		t.Errorf("realm OTHER: %v", got)
	}
	if !other.CheckPassword("guest@OTHER", "pw") || other.CheckPassword("guest@QPID", "pw") {
		t.Error("realm OTHER: wrong qualification")
	}
	if q := other.Qualify("a@b"); q != "a@b" {
		t.Errorf("Qualify(a@b) = %s", q)
	}
	for _, bad := range []string{"a@b", "a:b", "a b"} {
		if _, err := Open("", bad); err == nil {
			t.Errorf("realm %q accepted", bad)
		}
	}
}

func TestAddRemove(t *testing.T) {
	db := memDB(t)
	if err := db.Add("alice", "one"); err != nil {
		t.Fatal(err)
	}
	before, _ := db.Lookup("alice")
	if err := db.Add("alice@QPID", "two"); err != nil {
		t.Fatal(err)
	}
	if db.CheckPassword("alice", "one") || !db.CheckPassword("alice", "two") {
		t.Error("Add did not replace the password")
	}
	after, _ := db.Lookup("alice")
	if bytes.Equal(before.Salt, after.Salt) {
		t.Error("a new password reuses the salt")
	}
	if len(db.List()) != 1 {
		t.Errorf("List = %v", db.List())
	}
	if err := db.Remove("bob"); err == nil {
		t.Error("Remove of an absent user succeeded")
	}
	if err := db.Remove("alice"); err != nil {
		t.Fatal(err)
	}
	if db.CheckPassword("alice", "two") || len(db.List()) != 0 {
		t.Error("Remove did not remove")
	}
	if err := db.Remove("alice@QPID"); err == nil {
		t.Error("second Remove succeeded")
	}

	for _, bad := range []struct{ user, pw string }{
		{"", "pw"}, {"@QPID", "pw"}, {"x@", "pw"}, {"a:b", "pw"}, {"a b", "pw"},
		{"a\nb", "pw"}, {"#x", "pw"}, {"\xff", "pw"}, {"ok", ""},
	} {
		if err := db.Add(bad.user, bad.pw); err == nil {
			t.Errorf("Add(%q, %q) succeeded", bad.user, bad.pw)
		}
	}
}

func TestLookupReturnsCopy(t *testing.T) {
	db := memDB(t)
	db.Add("u", "pw")
	c, _ := db.Lookup("u")
	c.StoredKey[0] ^= 0xff
	c.Salt[0] ^= 0xff
	if !db.CheckPassword("u", "pw") {
		t.Error("changing a looked-up credential changed the database")
	}
}

func TestIterations(t *testing.T) {
	db := memDB(t)
	if db.Iterations() != 4096 {
		t.Fatalf("default iterations %d", db.Iterations())
	}
	if err := db.SetIterations(100); err == nil {
		t.Error("100 iterations accepted")
	}
	if err := db.SetIterations(8192); err != nil {
		t.Fatal(err)
	}
	db.Add("u", "pw")
	c, _ := db.Lookup("u")
	if c.Iterations != 8192 {
		t.Errorf("iterations %d", c.Iterations)
	}
	if !db.CheckPassword("u", "pw") {
		t.Error("CheckPassword with 8192 iterations")
	}
	// Unknown users are offered the configured count.
	s := NewSCRAMServer(db)
	ch, _, err := s.Step([]byte("n,,n=nobody,r=abc"))
	if err != nil || !strings.HasSuffix(string(ch), ",i=8192") {
		t.Errorf("unknown user's server-first %q %v", ch, err)
	}
}

var lineRE = regexp.MustCompile(`^[^:@\s]+@[^:@\s]+:SCRAM-SHA-256:[0-9]+:[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`)

func TestSaveOpenRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	db, err := Open(path, "")
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	if len(db.List()) != 0 {
		t.Fatal("missing file is not empty")
	}
	passwords := map[string]string{
		"guest":       "guest-Secret-1",
		"admin@QPID":  "Adm1n-Password!",
		"guest@OTHER": "other-Secret-2",
		"odd,name=x":  "odd-Secret-3",
	}
	for u, p := range passwords {
		if err := db.Add(u, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	for _, p := range passwords {
		for _, form := range []string{p, base64.StdEncoding.EncodeToString([]byte(p)), base64.RawStdEncoding.EncodeToString([]byte(p)), fmt.Sprintf("%x", p)} {
			if bytes.Contains(data, []byte(form)) {
				t.Errorf("file contains the password %q as %q", p, form)
			}
		}
	}
	var users []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if !lineRE.MatchString(line) {
			t.Errorf("line %q does not match the format", line)
		}
		users = append(users, line[:strings.IndexByte(line, ':')])
	}
	if got := strings.Join(users, " "); got != "admin@QPID guest@OTHER guest@QPID odd,name=x@QPID" {
		t.Errorf("users in file: %s", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}

	again, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(again.List(), " ") != strings.Join(db.List(), " ") {
		t.Errorf("List after reopen %v, want %v", again.List(), db.List())
	}
	for u, p := range passwords {
		if !again.CheckPassword(u, p) {
			t.Errorf("CheckPassword(%s) after reopen", u)
		}
		a, _ := db.Lookup(u)
		b, _ := again.Lookup(u)
		if formatLine(a) != formatLine(b) {
			t.Errorf("%s: %s != %s", u, formatLine(a), formatLine(b))
		}
	}
}

func TestSaveTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("# empty\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	db.Add("u", "pw")
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestMemoryDBHasNoFile(t *testing.T) {
	db := memDB(t)
	if db.Save() == nil || db.Reload() == nil {
		t.Error("Save/Reload of an in-memory database succeeded")
	}
}

const goodLine = "guest@QPID:SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

func TestOpenAcceptsCommentsAndBlanks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	os.WriteFile(path, []byte("# header\n\n   # indented comment\r\n"+goodLine+"\r\n  \n"), 0o600)
	db, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if !db.CheckPassword("guest", "pencil") {
		t.Error("a hand-written line (the RFC 7677 credential) does not check")
	}
}

func TestOpenMalformed(t *testing.T) {
	dir := t.TempDir()
	key := "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
	for i, tc := range []struct {
		line, reason string
	}{
		{"guest@QPID:SCRAM-SHA-256:4096", "want 6"},
		{goodLine + ":extra", "want 6"},
		{"guest:SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:" + key + ":" + key, "no @realm"},
		{"@QPID:SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:" + key + ":" + key, "neither part empty"},
		{"guest@QPID:SCRAM-SHA-1:4096:W22ZaJ0SNY7soEsUEjb6gQ==:" + key + ":" + key, "unsupported mechanism"},
		{"guest@QPID:SCRAM-SHA-256:many:W22ZaJ0SNY7soEsUEjb6gQ==:" + key + ":" + key, "bad iteration count"},
		{"guest@QPID:SCRAM-SHA-256:10:W22ZaJ0SNY7soEsUEjb6gQ==:" + key + ":" + key, "out of range"},
		{"guest@QPID:SCRAM-SHA-256:4096:!!:" + key + ":" + key, "bad base64 in salt"},
		{"guest@QPID:SCRAM-SHA-256:4096::" + key + ":" + key, "salt length 0"},
		{"guest@QPID:SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:AAAA:" + key, "StoredKey is 3 bytes"},
		{"guest@QPID:SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:" + key + ":%%", "bad base64 in ServerKey"},
		{goodLine + "\n" + goodLine, "duplicate user guest@QPID (first on line 3)"},
		{strings.Repeat("x", maxLineLen+10), "line too long"},
	} {
		path := filepath.Join(dir, fmt.Sprintf("users%d", i))
		content := "# comment\n\n" + tc.line + "\n"
		os.WriteFile(path, []byte(content), 0o600)
		_, err := Open(path, "")
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%d: error %v is not a ParseError", i, err)
			continue
		}
		line := 3
		if strings.Contains(tc.line, "\n") {
			line = 4
		}
		prefix := fmt.Sprintf("%s:%d: ", path, line)
		if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%d: error %q, want prefix %q and %q", i, err, prefix, tc.reason)
		}
	}
}

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	db, _ := Open(path, "")
	db.Add("alice", "a-pw")
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	// Another process (say, an admin tool) changes the file.
	tool, _ := Open(path, "")
	tool.Add("bob", "b-pw")
	tool.Remove("alice")
	if err := tool.Save(); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if db.CheckPassword("alice", "a-pw") || !db.CheckPassword("bob", "b-pw") {
		t.Errorf("after Reload: %v", db.List())
	}
	// A broken file leaves the users as they were.
	os.WriteFile(path, []byte("junk\n"), 0o600)
	if err := db.Reload(); err == nil || !strings.HasPrefix(err.Error(), path+":1: ") {
		t.Errorf("Reload of a broken file: %v", err)
	}
	if !db.CheckPassword("bob", "b-pw") {
		t.Error("a failed Reload lost the users")
	}
}

func TestCheckPasswordUnknownUser(t *testing.T) {
	db := memDB(t)
	if db.CheckPassword("nobody", "") || db.CheckPassword("nobody", "x") {
		t.Error("unknown user accepted")
	}
	a, b := db.fakeCredential("nobody@QPID"), db.fakeCredential("nobody@QPID")
	if !bytes.Equal(a.Salt, b.Salt) || len(a.Salt) != SaltLen {
		t.Error("fake salt not deterministic")
	}
	other := memDB(t)
	if bytes.Equal(other.fakeCredential("nobody@QPID").Salt, a.Salt) {
		t.Error("fake salt does not depend on the server secret")
	}
}

// Run with -race: checks while the users change, are saved and reloaded.
func TestConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	db, _ := Open(path, "")
	db.Add("alice", "a-pw")
	db.Add("bob", "b-pw")
	db.Save()
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				if !db.CheckPassword("alice", "a-pw") {
					errs <- "alice rejected"
				}
				if db.CheckPassword("bob", "wrong") {
					errs <- "bob accepted with a wrong password"
				}
				if db.CheckPassword("nobody", "x") {
					errs <- "nobody accepted"
				}
				_, _ = run(NewSCRAMServer(db), NewSCRAMClient("bob", "b-pw"))
				db.List()
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 4; i++ {
			if err := db.Add(fmt.Sprintf("user%d", i), "pw"); err != nil {
				errs <- err.Error()
			}
			if err := db.Save(); err != nil {
				errs <- err.Error()
			}
			if err := db.Reload(); err != nil {
				errs <- err.Error()
			}
			db.SetIterations(4096)
		}
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSaveErrorAndCredentialChecks(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "missing-dir", "users"), "")
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() == "" {
		t.Error("Path is empty")
	}
	db.Add("u", "pw")
	if err := db.Save(); err == nil {
		t.Error("Save into a missing directory succeeded")
	}
	if _, err := DeriveCredential("u@QPID", "pw", nil, 10); err == nil {
		t.Error("10 iterations accepted")
	}
	if _, err := DeriveCredential("u@QPID", "pw", []byte{}, 4096); err == nil {
		t.Error("empty salt accepted")
	}
	c, err := DeriveCredential("u", "pw", nil, 4096)
	if err != nil || len(c.Salt) != SaltLen {
		t.Fatal(c, err)
	}
	if err := db.SetCredential(c); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Lookup("u@QPID"); got.User != "u@QPID" {
		t.Errorf("SetCredential stored %q", got.User)
	}
	c.StoredKey = c.StoredKey[:5]
	if err := db.SetCredential(c); err == nil {
		t.Error("short StoredKey accepted")
	}
}
