// Package pki makes the certificates xaso's mutual TLS rests on: a
// province certificate authority, and certificates it issues to central
// members, to commune nodes (a urn:xaso:commune:{code} URI names the
// commune) and to API clients of a node (urn:xaso:api:{commune}:{role}).
// It also builds the tls.Config of each side.
//
// A member's certificate carries no urn:xaso: URI; every other certificate
// of the authority does, and none of them is ever taken as a member's or
// as central's, on either side of a connection: a stolen node key must not
// let its thief speak Raft or pose as central to another node.
//
//	ca, _ := pki.NewCA("xaso Thanh Hóa", time.Now())
//	cert, _ := ca.Issue("central-1", []string{"central-1"}, nil, 365*24*time.Hour, time.Now())
//	srv, _ := pki.ServerConfig(cert, ca.CertPEM)
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"
)

// CA is a certificate authority with its private key.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// Pair is a certificate and its key, PEM-encoded.
type Pair struct {
	CertPEM, KeyPEM []byte
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// NewCA makes a self-signed authority valid for ten years from now.
func NewCA(name string, now time.Time) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make CA key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"xaso"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("make CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}, nil
}

// Issue makes a member's certificate for name, usable by both TLS clients
// and servers, valid for ttl from now. It carries no urn:xaso: URI, so
// every part of xaso takes it as a member of central: never install one
// on a commune node (a node gets its certificate at enrollment).
func (ca *CA) Issue(name string, dnsNames []string, ips []net.IP, ttl time.Duration, now time.Time) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("make key for %s: %w", name, err)
	}
	sn, err := serial()
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"xaso"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
	}
	p, err := signPair(tmpl, ca.Cert, key, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("issue certificate for %s: %w", name, err)
	}
	return p, nil
}

// signPair signs tmpl for key's public half, by signer under parent (tmpl
// itself for a self-signed certificate), and returns the certificate and
// the key, PEM.
func signPair(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer any) (Pair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return Pair{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}, nil
}

// SelfSigned makes a certificate signed by its own key for a TLS server
// answering to hosts (host names and IP addresses), valid for ttl from
// now: what a node serves before central has signed one for it. Clients
// check it by its Fingerprint, which the node logs.
func SelfSigned(name string, hosts []string, ttl time.Duration, now time.Time) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("make key for %s: %w", name, err)
	}
	sn, err := serial()
	if err != nil {
		return Pair{}, err
	}
	dns, ips := SplitHosts(hosts)
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"xaso"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	p, err := signPair(tmpl, tmpl, key, key)
	if err != nil {
		return Pair{}, fmt.Errorf("make self-signed certificate for %s: %w", name, err)
	}
	return p, nil
}

// SPKIHash is the base64 SHA-256 of a certificate's public key, the form
// browsers pin keys in (Chromium's --ignore-certificate-errors-spki-list).
func SPKIHash(cert *x509.Certificate) string {
	s := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(s[:])
}

// Fingerprint is the SHA-256 of a certificate's DER bytes, hex-encoded: what
// an enrollment token carries so that a node can trust central on first contact.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

func pool(caPEM []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no certificate in the CA file")
	}
	return p, nil
}

// ServerConfig is the TLS configuration of a member-only server (Raft):
// clients must present a certificate of the same authority that is a
// member's (not a node's nor an API client's). The server sends the CA certificate after its own, so that a new
// node can check it against the fingerprint in its enrollment token.
func ServerConfig(p Pair, caPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	cas, err := pool(caPEM)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(caPEM); b != nil && len(cert.Certificate) == 1 {
		cert.Certificate = append(cert.Certificate, b.Bytes)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: cas, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS13, VerifyConnection: MembersOnly}, nil
}

// ClientConfig is the TLS configuration of a client that presents its
// certificate and trusts only members of the same authority: a node
// reaching central, a member reaching another. A server that shows a
// node's certificate (or any other that is not a member's) is refused,
// whatever names it carries.
func ClientConfig(p Pair, caPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	cas, err := pool(caPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: cas, MinVersion: tls.VersionTLS13, VerifyConnection: MembersOnly}, nil
}

