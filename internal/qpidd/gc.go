package qpidd

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// A broker allocates for every message and keeps little of it. At Go's
// default pace (GOGC=100: collect whenever the heap has doubled) its small
// live heap is collected many times a second, and collecting and handing
// pages back to the system took a fifth of a replicating broker's CPU. qpidd
// lets the heap grow to gcPercent more than what is live instead, below a
// soft limit of half the memory it may use (the machine's, or its cgroups'
// if lower): above the limit the collector works harder, so memory stays
// bounded. GOGC or GOMEMLIMIT in the environment (systemd's Environment=)
// leave the runtime's own settings alone.
const gcPercent = 400

// tuneGC applies that unless the environment chooses; it returns the limit
// set, 0 if it left the runtime alone.
func tuneGC(environ []string) int64 {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "GOMEMLIMIT=") {
			return 0
		}
	}
	limit := memoryAvailable("/proc/meminfo", cgroupLimits("/proc/self/cgroup", "/sys/fs/cgroup")...) / 2
	if limit <= 0 {
		return 0
	}
	debug.SetMemoryLimit(limit)
	debug.SetGCPercent(gcPercent)
	return limit
}

// cgroupLimits lists the memory.max files that bound this process under
// cgroup v2: its own cgroup's (a systemd unit's MemoryMax=) and every
// parent's up to the root (a slice's, a container's).
func cgroupLimits(selfCgroup, root string) []string {
	b, err := os.ReadFile(selfCgroup)
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		path, ok := strings.CutPrefix(line, "0::") // the v2 hierarchy
		if !ok {
			continue
		}
		var files []string
		for dir := filepath.Join(root, path); ; dir = filepath.Dir(dir) {
			files = append(files, filepath.Join(dir, "memory.max"))
			if dir == root || !strings.HasPrefix(dir, root) {
				return files
			}
		}
	}
	return nil
}

// memoryAvailable is the machine's memory (MemTotal of meminfo) or the
// lowest of the cgroup limits (memory.max files) if lower; 0 if none is
// known.
func memoryAvailable(meminfo string, cgroupMax ...string) int64 {
	var total int64
	if f, err := os.Open(meminfo); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// MemTotal:       16316412 kB
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					total = kb << 10
				}
				break
			}
		}
		f.Close()
	}
	for _, file := range cgroupMax {
		if b, err := os.ReadFile(file); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
				total = n // "max" (no limit) does not parse
			}
		}
	}
	return total
}
