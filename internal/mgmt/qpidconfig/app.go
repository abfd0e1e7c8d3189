// Package qpidconfig is qpid-config: the original qpid-config's commands,
// options, output and exit codes (0 success; 1 failure, printed as one line
// "Error: <reason>"; 2 usage errors), speaking the management protocol of
// package mgmt through mgmt/client.
package qpidconfig

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/qpidha/qpidha/internal/optparse"
)

const usage = `Usage:  qpid-config [OPTIONS]
        qpid-config [OPTIONS] exchanges [filter-string]
        qpid-config [OPTIONS] queues    [filter-string]
        qpid-config [OPTIONS] add exchange <type> <name> [AddExchangeOptions]
        qpid-config [OPTIONS] del exchange <name>
        qpid-config [OPTIONS] add queue <name> [AddQueueOptions]
        qpid-config [OPTIONS] del queue <name> [DelQueueOptions]
        qpid-config [OPTIONS] bind   <exchange-name> <queue-name> [binding-key]
                  <for type xml>     [-f -|filename]
                  <for type header>  [all|any] k1=v1 [, k2=v2...]
        qpid-config [OPTIONS] unbind <exchange-name> <queue-name> [binding-key]
        qpid-config [OPTIONS] reload-acl
        qpid-config [OPTIONS] add <type> <name> [--argument <property-name>=<property-value>]
        qpid-config [OPTIONS] del <type> <name>
        qpid-config [OPTIONS] list <type> [--show-property <property-name>]
        qpid-config [OPTIONS] log [<logstring>]
        qpid-config [OPTIONS] shutdown`

const description = `Options may come before or after the command and its arguments.

Examples:

$ qpid-config add queue q
$ qpid-config add queue q --durable --replicate all --max-queue-count 1000 --limit-policy ring
$ qpid-config add exchange direct d -a localhost:5672
$ qpid-config bind amq.match q key all color=red size=big
$ qpid-config exchanges -b 10.1.1.7:10000
$ qpid-config queues -b guest/guest@broker-host:10000

Add Exchange <type> values:

    direct     Direct exchange for point-to-point communication
    fanout     Fanout exchange for broadcast communication
    topic      Topic exchange that routes messages using binding keys with wildcards
    headers    Headers exchange that matches header fields against the binding keys

Queue Limit Actions:

    none (default) - Use broker's default policy
    reject         - Reject enqueued messages
    ring           - Replace oldest unacquired message with new

Replication levels:

    none           - no replication
    configuration  - replicate queue and exchange existence and bindings, but not messages.
    all            - replicate configuration and messages

<type> of add, del and list: queue, exchange, binding, broker, connection, store
(the durable store's figures: list store --show-property journalBytes ...), or a
full management type name such as org.apache.qpid.broker:queue.

Exit status: 0 success; 1 failure ("Error: <reason>"); 2 usage error.
`

// Option groups, as the original's help shows them.
const (
	catGeneral  = "General Options"
	catList     = "Options for Listing Exchanges and Queues"
	catAdd      = "Options for Adding Exchanges and Queues"
	catQueue    = "Options for Adding Queues"
	catExchange = "Options for Adding Exchanges"
	catDelete   = "Options for Deleting Queues"
	catBind     = "Options for Declaring Bindings"
	catFormat   = "Formatting options for 'list' action"
)

