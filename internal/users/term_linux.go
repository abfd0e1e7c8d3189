//go:build linux

package users

import (
	"errors"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readNoEcho reads a line from the terminal f with echo off, restoring the
// terminal afterwards, also when interrupted (the signal is then raised
// again).
func readNoEcho(f *os.File) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sigs)
		close(done)
	}()
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	go func() {
		select {
		case sig := <-sigs:
			_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
			signal.Stop(sigs)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
			// Still here: the signal was ignored when we started.
			time.Sleep(100 * time.Millisecond)
			os.Exit(1)
		case <-done:
		}
	}()
	var line []byte
	var b [1]byte
	for len(line) <= maxPassword {
		n, err := f.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				return string(trimCR(line)), nil
			}
			line = append(line, b[0])
			continue
		}
		if err != nil {
			if len(line) > 0 {
				return string(trimCR(line)), nil
			}
			return "", errors.New("no password typed")
		}
	}
	return "", errors.New("the password is too long")
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// fileOwner is the owner of a file that root rewrites, to give it back.
type fileOwner struct{ uid, gid int }

// ownerOf is the owner of the file at path when it must be kept: it exists,
// we are root, and it belongs to someone else. Otherwise nil.
func ownerOf(path string) *fileOwner {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (st.Uid == 0 && st.Gid == 0) {
		return nil
	}
	return &fileOwner{uid: int(st.Uid), gid: int(st.Gid)}
}

// restore gives the file back to its owner.
func (o *fileOwner) restore(path string) error {
	if o == nil {
		return nil
	}
	if err := os.Chown(path, o.uid, o.gid); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return nil
}
