// Command qpidd-users manages qpidd's user database (the auth-database
// option): add USER, remove USER, list. See internal/users and
// `qpidd-users --help`.
package main

import (
	"os"

	"github.com/qpidha/qpidha/internal/users"
)

func main() {
	os.Exit(users.Run(os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}
