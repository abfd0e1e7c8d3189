// Package tlsconfig reads TLS files (PEM) for the broker and the tools: a
// certificate and its unencrypted key, and the CA that signs the peers'
// certificates. A Store is read again on demand (the broker's SIGHUP):
// new connections get the new files, open ones keep theirs, and a file
// that fails to load leaves the current ones in force.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Files names the PEM files; any may be empty.
type Files struct {
	Cert string // certificate (chain), leaf first
	Key  string // its private key, unencrypted (Go reads no encrypted keys)
	CA   string // CA certificates that sign the peers' certificates
}

// Store holds the loaded files.
type Store struct {
	files Files
	cur   atomic.Pointer[loaded]
}

type loaded struct {
	cert *tls.Certificate // nil without Files.Cert
	leaf *x509.Certificate
	pool *x509.CertPool // nil without Files.CA: the system's roots
}

// Load reads the files. A certificate needs its key and the other way round.
func Load(f Files) (*Store, error) {
	s := &Store{files: f}
	l, err := read(f)
	if err != nil {
		return nil, err
	}
	s.cur.Store(l)
	return s, nil
}

// Reload reads the files again; on error the current ones stay.
func (s *Store) Reload() error {
	l, err := read(s.files)
	if err != nil {
		return err
	}
	s.cur.Store(l)
	return nil
}

// Files are the files the store reads.
func (s *Store) Files() Files { return s.files }

// Leaf is the certificate's first certificate, nil without one.
func (s *Store) Leaf() *x509.Certificate { return s.cur.Load().leaf }

// HasCA reports whether a CA file was given.
func (s *Store) HasCA() bool { return s.cur.Load().pool != nil }

func read(f Files) (*loaded, error) {
	l := &loaded{}
	switch {
	case f.Cert != "" && f.Key == "":
		return nil, fmt.Errorf("certificate %s: no key file given (ssl-key-file)", f.Cert)
	case f.Cert == "" && f.Key != "":
		return nil, fmt.Errorf("key %s: no certificate file given (ssl-cert-file)", f.Key)
	case f.Cert != "":
		certPEM, err := os.ReadFile(f.Cert)
		if err != nil {
			return nil, err
		}
		keyPEM, err := os.ReadFile(f.Key)
		if err != nil {
			return nil, err
		}
		if encrypted(keyPEM) {
			return nil, fmt.Errorf("key %s is encrypted, and Go reads no encrypted keys: "+
				"decrypt it (openssl pkey -in %s -out plain-key.pem) and protect the file by its mode (0640 root:qpidd)", f.Key, f.Key)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("certificate %s, key %s: %v", f.Cert, f.Key, err)
		}
		if l.leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %s: %v", f.Cert, err)
		}
		pair.Leaf = l.leaf
		l.cert = &pair
	}
	if f.CA != "" {
		caPEM, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, err
		}
		l.pool = x509.NewCertPool()
		if !l.pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", f.CA)
		}
	}
	return l, nil
}

// encrypted reports a PEM key that needs a password: PKCS#8 "ENCRYPTED
// PRIVATE KEY" or an OpenSSL legacy key with a Proc-Type header.
func encrypted(keyPEM []byte) bool {
	for rest := keyPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return false
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
			return true
		}
	}
}

// ClientAuth is how a server treats client certificates.
type ClientAuth int

const (
	// NoClientCert asks for none (no CA file).
	NoClientCert ClientAuth = iota
	// VerifyIfGiven verifies a certificate a client offers (for SASL
	// EXTERNAL) and admits clients without one.
	VerifyIfGiven
	// Require refuses clients without a valid certificate.
	Require
)

// Server is the configuration of a TLS listener: each handshake takes the
// files loaded last.
func (s *Store) Server(auth ClientAuth) (*tls.Config, error) {
	if s.cur.Load().cert == nil {
		return nil, errors.New("a TLS listener needs a certificate and key (ssl-cert-file, ssl-key-file)")
	}
	if auth != NoClientCert && !s.HasCA() {
		return nil, errors.New("verifying client certificates needs the CA that signs them (ssl-ca-file)")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			l := s.cur.Load()
			c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*l.cert}, ClientCAs: l.pool}
			switch {
			case auth == Require:
				c.ClientAuth = tls.RequireAndVerifyClientCert
			case auth == VerifyIfGiven && l.pool != nil:
				c.ClientAuth = tls.VerifyClientCertIfGiven
			}
			return c, nil
		},
	}, nil
}

// Client is the configuration of one connection to host: the CA file's
// roots (else the system's), and the certificate as a client certificate
// when there is one (a broker's links to its peers present its own).
func (s *Store) Client(host string) *tls.Config {
	l := s.cur.Load()
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, RootCAs: l.pool}
	if l.cert != nil {
		c.Certificates = []tls.Certificate{*l.cert}
	}
	return c
}

// Warnings are what an administrator should hear about the loaded files:
// a certificate expired or about to, one without subjectAltNames (Go
// ignores the common name), a key file others may read.
func (s *Store) Warnings(now time.Time) []string {
	l := s.cur.Load()
	var out []string
	if leaf := l.leaf; leaf != nil {
		switch {
		case now.After(leaf.NotAfter):
			out = append(out, fmt.Sprintf("certificate %s expired on %s: clients will refuse it", s.files.Cert, leaf.NotAfter.UTC().Format(time.DateOnly)))
		case leaf.NotAfter.Sub(now) < 30*24*time.Hour:
			out = append(out, fmt.Sprintf("certificate %s expires on %s", s.files.Cert, leaf.NotAfter.UTC().Format(time.DateOnly)))
		}
		if len(leaf.DNSNames) == 0 && len(leaf.IPAddresses) == 0 {
			out = append(out, fmt.Sprintf("certificate %s has no subjectAltName: clients ignore its common name %q and will refuse it; "+
				"issue it with a subjectAltName for every node address and the virtual IP", s.files.Cert, leaf.Subject.CommonName))
		}
	}
	if s.files.Key != "" {
		if fi, err := os.Stat(s.files.Key); err == nil && fi.Mode().Perm()&0o004 != 0 {
			out = append(out, fmt.Sprintf("key %s is readable by every user (mode %04o): make it 0640 root:qpidd", s.files.Key, fi.Mode().Perm()))
		}
	}
	return out
}

// Identity maps a verified client certificate to a user name as the
// original broker did: the subject's common name, and "@" and its
// domain components joined by dots if it has any (CN=alice,DC=example,
// DC=com is alice@example.com). It is "" without a common name.
func Identity(cert *x509.Certificate) (user, domain string) {
	if cert == nil || cert.Subject.CommonName == "" {
		return "", ""
	}
	var dcs []string
	for _, atv := range cert.Subject.Names {
		// 0.9.2342.19200300.100.1.25: domainComponent
		if atv.Type.Equal([]int{0, 9, 2342, 19200300, 100, 1, 25}) {
			if v, ok := atv.Value.(string); ok {
				dcs = append(dcs, v)
			}
		}
	}
	return cert.Subject.CommonName, strings.Join(dcs, ".")
}