func flags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show this help message and exit", Category: catGeneral},
		&cli.StringFlag{Name: "timeout", Aliases: []string{"t"}, Value: "10", Usage: "Maximum time to wait for broker connection and for each answer, in `<secs>` (default 10; 0: wait forever)", Category: catGeneral},
		&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "Show bindings in queue or exchange list", Category: catGeneral},
		&cli.StringFlag{Name: "broker", Aliases: []string{"b"}, Value: "localhost:5672", Usage: "`<address>` of qpidd broker with syntax: [username/password@] hostname | ip-address [:<port>] (default localhost:5672; also amqp://host:port)", Category: catGeneral},
		&cli.StringFlag{Name: "broker-addr", Aliases: []string{"a"}, Usage: "`<address>`: same as --broker", Category: catGeneral},
		&cli.StringFlag{Name: "sasl-mechanism", Usage: "SASL `<mech>` for authentication: SCRAM-SHA-256, PLAIN, ANONYMOUS or EXTERNAL (default: ha-mechanism of --config; else with a user name SCRAM-SHA-256 if the broker offers it, else PLAIN; without one EXTERNAL on TLS with a client certificate if offered, else ANONYMOUS)", Category: catGeneral},
		&cli.StringFlag{Name: "sasl-service-name", Usage: "SASL service `<name>` to use (accepted for compatibility; unused)", Category: catGeneral},
		&cli.StringFlag{Name: "ssl-certificate", Usage: "Client SSL certificate `<cert>` (PEM Format) for ssl: broker addresses", Category: catGeneral},
		&cli.StringFlag{Name: "ssl-key", Usage: "Client SSL private `<key>` (PEM Format; default: in the certificate's file)", Category: catGeneral},
		&cli.StringFlag{Name: "ssl-ca-file", Usage: "PEM `<file>` of the CAs that sign the broker's certificate, for ssl: broker addresses (default: ssl-ca-file of --config, else the system's)", Category: catGeneral},
		&cli.StringFlag{Name: "config", Usage: "Read default connection settings from the broker configuration file `<path/to/qpidd.conf>`: the port from port (ssl-port for ssl: addresses), user, password and mechanism from ha-username, ha-password and ha-mechanism (not with auth=no), the CA file from ssl-ca-file, the client certificate from ssl-cert-file and ssl-key-file (unless --ssl-certificate is given); QPID_<OPTION> environment variables override its entries and command-line options override both", Category: catGeneral},
		&cli.BoolFlag{Name: "ha-admin", Usage: "Allow connection to a HA backup broker.", Category: catGeneral},
		&cli.BoolFlag{Name: "wait", Usage: "After a change (add, del, bind, unbind), wait until every ready HA backup has it (at most --timeout)", Category: catGeneral},

		&cli.BoolFlag{Name: "ignore-default", Usage: "Ignore the default exchange in exchange or queue list", Category: catList},

		&cli.StringFlag{Name: "alternate-exchange", Usage: "Name `<aexname>` of the alternate-exchange for the new queue or exchange. Exchanges route messages to the alternate exchange if they are unable to route them elsewhere. Queues route messages to the alternate exchange if they are rejected by a subscriber or orphaned by queue deletion.", Category: catAdd},
		&cli.BoolFlag{Name: "durable", Usage: "The new queue or exchange is durable.", Category: catAdd},
		&cli.StringFlag{Name: "replicate", Usage: "Enable automatic replication in a HA cluster. `<level>` is 'none', 'configuration' or 'all'.", Category: catAdd},

		&cli.Int64Flag{Name: "file-count", Usage: "[legacystore] Number of files in queue's persistence journal (`<n>`)", Category: catQueue},
		&cli.Int64Flag{Name: "file-size", Usage: "[legacystore] File size in pages (64KiB/page) (`<n>`)", Category: catQueue},
		&cli.Int64Flag{Name: "efp-partition-num", Usage: "[linearstore] EFP partition number (`<n>`)", Category: catQueue},
		&cli.Int64Flag{Name: "efp-pool-file-size", Usage: "[linearstore] EFP file size (KiB) (`<n>`)", Category: catQueue},
		&cli.Int64Flag{Name: "wcache-page-size", Usage: "[linearstore] Per-queue buffer page size (KiB) (`<n>`)", Category: catQueue},
		&cli.Int64Flag{Name: "wcache-num-pages", Usage: "[linearstore] Per-queue num buffer pages (`<n>`)", Category: catQueue},
		&cli.Int64Flag{Name: "max-queue-size", Usage: "Maximum in-memory queue size as bytes (`<n>`)", Category: catQueue},
		&cli.Int64Flag{Name: "max-queue-count", Usage: "Maximum in-memory queue size as a number of messages (`<n>`)", Category: catQueue},
		&cli.StringFlag{Name: "limit-policy", Usage: "Action to take when queue limit is reached: `<policy>` is none, reject, ring or ring-strict", Category: catQueue},
		&cli.StringFlag{Name: "lvq-key", Usage: "Last Value Queue `<key>`", Category: catQueue},
		&cli.Int64Flag{Name: "flow-stop-size", Usage: "Turn on sender flow control when the number of queued bytes exceeds this value (`<n>`).", Category: catQueue},
		&cli.Int64Flag{Name: "flow-resume-size", Usage: "Turn off sender flow control when the number of queued bytes drops below this value (`<n>`).", Category: catQueue},
		&cli.Int64Flag{Name: "flow-stop-count", Usage: "Turn on sender flow control when the number of queued messages exceeds this value (`<n>`).", Category: catQueue},
		&cli.Int64Flag{Name: "flow-resume-count", Usage: "Turn off sender flow control when the number of queued messages drops below this value (`<n>`).", Category: catQueue},
		&cli.StringFlag{Name: "group-header", Usage: "Enable message groups. Specify name of header that holds group identifier (`<header-name>`).", Category: catQueue},
		&cli.BoolFlag{Name: "shared-groups", Usage: "Allow message group consumption across multiple consumers.", Category: catQueue},
		&cli.StringSliceFlag{Name: "argument", Usage: "Specify a key-value pair to add to queue or exchange arguments (`<NAME=VALUE>`; repeatable)", Category: catQueue},
		&cli.StringFlag{Name: "start-replica", Usage: "Start replication from the same-named queue at `<broker-url>`", Category: catQueue},

		&cli.BoolFlag{Name: "sequence", Usage: "Exchange will insert a 'qpid.msg_sequence' field in the message header", Category: catExchange},
		&cli.BoolFlag{Name: "ive", Usage: "Exchange will behave as an 'initial-value-exchange', keeping a reference to the last message forwarded and enqueuing that message to newly bound queues.", Category: catExchange},

		&cli.BoolFlag{Name: "force", Usage: "Force delete of queue even if it's currently used or it's not empty", Category: catDelete},
		&cli.BoolFlag{Name: "force-if-not-empty", Usage: "Force delete of queue even if it's not empty", Category: catDelete},
		&cli.BoolFlag{Name: "force-if-used", Usage: "Force delete of queue even if it's currently used", Category: catDelete},

		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "For XML Exchange bindings - specifies the name of a file containing an XQuery (`<file.xq>`).", Category: catBind},

		&cli.StringSliceFlag{Name: "show-property", Usage: "Specify a property of an object to be included in output (`<property-name>`; repeatable)", Category: catFormat},
	}
}

