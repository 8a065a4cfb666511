package pki

import (
	"strings"
	"testing"
	"time"
)

func TestEnrollmentTokenRoundTripAndRefusals(t *testing.T) {
	ca, err := NewCA("test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret, sum, err := NewSecret()
	if err != nil || SecretSum(secret) != sum {
		t.Fatalf("secret %q sum %q: %v", secret, sum, err)
	}
	tok := EnrollmentToken{Commune: "09619", CAFingerprint: Fingerprint(ca.Cert), Secret: secret}
	got, err := ParseEnrollmentToken(" " + tok.String() + "\n")
	if err != nil || got != tok {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "xaso-enroll-1.09619", strings.Replace(tok.String(), tok.CAFingerprint, "abc", 1), strings.Replace(tok.String(), secret, "short", 1), "xaso-enroll-2" + tok.String()[13:]} {
		if _, err := ParseEnrollmentToken(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestCALoadsBackAndIssues(t *testing.T) {
	ca, _ := NewCA("test", time.Now())
	key, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	back, err := LoadCA(ca.CertPEM, key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := back.Issue("central-1", []string{"localhost"}, nil, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ParseCertificate(pair.CertPEM)
	if err != nil || cert.CheckSignatureFrom(ca.Cert) != nil || cert.Subject.CommonName != "central-1" {
		t.Fatalf("issued %v: %v", cert, err)
	}
	other, _ := NewCA("other", time.Now())
	otherKey, _ := other.KeyPEM()
	if _, err := LoadCA(ca.CertPEM, otherKey); err == nil {
		t.Fatal("a CA loaded with another's key")
	}
}
