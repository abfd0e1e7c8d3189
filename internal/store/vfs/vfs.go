// Package vfs is the store's access to its directory. Every file operation
// of the store goes through the FS interface, so that tests can put the
// store on Mem, a file system in memory that at a simulated crash keeps only
// what was synced (the idea of pebble's vfs.NewStrictMem): a power loss at
// any point, in-process and exactly.
package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FS is a directory tree the store keeps its files in. Names are relative,
// slash-separated paths below the tree's root.
type FS interface {
	// Create makes an empty file for writing, truncating an existing one.
	// Its directory entry is durable only after SyncDir.
	Create(name string) (File, error)
	// Open opens an existing file for reading and writing.
	Open(name string) (File, error)
	// Remove deletes a file (durable after SyncDir).
	Remove(name string) error
	// Rename renames a file, replacing newname (durable after SyncDir).
	Rename(oldname, newname string) error
	// List returns the names of the files in a directory, sorted; a
	// missing directory is an error that errors.Is(os.ErrNotExist).
	List(dir string) ([]string, error)
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string) error
	// SyncDir makes the directory's entries durable (fsync on the
	// directory): files created, removed or renamed in it.
	SyncDir(dir string) error
}

// File is an open file.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Size is the file's length.
	Size() (int64, error)
	// Truncate changes the file's length.
	Truncate(size int64) error
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	Close() error
}

// ReadAll reads a whole file.
func ReadAll(fs FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// Dir is the operating system's file system below a root directory.
func Dir(root string) FS { return osFS{root} }

type osFS struct{ root string }

func (o osFS) path(name string) string { return filepath.Join(o.root, filepath.FromSlash(name)) }

func (o osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(o.path(name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (o osFS) Open(name string) (File, error) {
	f, err := os.OpenFile(o.path(name), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (o osFS) Remove(name string) error { return os.Remove(o.path(name)) }

func (o osFS) Rename(oldname, newname string) error {
	return os.Rename(o.path(oldname), o.path(newname))
}

func (o osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(o.path(dir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func (o osFS) MkdirAll(dir string) error { return os.MkdirAll(o.path(dir), 0o750) }

func (o osFS) SyncDir(dir string) error {
	d, err := os.Open(o.path(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

type osFile struct{ f *os.File }

func (f osFile) ReadAt(p []byte, off int64) (int, error)  { return f.f.ReadAt(p, off) }
func (f osFile) WriteAt(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }
func (f osFile) Truncate(size int64) error                { return f.f.Truncate(size) }
func (f osFile) Close() error                             { return f.f.Close() }
func (f osFile) Sync() error                              { return datasync(f.f) }

func (f osFile) Size() (int64, error) {
	st, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
