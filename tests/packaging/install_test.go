package packaging

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// make install writes qpidd.conf 0640 (it may hold ha-password), and as
// root without DESTDIR gives it to group qpidd, as the packages do
// (root:qpidd 0640: deb_test.go and rpm_test.go check those). make -n
// shows the commands without running them.
func TestMakeInstallConfMode(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatalf("make is missing (apt-get install make): %v", err)
	}
	cmd := exec.Command("make", "-n", "install", "DESTDIR=/nonexistent")
	cmd.Dir = qpiddtest.Root()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n install: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		"install -m 0640 packaging/qpidd.conf /nonexistent/etc/qpid/qpidd.conf",
		"chgrp qpidd /etc/qpid/qpidd.conf && chmod 0640 /etc/qpid/qpidd.conf",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("make install lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "0644 packaging/qpidd.conf") {
		t.Errorf("make install writes qpidd.conf world-readable:\n%s", text)
	}
}
