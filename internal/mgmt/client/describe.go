package client

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// tlsError is a failed TLS handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS handshake failed: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// describe words a connection or request error for a person.
func describe(ctx context.Context, err error, timeout time.Duration) string {
	var (
		ne  *net.OpError
		te  *tlsError
		ae  *types.Error
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		cie x509.CertificateInvalidError
	)
	switch {
	case err == nil:
		return errClosed.Error()
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.As(err, &ua):
		return "TLS handshake failed: the broker's certificate is not signed by a CA this tool trusts " +
			"(give the CA's certificate with --ssl-ca-file)"
	case errors.As(err, &hn):
		return fmt.Sprintf("TLS handshake failed: the broker's certificate is not for this address: %v", hn.Error())
	case errors.As(err, &cie):
		return fmt.Sprintf("TLS handshake failed: the broker's certificate is not valid: %v", cie.Error())
	case errors.As(err, &te):
		return te.Error() + tlsHint(te.Error())
	case errors.As(err, &ne) && ne.Err != nil:
		msg := ne.Err.Error()
		if strings.HasPrefix(msg, "tls: ") {
			msg = "TLS: " + strings.TrimPrefix(msg, "tls: ")
		}
		return msg + tlsHint(msg)
	case errors.As(err, &ae):
		// The engine's own timers: no open, or nothing received, in time.
		if ae.Condition == types.CondResourceLimitExceeded &&
			(strings.HasPrefix(ae.Description, "no open within") || strings.HasPrefix(ae.Description, "local-idle-timeout")) {
			return fmt.Sprintf("no answer within %v", timeout)
		}
		if ae.Description != "" {
			return fmt.Sprintf("%s (%s)", ae.Description, ae.Condition)
		}
		return string(ae.Condition)
	}
	return strings.TrimPrefix(err.Error(), "amqp: ")
}

// tlsHint explains the alerts a broker sends about the client's
// certificate (with TLS 1.3 they arrive after the client's handshake).
func tlsHint(msg string) string {
	switch {
	case strings.Contains(msg, "certificate required"):
		return " (the broker requires a client certificate: give --ssl-certificate and --ssl-key)"
	case strings.Contains(msg, "unknown certificate authority"), strings.Contains(msg, "bad certificate"),
		strings.Contains(msg, "expired certificate"):
		return " (the broker refused the client certificate)"
	}
	return ""
}
