package vfs

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"path"
	"sort"
	"sync"
	"syscall"
)

// ErrCrashed is what every operation of a Mem returns once it crashed.
var ErrCrashed = errors.New("vfs: simulated crash: the file system is gone")

// Mem is a file system in memory that knows what is durable: a file's data
// as of its last Sync, a directory's entries as of its last SyncDir. Crash
// returns what a power loss at that instant would leave: only that. Faults
// can be injected: a quota (writes beyond it fail with ENOSPC), a sync
// error, a hook run at every sync (to stall a disk), and a crash after a
// given number of operations. Directories are durable once created.
type Mem struct {
	mu       sync.Mutex
	dirs     map[string]*memDir
	used     int64 // bytes of the files in the namespace
	quota    int64 // 0: none
	opsLeft  int   // crash before this many more mutating operations; <0: never
	crashed  bool
	syncErr  error
	syncHook func(name string) error
	syncs    int
}

type memDir struct {
	entries map[string]*memNode // now
	durable map[string]*memNode // as of the last SyncDir
}

type memNode struct {
	data   []byte
	synced []byte // the data as of the last Sync (may share data's array)
}

// NewMem returns an empty file system with its root directory.
func NewMem() *Mem {
	m := &Mem{dirs: map[string]*memDir{}, opsLeft: -1}
	m.dirs["."] = newMemDir()
	return m
}

func newMemDir() *memDir {
	return &memDir{entries: map[string]*memNode{}, durable: map[string]*memNode{}}
}

// SetQuota bounds the bytes of all files (0: no bound): a write beyond it
// writes what fits and fails with ENOSPC, as a full disk does.
func (m *Mem) SetQuota(bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.quota = bytes
}

// Used is the bytes of all files.
func (m *Mem) Used() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}

// FailSyncs makes every Sync and SyncDir fail with err from now on (nil
// restores them).
func (m *Mem) FailSyncs(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncErr = err
}

// SetSyncHook runs f (without the file system locked) before every Sync and
// SyncDir, with the name synced; an error from f fails the sync. A hook
// that blocks stalls the disk.
func (m *Mem) SetSyncHook(f func(name string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncHook = f
}

// Syncs counts the successful Syncs and SyncDirs.
func (m *Mem) Syncs() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncs
}

// CrashAfter makes the file system crash before its n-th next mutating
// operation (write, truncate, sync, create, remove, rename): that one and
// every later operation fail with ErrCrashed. Crash then gives what is left.
func (m *Mem) CrashAfter(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opsLeft = n
}

// Crashed reports whether the file system crashed (CrashAfter).
func (m *Mem) Crashed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.crashed
}

// Crash stops this file system (every later operation fails with
// ErrCrashed) and returns a new one holding what a power loss now would
// leave: the directory entries as of their last SyncDir, each file's data as
// of its last Sync. With tear set, a file also keeps a random part of the
// data written after its last sync, its end possibly garbled, as a disk
// may leave a torn write; tear draws from it (tests replay with its seed).
func (m *Mem) Crash(tear *rand.Rand) *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
	return m.durable(tear)
}

// PowerOff stops the file system at once (every later operation fails
// with ErrCrashed), as a power loss does, without working out what it
// leaves: Durable does that after. Several file systems powered off one
// after the other lose power within microseconds.
func (m *Mem) PowerOff() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crashed = true
}

// Durable returns what a power loss now would leave (see Crash), without
// stopping this file system.
func (m *Mem) Durable(tear *rand.Rand) *Mem {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.durable(tear)
}

func (m *Mem) durable(tear *rand.Rand) *Mem {
	out := NewMem()
	out.quota = m.quota
	dirs := make([]string, 0, len(m.dirs))
	for d := range m.dirs {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		nd := newMemDir()
		out.dirs[d] = nd
		names := make([]string, 0, len(m.dirs[d].durable))
		for name := range m.dirs[d].durable {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			n := m.dirs[d].durable[name]
			data := append([]byte(nil), n.synced...)
			if tear != nil && len(n.data) > len(n.synced) && bytes.Equal(n.data[:len(n.synced)], n.synced) {
				extra := n.data[len(n.synced):]
				keep := tear.Intn(len(extra) + 1)
				data = append(data, extra[:keep]...)
				if keep > 0 && tear.Intn(2) == 0 {
					for i := 0; i < 1+tear.Intn(8); i++ {
						data[len(n.synced)+tear.Intn(keep)] ^= byte(1 + tear.Intn(255))
					}
				}
			}
			node := &memNode{data: data, synced: append([]byte(nil), data...)}
			nd.entries[name] = node
			nd.durable[name] = node
			out.used += int64(len(data))
		}
	}
	return out
}

// step counts a mutating operation (m.mu held); it fails once crashed.
func (m *Mem) step() error {
	if m.crashed {
		return ErrCrashed
	}
	if m.opsLeft == 0 {
		m.crashed = true
		return ErrCrashed
	}
	if m.opsLeft > 0 {
		m.opsLeft--
	}
	return nil
}

func split(name string) (dir, base string) {
	name = path.Clean(name)
	return path.Dir(name), path.Base(name)
}

func (m *Mem) dir(dir string, op, name string) (*memDir, error) {
	d := m.dirs[path.Clean(dir)]
	if d == nil {
		return nil, &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
	}
	return d, nil
}

