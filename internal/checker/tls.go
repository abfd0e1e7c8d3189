package checker

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSTrusting is a client TLS configuration that trusts the CA
// certificates of a PEM file (and only those).
func TLSTrusting(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
