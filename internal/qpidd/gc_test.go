package qpidd

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

// The process's own cgroup and its parents bound it; the lowest limit wins.
func TestCgroupLimits(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "cgroup")
	unit := filepath.Join(root, "system.slice", "qpidd.service")
	if err := os.MkdirAll(unit, 0o755); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "self")
	if err := os.WriteFile(self, []byte("1:cpu:/\n0::/system.slice/qpidd.service\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := cgroupLimits(self, root)
	want := []string{filepath.Join(unit, "memory.max"), filepath.Join(root, "system.slice", "memory.max"), filepath.Join(root, "memory.max")}
	if len(files) != len(want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	for i := range want {
		if files[i] != want[i] {
			t.Fatalf("files %v, want %v", files, want)
		}
	}
	for file, v := range map[string]string{want[0]: "3000\n", want[1]: "max\n", want[2]: "5000\n"} {
		if err := os.WriteFile(file, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := memoryAvailable(filepath.Join(dir, "no-meminfo"), files...); got != 3000 {
		t.Fatalf("limit %d, want the unit's 3000", got)
	}
	if got := cgroupLimits(filepath.Join(dir, "none"), root); got != nil {
		t.Fatalf("no cgroup file: %v", got)
	}
}
