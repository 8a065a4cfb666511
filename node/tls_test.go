package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/pki"
)

// provinceCA is a province CA for tests, with the identity central would
// give this test node at enrollment (its certificate names 127.0.0.1).
func provinceCA(t *testing.T) (*pki.CA, *xasov1.NodeIdentity) {
	t.Helper()
	ca, err := pki.NewCA("test province", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.NodeRequest(key, "node-"+testCommune, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ca.SignNode(csr, testCommune, "node-"+testCommune, pki.NamePolicy{}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ca, &xasov1.NodeIdentity{NodeId: "node-" + testCommune, CommuneCode: testCommune, CertificatePem: signed.PEM, KeyPem: key, CaPem: ca.CertPEM}
}

// enroll gives the running node the identity, as the syncer does when
// central answers its enrollment.
func (n *testNode) enroll(t *testing.T, id *xasov1.NodeIdentity) {
	t.Helper()
	if err := (syncLocal{Store: n.store, n: n.Node}).SaveIdentity(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// clientOf is a TLS client configuration trusting ca's certificates for
// 127.0.0.1 and presenting pair, if given.
func clientOf(t *testing.T, caPEM []byte, pair *pki.Pair) *tls.Config {
	t.Helper()
	c := trusting(t, caPEM)
	if pair != nil {
		cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

// get makes a GET with a client of tc and returns the status (0 when the
// connection failed) and the error.
func get(url string, tc *tls.Config) (int, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestServesTLSByDefaultWithAKeptSelfSignedCertificate(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, func(c *Config) { c.DataDir = dir })
	if !strings.HasPrefix(n.url, "https://") || n.TLSSource() != "self-signed" {
		t.Fatalf("serving %s from %q", n.url, n.TLSSource())
	}
	// A plain HTTP request is refused.
	plain := "http" + strings.TrimPrefix(n.url, "https")
	resp, err := http.Get(plain + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("plain HTTP: %d", resp.StatusCode)
		}
	}
	// A client that does not trust the certificate is refused too.
	if _, err := get(n.url+"/healthz", &tls.Config{}); err == nil {
		t.Fatal("an untrusted self-signed certificate was accepted")
	}
	// gRPC and REST over TLS.
	if _, err := n.grpc.GetSyncStatus(context.Background(), &xasov1.GetSyncStatusRequest{}); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	if st, err := get(n.url+"/healthz", n.tlsConfig); st != 200 {
		t.Fatalf("REST over TLS: %d %v", st, err)
	}
	// The certificate names the node's names and is kept in the store:
	// the same one after a restart.
	cert, err := pki.ParseCertificate(n.CertificatePEM())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range n.cfg.HostNames() {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("the self-signed certificate: %v", err)
		}
	}
}

func TestTheSelfSignedCertificateIsKeptAcrossRestarts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Commune, cfg.DataDir = testCommune, t.TempDir()
	var first []byte
	for i := range 2 {
		n, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler), time.Now)
		if err != nil {
			t.Fatal(err)
		}
		pem := n.CertificatePEM()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = pem
		} else if string(pem) != string(first) {
			t.Fatal("a new self-signed certificate at the next start")
		}
	}
	// New names (say, a new address), a new certificate for them.
	cfg.Names = []string{"xa-tan-lap.example"}
	n, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cert, _ := pki.ParseCertificate(n.CertificatePEM())
	if string(n.CertificatePEM()) == string(first) || cert.VerifyHostname("xa-tan-lap.example") != nil {
		t.Fatal("the self-signed certificate does not follow the node's names")
	}
}

func TestTLSFromConfiguredFiles(t *testing.T) {
	ca, _ := pki.NewCA("the province's web CA", time.Now())
	pair, err := ca.Issue("xa-tan-lap", []string{"xa-tan-lap.example"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	os.WriteFile(certFile, pair.CertPEM, 0o644)
	os.WriteFile(keyFile, pair.KeyPEM, 0o600)
	other, _ := ca.Issue("other", nil, nil, time.Hour, time.Now())
	otherKey := filepath.Join(dir, "other.key")
	os.WriteFile(otherKey, other.KeyPEM, 0o600)

	// Bad combinations name their key.
	base := DefaultConfig()
	base.Commune, base.DataDir = testCommune, dir
	for _, tc := range []struct {
		key string
		set func(*Config)
	}{
		{"tls_key_file", func(c *Config) { c.TLSCertFile = certFile }},
		{"tls_cert_file", func(c *Config) { c.TLSKeyFile = keyFile }},
		{"tls_key_file", func(c *Config) { c.TLSCertFile, c.TLSKeyFile = certFile, otherKey }},
		{"tls_cert_file", func(c *Config) { c.TLSCertFile, c.TLSKeyFile = keyFile, keyFile }},
		{"tls_cert_file", func(c *Config) { c.TLSCertFile, c.TLSKeyFile = filepath.Join(dir, "none"), keyFile }},
		{"plain_http", func(c *Config) { c.TLSCertFile, c.TLSKeyFile, c.PlainHTTP = certFile, keyFile, true }},
		{"client_ca_file", func(c *Config) { c.ClientCAFile, c.PlainHTTP = certFile, true }},
		{"client_ca_file", func(c *Config) { c.ClientCAFile = keyFile }},
	} {
		c := base
		tc.set(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
			t.Errorf("want an error naming %s, got %v", tc.key, err)
		}
	}

	n := startNode(t, func(c *Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile })
	if n.TLSSource() != "tls_cert_file" {
		t.Fatalf("serving from %q", n.TLSSource())
	}
	if st, err := get(n.url+"/healthz", trusting(t, ca.CertPEM)); st != 200 {
		t.Fatalf("with the configured certificate: %d %v", st, err)
	}
	// Enrolling changes the client CAs, not the configured certificate.
	_, id := provinceCA(t)
	n.enroll(t, id)
	if n.TLSSource() != "tls_cert_file" {
		t.Fatalf("after enrollment, serving from %q", n.TLSSource())
	}
}

func TestEnrolledCertificateReplacesTheSelfSignedOneWhileServing(t *testing.T) {
	n := startNode(t)
	ca, id := provinceCA(t)
	province := trusting(t, ca.CertPEM)
	if _, err := n.grpc.GetSyncStatus(context.Background(), &xasov1.GetSyncStatusRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(n.url+"/healthz", province); err == nil {
		t.Fatal("the province CA trusted the self-signed certificate")
	}
	n.enroll(t, id)
	// New connections get the enrolled certificate, without a restart.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := get(n.url+"/healthz", province)
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the enrolled certificate is not served: %d %v", st, err)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
	}
	if n.TLSSource() != "enrollment" {
		t.Fatalf("serving from %q", n.TLSSource())
	}
	// The connections made before go on.
	if _, err := n.grpc.GetSyncStatus(context.Background(), &xasov1.GetSyncStatusRequest{}); err != nil {
		t.Fatalf("the gRPC connection made before enrollment: %v", err)
	}

	// A certificate central signed by an earlier version, for TLS clients
	// only, cannot serve: the node keeps its self-signed one.
	m := startNode(t)
	old := proto2(id)
	legacy, _ := ca.IssueAPIClient(testCommune, "node-"+testCommune, "clerk", time.Hour, time.Now()) // ClientAuth only
	old.CertificatePem, old.KeyPem = legacy.CertPEM, legacy.KeyPEM
	m.enroll(t, old)
	if m.TLSSource() != "self-signed" {
		t.Fatalf("a client-only certificate served: %q", m.TLSSource())
	}
}

// proto2 copies an identity.
func proto2(id *xasov1.NodeIdentity) *xasov1.NodeIdentity {
	return &xasov1.NodeIdentity{NodeId: id.GetNodeId(), CommuneCode: id.GetCommuneCode(), CertificatePem: id.GetCertificatePem(), KeyPem: id.GetKeyPem(), CaPem: id.GetCaPem()}
}

// serverState runs one handshake against the node's TLS configuration and
// returns the server's connection state, or the server's error.
func serverState(t *testing.T, n *testNode, client *tls.Config) (*tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		st  *tls.ConnectionState
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		s := tls.Server(raw, n.tls.serverConfig())
		defer s.Close()
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if err := s.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		st := s.ConnectionState()
		s.Write([]byte{1})
		done <- result{st: &st}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, client)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if c.Handshake() == nil {
		c.Read(make([]byte, 1))
	}
	c.Close()
	r := <-done
	return r.st, r.err
}

func TestAPIClientCertificates(t *testing.T) {
	extra, _ := pki.NewCA("the commune's own CA", time.Now())
	dir := t.TempDir()
	extraFile := filepath.Join(dir, "clients.crt")
	os.WriteFile(extraFile, extra.CertPEM, 0o644)
	n := startNode(t, func(c *Config) { c.ClientCAFile = extraFile })
	ca, id := provinceCA(t)

	issue := func(ca *pki.CA, commune, name, role string) *pki.Pair {
		p, err := ca.IssueAPIClient(commune, name, role, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return &p
	}
	// Before enrollment: client_ca_file's clients only.
	st, err := serverState(t, n, clientOf(t, n.CertificatePEM(), issue(extra, testCommune, "ketnoi", "officer")))
	if err != nil {
		t.Fatalf("a client of client_ca_file: %v", err)
	}
	if p, ok := n.certPrincipal(st); !ok || p != (Principal{Name: "ketnoi", Role: dossier.Officer, Via: ViaCertificate}) {
		t.Fatalf("principal %+v %v", p, ok)
	}
	// (A client's certificate of a CA the node does not name is not even
	// sent: the connection is nobody's.)
	st, err = serverState(t, n, clientOf(t, n.CertificatePEM(), issue(ca, testCommune, "ketnoi", "officer")))
	if p, ok := n.certPrincipal(st); err == nil && ok {
		t.Fatalf("a province client taken before the node holds the province CA: %+v", p)
	}

	n.enroll(t, id)
	province := func(p *pki.Pair) *tls.Config { return clientOf(t, ca.CertPEM, p) }
	for _, tc := range []struct {
		role string
		want dossier.Role
	}{{"clerk", dossier.Clerk}, {"officer", dossier.Officer}, {"leader", dossier.Leader}, {"monitor", 0}} {
		st, err := serverState(t, n, province(issue(ca, testCommune, "ketnoi", tc.role)))
		if err != nil {
			t.Fatalf("%s: %v", tc.role, err)
		}
		if p, ok := n.certPrincipal(st); !ok || p.Name != "ketnoi" || p.Role != tc.want || p.Via != ViaCertificate {
			t.Fatalf("%s: principal %+v %v", tc.role, p, ok)
		}
	}
	// No certificate: served, nobody.
	st, err = serverState(t, n, province(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.certPrincipal(st); ok || func() bool { _, ok := n.certPrincipal(nil); return ok }() {
		t.Fatal("a principal without a certificate")
	}
	// Another commune's client, and a node's certificate (this node's own,
	// whose key a thief could take), are refused at the handshake, and are
	// nobody when they get that far.
	otherCommune := issue(ca, "00004", "ketnoi", "leader")
	nodeCert := &pki.Pair{CertPEM: id.GetCertificatePem(), KeyPEM: id.GetKeyPem()}
	for name, pair := range map[string]*pki.Pair{"another commune's client": otherCommune, "a node": nodeCert} {
		if _, err := serverState(t, n, province(pair)); err == nil {
			t.Errorf("%s: taken at the handshake", name)
		}
		leaf, _ := pki.ParseCertificate(pair.CertPEM)
		if p, ok := n.certPrincipal(&tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}); ok {
			t.Errorf("%s: principal %+v", name, p)
		}
	}
	// Through the node's real server, gRPC's connection state is the
	// one certPrincipal reads.
	st, err = serverState(t, n, province(issue(ca, testCommune, "giamsat", "monitor")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: *st}})
	if p, ok := n.certPrincipal(tlsState(ctx)); !ok || p.Name != "giamsat" || p.Official() {
		t.Fatalf("from a gRPC context: %+v %v", p, ok)
	}
	if tlsState(context.Background()) != nil {
		t.Fatal("a TLS state without a peer")
	}
	// The node's API takes them: a monitor reads the sync status but no
	// dossier, an officer reads dossiers; without credentials, nobody.
	for _, c := range []struct {
		client *tls.Config
		path   string
		want   int
	}{
		{province(issue(ca, testCommune, "giamsat", "monitor")), "/v1/sync", 200},
		{province(issue(ca, testCommune, "giamsat", "monitor")), "/v1/dossiers", 403},
		{province(issue(ca, testCommune, "ketnoi", "officer")), "/v1/dossiers", 200},
		{province(nil), "/v1/sync", 401},
	} {
		if code, err := get(n.url+c.path, c.client); code != c.want {
			t.Errorf("GET %s: %d %v, want %d", c.path, code, err, c.want)
		}
	}
}

func TestPlainHTTPBehindAProxyForcesSecureCookiesAndHSTS(t *testing.T) {
	n := startNode(t, func(c *Config) { c.PlainHTTP, c.UsersFile = true, writeUsers(t) })
	if !strings.HasPrefix(n.url, "http://") || n.CertificatePEM() != nil || n.TLSSource() != "" {
		t.Fatalf("plain_http serves %s, certificate %q", n.url, n.TLSSource())
	}
	resp, err := n.client.Get(n.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != hstsMaxAge {
		t.Fatalf("healthz: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// The proxy forwards the browser's sign-in over plain HTTP; the
	// session cookie is Secure all the same.
	req, _ := http.NewRequest("POST", n.url+"/dang-nhap", strings.NewReader(url.Values{"name": {"lan"}, "password": {"mật khẩu 1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", n.url)
	c := &http.Client{Transport: n.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil || !session.Secure || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("sign-in: %d, cookies %v, HSTS %q", resp.StatusCode, resp.Cookies(), resp.Header.Get("Strict-Transport-Security"))
	}
}
