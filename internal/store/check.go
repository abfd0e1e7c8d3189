package store

import (
	"fmt"
	"io"
	"path"
	"sort"

	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/store/journal"
	"github.com/qpidha/qpidha/internal/store/vfs"
)

// Report is what Check found in a store.
type Report struct {
	Dir         string
	Files       []FileInfo
	Journal     journal.Recovery
	Exchanges   int
	Bindings    int
	Queues      []QueueReport
	DroppedTxns int
	HAPosition  broker.MessageID // the HA replication position synced (zero: none)
}

// FileInfo is a journal file.
type FileInfo struct {
	Name string
	Size int64
}

// QueueReport is a durable queue and the persistent messages it would
// recover.
type QueueReport struct {
	Name     string
	Messages int
	Bytes    int64
}

// Check reads the store in dir (on fsys; nil: the operating system's)
// without changing anything: every record's checksum is verified and what
// a broker starting on it would recover is counted. A store whose journal
// uses an unknown format, or whose records do not decode, is an error.
func Check(dir string, fsys vfs.FS) (*Report, error) {
	if fsys == nil {
		fsys = vfs.Dir(dir)
	}
	rep := &Report{Dir: dir}
	if names, err := fsys.List(JournalDir); err == nil {
		for _, name := range names {
			f, err := fsys.Open(path.Join(JournalDir, name))
			if err != nil {
				return nil, err
			}
			size, err := f.Size()
			f.Close()
			if err != nil {
				return nil, err
			}
			rep.Files = append(rep.Files, FileInfo{Name: path.Join(JournalDir, name), Size: size})
		}
	}
	rs := newReplay()
	j, rec, err := journal.Open(journal.Config{FS: fsys, Dir: JournalDir, ReadOnly: true}, rs.record)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	j.Close()
	rep.Journal = rec
	recovered, err := rs.finish(nil)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	rep.Exchanges, rep.Bindings, rep.DroppedTxns = len(recovered.Exchanges), len(recovered.Bindings), recovered.DroppedTxns
	rep.HAPosition = recovered.Position
	for _, q := range recovered.Queues {
		rep.Queues = append(rep.Queues, QueueReport{Name: q.Name, Messages: len(q.Messages), Bytes: q.Bytes})
	}
	sort.Slice(rep.Queues, func(a, b int) bool { return rep.Queues[a].Name < rep.Queues[b].Name })
	return rep, nil
}

// Healthy reports whether a broker would recover everything on disk but,
// at most, a torn record at the very end (what a crash while writing
// leaves, never acknowledged).
func (r *Report) Healthy() bool { return r.Journal.Damage == nil || len(r.Journal.Damage.Later) == 0 }

// Write prints the report.
func (r *Report) Write(w io.Writer) {
	var size int64
	for _, f := range r.Files {
		size += f.Size
	}
	fmt.Fprintf(w, "store %s: journal format version %d, %d files, %d bytes\n", r.Dir, journal.Version, len(r.Files), size)
	for _, f := range r.Files {
		fmt.Fprintf(w, "  %s  %d bytes\n", f.Name, f.Size)
	}
	fmt.Fprintf(w, "records: %d, checksums verified\n", r.Journal.Records)
	fmt.Fprintf(w, "position (the last record on disk): %d\n", r.Journal.Last)
	if !r.HAPosition.IsZero() {
		fmt.Fprintf(w, "HA replication position (epoch.sequence) synced: %s\n", r.HAPosition)
	}
	switch d := r.Journal.Damage; {
	case d == nil:
		fmt.Fprintln(w, "tail: clean")
	case len(d.Later) == 0:
		fmt.Fprintf(w, "tail: a torn or damaged last record (what a crash while writing leaves; it was never acknowledged): %s\n", d)
	default:
		fmt.Fprintf(w, "DAMAGED: %s\n", d)
		fmt.Fprintln(w, "  records after the damage cannot be recovered; a broker starting on this store renames the later files *.dropped")
	}
	if r.DroppedTxns > 0 {
		fmt.Fprintf(w, "transactions without a commit on disk (dropped at recovery): %d\n", r.DroppedTxns)
	}
	fmt.Fprintf(w, "durable exchanges: %d, bindings: %d, durable queues: %d\n", r.Exchanges, r.Bindings, len(r.Queues))
	if len(r.Queues) == 0 {
		return
	}
	width := len("queue")
	for _, q := range r.Queues {
		width = max(width, len(q.Name))
	}
	fmt.Fprintf(w, "  %-*s %10s %14s\n", width, "queue", "messages", "bytes")
	for _, q := range r.Queues {
		fmt.Fprintf(w, "  %-*s %10d %14d\n", width, q.Name, q.Messages, q.Bytes)
	}
}
