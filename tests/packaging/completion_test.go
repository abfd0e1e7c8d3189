package packaging

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// Bash completion from each program's own --help: commands, actions and
// options complete.
func TestBashCompletion(t *testing.T) {
	script := filepath.Join(qpiddtest.Root(), "packaging", "bash-completion", "qpidha")
	bin := filepath.Dir(qpiddtest.Bin(t, "qpidd"))
	for _, c := range []struct{ line, want string }{
		{"qpid-ha st", "status"},
		{"qpid-ha q", "query"},
		{"qpidd --ha-clu", "--ha-cluster"},
		{"qpidd --ha-backup-l", "--ha-backup-lag-timeout"},
		{"qpid-config qu", "queues"},
		{"qpid-config --dur", "--durable"},
		{"qpidd-primary sta", "start status"},
		{"qpidd-users re", "remove"},
	} {
		words := strings.Fields(c.line)
		sh := `. "$1"; COMP_WORDS=(` + c.line + `); COMP_CWORD=` + itoa(len(words)-1) + `; _qpidha_complete; echo "${COMPREPLY[*]}"`
		cmd := exec.Command("bash", "-c", sh, "bash", script)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%q completes to %q (%v), want %q", c.line, strings.TrimSpace(string(out)), err, c.want)
		}
	}
}

func itoa(n int) string { return string(rune('0' + n)) }
