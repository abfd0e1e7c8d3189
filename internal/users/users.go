// Package users is qpidd-users, the command that manages the broker's user
// database (the auth-database option): it adds users and sets their
// passwords, removes them and lists them. The file holds salted
// SCRAM-SHA-256 credentials (see package auth), never a password; the
// broker verifies PLAIN and SCRAM-SHA-256 logins against them.
//
// It replaces what the original did with Cyrus SASL's tools
// (saslpasswd2 -f /var/lib/qpidd/qpidd.sasldb -u QPID guest, and
// sasldblistusers2).
package users

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/qpidha/qpidha/internal/auth"
	"github.com/qpidha/qpidha/internal/config"
)

// Name is the command's name.
const Name = auth.AdminCommand

// Help is the command's help text.
var Help = `Usage: qpidd-users [OPTIONS] add USER
       qpidd-users [OPTIONS] remove USER
       qpidd-users [OPTIONS] list

Manages the user database of qpidd (its auth-database option, default
` + config.Defaults().AuthDatabase + `). Users are named USER@REALM; a name given
without @REALM gets the realm (qpidd's realm option, default QPID), so
"guest" is guest@QPID, the name ACL rules use. The file stores a salted
SCRAM-SHA-256 credential per user (PBKDF2-HMAC-SHA-256), never the password;
with auth=yes qpidd checks PLAIN and SCRAM-SHA-256 logins against it.

Commands:
  add USER      Add USER, or set the password of an existing USER. The
                password is asked twice without echo when standard input is
                a terminal; otherwise it is the first line of standard input
                (echo secret | qpidd-users add guest); or the first line of
                --password-file. It is never taken from the command line,
                where other users could see it (ps).
  remove USER   Remove USER.
  list          Print the users, one per line.

Options:
  --database FILE       The user database (default: the auth-database of the
                        qpidd configuration file, else ` + config.Defaults().AuthDatabase + `).
  --config FILE         The qpidd configuration file to take auth-database and
                        realm from (default: $QPID_CONFIG, else
                        ` + config.DefaultConfigFile + ` if it exists). QPID_AUTH_DATABASE and
                        QPID_REALM in the environment apply as they do to qpidd.
  --realm REALM         The realm of user names given without one (default: the
                        configuration file's realm, else QPID).
  --password-file FILE  add: read the password from the first line of FILE
                        ("-" for standard input).
  --iterations N        add: PBKDF2 iterations of the new credential (default
                        ` + strconv.Itoa(auth.DefaultIterations) + `, at least ` + strconv.Itoa(auth.MinIterations) + `).
  -h, --help            Show this help.

The file is written with mode 0600 by replacing it (a temporary file renamed
over it); when root rewrites it, it keeps its owner, so that qpidd, running
as its own user, can still read it. qpidd reads the file when it starts:
restart it for changes to apply. Run qpidd-users as the user qpidd runs as,
or as root.

Exit status: 0 success; 1 failure ("Error: <reason>"); 2 usage error.
`

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

type options struct {
	database, config, realm, passwordFile string
	iterations                            int
	help                                  bool
	args                                  []string
}

// parse reads options anywhere among the arguments: --name value,
// --name=value; "--" ends the options.
func parse(args []string) (*options, error) {
	o := &options{}
	strs := map[string]*string{"database": &o.database, "config": &o.config, "realm": &o.realm, "password-file": &o.passwordFile}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.args = append(o.args, args[i+1:]...)
			break
		}
		if a == "-h" || a == "--help" {
			o.help = true
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.args = append(o.args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "password" {
			return nil, usagef("there is no --password option: a password on the command line can be seen by other users; type it when asked, pipe it to standard input, or use --password-file")
		}
		_, isStr := strs[name]
		if !isStr && name != "iterations" {
			return nil, usagef("unknown option %s", a)
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, usagef("option --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if isStr {
			if value == "" && name != "realm" {
				return nil, usagef("option --%s needs a value", name)
			}
			*strs[name] = value
			continue
		}
		n, err := strconv.Atoi(value)
		if err != nil || n < auth.MinIterations || n > auth.MaxIterations {
			return nil, usagef("--iterations: %q is not a number from %d to %d", value, auth.MinIterations, auth.MaxIterations)
		}
		o.iterations = n
	}
	return o, nil
}

// Run is the command: args without the program name, environ for QPID_*
// variables. The password is read from stdin (a terminal when it is an
// *os.File on one); prompts go to stderr.
func Run(args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parse(args)
	if err == nil && !o.help {
		err = run(o, environ, stdin, stdout, stderr)
	}
	var ue *usageError
	switch {
	case err == nil && o.help:
		fmt.Fprint(stdout, Help)
		return exitOK
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "Error: %s\nRun '%s --help' for usage.\n", ue.msg, Name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "Error: %s\n", strings.TrimPrefix(err.Error(), "auth: "))
		return exitFail
	}
}

