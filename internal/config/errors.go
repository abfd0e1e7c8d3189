package config

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by *Error; test for them with errors.Is.
var (
	// ErrUnknownOption: the name is not an option of the broker (current or obsolete).
	ErrUnknownOption = errors.New("unknown option")
	// ErrMissingValue: an option that takes a value was given none on the command line.
	ErrMissingValue = errors.New("requires a value")
	// ErrSyntax: a configuration file line that is not name=value, or an
	// unexpected command-line argument.
	ErrSyntax = errors.New("syntax error")
	// ErrConfigFile: the configuration file could not be read.
	ErrConfigFile = errors.New("cannot read configuration file")
)

// Error is a problem with one option setting. Source says where it was set:
// "path:line" for the configuration file, the variable name (QPID_PORT) for
// the environment, `argument "--port"` for the command line.
type Error struct {
	Option string // option name as written (without dashes), "" if unknown
	Source string // where: "path:line", "QPID_PORT", `argument "--port"`
	Value  string // the offending value or line, if any
	Err    error  // what is wrong; may wrap ErrUnknownOption etc.
}

func (e *Error) Error() string {
	switch {
	case errors.Is(e.Err, ErrUnknownOption):
		return fmt.Sprintf("%s: unknown option %q", e.Source, e.Option)
	case errors.Is(e.Err, ErrMissingValue):
		return fmt.Sprintf("%s: option %s requires a value", e.Source, e.Option)
	case errors.Is(e.Err, ErrSyntax):
		return fmt.Sprintf("%s: %v: %q", e.Source, e.Err, e.Value)
	case errors.Is(e.Err, ErrConfigFile):
		return fmt.Sprintf("%s: %v", e.Source, e.Err)
	default:
		return fmt.Sprintf("%s: invalid value %q for option %s: %v", e.Source, e.Value, e.Option, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }
