package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartupWarning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "qpidd.users")
	db, err := Open(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if w := StartupWarning(db); !strings.Contains(w, path+" does not exist") || !strings.Contains(w, "qpidd-users --database "+path+" add USER") {
		t.Errorf("missing file: %q", w)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	if w := StartupWarning(db); !strings.Contains(w, "holds no users") {
		t.Errorf("empty file: %q", w)
	}
	if err := db.Add("guest", "guest"); err != nil {
		t.Fatal(err)
	}
	if err := db.Save(); err != nil {
		t.Fatal(err)
	}
	if w := StartupWarning(db); w != "" {
		t.Errorf("a good file: %q", w)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if w := StartupWarning(db); !strings.Contains(w, "mode 0644") {
		t.Errorf("a readable file: %q", w)
	}
	mem, _ := Open("", "")
	if w := StartupWarning(mem); w != "" {
		t.Errorf("in memory: %q", w)
	}
}
