package apiserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestGatewayRoutesReadTheRulesAsTheGatewayLabelsThem(t *testing.T) {
	rules := []byte(`
type: google.api.Service
config_version: 3
http:
  rules:
    - selector: x.v1.S.Get
      get: /v1/things/{code}
      additional_bindings:
        - get: /v1/{name=communes/*}/things
    - selector: x.v1.S.Export
      get: /v1/reports/performance:export
    - selector: x.v1.Other.Put
      put: /v1/other
`)
	got, err := GatewayRoutes(rules, "x.v1.S")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /v1/reports/performance:export", "GET /v1/things/{code=*}", "GET /v1/{name=communes/*}/things"}
	if !slices.Equal(got, want) {
		t.Errorf("routes %q, want %q", got, want)
	}
	if _, err := GatewayRoutes([]byte("http:\n  rules:\n    - selector: x.v1.S.Get\n"), "x.v1.S"); err == nil {
		t.Error("a rule without method and path: no error")
	}
	if _, err := GatewayRoutes([]byte("http: ["), "x.v1.S"); err == nil {
		t.Error("broken YAML: no error")
	}
}

func TestObserverCountsServerFaultsOnly(t *testing.T) {
	o := Observer{
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		GRPC:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "g"}, []string{"method", "code"}),
		HTTP:       prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h"}, []string{"route", "status"}),
		GRPCErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ge"}, []string{"method"}),
		HTTPErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "he"}, []string{"route"}),
		Streams:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "s"}, []string{"method"}),
	}
	o.Preset([]string{"/x.S/A", "/x.S/B"}, []string{"/x.S/B"}, []string{"GET /a"})
	if n := count(t, o.GRPCErrors); n != 2 {
		t.Fatalf("preset error series: %d", n)
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/x.S/A"}
	for _, c := range []codes.Code{codes.InvalidArgument, codes.NotFound, codes.Internal, codes.Unavailable, codes.OK} {
		o.Unary(context.Background(), nil, info, func(context.Context, any) (any, error) { return nil, status.Error(c, "x") })
	}
	if v := value(t, o.GRPCErrors.WithLabelValues("/x.S/A")); v != 2 {
		t.Errorf("gRPC errors %v, want 2 (Internal, Unavailable; not the caller's mistakes)", v)
	}
	// A panic is an Internal error, counted.
	o.Unary(context.Background(), nil, info, func(context.Context, any) (any, error) { panic("boom") })
	if v := value(t, o.GRPCErrors.WithLabelValues("/x.S/A")); v != 3 {
		t.Errorf("after a panic: %v", v)
	}
	mux := NewMeasuredMux(o)
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "x", http.StatusInternalServerError)
			return
		}
		http.NotFound(w, r)
	})
	for _, q := range []string{"", "?fail=1", "?fail=1"} {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/a"+q, nil))
	}
	if v := value(t, o.HTTPErrors.WithLabelValues("GET /a")); v != 2 {
		t.Errorf("HTTP errors %v, want 2 (the 500s, not the 404)", v)
	}
	// The route is the pattern as registered: its method once.
	if n := count(t, o.HTTP); n != 3 {
		t.Errorf("HTTP series %d, want 200, 404 and 500 of GET /a", n)
	}
	if !slices.Equal(mux.Routes(), []string{"GET /a"}) {
		t.Errorf("routes %q", mux.Routes())
	}
	if v := value(t, o.Streams.WithLabelValues("/x.S/B")); v != 0 {
		t.Errorf("open streams before any: %v", v)
	}
}

// value is a counter's or gauge's value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.GetCounter().GetValue()
	}
	return d.GetGauge().GetValue()
}

// count is how many series c collects.
func count(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}
