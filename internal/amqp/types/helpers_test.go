package types_test

import (
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// hx decodes hex written with optional spaces, e.g. "c0 03 01 52 05".
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// rep repeats hex-written bytes n times.
func rep(s string, n int) []byte { return []byte(strings.Repeat(string(hx(s)), n)) }

// decodeAll decodes b as exactly one value.
func decodeAll(b []byte) (any, error) {
	d := types.NewDecoder(b)
	v, err := d.Value()
	if err == nil && d.Len() != 0 {
		return v, errors.New("bytes left after the value")
	}
	return v, err
}

// mustEncode encodes v or fails the test.
func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := types.AppendValue(nil, v)
	if err != nil {
		t.Fatalf("AppendValue(%#v): %v", v, err)
	}
	return b
}

// allocBytes reports how many bytes f allocates on the heap.
func allocBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// wantDecodeErr checks that err reports a decode failure.
func wantDecodeErr(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: decoded without error", what)
	} else if !errors.Is(err, types.ErrDecode) {
		t.Errorf("%s: error %v does not wrap ErrDecode", what, err)
	}
}
