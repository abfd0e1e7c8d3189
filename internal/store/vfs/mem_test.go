package vfs

import (
	"errors"
	"math/rand"
	"os"
	"syscall"
	"testing"
)

func write(t *testing.T, f File, off int64, s string) {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

func content(t *testing.T, m *Mem, name string) (string, bool) {
	t.Helper()
	b, err := ReadAll(m, name)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

// A crash keeps a file's data as of its last Sync, and a directory's
// entries as of its last SyncDir: a file synced but never named durably
// is gone; a removal or rename not synced is undone.
func TestCrashKeepsOnlyWhatWasSynced(t *testing.T) {
	m := NewMem()
	m.MkdirAll("d")
	a, _ := m.Create("d/a")
	write(t, a, 0, "synced")
	a.Sync()
	m.SyncDir("d")
	write(t, a, 6, " and not")
	b, _ := m.Create("d/b")
	write(t, b, 0, "b")
	b.Sync() // its name was never synced
	after := m.Crash(nil)
	if got, ok := content(t, after, "d/a"); !ok || got != "synced" {
		t.Fatalf("a: %q %v", got, ok)
	}
	if _, ok := content(t, after, "d/b"); ok {
		t.Fatal("b survived without its directory synced")
	}
	if _, err := m.Create("d/c"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("the crashed file system still works: %v", err)
	}

	m = after
	m.Rename("d/a", "d/renamed")
	if err := m.Remove("d/renamed"); err != nil {
		t.Fatal(err)
	}
	if got, ok := content(t, m.Durable(nil), "d/a"); !ok || got != "synced" {
		t.Fatalf("an unsynced rename and removal were kept: %q %v", got, ok)
	}
	m.SyncDir("d")
	if names, _ := m.Durable(nil).List("d"); len(names) != 0 {
		t.Fatalf("after SyncDir: %v", names)
	}
}

// Overwriting bytes already synced does not change the synced copy.
func TestSyncedCopyIsCopiedOnWrite(t *testing.T) {
	m := NewMem()
	f, _ := m.Create("f")
	write(t, f, 0, "abcdef")
	f.Sync()
	m.SyncDir(".")
	write(t, f, 2, "XY")
	write(t, f, 6, "gh")
	if got, _ := content(t, m.Durable(nil), "f"); got != "abcdef" {
		t.Fatalf("durable %q", got)
	}
	if got, _ := content(t, m, "f"); got != "abXYefgh" {
		t.Fatalf("current %q", got)
	}
}

// Torn writes keep a prefix of what was written after the last sync,
// possibly garbled, never anything before it.
func TestTornWrites(t *testing.T) {
	for seed := int64(0); seed < 50; seed++ {
		m := NewMem()
		f, _ := m.Create("f")
		write(t, f, 0, "synced|")
		f.Sync()
		m.SyncDir(".")
		write(t, f, 7, "unsynced tail")
		got, _ := content(t, m.Crash(rand.New(rand.NewSource(seed))), "f")
		if len(got) < 7 || got[:7] != "synced|" || len(got) > 20 {
			t.Fatalf("seed %d: %q", seed, got)
		}
	}
}

// A quota makes writes beyond it write what fits and fail with ENOSPC.
func TestQuota(t *testing.T) {
	m := NewMem()
	m.SetQuota(10)
	f, _ := m.Create("f")
	n, err := f.WriteAt([]byte("0123456789abc"), 0)
	if n != 10 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("wrote %d: %v", n, err)
	}
	m.SetQuota(0)
	if _, err := f.WriteAt([]byte("abc"), 10); err != nil || m.Used() != 13 {
		t.Fatalf("after lifting the quota: %v, used %d", err, m.Used())
	}
}

// CrashAfter crashes before the n-th mutating operation; FailSyncs fails
// syncs.
func TestInjectedFaults(t *testing.T) {
	m := NewMem()
	f, _ := m.Create("f")
	m.CrashAfter(2)
	write(t, f, 0, "a")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("b"), 1); !errors.Is(err, ErrCrashed) || !m.Crashed() {
		t.Fatalf("third operation: %v", err)
	}
	m = NewMem()
	f, _ = m.Create("f")
	m.FailSyncs(syscall.EIO)
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync: %v", err)
	}
	blocked := 0
	m.FailSyncs(nil)
	m.SetSyncHook(func(string) error { blocked++; return nil })
	f.Sync()
	m.SyncDir(".")
	if blocked != 2 || m.Syncs() != 2 {
		t.Fatalf("hook ran %d times, %d syncs", blocked, m.Syncs())
	}
}
