package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogFileReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "qpidd.log")
	l, err := OpenLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write([]byte("one\n"))
	if err := os.Rename(path, path+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	l.Write([]byte("two\n"))
	if err := l.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("three\n"))
	if data, _ := os.ReadFile(path + ".1"); string(data) != "one\ntwo\n" {
		t.Errorf("rotated file %q", data)
	}
	if data, _ := os.ReadFile(path); string(data) != "three\n" {
		t.Errorf("new file %q", data)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640&^umask() {
		t.Errorf("mode %v", st.Mode())
	}
	l.Close()
	if _, err := l.Write([]byte("x")); err == nil {
		t.Error("write after close")
	}
}

func TestLogFileErrors(t *testing.T) {
	_, err := OpenLogFile(filepath.Join(t.TempDir(), "no", "such", "dir.log"))
	if err == nil || !strings.Contains(err.Error(), "cannot open log file") || !strings.Contains(err.Error(), "No such file or directory") {
		t.Fatalf("error %v", err)
	}
}

func umask() os.FileMode {
	dir, _ := os.MkdirTemp("", "umask")
	defer os.RemoveAll(dir)
	f, _ := os.OpenFile(filepath.Join(dir, "f"), os.O_CREATE|os.O_WRONLY, 0o777)
	st, _ := f.Stat()
	f.Close()
	return 0o777 &^ st.Mode().Perm()
}
