package pki

import (
	"crypto/tls"
	"net"
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

// handshake runs a TLS handshake over loopback TCP and returns both
// sides' errors; the client then reads once, so that a server refusing
// the client's certificate after the client's half is seen by both.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		s := tls.Server(raw, server)
		err = s.Handshake()
		if err == nil {
			_, err = s.Write([]byte{1})
		}
		s.Close()
		done <- err
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, client)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if clientErr = c.Handshake(); clientErr == nil {
		_, clientErr = c.Read(make([]byte, 1))
	}
	return <-done, clientErr
}

func TestNodeCertificatesNameTheirCommuneAndServeOnlyAsClients(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("province", now)
	member, _ := ca.Issue("central-1", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour, now)
	keyPEM, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NodeRequest(keyPEM, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, cert, err := ca.SignNode(csr, "09619", "node-a", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := NodeCommune(cert); !ok || c != "09619" || cert.Subject.CommonName != "node-a" {
		t.Fatalf("node certificate names %q %v, CN %q", c, ok, cert.Subject.CommonName)
	}
	mc, _ := ParseCertificate(member.CertPEM)
	if _, ok := NodeCommune(mc); ok {
		t.Fatal("a member certificate names a commune")
	}
	if _, _, err := ca.SignNode([]byte("not a request"), "09619", "node-a", time.Hour, now); err == nil {
		t.Fatal("garbage signed")
	}
	node := Pair{CertPEM: certPEM, KeyPEM: keyPEM}

	// A node certificate is refused by member-only servers (Raft) ...
	raftServer, _ := ServerConfig(member, ca.CertPEM)
	nodeClient, err := ClientConfig(node, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	nodeClient.ServerName = "localhost"
	if serr, _ := handshake(t, raftServer, nodeClient); serr == nil {
		t.Fatal("a node certificate was taken by a member-only server")
	}
	// ... but taken by the API, where the replication service checks it.
	api, _ := APIServerConfig(member, ca.CertPEM)
	if serr, cerr := handshake(t, api, nodeClient); serr != nil || cerr != nil {
		t.Fatalf("node to API: %v / %v", serr, cerr)
	}
	// An expired node certificate is refused.
	oldPEM, _, err := ca.SignNode(csr, "09619", "node-a", time.Hour, now.Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ClientConfig(Pair{CertPEM: oldPEM, KeyPEM: keyPEM}, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	expired.ServerName = "localhost"
	if serr, _ := handshake(t, api, expired); serr == nil {
		t.Fatal("an expired node certificate was taken")
	}
	// A member cannot be served by a node certificate.
	memberClient, _ := ClientConfig(member, ca.CertPEM)
	memberClient.ServerName = "node-a"
	nodeAsServer, _ := APIServerConfig(node, ca.CertPEM)
	if _, cerr := handshake(t, nodeAsServer, memberClient); cerr == nil {
		t.Fatal("a node certificate served a member")
	}

	// First contact: the pinned CA fingerprint is enough to trust central,
	// and another CA's fingerprint is not.
	pinned := PinnedConfig(Fingerprint(ca.Cert))
	pinned.ServerName = "127.0.0.1"
	if _, cerr := handshake(t, api, pinned); cerr != nil {
		t.Fatalf("pinned handshake: %v", cerr)
	}
	other, _ := NewCA("other", now)
	wrong := PinnedConfig(Fingerprint(other.Cert))
	wrong.ServerName = "127.0.0.1"
	if _, cerr := handshake(t, api, wrong); cerr == nil {
		t.Fatal("a server trusted under another CA's fingerprint")
	}
	misnamed := PinnedConfig(Fingerprint(ca.Cert))
	misnamed.ServerName = "central.example"
	if _, cerr := handshake(t, api, misnamed); cerr == nil {
		t.Fatal("a server trusted for a name its certificate does not carry")
	}
}
