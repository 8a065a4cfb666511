package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/pki"
)

// TLS on the node's port. The node serves its API, desk and look-up pages
// over TLS by default, with the first certificate it has of:
//
//  1. the files of tls_cert_file and tls_key_file;
//  2. the certificate central signed at enrollment for the node's names
//     (its key never leaves the encrypted store);
//  3. a self-signed certificate for the node's names, made once and kept
//     in the encrypted store (made anew at each start in a store without
//     encryption, which keeps no private key), whose SHA-256 fingerprint
//     the node logs for a clerk or engineer to compare with the browser's.
//
// When enrollment completes while the node serves, new connections get
// the enrolled certificate at once (tls.Config.GetConfigForClient): no
// restart. API clients may authenticate with a certificate of the province
// CA (once enrolled) or of client_ca_file that names this commune and a
// role (pki.IssueAPIClient); one is asked for, never required, and a
// certificate that is not such a client's is refused at the handshake.
//
// plain_http serves plain HTTP instead, for a reverse proxy that
// terminates TLS: the session cookie is then always Secure and every
// response says Strict-Transport-Security.

// selfSignedTTL is the life of the node's self-signed certificate: long,
// since clients trust it by its fingerprint, which should not change.
const selfSignedTTL = 10 * 365 * 24 * time.Hour

// keyTLSSelf holds the self-signed certificate and its key (PEM, one after
// the other).
const keyTLSSelf = "m/tls_self"

// hstsMaxAge is the Strict-Transport-Security the node sends behind a
// TLS-terminating proxy: a year.
const hstsMaxAge = "max-age=31536000"

// checkTLS validates the TLS keys of the configuration.
func (c Config) checkTLS() error {
	switch {
	case c.TLSCertFile != "" && c.TLSKeyFile == "":
		return errors.New("tls_key_file: required with tls_cert_file")
	case c.TLSCertFile == "" && c.TLSKeyFile != "":
		return errors.New("tls_cert_file: required with tls_key_file")
	case c.PlainHTTP && c.TLSCertFile != "":
		return errors.New("plain_http: set with tls_cert_file; the node serves either TLS or plain HTTP")
	case c.PlainHTTP && c.ClientCAFile != "":
		return errors.New("client_ca_file: set, but plain_http serves no TLS to take client certificates in")
	}
	if c.TLSCertFile != "" {
		if _, err := loadCertFiles(c.TLSCertFile, c.TLSKeyFile, time.Now()); err != nil {
			return err
		}
	}
	if c.ClientCAFile != "" {
		if _, err := loadCAFile(c.ClientCAFile); err != nil {
			return err
		}
	}
	return nil
}

// loadCertFiles reads the configured certificate and key, naming the key
// of the file that is wrong.
func loadCertFiles(certFile, keyFile string, now time.Time) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls_cert_file: %w", err)
	}
	leaf, err := pki.ParseCertificate(certPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls_cert_file: %s: %w", certFile, err)
	}
	if now.After(leaf.NotAfter) {
		return tls.Certificate{}, fmt.Errorf("tls_cert_file: %s expired on %s", certFile, leaf.NotAfter.Format(time.DateOnly))
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls_key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls_key_file: %s with %s: %w", keyFile, certFile, err)
	}
	return cert, nil
}

// loadCAFile reads the certificates of client_ca_file.
func loadCAFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client_ca_file: %w", err)
	}
	var out []*x509.Certificate
	for len(data) > 0 {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("client_ca_file: %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("client_ca_file: no PEM certificate in %s", path)
	}
	return out, nil
}

// nodeTLS is the TLS the node serves: the certificate in force and the
// CAs of its API clients, replaced as a whole when enrollment completes.
type nodeTLS struct {
	log     *slog.Logger
	store   *Store
	commune string
	// names are the names the node answers to (Config.HostNames).
	names []string
	// files is the configured certificate (tls_cert_file), if any.
	files *tls.Certificate
	// clientCAs are client_ca_file's certificates.
	clientCAs []*x509.Certificate
	// now is the clock certificates are checked and made with: the real
	// one, as the TLS handshake's.
	now func() time.Time

	mu sync.Mutex // serializes update
	// self is the self-signed certificate, once made or read.
	self *tls.Certificate
	// config is what each handshake gets (GetConfigForClient).
	config atomic.Pointer[tls.Config]
	// leaf is the certificate served now.
	leaf atomic.Pointer[x509.Certificate]
	// source says where it comes from: tls_cert_file, enrollment or
	// self-signed.
	source string
}

