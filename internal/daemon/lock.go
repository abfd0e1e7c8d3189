package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockFileName is the name of the lock file in the data directory.
const LockFileName = "lock"

// Lock is an exclusive lock on a data directory: a flock(2) on
// <data-dir>/lock, held until Release or the end of the process. Locks are
// per open file, so a second Lock of the same directory fails even in the
// same process.
type Lock struct {
	path string
	f    *os.File
}

// LockError is the failure to take a data directory's lock.
type LockError struct {
	Path   string // the lock file
	Err    error  // the cause, usually syscall.EWOULDBLOCK
	Holder int    // the pid written in the lock file by its holder, 0 if unknown
}

func (e *LockError) Error() string {
	msg := "Cannot lock " + e.Path + ": " + Reason(e.Err)
	switch {
	case errors.Is(e.Err, syscall.EWOULDBLOCK):
		who := "another qpidd"
		if e.Holder > 0 {
			who = fmt.Sprintf("another qpidd (pid %d)", e.Holder)
		}
		msg += " (" + who + " is using this data directory; stop it, or give this broker another --data-dir)"
	case errors.Is(e.Err, os.ErrPermission):
		msg += " (run qpidd as a user who may write the data directory, or use another --data-dir)"
	}
	return msg
}

func (e *LockError) Unwrap() error { return e.Err }

// LockDataDir creates dir if it is missing, takes an exclusive, non-blocking
// lock on dir/lock and writes the process id into it. The error is a
// *LockError when the lock is held by someone else: "Cannot lock
// <dir>/lock: Resource temporarily unavailable (...)", as the original said.
func LockDataDir(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create data directory %s: %s (create it, or use another --data-dir)", dir, Reason(err))
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, &LockError{Path: path, Err: err}
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := readPid(f)
		f.Close()
		return nil, &LockError{Path: path, Err: err, Holder: holder}
	}
	// The pid is for people and tools diagnosing a "Cannot lock".
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{path: path, f: f}, nil
}

// Path is the lock file.
func (l *Lock) Path() string { return l.path }

// Release gives up the lock. The file stays (removing a lock file races
// with another process opening it). Release of a nil Lock does nothing.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	_ = f.Truncate(0)
	_ = flock(f, syscall.LOCK_UN)
	return f.Close()
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}

func readPid(f *os.File) (int, error) {
	buf := make([]byte, 32)
	n, err := f.ReadAt(buf, 0)
	if n == 0 {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(buf[:n])))
}

// Reason is the text of an error's cause in the style of strerror(3), as
// the original printed it: "Resource temporarily unavailable" rather than
// Go's "open /x: resource temporarily unavailable".
func Reason(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return Reason(pe.Err)
	}
	return err.Error()
}
