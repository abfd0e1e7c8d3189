package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// WritePidFile writes pid (and a newline) to path, creating its directory
// if needed. The file is replaced atomically, so a reader never sees it half
// written.
func WritePidFile(path string, pid int) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create pid directory %s: %s (create it, or set --pid-dir or --pidfile)", dir, Reason(err))
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".")
	if err != nil {
		return fmt.Errorf("cannot write pid file %s: %s (set --pid-dir or --pidfile to a writable place)", path, Reason(err))
	}
	_, err = tmp.WriteString(strconv.Itoa(pid) + "\n")
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write pid file %s: %s (set --pid-dir or --pidfile to a writable place)", path, Reason(err))
	}
	return nil
}

// ReadPidFile reads the process id in a pid file.
func ReadPidFile(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s does not hold a process id", path)
	}
	return pid, nil
}

// RemovePidFile removes path if it still names pid (a newer broker may have
// replaced it). A missing file is not an error.
func RemovePidFile(path string, pid int) error {
	if got, err := ReadPidFile(path); err != nil || got != pid {
		return nil
	}
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Alive reports whether process pid exists and is not a zombie.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	// A daemon whose parent exited is reaped by init, or by a subreaper that
	// may be slow to do so: an exited process can linger as a zombie.
	if data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if i := strings.LastIndexByte(string(data), ')'); i >= 0 && i+2 < len(data) {
			if st := data[i+2]; st == 'Z' || st == 'X' {
				return false
			}
		}
	}
	return true
}

// NotRunningError says why no broker is running for a pid file.
type NotRunningError struct {
	PidFile string
	Pid     int   // the pid in a stale pid file, else 0
	Err     error // why the pid file could not be read, if that is why
}

func (e *NotRunningError) Error() string {
	switch {
	case e.Pid > 0:
		return fmt.Sprintf("no broker is running: pid file %s names process %d, which is not running", e.PidFile, e.Pid)
	case errors.Is(e.Err, fs.ErrNotExist):
		return fmt.Sprintf("no broker is running: no pid file %s", e.PidFile)
	default:
		return fmt.Sprintf("no broker is running: %v", e.Err)
	}
}

// Running returns the pid of the broker that wrote the pid file path if it
// is still running, else a *NotRunningError.
func Running(path string) (int, error) {
	pid, err := ReadPidFile(path)
	if err != nil {
		return 0, &NotRunningError{PidFile: path, Err: err}
	}
	if !Alive(pid) {
		return 0, &NotRunningError{PidFile: path, Pid: pid}
	}
	return pid, nil
}

// Terminate sends sig to pid and waits up to wait (0: no limit) for the
// process to be gone.
func Terminate(pid int, sig syscall.Signal, wait time.Duration) error {
	if err := syscall.Kill(pid, sig); err != nil {
		if err == syscall.ESRCH {
			return nil
		}
		return fmt.Errorf("cannot signal process %d: %s", pid, Reason(err))
	}
	start := time.Now()
	for Alive(pid) {
		if wait > 0 && time.Since(start) >= wait {
			return fmt.Errorf("process %d did not exit within %v after %v (raise --wait, or stop it with --kill)", pid, wait, sig)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
