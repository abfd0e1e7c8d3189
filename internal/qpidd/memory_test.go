package qpidd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/config"
)

func TestMaxMemory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldInfo, oldCg := meminfoPath, cgroupMaxPath
	t.Cleanup(func() { meminfoPath, cgroupMaxPath = oldInfo, oldCg })
	meminfoPath = write("meminfo", "MemTotal:        8000000 kB\nMemFree:  100 kB\n")
	for _, tc := range []struct {
		option uint64
		cgroup string // "" : no file
		want   int64
		from   string
	}{
		{0, "", 8000000 << 10 / 2, "physical memory"},
		{0, "max\n", 8000000 << 10 / 2, "physical memory"},
		{0, "1073741824\n", 1 << 29, "cgroup"},
		{0, "99999999999999\n", 8000000 << 10 / 2, "physical memory"},
		{12345, "1073741824\n", 12345, "max-memory"},
	} {
		cgroupMaxPath = filepath.Join(dir, "none")
		if tc.cgroup != "" {
			cgroupMaxPath = write("memory.max", tc.cgroup)
		}
		got, from := maxMemory(&config.Options{MaxMemory: tc.option})
		if got != tc.want || !strings.Contains(from, tc.from) {
			t.Errorf("option %d, cgroup %q: %d (%s), want %d (%s)", tc.option, tc.cgroup, got, from, tc.want, tc.from)
		}
	}
	meminfoPath = filepath.Join(dir, "none")
	cgroupMaxPath = filepath.Join(dir, "none")
	if got, _ := maxMemory(&config.Options{}); got != 0 {
		t.Errorf("nothing known: %d, want 0 (no bound)", got)
	}
}
