package qpidd

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/qpidha/qpidha/internal/config"
)

// Where the automatic memory bound looks (variables for tests).
var (
	meminfoPath   = "/proc/meminfo"
	cgroupMaxPath = "/sys/fs/cgroup/memory.max"
)

// maxMemory is the broker's memory bound (max-memory): the option's value,
// or with 0 half of the smaller of the physical memory (MemTotal) and the
// cgroup v2 limit when it is a number; 0 (no bound) if neither is known.
// It says how it was chosen.
func maxMemory(opts *config.Options) (int64, string) {
	if opts.MaxMemory > 0 {
		return int64(opts.MaxMemory), "max-memory"
	}
	total, from := physicalMemory(meminfoPath), "half of the physical memory"
	if cg := cgroupLimit(cgroupMaxPath); cg > 0 && (total <= 0 || cg < total) {
		total, from = cg, "half of the cgroup's memory.max"
	}
	if total <= 0 {
		return 0, "max-memory=0 and neither the physical memory nor a cgroup limit is known"
	}
	return total / 2, "automatic (max-memory=0): " + from
}

// physicalMemory is MemTotal of /proc/meminfo in bytes, 0 if unknown.
func physicalMemory(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit is a cgroup v2 memory.max in bytes, 0 if none ("max") or
// unknown.
func cgroupLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// memoryLogger logs producer flow control for memory starting and ending.
func memoryLogger(log *logrus.Logger) func(stopped bool, bytes, max int64) {
	return func(stopped bool, bytes, max int64) {
		l := log.WithFields(logrus.Fields{"bytes": bytes, "max-memory": max})
		if stopped {
			l.Info("producer flow control for memory on: the queues hold more message bytes than max-memory; new messages wait for acceptance until they hold less than 90% of it (beyond 110% they are refused)")
		} else {
			l.Info("producer flow control for memory off: the queues hold less than 90% of max-memory")
		}
	}
}
