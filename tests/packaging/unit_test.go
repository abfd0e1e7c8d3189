// Package packaging checks what the packages install: the systemd unit
// (systemd-analyze verify and its security exposure) and the manual pages.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// unit is qpidd.service with its ExecStart pointing at the qpidd under
// test (systemd-analyze verify wants the program to exist).
func unit(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(qpiddtest.Root(), "packaging", "systemd", "qpidd.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "ExecStart=/usr/sbin/qpidd", "ExecStart="+qpiddtest.Bin(t, "qpidd"), 1)
	path := filepath.Join(t.TempDir(), "qpidd.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// systemd-analyze verify finds nothing wrong with the unit (its manual
// page is checked by TestManPages: not installed here).
func TestUnitVerifies(t *testing.T) {
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit(t)).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The unit's hardening: systemd's exposure score at most 4.0 ("OK").
func TestUnitExposure(t *testing.T) {
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", unit(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for qpidd.service: ([0-9.]+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("exposure %.1f", score)
	if score > 4.0 {
		t.Fatalf("qpidd.service's exposure is %.1f, above 4.0:\n%s", score, out)
	}
}
