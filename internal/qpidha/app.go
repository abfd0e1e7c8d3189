// Package qpidha is qpid-ha, the HA administration tool: the original's
// commands (ping, status, query, replicate and the cluster manager's
// promote), options, output and exit statuses (0 success; 1 failure,
// printed as one line "Error: <reason>", or a status check that does not
// hold; 2 usage errors). It speaks the management protocol of package mgmt
// through mgmt/client, always as an HA administrator, the only kind of
// client a backup broker admits.
package qpidha

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/qpidha/qpidha/internal/mgmt/qpidconfig"
	"github.com/qpidha/qpidha/internal/optparse"
)

const prog = "qpid-ha"

// Option groups of the help.
const (
	catGeneral = "General options"
	catCommand = "Command options"
	catBroker  = "Broker connection options"
)

// Option names used in more than one place.
const (
	optHelp           = "help"
	optClusterManager = "cluster-manager"
	optExpect         = "expect"
	optIsPrimary      = "is-primary"
	optAll            = "all"
	optJSON           = "json"
	optVerbose        = "verbose"
	optDryRun         = "dry-run"
	optBroker         = "broker"
	optTimeout        = "timeout"
	optSASLMechanism  = "sasl-mechanism"
	optSASLService    = "sasl-service-name"
	optSSLCertificate = "ssl-certificate"
	optSSLKey         = "ssl-key"
	optSSLCAFile      = "ssl-ca-file"
	optConfig         = "config"
)

// Defaults of the connection options.
const (
	defaultHost    = "localhost"
	defaultTimeout = "10"
)

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: optHelp, Aliases: []string{"h"}, Usage: "show this help message and exit", Category: catGeneral},
		&cli.BoolFlag{Name: optClusterManager, Usage: "Allow the commands only a cluster manager may use; with --help, list them", Category: catGeneral},

		&cli.StringFlag{Name: optExpect, Usage: "status: don't print the status; exit 0 if it is `<status>`, 1 otherwise. <status> is a state (joining, catchup, ready, recovering, active, standalone), primary (active or recovering) or backup (joining, catchup or ready)", Category: catCommand},
		&cli.BoolFlag{Name: optIsPrimary, Usage: "status: don't print the status; exit 0 if the broker is primary (active or recovering), 1 otherwise", Category: catCommand},
		&cli.BoolFlag{Name: optDryRun, Usage: "promote: don't promote; exit 0 if the broker would accept promotion now (its rules, with a status check of its peers), 1 with its reason otherwise", Category: catCommand},
		&cli.BoolFlag{Name: optAll, Usage: "status, query: print the status or configuration of every broker of the cluster (the addresses of the broker's ha-brokers-url)", Category: catCommand},
		&cli.BoolFlag{Name: optJSON, Usage: "status, query: print the broker's (with --all: every broker's) HA status and configuration as JSON", Category: catCommand},
		&cli.BoolFlag{Name: optVerbose, Usage: "status --all: print a table: address, state, in ready set, epoch, lag (replication events behind the primary), uptime, version", Category: catCommand},

		&cli.StringFlag{Name: optBroker, Aliases: []string{"b"}, Usage: "`<address>` of qpidd broker with syntax: [username/password@] hostname | ip-address [:<port>] (default localhost:5672, the port of --config when it has one; also amqp://host:port)", Category: catBroker},
		&cli.StringFlag{Name: optTimeout, Usage: "Give up if the broker does not respond within `<seconds>`: connecting and each answer; also the connection heartbeat. 0 means wait forever (default 10, or link-heartbeat-interval of --config)", Category: catBroker},
		&cli.StringFlag{Name: optSASLMechanism, Usage: "SASL `<mech>` for authentication: SCRAM-SHA-256, PLAIN, ANONYMOUS or EXTERNAL (default: ha-mechanism of --config; else with a user name SCRAM-SHA-256 if the broker offers it, else PLAIN; without one EXTERNAL on TLS with a client certificate if offered, else ANONYMOUS)", Category: catBroker},
		&cli.StringFlag{Name: optSASLService, Usage: "SASL service `<name>` to use (accepted for compatibility; unused)", Category: catBroker},
		&cli.StringFlag{Name: optSSLCertificate, Usage: "Client SSL certificate `<cert>` (PEM Format) for ssl: broker addresses", Category: catBroker},
		&cli.StringFlag{Name: optSSLKey, Usage: "Client SSL private `<key>` (PEM Format; default: in the certificate's file)", Category: catBroker},
		&cli.StringFlag{Name: optSSLCAFile, Usage: "PEM `<file>` of the CAs that sign the brokers' certificates, for ssl: broker addresses (default: ssl-ca-file of --config, else the system's)", Category: catBroker},
		&cli.StringFlag{Name: optConfig, Usage: "Read default connection settings from the broker configuration file `<path/to/qpidd.conf>`: user, password and mechanism from ha-username, ha-password and ha-mechanism (not with auth=no: the broker then offers ANONYMOUS only), the port from port (ssl-port for ssl: addresses), the timeout from link-heartbeat-interval, the CA file from ssl-ca-file and the client certificate from ssl-cert-file and ssl-key-file (unless --ssl-certificate is given); QPID_<OPTION> environment variables override its entries and command-line options override both", Category: catBroker},
	}
}