// EnrollmentToken is what a field engineer types into a new node: the
// commune it enrolls for, the fingerprint of the CA that node must trust
// when it first reaches central, and the one-time secret.
type EnrollmentToken struct {
	Commune       string
	CAFingerprint string
	Secret        string
}

const enrollPrefix = "xaso-enroll-1"

// String is the token's text: xaso-enroll-1.{commune}.{fingerprint}.{secret}.
func (t EnrollmentToken) String() string {
	return enrollPrefix + "." + t.Commune + "." + t.CAFingerprint + "." + t.Secret
}

// ParseEnrollmentToken reads a token's text.
func ParseEnrollmentToken(s string) (EnrollmentToken, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 4 || parts[0] != enrollPrefix {
		return EnrollmentToken{}, errors.New("not an enrollment token (xaso-enroll-1.{commune}.{fingerprint}.{secret})")
	}
	t := EnrollmentToken{Commune: parts[1], CAFingerprint: parts[2], Secret: parts[3]}
	if fp, err := hex.DecodeString(t.CAFingerprint); err != nil || len(fp) != sha256.Size {
		return EnrollmentToken{}, errors.New("enrollment token: the CA fingerprint is not a SHA-256 in hex")
	}
	if len(t.Secret) < 32 {
		return EnrollmentToken{}, errors.New("enrollment token: the secret is too short")
	}
	return t, nil
}

// NewSecret returns a random secret of 32 bytes, base64url-encoded, and
// the hex SHA-256 of its text, which is all central keeps.
func NewSecret() (secret, sum string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, SecretSum(secret), nil
}

// SecretSum is the hex SHA-256 of a secret's text.
func SecretSum(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

// APIServerConfig is the TLS configuration of an API that operators reach
// with tokens, and members and nodes with certificates: a client
// certificate is verified when one is given, not required.
func APIServerConfig(p Pair, caPEM []byte) (*tls.Config, error) {
	c, err := ServerConfig(p, caPEM)
	if err != nil {
		return nil, err
	}
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.VerifyConnection = nil // nodes call the replication service here; each service checks its callers
	return c, nil
}

// KeyPEM is the authority's private key, PEM-encoded, for its owner to keep offline.
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// LoadCA reads an authority from its certificate and key.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("load CA: no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load CA key: %w", err)
	}
	if !cert.IsCA || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("load CA: the key does not belong to a CA certificate")
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

// ParseCertificate reads the first certificate of a PEM file.
func ParseCertificate(certPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

// nodeURIPrefix starts the URI a node certificate carries to name its
// commune: urn:xaso:commune:{code}. Member certificates carry none.
const nodeURIPrefix = "urn:xaso:commune:"

// NewNodeKey makes a commune node's private key (PEM). The node keeps it
// before it first asks for a certificate, so that a request whose answer
// was lost can be made again with the same key.
func NewNodeKey() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make node key: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// NodeRequest makes a certificate request (DER) for a node's key, asking
// for names: the host names and addresses the node answers to, which
// central signs as far as its NamePolicy allows.
func NodeRequest(keyPEM []byte, nodeID string, names []string) ([]byte, error) {
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("node key: no PEM block")
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	dns, ips := SplitHosts(names)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: nodeID}, DNSNames: dns, IPAddresses: ips}, key)
	if err != nil {
		return nil, fmt.Errorf("make certificate request: %w", err)
	}
	return csr, nil
}

// PublicKeySum is the hex SHA-256 of a certificate's public key: what
// central records to recognise a node asking again with the same key.
func PublicKeySum(cert *x509.Certificate) string {
	s := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(s[:])
}

