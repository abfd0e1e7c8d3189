package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/store/vfs"
)

type flag struct{ done bool }

func (f *flag) Complete() { f.done = true }

func open(t *testing.T, fsys vfs.FS, segSize int64) (*Journal, []Record, Recovery) {
	t.Helper()
	var got []Record
	j, rec, err := Open(Config{FS: fsys, Dir: "journal", SegmentSize: segSize, Manual: true}, func(r Record) error {
		r.Data = bytes.Clone(r.Data)
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return j, got, rec
}

func payload(i int) []byte { return []byte(fmt.Sprintf("record %d %s", i, strings.Repeat("x", i%50))) }

func appendN(t *testing.T, j *Journal, from, n int) []*flag {
	t.Helper()
	var flags []*flag
	for i := from; i < from+n; i++ {
		f := &flag{}
		if _, _, err := j.Append(byte(i%7), f, payload(i)); err != nil {
			t.Fatal(err)
		}
		flags = append(flags, f)
	}
	return flags
}

func TestAppendFlushReplay(t *testing.T) {
	fsys := vfs.NewMem()
	j, got, _ := open(t, fsys, 1024)
	if len(got) != 0 {
		t.Fatalf("replayed %d records from nothing", len(got))
	}
	flags := appendN(t, j, 0, 100)
	if flags[0].done || j.Synced() != 0 || j.Appended() != 100 {
		t.Fatalf("before flush: done %v synced %d appended %d", flags[0].done, j.Synced(), j.Appended())
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, f := range flags {
		if !f.done {
			t.Fatalf("record %d not completed after flush", i)
		}
	}
	st := j.Stats()
	if st.Synced != 100 || st.Syncs != 1 || st.Records != 100 || st.Segments < 3 {
		t.Fatalf("stats %+v: want 100 records in one batch over several 1 KiB segments", st)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j, got, rec := open(t, fsys.Crash(nil), 1024)
	defer j.Close()
	if rec.Damage != nil || rec.Last != 100 || len(got) != 100 {
		t.Fatalf("recovery %+v, %d records", rec, len(got))
	}
	for i, r := range got {
		if r.LSN != uint64(i+1) || r.Type != byte(i%7) || !bytes.Equal(r.Data, payload(i)) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	// Appends continue the sequence in a new segment.
	if lsn, _, _ := j.Append(1, nil, []byte("next")); lsn != 101 {
		t.Fatalf("next LSN %d, want 101", lsn)
	}
}

// A crash keeps only what was synced: records appended and written but not
// synced are gone, records synced are all there.
func TestCrashKeepsSynced(t *testing.T) {
	for seed := int64(0); seed < 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		fsys := vfs.NewMem()
		j, _, _ := open(t, fsys, int64(200+rng.Intn(2000)))
		fsys.CrashAfter(rng.Intn(60))
		n := 0
		var synced uint64
		for k := 0; k < 20; k++ {
			for i := 0; i < rng.Intn(10); i++ {
				if _, _, err := j.Append(1, nil, payload(n)); err != nil {
					break
				}
				n++
			}
			if j.Flush() != nil {
				break
			}
			synced = j.Synced()
		}
		var tear *rand.Rand
		if seed%2 == 0 {
			tear = rng
		}
		after := fsys.Crash(tear)
		j2, got, rec := open(t, after, 1024)
		if uint64(len(got)) < synced {
			t.Fatalf("seed %d: %d records recovered, %d were synced (%+v)", seed, len(got), synced, rec)
		}
		for i, r := range got {
			if !bytes.Equal(r.Data, payload(i)) {
				t.Fatalf("seed %d: record %d is %q", seed, i, r.Data)
			}
		}
		// After the repair, a second recovery finds the same, cleanly.
		j2.Close()
		_, again, rec2 := open(t, after.Crash(nil), 1024)
		if len(again) != len(got) || rec2.Damage != nil {
			t.Fatalf("seed %d: second recovery %d records (first %d), damage %v", seed, len(again), len(got), rec2.Damage)
		}
	}
}

func TestTornTailIsCut(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, _ := open(t, fsys, 1<<20)
	appendN(t, j, 0, 10)
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	j.Close()
	// Garble record 8 on disk: replay keeps 7.
	f, _ := fsys.Open("journal/0000000000000001.jnl")
	size, _ := f.Size()
	buf := make([]byte, size)
	f.ReadAt(buf, 0)
	off := int64(headerSize)
	for i := 0; i < 7; i++ {
		off += int64(frameSize + binary.LittleEndian.Uint32(buf[off+4:]))
	}
	f.WriteAt([]byte{buf[off+20] ^ 0xff}, off+20)
	f.Sync()
	j, got, rec := open(t, fsys, 1<<20)
	if len(got) != 7 || rec.Damage == nil || rec.Damage.Offset != off || !strings.Contains(rec.Damage.Reason, "checksum") {
		t.Fatalf("%d records, damage %v", len(got), rec.Damage)
	}
	lsn, _, _ := j.Append(0, nil, []byte("after"))
	if lsn != 8 {
		t.Fatalf("next LSN %d, want 8", lsn)
	}
	j.Close()
	_, got, rec = open(t, fsys, 1<<20)
	if len(got) != 8 || rec.Damage != nil || string(got[7].Data) != "after" {
		t.Fatalf("after repair: %d records, damage %v", len(got), rec.Damage)
	}
}

func TestUnknownVersionRefused(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, _ := open(t, fsys, 1<<20)
	appendN(t, j, 0, 1)
	j.Close()
	f, _ := fsys.Open("journal/0000000000000001.jnl")
	hdr := appendHeader(nil, 1, 1)
	binary.LittleEndian.PutUint32(hdr[8:], 7)
	binary.LittleEndian.PutUint32(hdr[32:], crc32.Checksum(hdr[:32], castagnoli))
	f.WriteAt(hdr, 0)
	_, _, err := Open(Config{FS: fsys, Dir: "journal", Manual: true}, func(Record) error { return nil })
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 7") || !strings.Contains(err.Error(), "0000000000000001.jnl") {
		t.Fatalf("err %v", err)
	}
}

func TestFullDiskWaitsThenWrites(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, _ := open(t, fsys, 1<<20)
	appendN(t, j, 0, 5)
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	fsys.SetQuota(fsys.Used() + 100)
	flags := appendN(t, j, 5, 10)
	if err := j.Flush(); !errors.Is(err, ErrFull) || !errors.Is(j.Err(), ErrFull) {
		t.Fatalf("flush on a full disk: %v, Err %v", err, j.Err())
	}
	if flags[0].done || j.Synced() != 5 {
		t.Fatalf("records completed on a full disk (synced %d)", j.Synced())
	}
	fsys.SetQuota(0)
	if err := j.Flush(); err != nil || j.Err() != nil {
		t.Fatalf("flush after space came back: %v, Err %v", err, j.Err())
	}
	for i, f := range flags {
		if !f.done {
			t.Fatalf("record %d not completed", i)
		}
	}
	j.Close()
	_, got, _ := open(t, fsys.Crash(nil), 1<<20)
	if len(got) != 15 {
		t.Fatalf("%d records after a full disk, want 15", len(got))
	}
	for i, r := range got {
		if !bytes.Equal(r.Data, payload(i)) {
			t.Fatalf("record %d: %q", i, r.Data)
		}
	}
}

func TestSyncFailureStops(t *testing.T) {
	fsys := vfs.NewMem()
	var fatal error
	j, _, err := Open(Config{FS: fsys, Dir: "journal", Manual: true, OnFatal: func(err error) { fatal = err }}, func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	fsys.FailSyncs(syscall.EIO)
	flags := appendN(t, j, 0, 3)
	if err := j.Flush(); err == nil || !errors.Is(err, syscall.EIO) {
		t.Fatalf("flush: %v", err)
	}
	if fatal == nil || flags[0].done {
		t.Fatalf("fatal %v, completed %v", fatal, flags[0].done)
	}
	// Syncs work again: the journal does not believe them.
	fsys.FailSyncs(nil)
	if err := j.Flush(); err == nil || flags[0].done {
		t.Fatalf("a flush after a failed sync succeeded (%v)", err)
	}
	if _, _, err := j.Append(1, nil, nil); err == nil {
		t.Fatal("append after a failed sync")
	}
}

func TestGoroutineWriterAndSync(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, err := Open(Config{FS: fsys, Dir: "journal", SegmentSize: 4096}, func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 1000)
	for i := 0; i < 1000; i++ {
		if _, _, err := j.Append(1, completer(done), payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1000; i++ {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 1000 records completed", i)
		}
	}
	if _, _, err := j.Append(2, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := j.Sync(); err != nil || j.Synced() != 1001 {
		t.Fatalf("Sync: %v, synced %d", err, j.Synced())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if st := j.Stats(); st.Records != 1001 {
		t.Fatalf("stats %+v", st)
	}
}

type completer chan struct{}

func (c completer) Complete() { c <- struct{}{} }

func TestRemoveOldestKeepsTheNewest(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, _ := open(t, fsys, 512)
	appendN(t, j, 0, 40)
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	sealed := j.Sealed()
	if len(sealed) < 2 {
		t.Fatalf("sealed %v", sealed)
	}
	if err := j.RemoveOldest(sealed[1].Seq); err == nil {
		t.Fatal("removed a segment that is not the oldest")
	}
	for _, s := range sealed {
		if err := j.RemoveOldest(s.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if len(j.Sealed()) != 0 {
		t.Fatalf("still sealed: %v", j.Sealed())
	}
	j.Close()
	j, got, rec := open(t, fsys.Crash(nil), 512)
	if rec.Damage != nil || len(got) == 0 || got[len(got)-1].LSN != 40 {
		t.Fatalf("after removals: %d records, damage %v", len(got), rec.Damage)
	}
	if lsn, _, _ := j.Append(0, nil); lsn != 41 {
		t.Fatalf("the position went back: next LSN %d", lsn)
	}
}

// A Sync with nothing left to write returns at once, also when it comes
// in while a batch is being synced (its waiter then rides on an empty one).
func TestSyncWithNothingToWrite(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, err := Open(Config{FS: fsys, Dir: "journal"}, func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 0, 1)
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	// A waiter left for a batch with nothing in it.
	j.mu.Lock()
	done := make(chanCompleter)
	j.waiters = append(j.waiters, waiter{lsn: j.appended, c: done})
	j.mu.Unlock()
	j.kick <- struct{}{}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a waiter with nothing to write was never completed")
	}
}

// Dropped segments are recycled as spare files, and new segments are
// written into them over their old records: replay ends at what was
// written last (the terminator after it), never in the old records, and
// reports no damage.
func TestRecycledSegments(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, _ := open(t, fsys, 600)
	n := 0
	for round := 0; round < 10; round++ {
		appendN(t, j, n, 15)
		n += 15
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, s := range j.Sealed() {
			if err := j.RemoveOldest(s.Seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	names, _ := fsys.List("journal")
	spares := 0
	for _, name := range names {
		if strings.HasPrefix(name, "spare-") {
			spares++
		}
	}
	if spares == 0 || spares > maxSpares {
		t.Fatalf("%d spare files: %v", spares, names)
	}
	j.Close()
	j, got, rec := open(t, fsys.Crash(nil), 600)
	defer j.Close()
	if rec.Damage != nil || len(got) == 0 || got[len(got)-1].LSN != uint64(n) {
		t.Fatalf("after recycling: %d records, last %v, damage %v", len(got), got[len(got)-1].LSN, rec.Damage)
	}
	for _, r := range got {
		if !bytes.Equal(r.Data, payload(int(r.LSN)-1)) {
			t.Fatalf("record %d: %q", r.LSN, r.Data)
		}
	}
}

// With Preallocate a spare file full of zeros is ready before it is
// needed; segments are written into it; replay stops at the zeros after
// the last record without calling it damage.
func TestPreallocatedSegments(t *testing.T) {
	fsys := vfs.NewMem()
	j, _, err := Open(Config{FS: fsys, Dir: "journal", SegmentSize: 4096, Preallocate: true}, func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if names, _ := fsys.List("journal"); len(names) > 0 && strings.HasPrefix(names[0], "spare-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare file was prepared")
		}
	}
	for i := 0; i < 100; i++ {
		if _, _, err := j.Append(1, nil, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	j.Close()
	first, err := vfs.ReadAll(fsys, "journal/0000000000000001.jnl")
	if err != nil || len(first) < 4096 || len(first) > 4096+frameSize {
		t.Fatalf("the first segment has %d bytes (%v): not the preallocated file", len(first), err)
	}
	_, got, rec := open(t, fsys.Crash(nil), 4096)
	if rec.Damage != nil || len(got) != 100 {
		t.Fatalf("%d records, damage %v", len(got), rec.Damage)
	}
}

// OnSync hears of every batch synced: how long, and how many records.
func TestOnSync(t *testing.T) {
	fsys := vfs.NewMem()
	fsys.SetSyncHook(func(string) error { time.Sleep(2 * time.Millisecond); return nil })
	var batches []uint64
	var took []time.Duration
	j, _, err := Open(Config{FS: fsys, Dir: "journal", Manual: true, OnSync: func(d time.Duration, n uint64) {
		took, batches = append(took, d), append(batches, n)
	}}, func(Record) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	appendN(t, j, 0, 10)
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	appendN(t, j, 10, 3)
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := j.Flush(); err != nil { // nothing to sync: no batch
		t.Fatal(err)
	}
	if len(batches) != 2 || batches[0] != 10 || batches[1] != 3 {
		t.Fatalf("batches %v, want [10 3]", batches)
	}
	for _, d := range took {
		if d < 2*time.Millisecond {
			t.Fatalf("a sync of a 2 ms disk took %s", d)
		}
	}
}
