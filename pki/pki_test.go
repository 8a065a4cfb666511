package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
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

func TestNodeCertificatesNameTheirCommuneAndAreNeverMembers(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("province", now)
	member, _ := ca.Issue("central-1", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour, now)
	keyPEM, err := NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := NodeRequest(keyPEM, "node-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ca.SignNode(csr, "09619", "node-a", NamePolicy{}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, cert := signed.PEM, signed.Cert
	if c, ok := NodeCommune(cert); !ok || c != "09619" || cert.Subject.CommonName != "node-a" {
		t.Fatalf("node certificate names %q %v, CN %q", c, ok, cert.Subject.CommonName)
	}
	mc, _ := ParseCertificate(member.CertPEM)
	if _, ok := NodeCommune(mc); ok {
		t.Fatal("a member certificate names a commune")
	}
	if _, err := ca.SignNode([]byte("not a request"), "09619", "node-a", NamePolicy{}, time.Hour, now); err == nil {
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
	old, err := ca.SignNode(csr, "09619", "node-a", NamePolicy{}, time.Hour, now.Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := ClientConfig(Pair{CertPEM: old.PEM, KeyPEM: keyPEM}, ca.CertPEM)
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

// serverConfig serves pair (with the CA after it, as members do) and
// asks for no client certificate.
func serverConfig(t *testing.T, pair Pair, caPEM []byte) *tls.Config {
	t.Helper()
	c, err := APIServerConfig(pair, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	c.ClientAuth = tls.NoClientCert
	return c
}

func TestANodeCertificateNeverPassesForCentral(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("province", now)
	member, _ := ca.Issue("central-1", []string{"central-1", "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Hour, now)
	// A node whose request asks for central's very name, which a careless
	// policy lets through: its certificate still never passes for central.
	nodeKey, _ := NewNodeKey()
	csr, err := NodeRequest(nodeKey, "node-a", []string{"central-1", "localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	careless, _ := ParseNamePolicy([]string{"central-1"})
	signed, err := ca.SignNode(csr, "09619", "node-a", careless, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(signed.Cert.DNSNames, "central-1") || !slices.Contains(signed.Cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Fatalf("names %v, usages %v", signed.Cert.DNSNames, signed.Cert.ExtKeyUsage)
	}
	node := Pair{CertPEM: signed.PEM, KeyPEM: nodeKey}
	impostor := serverConfig(t, node, ca.CertPEM)

	// Another node reaching central (its own certificate, the CA) ...
	otherKey, _ := NewNodeKey()
	otherCSR, _ := NodeRequest(otherKey, "node-b", nil)
	other, _ := ca.SignNode(otherCSR, "00004", "node-b", NamePolicy{}, time.Hour, now)
	client, err := ClientConfig(Pair{CertPEM: other.PEM, KeyPEM: otherKey}, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"central-1", "127.0.0.1"} {
		c := client.Clone()
		c.ServerName = name
		if _, cerr := handshake(t, impostor, c); cerr == nil || !strings.Contains(cerr.Error(), "not a member") {
			t.Errorf("a node certificate passed for central at %s: %v", name, cerr)
		}
		// ... and a node enrolling, which trusts the CA by its fingerprint.
		p := PinnedConfig(Fingerprint(ca.Cert))
		p.ServerName = name
		if _, cerr := handshake(t, impostor, p); cerr == nil || !strings.Contains(cerr.Error(), "not a member") {
			t.Errorf("a node certificate passed for central at %s on first contact: %v", name, cerr)
		}
		// The real member passes both ways.
		c.ServerName, p.ServerName = name, name
		if _, cerr := handshake(t, serverConfig(t, member, ca.CertPEM), c); cerr != nil {
			t.Errorf("the member at %s: %v", name, cerr)
		}
		if _, cerr := handshake(t, serverConfig(t, member, ca.CertPEM), p); cerr != nil {
			t.Errorf("the member at %s on first contact: %v", name, cerr)
		}
	}
}

func TestNamePolicy(t *testing.T) {
	if _, err := ParseNamePolicy([]string{"10.31.0.0/33"}); err == nil {
		t.Error("a bad network parsed")
	}
	if _, err := ParseNamePolicy([]string{"bad_name.example"}); err == nil {
		t.Error("a bad domain parsed")
	}
	p, err := ParseNamePolicy([]string{"communes.hn.gov.vn", "*.xa.example", "10.31.0.0/16", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	p.Reserved = []string{"central-1.communes.hn.gov.vn", "10.31.0.11", "127.0.0.1"}
	for name, want := range map[string]bool{
		"localhost": true, "127.0.0.1": true, "::1": true, "127.0.0.2": true, // loopback, even reserved
		"communes.hn.gov.vn": true, "xa-tan-lap.communes.hn.gov.vn": true, "XA-TAN-LAP.Communes.HN.gov.vn.": true,
		"a.xa.example": true, "xa.example": true,
		"10.31.4.10": true, "192.0.2.7": true,
		"central-1.communes.hn.gov.vn": false, "10.31.0.11": false, // reserved: central's
		"evilcommunes.hn.gov.vn": false, "hn.gov.vn": false, "central-1": false, "xa-tan-lap": false,
		"10.32.0.1": false, "192.0.2.8": false, "0.0.0.0": false,
		"*.communes.hn.gov.vn": false, "": false,
	} {
		if got := p.Allows(name); got != want {
			t.Errorf("Allows(%q) = %v, want %v", name, got, want)
		}
	}
	// The empty policy: loopback only.
	dns, ips, refused := NamePolicy{}.Filter([]string{"localhost", "xa-tan-lap"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 31, 4, 10)})
	if !slices.Equal(dns, []string{"localhost"}) || len(ips) != 1 || !slices.Equal(refused, []string{"xa-tan-lap", "10.31.4.10"}) {
		t.Errorf("empty policy: %v %v refused %v", dns, ips, refused)
	}
}

func TestAPIClientCertificates(t *testing.T) {
	now := time.Now()
	ca, _ := NewCA("province", now)
	pair, err := ca.IssueAPIClient("00004", "ketnoi", "officer", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := ParseCertificate(pair.CertPEM)
	if c, n, r, ok := APIClient(cert); !ok || c != "00004" || n != "ketnoi" || r != "officer" {
		t.Fatalf("read back %q %q %q %v", c, n, r, ok)
	}
	if IsMember(cert) || slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Fatal("an API client certificate passes for a member or a server")
	}
	for _, bad := range [][3]string{{"0004", "ketnoi", "officer"}, {"00004", "ket noi", "officer"}, {"00004", "ketnoi", "operator"}, {"00004", "", "clerk"}} {
		if _, err := ca.IssueAPIClient(bad[0], bad[1], bad[2], time.Hour, now); err == nil {
			t.Errorf("issued for %v", bad)
		}
	}
	// Neither a node's certificate nor a member's is an API client's.
	key, _ := NewNodeKey()
	csr, _ := NodeRequest(key, "node-a", nil)
	node, _ := ca.SignNode(csr, "00004", "node-a", NamePolicy{}, time.Hour, now)
	member, _ := ca.Issue("central-1", []string{"localhost"}, nil, time.Hour, now)
	mc, _ := ParseCertificate(member.CertPEM)
	for _, c := range []*x509.Certificate{node.Cert, mc} {
		if _, _, _, ok := APIClient(c); ok {
			t.Errorf("%s passes for an API client", c.Subject.CommonName)
		}
	}
	// A member-only server (Raft) refuses an API client certificate.
	raft, _ := ServerConfig(member, ca.CertPEM)
	client, _ := ClientConfig(pair, ca.CertPEM)
	client.ServerName = "localhost"
	if serr, _ := handshake(t, raft, client); serr == nil {
		t.Fatal("an API client certificate was taken by a member-only server")
	}
}
