package failover

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	amqp "github.com/Azure/go-amqp"
)

func TestPermanent(t *testing.T) {
	remote := func(c amqp.ErrCond) *amqp.Error { return &amqp.Error{Condition: c, Description: "x"} }
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		// Fail over.
		{"connection lost", &amqp.ConnError{}, false},
		{"EOF", io.EOF, false},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, false},
		{"i/o timeout", os.ErrDeadlineExceeded, false},
		{"attempt timed out", fmt.Errorf("no connection within 5s: %w", context.DeadlineExceeded), false},
		{"forced", &amqp.ConnError{RemoteErr: remote(amqp.ErrCondConnectionForced)}, false},
		{"internal error", &amqp.ConnError{RemoteErr: remote(amqp.ErrCondInternalError)}, false},
		{"session ended", &amqp.SessionError{RemoteErr: remote(amqp.ErrCondInternalError)}, false},
		{"backup refusal without open", errors.New("openAMQP: unexpected frame type *frames.PerformClose"), false},
		{"link detached", &amqp.LinkError{RemoteErr: remote(amqp.ErrCondDetachForced)}, false},
		{"unknown", errors.New("something odd"), false},
		{"nil", nil, false},
		// Give up.
		{"unauthorized close", &amqp.ConnError{RemoteErr: remote(amqp.ErrCondUnauthorizedAccess)}, true},
		{"unauthorized session", &amqp.SessionError{RemoteErr: remote(amqp.ErrCondUnauthorizedAccess)}, true},
		{"unauthorized wrapped", fmt.Errorf("attach: %w", remote(amqp.ErrCondUnauthorizedAccess)), true},
		{"SASL outcome", errors.New("SASL PLAIN auth failed with code 0x1: "), true},
		{"no SASL mechanism", errors.New("no supported auth mechanism ([EXTERNAL])"), true},
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, true},
		{"wrong host", fmt.Errorf("dial: %w", x509.HostnameError{Host: "node1"}), true},
	} {
		if got := Permanent(tc.err); got != tc.permanent {
			t.Errorf("%s: Permanent(%v) = %v, want %v", tc.name, tc.err, got, tc.permanent)
		}
	}
}

func TestLinkErrors(t *testing.T) {
	remote := func(c amqp.ErrCond) error { return &amqp.LinkError{RemoteErr: &amqp.Error{Condition: c}} }
	for _, tc := range []struct {
		err             error
		permanent, conn bool
	}{
		{remote(amqp.ErrCondNotFound), true, false},
		{remote(amqp.ErrCondUnauthorizedAccess), true, false},
		{remote(amqp.ErrCondResourceDeleted), true, false},
		{remote(amqp.ErrCondDetachForced), false, false},
		{remote(amqp.ErrCondStolen), false, false},
		{&amqp.LinkError{}, false, false},
		{&amqp.ConnError{}, false, true},
		{&amqp.SessionError{}, false, true},
		{io.EOF, false, true},
		{&amqp.ConnError{RemoteErr: &amqp.Error{Condition: amqp.ErrCondUnauthorizedAccess}}, true, true},
	} {
		if got := linkPermanent(tc.err); got != tc.permanent {
			t.Errorf("linkPermanent(%v) = %v, want %v", tc.err, got, tc.permanent)
		}
		if got := connLevel(tc.err); got != tc.conn {
			t.Errorf("connLevel(%v) = %v, want %v", tc.err, got, tc.conn)
		}
	}
}

func TestPermanentErrorUnwraps(t *testing.T) {
	inner := &amqp.Error{Condition: amqp.ErrCondUnauthorizedAccess}
	err := error(&PermanentError{Address: "amqp://a:5672", Err: &amqp.ConnError{RemoteErr: inner}})
	var ae *amqp.Error
	if !errors.As(err, &ae) || ae != inner {
		t.Fatalf("errors.As through PermanentError: %v", err)
	}
}
