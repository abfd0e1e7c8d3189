package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by LockDataDir
	l, err := LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "lock")
	if l.Path() != want {
		t.Errorf("Path = %q, want %q", l.Path(), want)
	}
	data, err := os.ReadFile(want)
	if err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q (%v), want our pid %d", data, err, os.Getpid())
	}

	// flock locks belong to the open file, so this conflicts in-process too.
	l2, err := LockDataDir(dir)
	if err == nil {
		l2.Release()
		t.Fatal("second lock of the same data directory succeeded")
	}
	var le *LockError
	if !errors.As(err, &le) || !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("error %v (%T), want a *LockError of EWOULDBLOCK", err, err)
	}
	if le.Holder != os.Getpid() {
		t.Errorf("Holder = %d, want %d", le.Holder, os.Getpid())
	}
	prefix := "Cannot lock " + want + ": Resource temporarily unavailable ("
	if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, "--data-dir") ||
		!strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("message %q, want it to start %q and name the holder and --data-dir", msg, prefix)
	}

	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil { // twice is harmless
		t.Fatal(err)
	}
	l3, err := LockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l3.Release()
	var nilLock *Lock
	if err := nilLock.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestLockDataDirCannotCreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LockDataDir(filepath.Join(file, "data"))
	if err == nil || !strings.Contains(err.Error(), "cannot create data directory "+file+"/data: Not a directory") {
		t.Fatalf("error %v", err)
	}
}

func TestLockDataDirPermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	_, err := LockDataDir(dir)
	if err == nil || !strings.HasPrefix(err.Error(), "Cannot lock "+dir+"/lock: Permission denied (") {
		t.Fatalf("error %v", err)
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{syscall.EAGAIN, "Resource temporarily unavailable"},
		{&os.PathError{Op: "open", Path: "/x", Err: syscall.ENOENT}, "No such file or directory"},
		{errors.New("plain"), "plain"},
	} {
		if got := Reason(c.err); got != c.want {
			t.Errorf("Reason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
