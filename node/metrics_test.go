package node

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
)

// servedNodeMethods are the gRPC methods the node serves, from the service
// descriptions (not from the server): NodeService's, unary and streaming,
// and the health service's.
func servedNodeMethods() []string {
	var out []string
	d := xasov1.NodeService_ServiceDesc
	for _, m := range d.Methods {
		out = append(out, "/"+d.ServiceName+"/"+m.MethodName)
	}
	for _, s := range d.Streams {
		out = append(out, "/"+d.ServiceName+"/"+s.StreamName)
	}
	return append(out, healthpb.Health_Check_FullMethodName, healthpb.Health_List_FullMethodName, healthpb.Health_Watch_FullMethodName)
}

// nodePages are the node's page and plain routes, as labelled.
var nodePages = []string{
	"GET /{$}", "GET /static/", "GET /healthz", "GET /readyz",
	"GET /tra-cuu", "GET /tra-cuu/{code}", "POST /tra-cuu/{code}/danh-gia",
	"GET /dang-nhap", "POST /dang-nhap", "POST /dang-xuat", "GET /ban", "GET /ban/tiep-nhan", "POST /ban/tiep-nhan",
	"GET /ban/ho-so/{code}", "POST /ban/ho-so/{code}", "GET /ban/ho-so/{code}/phieu", "GET /ban/tep/{sha}",
	"GET /ban/ho-so/{code}/danh-gia", "GET /ban/ho-so/{code}/mau/{form}", "GET /ban/so-theo-doi",
}

func TestEveryRouteHasItsSeriesFromTheStart(t *testing.T) {
	n := startNode(t)
	reg := n.metrics.reg
	// The series are made with the server's handler: /metrics answers
	// from then on.
	pollUntil(t, "the node serving", n.ready.Load)
	rest, err := apiserver.GatewayRoutes(xasov1.HTTPRules, "xaso.v1.NodeService")
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) < 10 || !slices.Contains(rest, "GET /v1/dossiers/{code=*}") || !slices.Contains(rest, "POST /v1/dossiers") {
		t.Fatalf("REST routes read from the options: %v", rest)
	}
	routes := append(slices.Clone(rest), nodePages...)
	methods := servedNodeMethods()
	if !slices.Contains(methods, "/xaso.v1.NodeService/CreateDossier") {
		t.Fatalf("methods: %v", methods)
	}
	for _, c := range []struct {
		family, label string
		want          []string
	}{
		{"xaso_node_grpc_request_duration_seconds", "method", methods},
		{"xaso_node_grpc_request_errors_total", "method", methods},
		{"xaso_node_http_request_duration_seconds", "route", routes},
		{"xaso_node_http_request_errors_total", "route", routes},
	} {
		missing, err := apiserver.MissingSeries(reg, c.family, c.label, c.want)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("%s lacks, before any call, %v", c.family, missing)
		}
	}
	// The check fires: a route that is not served is missing, and so is
	// every route of a family that does not exist.
	if missing, _ := apiserver.MissingSeries(reg, "xaso_node_http_request_duration_seconds", "route", []string{"GET /tra-cuu", "GET /khong-co"}); !slices.Equal(missing, []string{"GET /khong-co"}) {
		t.Errorf("a route not served: missing %v", missing)
	}
	if missing, _ := apiserver.MissingSeries(reg, "xaso_node_no_such_family", "route", []string{"GET /tra-cuu"}); len(missing) != 1 {
		t.Errorf("an absent family: missing %v", missing)
	}

	// Calls are labelled as the series made in advance: REST routes with a
	// variable, pages, a refused call; no new route label appears.
	before, err := apiserver.SeriesValues(reg, "xaso_node_http_request_duration_seconds", "route")
	if err != nil {
		t.Fatal(err)
	}
	_, d := n.call(t, "POST", "/v1/dossiers", birthRequest())
	code, _ := d["dossier"].(map[string]any)["code"].(string)
	n.call(t, "GET", "/v1/dossiers/"+code, nil)
	n.call(t, "GET", "/v1/dossiers/khong-co", nil)
	for _, p := range []string{"/tra-cuu", "/tra-cuu/" + code, "/"} {
		resp, err := n.client.Get(n.url + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got, err := apiserver.SeriesValues(reg, "xaso_node_http_request_duration_seconds", "route")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if !slices.Contains(before, r) {
			t.Errorf("a call made a route label %q that was not there from the start", r)
		}
	}
	if _, err := n.grpc.ListProcedures(as(context.Background(), xasov1.Role_ROLE_CLERK), &xasov1.ListProceduresRequest{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := apiserver.SeriesValues(reg, "xaso_node_grpc_request_duration_seconds", "method"); len(got) != len(methods) {
		t.Errorf("gRPC method labels after calls: %d, want %d", len(got), len(methods))
	}
	// Build info: version, commune, node id, role.
	fams, _ := reg.Gather()
	found := false
	for _, f := range fams {
		if f.GetName() != "xaso_build_info" {
			continue
		}
		labels := map[string]string{}
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		found = f.GetMetric()[0].GetGauge().GetValue() == 1
		if labels["commune"] != testCommune || labels["node_id"] != "node-"+testCommune || labels["role"] != "node" || labels["version"] == "" {
			t.Errorf("build info labels %v", labels)
		}
	}
	if !found {
		t.Error("no xaso_build_info 1")
	}
}

// dialNode opens a gRPC connection to n with no token.
func dialNode(t *testing.T, n *testNode) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if n.tlsConfig != nil {
		creds = credentials.NewTLS(n.tlsConfig)
	}
	conn, err := grpc.NewClient(strings.TrimPrefix(strings.TrimPrefix(n.url, "https://"), "http://"), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestHealthServiceAnswersReadiness(t *testing.T) {
	n := startNode(t)
	h := healthpb.NewHealthClient(dialNode(t, n))
	ctx := context.Background()
	check := func(service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("check %q without a token: %v", service, err)
		}
		return r.GetStatus()
	}
	pollUntil(t, "the node serving", func() bool { return n.ready.Load() })
	for _, s := range []string{"", "xaso.v1.NodeService"} {
		if got := check(s); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%q while ready: %v", s, got)
		}
	}
	if _, err := h.Check(ctx, &healthpb.HealthCheckRequest{Service: "xaso.v1.Khong"}); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown service: %v, want NotFound", err)
	}
	// Not ready (as while it shuts down): NOT_SERVING, as /readyz says 503.
	n.ready.Store(false)
	if got := check(""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("while not ready: %v", got)
	}
	resp, err := n.client.Get(n.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz while not ready: %d", resp.StatusCode)
	}
	n.ready.Store(true)
	if got := check(""); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("ready again: %v", got)
	}
	// Watch: the status now, then each change; the stream counts as open
	// while it lasts.
	wctx, stop := context.WithCancel(ctx)
	w, err := h.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v %v", r, err)
	}
	open := func() float64 {
		fams, _ := n.metrics.reg.Gather()
		for _, f := range fams {
			if f.GetName() == "xaso_node_grpc_streams_open" {
				for _, m := range f.GetMetric() {
					if m.GetLabel()[0].GetValue() == healthpb.Health_Watch_FullMethodName {
						return m.GetGauge().GetValue()
					}
				}
			}
		}
		return -1
	}
	if v := open(); v != 1 {
		t.Errorf("streams open while watching: %v", v)
	}
	n.ready.Store(false)
	if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("watch after the change: %v %v", r, err)
	}
	n.ready.Store(true)
	stop()
	pollUntil(t, "the stream closed", func() bool { return open() == 0 })
}

