package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// nodeMethods are the methods of the node API, from its descriptor: a
// method added to the proto is in every test below at once.
func nodeMethods() []protoreflect.MethodDescriptor {
	sd := xasov1.File_xaso_v1_node_proto.Services().ByName("NodeService")
	var out []protoreflect.MethodDescriptor
	for i := range sd.Methods().Len() {
		out = append(out, sd.Methods().Get(i))
	}
	return out
}

func fullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

func TestEveryMethodHasARule(t *testing.T) {
	for _, m := range nodeMethods() {
		if methodRules[fullMethod(m)] == 0 {
			t.Errorf("%s has no rule in methodRules: nobody may call it", fullMethod(m))
		}
	}
	// The table is the check: a method without a rule is refused to all.
	if err := allow(Principal{Name: "chutich", Role: dossier.Leader, Via: ViaToken}, "/xaso.v1.NodeService/NotAMethod"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a method without a rule: %v, want PermissionDenied", err)
	}
}

// wantedRule says, per method, which roles may call it: the test's own
// statement of methodRules, so that a changed rule is a decision.
var forbidden = map[string][]xasov1.Role{
	"ListProcedures":    nil,
	"GetProcedure":      nil,
	"CreateDossier":     {0},
	"GetDossier":        {0},
	"ListDossiers":      {0},
	"TransitionDossier": {0},
	"CreateAttachment":  {0},
	"GetAttachment":     {0},
	"GetSyncStatus":     nil,
	"CheckStore":        {xasov1.Role_ROLE_CLERK, xasov1.Role_ROLE_OFFICER},
	"ListAccessLog":     {0, xasov1.Role_ROLE_CLERK, xasov1.Role_ROLE_OFFICER},
}

// TestGRPCCallsNeedCredentials calls every gRPC method without
// credentials (Unauthenticated), with an unknown token (Unauthenticated)
// and with each role that may not call it (PermissionDenied).
func TestGRPCCallsNeedCredentials(t *testing.T) {
	n := startNode(t)
	conn := grpcConn(t, n)
	for _, m := range nodeMethods() {
		name := string(m.Name())
		bans, ok := forbidden[name]
		if !ok {
			t.Errorf("%s: the test does not say who may call it", name)
			continue
		}
		call := func(ctx context.Context) error {
			in, out := dynamicpb.NewMessage(m.Input()), dynamicpb.NewMessage(m.Output())
			return conn.Invoke(ctx, fullMethod(m), in, out)
		}
		if err := call(context.Background()); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s without credentials: %v, want Unauthenticated", name, err)
		}
		bad := withBearer(context.Background(), TokenPrefix+"not-a-token-of-this-node")
		if err := call(bad); status.Code(err) != codes.Unauthenticated {
			t.Errorf("%s with an unknown token: %v, want Unauthenticated", name, err)
		}
		for _, role := range bans {
			if err := call(withBearer(context.Background(), n.tokens[role])); status.Code(err) != codes.PermissionDenied {
				t.Errorf("%s as %v: %v, want PermissionDenied", name, role, err)
			}
		}
	}
}

