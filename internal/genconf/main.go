package genconf

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

const prog = "qpid-cluster-conf"

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

const usageText = `Usage: qpid-cluster-conf [OPTIONS] CLUSTER.toml

Generates, from one TOML description of a qpidd HA cluster, the files that
configure it: cluster.conf (cman/rgmanager), pcs-setup.sh (Pacemaker) and a
qpidd-<node>.conf for each node. See cluster-conf/README.md for the TOML keys.

Options:
  -o, --output DIR   write the files into DIR (created if missing)
  -c, --check        check the description only; write nothing
      --strict       treat warnings as errors
  -h, --help         show this help and exit

Exit status: 0 success; 1 an invalid description (every problem is listed as
FILE: KEY: problem) or a file that cannot be written; 2 a usage error.
`

// Main runs qpid-cluster-conf with args (without the program name) and
// returns its exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	var (
		out           string
		check, strict bool
	)
	app := &cli.App{
		Name:            prog,
		HideHelp:        true,
		HideHelpCommand: true,
		Writer:          stdout,
		ErrWriter:       io.Discard,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Destination: &out},
			&cli.BoolFlag{Name: "check", Aliases: []string{"c"}, Destination: &check},
			&cli.BoolFlag{Name: "strict", Destination: &strict},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			msg := err.Error()
			if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
				msg = "unknown option -" + name
			}
			return &usageError{msg}
		},
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return &usageError{"expected one CLUSTER.toml file"}
			}
			if out == "" && !check {
				return &usageError{"give --output DIR, or --check"}
			}
			if out != "" && check {
				return &usageError{"--output and --check exclude each other"}
			}
			return run(c.Args().First(), out, strict, stdout, stderr)
		},
	}
	flags, files, helpAsked := reorder(args)
	if n := len(flags); !helpAsked && n > 0 && (flags[n-1] == "-o" || flags[n-1] == "--output" || flags[n-1] == "-output") {
		fmt.Fprintf(stderr, "%s: option %s needs a directory\nTry '%s --help'.\n", prog, flags[n-1], prog)
		return 2
	}
	if helpAsked {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	err := app.Run(append(append(append([]string{prog}, flags...), "--"), files...))
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog, ue.msg, prog)
		return 2
	case strings.HasPrefix(err.Error(), "flag provided but not defined") || strings.Contains(err.Error(), "flag needs an argument"):
		fmt.Fprintf(stderr, "%s: %v\nTry '%s --help'.\n", prog, err, prog)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return 1
	}
}

// reorder puts the options before the file names (urfave/cli stops at the
// first argument that is not an option) and reports a request for help.
func reorder(args []string) (flags, files []string, help bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(files, args[i+1:]...), help
		case a == "-h" || a == "--help" || a == "-help":
			help = true
		case a == "-o" || a == "--output" || a == "-output":
			flags = append(flags, a)
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
		default:
			files = append(files, a)
		}
	}
	return flags, files, help
}

func run(path, out string, strict bool, stdout, stderr io.Writer) error {
	s, err := LoadFile(path)
	var errs Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintf(stderr, "error: %v\n", e)
		}
		return fmt.Errorf("%s: %d %s", path, len(errs), plural2(len(errs), "error"))
	}
	if err != nil {
		return err
	}
	for _, w := range s.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	if strict && len(s.Warnings) > 0 {
		return fmt.Errorf("%s: %d %s (--strict)", path, len(s.Warnings), plural2(len(s.Warnings), "warning"))
	}
	files, err := s.Generate()
	if err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	if err := Write(out, files); err != nil {
		return err
	}
	for _, f := range files {
		fmt.Fprintln(stdout, filepath.Join(out, f.Name))
	}
	return nil
}

func plural2(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
