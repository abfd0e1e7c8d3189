// Package testpki makes a throwaway certificate authority and certificates
// for tests: PEM files as an administrator would install them (an
// unencrypted PKCS#8 key, a certificate with subjectAltNames), and the
// broken kinds (expired, wrong host, another CA) negative tests need.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority whose certificate is in CertFile.
type CA struct {
	Dir      string // where its files are written
	CertFile string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
}

var serial atomic.Int64

// NewCA creates a CA named name with its files in dir.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"qpidha tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &CA{Dir: dir, CertFile: filepath.Join(dir, name+"-ca.pem"), cert: cert, key: key}
	writePEM(t, ca.CertFile, "CERTIFICATE", der)
	return ca
}

// Cert is a certificate and its key, as PEM files.
type Cert struct {
	CertFile, KeyFile string
}

// Spec describes a certificate to issue.
type Spec struct {
	// Name is the file name stem and, unless Subject is set, the common name.
	Name    string
	Subject pkix.Name
	// Hosts are the subjectAltNames: IP addresses or DNS names.
	Hosts []string
	// Server and Client set the extended key usages (both for a broker
	// whose certificate also authenticates its own links to its peers).
	Server, Client bool
	// Expired issues a certificate whose validity ended an hour ago.
	Expired bool
}

// Issue signs a certificate.
func (ca *CA) Issue(t testing.TB, s Spec) Cert {
	t.Helper()
	key := newKey(t)
	subject := s.Subject
	if subject.CommonName == "" {
		subject.CommonName = s.Name
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      subject,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if s.Expired {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	}
	if s.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if s.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range s.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := Cert{CertFile: filepath.Join(ca.Dir, s.Name+".pem"), KeyFile: filepath.Join(ca.Dir, s.Name+"-key.pem")}
	writePEM(t, c.CertFile, "CERTIFICATE", der)
	writePEM(t, c.KeyFile, "PRIVATE KEY", kder)
	return c
}

// Broker issues a broker's certificate for 127.0.0.1 and localhost, good
// for serving and for the broker's own links to its peers.
func (ca *CA) Broker(t testing.TB, name string) Cert {
	return ca.Issue(t, Spec{Name: name, Hosts: []string{"127.0.0.1", "::1", "localhost"}, Server: true, Client: true})
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
