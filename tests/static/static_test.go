// Package static checks that the programs are static binaries: no dynamic
// loader, no shared library, no glibc symbol version, so they run on any
// distribution's glibc (EL6 has 2.12; a cgo build needed 2.34).
package static

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

var programs = []string{"qpidd", "qpidd-primary", "qpid-config", "qpid-ha", "qpidd-users", "qpid-cluster-conf"}

func TestStaticBinaries(t *testing.T) {
	for _, name := range programs {
		path := qpiddtest.Bin(t, name)
		out, err := exec.Command("file", "-b", path).Output()
		if err != nil {
			t.Fatalf("file %s: %v", path, err)
		}
		if f := string(out); !strings.Contains(f, "statically linked") || strings.Contains(f, "interpreter") {
			t.Errorf("%s is not a static binary: %s", name, strings.TrimSpace(f))
		}
		out, err = exec.Command("objdump", "-p", path).CombinedOutput()
		if err != nil {
			t.Fatalf("objdump -p %s: %v\n%s", path, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && (f[0] == "NEEDED" || f[0] == "INTERP") {
				t.Errorf("%s depends on a shared object: %s", name, strings.TrimSpace(line))
			}
		}
		if out, err = exec.Command("objdump", "-T", path).CombinedOutput(); err == nil && strings.Contains(string(out), "GLIBC_") {
			t.Errorf("%s references glibc symbol versions:\n%s", name, out)
		}
	}
}
