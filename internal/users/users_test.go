package users

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run1(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut strings.Builder
	code := Run(args, []string{"QPID_CONFIG="}, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestRun(t *testing.T) {
	db := filepath.Join(t.TempDir(), "u")
	if out, e, code := run1(t, "pw\r\n", "add", "--database", db, "guest"); code != 0 || out != "Added user guest@QPID to "+db+"\n" {
		t.Fatalf("add: %d %q %q", code, out, e)
	}
	if out, _, code := run1(t, "", "list", "--database", db, "--realm", "OTHER"); code != 0 || out != "guest@QPID\n" {
		t.Fatalf("list: %d %q", code, out)
	}
	if out, _, code := run1(t, "pw\n", "--database", db, "--realm", "OTHER", "add", "guest"); code != 0 || !strings.Contains(out, "guest@OTHER") {
		t.Fatalf("add in another realm: %d %q", code, out)
	}
	b, _ := os.ReadFile(db)
	if strings.Contains(string(b), ":pw") {
		t.Fatalf("password stored:\n%s", b)
	}
	for _, args := range [][]string{
		{"--database"}, {"--bogus", "list"}, {"list", "extra"}, {"remove"}, {"--database", db, "--iterations", "x", "add", "u"},
		{"--database", db, "--password-file", "f", "list"}, {"--database", "", "list"},
	} {
		if _, e, code := run1(t, "", args...); code != 2 || !strings.HasPrefix(e, "Error: ") {
			t.Errorf("%q: %d %q", args, code, e)
		}
	}
	if out, _, code := run1(t, "", "-h"); code != 0 || !strings.HasPrefix(out, "Usage: qpidd-users") {
		t.Errorf("help: %d %q", code, out)
	}
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{"a\n": "a", "a\r\nb\n": "a", "no newline": "no newline", " spaced \n": " spaced "} {
		if got, err := firstLine(strings.NewReader(in), "x"); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "\n", strings.Repeat("x", maxPassword+1)} {
		if _, err := firstLine(strings.NewReader(in), "x"); err == nil {
			t.Errorf("%.20q accepted", in)
		}
	}
}
