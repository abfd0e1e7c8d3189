package qpiddprimary

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qpidha/qpidha/internal/daemon"
)

// ServiceLock is the lock qpidd-primary shares with the qpidd init script:
// flock(2) on QPID_LOCK, as flock(1) takes it there, so that the two never
// act at once. Go opens files close-on-exec, so neither the broker nor a
// hook inherits it.
type ServiceLock struct {
	f *os.File
}

// LockBusyError is a lock that stayed taken for the whole wait.
type LockBusyError struct {
	Path   string
	Wait   time.Duration
	Holder string // what the holder wrote into the file, if anything
}

func (e *LockBusyError) Error() string {
	msg := fmt.Sprintf("gave up after %v waiting for the lock %s", e.Wait, e.Path)
	if e.Holder != "" {
		msg += " (held by: " + e.Holder + ")"
	}
	return msg
}

// LockOpenError is a lock file that cannot be opened.
type LockOpenError struct {
	Path string
	Err  error
}

func (e *LockOpenError) Error() string {
	return fmt.Sprintf("cannot open the lock file %s (QPID_LOCK): %s", e.Path, daemon.Reason(e.Err))
}

// TakeLock takes the lock, waiting up to wait (0: not at all, as flock -w
// 0), and writes who holds it (what) into the file for the messages of the
// processes that wait. A user who may not write the file locks it read
// only.
func TakeLock(path string, wait time.Duration, what string) (*ServiceLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	writable := err == nil
	if err != nil {
		var err2 error
		if f, err2 = os.Open(path); err2 != nil {
			return nil, &LockOpenError{Path: path, Err: err}
		}
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err == syscall.EINTR {
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, &LockOpenError{Path: path, Err: err}
		}
		if !time.Now().Before(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, &LockBusyError{Path: path, Wait: wait, Holder: strings.TrimSpace(string(holder))}
		}
		time.Sleep(min(20*time.Millisecond, time.Until(deadline)+time.Millisecond))
	}
	if writable {
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte("pid "+strconv.Itoa(os.Getpid())+": "+what+"\n"), 0)
		}
	}
	return &ServiceLock{f: f}, nil
}

// Release gives the lock up (so does the end of the process).
func (l *ServiceLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}
