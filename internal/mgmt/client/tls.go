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
func ToolTLS(cert, key, ca string, conf *config.Options) (*tls.Config, error) {
	if cert == "" && key != "" {
		return nil, errors.New("missing '--ssl-certificate' (required by '--ssl-key')")
	}
	if conf != nil {
		if ca == "" {
			ca = conf.SSLCAFile
		}
		if cert == "" {
			cert, key = conf.SSLCertFile, conf.SSLKeyFile
		}
	}
	c, err := TLSFiles(cert, key, ca)
	if err != nil {
		return nil, fmt.Errorf("TLS: %v", err)
	}
	return c, nil
}
