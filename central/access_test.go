package central

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/pki"
)

// wantAccess is the rule of every method written out a second time (the
// server's is accessTable): a rule changes only when both change.
var wantAccess = map[string]Access{
	"xaso.v1.CentralService.GetCluster":             AccessClusterState,
	"xaso.v1.CentralService.AddClusterMember":       AccessAdmin,
	"xaso.v1.CentralService.RemoveClusterMember":    AccessAdmin,
	"xaso.v1.CentralService.TransferLeadership":     AccessAdmin,
	"xaso.v1.CentralService.TakeSnapshot":           AccessAdmin,
	"xaso.v1.CentralService.ListCommunes":           AccessRead,
	"xaso.v1.CentralService.UnitAt":                 AccessRead,
	"xaso.v1.CentralService.UnitHistory":            AccessRead,
	"xaso.v1.CentralService.PutCommune":             AccessAdmin,
	"xaso.v1.CentralService.UpdateCommuneSettings":  AccessAdmin,
	"xaso.v1.CentralService.ListCatalogProcedures":  AccessRead,
	"xaso.v1.CentralService.GetCatalogProcedure":    AccessRead,
	"xaso.v1.CentralService.CreateCatalogProcedure": AccessAdmin,
	"xaso.v1.CentralService.UpdateCatalogProcedure": AccessAdmin,
	"xaso.v1.CentralService.GetCalendar":            AccessRead,
	"xaso.v1.CentralService.UpdateCalendar":         AccessAdmin,
	"xaso.v1.CentralService.GetProvinceDossier":     AccessPersonalData,
	"xaso.v1.CentralService.GetProvinceAttachment":  AccessPersonalData,
	"xaso.v1.CentralService.ListAccessRecords":      AccessPersonalData,
	"xaso.v1.CentralService.GetPerformanceReport":   AccessRead,
	"xaso.v1.CentralService.ListAuditRecords":       AccessAdmin,
	"xaso.v1.CentralService.CreateOperatorToken":    AccessFirstToken,
	"xaso.v1.CentralService.ListOperatorTokens":     AccessAdmin,
	"xaso.v1.CentralService.DeleteOperatorToken":    AccessAdmin,
	"xaso.v1.CentralService.CreateEnrollmentToken":  AccessAdmin,
	"xaso.v1.CentralService.ListNodes":              AccessRead,
	"xaso.v1.CentralService.RevokeNode":             AccessAdmin,
	"xaso.v1.CentralService.UnblockCommuneChain":    AccessAdmin,
	"xaso.v1.CentralService.DeclareSuccession":      AccessAdmin,
	"xaso.v1.CentralPeerService.Propose":            AccessService,
	"xaso.v1.ReplicationService.Enroll":             AccessService,
	"xaso.v1.ReplicationService.Push":               AccessService,
	"xaso.v1.ReplicationService.Feed":               AccessService,
	"xaso.v1.ReplicationService.OfferAttachment":    AccessService,
	"xaso.v1.ReplicationService.PutChunk":           AccessService,
	"xaso.v1.ReplicationService.Restore":            AccessService,
}

// servedServices are the services a member serves, as their descriptors
// say: a method added to any of them is in these lists.
func servedServices() []protoreflect.ServiceDescriptor {
	return []protoreflect.ServiceDescriptor{
		xasov1.File_xaso_v1_central_service_proto.Services().ByName("CentralService"),
		xasov1.File_xaso_v1_central_service_proto.Services().ByName("CentralPeerService"),
		xasov1.File_xaso_v1_replication_proto.Services().ByName("ReplicationService"),
	}
}

