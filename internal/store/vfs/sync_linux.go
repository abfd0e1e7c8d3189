package vfs

import (
	"os"
	"syscall"
)

// datasync is fdatasync(2): the data and what is needed to read it back
// (the file's size), without the other metadata fsync also writes.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
