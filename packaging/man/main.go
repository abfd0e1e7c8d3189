// Command man writes the manual pages: qpidd.8 and qpidd.conf.5 from the
// broker's option table (internal/config), and, with -bin, a page for each
// command-line tool made from its own --help (which its flag definitions
// make), so that no page can drift from its program:
//
//	go run ./packaging/man -o DIR [-version V] [-bin DIR-OF-BUILT-PROGRAMS]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/qpidha/qpidha/internal/config"
)

// tools are the programs whose pages come from their --help, with their
// section and a one-line summary for NAME.
var tools = []struct{ name, section, summary string }{
	{"qpid-ha", "1", "administer the HA state of qpidd brokers (status, query, replicate, promote)"},
	{"qpid-config", "1", "manage the queues, exchanges and bindings of a qpidd broker"},
	{"qpidd-primary", "8", "make the local qpidd broker the HA cluster's primary (the cluster manager's service)"},
	{"qpidd-users", "8", "manage the user database of qpidd (SCRAM-SHA-256 credentials)"},
	{"qpid-cluster-conf", "1", "generate cluster.conf, pcs scripts and qpidd.conf files for a qpidd HA cluster"},
}

func main() {
	dir := flag.String("o", ".", "the directory to write the pages into")
	version := flag.String("version", "dev", "the version the pages name")
	bin := flag.String("bin", "", "the directory of the built programs: also write the tools' pages")
	flag.Parse()
	pages := map[string]string{
		"qpidd.8":      config.ManQpidd(*version),
		"qpidd.conf.5": config.ManConf(*version),
	}
	if *bin != "" {
		for _, t := range tools {
			out, err := exec.Command(filepath.Join(*bin, t.name), "--help").Output()
			if err != nil {
				fail(fmt.Errorf("%s --help: %v", t.name, err))
			}
			pages[t.name+"."+t.section] = toolPage(t.name, t.section, t.summary, *version, out)
		}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fail(err)
	}
	for name, text := range pages {
		if err := os.WriteFile(filepath.Join(*dir, name), []byte(text), 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "man:", err)
	os.Exit(1)
}

// toolPage is a page whose description is the program's --help, verbatim.
func toolPage(name, section, summary, version string, help []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s %s \"\" \"qpidha %s\" \"qpidha\"\n", strings.ToUpper(esc(name)), section, esc(version))
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", esc(name), esc(summary))
	b.WriteString(".SH DESCRIPTION\nThe program's own help (" + esc(name) + " \\-\\-help):\n.PP\n.nf\n")
	for _, line := range strings.Split(string(bytes.TrimRight(help, "\n")), "\n") {
		line = esc(line)
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			line = `\&` + line
		}
		b.WriteString(line + "\n")
	}
	b.WriteString(".fi\n.SH SEE ALSO\n.BR qpidd (8)\n")
	return b.String()
}

func esc(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\e`), "-", `\-`) }
