package central

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/sample"
)

const bootstrapToken = "xo_bootstrap-secret-for-tests-only-0123456789"

// apiCluster is a test cluster whose members serve the API over TLS.
type apiCluster struct {
	*testCluster
	client *http.Client
	roots  *x509.CertPool

	smu     sync.Mutex
	urls    map[string]string  // member ID → https://host:port
	servers map[string]func()  // member ID → stop its server
	api     map[string]*Server // member ID → its server

	// The secrets of an operator's, a records officer's and a viewer's
	// token (newAPICluster makes them; newBareAPICluster does not).
	operator, records, viewer string
	// ahead is how far the servers' clock runs ahead of the machine's
	// (see advance).
	ahead atomic.Int64
}

// advance moves the servers' clock d ahead: tokens and sessions expire.
func (ac *apiCluster) advance(d time.Duration) { ac.ahead.Add(int64(d)) }

// now is the servers' clock.
func (ac *apiCluster) now() time.Time { return time.Now().Add(time.Duration(ac.ahead.Load())) }

// newAPICluster starts a cluster serving the API and makes a token of each
// role: the operator's with the bootstrap token, the others with it.
func newAPICluster(t *testing.T, tuning ...func(*MemberConfig)) *apiCluster {
	t.Helper()
	ac := newBareAPICluster(t, tuning...)
	f := ac.follower().ID()
	var tok struct {
		Secret string `json:"secret"`
	}
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", bootstrapToken, map[string]any{"name": "van-hanh", "role": "OPERATOR_ROLE_OPERATOR"}, &tok)
	ac.operator = tok.Secret
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "ho-so", "role": "OPERATOR_ROLE_RECORDS"}, &tok)
	ac.records = tok.Secret
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "bao-cao", "role": "OPERATOR_ROLE_VIEWER"}, &tok)
	ac.viewer = tok.Secret
	// Every member has the tokens: a test may call any of them.
	eventually(t, 15*time.Second, "every member has the tokens", func() bool {
		for _, m := range ac.running() {
			if ts, err := m.FSM().Tokens(); err != nil || len(ts) != 3 {
				return false
			}
		}
		return true
	})
	return ac
}

// newBareAPICluster starts a cluster serving the API, with no operator
// token made yet.
func newBareAPICluster(t *testing.T, tuning ...func(*MemberConfig)) *apiCluster {
	t.Helper()
	c := newCluster(t, 3, tuning...)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.ca.CertPEM)
	ac := &apiCluster{testCluster: c, urls: map[string]string{}, servers: map[string]func(){}, api: map[string]*Server{}, roots: roots,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}}
	for _, m := range c.running() {
		ac.serve(m)
	}
	// Settled: every member has recorded its API address, so tests that
	// compare states see no registration land in between.
	eventually(t, 15*time.Second, "every member's API address recorded", func() bool {
		for _, m := range c.running() {
			ms, err := m.FSM().Members()
			if err != nil || len(ms) != 3 {
				return false
			}
		}
		return true
	})
	t.Cleanup(func() {
		ac.smu.Lock()
		defer ac.smu.Unlock()
		for _, stop := range ac.servers {
			stop()
		}
	})
	return ac
}