// reflectedServices lists the services server reflection names, or the
// error of asking.
func reflectedServices(t *testing.T, conn *grpc.ClientConn) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	// A stream the server refused ends Send with io.EOF; Recv has why.
	if err := st.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	r, err := st.Recv()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range r.GetListServicesResponse().GetService() {
		out = append(out, s.GetName())
	}
	return out, nil
}

func TestReflectionOnlyWhenEnabled(t *testing.T) {
	off := startNode(t)
	if _, err := reflectedServices(t, dialNode(t, off)); status.Code(err) != codes.Unimplemented {
		t.Errorf("reflection by default: %v, want Unimplemented", err)
	}
	on := startNode(t, func(c *Config) { c.GRPCReflection = true })
	names, err := reflectedServices(t, dialNode(t, on))
	if err != nil {
		t.Fatalf("reflection with grpc_reflection (no token): %v", err)
	}
	for _, want := range []string{"xaso.v1.NodeService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
}

// pollUntil polls cond until it holds, failing after 10 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStoreSizeMeasuresTheData(t *testing.T) {
	n := startNode(t)
	dir := n.Store().db.Opts().Dir
	apparent := func() int64 {
		var sum int64
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					sum += info.Size()
				}
			}
			return nil
		})
		return sum
	}
	before, err := n.Store().Size()
	if err != nil {
		t.Fatal(err)
	}
	// The files' lengths count the preallocated value log and memtable
	// files; the data is far less.
	if before <= 0 || before*4 > apparent() {
		t.Fatalf("a new store: %d bytes on disk, the files' lengths %d", before, apparent())
	}
	for range 200 {
		if code, _ := n.call(t, "POST", "/v1/dossiers", birthRequest()); code != 200 {
			t.Fatal(code)
		}
	}
	if err := n.Store().db.Sync(); err != nil {
		t.Fatal(err)
	}
	after, err := n.Store().Size()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("200 dossiers later: %d bytes, before %d", after, before)
	}
	t.Logf("store on disk: %d bytes new, %d after 200 dossiers; the files' lengths %d", before, after, apparent())
}
