// Package optparse words command-line errors as the original's Python tools
// (optparse) did, so qpid-ha and qpid-config say what scripts written for
// the originals expect.
package optparse

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	undefinedFlag = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	badValue      = regexp.MustCompile(`^invalid value "(.*)" for flag -+([^:]*): (.*)$`)
	needsArgument = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
)

// FlagError rewords an error of the flag package; invalid names a bad value
// ("invalid value", or "invalid integer value" as qpid-config said). Other
// errors are returned as they are.
func FlagError(err error, invalid string) string {
	s := err.Error()
	if m := undefinedFlag.FindStringSubmatch(s); m != nil {
		return "no such option: " + Dashes(m[1])
	}
	if m := badValue.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("option %s: %s: '%s'", Dashes(m[2]), invalid, m[1])
	}
	if m := needsArgument.FindStringSubmatch(s); m != nil {
		return Dashes(m[1]) + " option requires an argument"
	}
	return s
}

// Dashes is an option's name as typed: -b, --broker.
func Dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// OneLine joins a message's lines and spaces into one line.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