// serve starts m's API server on a new port.
func (ac *apiCluster) serve(m *Member) {
	t := ac.t
	pair, err := ac.ca.Issue(m.ID(), []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, _ := pki.APIServerConfig(pair, ac.ca.CertPEM)
	peerTLS, _ := pki.ClientConfig(pair, ac.ca.CertPEM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ServerConfig{Member: m, APIAddress: ln.Addr().String(), TLS: srvTLS, PeerTLS: peerTLS,
		BootstrapTokenSHA256: pki.SecretSum(bootstrapToken), CAFingerprint: pki.Fingerprint(ac.ca.Cert),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: ac.now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ctx, ln); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	ac.smu.Lock()
	ac.urls[m.ID()] = "https://" + ln.Addr().String()
	ac.servers[m.ID()] = func() { cancel(); <-done }
	ac.api[m.ID()] = s
	ac.smu.Unlock()
}

// server is a member's API server now.
func (ac *apiCluster) server(id string) *Server {
	ac.smu.Lock()
	defer ac.smu.Unlock()
	return ac.api[id]
}

// url is where a member's API answers now.
func (ac *apiCluster) url(id string) string {
	ac.smu.Lock()
	defer ac.smu.Unlock()
	return ac.urls[id]
}

// restart stops a member and its server as a crash would, and starts both again.
func (ac *apiCluster) restart(id string) {
	ac.smu.Lock()
	stop := ac.servers[id]
	delete(ac.servers, id)
	ac.smu.Unlock()
	stop()
	ac.stop(id)
	ac.serve(ac.start(Peer{ID: id, Addr: ac.addrOf(id)}, nil))
}

// follower returns a member that does not lead.
func (ac *apiCluster) follower() *Member {
	for _, m := range ac.running() {
		if !m.IsLeader() {
			return m
		}
	}
	ac.t.Fatal("no follower")
	return nil
}

// do sends a REST call with a token and decodes the JSON answer into out.
func (ac *apiCluster) do(member, method, path, token string, body any, out any) int {
	ac.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, ac.url(member)+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ac.client.Do(req)
	if err != nil {
		ac.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			ac.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// eventuallyStatus retries a call until it answers want, while the cluster
// settles (the leader recording its API address).
func (ac *apiCluster) eventuallyStatus(want int, member, method, path, token string, body, out any) {
	ac.t.Helper()
	var got int
	eventually(ac.t, 15*time.Second, fmt.Sprintf("%s %s → %d", method, path, want), func() bool {
		got = ac.do(member, method, path, token, body, out)
		return got == want
	})
}

type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		FieldViolations []struct {
			Field string `json:"field"`
		} `json:"field_violations"`
	} `json:"details"`
}

func (e errorBody) fields() []string {
	var out []string
	for _, d := range e.Details {
		for _, f := range d.FieldViolations {
			out = append(out, f.Field)
		}
	}
	return out
}

func TestAPIOperatorTokensRolesAndAudit(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	if code := ac.do(f, "GET", "/v1/communes", "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code := ac.do(f, "GET", "/v1/communes", "xo_wrong", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d, want 401", code)
	}
	if code := ac.do(f, "GET", "/v1/communes/00004/accessLog", "", nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("the access log without a token: %d, want 401", code)
	}
	var viewer, op struct {
		Secret string `json:"secret"`
	}
	viewer.Secret, op.Secret = ac.viewer, ac.operator

	// Tokens are read where they were written (the write waited for this member to apply it).
	if code := ac.do(f, "GET", "/v1/communes", viewer.Secret, nil, nil); code != 200 {
		t.Fatalf("viewer read: %d", code)
	}
	var eb errorBody
	if code := ac.do(f, "PUT", "/v1/communes/00004", viewer.Secret, map[string]any{"name": "Phường Ba Đình"}, &eb); code != http.StatusForbidden {
		t.Fatalf("viewer write: %d %v, want 403", code, eb)
	}
	if code := ac.do(f, "PUT", "/v1/communes/00004", op.Secret, map[string]any{"name": "Phường Ba Đình"}, nil); code != 200 {
		t.Fatalf("operator write: %d", code)
	}
	var audit struct {
		Records []struct {
			Command struct {
				Actor string `json:"actor"`
			} `json:"command"`
		} `json:"records"`
	}
	if code := ac.do(f, "GET", "/v1/audit", viewer.Secret, nil, nil); code != http.StatusForbidden {
		t.Fatalf("viewer reads the audit trail: %d, want 403", code)
	}
	ac.do(f, "GET", "/v1/audit", op.Secret, nil, &audit)
	last := audit.Records[len(audit.Records)-1]
	if last.Command.Actor != "van-hanh" {
		t.Fatalf("last write audited as %q, want van-hanh", last.Command.Actor)
	}
	// A revoked token is refused.
	if code := ac.do(f, "DELETE", "/v1/tokens/bao-cao", op.Secret, nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if code := ac.do(f, "GET", "/v1/communes", viewer.Secret, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d, want 401", code)
	}
	var toks struct {
		Tokens []map[string]any `json:"tokens"`
	}
	ac.do(f, "GET", "/v1/tokens", op.Secret, nil, &toks)
	for _, tk := range toks.Tokens {
		if _, ok := tk["secret_sha256"]; ok {
			t.Fatalf("token list shows a secret hash: %v", tk)
		}
	}
}

func TestAPIBadOperatorInputIs400AndChangesNothing(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	proc, _ := protojson.Marshal(sample.Procedures()[0])
	var p map[string]any
	json.Unmarshal(proc, &p)
	ac.eventuallyStatus(200, f, "POST", "/v1/procedures", ac.operator, p, nil)
	before := withoutAudit(dump(t, ac.leader().FSM()))
	tests := []struct {
		name, method, path string
		body               any
		fields             []string
		status             int
	}{
		{"duplicate procedure code", "POST", "/v1/procedures", p, []string{"procedure.code"}, 400},
		{"malformed calendar", "PUT", "/v1/calendar", map[string]any{"calendar_json": `{"days": [{"date": "2026-02-30", "kind": "holiday"}]}`}, []string{"calendar_json"}, 400},
		{"enrollment for an unknown commune", "POST", "/v1/communes/99999/enrollmentTokens", map[string]any{}, []string{"commune_code"}, 400},
		{"commune code not 5 digits", "PUT", "/v1/communes/12ab", map[string]any{"name": "Xã A"}, []string{"commune.code"}, 400},
		{"report without months", "GET", "/v1/reports/performance?group_by=commune", nil, []string{"from_month", "to_month"}, 400},
		{"report grouped by nonsense", "GET", "/v1/reports/performance?from_month=2026-01&to_month=2026-02&group_by=planet", nil, []string{"group_by[0]"}, 400},
		{"unknown field", "PUT", "/v1/communes/00004", map[string]any{"nam": "Xã A"}, nil, 400},
		{"update of a procedure that does not exist", "PUT", "/v1/procedures/NOPE-1", map[string]any{"procedure": map[string]any{"name": "x"}}, nil, 404},
		{"access log of a commune not 5 digits", "GET", "/v1/communes/12ab/accessLog", nil, []string{"commune_code"}, 400},
		{"access log of a bad dossier code, a bad page", "GET", "/v1/communes/00004/accessLog?dossier_code=x&page_token=abc&page_size=1001", nil,
			[]string{"dossier_code", "page_size", "page_token"}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var eb errorBody
			tok := ac.operator
			if strings.Contains(tc.path, "/accessLog") {
				tok = ac.records // personal data: the records role
			}
			code := ac.do(f, tc.method, tc.path, tok, tc.body, &eb)
			if code != tc.status {
				t.Fatalf("status %d (%s), want %d", code, eb.Message, tc.status)
			}
			if tc.fields != nil && fmt.Sprint(eb.fields()) != fmt.Sprint(tc.fields) {
				t.Fatalf("fields %v, want %v (%s)", eb.fields(), tc.fields, eb.Message)
			}
		})
	}
	if err := sameState(before, withoutAudit(dump(t, ac.leader().FSM()))); err != nil {
		t.Fatalf("refused input changed the state: %v", err)
	}
}

func TestAPIWritesOnAnyMemberLinearizableReadsReportsAndExports(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	for _, c := range sample.SampleProvince().Communes[:3] {
		ac.eventuallyStatus(200, f, "PUT", "/v1/communes/"+c.Code, ac.operator, map[string]any{"name": c.Name}, nil)
	}
	// Read on another member, linearizable: it sees the write at once.
	var other string
	for _, m := range ac.running() {
		if m.ID() != f {
			other = m.ID()
		}
	}
	var list struct {
		Communes []map[string]any `json:"communes"`
		Read     struct {
			AppliedIndex string `json:"applied_index"`
			MemberID     string `json:"member_id"`
		} `json:"read"`
	}
	if code := ac.do(other, "GET", "/v1/communes?consistency=READ_CONSISTENCY_LINEARIZABLE", ac.viewer, nil, &list); code != 200 || len(list.Communes) != 3 {
		t.Fatalf("linearizable read on %s: %d, %d communes", other, code, len(list.Communes))
	}
	if list.Read.MemberID != other || list.Read.AppliedIndex == "" {
		t.Fatalf("read info %+v", list.Read)
	}

	// Events through the leader (replication will send them); the report reads them back.
	codes3 := []string{}
	for _, c := range sample.SampleProvince().Communes[:3] {
		codes3 = append(codes3, c.Code)
	}
	a := &applierViaMember{m: ac.leader()}
	var procs []*xasov1.CentralCommand
	for _, p := range sample.Procedures() {
		procs = append(procs, putProcedure(p, -1))
	}
	a.propose(t, procs...)
	var someCode string
	for i, c := range codes3 {
		recs := records(t, c, uint64(i), 300)
		someCode = recs[0].GetDossierCode()
		for from := 0; from < len(recs); from += 100 {
			res := a.propose(t, appendEvents(c, recs[from:from+100]...))
			if res[0].GetCode() != 0 {
				t.Fatal(res[0].GetMessage())
			}
		}
	}
	var d struct {
		Dossier struct {
			Code   string           `json:"code"`
			Events []map[string]any `json:"events"`
		} `json:"dossier"`
	}
	if code := ac.do(f, "GET", "/v1/dossiers/"+someCode+"?consistency=READ_CONSISTENCY_LINEARIZABLE", ac.records, nil, &d); code != 200 || d.Dossier.Code != someCode || len(d.Dossier.Events) == 0 {
		t.Fatalf("province look-up: %d %+v", code, d)
	}
	if code := ac.do(f, "GET", "/v1/dossiers/00004-260302-9999", ac.records, nil, nil); code != 404 {
		t.Fatalf("unknown dossier: %d", code)
	}
	var rep struct {
		Rows []struct {
			CommuneCode string `json:"commune_code"`
			CommuneName string `json:"commune_name"`
			Counts      struct {
				Received string `json:"received"`
			} `json:"counts"`
			OnTimeRate float64 `json:"on_time_rate"`
		} `json:"rows"`
	}
	q := "/v1/reports/performance?from_month=2026-01&to_month=2026-12&group_by=commune&consistency=READ_CONSISTENCY_LINEARIZABLE"
	if code := ac.do(f, "GET", q, ac.viewer, nil, &rep); code != 200 || len(rep.Rows) != 3 {
		t.Fatalf("report: %d, %d rows", code, len(rep.Rows))
	}
	if rep.Rows[0].CommuneName == "" || rep.Rows[0].Counts.Received == "" || rep.Rows[0].OnTimeRate <= 0 {
		t.Fatalf("report row %+v", rep.Rows[0])
	}
	checkIndicatorsOverREST(t, ac, f)

	// Exports: CSV and XLSX hold the same rows.
	get := func(format string) []byte {
		req, _ := http.NewRequest("GET", ac.url(f)+"/v1/reports/performance:export?format="+format+"&from_month=2026-01&to_month=2026-12&group_by=commune&group_by=month", nil)
		req.Header.Set("Authorization", "Bearer "+ac.viewer)
		resp, err := ac.client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("export %s: %v %v", format, resp.Status, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	recsCSV, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(get("csv"), []byte("\ufeff")))).ReadAll()
	if err != nil || len(recsCSV) < 2 || recsCSV[0][0] != "month" {
		t.Fatalf("csv: %v %v", recsCSV, err)
	}
	x := get("xlsx")
	zr, err := zip.NewReader(bytes.NewReader(x), int64(len(x)))
	if err != nil {
		t.Fatal(err)
	}
	var sheet string
	for _, zf := range zr.File {
		if zf.Name == "xl/worksheets/sheet1.xml" {
			rc, _ := zf.Open()
			b, _ := io.ReadAll(rc)
			sheet = string(b)
		}
	}
	if got := strings.Count(sheet, "<row "); got != len(recsCSV) {
		t.Fatalf("xlsx has %d rows, csv %d", got, len(recsCSV))
	}
	if !strings.Contains(sheet, recsCSV[1][2]) {
		t.Fatalf("xlsx lacks the commune name %q", recsCSV[1][2])
	}
	if code := ac.do(f, "GET", "/v1/reports/performance:export?format=pdf&from_month=2026-01&to_month=2026-12", ac.viewer, nil, nil); code != 400 {
		t.Fatalf("export format pdf: %d", code)
	}
}

// applierViaMember proposes on a member, retrying through elections.
type applierViaMember struct{ m *Member }

func (a *applierViaMember) propose(t *testing.T, cmds ...*xasov1.CentralCommand) []*xasov1.CommandResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.m.Propose(ctx, "test", proposalTime(cmds...), cmds...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAPIClusterAdministrationOverGRPC(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower()
	conn, err := grpc.NewClient(strings.TrimPrefix(ac.url(f.ID()), "https://"), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ac.roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cl := xasov1.NewCentralServiceClient(conn)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+ac.operator)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	var st *xasov1.GetClusterResponse
	eventually(t, 15*time.Second, "every member's API address known", func() bool {
		st, err = cl.GetCluster(ctx, &xasov1.GetClusterRequest{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range st.GetMembers() {
			if m.GetApiAddress() != "" || !m.GetLeader() {
				n++
			}
		}
		return len(st.GetMembers()) == 3 && st.GetLeaderId() != "" && n == 3
	})
	old := st.GetLeaderId()
	// Through a follower: forwarded to the leader.
	resp, err := cl.TransferLeadership(ctx, &xasov1.TransferLeadershipRequest{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a new leader", func() bool {
		l := ac.leader()
		return l.ID() != old
	})
	t.Logf("leadership moved from %s (answer named %q)", old, resp.GetLeaderId())
	if _, err := cl.RemoveClusterMember(ctx, &xasov1.RemoveClusterMemberRequest{Id: "central-9"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("remove unknown member: %v", err)
	}
	if _, err := cl.AddClusterMember(ctx, &xasov1.AddClusterMemberRequest{Id: "central-4", RaftAddress: "no-port"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("add member without port: %v", err)
	}
	// A viewer cannot administer.
	if _, err := cl.TakeSnapshot(metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer nope"), &xasov1.TakeSnapshotRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("snapshot with a wrong token: %v", err)
	}
	if _, err := cl.TakeSnapshot(ctx, &xasov1.TakeSnapshotRequest{}); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
}

// checkIndicatorsOverREST reads the Decision 766 indicators and the period
// view through REST, and their CSV columns.
func checkIndicatorsOverREST(t *testing.T, ac *apiCluster, member string) {
	t.Helper()
	var rep struct {
		Rows []struct {
			Month      string `json:"month"`
			Indicators []struct {
				Key           string  `json:"key"`
				Group         string  `json:"group"`
				Value         float64 `json:"value"`
				Denominator   float64 `json:"denominator"`
				Measurable    bool    `json:"measurable"`
				NotMeasurable string  `json:"not_measurable"`
			} `json:"indicators"`
			Period struct {
				CarriedOver string `json:"carried_over"`
				Received    string `json:"received"`
				Resolved    string `json:"resolved"`
				PendingEnd  string `json:"pending_end"`
			} `json:"period"`
		} `json:"rows"`
	}
	q := "/v1/reports/performance?from_month=2026-03&to_month=2026-04&group_by=month&indicators=true&consistency=READ_CONSISTENCY_LINEARIZABLE"
	if code := ac.do(member, "GET", q, ac.viewer, nil, &rep); code != 200 || len(rep.Rows) == 0 {
		t.Fatalf("indicators: %d, %d rows", code, len(rep.Rows))
	}
	r := rep.Rows[0]
	byKey := map[string]bool{}
	for _, v := range r.Indicators {
		byKey[v.Key] = v.Measurable
		if !v.Measurable && (v.NotMeasurable == "" || v.Value != 0) {
			t.Errorf("%s not measurable without a reason, or with a value: %+v", v.Key, v)
		}
	}
	if !byKey["progress.on_time_rate"] || byKey["online.payment_rate"] || len(r.Indicators) != len(indicatorDefs()) {
		t.Fatalf("indicators %+v", r.Indicators)
	}
	if r.Period.Received == "" {
		t.Fatalf("no period view: %+v", r.Period)
	}
	// Month by month, what one month leaves pending the next carries over.
	for i := 1; i < len(rep.Rows); i++ {
		if rep.Rows[i].Period.CarriedOver != rep.Rows[i-1].Period.PendingEnd {
			t.Fatalf("%s carries over %s, %s left %s pending", rep.Rows[i].Month, rep.Rows[i].Period.CarriedOver, rep.Rows[i-1].Month, rep.Rows[i-1].Period.PendingEnd)
		}
	}
	req, _ := http.NewRequest("GET", ac.url(member)+"/v1/reports/performance:export?format=csv&from_month=2026-03&to_month=2026-04&group_by=month&indicators=true", nil)
	req.Header.Set("Authorization", "Bearer "+ac.viewer)
	resp, err := ac.client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", resp, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\ufeff")))).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("csv: %v %v", recs, err)
	}
	head := strings.Join(recs[0], ",")
	for _, col := range []string{"average_working_days", "online_full_rate", "all_components_digitised_rate", "fee_paying", "citizen_ratings", "rated_staff_conduct", "satisfaction_online_service_rate", "carried_over", "pending_at_end"} {
		if !strings.Contains(head, col) {
			t.Errorf("csv without %s: %s", col, head)
		}
	}
}