// command is one of qpid-ha's commands.
type command struct {
	name    string
	args    []string // names of the positional arguments
	options []string // the command options it takes
	summary string   // one line for the command list
	help    string   // the rest of its help
	manager bool     // only with --cluster-manager
	run     func(inv *invocation) error
}

// commands in the order the help lists them.
func commands() []*command {
	return []*command{
		{name: "ping", summary: "Check if the broker is alive and responding.",
			help: "Connects and asks the broker a trivial question; exit 0 if it answers, 1 otherwise.",
			run:  ping},
		{name: "status", options: []string{optExpect, optIsPrimary, optAll, optJSON, optVerbose}, summary: "Print HA status.",
			help: "Prints the broker's HA status, one word: joining, catchup, ready, recovering, active or " +
				"standalone (a broker that is not in a cluster). With --all, prints a line `<address> <status>` " +
				"(or `<address> <error>`) for every broker of the cluster; with --all --verbose a table of them; " +
				"with --json the status as JSON. --expect and --is-primary print nothing and answer with the exit status.",
			run: status},
		{name: "replicate", args: []string{"<remote-broker>", "<queue>"},
			summary: "Replicate <queue> from the same-named queue on <remote-broker>.",
			help: "Sets up replication to <queue> on the current broker from the same-named queue on <remote-broker>. " +
				"Example: qpid-ha replicate -b node2 node1 myqueue replicates myqueue of node1 to node2.",
			run: replicate},
		{name: "query", options: []string{optAll, optJSON}, summary: "Print HA configuration and status.",
			help: "Prints the broker's status, broker id, ha-brokers-url, ha-public-url and ha-replicate default; " +
				"with --all, of every broker of the cluster.",
			run: query},
		{name: "promote", manager: true, options: []string{optDryRun},
			summary: "[Cluster manager only] Promote a backup broker to primary.",
			help: "This command should *only* be used by a cluster manager (such as rgmanager or pacemaker) that " +
				"ensures only one broker is primary at a time. Promoting more than one broker to primary at the same " +
				"time will make the cluster inconsistent and will cause data loss and unexpected behavior. The broker " +
				"allows it only to an administrator, and refuses while it is catching up, while another broker is primary, " +
				"and, in a restarted cluster, unless it may lead and no reachable peer that may holds more. --dry-run " +
				"asks only whether it would accept (the OCF agent's first start does).",
			run: promote},
	}
}

func findCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (c *command) usage() string {
	u := fmt.Sprintf("Usage: %s [OPTIONS] %s", prog, c.name)
	if c.manager {
		u = fmt.Sprintf("Usage: %s --cluster-manager [OPTIONS] %s", prog, c.name)
	}
	for _, a := range c.args {
		u += " " + a
	}
	for _, o := range c.options {
		switch o {
		case optExpect:
			u += " [--expect=<status>]"
		default:
			u += " [--" + o + "]"
		}
	}
	return u
}

