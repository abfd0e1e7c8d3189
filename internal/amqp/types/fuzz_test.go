package types_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// corpusDir holds encoded messages from Qpid Proton's message decoder fuzzer
// (see its README.md).
const corpusDir = "testdata/corpus/fuzz-message-decode"

type corpusFile struct {
	name string
	data []byte
}

// readCorpus returns every file under dir's corpus/ and crash/ directories.
func readCorpus(tb testing.TB, dir string) []corpusFile {
	tb.Helper()
	var files []corpusFile
	for _, sub := range []string{"corpus", "crash"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			tb.Fatal(err)
		}
		for _, e := range entries {
			path := filepath.Join(dir, sub, e.Name())
			data, err := os.ReadFile(path)
			if err != nil {
				tb.Fatal(err)
			}
			files = append(files, corpusFile{filepath.Join(sub, e.Name()), data})
		}
	}
	if len(files) == 0 {
		tb.Fatalf("no corpus files in %s", dir)
	}
	return files
}

// checkDecodeInvariants decodes the values in b one after another, as a
// message's sections are. A failure must wrap ErrDecode. A decoded value must
// span the bytes Skip skips, re-encode, decode to an Equal value and re-encode
// to the same bytes.
func checkDecodeInvariants(t testing.TB, b []byte) {
	t.Helper()
	d := types.NewDecoder(b)
	for d.Len() > 0 {
		start := d.Offset()
		v, err := d.Value()
		if err != nil {
			if !errors.Is(err, types.ErrDecode) {
				t.Fatalf("error %v does not wrap ErrDecode", err)
			}
			return
		}
		s := types.NewDecoder(b[start:])
		if err := s.Skip(); err != nil || s.Offset() != d.Offset()-start {
			t.Fatalf("Skip: %v after %d bytes, Value took %d", err, s.Offset(), d.Offset()-start)
		}
		enc, err := types.AppendValue(nil, v)
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v, err)
		}
		v2, err := decodeAll(enc)
		if err != nil {
			t.Fatalf("decoding the re-encoded %#v: %v\n% x", v, err, trim(enc))
		}
		if !types.Equal(v, v2) {
			t.Fatalf("re-decoded %#v, want %#v", v2, v)
		}
		if enc2, err := types.AppendValue(nil, v2); err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable: %v\n% x\n% x", err, trim(enc), trim(enc2))
		}
	}
}

func FuzzDecodeValue(f *testing.F) {
	for _, c := range readCorpus(f, corpusDir) {
		f.Add(c.data)
	}
	for _, c := range encodeCases {
		f.Add(c.want)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeInvariants(t, data)
	})
}

// TestCorpusRegression replays every corpus file, crashes included: none may
// panic, fail an invariant, or take long.
func TestCorpusRegression(t *testing.T) {
	start := time.Now()
	for _, c := range readCorpus(t, corpusDir) {
		fileStart := time.Now()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s: panic: %v", c.name, r)
				}
			}()
			checkDecodeInvariants(t, c.data)
			d := types.NewDecoder(c.data)
			for d.Len() > 0 && d.Skip() == nil {
			}
		}()
		if el := time.Since(fileStart); el > time.Second {
			t.Errorf("%s: took %v", c.name, el)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("the corpus took %v", el)
	}
}
