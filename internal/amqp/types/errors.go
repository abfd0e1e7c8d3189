package types

import "fmt"

// Error makes the AMQP error composite a Go error.
func (e *Error) Error() string {
	if e.Description == "" {
		return string(e.Condition)
	}
	return string(e.Condition) + ": " + e.Description
}

// NewError returns an AMQP error with a formatted description.
func NewError(cond Symbol, format string, args ...any) *Error {
	return &Error{Condition: cond, Description: fmt.Sprintf(format, args...)}
}