func (c *command) takes(option string) bool {
	for _, o := range c.options {
		if o == option {
			return true
		}
	}
	return false
}

// generalUsage is the first line of the general help and of usage errors
// that are about no particular command.
const generalUsage = "Usage: " + prog + " [OPTIONS] <command> [<arguments>]"

// usageError is a command line mistake: exit 2 with a usage line.
type usageError struct {
	msg   string
	usage string // the usage line that applies; "" for the general one
}

func (e *usageError) Error() string { return e.msg }

func usagef(usageLine, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: usageLine}
}

// exitStatus ends qpid-ha with a status and no message: a status check
// (--expect, --is-primary) that does not hold.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Main runs qpid-ha with its arguments (without the program name) and the
// environment (for the QPID_<OPTION> variables that override --config's
// entries) and returns the exit status.
func Main(args, environ []string, stdout, stderr io.Writer) int {
	return exit(runArgs(args, environ, stdout, func(inv *invocation) error { return inv.cmd.run(inv) }), stderr)
}

// runArgs reads the command line, answers help, and hands a checked
// invocation to act.
func runArgs(args, environ []string, stdout io.Writer, act func(*invocation) error) error {
	fl := flags()
	ordered, err := qpidconfig.Reorder(args, fl)
	if err != nil {
		// Reorder's only error is an option missing its value.
		return &usageError{msg: err.Error()}
	}
	opts, pos := ordered, []string(nil)
	for i, a := range ordered {
		if a == "--" {
			opts, pos = ordered[:i], ordered[i+1:]
			break
		}
	}
	// Help is answered here: urfave/cli's own would show its template, and
	// help wins over mistakes in the other options.
	manager := false
	help := len(pos) > 0 && (pos[0] == "help" || pos[0] == "help-all")
	takesValue := map[string]bool{}
	for _, f := range fl {
		df, ok := f.(cli.DocGenerationFlag)
		for _, n := range f.Names() {
			takesValue[n] = ok && df.TakesValue()
		}
	}
	for i := 0; i < len(opts); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(opts[i], "-"), "=")
		if takesValue[name] && !hasValue {
			i++ // its value, whatever it looks like
			continue
		}
		switch name {
		case "h", optHelp:
			help = true
		case optClusterManager:
			on, err := strconv.ParseBool(value)
			manager = !hasValue || (err == nil && on)
		}
	}
	if help {
		return writeHelp(stdout, fl, pos, manager)
	}
	app := &cli.App{
		Name:        prog,
		HelpName:    prog,
		Flags:       fl,
		HideHelp:    true,
		HideVersion: true,
		Writer:      stdout,
		ErrWriter:   io.Discard,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: flagError(err)}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // Main decides the exit status
		Action: func(c *cli.Context) error {
			inv, err := parse(c, environ, stdout)
			if err != nil {
				return err
			}
			return act(inv)
		},
	}
	return app.Run(append([]string{prog}, ordered...))
}

// exit prints an error and returns the exit status for it.
func exit(err error, stderr io.Writer) int {
	var ue *usageError
	var es exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue):
		u := ue.usage
		if u == "" {
			u = generalUsage
		}
		fmt.Fprintf(stderr, "%s\n\n%s: error: %s (%s --help lists the commands and options)\n", u, prog, ue.msg, prog)
		return 2
	default:
		fmt.Fprintf(stderr, "Error: %s\n", oneLine(err.Error()))
		return 1
	}
}

// The original's wording of option errors (internal/optparse).
func flagError(err error) string { return optparse.FlagError(err, "invalid value") }

var (
	dashes  = optparse.Dashes
	oneLine = optparse.OneLine
)

// managerOnly is the refusal of a cluster manager's command called without
// --cluster-manager.
func managerOnly(name string) error {
	return fmt.Errorf("'%s' should only be called by the cluster manager. Incorrect use of '%s' will cause cluster "+
		"malfunction (more than one primary, lost messages). To call from a cluster manager use '%s --cluster-manager %s'.",
		name, name, prog, name)
}

