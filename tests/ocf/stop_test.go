package ocf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// killWrapper writes a script that runs the agent with kill doing nothing
// for the signals in FAKE_KILL_IGNORE: a broker that ignores SIGTERM, or
// one that survives SIGKILL (stuck in the kernel, say).
func killWrapper(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "qpidd-kill-ignored")
	script := `#!/bin/sh
kill() {
	for s in ${FAKE_KILL_IGNORE}; do
		[ "$1" = "-$s" ] && return 0
	done
	command kill "$@"
}
. ` + agentPath() + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStopNeverLies: stop's waits follow the stop action's timeout
// (OCF_RESKEY_CRM_meta_timeout), and stop never reports success while the
// broker may still run. A broker that ignores SIGTERM is killed after half
// the timeout; one that survives SIGKILL too makes stop fail before the
// timeout, saying the node must be fenced.
func TestStopNeverLies(t *testing.T) {
	t.Parallel()
	timed(t)
	c := newCluster(t, 1)
	n := c.nodes[0]
	wrapper := killWrapper(t, c.dir)

	n.must("start", ocfSuccess)
	pid := n.mustPid()
	r := n.runAgent(wrapper, "stop", "OCF_RESKEY_CRM_meta_timeout=7000", "FAKE_KILL_IGNORE=TERM")
	if r.rc != ocfSuccess || r.took < 2*time.Second || r.took > 6*time.Second || n.ownsProcess(pid) {
		t.Fatalf("stop of a broker that ignores SIGTERM (timeout 7 s): %s in %v, still running %v\n%s", r, r.took, n.ownsProcess(pid), r.out)
	}
	t.Logf("SIGTERM ignored: stopped by SIGKILL in %v", r.took.Round(time.Millisecond))

	n.must("start", ocfSuccess)
	pid = n.mustPid()
	r = n.runAgent(wrapper, "stop", "OCF_RESKEY_CRM_meta_timeout=4000", "FAKE_KILL_IGNORE=TERM KILL")
	if r.rc != ocfErrGeneric || r.took > 4*time.Second || !strings.Contains(r.out, "must be fenced") || !n.ownsProcess(pid) {
		t.Fatalf("stop of a broker that survives SIGKILL (timeout 4 s): %s in %v\n%s", r, r.took, r.out)
	}
	t.Logf("SIGKILL survived: stop failed in %v", r.took.Round(time.Millisecond))
	n.must("stop", ocfSuccess)
	if n.ownsProcess(pid) {
		t.Fatal("the broker survived a real stop")
	}
}
