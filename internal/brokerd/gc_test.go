package brokerd

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryAvailable(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meminfo := write("meminfo", "MemTotal:        2048 kB\nMemFree:          100 kB\n")
	for _, c := range []struct {
		cgroup string
		want   int64
	}{
		{"max\n", 2048 << 10},          // no cgroup limit: the machine's
		{"1048576\n", 1048576},         // a lower cgroup limit wins
		{"999999999999\n", 2048 << 10}, // a higher one does not
	} {
		if got := memoryAvailable(meminfo, write("memory.max", c.cgroup)); got != c.want {
			t.Errorf("cgroup %q: %d, want %d", c.cgroup, got, c.want)
		}
	}
	if got := memoryAvailable(filepath.Join(dir, "none"), filepath.Join(dir, "none")); got != 0 {
		t.Errorf("nothing known: %d, want 0", got)
	}
	if got := memoryAvailable(filepath.Join(dir, "none"), write("memory.max", "4096\n")); got != 4096 {
		t.Errorf("only a cgroup limit: %d, want 4096", got)
	}
}

// The environment's GOGC or GOMEMLIMIT leave the runtime alone.
func TestTuneGCLeavesTheEnvironmentsChoice(t *testing.T) {
	for _, env := range [][]string{{"GOGC=100"}, {"PATH=/bin", "GOMEMLIMIT=1GiB"}} {
		if limit := tuneGC(env); limit != 0 {
			t.Errorf("%v: set a limit of %d", env, limit)
		}
	}
}
