package failover

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	amqp "github.com/Azure/go-amqp"
)

// ErrClosed is returned by every operation after Conn.Close (or the
// Sender's or Receiver's own Close).
var ErrClosed = errors.New("failover: closed")

// ErrNotSettled is returned (wrapped, with the cause) by Receiver.Accept
// and Receiver.Reject when the link or connection the message came on was
// lost before the disposition was sent: the broker still holds the message
// and delivers it again, to this Receiver after it reconnects or to another
// consumer.
var ErrNotSettled = errors.New("failover: message not settled: the link it came on is gone, the broker will deliver it again")

// PermanentError is an error that failing over cannot cure: the broker
// refused the credentials (SASL), the TLS peer's certificate, or access
// (amqp:unauthorized-access). Conn gives up on the first one: every
// operation of the Conn, its Senders and Receivers returns it from then on.
// For a link (a Sender's target or a Receiver's source refused with
// amqp:not-found, amqp:unauthorized-access, ...), only that link's
// operation returns it.
type PermanentError struct {
	Address string // the broker that said so ("" for a link's error)
	Err     error
}

func (e *PermanentError) Error() string {
	if e.Address == "" {
		return "failover: permanent error: " + e.Err.Error()
	}
	return fmt.Sprintf("failover: permanent error from %s: %v", e.Address, e.Err)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Errors go-amqp 1.6.0 returns as plain strings.
const (
	// A SASL outcome other than ok, whatever the mechanism.
	saslFailed = "auth failed with code"
	// None of the mechanisms the broker offers is configured.
	saslNoMech = "no supported auth mechanism"
	// The broker answered the open with a close and no open of its own:
	// qpidd's HA backups turn clients away so, with amqp:connection:forced,
	// but go-amqp drops the close frame and its condition.
	refusedNoOpen = "unexpected frame type *frames.PerformClose"
)

// permanentConditions are the conditions on a connection, session or link
// close that failing over cannot cure.
var permanentConditions = map[amqp.ErrCond]bool{
	amqp.ErrCondUnauthorizedAccess: true,
}

// permanentLinkConditions are the detach conditions on which a Sender or
// Receiver gives up (re-attaching would meet the same refusal); any other
// detach is re-attached.
var permanentLinkConditions = map[amqp.ErrCond]bool{
	amqp.ErrCondUnauthorizedAccess:  true,
	amqp.ErrCondNotFound:            true,
	amqp.ErrCondNotAllowed:          true,
	amqp.ErrCondNotImplemented:      true,
	amqp.ErrCondInvalidField:        true,
	amqp.ErrCondPreconditionFailed:  true,
	amqp.ErrCondDecodeError:         true,
	amqp.ErrCondMessageSizeExceeded: true,
	amqp.ErrCondResourceDeleted:     true,
	amqp.ErrCondResourceLocked:      true,
}

// Permanent reports whether err, from dialing a broker or from a live
// connection, is one failing over cannot cure: a SASL failure, no common
// SASL mechanism, a TLS certificate the client does not trust (or that does
// not name the host), or a close with amqp:unauthorized-access. Everything
// else fails over to the next address: a connection lost (reset, EOF, a
// silent peer past the idle timeout), refused or timed out, a close with
// amqp:connection:forced (a backup turning clients away, a broker shutting
// down) or any other condition, a backup's refusal without an open.
// Context errors are neither: the caller's context decides.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && permanentConditions[ae.Condition] {
		return true
	}
	var ce *amqp.ConnError
	if errors.As(err, &ce) && ce.RemoteErr != nil && permanentConditions[ce.RemoteErr.Condition] {
		return true
	}
	var se *amqp.SessionError
	if errors.As(err, &se) && se.RemoteErr != nil && permanentConditions[se.RemoteErr.Condition] {
		return true
	}
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
	)
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, saslFailed) || strings.Contains(s, saslNoMech)
}

// linkPermanent reports whether a link's error makes its Sender or
// Receiver give up: a permanent connection error, or a detach (or an
// attach refused) with one of permanentLinkConditions.
func linkPermanent(err error) bool {
	if Permanent(err) {
		return true
	}
	var le *amqp.LinkError
	if errors.As(err, &le) && le.RemoteErr != nil {
		return permanentLinkConditions[le.RemoteErr.Condition]
	}
	return false
}

// connLevel reports whether err says the connection (or its session) is
// gone, as opposed to one link; an error of unknown kind counts as the
// connection's, so that the client reconnects rather than retry a link on
// a connection in an unknown state.
func connLevel(err error) bool {
	var le *amqp.LinkError
	return !errors.As(err, &le)
}

// isContext reports whether err is a context's error.
func isContext(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
