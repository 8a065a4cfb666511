package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// apiURIPrefix starts the URI an API client certificate carries:
// urn:xaso:api:{commune}:{role}.
const apiURIPrefix = "urn:xaso:api:"

// APIRoles are the roles an API client certificate may name: the
// workflow's (clerk, officer, leader) and monitor, which reads a node's
// health and metrics but no dossier.
var APIRoles = []string{"clerk", "officer", "leader", "monitor"}

// IssueAPIClient makes a certificate with which a program calls the API of
// commune's node as name, with role (one of APIRoles), valid for ttl from
// now. It serves as a TLS client only: it cannot serve as a member, as
// central or as a node, and a node of another commune does not take it.
func (ca *CA) IssueAPIClient(commune, name, role string, ttl time.Duration, now time.Time) (Pair, error) {
	if !validCommune(commune) {
		return Pair{}, fmt.Errorf("commune: %q is not a 5-digit administrative unit code", commune)
	}
	if !validClientName(name) {
		return Pair{}, fmt.Errorf("name: %q is not 1 to 64 letters, digits, '.', '-' or '_'", name)
	}
	if !slices.Contains(APIRoles, role) {
		return Pair{}, fmt.Errorf("role: %q is not %s", role, strings.Join(APIRoles, ", "))
	}
	if ttl <= 0 {
		return Pair{}, fmt.Errorf("ttl: %v is not a positive duration", ttl)
	}
	uri, err := url.Parse(apiURIPrefix + commune + ":" + role)
	if err != nil {
		return Pair{}, err
	}
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
		Subject:      pkix.Name{CommonName: name, Organization: []string{"xaso"}, OrganizationalUnit: []string{"API client of commune " + commune}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{uri},
	}
	p, err := signPair(tmpl, ca.Cert, key, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("issue API client certificate for %s: %w", name, err)
	}
	return p, nil
}

// APIClient reads an API client certificate back: the commune whose node
// it may call, the client's name and its role. ok is false for any other
// certificate — a node's (which names a commune too) or a member's — and
// for one that is not for TLS clients or names no known role. It does not
// check who signed cert: the TLS handshake does.
func APIClient(cert *x509.Certificate) (commune, name, role string, ok bool) {
	if cert == nil || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return "", "", "", false
	}
	if _, isNode := NodeCommune(cert); isNode {
		return "", "", "", false
	}
	found := 0
	for _, u := range cert.URIs {
		s := u.String()
		if !strings.HasPrefix(s, apiURIPrefix) {
			continue
		}
		found++
		commune, role, _ = strings.Cut(strings.TrimPrefix(s, apiURIPrefix), ":")
	}
	name = cert.Subject.CommonName
	if found != 1 || !validCommune(commune) || !slices.Contains(APIRoles, role) || !validClientName(name) {
		return "", "", "", false
	}
	return commune, name, role, true
}

// validCommune reports whether s is a 5-digit administrative unit code.
func validCommune(s string) bool {
	if len(s) != 5 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// validClientName reports whether s is 1 to 64 ASCII letters, digits,
// '.', '-' or '_' (what a node records as an event's actor).
func validClientName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
