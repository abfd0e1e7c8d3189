package client

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/tlsconfig"
)

// TLSFiles is the TLS configuration of the tools' options: cert and key
// (PEM; key empty: in cert's file) a client certificate for brokers that
// ask for one, ca (PEM) the CAs that sign the brokers' certificates
// (empty: the system's roots). All empty: nil (Options' default). The
// server name is each address's host (see Options.TLSConfig).
func TLSFiles(cert, key, ca string) (*tls.Config, error) {
	if cert == "" && key == "" && ca == "" {
		return nil, nil
	}
	if cert == "" && key != "" {
		return nil, errors.New("a client key without its certificate")
	}
	if cert != "" && key == "" {
		key = cert
	}
	store, err := tlsconfig.Load(tlsconfig.Files{Cert: cert, Key: key, CA: ca})
	if err != nil {
		return nil, err
	}
	return store.Client(""), nil
}

// ToolTLS is Options.TLSConfig for a tool's options --ssl-certificate
// (cert), --ssl-key (key) and --ssl-ca-file (ca), completed from the
// broker configuration file of --config (conf; nil for none): its
// ssl-ca-file when ca is empty, and its ssl-cert-file and ssl-key-file as
// the client certificate when the tool names none (in a cluster a broker's
// certificate is also a client's, for brokers that require one).
//
// The tool's own files are read now, and an error is the tool's. The
// file's are read only for a TLS connection, as an administrator who may
// not read the broker's key (0640 root:qpidd) uses --config for plain
// connections too: its CA when the handshake starts (unreadable: the
// handshake fails, saying why), its certificate when the broker asks for
// one (unreadable: none is sent).
func ToolTLS(cert, key, ca string, conf *config.Options) (*tls.Config, error) {
	if cert == "" && key != "" {
		return nil, errors.New("missing '--ssl-certificate' (required by '--ssl-key')")
	}
	c, err := TLSFiles(cert, key, ca)
	if err != nil {
		return nil, fmt.Errorf("TLS: %v", err)
	}
	if conf == nil || (ca != "" || conf.SSLCAFile == "") && (cert != "" || conf.SSLCertFile == "") {
		return c, nil
	}
	if c == nil {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if ca == "" && conf.SSLCAFile != "" {
		if store, err := tlsconfig.Load(tlsconfig.Files{CA: conf.SSLCAFile}); err == nil {
			c.RootCAs = store.Client("").RootCAs
		} else {
			// Fail every handshake with the reason rather than trust
			// the system's roots instead of the configured CAs.
			c.InsecureSkipVerify = true
			c.VerifyConnection = func(tls.ConnectionState) error {
				return fmt.Errorf("cannot verify the broker's certificate: ssl-ca-file of --config: %v", err)
			}
		}
	}
	if cert == "" && conf.SSLCertFile != "" {
		files := tlsconfig.Files{Cert: conf.SSLCertFile, Key: conf.SSLKeyFile}
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			store, err := tlsconfig.Load(files)
			if err != nil {
				return &tls.Certificate{}, nil
			}
			return &store.Client("").Certificates[0], nil
		}
	}
	return c, nil
}
