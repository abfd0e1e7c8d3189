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

// unit is a unit of packaging/systemd with its programs pointing at those
// under test (systemd-analyze verify wants them to exist).
func unit(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(qpiddtest.Root(), "packaging", "systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer("=/usr/sbin/qpidd ", "="+qpiddtest.Bin(t, "qpidd")+" ",
		"=/usr/bin/qpidd-primary ", "="+qpiddtest.Bin(t, "qpidd-primary")+" ").Replace(string(data))
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// systemd-analyze verify finds nothing wrong with the units (their manual
// pages are checked by TestManPages and package-test: not installed here).
func TestUnitVerifies(t *testing.T) {
	for _, name := range []string{"qpidd.service", "qpidd-primary.service"} {
		out, err := exec.Command("systemd-analyze", "verify", "--man=no", unit(t, name)).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

// The unit's hardening: systemd's exposure score at most 4.0 ("OK").
func TestUnitExposure(t *testing.T) {
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", unit(t, "qpidd.service")).CombinedOutput()
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
