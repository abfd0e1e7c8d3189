package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The manual pages name every option the broker takes (they are made from
// the same table), and groff reads them without a warning.
func TestManPages(t *testing.T) {
	pages := map[string]string{"qpidd.8": ManQpidd("1.0"), "qpidd.conf.5": ManConf("1.0")}
	for _, op := range options {
		name := roff(op.name)
		if !strings.Contains(pages["qpidd.8"], `\-\-`+name+`\fR`) {
			t.Errorf("qpidd(8) lacks --%s", op.name)
		}
		if op.group != groupObsolete && op.kind != kindSwitch && !strings.Contains(pages["qpidd.conf.5"], `\fB`+name+`\fR=`) {
			t.Errorf("qpidd.conf(5) lacks %s", op.name)
		}
	}
	dir := t.TempDir()
	for name, text := range pages {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z", path).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("groff on %s: %v\n%s", name, err, out)
		}
	}
}
