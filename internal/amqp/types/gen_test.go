package types_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates zz_generated.go from spec/ and checks the
// committed file is identical: run `go generate` in this package if not.
func TestGeneratedUpToDate(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		if goroot := os.Getenv("GOROOT"); goroot != "" {
			goBin = filepath.Join(goroot, "bin", "go")
		} else {
			t.Skip("no go command to run the generator")
		}
	}
	out := filepath.Join(t.TempDir(), "zz_generated.go")
	cmd := exec.Command(goBin, "run", "./gen", "-spec", "spec", "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("zz_generated.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("zz_generated.go is not what ./gen generates from spec/: run go generate in internal/amqp/types")
	}
}