// Create implements FS.
func (m *Mem) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return nil, err
	}
	dn, base := split(name)
	d, err := m.dir(dn, "create", name)
	if err != nil {
		return nil, err
	}
	if old := d.entries[base]; old != nil {
		m.used -= int64(len(old.data))
	}
	n := &memNode{}
	d.entries[base] = n
	return &memFile{m: m, n: n, name: name}, nil
}

// Open implements FS.
func (m *Mem) Open(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, ErrCrashed
	}
	dn, base := split(name)
	d, err := m.dir(dn, "open", name)
	if err != nil {
		return nil, err
	}
	n := d.entries[base]
	if n == nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return &memFile{m: m, n: n, name: name}, nil
}

// Remove implements FS.
func (m *Mem) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return err
	}
	dn, base := split(name)
	d, err := m.dir(dn, "remove", name)
	if err != nil {
		return err
	}
	n := d.entries[base]
	if n == nil {
		return &os.PathError{Op: "remove", Path: name, Err: os.ErrNotExist}
	}
	m.used -= int64(len(n.data))
	delete(d.entries, base)
	return nil
}

// Rename implements FS.
func (m *Mem) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return err
	}
	od, ob := split(oldname)
	nd, nb := split(newname)
	from, err := m.dir(od, "rename", oldname)
	if err != nil {
		return err
	}
	to, err := m.dir(nd, "rename", newname)
	if err != nil {
		return err
	}
	n := from.entries[ob]
	if n == nil {
		return &os.PathError{Op: "rename", Path: oldname, Err: os.ErrNotExist}
	}
	if old := to.entries[nb]; old != nil && old != n {
		m.used -= int64(len(old.data))
	}
	delete(from.entries, ob)
	to.entries[nb] = n
	return nil
}

// List implements FS.
func (m *Mem) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return nil, ErrCrashed
	}
	d, err := m.dir(dir, "open", dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(d.entries))
	for name := range d.entries {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// MkdirAll implements FS.
func (m *Mem) MkdirAll(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.crashed {
		return ErrCrashed
	}
	for d := path.Clean(dir); ; d = path.Dir(d) {
		if m.dirs[d] == nil {
			m.dirs[d] = newMemDir()
		}
		if d == "." || d == "/" {
			return nil
		}
	}
}

// SyncDir implements FS.
func (m *Mem) SyncDir(dir string) error {
	if err := m.runSyncHook(dir); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.step(); err != nil {
		return err
	}
	if m.syncErr != nil {
		return &os.PathError{Op: "fsync", Path: dir, Err: m.syncErr}
	}
	d, err := m.dir(dir, "fsync", dir)
	if err != nil {
		return err
	}
	d.durable = make(map[string]*memNode, len(d.entries))
	for name, n := range d.entries {
		d.durable[name] = n
	}
	m.syncs++
	return nil
}

func (m *Mem) runSyncHook(name string) error {
	m.mu.Lock()
	hook := m.syncHook
	m.mu.Unlock()
	if hook != nil {
		if err := hook(name); err != nil {
			return &os.PathError{Op: "fdatasync", Path: name, Err: err}
		}
	}
	return nil
}

type memFile struct {
	m      *Mem
	n      *memNode
	name   string
	closed bool
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.m.crashed {
		return 0, ErrCrashed
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.m.step(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: syscall.EINVAL}
	}
	end := off + int64(len(p))
	var full error
	if grow := end - int64(len(f.n.data)); grow > 0 && f.m.quota > 0 && f.m.used+grow > f.m.quota {
		// Write what fits, as a full disk does.
		end = int64(len(f.n.data)) + max(0, f.m.quota-f.m.used)
		if end < off {
			end = off
		}
		p = p[:end-off]
		full = &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	if end > int64(len(f.n.data)) {
		f.m.used += end - int64(len(f.n.data))
		if end <= int64(cap(f.n.data)) {
			f.n.data = f.n.data[:end]
		} else {
			grown := make([]byte, end, max(end, 2*int64(cap(f.n.data))))
			copy(grown, f.n.data)
			f.n.data = grown
		}
	}
	if off < int64(len(f.n.synced)) && len(f.n.data) > 0 && &f.n.synced[0] == &f.n.data[0] {
		f.n.synced = bytes.Clone(f.n.synced) // copy on write: it shares data's array
	}
	copy(f.n.data[off:], p)
	return len(p), full
}

func (f *memFile) Size() (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.m.crashed {
		return 0, ErrCrashed
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.m.step(); err != nil {
		return err
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	if cur := int64(len(f.n.data)); size <= cur {
		f.m.used -= cur - size
		f.n.data = f.n.data[:size:size]
	} else {
		f.m.used += size - cur
		f.n.data = append(f.n.data, make([]byte, size-cur)...)
	}
	return nil
}

func (f *memFile) Sync() error {
	if err := f.m.runSyncHook(f.name); err != nil {
		return err
	}
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if err := f.m.step(); err != nil {
		return err
	}
	if f.m.syncErr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.name, Err: f.m.syncErr}
	}
	// The snapshot shares the array; WriteAt copies it before changing
	// what it holds (appends write beyond its length).
	f.n.synced = f.n.data[:len(f.n.data):len(f.n.data)]
	f.m.syncs++
	return nil
}

func (f *memFile) Close() error {
	f.closed = true
	return nil
}
