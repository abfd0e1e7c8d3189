package main

import (
	"fmt"
	"os"
	"time"

	"github.com/qpidha/qpidha/internal/store/vfs"
)

// fsyncRate measures the machine's own rate of fdatasync in dir, the way a
// journal uses it: it appends size bytes to a new file and fdatasyncs it,
// again and again for d, then removes the file. It returns the syncs done
// and the time they took.
func fsyncRate(dir string, size int, d time.Duration) (int, time.Duration, error) {
	// The store's own file access (vfs: File.Sync is fdatasync).
	fsys := vfs.Dir(dir)
	name := fmt.Sprintf("bench-fsync-%d", os.Getpid())
	f, err := fsys.Create(name)
	if err != nil {
		return 0, 0, err
	}
	defer fsys.Remove(name)
	defer f.Close()
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i)
	}
	// A first write and sync outside the measure: the file's creation.
	off := int64(0)
	write := func() error {
		if _, err := f.WriteAt(buf, off); err != nil {
			return err
		}
		off += int64(len(buf))
		return f.Sync()
	}
	if err := write(); err != nil {
		return 0, 0, err
	}
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		if err := write(); err != nil {
			return n, time.Since(start), err
		}
		n++
	}
	return n, time.Since(start), nil
}

// reportFsync prints fsyncRate's figures: as text, or as tsv: directory
// syncs seconds syncs/s us-per-sync size.
func reportFsync(o options, dir string, n int, elapsed time.Duration) {
	rate := float64(n) / elapsed.Seconds()
	us := float64(elapsed.Microseconds()) / float64(max(n, 1))
	if o.format == "tsv" {
		fmt.Printf("%s\t%d\t%.3f\t%.0f\t%.1f\t%d\n", dir, n, elapsed.Seconds(), rate, us, o.size)
		return
	}
	fmt.Printf("fdatasync in %s: %d in %.2f s: %.0f syncs/s, %.1f us each (%d B appended before each)\n",
		dir, n, elapsed.Seconds(), rate, us, o.size)
}