// NodeCertificate is a node certificate SignNode made.
type NodeCertificate struct {
	// PEM is the certificate, PEM-encoded; Cert the same, parsed.
	PEM  []byte
	Cert *x509.Certificate
	// Refused are the names the request asked for that the policy did
	// not let the certificate carry.
	Refused []string
}

// SignNode signs a node's certificate request: the certificate names the
// node (common name) and its commune (a urn:xaso:commune: URI), carries
// the names the request asks for as far as names allows, and serves both
// as a TLS client (to central) and as a server (the node's own API),
// valid for ttl from now. Whatever names it carries, clients of central
// refuse it (MembersOnly).
func (ca *CA) SignNode(csrDER []byte, commune, nodeID string, names NamePolicy, ttl time.Duration, now time.Time) (NodeCertificate, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return NodeCertificate{}, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return NodeCertificate{}, fmt.Errorf("certificate request: %w", err)
	}
	uri, err := url.Parse(nodeURIPrefix + commune)
	if err != nil {
		return NodeCertificate{}, fmt.Errorf("commune %q: %w", commune, err)
	}
	sn, err := serial()
	if err != nil {
		return NodeCertificate{}, err
	}
	dns, ips, refused := names.Filter(csr.DNSNames, csr.IPAddresses)
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: nodeID, Organization: []string{"xaso"}, OrganizationalUnit: []string{"commune " + commune}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:         []*url.URL{uri},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return NodeCertificate{}, fmt.Errorf("sign node certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return NodeCertificate{}, err
	}
	return NodeCertificate{PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Cert: cert, Refused: refused}, nil
}

// NodeCommune returns the commune a node certificate names; ok is false
// for any other certificate (a member's, say).
func NodeCommune(cert *x509.Certificate) (commune string, ok bool) {
	for _, u := range cert.URIs {
		if s := u.String(); strings.HasPrefix(s, nodeURIPrefix) {
			return strings.TrimPrefix(s, nodeURIPrefix), true
		}
	}
	return "", false
}

// xasoURIPrefix starts every URI by which the authority marks a
// certificate that is not a member's.
const xasoURIPrefix = "urn:xaso:"

// IsMember reports whether cert is a member's certificate: one that
// carries no urn:xaso: URI (a node's names its commune, an API client's
// its commune and role). It does not check who signed cert.
func IsMember(cert *x509.Certificate) bool {
	for _, u := range cert.URIs {
		if strings.HasPrefix(u.String(), xasoURIPrefix) {
			return false
		}
	}
	return true
}

// MembersOnly is a VerifyConnection hook that refuses a peer whose
// certificate is not a member's: on a member-only server (Raft, the
// members' peer service) it refuses node and API client certificates,
// which come from the same authority; on a client that reaches central
// it refuses a server showing one, so that a node's stolen key, whatever
// names its certificate carries, cannot pose as central.
func MembersOnly(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return nil // the handshake itself requires one where one is needed
	}
	leaf := cs.PeerCertificates[0]
	if c, ok := NodeCommune(leaf); ok {
		return fmt.Errorf("a node certificate (commune %s) is not a member's", c)
	}
	if !IsMember(leaf) {
		return fmt.Errorf("the certificate of %q is not a member's", leaf.Subject.CommonName)
	}
	return nil
}

// PinnedConfig is the TLS configuration of a node reaching central for the
// first time, before it holds the CA: it trusts a server whose chain
// carries a CA certificate with this fingerprint (from the enrollment
// token) and whose certificate that CA signed for the name dialled, to a
// member (MembersOnly).
func PinnedConfig(caFingerprint string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // verified below against the pinned CA instead of the system roots
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			roots := x509.NewCertPool()
			found := false
			for _, c := range cs.PeerCertificates[1:] {
				if Fingerprint(c) == caFingerprint {
					roots.AddCert(c)
					found = true
				}
			}
			if !found {
				return errors.New("the server's chain does not hold the CA named in the enrollment token")
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("the server's certificate: %w", err)
			}
			return MembersOnly(cs)
		},
	}
}