// newNodeTLS loads what the node serves TLS with: the configured files,
// else the enrolled certificate in st, else a self-signed one.
func newNodeTLS(ctx context.Context, cfg Config, st *Store, log *slog.Logger) (*nodeTLS, error) {
	t := &nodeTLS{log: log, store: st, commune: cfg.Commune, names: cfg.HostNames(), now: time.Now}
	if cfg.TLSCertFile != "" {
		c, err := loadCertFiles(cfg.TLSCertFile, cfg.TLSKeyFile, t.now())
		if err != nil {
			return nil, err
		}
		t.files = &c
	}
	if cfg.ClientCAFile != "" {
		cas, err := loadCAFile(cfg.ClientCAFile)
		if err != nil {
			return nil, err
		}
		t.clientCAs = cas
	}
	id, err := st.Identity()
	if err != nil {
		return nil, err
	}
	if err := t.update(ctx, id); err != nil {
		return nil, err
	}
	return t, nil
}

// update chooses the certificate and the client CAs from the node's
// identity (nil before enrollment) and puts them in force for the next
// handshake.
func (t *nodeTLS) update(ctx context.Context, id *xasov1.NodeIdentity) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var cas []*x509.Certificate
	cas = append(cas, t.clientCAs...)
	if len(id.GetCaPem()) > 0 {
		ca, err := pki.ParseCertificate(id.GetCaPem())
		if err != nil {
			return fmt.Errorf("the province CA of the node's enrollment: %w", err)
		}
		cas = append(cas, ca)
	}
	var cert tls.Certificate
	var source string
	enrolled, why := t.enrolledCert(id)
	switch {
	case t.files != nil:
		cert, source = *t.files, "tls_cert_file"
	case enrolled != nil:
		cert, source = *enrolled, "enrollment"
	default:
		if why != "" {
			t.log.Warn("the node's enrolled certificate cannot serve TLS; serving a self-signed one", "why", why)
		}
		self, err := t.selfSigned(ctx)
		if err != nil {
			return err
		}
		cert, source = *self, "self-signed"
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("the certificate to serve (%s): %w", source, err)
	}
	c := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12, // the browsers of commune PCs
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if len(cas) > 0 {
		pool := x509.NewCertPool()
		for _, ca := range cas {
			pool.AddCert(ca)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.VerifyClientCertIfGiven
		c.VerifyConnection = t.apiClientsOnly
	}
	if old := t.leaf.Load(); old == nil || !old.Equal(leaf) {
		t.logServing(leaf, source)
	}
	t.source = source
	t.leaf.Store(leaf)
	t.config.Store(c)
	return nil
}

// logServing says which certificate the node serves now, and which of
// its names that certificate does not carry.
func (t *nodeTLS) logServing(leaf *x509.Certificate, source string) {
	var missing []string
	for _, n := range t.names {
		if leaf.VerifyHostname(n) != nil {
			missing = append(missing, n)
		}
	}
	args := []any{"source", source, "sha256_fingerprint", pki.Fingerprint(leaf), "spki_sha256", pki.SPKIHash(leaf),
		"names", certNames(leaf), "expires", leaf.NotAfter.Format(time.DateOnly)}
	switch source {
	case "self-signed":
		t.log.Info("serving TLS with the node's self-signed certificate: a browser warns once; compare the certificate's SHA-256 fingerprint with this one before accepting it", args...)
	default:
		t.log.Info("serving TLS", args...)
	}
	if len(missing) > 0 && source != "self-signed" {
		t.log.Warn("the certificate served does not carry every name the node answers to: clients reaching it by these get a certificate error (see central's node_certificate_names, or set tls_cert_file)", "missing", missing)
	}
}

