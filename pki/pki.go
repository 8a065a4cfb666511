// Package pki makes the certificates xaso's mutual TLS rests on: a
// province certificate authority, and certificates it issues to central
// members and commune nodes (the commune's code is the certificate's common
// name). It also builds the tls.Config of each side.
//
//	ca, _ := pki.NewCA("xaso Hà Nội", time.Now())
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

// Issue makes a certificate for name, usable by both TLS clients and
// servers, valid for ttl from now.
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
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("issue certificate for %s: %w", name, err)
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
// clients must present a certificate of the same authority that is not a
// node's. The server sends the CA certificate after its own, so that a new
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
		MinVersion: tls.VersionTLS13, VerifyConnection: refuseNodes}, nil
}

// ClientConfig is the TLS configuration of a client that presents its
// certificate and trusts only servers of the same authority.
func ClientConfig(p Pair, caPEM []byte) (*tls.Config, error) {
	cert, err := tls.X509KeyPair(p.CertPEM, p.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("load certificate: %w", err)
	}
	cas, err := pool(caPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: cas, MinVersion: tls.VersionTLS13}, nil
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

// NodeRequest makes a certificate request (DER) for a node's key.
func NodeRequest(keyPEM []byte, nodeID string) ([]byte, error) {
	b, _ := pem.Decode(keyPEM)
	if b == nil {
		return nil, errors.New("node key: no PEM block")
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: nodeID}}, key)
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

// SignNode signs a node's certificate request: the certificate names the
// node (common name) and its commune (a urn:xaso:commune: URI), and serves
// as a TLS client only, valid for ttl from now.
func (ca *CA) SignNode(csrDER []byte, commune, nodeID string, ttl time.Duration, now time.Time) (certPEM []byte, cert *x509.Certificate, err error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	uri, err := url.Parse(nodeURIPrefix + commune)
	if err != nil {
		return nil, nil, fmt.Errorf("commune %q: %w", commune, err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: nodeID, Organization: []string{"xaso"}, OrganizationalUnit: []string{"commune " + commune}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, csr.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign node certificate: %w", err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), cert, nil
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

// refuseNodes is a VerifyConnection hook for member-only servers: a node's
// certificate comes from the same authority but names a commune, and a
// node must never speak Raft or the members' peer service.
func refuseNodes(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) > 0 {
		if c, ok := NodeCommune(cs.PeerCertificates[0]); ok {
			return fmt.Errorf("a node certificate (commune %s) is not a member's", c)
		}
	}
	return nil
}

// PinnedConfig is the TLS configuration of a node reaching central for the
// first time, before it holds the CA: it trusts a server whose chain
// carries a CA certificate with this fingerprint (from the enrollment
// token) and whose certificate that CA signed for the name dialled.
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
			return nil
		},
	}
}