func run(o *options, environ []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(o.args) == 0 {
		return usagef("a command is needed: add USER, remove USER or list")
	}
	cmd, rest := o.args[0], o.args[1:]
	switch cmd {
	case "add", "remove":
		if len(rest) == 0 {
			return usagef("%s needs a user name", cmd)
		}
		if len(rest) > 1 {
			if cmd == "add" {
				return usagef("add takes one user name and no password: a password on the command line can be seen by other users; type it when asked, pipe it to standard input, or use --password-file")
			}
			return usagef("remove takes one user name")
		}
	case "list":
		if len(rest) > 0 {
			return usagef("list takes no arguments")
		}
	default:
		return usagef("unknown command %q (add, remove or list)", cmd)
	}
	if cmd != "add" && (o.passwordFile != "" || o.iterations != 0) {
		return usagef("--password-file and --iterations apply to add only")
	}
	path, realm, err := settings(o, environ)
	if err != nil {
		return err
	}
	owner := ownerOf(path)
	db, err := auth.Open(path, realm)
	if err != nil {
		return err
	}
	switch cmd {
	case "list":
		for _, u := range db.List() {
			fmt.Fprintln(stdout, u)
		}
		return nil
	case "remove":
		if err := db.Remove(rest[0]); err != nil {
			return fmt.Errorf("no user %s in %s", db.Qualify(rest[0]), path)
		}
		if err := save(db, owner); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed user %s from %s\n", db.Qualify(rest[0]), path)
		return nil
	}
	user := db.Qualify(rest[0])
	if o.iterations != 0 {
		if err := db.SetIterations(o.iterations); err != nil {
			return err
		}
	}
	_, existed := db.Lookup(user)
	password, err := readPassword(o.passwordFile, user, stdin, stderr)
	if err != nil {
		return err
	}
	if err := db.Add(user, password); err != nil {
		return err
	}
	if err := save(db, owner); err != nil {
		return err
	}
	if existed {
		fmt.Fprintf(stdout, "Changed the password of %s in %s\n", user, path)
	} else {
		fmt.Fprintf(stdout, "Added user %s to %s\n", user, path)
	}
	return nil
}

// settings are the database path and realm: the options, else the qpidd
// configuration (file and environment), else the defaults.
func settings(o *options, environ []string) (path, realm string, err error) {
	path, realm = o.database, o.realm
	if path != "" && realm != "" {
		return path, realm, nil
	}
	conf, _, err := config.ReadFile(o.config, environ)
	if err != nil {
		return "", "", fmt.Errorf("reading the qpidd configuration: %v", err)
	}
	if path == "" {
		path = conf.AuthDatabase
	}
	if realm == "" {
		realm = conf.Realm
	}
	if path == "" {
		return "", "", usagef("no user database: give --database FILE (the configuration's auth-database is empty)")
	}
	return path, realm, nil
}

// save writes the database and gives it back to its previous owner.
func save(db *auth.DB, owner *fileOwner) error {
	if err := db.Save(); err != nil {
		return err
	}
	return owner.restore(db.Path())
}

// maxPassword bounds a password line.
const maxPassword = 4096

// readPassword reads the new password of user: from file ("-": stdin),
// else from a terminal without echo (twice), else from the first line of
// stdin.
func readPassword(file, user string, stdin io.Reader, stderr io.Writer) (string, error) {
	switch {
	case file == "-":
		return firstLine(stdin, "standard input")
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %v", err)
		}
		defer f.Close()
		return firstLine(f, file)
	}
	if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprintf(stderr, "Password for %s: ", user)
		p1, err := readNoEcho(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if p1 == "" {
			return "", errors.New("empty password")
		}
		fmt.Fprintf(stderr, "Again (for verification): ")
		p2, err := readNoEcho(f)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if p1 != p2 {
			return "", errors.New("the passwords do not match")
		}
		return p1, nil
	}
	return firstLine(stdin, "standard input")
}

// firstLine is the first line of r without its line end.
func firstLine(r io.Reader, what string) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxPassword+2), maxPassword+2)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from %s: %v", what, err)
	}
	if len(line) > maxPassword && !strings.HasSuffix(line, "\n") {
		return "", fmt.Errorf("the password in %s is longer than %d bytes", what, maxPassword)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", fmt.Errorf("no password in %s (its first line is the password)", what)
	}
	return line, nil
}
