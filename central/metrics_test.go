package central

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/sample"
)

// gauge is the value of the series of family name whose commune label
// is commune, and whether there is one.
func gauge(t *testing.T, g prometheus.Gatherer, name, commune string) (float64, bool) {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "commune" && l.GetValue() == commune {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

func TestNodeLagFromEnrollmentAndWhileCutOff(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	enroll := func(commune string, secret int, at time.Time) {
		t.Helper()
		sum := fmt.Sprintf("%064x", secret)
		for _, c := range []*xasov1.CentralCommand{
			putCommune(commune, "Xã "+commune),
			{Command: &xasov1.CentralCommand_IssueEnrollment{IssueEnrollment: &xasov1.IssueEnrollmentCommand{Token: &xasov1.EnrollmentToken{
				CommuneCode: commune, SecretSha256: sum, ExpireTime: timestamppb.New(testNow.Add(time.Hour))}}}},
			{Time: timestamppb.New(at), Command: &xasov1.CentralCommand_UseEnrollment{UseEnrollment: &xasov1.UseEnrollmentCommand{
				SecretSha256: sum, NodeId: "node-" + commune, CertificateSha256: fmt.Sprintf("%064x", secret+1)}}},
		} {
			if r := a.apply(t, c)[0]; r.GetCode() != 0 {
				t.Fatalf("enroll %s: %s", commune, r.GetMessage())
			}
		}
	}
	enroll("00004", 40, testNow.Add(time.Minute))
	enroll("00007", 70, testNow.Add(time.Minute))
	// The catalogue the communes' receipts name.
	for _, p := range sample.Procedures() {
		if r := a.apply(t, putProcedure(p, -1))[0]; r.GetCode() != 0 {
			t.Fatalf("procedure %s: %s", p.GetCode(), r.GetMessage())
		}
	}
	now := testNow.Add(2 * time.Minute)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(nodeCollector{fsm: f, now: func() time.Time { return now }})

	// Enrolled, nothing sent yet: every series is there, silent since
	// the enrollment.
	for _, c := range []string{"00004", "00007"} {
		for _, name := range []string{"xaso_central_node_lag_events", "xaso_central_node_acked_sequence", "xaso_central_chain_blocked_sequence",
			"xaso_central_node_last_contact_timestamp_seconds", "xaso_central_node_seconds_since_contact"} {
			if _, ok := gauge(t, reg, name, c); !ok {
				t.Errorf("%s: no %s before the node sent anything", c, name)
			}
		}
		if v, _ := gauge(t, reg, "xaso_central_node_seconds_since_contact", c); v != 60 {
			t.Errorf("%s: %v s since contact, want 60 (since its enrollment)", c, v)
		}
	}

	// 00004 sends 5 records and says it has written 8; then it is cut
	// off for 140 s while 00007 stays enrolled and silent.
	cmd := appendEvents("00004", records(t, "00004", 1, 5)...)
	cmd.GetAppendEvents().NodeLastSequence = 8
	if r := a.apply(t, cmd)[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	now = testEventsProposed
	if v, _ := gauge(t, reg, "xaso_central_node_lag_events", "00004"); v != 3 {
		t.Errorf("lag %v events, want the 3 the node reported waiting", v)
	}
	if v, _ := gauge(t, reg, "xaso_central_node_seconds_since_contact", "00004"); v != 0 {
		t.Errorf("just heard: %v s since contact", v)
	}
	now = now.Add(140 * time.Second)
	if v, _ := gauge(t, reg, "xaso_central_node_seconds_since_contact", "00004"); v != 140 {
		t.Errorf("cut off for 140 s: %v s since contact", v)
	}
	if v, _ := gauge(t, reg, "xaso_central_node_lag_events", "00004"); v != 3 {
		t.Errorf("cut off: lag %v events, want the 3 last reported", v)
	}
	if v, _ := gauge(t, reg, "xaso_central_node_last_contact_timestamp_seconds", "00004"); v != float64(testEventsProposed.Unix()) {
		t.Errorf("last contact %v, want %d", v, testEventsProposed.Unix())
	}
}

// centralMethods are the gRPC methods a member serves, from the service
// descriptions (not from the server), streams included.
func centralMethods() []string {
	var out []string
	for _, d := range []grpc.ServiceDesc{xasov1.CentralService_ServiceDesc, xasov1.CentralPeerService_ServiceDesc, xasov1.ReplicationService_ServiceDesc, healthpb.Health_ServiceDesc} {
		for _, m := range d.Methods {
			out = append(out, "/"+d.ServiceName+"/"+m.MethodName)
		}
		for _, s := range d.Streams {
			out = append(out, "/"+d.ServiceName+"/"+s.StreamName)
		}
	}
	return out
}

func TestEveryMemberRouteHasItsSeriesFromTheStartAndHealthFollowsReadiness(t *testing.T) {
	ac := newBareAPICluster(t)
	id := ac.follower().ID()
	s := ac.server(id)
	eventually(t, 15*time.Second, "the member's handler built", func() bool {
		n, _ := apiserver.SeriesValues(s.Registry(), "xaso_central_grpc_request_seconds", "method")
		return len(n) > 0
	})
	rest, err := apiserver.GatewayRoutes(xasov1.HTTPRules, "xaso.v1.CentralService")
	if err != nil {
		t.Fatal(err)
	}
	routes := append(rest, "GET /v1/reports/performance:export", "GET /dang-nhap", "POST /dang-nhap", "GET /{$}", "GET /bao-cao", "GET /ho-so", "GET /healthz", "GET /readyz")
	methods := centralMethods()
	for _, m := range []string{"/xaso.v1.ReplicationService/Push", "/xaso.v1.ReplicationService/Feed"} {
		if !slices.Contains(methods, m) {
			t.Fatalf("methods lack the stream %s: %v", m, methods)
		}
	}
	for _, c := range []struct {
		family, label string
		want          []string
	}{
		{"xaso_central_grpc_request_seconds", "method", methods},
		{"xaso_central_grpc_request_errors_total", "method", methods},
		{"xaso_central_http_request_seconds", "route", routes},
		{"xaso_central_http_request_errors_total", "route", routes},
		{"xaso_central_grpc_streams_open", "method", []string{"/xaso.v1.ReplicationService/Push", "/xaso.v1.ReplicationService/Feed", healthpb.Health_Watch_FullMethodName}},
	} {
		missing, err := apiserver.MissingSeries(s.Registry(), c.family, c.label, c.want)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Errorf("%s lacks, before any call, %v", c.family, missing)
		}
	}
	got, _ := apiserver.SeriesValues(s.Registry(), "xaso_central_http_request_seconds", "route")
	if slices.Contains(got, "GET GET /v1/reports/performance:export") {
		t.Error("the export route is labelled with its method twice")
	}
	if v, ok := gauge(t, s.Registry(), "xaso_build_info", ""); !ok || v != 1 {
		t.Errorf("build info: %v %v", v, ok)
	}
	if v, ok := gauge(t, s.Registry(), "xaso_central_state_bytes", ""); ok && v > 64<<20 {
		t.Errorf("a new member's state: %v bytes on disk", v)
	}

	// Health: SERVING once a leader is known and the member caught up;
	// NOT_SERVING once it has lost its leader (the others stopped).
	conn, err := grpc.NewClient(strings.TrimPrefix(ac.url(id), "https://"), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: ac.roots})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatalf("health check without a token: %v", err)
		}
		return r.GetStatus()
	}
	eventually(t, 15*time.Second, "SERVING", func() bool { return check() == healthpb.HealthCheckResponse_SERVING })
	// No reflection without grpc_reflection.
	rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
	if err == nil {
		// A stream the server refused ends Send with io.EOF; Recv has why.
		_ = rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		_, err = rs.Recv()
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("reflection by default: %v, want Unimplemented", err)
	}
	for _, svc := range []string{"xaso.v1.CentralService", "xaso.v1.ReplicationService"} {
		if r, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("%s: %v %v", svc, r, err)
		}
	}
	if _, err := h.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "xaso.v1.Khong"}); status.Code(err) != codes.NotFound {
		t.Errorf("an unknown service: %v", err)
	}
	for _, m := range ac.running() {
		if m.ID() != id {
			ac.stop(m.ID())
		}
	}
	eventually(t, 30*time.Second, "NOT_SERVING without a leader", func() bool { return check() == healthpb.HealthCheckResponse_NOT_SERVING })
	resp, err := ac.client.Get(ac.url(id) + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz without a leader: %d", resp.StatusCode)
	}
}

func TestRaftLogsFollowLogLevel(t *testing.T) {
	for _, c := range []struct {
		level slog.Level
		want  hclog.Level
	}{{slog.LevelDebug, hclog.Debug}, {slog.LevelInfo, hclog.Info}, {slog.LevelWarn, hclog.Warn}, {slog.LevelError, hclog.Error}} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: c.level}))
		if got := hclogLevel(log); got != c.want {
			t.Errorf("log_level %v: Raft's level %v, want %v", c.level, got, c.want)
		}
		// Each line keeps its own level: an INFO line of Raft's is not
		// raised to a warning, and is dropped below the configured level.
		h := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclogLevel(log), Output: slogWriter{log}, DisableTime: true})
		h.Info("entering follower state")
		h.Error("failed to contact")
		out := buf.String()
		if info := strings.Contains(out, "level=INFO") && strings.Contains(out, "raft: entering follower state"); info != (c.level <= slog.LevelInfo) {
			t.Errorf("log_level %v: Raft's info line %v in %q", c.level, info, out)
		}
		if !strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
			t.Errorf("log_level %v: %q", c.level, out)
		}
	}
}