// writeHelp prints the general help (no command, "help"), every command's
// help ("help-all") or one command's help. The cluster manager's commands
// are shown only with --cluster-manager.
func writeHelp(w io.Writer, fl []cli.Flag, pos []string, manager bool) error {
	visible := func(c *command) bool { return manager || !c.manager }
	if len(pos) > 0 && pos[0] == "help-all" {
		first := true
		for _, c := range commands() {
			if visible(c) {
				if !first {
					fmt.Fprintln(w)
				}
				first = false
				writeCommandHelp(w, fl, c)
			}
		}
		return nil
	}
	if len(pos) > 1 && pos[0] == "help" {
		pos = pos[1:] // help <command>
	}
	if len(pos) > 0 && pos[0] != "help" {
		c := findCommand(pos[0])
		switch {
		case c == nil:
			return usagef("", "unknown command %q", pos[0])
		case !visible(c):
			return managerOnly(c.name)
		}
		writeCommandHelp(w, fl, c)
		return nil
	}
	fmt.Fprintf(w, "%s\n\nCommands are:\n\n", generalUsage)
	for _, c := range commands() {
		if visible(c) {
			fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nFor help with a command type: %s <command> --help (%s help-all: every command)\n", prog, prog)
	fmt.Fprintf(w, "Options may come before or after the command and its arguments.\n")
	fmt.Fprintf(w, "Exit status: 0 success; 1 failure (\"Error: <reason>\") or a status check that does not hold; 2 usage error.\n")
	writeOptions(w, fl, func(f cli.Flag) bool { return category(f) != catCommand })
	return nil
}

func writeCommandHelp(w io.Writer, fl []cli.Flag, c *command) {
	fmt.Fprintf(w, "%s\n\n%s\n", c.usage(), c.summary)
	if c.help != "" {
		fmt.Fprintln(w)
		for _, l := range wrap(c.help, 78) {
			fmt.Fprintln(w, l)
		}
	}
	writeOptions(w, fl, func(f cli.Flag) bool {
		return category(f) != catCommand || c.takes(f.Names()[0])
	})
}

func category(f cli.Flag) string {
	if cf, ok := f.(cli.CategorizableFlag); ok {
		return cf.GetCategory()
	}
	return ""
}

// writeOptions prints the options show accepts, grouped, optparse style.
func writeOptions(w io.Writer, fl []cli.Flag, show func(cli.Flag) bool) {
	var groups []string
	byGroup := map[string][]cli.Flag{}
	for _, f := range fl {
		if !show(f) {
			continue
		}
		cat := category(f)
		if _, seen := byGroup[cat]; !seen {
			groups = append(groups, cat)
		}
		byGroup[cat] = append(byGroup[cat], f)
	}
	const col, width = 32, 80
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g)
		for _, f := range byGroup[g] {
			df := f.(cli.DocGenerationFlag)
			placeholder, text := placeholderOf(df.GetUsage())
			var names []string
			for _, n := range f.Names() {
				s := dashes(n)
				if df.TakesValue() {
					s += " " + placeholder
				}
				names = append(names, s)
			}
			// Short names first, as optparse prints them.
			sort.SliceStable(names, func(i, j int) bool { return len(names[i]) < len(names[j]) && names[i][1] != '-' })
			lead := "  " + strings.Join(names, ", ")
			if len(lead) >= col-1 {
				fmt.Fprintln(w, lead)
				lead = ""
			}
			for _, l := range wrap(text, width-col) {
				fmt.Fprintf(w, "%-*s%s\n", col, lead, l)
				lead = ""
			}
		}
	}
}

// placeholderOf takes the `<placeholder>` out of a usage text.
func placeholderOf(usage string) (string, string) {
	start := strings.IndexByte(usage, '`')
	if start < 0 {
		return "<value>", usage
	}
	end := strings.IndexByte(usage[start+1:], '`')
	if end < 0 {
		return "<value>", usage
	}
	name := usage[start+1 : start+1+end]
	return name, usage[:start] + name + usage[start+1+end+1:]
}

// wrap breaks text into lines of at most width characters.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