// usageError is a command line mistake: exit 2 with a usage line.
type usageError struct {
	msg   string
	usage string // the usage lines that apply; "" for all
}

func (e *usageError) Error() string { return e.msg }

func usagef(usageLine, format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: usageLine}
}

// Main runs qpid-config with its arguments (without the program name) and
// returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	fl := flags()
	app := &cli.App{
		Name:                      "qpid-config",
		HelpName:                  "qpid-config",
		UsageText:                 usage,
		Description:               description,
		Flags:                     fl,
		HideHelp:                  true,
		HideVersion:               true,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		DisableSliceFlagSeparator: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{msg: flagError(err)}
		},
		ExitErrHandler: func(*cli.Context, error) {}, // Main decides the exit status
		Action:         func(c *cli.Context) error { return run(c, stdout) },
	}
	ordered, err := Reorder(args, fl)
	if err != nil {
		return exit(err, stderr)
	}
	// Help is answered here: urfave/cli's own help would show its template.
	for _, a := range ordered {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" || a == "-help" {
			writeHelp(stdout, fl)
			return 0
		}
	}
	return exit(app.Run(append([]string{"qpid-config"}, ordered...)), stderr)
}

// exit prints an error and returns the exit status for it.
func exit(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		u := ue.usage
		if u == "" {
			u = usage
		}
		fmt.Fprintf(stderr, "%s\n\nqpid-config: error: %s (qpid-config --help lists every command and option)\n", u, ue.msg)
		return 2
	default:
		fmt.Fprintf(stderr, "Error: %s\n", oneLine(err.Error()))
		return 1
	}
}

// The original's wording of option errors (internal/optparse).
func flagError(err error) string { return optparse.FlagError(err, "invalid integer value") }

var (
	dashes  = optparse.Dashes
	oneLine = optparse.OneLine
)

// Reorder moves the options before the positional arguments, so options
// may follow the command as in the original (`add queue q --durable`),
// which urfave/cli, stopping at the first positional argument, would not
// see. An option taking a value keeps its value (the next argument, unless
// written --name=value); after "--" everything is positional; "-" alone is
// positional (stdin for --file). The result ends the options with "--". An
// option missing its value (the last argument) is a usage error.
func Reorder(args []string, fl []cli.Flag) ([]string, error) {
	takesValue := map[string]bool{}
	for _, f := range fl {
		df, ok := f.(cli.DocGenerationFlag)
		for _, n := range f.Names() {
			takesValue[n] = ok && df.TakesValue()
		}
	}
	var opts, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-':
			pos = append(pos, a)
		default:
			opts = append(opts, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if takesValue[name] {
				if i+1 == len(args) {
					return nil, &usageError{msg: dashes(name) + " option requires an argument"}
				}
				i++
				opts = append(opts, args[i])
			}
		}
	}
	out := append(opts, "--")
	return append(out, pos...), nil
}

// writeHelp prints the usage, the description and every option, grouped
// as in the original and in the order they are defined, optparse style.
func writeHelp(w io.Writer, fl []cli.Flag) {
	fmt.Fprintf(w, "%s\n\n%s", usage, description)
	var groups []string
	byGroup := map[string][]cli.Flag{}
	for _, f := range fl {
		cat := ""
		if cf, ok := f.(cli.CategorizableFlag); ok {
			cat = cf.GetCategory()
		}
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
			lines := wrap(text, width-col)
			if len(lead) >= col-1 {
				fmt.Fprintln(w, lead)
				lead = ""
			}
			for _, l := range lines {
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