// grpcConn is a connection to n with no credentials of its own.
func grpcConn(t *testing.T, n *testNode) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(n.url[strings.Index(n.url, "://")+3:], grpc.WithTransportCredentials(n.creds()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// restRoutes reads the REST routes of the node API from the gateway's
// mapping (api/proto/xaso/v1/http.yaml), by method name.
func restRoutes(t *testing.T) map[string][2]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "api", "proto", "xaso", "v1", "http.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		HTTP struct {
			Rules []map[string]string `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	routes := map[string][2]string{}
	for _, r := range doc.HTTP.Rules {
		name, ok := strings.CutPrefix(r["selector"], "xaso.v1.NodeService.")
		if !ok {
			continue
		}
		for _, verb := range []string{"get", "post", "put", "patch", "delete"} {
			if p := r[verb]; p != "" {
				p = strings.NewReplacer("{code}", "09619-261123-0001", "{sha256}", strings.Repeat("ab", 32)).Replace(p)
				routes[name] = [2]string{strings.ToUpper(verb), p}
			}
		}
	}
	return routes
}

// TestRESTCallsNeedCredentials is TestGRPCCallsNeedCredentials over REST:
// 401 without credentials or with a bad token, 403 for a role that may not.
func TestRESTCallsNeedCredentials(t *testing.T) {
	n := startNode(t)
	routes := restRoutes(t)
	for _, m := range nodeMethods() {
		name := string(m.Name())
		route, ok := routes[name]
		if !ok {
			t.Errorf("%s has no REST route", name)
			continue
		}
		var body any
		if route[0] != "GET" {
			body = map[string]any{}
		}
		if code, resp := n.callAs(t, nobody, route[0], route[1], body); code != http.StatusUnauthorized || resp["code"] != float64(codes.Unauthenticated) {
			t.Errorf("%s %s without credentials: %d %v, want 401", route[0], route[1], code, resp)
		}
		if code, _ := n.callAs(t, nobody, route[0], route[1], body, "Authorization", "Bearer "+TokenPrefix+"forged"); code != http.StatusUnauthorized {
			t.Errorf("%s %s with an unknown token: %d, want 401", route[0], route[1], code)
		}
		for _, role := range forbidden[name] {
			if code, resp := n.callAs(t, role, route[0], route[1], body); code != http.StatusForbidden {
				t.Errorf("%s %s as %v: %d %v, want 403", route[0], route[1], role, code, resp)
			}
		}
	}
	// Without credentials only the look-up, health and metrics answer.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/tra-cuu": 200, "/ban": http.StatusSeeOther} {
		req, _ := http.NewRequest("GET", n.url+path, nil)
		resp, err := (&http.Client{Transport: n.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without credentials: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestTheCallerIsTheActor: a request cannot name who acts. Over REST an
// actor or role in the body is refused and nothing is written; over gRPC
// the old fields' numbers are ignored; the events name the token's owner
// and role.
func TestTheCallerIsTheActor(t *testing.T) {
	n := startNode(t)
	forged := birthRequest()
	forged["actor"], forged["role"] = "lanhdao", "ROLE_LEADER"
	before, _ := n.Store().OutboxHead()
	code, resp := n.callAs(t, xasov1.Role_ROLE_CLERK, "POST", "/v1/dossiers", forged)
	if code != http.StatusBadRequest {
		t.Fatalf("a body naming its actor: %d %v, want 400", code, resp)
	}
	if after, _ := n.Store().OutboxHead(); after != before {
		t.Fatal("the refused request wrote an event")
	}

	// gRPC: the reserved field numbers 7 and 8 (actor, role) sent anyway.
	req := &xasov1.CreateDossierRequest{ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON,
		Applicant: &xasov1.Applicant{FullName: "Giàng A Páo"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}}}
	var extra []byte
	extra = protowire.AppendTag(extra, 7, protowire.BytesType)
	extra = protowire.AppendString(extra, "lanhdao")
	extra = protowire.AppendTag(extra, 8, protowire.VarintType)
	extra = protowire.AppendVarint(extra, uint64(xasov1.Role_ROLE_LEADER))
	req.ProtoReflect().SetUnknown(extra)
	got, err := n.grpc.CreateDossier(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	ev := got.GetDossier().GetEvents()[0]
	if ev.GetActor() != "motcua.1" || ev.GetRole() != xasov1.Role_ROLE_CLERK {
		t.Fatalf("recorded actor %q role %v, want the token's motcua.1 CLERK", ev.GetActor(), ev.GetRole())
	}
	// The leader's approval needs the leader's credentials.
	code2 := got.GetDossier().GetCode()
	if _, err := n.grpc.TransitionDossier(context.Background(), &xasov1.TransitionDossierRequest{Code: code2, Action: xasov1.Action_ACTION_ASSIGN, Assignee: "tuphap.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.grpc.TransitionDossier(as(context.Background(), xasov1.Role_ROLE_OFFICER), &xasov1.TransitionDossierRequest{Code: code2, Action: xasov1.Action_ACTION_SUBMIT}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.grpc.TransitionDossier(context.Background(), &xasov1.TransitionDossierRequest{Code: code2, Action: xasov1.Action_ACTION_APPROVE}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a clerk's approval: %v, want PermissionDenied", err)
	}
}

// TestTokensExpireAndAreRevokedAtOnce: an expired token is refused; a
// token removed from the file stops working on the next call.
func TestTokensExpireAndAreRevokedAtOnce(t *testing.T) {
	n := startNode(t)
	if code, _ := n.call(t, "GET", "/v1/dossiers", nil); code != 200 {
		t.Fatalf("a live token: %d", code)
	}
	n.clock.Set(n.clock.Now().Add(366 * 24 * time.Hour))
	if code, _ := n.call(t, "GET", "/v1/dossiers", nil); code != http.StatusUnauthorized {
		t.Fatalf("an expired token: %d, want 401", code)
	}
	n.clock.Set(n.clock.Now().Add(-366 * 24 * time.Hour))
	data, err := os.ReadFile(n.cfg.TokensFile)
	if err != nil {
		t.Fatal(err)
	}
	list, err := ParseTokens(data)
	if err != nil {
		t.Fatal(err)
	}
	var kept []Token
	for _, tok := range list {
		if tok.Name != "motcua.1" {
			kept = append(kept, tok)
		}
	}
	out, _ := MarshalTokens(kept)
	if err := os.WriteFile(n.cfg.TokensFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _ := n.call(t, "GET", "/v1/dossiers", nil); code != http.StatusUnauthorized {
		t.Fatalf("a revoked token: %d, want 401", code)
	}
	if code, _ := n.callAs(t, xasov1.Role_ROLE_OFFICER, "GET", "/v1/dossiers", nil); code != 200 {
		t.Fatalf("the tokens left: %d", code)
	}
}

// rawPost sends body with the given headers and returns the status.
func rawPost(t *testing.T, client *http.Client, url string, body []byte, header map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestOtherSitesCannotDriveTheAPI: with an official's session in the
// browser, a page elsewhere cannot create a dossier: not with text/plain
// (what a page may send without asking), not from a foreign Origin, not
// without an Origin; the node's own pages can. A foreign Host header is
// answered by nobody.
func TestOtherSitesCannotDriveTheAPI(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	d := newDesk(t, n)
	d.signIn("lan")
	cookie := ""
	for _, c := range d.c.Jar.Cookies(mustURL(t, n.url)) {
		if c.Name == sessionCookie {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie after sign-in")
	}
	body, _ := json.Marshal(birthRequest())
	before, _ := n.Store().OutboxHead()
	for name, h := range map[string]map[string]string{
		"text/plain from another site": {"Cookie": cookie, "Content-Type": "text/plain", "Origin": "http://evil.example"},
		"text/plain, same origin":      {"Cookie": cookie, "Content-Type": "text/plain;charset=UTF-8", "Origin": n.url},
		"JSON from another site":       {"Cookie": cookie, "Content-Type": "application/json", "Origin": "http://evil.example"},
		"JSON with no Origin":          {"Cookie": cookie, "Content-Type": "application/json"},
		"a foreign Host":               {"Cookie": cookie, "Content-Type": "application/json", "Origin": "http://evil.example", "Host": "evil.example"},
		"a token from another site":    {"Authorization": "Bearer " + n.tokens[xasov1.Role_ROLE_CLERK], "Content-Type": "application/json", "Origin": "http://evil.example"},
	} {
		if code := rawPost(t, n.client, n.url+"/v1/dossiers", body, h); code < 400 || code >= 500 {
			t.Errorf("%s: %d, want refused", name, code)
		}
	}
	if after, _ := n.Store().OutboxHead(); after != before {
		t.Fatalf("refused calls wrote %d events", after-before)
	}
	if code := rawPost(t, n.client, n.url+"/v1/dossiers", body, map[string]string{"Cookie": cookie, "Content-Type": "application/json", "Origin": n.url}); code != 200 {
		t.Fatalf("the desk's own page with the session: %d, want 200", code)
	}
	if code := rawPost(t, n.client, n.url+"/v1/dossiers", body, map[string]string{"Authorization": "Bearer " + n.tokens[xasov1.Role_ROLE_CLERK], "Content-Type": "application/json"}); code != 200 {
		t.Fatalf("an API client with a token and no Origin: %d, want 200", code)
	}
	// A foreign Host: no page, no API; health checks still answer.
	for path, want := range map[string]int{"/v1/procedures": http.StatusMisdirectedRequest, "/ban": http.StatusMisdirectedRequest, "/tra-cuu": http.StatusMisdirectedRequest, "/healthz": 200} {
		req, _ := http.NewRequest("GET", n.url+path, nil)
		req.Host = "attacker.example:80"
		req.Header.Set("Authorization", "Bearer "+n.tokens[xasov1.Role_ROLE_CLERK])
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s with Host attacker.example: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestMetricsCanNeedAToken: with metrics_need_token, /metrics answers
// only a token.
func TestMetricsCanNeedAToken(t *testing.T) {
	n := startNode(t, func(c *Config) { c.MetricsNeedToken = true })
	get := func(auth string) int {
		req, _ := http.NewRequest("GET", n.url+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(""); code != http.StatusUnauthorized {
		t.Errorf("metrics without a token: %d, want 401", code)
	}
	if code := get("Bearer " + TokenPrefix + "forged"); code != http.StatusUnauthorized {
		t.Errorf("metrics with a forged token: %d, want 401", code)
	}
	if code := get("Bearer " + n.tokens[0]); code != 200 {
		t.Errorf("metrics with the monitor's token: %d, want 200", code)
	}
}

func TestParseTokens(t *testing.T) {
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	tok, secret, err := NewToken("ketnoi", "officer", 30*24*time.Hour, now)
	if err != nil || !strings.HasPrefix(secret, TokenPrefix) || tok.SHA256 != TokenSum(secret) {
		t.Fatalf("new token: %v %v", tok, err)
	}
	good, _ := MarshalTokens([]Token{tok})
	if _, err := ParseTokens(good); err != nil {
		t.Fatalf("a file MarshalTokens wrote: %v", err)
	}
	for name, bad := range map[string]string{
		"role":     strings.Replace(string(good), "officer", "admin", 1),
		"name":     strings.Replace(string(good), "ketnoi", "ket noi", 1),
		"sha256":   strings.Replace(string(good), tok.SHA256, "abc", 1),
		"expires":  "- name: a\n  role: clerk\n  sha256: " + tok.SHA256 + "\n",
		"unknown":  string(good) + "  colour: red\n",
		"twice":    string(good) + string(good),
		"not list": "name: a\n",
	} {
		if _, err := ParseTokens([]byte(bad)); err == nil {
			t.Errorf("%s: a bad tokens file was taken", name)
		}
	}
	for _, c := range []struct {
		name, role string
		ttl        time.Duration
	}{{"a", "root", time.Hour}, {"", "clerk", time.Hour}, {"a", "clerk", 0}, {"a", "clerk", 2 * MaxTokenTTL}} {
		if _, _, err := NewToken(c.name, c.role, c.ttl, now); err == nil {
			t.Errorf("NewToken(%q, %q, %v) made a token", c.name, c.role, c.ttl)
		}
	}
}

func withBearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(as(ctx, nobody), "authorization", "Bearer "+token)
}

// creds are the transport credentials of a client of n: TLS trusting its
// certificate, or none with plain_http.
func (n *testNode) creds() credentials.TransportCredentials {
	if n.tlsConfig == nil {
		return insecure.NewCredentials()
	}
	return credentials.NewTLS(n.tlsConfig)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
