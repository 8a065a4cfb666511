package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/pki"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("commune: '09619'\nlisten: ':8080'\nlog_level: chatty\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("commune: '09619'\nsync_window: night\n"), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("commune: '09619'\ndata_dir: "+dir+"\n"), 0o600)
	loose := filepath.Join(dir, "loose.key")
	os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o600)
	os.Chmod(loose, 0o640)
	looseConfig := filepath.Join(dir, "loose.yaml")
	os.WriteFile(looseConfig, []byte("commune: '09619'\ndata_dir: "+filepath.Join(dir, "store")+"\nencryption_key_file: "+loose+"\n"), 0o600)
	tests := []struct {
		args []string
		code int
		key  string
	}{
		{[]string{"node", "--commune", "12", "--data-dir", dir}, 1, "commune"},
		{[]string{"node", "--commune", "09619", "--max-attachment-bytes", "lots"}, 1, "max_attachment_bytes"},
		{[]string{"node", "--config", bad}, 1, "log_level"},
		{[]string{"node", "--colour", "red"}, 2, "colour"},
		{[]string{"node", "--commune", "09619", "--data-dir", filepath.Join(dir, "store"), "--encryption-key-file", loose}, 1, "encryption_key_file"},
		{[]string{"node", "--commune", "09619", "--allow-unencrypted-store", "perhaps"}, 1, "allow_unencrypted_store"},
		{[]string{"node", "--commune", "09619", "--max-connections", "many"}, 1, "max_connections"},
		{[]string{"node", "--commune", "09619", "--grpc-reflection", "perhaps"}, 1, "grpc_reflection"},
		{[]string{"node", "--commune", "09619", "--data-dir", dir, "--agency-id", "H56"}, 1, "agency_id"},
		{[]string{"node", "--commune", "09619", "--max-connections", "70000"}, 1, "max_connections"},
		{[]string{"node", "--commune", "09619", "--data-dir", dir, "--fee-bank-bin", "9704", "--fee-account-number", "3600205123456", "--fee-account-name", "UBND"}, 1, "fee_bank_bin"},
		{[]string{"node", "--commune", "09619", "--data-dir", dir, "--fee-bank-bin", "970405", "--fee-account-number", "3600-205"}, 1, "fee_account_number"},
		{[]string{"node", "--commune", "09619", "--data-dir", dir, "--fee-bank-bin", "970405", "--fee-account-number", "3600205123456"}, 1, "fee_account_name"},
		{[]string{"check-config", looseConfig}, 1, "encryption_key_file"},
		{[]string{"check-config", unknown}, 1, "sync_window"},
		{[]string{"check-config", bad}, 1, "log_level"},
		{[]string{"check-config"}, 2, "usage"},
		{[]string{"demo", "--communes", "0"}, 1, "communes"},
		{[]string{"demo", "--communes", "167"}, 1, "1 to 166"}, // Thanh Hóa's 166 communes and wards
		{[]string{"demo", "--communes", "166", "--port-base", "65361"}, 1, "port-base"},
		{[]string{"frobnicate"}, 2, "frobnicate"},
	}
	for _, tc := range tests {
		code, _, stderr := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.key) {
			t.Errorf("xaso %v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, tc.code, tc.key)
		}
		if tc.code == 1 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("xaso %v: want one line, got %q", tc.args, stderr)
		}
	}
	if code, out, _ := runCmd(t, "check-config", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("good config: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "xaso ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestDemoReplicatesToCentralAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	dir := t.TempDir()
	go func() { done <- run(ctx, []string{"demo", "--communes", "3", "--dir", dir}, &out, &errb) }()

	urlRE := regexp.MustCompile(`https://127\.0\.0\.1:\d+`)
	deadline := time.Now().Add(60 * time.Second)
	var nodes, members []string
	for len(nodes) < 3 || len(members) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no URLs: %q %q", out.String(), errb.String())
		}
		// The members' lines come first, then the nodes'.
		_, nodeLines, _ := strings.Cut(out.String(), "commune nodes (HTTPS")
		nodes, members = urlRE.FindAllString(nodeLines, -1), urlRE.FindAllString(strings.TrimSuffix(out.String(), nodeLines), -1)
		time.Sleep(20 * time.Millisecond) // polling the output, bounded by the deadline
	}
	// The nodes serve TLS with the certificates central signed: the
	// province CA verifies them as it verifies the members'.
	caPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	// The simulated clerks receive dossiers at the nodes (which answer only
	// a caller with credentials) ...
	nodeToken, err := os.ReadFile(filepath.Join(dir, "pki", "node-api-motcua.token"))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := client.Get(nodes[0] + "/v1/dossiers?page_size=1"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a node's dossiers without a token: %v %v, want 401", resp, err)
	}
	waitBody(t, client, deadline, nodes[0]+"/v1/dossiers?page_size=1", string(nodeToken), `"code"`)
	// Once central's registry reaches the node, codes begin with the
	// commune's agency e-ID (Decree 118/2025 art. 28).
	waitBody(t, client, deadline, nodes[0]+"/v1/dossiers?page_size=100", string(nodeToken), `.H56-`)

	// ... and central acknowledges them: the first commune's link is good.
	token, err := os.ReadFile(filepath.Join(dir, "pki", "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	waitBody(t, client, deadline, members[1]+"/v1/nodes", string(token), `"acked_sequence"`)

	// The portal stand-in serves its citizen's page beside the province.
	portalURL := regexp.MustCompile(`portal stand-in [^:]*: (http://127\.0\.0\.1:\d+)/`).FindStringSubmatch(out.String())
	if portalURL == nil {
		t.Fatalf("demo printed no portal stand-in: %q", out.String())
	}
	waitBody(t, http.DefaultClient, deadline, portalURL[1]+"/", "", "Nộp hồ sơ trực tuyến")
	// ... and the simulated citizens file online dossiers on it, which
	// central's portal connector, on the leader, pulls with its token and
	// routes to the communes' desks.
	routed := regexp.MustCompile(`(?m)^xaso_central_portal_filings_routed_total [1-9]`)
	for found := false; !found; {
		if time.Now().After(deadline) {
			t.Fatal("no member's portal connector routed a filing")
		}
		for _, m := range slices.Compact(slices.Sorted(slices.Values(members))) {
			resp, err := client.Get(m + "/metrics")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			found = found || routed.Match(b)
		}
		time.Sleep(100 * time.Millisecond) // polling the metrics, bounded by the deadline
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "stopped") {
			t.Fatalf("demo exit %d: %q %q", code, out.String(), errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after cancel")
	}
}

// waitBody polls url until its body contains want, bounded by deadline.
func waitBody(t *testing.T, client *http.Client, deadline time.Time, url, token, want string) {
	t.Helper()
	var last string
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			last = body.String()
			if strings.Contains(last, want) {
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s before the deadline; last: %s", url, want, last)
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
}

// TestNodeTokenCommands makes, lists and revokes tokens of a tokens file
// as a field engineer does on the node's machine; bad input names the key.
func TestNodeTokenCommands(t *testing.T) {
	file := filepath.Join(t.TempDir(), "node-tokens.yaml")
	code, secret, stderr := runCmd(t, "admin", "node-token", "create", "ketnoi", "--role", "officer", "--ttl", "720h", "--tokens-file", file)
	secret = strings.TrimSpace(secret)
	if code != 0 || !strings.HasPrefix(secret, node.TokenPrefix) {
		t.Fatalf("create: %d %q %q", code, secret, stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil || strings.Contains(string(data), secret) {
		t.Fatalf("the tokens file must hold the secret's hash only: %v\n%s", err, data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("tokens file mode %v, want 0600", fi.Mode().Perm())
	}
	list, err := node.ParseTokens(data)
	if err != nil || len(list) != 1 || list[0].SHA256 != node.TokenSum(secret) || list[0].Role != "officer" {
		t.Fatalf("tokens file: %v %v", list, err)
	}
	for _, tc := range []struct {
		args []string
		key  string
	}{
		{[]string{"create", "ketnoi", "--role", "officer", "--tokens-file", file}, "exists"},
		{[]string{"create", "khac", "--role", "root", "--tokens-file", file}, "role"},
		{[]string{"create", "khac", "--role", "clerk", "--ttl", "20000h", "--tokens-file", file}, "ttl"},
		{[]string{"revoke", "nobody", "--tokens-file", file}, "nobody"},
	} {
		if code, _, stderr := runCmd(t, append([]string{"admin", "node-token"}, tc.args...)...); code == 0 || !strings.Contains(stderr, tc.key) {
			t.Errorf("node-token %v: exit %d %q, want an error naming %q", tc.args, code, stderr, tc.key)
		}
	}
	if code, out, _ := runCmd(t, "admin", "node-token", "list", "--tokens-file", file); code != 0 || !strings.Contains(out, "ketnoi") || !strings.Contains(out, "officer") {
		t.Errorf("list: %d %q", code, out)
	}
	if code, _, stderr := runCmd(t, "admin", "node-token", "revoke", "ketnoi", "--tokens-file", file); code != 0 {
		t.Fatalf("revoke: %d %q", code, stderr)
	}
	if data, _ := os.ReadFile(file); strings.Contains(string(data), "ketnoi") {
		t.Fatalf("revoked token still in the file:\n%s", data)
	}
}

func TestAPICertCommandIssuesACertificateANodeTakes(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	if code, _, stderr := runCmd(t, "admin", "pki", "init", "--dir", pkiDir); code != 0 {
		t.Fatalf("pki init: %d %s", code, stderr)
	}
	ca := []string{"--ca-cert", filepath.Join(pkiDir, "ca.crt"), "--ca-key", filepath.Join(pkiDir, "ca.key")}
	out := filepath.Join(dir, "clients")
	issue := func(name, commune, role string) (int, string) {
		args := append([]string{"admin", "api-cert"}, ca...)
		code, _, stderr := runCmd(t, append(args, "--commune", commune, "--name", name, "--role", role, "--ttl", "2160h", "--out", out)...)
		return code, stderr
	}
	if code, stderr := issue("ketnoi", "09619", "officer"); code != 0 {
		t.Fatalf("api-cert: %d %s", code, stderr)
	}
	if fi, err := os.Stat(filepath.Join(out, "ketnoi.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the key file: %v %v", fi, err)
	}
	certPEM, _ := os.ReadFile(filepath.Join(out, "ketnoi.crt"))
	cert, err := pki.ParseCertificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if commune, name, role, ok := pki.APIClient(cert); !ok || commune != "09619" || name != "ketnoi" || role != "officer" {
		t.Fatalf("the certificate names %q %q %q %v", commune, name, role, ok)
	}
	for _, bad := range []struct{ name, commune, role, key string }{
		{"ketnoi", "09619", "officer", "exists"},
		{"khac", "9619", "officer", "commune"},
		{"khac", "09619", "operator", "role"},
		{"k hac", "09619", "clerk", "name"},
	} {
		if code, stderr := issue(bad.name, bad.commune, bad.role); code == 0 || !strings.Contains(stderr, bad.key) {
			t.Errorf("api-cert %v: exit %d %q, want an error naming %q", bad, code, stderr, bad.key)
		}
	}
	if code, stderr := issue("xa-khac", "00004", "leader"); code != 0 {
		t.Fatalf("api-cert: %d %s", code, stderr)
	}

	// A node that takes the CA's clients (client_ca_file), with TLS files
	// of its own: xaso admin calls it with the certificate, no token.
	self, err := pki.SelfSigned("node", []string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nodeCrt, nodeKey := filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	os.WriteFile(nodeCrt, self.CertPEM, 0o644)
	os.WriteFile(nodeKey, self.KeyPEM, 0o600)
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var nodeErr syncBuffer
	go func() {
		done <- run(ctx, []string{"node", "--commune", "09619", "--data-dir", filepath.Join(dir, "store"), "--listen", addr,
			"--tls-cert-file", nodeCrt, "--tls-key-file", nodeKey, "--client-ca-file", filepath.Join(pkiDir, "ca.crt")}, io.Discard, &nodeErr)
	}()
	defer func() {
		cancel()
		<-done
	}()
	admin := func(name string) (int, string, string) {
		return runCmd(t, "admin", "--addr", addr, "--node-ca", nodeCrt, "--node-cert", filepath.Join(out, name+".crt"), "--node-key", filepath.Join(out, name+".key"), "sync")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, stdout, stderr := admin("ketnoi")
		if code == 0 && strings.Contains(stdout, "{") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin sync with the certificate: %d %q %q; node: %s", code, stdout, stderr, nodeErr.String())
		}
		time.Sleep(50 * time.Millisecond) // polling for the node to serve, bounded by the deadline
	}
	// Another commune's certificate is refused, and so is a node trusted
	// by the wrong fingerprint.
	if code, _, _ := admin("xa-khac"); code == 0 {
		t.Error("another commune's client certificate was taken")
	}
	if code, _, stderr := runCmd(t, "admin", "--addr", addr, "--node-fingerprint", strings.Repeat("ab", 32), "--node-cert", filepath.Join(out, "ketnoi.crt"), "--node-key", filepath.Join(out, "ketnoi.key"), "sync"); code == 0 {
		t.Errorf("a node trusted by another fingerprint: %s", stderr)
	}
	leaf, _ := pki.ParseCertificate(self.CertPEM)
	if code, _, stderr := runCmd(t, "admin", "--addr", addr, "--node-fingerprint", pki.Fingerprint(leaf), "--node-cert", filepath.Join(out, "ketnoi.crt"), "--node-key", filepath.Join(out, "ketnoi.key"), "sync"); code != 0 {
		t.Errorf("the node trusted by its fingerprint: %d %s", code, stderr)
	}
}
