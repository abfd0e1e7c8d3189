package frame_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/frame"
	"github.com/qpidha/qpidha/internal/amqp/types"
)

// corpusDirs hold connection byte streams from Qpid Proton's fuzzers (see
// testdata/corpus/README.md).
var corpusDirs = []string{
	"testdata/corpus/fuzz-connection-driver",
	"testdata/corpus/fuzz-proactor-receive",
}

type corpusFile struct {
	name string
	data []byte
}

// readCorpus returns every file under the corpus/ and crash/ directories.
func readCorpus(tb testing.TB) []corpusFile {
	tb.Helper()
	var files []corpusFile
	for _, dir := range corpusDirs {
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
				files = append(files, corpusFile{path, data})
			}
		}
	}
	if len(files) == 0 {
		tb.Fatal("no corpus files")
	}
	return files
}

const fuzzMaxFrameSize = 1 << 20

// parseStream parses b as a peer's byte stream: protocol headers (the first,
// and the one after SASL) and frames, until the input ends or is malformed.
// Every failure must be an AMQP framing or decode error, every parsed frame
// must fit its limits, and re-encoding a parsed frame must parse to the same
// frame.
func parseStream(t testing.TB, b []byte) {
	t.Helper()
	for len(b) >= frame.HeaderSize {
		if string(b[:4]) == "AMQP" {
			if _, err := frame.ParseHeader(b[:frame.HeaderSize]); err != nil {
				return
			}
			b = b[frame.HeaderSize:]
			continue
		}
		f, n, err := frame.Parse(b, fuzzMaxFrameSize)
		if err != nil {
			var amqpErr *types.Error
			if !errors.As(err, &amqpErr) ||
				amqpErr.Condition != types.CondConnectionFramingError && amqpErr.Condition != types.CondDecodeError {
				t.Fatalf("error %v (%T) is not a framing or decode error", err, err)
			}
			if n != 0 || f.Body != nil {
				t.Fatalf("error %v with n=%d, body %T", err, n, f.Body)
			}
			return
		}
		if n == 0 {
			return // incomplete
		}
		if n < frame.HeaderSize || n > len(b) || n > fuzzMaxFrameSize {
			t.Fatalf("n=%d with %d bytes", n, len(b))
		}
		if f.Body != nil {
			enc, err := frame.Append(nil, f.Type, f.Channel, f.Body, f.Payload)
			if err != nil {
				t.Fatalf("re-encoding %#v: %v", f.Body, err)
			}
			g, m, err := frame.Parse(enc, math.MaxUint32)
			if err != nil || m != len(enc) || g.Type != f.Type || g.Channel != f.Channel ||
				!types.Equal(g.Body, f.Body) || !bytes.Equal(g.Payload, f.Payload) {
				t.Fatalf("re-parsed %#v, %v; want %#v", g, err, f)
			}
		}
		b = b[n:]
	}
}

// withoutHeader drops a leading protocol header: the fuzzer mutates frames.
func withoutHeader(b []byte) []byte {
	if len(b) >= frame.HeaderSize && string(b[:4]) == "AMQP" {
		return b[frame.HeaderSize:]
	}
	return b
}

func FuzzParseFrame(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add(withoutHeader(c.data))
	}
	for _, c := range bodies() {
		f.Add(must(frame.Append(nil, c.typ, 1, c.body, []byte("payload"))))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parseStream(t, data)
	})
}

// TestCorpusRegression replays every corpus stream, crashes included: none may
// panic, fail an invariant, or take long.
func TestCorpusRegression(t *testing.T) {
	start := time.Now()
	frames := 0
	for _, c := range readCorpus(t) {
		fileStart := time.Now()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s: panic: %v", c.name, r)
				}
			}()
			parseStream(t, c.data)
			parseStream(t, withoutHeader(c.data))
			for b := withoutHeader(c.data); ; frames++ {
				_, n, err := frame.Parse(b, frame.MinMaxFrameSize)
				if err != nil || n == 0 {
					break
				}
				b = b[n:]
			}
		}()
		if el := time.Since(fileStart); el > time.Second {
			t.Errorf("%s: took %v", c.name, el)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("the corpus took %v", el)
	}
	t.Logf("%d files, %d frames parsed", len(readCorpus(t)), frames)
	if frames < 1000 {
		t.Errorf("only %d frames parsed: is the corpus right?", frames)
	}
}
