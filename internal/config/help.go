package config

import (
	"fmt"
	"strings"
)

const (
	helpIndent = 2
	helpColumn = 40 // where descriptions start
	helpWidth  = 80
)

// Help returns the broker's --help text: usage, how options are read, and
// every option by group (General, Daemon, Logging, Security, HA, Store) with
// its default, then the obsolete options that are accepted and ignored.
func Help() string {
	var b strings.Builder
	b.WriteString(`Usage: qpidd [OPTIONS]

Options are read from the command line, then from QPID_<OPTION> environment
variables (QPID_PORT, QPID_HA_BROKERS_URL, ...), then from the configuration
file (name=value lines), then defaults; the first found is used.
SECONDS values take fractions and units: 0.1, 10, 10s, 10ms, 10us, 10ns.
URL values: [amqp:][user[/password]@]addr,... with addr [tcp:|ssl:]host[:port].
`)
	for _, g := range groupOrder {
		if g == groupObsolete {
			continue
		}
		fmt.Fprintf(&b, "\n%s options:\n", g)
		for _, op := range options {
			if op.group != g {
				continue
			}
			left := strings.Repeat(" ", helpIndent) + op.synopsis()
			writeWrapped(&b, left, op.help)
		}
	}
	b.WriteString("\nObsolete options of the original, accepted so that existing configuration\nfiles keep working, and ignored with a warning:\n")
	for _, op := range options {
		if op.group == groupObsolete {
			writeWrapped(&b, strings.Repeat(" ", helpIndent)+op.synopsis(), op.obsolete)
		}
	}
	return b.String()
}

// synopsis is the left column: "-p [ --port ] PORT (5672)", as boost prints it.
func (op *option) synopsis() string {
	var s string
	if op.short != 0 {
		s = fmt.Sprintf("-%c [ --%s ]", op.short, op.name)
	} else {
		s = "--" + op.name
	}
	if op.kind != kindSwitch && op.arg != "" {
		if op.kind == kindBool {
			s += " [" + op.arg + "]"
		} else {
			s += " " + op.arg
		}
	}
	switch {
	case op.defHelp != "":
		s += " (" + op.defHelp + ")"
	case op.def != "":
		s += " (" + op.def + ")"
	}
	return s
}

// writeWrapped writes left, then text wrapped into the description column.
func writeWrapped(b *strings.Builder, left, text string) {
	b.WriteString(left)
	col := len(left)
	if col >= helpColumn-1 {
		b.WriteString("\n")
		col = 0
	}
	first := true
	for _, w := range strings.Fields(text) {
		if !first && col+1+len(w) > helpWidth {
			b.WriteString("\n")
			col = 0
			first = true
		}
		if first {
			b.WriteString(strings.Repeat(" ", helpColumn-col))
			col = helpColumn
		} else {
			b.WriteString(" ")
			col++
		}
		b.WriteString(w)
		col += len(w)
		first = false
	}
	b.WriteString("\n")
}

// Dump renders every current option's value and where it came from, one per
// line in configuration file syntax ("port=5672  # default"), for debugging.
// Passwords are masked; list options are one line per value.
func (o *Options) Dump() string {
	var b strings.Builder
	for _, op := range options {
		if op.field == nil || op.kind == kindSwitch && (op.name == "help" || op.name == "version") {
			continue
		}
		src := o.Source(op.name)
		if op.isList() {
			vals := *op.field(o).(*[]string)
			if len(vals) == 0 {
				fmt.Fprintf(&b, "# %s not set  # %s\n", op.name, src)
			}
			for _, v := range vals {
				fmt.Fprintf(&b, "%s=%s  # %s\n", op.name, v, src)
			}
			continue
		}
		v := op.format(o)
		if strings.HasSuffix(op.name, "password") && v != "" {
			v = "****"
		}
		fmt.Fprintf(&b, "%s=%s  # %s\n", op.name, v, src)
	}
	return b.String()
}
