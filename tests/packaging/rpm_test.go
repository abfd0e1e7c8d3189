//go:build packagetest

package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The RPMs for EL6 (SysV scripts, a gzip payload rpm 4.8 reads) and EL7-9
// (systemd units): their files, owners and modes, their scriptlets
// (nothing enabled or started; only the unit stopped on removal), and
// rpmlint without an error.
func TestRPMs(t *testing.T) {
	dir := os.Getenv("QPIDHA_RPM_DIR")
	if dir == "" {
		t.Fatal("QPIDHA_RPM_DIR: where make packages put the RPMs (make package-test sets it)")
	}
	for _, el := range []string{"el6", "el7"} {
		matches, _ := filepath.Glob(filepath.Join(dir, "qpidha-*."+el+".x86_64.rpm"))
		if len(matches) != 1 {
			t.Fatalf("%s: RPMs %v", el, matches)
		}
		rpm := matches[0]
		files := run(t, "rpm", "-qlvp", rpm)
		for _, want := range []string{"/usr/sbin/qpidd", "/usr/bin/qpid-ha", "/usr/bin/qpid-config", "/usr/bin/qpidd-primary",
			"/usr/bin/qpidd-users", "/usr/bin/qpid-cluster-conf", "/usr/lib/ocf/resource.d/qpid/qpidd",
			"/etc/sysconfig/qpidd", "/etc/logrotate.d/qpidha", "/usr/share/man/man8/qpidd.8.gz",
			"/usr/share/man/man5/qpidd.conf.5.gz", "/usr/share/man/man1/qpid-ha.1.gz",
			"/usr/share/bash-completion/completions/qpidha", "/usr/share/bash-completion/completions/qpid-ha"} {
			if !strings.Contains(files, " "+want+"\n") && !strings.Contains(files, " "+want+" -> ") {
				t.Errorf("%s lacks %s", el, want)
			}
		}
		for path, mode := range map[string]string{"/etc/qpid/qpidd.conf": "-rw-r-----", "/var/lib/qpidd": "drwxr-x---"} {
			line := lineWith(files, " "+path+"\n")
			if !strings.HasPrefix(line, mode) || !strings.Contains(line, " root ") && path == "/etc/qpid/qpidd.conf" || !strings.Contains(line, " qpidd ") {
				t.Errorf("%s %s: %q, want %s with group qpidd", el, path, line, mode)
			}
		}
		scripts := run(t, "rpm", "-qp", "--scripts", rpm)
		if !strings.Contains(scripts, "useradd -r -g qpidd") {
			t.Errorf("%s makes no qpidd user:\n%s", el, scripts)
		}
		for _, never := range []string{"systemctl enable", "systemctl start", "systemctl --no-reload enable", "chkconfig qpidd on", "service qpidd start", "/etc/init.d/qpidd stop"} {
			if strings.Contains(scripts, never) {
				t.Errorf("%s's scriptlets run %q", el, never)
			}
		}
		payload := strings.TrimSpace(run(t, "rpm", "-qp", "--qf", "%{PAYLOADCOMPRESSOR}", rpm))
		switch el {
		case "el6":
			if !strings.Contains(files, " /etc/rc.d/init.d/qpidd\n") || !strings.Contains(files, " /etc/rc.d/init.d/qpidd-primary\n") ||
				strings.Contains(files, "systemd") {
				t.Errorf("el6: want the SysV scripts and no unit:\n%s", files)
			}
			if payload != "gzip" {
				t.Errorf("el6's payload is %s: EL6's rpm 4.8 reads gzip", payload)
			}
			if !strings.Contains(scripts, "chkconfig --add qpidd") {
				t.Errorf("el6 does not register its scripts:\n%s", scripts)
			}
		case "el7":
			if !strings.Contains(files, " /usr/lib/systemd/system/qpidd.service\n") || strings.Contains(files, "init.d") {
				t.Errorf("el7: want the units and no SysV script:\n%s", files)
			}
			if !strings.Contains(scripts, "stop qpidd.service") {
				t.Errorf("el7 does not stop the unit on removal:\n%s", scripts)
			}
		}
		// The payload, unpacked: built with Go 1.23.
		root := t.TempDir()
		unpack := exec.Command("sh", "-c", `rpm2cpio "$1" | cpio -idm --quiet`, "sh", rpm)
		unpack.Dir = root
		if out, err := unpack.CombinedOutput(); err != nil {
			t.Fatalf("unpacking %s: %v\n%s", rpm, err, out)
		}
		checkBuiltWithGo123(t, filepath.Join(root, "usr/sbin/qpidd"), filepath.Join(root, "usr/bin/qpid-ha"))
		out, err := exec.Command("rpmlint", "-c", filepath.Join("..", "..", "rpm", "rpmlint.toml"), rpm).CombinedOutput()
		if err != nil || !strings.Contains(string(out), " 0 errors") {
			t.Errorf("rpmlint %s: %v\n%s", el, err, out)
		}
	}
}

func lineWith(text, part string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l+"\n", part) {
			return l
		}
	}
	return ""
}
