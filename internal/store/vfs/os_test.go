package vfs

import (
	"errors"
	"os"
	"reflect"
	"testing"
)

// The operating system's file system does what Mem does, for real.
func TestDir(t *testing.T) {
	fs := Dir(t.TempDir())
	if err := fs.MkdirAll("j"); err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create("j/b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("hello world"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Size(); n != 5 {
		t.Fatalf("size %d", n)
	}
	f.Close()
	if err := fs.Rename("j/b", "j/a"); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir("j"); err != nil {
		t.Fatal(err)
	}
	if names, err := fs.List("j"); err != nil || !reflect.DeepEqual(names, []string{"a"}) {
		t.Fatalf("list %v %v", names, err)
	}
	if b, err := ReadAll(fs, "j/a"); err != nil || string(b) != "hello" {
		t.Fatalf("read %q %v", b, err)
	}
	if err := fs.Remove("j/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open("j/a"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("open after remove: %v", err)
	}
	if _, err := fs.List("missing"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("list of a missing directory: %v", err)
	}
}