func fullMethod(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

// Every method of every service a member serves has a rule, the one this
// test expects; a method without one is refused to every caller.
func TestAccessTableHasEveryMethod(t *testing.T) {
	table := accessTable()
	n := 0
	for _, sd := range servedServices() {
		for i := range sd.Methods().Len() {
			m := sd.Methods().Get(i)
			n++
			got, ok := table[fullMethod(m)]
			if !ok {
				t.Errorf("%s has no access rule in accessTable", m.FullName())
				continue
			}
			if want, ok := wantAccess[string(m.FullName())]; !ok || got != want {
				t.Errorf("%s: rule %b, the test expects %b (present %v)", m.FullName(), got, want, ok)
			}
		}
	}
	// The health service and reflection are open, as /readyz is.
	for _, m := range apiserver.HealthMethods() {
		if table[m] != AccessService {
			t.Errorf("%s: rule %b, want AccessService (open)", m, table[m])
		}
	}
	if n+len(apiserver.HealthMethods()) != len(table) || n != len(wantAccess) {
		t.Errorf("%d methods served, %d rules, %d expected: a rule names a method that is not served", n, len(table), len(wantAccess))
	}
	// A method without a rule: refused, whoever calls.
	s := &Server{access: table, log: discardLogger()}
	if _, _, _, err := s.checkAccess(context.Background(), "/xaso.v1.CentralService/NewMethod"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a method without a rule: %v, want PermissionDenied", err)
	}
}

// httpRule is a method's REST mapping (api/proto/xaso/v1/http.yaml).
type httpRule struct{ verb, path string }

// httpRules reads the gateway's mapping of CentralService, with every path
// variable filled in.
func httpRules(t *testing.T) map[string]httpRule {
	t.Helper()
	b, err := os.ReadFile("../api/proto/xaso/v1/http.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		HTTP struct {
			Rules []map[string]string `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`\{[^}]+\}`)
	out := map[string]httpRule{}
	for _, r := range doc.HTTP.Rules {
		for _, verb := range []string{"get", "post", "put", "delete", "patch"} {
			if p, ok := r[verb]; ok {
				out[r["selector"]] = httpRule{strings.ToUpper(verb), vars.ReplaceAllString(p, "00004")}
			}
		}
	}
	return out
}

// disruptive methods are not called with a role that may call them (they
// would move the cluster under the test); TestAPIClusterAdministrationOverGRPC
// calls them.
var disruptive = map[string]bool{"xaso.v1.CentralService.TransferLeadership": true}

// grpcClient dials a member's API.
func (ac *apiCluster) grpcClient(t *testing.T, id string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(ac.url(id), "https://"), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ac.roots})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// invoke calls a CentralService method with an empty request over gRPC,
// with token (none when empty).
func invoke(conn *grpc.ClientConn, m protoreflect.MethodDescriptor, token string) error {
	in, err := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
	if err != nil {
		return err
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	return conn.Invoke(ctx, fullMethod(m), in.New().Interface(), out.New().Interface())
}

// rest calls a method's REST mapping with an empty body.
func (ac *apiCluster) rest(t *testing.T, member string, r httpRule, token string) int {
	t.Helper()
	var body io.Reader
	if r.verb != "GET" && r.verb != "DELETE" {
		body = bytes.NewReader([]byte("{}"))
	}
	req, _ := http.NewRequest(r.verb, ac.url(member)+r.path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ac.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.verb, r.path, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// Every CentralService method, over gRPC and over REST: without a token
// Unauthenticated (401), with a wrong, an expired or the spent bootstrap
// token too; with a role its rule does not let in PermissionDenied (403);
// with one it does, neither.
func TestAccessEveryMethodOverGRPCAndREST(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	conn := ac.grpcClient(t, f)
	rules := httpRules(t)
	var expired struct {
		Secret string `json:"secret"`
	}
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "het-han", "role": "OPERATOR_ROLE_OPERATOR", "ttl_seconds": 60}, &expired)
	ac.advance(61 * time.Second)
	roles := map[string]caller{
		ac.viewer:   {role: xasov1.OperatorRole_OPERATOR_ROLE_VIEWER},
		ac.records:  {role: xasov1.OperatorRole_OPERATOR_ROLE_RECORDS},
		ac.operator: {role: xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR},
	}
	sd := xasov1.File_xaso_v1_central_service_proto.Services().ByName("CentralService")
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		name := string(m.FullName())
		rule := wantAccess[name]
		r, ok := rules[name]
		if !ok {
			t.Errorf("%s has no REST mapping in http.yaml", name)
		}
		for _, tok := range []string{"", "xo_wrong", expired.Secret, bootstrapToken} {
			if err := invoke(conn, m, tok); status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s with token %.12q: %v, want Unauthenticated", name, tok, err)
			}
			if ok {
				if code := ac.rest(t, f, r, tok); code != http.StatusUnauthorized {
					t.Errorf("%s %s with token %.12q: %d, want 401", r.verb, r.path, tok, code)
				}
			}
		}
		for tok, c := range roles {
			allowed := rule.allows(c)
			if allowed && disruptive[name] {
				continue
			}
			err := invoke(conn, m, tok)
			code := status.Code(err)
			switch {
			case !allowed && code != codes.PermissionDenied:
				t.Errorf("%s as %s: %v, want PermissionDenied", name, c.roleName(), err)
			case allowed && (code == codes.PermissionDenied || code == codes.Unauthenticated):
				t.Errorf("%s as %s: %v, want it let in", name, c.roleName(), err)
			}
			if !ok {
				continue
			}
			hc := ac.rest(t, f, r, tok)
			switch {
			case !allowed && hc != http.StatusForbidden:
				t.Errorf("%s %s as %s: %d, want 403", r.verb, r.path, c.roleName(), hc)
			case allowed && (hc == http.StatusForbidden || hc == http.StatusUnauthorized):
				t.Errorf("%s %s as %s: %d, want it let in", r.verb, r.path, c.roleName(), hc)
			}
		}
	}
}

// The bootstrap token sees the cluster and makes the first operator token,
// an OPERATOR's, once; then it is refused on every member, also after
// every token is deleted, and a new bootstrap token in a member's
// configuration is refused too.
func TestBootstrapTokenMakesOnlyTheFirstToken(t *testing.T) {
	ac := newBareAPICluster(t)
	f := ac.follower().ID()
	ac.eventuallyStatus(200, f, "GET", "/v1/cluster", bootstrapToken, nil, nil)
	// Before the first token, every method as its rule says: only the
	// cluster's state and making a token let it in (an empty request
	// makes none).
	conn := ac.grpcClient(t, f)
	sd := xasov1.File_xaso_v1_central_service_proto.Services().ByName("CentralService")
	for i := range sd.Methods().Len() {
		m := sd.Methods().Get(i)
		allowed := wantAccess[string(m.FullName())].allows(caller{bootstrap: true})
		if allowed != (m.Name() == "GetCluster" || m.Name() == "CreateOperatorToken") {
			t.Errorf("%s: the bootstrap token let in: %v", m.FullName(), allowed)
		}
		switch code := status.Code(invoke(conn, m, bootstrapToken)); {
		case !allowed && code != codes.PermissionDenied:
			t.Errorf("%s with the bootstrap token: %v, want PermissionDenied", m.FullName(), code)
		case allowed && (code == codes.PermissionDenied || code == codes.Unauthenticated):
			t.Errorf("%s with the bootstrap token: %v, want it let in", m.FullName(), code)
		}
	}
	if ts, _ := ac.leader().FSM().Tokens(); len(ts) != 0 {
		t.Fatalf("calls with empty requests made %d tokens", len(ts))
	}
	for _, c := range []struct{ method, path string }{{"GET", "/v1/communes"}, {"GET", "/v1/dossiers/00004-260302-0001"}, {"GET", "/v1/tokens"}, {"PUT", "/v1/communes/00004"}} {
		if code := ac.do(f, c.method, c.path, bootstrapToken, map[string]any{}, nil); code != http.StatusForbidden {
			t.Errorf("bootstrap %s %s: %d, want 403", c.method, c.path, code)
		}
	}
	var eb errorBody
	if code := ac.do(f, "POST", "/v1/tokens", bootstrapToken, map[string]any{"name": "xem", "role": "OPERATOR_ROLE_VIEWER"}, &eb); code != http.StatusBadRequest || !strings.Contains(strings.Join(eb.fields(), " "), "role") {
		t.Fatalf("bootstrap makes a viewer's token: %d %v", code, eb)
	}
	for _, bad := range []string{"xo_short", "no-prefix-" + strings.Repeat("a", 43), "xo_" + strings.Repeat("a", 42) + "!", bootstrapToken} {
		if code := ac.do(f, "POST", "/v1/tokens", bootstrapToken, map[string]any{"name": "admin", "role": "OPERATOR_ROLE_OPERATOR", "secret": bad}, &eb); code != http.StatusBadRequest {
			t.Errorf("secret %q: %d, want 400", bad, code)
		}
	}
	// Two first tokens at once, on two members: one is made.
	secret := func() string {
		s, _, err := pki.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		return OperatorTokenPrefix + s
	}
	secrets := []string{secret(), secret()}
	var members []string
	for _, m := range ac.running() {
		members = append(members, m.ID())
	}
	codes2 := make([]int, 2)
	answers := make([]map[string]any, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			codes2[i] = ac.do(members[i], "POST", "/v1/tokens", bootstrapToken, map[string]any{"name": "admin-" + members[i], "role": "OPERATOR_ROLE_OPERATOR", "secret": secrets[i]}, &answers[i])
		})
	}
	wg.Wait()
	var admin string
	for i, c := range codes2 {
		switch c {
		case 200:
			if admin != "" {
				t.Fatal("two first tokens were made")
			}
			admin = secrets[i]
			if answers[i]["secret"] != nil {
				t.Errorf("the answer repeats a secret the client made: %v", answers[i])
			}
		case http.StatusUnauthorized:
		default:
			t.Fatalf("first token on %s: %d %v", members[i], c, answers[i])
		}
	}
	if admin == "" {
		t.Fatalf("no first token: %v %v", codes2, answers)
	}
	for _, m := range members {
		ac.eventuallyStatus(http.StatusUnauthorized, m, "GET", "/v1/cluster", bootstrapToken, nil, nil)
		if code := ac.do(m, "POST", "/v1/tokens", bootstrapToken, map[string]any{"name": "again", "role": "OPERATOR_ROLE_OPERATOR"}, nil); code != http.StatusUnauthorized {
			t.Errorf("bootstrap on %s after the first token: %d, want 401", m, code)
		}
		ac.eventuallyStatus(200, m, "GET", "/v1/communes", admin, nil, nil)
	}
	// Every token deleted: the bootstrap token stays spent.
	var list struct {
		Tokens []struct {
			Name string `json:"name"`
		} `json:"tokens"`
	}
	ac.do(f, "GET", "/v1/tokens", admin, nil, &list)
	for _, tk := range list.Tokens {
		if code := ac.do(f, "DELETE", "/v1/tokens/"+tk.Name, admin, nil, nil); code != 200 {
			t.Fatalf("delete %s: %d", tk.Name, code)
		}
	}
	if ts, _ := ac.leader().FSM().Tokens(); len(ts) != 0 {
		t.Fatalf("%d tokens left", len(ts))
	}
	if code := ac.do(f, "POST", "/v1/tokens", bootstrapToken, map[string]any{"name": "again", "role": "OPERATOR_ROLE_OPERATOR"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("bootstrap after every token was deleted: %d, want 401", code)
	}
	// A member configured with another bootstrap token: refused as well.
	newBoot := secret()
	m := ac.leader()
	s, err := NewServer(ServerConfig{Member: m, APIAddress: "127.0.0.1:1", TLS: &tls.Config{}, PeerTLS: &tls.Config{},
		BootstrapTokenSHA256: pki.SecretSum(newBoot), Logger: discardLogger(), Now: ac.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+newBoot)
	if _, err := s.local.CreateOperatorToken(ctx, &xasov1.CreateOperatorTokenRequest{Name: "again", Role: xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a new bootstrap token in the configuration: %v, want Unauthenticated", err)
	}
}

// Tokens live 90 days unless asked, at most 366; an expired one is
// refused (401) and listed as expired.
func TestOperatorTokensExpire(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	var tok struct {
		Secret string `json:"secret"`
		Token  struct {
			ExpireTime time.Time `json:"expire_time"`
		} `json:"token"`
	}
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "mac-dinh", "role": "OPERATOR_ROLE_VIEWER"}, &tok)
	if d := tok.Token.ExpireTime.Sub(ac.now()); d < DefaultOperatorTokenTTL-time.Minute || d > DefaultOperatorTokenTTL {
		t.Fatalf("a token made without a ttl expires in %v, want %v", d, DefaultOperatorTokenTTL)
	}
	var eb errorBody
	for _, ttl := range []int64{-1, 59, int64(MaxOperatorTokenTTL/time.Second) + 1} {
		if code := ac.do(f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "dai", "role": "OPERATOR_ROLE_VIEWER", "ttl_seconds": ttl}, &eb); code != 400 || eb.fields()[0] != "ttl_seconds" {
			t.Errorf("ttl %d: %d %v, want 400 on ttl_seconds", ttl, code, eb)
		}
	}
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "ngan", "role": "OPERATOR_ROLE_VIEWER", "ttl_seconds": 3600}, &tok)
	short := tok.Secret
	if code := ac.do(f, "GET", "/v1/communes", short, nil, nil); code != 200 {
		t.Fatalf("a fresh token: %d", code)
	}
	ac.advance(time.Hour)
	var e errorBody
	if code := ac.do(f, "GET", "/v1/communes", short, nil, &e); code != http.StatusUnauthorized || !strings.Contains(e.Message, "expired") {
		t.Fatalf("an expired token: %d %q, want 401 saying it expired", code, e.Message)
	}
	var list struct {
		Tokens []struct {
			Name    string `json:"name"`
			Expired bool   `json:"expired"`
		} `json:"tokens"`
	}
	ac.do(f, "GET", "/v1/tokens", ac.operator, nil, &list)
	seen := 0
	for _, tk := range list.Tokens {
		if tk.Name == "ngan" || tk.Name == "mac-dinh" {
			seen++
			if tk.Expired != (tk.Name == "ngan") {
				t.Errorf("token %s listed expired=%v", tk.Name, tk.Expired)
			}
		}
	}
	if seen != 2 {
		t.Fatalf("list: %+v", list)
	}
}

// A read of personal data is recorded on the member that served it: who,
// how, from where, what, and how it ended; a refused call reads nothing.
func TestPersonalDataReadsAreRecorded(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	if code := ac.do(f, "GET", "/v1/dossiers/00004-260302-0007", ac.viewer, nil, nil); code != http.StatusForbidden {
		t.Fatalf("a viewer reads a dossier: %d, want 403", code)
	}
	if code := ac.do(f, "GET", "/v1/dossiers/00004-260302-0007", ac.records, nil, nil); code != http.StatusNotFound {
		t.Fatalf("records officer reads an unknown dossier: %d, want 404", code)
	}
	reads := ac.server(f).PersonalDataReads()
	if len(reads) != 1 {
		t.Fatalf("%d reads recorded, want 1: %+v", len(reads), reads)
	}
	r := reads[0]
	if r.Name != "ho-so" || r.Role != "RECORDS" || r.Via != viaToken || r.From != "127.0.0.1" || r.Method != xasov1.CentralService_GetProvinceDossier_FullMethodName ||
		!strings.Contains(r.Request, "00004-260302-0007") || r.Outcome != codes.NotFound.String() || r.Time.IsZero() {
		t.Fatalf("recorded %+v", r)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