// certNames are a certificate's DNS names and IP addresses, as text.
func certNames(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// enrolledCert is the certificate central signed for the node, with the
// CA after it, when it can serve TLS; otherwise nil, with why (empty when
// the node is simply not enrolled).
func (t *nodeTLS) enrolledCert(id *xasov1.NodeIdentity) (*tls.Certificate, string) {
	if len(id.GetCertificatePem()) == 0 || len(id.GetKeyPem()) == 0 {
		return nil, ""
	}
	cert, err := tls.X509KeyPair(id.GetCertificatePem(), id.GetKeyPem())
	if err != nil {
		return nil, err.Error()
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	switch {
	case err != nil:
		return nil, err.Error()
	case !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth):
		return nil, "it was signed by an earlier version, for TLS clients only: revoke the node at central and enroll it again, or set tls_cert_file"
	case t.now().After(leaf.NotAfter):
		return nil, "it expired on " + leaf.NotAfter.Format(time.DateOnly) + ": revoke the node at central and enroll it again"
	}
	if b, _ := pem.Decode(id.GetCaPem()); b != nil {
		cert.Certificate = append(cert.Certificate, b.Bytes)
	}
	return &cert, ""
}

// selfSigned returns the node's self-signed certificate: the one kept in
// the store when it names the node's names, else a new one, kept when the
// store is encrypted.
func (t *nodeTLS) selfSigned(ctx context.Context) (*tls.Certificate, error) {
	if t.self != nil {
		return t.self, nil
	}
	var kept []byte
	err := t.store.view(func(txn *badger.Txn) (err error) {
		kept, err = getValue(txn, []byte(keyTLSSelf))
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("read the self-signed certificate: %w", err)
	}
	if len(kept) > 0 {
		if c, err := tls.X509KeyPair(kept, kept); err == nil {
			if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil && t.now().Before(leaf.NotAfter) && slices.Equal(certNames(leaf), t.selfNames()) {
				t.self = &c
				return t.self, nil
			}
		}
	}
	pair, err := pki.SelfSigned("xaso node "+t.commune, t.names, selfSignedTTL, t.now())
	if err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		return nil, err
	}
	if t.store.Encrypted() {
		v := append(bytes.Clone(pair.CertPEM), pair.KeyPEM...)
		if _, err := t.store.write(ctx, func(*badger.Txn) (*effect, error) {
			eff := newEffect()
			eff.set([]byte(keyTLSSelf), v)
			return eff, nil
		}); err != nil {
			return nil, fmt.Errorf("keep the self-signed certificate: %w", err)
		}
	} else {
		t.log.Warn("the store is not encrypted: the self-signed certificate's key is not kept, and a new one (with a new fingerprint) is made at each start")
	}
	t.self = &c
	return t.self, nil
}

// selfNames are the names a self-signed certificate for t.names carries,
// in the order certNames gives them.
func (t *nodeTLS) selfNames() []string {
	dns, ips := pki.SplitHosts(t.names)
	out := slices.Clone(dns)
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}

// serverConfig is the listener's TLS configuration: each handshake gets
// the configuration in force then.
func (t *nodeTLS) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return t.config.Load(), nil
		},
	}
}

// apiClientsOnly refuses, at the handshake, a verified client certificate
// that is not an API client's of this commune: a node's (of this commune
// or another), a member's, or a client's of another commune.
func (t *nodeTLS) apiClientsOnly(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	commune, name, _, ok := pki.APIClient(cs.PeerCertificates[0])
	switch {
	case !ok:
		return fmt.Errorf("the client certificate of %q is not an API client's (xaso admin api-cert)", cs.PeerCertificates[0].Subject.CommonName)
	case commune != t.commune:
		return fmt.Errorf("the client certificate of %q is for commune %s, not %s", name, commune, t.commune)
	}
	return nil
}

// certPrincipal returns who an API client certificate of this commune
// names, from a connection's TLS state (a request's r.TLS; for gRPC,
// tlsState(ctx)): its name, its role (0 for monitor) and ViaCertificate.
// ok is false without a verified certificate, for a node's, a member's
// or another commune's client's, and for one outside its validity.
func (n *Node) certPrincipal(state *tls.ConnectionState) (Principal, bool) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return Principal{}, false
	}
	leaf := state.VerifiedChains[0][0]
	commune, name, role, ok := pki.APIClient(leaf)
	if !ok || commune != n.cfg.Commune {
		return Principal{}, false
	}
	if now := time.Now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return Principal{}, false
	}
	return Principal{Name: name, Role: User{Role: role}.role(), Via: ViaCertificate}, true
}

// tlsState is the TLS state of a gRPC call's connection, nil when it came
// without TLS.
func tlsState(ctx context.Context) *tls.ConnectionState {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
		return &ti.State
	}
	return nil
}

// CertificatePEM is the certificate the node serves TLS with now (PEM),
// nil with plain_http: what a client that reaches the node before it has
// enrolled, or a test, may trust.
func (n *Node) CertificatePEM() []byte {
	if n.tls == nil {
		return nil
	}
	leaf := n.tls.leaf.Load()
	if leaf == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})
}

// TLSSource says where the certificate the node serves comes from:
// "tls_cert_file", "enrollment" or "self-signed"; "" with plain_http.
func (n *Node) TLSSource() string {
	if n.tls == nil {
		return ""
	}
	n.tls.mu.Lock()
	defer n.tls.mu.Unlock()
	return n.tls.source
}

// secure reports whether the browser reached the node over HTTPS: TLS
// here, or at the reverse proxy in front of a plain_http node.
func (n *Node) secure(r *http.Request) bool { return r.TLS != nil || n.cfg.PlainHTTP }

// strictTransport adds Strict-Transport-Security to every response: a
// plain_http node is reached through a TLS-terminating proxy, and browsers
// must not fall back to plain HTTP on that host.
func strictTransport(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", hstsMaxAge)
		h.ServeHTTP(w, r)
	})
}
