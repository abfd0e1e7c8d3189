package daemon

import (
	"fmt"
	"os"
	"sync"
)

// LogFile is a log file opened for appending that can be reopened after
// logrotate renamed it (on SIGHUP). It is safe for concurrent use.
type LogFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// OpenLogFile opens path for appending, creating it (0640) if needed.
func OpenLogFile(path string) (*LogFile, error) {
	l := &LogFile{path: path}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// Path is the file's name.
func (l *LogFile) Path() string { return l.path }

// Write appends to the file.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, os.ErrClosed
	}
	return l.f.Write(p)
}

// Reopen closes the file and opens path again; on failure the old file
// stays in use.
func (l *LogFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot open log file %s: %s", l.path, Reason(err))
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
