package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testNode is a node serving on loopback, with clients for both protocols.
type testNode struct {
	*Node
	url   string
	grpc  xasov1.NodeServiceClient
	clock *clock
	// tokens are API tokens of the node's tokens file, by role (0: a
	// monitor's).
	tokens map[xasov1.Role]string
	// client is an HTTP client that trusts the node's certificate
	// (tlsConfig, nil with plain_http); without cookies.
	client    *http.Client
	tlsConfig *tls.Config
}

// The names of the test node's API tokens, by role.
var testTokenNames = map[xasov1.Role]string{
	xasov1.Role_ROLE_CLERK: "motcua.1", xasov1.Role_ROLE_OFFICER: "tuphap.1", xasov1.Role_ROLE_LEADER: "chutich", 0: "giamsat",
}

// nobody is the role of a call made without credentials.
const nobody = xasov1.Role(-1)

type callerRole struct{}

// as returns ctx in which the test node's gRPC client calls with the token
// of role (0: a monitor's; nobody: no credentials). Without it, a call is
// a clerk's.
func as(ctx context.Context, role xasov1.Role) context.Context {
	return context.WithValue(ctx, callerRole{}, role)
}

// roleOfCall is the role a test call is made as.
func roleOfCall(ctx context.Context) xasov1.Role {
	if r, ok := ctx.Value(callerRole{}).(xasov1.Role); ok {
		return r
	}
	return xasov1.Role_ROLE_CLERK
}

// writeTokens gives the node a tokens file with a token for each role of
// testTokenNames, valid for a year of the test clock.
func writeTokens(t testing.TB, cfg *Config, now time.Time) map[xasov1.Role]string {
	t.Helper()
	secrets := map[xasov1.Role]string{}
	var list []Token
	for role, name := range testTokenNames {
		roleName := "monitor"
		if role != 0 {
			roleName = strings.ToLower(strings.TrimPrefix(role.String(), "ROLE_"))
		}
		tok, secret, err := NewToken(name, roleName, 365*24*time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, tok)
		secrets[role] = secret
	}
	data, err := MarshalTokens(list)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TokensFile = filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(cfg.TokensFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return secrets
}

const testCommune = "09619"

// startNode opens a node in a temporary directory and serves it until the
// test ends. The clock starts on Monday 23 November 2026, 09:00 in Vietnam.
func startNode(t testing.TB, mutate ...func(*Config)) *testNode {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Commune = testCommune
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)}
	tokens := writeTokens(t, &cfg, clk.Now())
	for _, m := range mutate {
		m(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Open(context.Background(), cfg, log, clk.Now)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	// TLS, trusting the node's certificate; plain with plain_http.
	scheme, creds, client := "http", insecure.NewCredentials(), &http.Client{Transport: &http.Transport{}}
	var tc *tls.Config
	if certPEM := n.CertificatePEM(); certPEM != nil {
		tc = trusting(t, certPEM)
		scheme, creds = "https", credentials.NewTLS(tc)
		client.Transport = &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
	}
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(creds),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if role := roleOfCall(ctx); role != nobody {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tokens[role])
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := n.Store().Verify(); err != nil {
			t.Errorf("store invariants after the test: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &testNode{Node: n, url: scheme + "://" + ln.Addr().String(), grpc: xasov1.NewNodeServiceClient(conn), clock: clk, client: client, tlsConfig: tc, tokens: tokens}
}

// trusting is a TLS client configuration that trusts the certificate
// certPEM (a node's, self-signed in most tests) for 127.0.0.1.
func trusting(t testing.TB, certPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		t.Fatal("the node serves no certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// call sends a JSON request and decodes the JSON answer into a map. It
// calls with the token of the role a map body names ("role", removed from
// the body with "actor"), a clerk's by default.
func (n *testNode) call(t *testing.T, method, path string, body any, header ...string) (int, map[string]any) {
	t.Helper()
	role := xasov1.Role_ROLE_CLERK
	if m, ok := body.(map[string]any); ok {
		if r, ok := m["role"].(string); ok {
			role = xasov1.Role(xasov1.Role_value[r])
			m = maps.Clone(m)
			delete(m, "role")
			delete(m, "actor")
			body = m
		}
	}
	return n.callAs(t, role, method, path, body, header...)
}

// callAs is call with the token of role (nobody: no credentials).
func (n *testNode) callAs(t *testing.T, role xasov1.Role, method, path string, body any, header ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != nobody {
		req.Header.Set("Authorization", "Bearer "+n.tokens[role])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		out["raw"] = string(raw)
	}
	return resp.StatusCode, out
}

// birthRequest is a complete birth registration as a REST body.
func birthRequest() map[string]any {
	return map[string]any{
		"procedure_code": "1.001193",
		"applicant":      map[string]any{"full_name": "Hà Thị Lan", "id_number": "001190012345", "phone": "0912345678"},
		"channel":        "CHANNEL_IN_PERSON",
		"components":     []any{map[string]any{"code": "TK", "paper": true}, map[string]any{"code": "GCS", "paper": true}},
	}
}

func fieldViolations(resp map[string]any) []string {
	var out []string
	details, _ := resp["details"].([]any)
	for _, d := range details {
		dm, _ := d.(map[string]any)
		fvs, _ := dm["field_violations"].([]any)
		for _, fv := range fvs {
			out = append(out, fv.(map[string]any)["field"].(string))
		}
	}
	return out
}
