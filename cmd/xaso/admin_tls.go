package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/xaso/xaso/pki"
)

// nodeTLSFlags are how xaso admin reaches a node: which certificate it
// trusts the node by, and the client certificate it presents, if any.
type nodeTLSFlags struct {
	ca, fingerprint, cert, key *string
	plain                      *bool
}

// credentials are the transport credentials of a connection to the node
// at addr.
func (f nodeTLSFlags) credentials(addr string) (credentials.TransportCredentials, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("addr: %q is not host:port", addr)
	}
	if *f.plain {
		if *f.ca != "" || *f.fingerprint != "" || *f.cert != "" {
			return nil, errors.New("node-plain-http: set with a TLS flag (node-ca, node-fingerprint, node-cert)")
		}
		return insecure.NewCredentials(), nil
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	switch {
	case *f.ca != "" && *f.fingerprint != "":
		return nil, errors.New("node-fingerprint: set with node-ca; trust the node by one of them")
	case *f.ca != "":
		data, err := os.ReadFile(*f.ca)
		if err != nil {
			return nil, fmt.Errorf("node-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("node-ca: no PEM certificate in %s", *f.ca)
		}
		tc.RootCAs = pool
	case *f.fingerprint != "":
		want := strings.ToLower(strings.ReplaceAll(*f.fingerprint, ":", ""))
		if len(want) != 64 {
			return nil, fmt.Errorf("node-fingerprint: %q is not a SHA-256 in hex", *f.fingerprint)
		}
		// The node's self-signed certificate is trusted by its
		// fingerprint, which the node logs, instead of by a CA.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || pki.Fingerprint(cs.PeerCertificates[0]) != want {
				return errors.New("the node's certificate does not have the fingerprint of --node-fingerprint")
			}
			return nil
		}
	}
	if (*f.cert == "") != (*f.key == "") {
		return nil, errors.New("node-cert: give node-cert and node-key together")
	}
	if *f.cert != "" {
		pair, err := tls.LoadX509KeyPair(*f.cert, *f.key)
		if err != nil {
			return nil, fmt.Errorf("node-cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(tc), nil
}

const apiCertUsage = `usage: xaso admin api-cert --ca-cert F --ca-key F --commune CODE --name NAME --role R [--ttl 2160h] --out DIR
  a certificate for a program calling one commune node's API as NAME with
  role R (clerk, officer, leader or monitor), signed offline with the
  province CA's files (on the member that keeps ca.key); it writes
  DIR/NAME.crt and DIR/NAME.key (0600), never over existing files
`

// runAPICert issues an API client certificate with the province CA.
func runAPICert(args []string, now time.Time, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso admin api-cert", flag.ContinueOnError)
	caCert := fs.String("ca-cert", "", "the province CA certificate (PEM)")
	caKey := fs.String("ca-key", "", "the province CA key (PEM)")
	commune := fs.String("commune", "", "the 5-digit code of the commune whose node the client calls")
	name := fs.String("name", "", "the client's name, recorded as the actor of what it does")
	role := fs.String("role", "", "clerk, officer, leader or monitor")
	ttl := fs.Duration("ttl", 90*24*time.Hour, "how long the certificate is valid (at most 8784h)")
	out := fs.String("out", ".", "directory to write NAME.crt and NAME.key in")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, apiCertUsage)
		return errUsage
	}
	for _, f := range [][2]string{{"ca-cert", *caCert}, {"ca-key", *caKey}, {"commune", *commune}, {"name", *name}, {"role", *role}} {
		if f[1] == "" {
			return fmt.Errorf("%s: required", f[0])
		}
	}
	if *ttl <= 0 || *ttl > 366*24*time.Hour {
		return fmt.Errorf("ttl: %v is outside 1s to 8784h (a year)", *ttl)
	}
	certPEM, err := os.ReadFile(*caCert)
	if err != nil {
		return fmt.Errorf("ca-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(*caKey)
	if err != nil {
		return fmt.Errorf("ca-key: %w", err)
	}
	ca, err := pki.LoadCA(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("ca-key: %w", err)
	}
	pair, err := ca.IssueAPIClient(*commune, *name, *role, *ttl, now)
	if err != nil {
		return err // names the flag: commune, name or role
	}
	crt, key := filepath.Join(*out, *name+".crt"), filepath.Join(*out, *name+".key")
	for _, f := range []string{crt, key} {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("out: %s exists already", f)
		}
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	if err := writeNew(key, pair.KeyPEM, 0o600); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	if err := writeNew(crt, pair.CertPEM, 0o644); err != nil {
		return fmt.Errorf("out: %w", err)
	}
	fmt.Fprintf(stdout, "API client certificate of %s (%s) for commune %s's node, valid until %s: %s, key %s\n",
		*name, *role, *commune, now.Add(*ttl).Format(time.DateOnly), crt, key)
	return nil
}

// writeNew writes a file that must not exist yet, with mode perm.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
