package daemon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "5672.pid") // directory created
	if err := WritePidFile(path, 1234); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "1234\n" {
		t.Errorf("pid file holds %q", data)
	}
	if pid, err := ReadPidFile(path); err != nil || pid != 1234 {
		t.Errorf("ReadPidFile = %d, %v", pid, err)
	}
	if err := WritePidFile(path, 99); err != nil { // replaced
		t.Fatal(err)
	}
	// Not removed for another pid: a newer broker wrote it.
	if err := RemovePidFile(path, 1234); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("pid file of another process removed: %v", err)
	}
	if err := RemovePidFile(path, 99); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pid file still there: %v", err)
	}
	if err := RemovePidFile(path, 99); err != nil {
		t.Fatalf("removing a missing pid file: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestPidFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pid")
	os.WriteFile(bad, []byte("nonsense\n"), 0o644)
	if _, err := ReadPidFile(bad); err == nil || !strings.Contains(err.Error(), "does not hold a process id") {
		t.Errorf("ReadPidFile(bad) error %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	err := WritePidFile(filepath.Join(file, "x.pid"), 1)
	if err == nil || !strings.Contains(err.Error(), "cannot create pid directory") || !strings.Contains(err.Error(), "--pid-dir") {
		t.Errorf("WritePidFile under a file: %v", err)
	}
}

func TestRunning(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "5672.pid")

	_, err := Running(path)
	var nre *NotRunningError
	if !errors.As(err, &nre) || !strings.Contains(err.Error(), "no pid file "+path) {
		t.Fatalf("Running without a pid file: %v", err)
	}

	WritePidFile(path, os.Getpid())
	if pid, err := Running(path); err != nil || pid != os.Getpid() {
		t.Fatalf("Running = %d, %v; want our pid", pid, err)
	}

	p := startHelper(t, "sleep")
	p.Kill()
	p.Wait()
	WritePidFile(path, p.Pid)
	_, err = Running(path)
	if !errors.As(err, &nre) || nre.Pid != p.Pid || !strings.Contains(err.Error(), "which is not running") {
		t.Fatalf("Running with a dead pid: %v", err)
	}
}

func TestAliveZombie(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	if Alive(0) || Alive(-1) {
		t.Fatal("pid 0 or -1 alive")
	}
	p := startHelper(t, "sleep")
	syscall.Kill(p.Pid, syscall.SIGKILL)
	// Not reaped yet: a zombie, which Alive counts as gone.
	deadline := time.Now().Add(10 * time.Second)
	for Alive(p.Pid) {
		if time.Now().After(deadline) {
			t.Fatal("a killed (zombie) process is still alive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(p.Pid, 0); err != nil {
		t.Fatalf("the zombie is already reaped (%v): test is void", err)
	}
}

func TestTerminate(t *testing.T) {
	p := startHelper(t, "sleep")
	start := time.Now()
	if err := Terminate(p.Pid, syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if Alive(p.Pid) {
		t.Fatal("still alive")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestTerminateTimeout(t *testing.T) {
	r, w, _ := os.Pipe()
	p, err := os.StartProcess(os.Args[0], []string{os.Args[0], "-test.run=^$"}, &os.ProcAttr{
		Env:   append(os.Environ(), helperEnv+"=ignore-int"),
		Files: []*os.File{nil, w, os.Stderr},
	})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill(); p.Wait() })
	buf := make([]byte, 9)
	if _, err := r.Read(buf); err != nil { // "ignoring": SIGINT is ignored now
		t.Fatal(err)
	}
	err = Terminate(p.Pid, syscall.SIGINT, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not exit within") || !strings.Contains(err.Error(), "--kill") {
		t.Fatalf("Terminate of a process ignoring SIGINT: %v", err)
	}
	if err := Terminate(p.Pid, syscall.SIGKILL, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}
