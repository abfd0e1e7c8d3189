package tlsconfig

import (
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qpidha/qpidha/internal/testpki"
)

var dcOID = []int{0, 9, 2342, 19200300, 100, 1, 25}

func TestIdentity(t *testing.T) {
	ca := testpki.NewCA(t, t.TempDir(), "id")
	for _, c := range []struct {
		subject      pkix.Name
		user, domain string
	}{
		{pkix.Name{CommonName: "carol", ExtraNames: []pkix.AttributeTypeAndValue{{Type: dcOID, Value: "example"}, {Type: dcOID, Value: "com"}}}, "carol", "example.com"},
		{pkix.Name{CommonName: "erin", Organization: []string{"ACME"}}, "erin", ""},
	} {
		cert := ca.Issue(t, testpki.Spec{Name: c.subject.CommonName, Subject: c.subject, Client: true})
		st, err := Load(Files{Cert: cert.CertFile, Key: cert.KeyFile})
		if err != nil {
			t.Fatal(err)
		}
		if u, d := Identity(st.Leaf()); u != c.user || d != c.domain {
			t.Errorf("%v: %q@%q, want %q@%q", c.subject, u, d, c.user, c.domain)
		}
	}
	if u, d := Identity(nil); u != "" || d != "" {
		t.Errorf("no certificate: %q %q", u, d)
	}
}

func TestLoadErrorsAndWarnings(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, dir, "w")
	good := ca.Broker(t, "good")
	enc := filepath.Join(dir, "enc.pem")
	_ = os.WriteFile(enc, []byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"), 0o600)
	for _, c := range []struct {
		files Files
		want  string
	}{
		{Files{Cert: good.CertFile}, "no key file given (ssl-key-file)"},
		{Files{Key: good.KeyFile}, "no certificate file given (ssl-cert-file)"},
		{Files{Cert: good.CertFile, Key: enc}, "is encrypted"},
		{Files{Cert: good.CertFile, Key: filepath.Join(dir, "w-ca.pem")}, "certificate " + good.CertFile},
		{Files{CA: good.KeyFile}, "no PEM certificate in it"},
	} {
		if _, err := Load(c.files); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.files, err, c.want)
		}
	}

	noSAN := ca.Issue(t, testpki.Spec{Name: "nosan", Server: true})
	_ = os.Chmod(noSAN.KeyFile, 0o644)
	st, err := Load(Files{Cert: noSAN.CertFile, Key: noSAN.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(st.Warnings(time.Now()), "\n")
	for _, want := range []string{"has no subjectAltName", "readable by every user", "expires on"} {
		if want == "expires on" {
			w = strings.Join(st.Warnings(time.Now().Add(23*time.Hour)), "\n")
		}
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
	if _, err := st.Server(Require); err == nil || !strings.Contains(err.Error(), "ssl-ca-file") {
		t.Errorf("client authentication without a CA: %v", err)
	}
	if _, err := st.Server(NoClientCert); err != nil {
		t.Error(err)
	}
	if ok, _ := Load(Files{CA: ca.CertFile}); ok == nil || ok.Leaf() != nil || !ok.HasCA() {
		t.Error("a CA alone")
	}
}
