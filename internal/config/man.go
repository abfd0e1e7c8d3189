package config

import (
	"fmt"
	"strings"
)

// The manual pages qpidd(8) and qpidd.conf(5), made from the option table
// itself (as Help is), so that they cannot drift from what the broker
// takes. packaging/man writes them at build time.

// ManQpidd is qpidd(8), in man(7) markup.
func ManQpidd(version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH QPIDD 8 \"\" \"qpidha %s\" \"System Administration\"\n", roff(version))
	b.WriteString(`.SH NAME
qpidd \- AMQP 1.0 message broker with active-passive high availability (qpidha)
.SH SYNOPSIS
.B qpidd
.RI [ OPTIONS ]
.SH DESCRIPTION
.B qpidd
is an AMQP 1.0 broker: queues, exchanges and bindings, a durable store per
broker for durable queues and persistent messages, and an HA module that
keeps hot-standby backups of a primary (ha\-cluster=yes), which a cluster
manager (Pacemaker with the OCF agent, or rgmanager) promotes.
.PP
Options are read from the command line, then from
.BI QPID_ OPTION
environment variables (QPID_PORT, QPID_HA_BROKERS_URL, ...), then from the
configuration file (see
.BR qpidd.conf (5)),
then defaults; the first found is used.
SECONDS values take fractions and units: 0.1, 10, 10s, 10ms.
URL values: [amqp:][user[/password]@]addr,... with addr [tcp:|ssl:]host[:port].
.SH OPTIONS
`)
	for _, g := range groupOrder {
		if g == groupObsolete {
			continue
		}
		fmt.Fprintf(&b, ".SS %s options\n", g)
		for _, op := range options {
			if op.group == g {
				fmt.Fprintf(&b, ".TP\n%s\n%s\n", manSynopsis(op), roff(op.help))
			}
		}
	}
	b.WriteString(".SS Obsolete options\nOptions of the original broker, accepted so that existing configuration\nfiles keep working, and ignored with a warning:\n")
	for _, op := range options {
		if op.group == groupObsolete {
			fmt.Fprintf(&b, ".TP\n%s\n%s\n", manSynopsis(op), roff(op.obsolete))
		}
	}
	b.WriteString(`.SH FILES
.TP
/etc/qpid/qpidd.conf
the configuration file (\-\-config)
.TP
/var/lib/qpidd
the data directory: its lock, the HA state (ha\-state.json) and the
store's journal (journal/, unless store\-dir is set)
.SH EXIT STATUS
0 after an orderly shutdown (SIGTERM); 1 when the broker cannot start, or
stopped itself (a failed store, a stale HA primary).
.SH SEE ALSO
.BR qpidd.conf (5)
`)
	return b.String()
}

// ManConf is qpidd.conf(5), in man(7) markup.
func ManConf(version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH QPIDD.CONF 5 \"\" \"qpidha %s\" \"File Formats\"\n", roff(version))
	b.WriteString(`.SH NAME
qpidd.conf \- configuration file of the qpidd broker
.SH DESCRIPTION
.BR qpidd (8)
reads /etc/qpid/qpidd.conf (or the file \-\-config names): one
.IR name = value
per line, the name of a long option without its dashes; a line starting
with # is a comment. An option given on the command line or in a
.BI QPID_ OPTION
environment variable wins over the file. A name the broker does not know
is an error, with the line it is on.
.SH OPTIONS
`)
	for _, g := range groupOrder {
		if g == groupObsolete {
			continue
		}
		fmt.Fprintf(&b, ".SS %s\n", g)
		for _, op := range options {
			if op.group != g || op.kind == kindSwitch && (op.name == "help" || op.name == "version" || op.name == "config") {
				continue
			}
			fmt.Fprintf(&b, ".TP\n%s\n%s\n", confSynopsis(op), roff(op.help))
		}
	}
	b.WriteString(`.SH EXAMPLE
.nf
port=5672
data\-dir=/var/lib/qpidd
ha\-cluster=yes
ha\-brokers\-url=node1,node2,node3
ha\-replicate=all
link\-heartbeat\-interval=10
.fi
.SH SEE ALSO
.BR qpidd (8)
`)
	return b.String()
}

// manSynopsis is an option's tag: "\-p, \-\-port PORT (default: 5672)".
func manSynopsis(op *option) string {
	s := `\fB`
	if op.short != 0 {
		s += fmt.Sprintf(`\-%c\fR, \fB`, op.short)
	}
	s += `\-\-` + roff(op.name) + `\fR`
	if op.kind != kindSwitch && op.arg != "" {
		if op.kind == kindBool {
			s += ` [\fI` + roff(op.arg) + `\fR]`
		} else {
			s += ` \fI` + roff(op.arg) + `\fR`
		}
	}
	return s + manDefault(op)
}

// confSynopsis is an option's tag in the file: "port=PORT (default: 5672)".
func confSynopsis(op *option) string {
	arg := op.arg
	if arg == "" {
		arg = "yes|no"
	}
	return `\fB` + roff(op.name) + `\fR=\fI` + roff(arg) + `\fR` + manDefault(op)
}

func manDefault(op *option) string {
	switch {
	case op.defHelp != "":
		return " (default: " + roff(op.defHelp) + ")"
	case op.def != "":
		return " (default: " + roff(op.def) + ")"
	}
	return ""
}

// roff escapes text for man(7): backslashes, dashes, and a leading dot or
// quote that would start a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
