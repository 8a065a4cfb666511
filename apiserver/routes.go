package apiserver

import (
	"fmt"

	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

// Methods lists the full names (/package.Service/Method) of every method,
// unary and streaming, of the services registered on gs: the label values
// of the gRPC metrics. Streams are the streaming ones among them.
func Methods(gs *grpc.Server) (all, streams []string) {
	for svc, info := range gs.GetServiceInfo() {
		for _, m := range info.Methods {
			all = append(all, "/"+svc+"/"+m.Name)
			if m.IsClientStream || m.IsServerStream {
				streams = append(streams, "/"+svc+"/"+m.Name)
			}
		}
	}
	sort.Strings(all)
	sort.Strings(streams)
	return all, streams
}

// GatewayRoutes lists the REST routes the gateway serves for service
// ("xaso.v1.NodeService"), as Observer.Middleware labels them ("GET
// /v1/dossiers/{code=*}"): read from rules, the http rules of a
// google.api.Service in YAML (the file the gateway was generated from),
// additional bindings included.
func GatewayRoutes(rules []byte, service string) ([]string, error) {
	var cfg struct {
		HTTP struct {
			Rules []httpRule `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(rules, &cfg); err != nil {
		return nil, fmt.Errorf("read http rules: %w", err)
	}
	var out []string
	for _, r := range cfg.HTTP.Rules {
		if !strings.HasPrefix(r.Selector, service+".") {
			continue
		}
		for _, b := range append([]httpRule{r}, r.AdditionalBindings...) {
			method, path := b.route()
			if path == "" {
				return nil, fmt.Errorf("http rule of %s: no method and path", r.Selector)
			}
			out = append(out, method+" "+gatewayPattern(path))
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// httpRule is one rule of a google.api.Service's http section.
type httpRule struct {
	Selector           string     `yaml:"selector"`
	Get                string     `yaml:"get"`
	Put                string     `yaml:"put"`
	Post               string     `yaml:"post"`
	Delete             string     `yaml:"delete"`
	Patch              string     `yaml:"patch"`
	Body               string     `yaml:"body"`
	AdditionalBindings []httpRule `yaml:"additional_bindings"`
}

func (r httpRule) route() (method, path string) {
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, r.Get}, {http.MethodPut, r.Put}, {http.MethodPost, r.Post}, {http.MethodDelete, r.Delete}, {http.MethodPatch, r.Patch},
	} {
		if c.path != "" {
			return c.method, c.path
		}
	}
	return "", ""
}

var bareVariable = regexp.MustCompile(`\{([^}=]+)\}`)

// gatewayPattern writes an http rule's path template the way the
// gateway's runtime.Pattern.String does: a bare variable {x} is {x=*}.
func gatewayPattern(path string) string {
	return bareVariable.ReplaceAllString(path, "{$1=*}")
}

// serverFault says whether a gRPC code is the server's failure rather than
// the caller's: what the error counters count.
func serverFault(c codes.Code) bool {
	switch c {
	case codes.Unknown, codes.Internal, codes.Unavailable, codes.DataLoss, codes.DeadlineExceeded, codes.Unimplemented:
		return true
	}
	return false
}

// Preset creates the series of every method and route with zero counts,
// so that they are in the first scrape rather than after their first
// call: the histograms under code OK and status 200, the error counters
// at 0, and the open streams of every streaming method at 0.
func (o Observer) Preset(methods, streams, routes []string) {
	for _, m := range streams {
		if o.Streams != nil {
			o.Streams.WithLabelValues(m)
		}
	}
	for _, m := range methods {
		o.GRPC.WithLabelValues(m, codes.OK.String())
		if o.GRPCErrors != nil {
			o.GRPCErrors.WithLabelValues(m)
		}
	}
	for _, r := range routes {
		o.HTTP.WithLabelValues(r, strconv.Itoa(http.StatusOK))
		if o.HTTPErrors != nil {
			o.HTTPErrors.WithLabelValues(r)
		}
	}
}

// MeasuredMux is a ServeMux whose every handler is timed under its
// pattern (Observer.Handler) and which remembers the patterns, for
// Observer.Preset.
type MeasuredMux struct {
	*http.ServeMux
	Observer Observer
	routes   []string
}

// NewMeasuredMux returns an empty MeasuredMux timing with o.
func NewMeasuredMux(o Observer) *MeasuredMux {
	return &MeasuredMux{ServeMux: http.NewServeMux(), Observer: o}
}

// Handle registers h under pattern, timed.
func (m *MeasuredMux) Handle(pattern string, h http.Handler) {
	m.routes = append(m.routes, pattern)
	m.ServeMux.Handle(pattern, m.Observer.Handler(pattern, h))
}

// HandleFunc registers h under pattern, timed.
func (m *MeasuredMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Unmeasured registers h under pattern without timing it (the gateway,
// which times its own routes, and /metrics).
func (m *MeasuredMux) Unmeasured(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
}

// Routes are the patterns registered with Handle, in order.
func (m *MeasuredMux) Routes() []string { return slices.Clone(m.routes) }

// Version is the build's version when the binary does not set one: the
// module's version, or the commit it was built from ("dev-<commit>"), or
// "dev".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return "dev-" + s.Value
		}
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return "dev"
}

// BuildInfo is the build-info gauge (always 1) with its labels: version,
// commune (empty on central), node_id (the node's, or the member's id) and
// role ("node" or "central").
func BuildInfo(name, version, commune, nodeID, role string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: name, Help: "1, labelled with the build's version and who runs it.",
		ConstLabels: prometheus.Labels{"version": version, "commune": commune, "node_id": nodeID, "role": role},
	}, func() float64 { return 1 })
}

// Router is where handlers are registered under ServeMux patterns: an
// *http.ServeMux, or a MeasuredMux that times them.
type Router interface {
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

// MissingSeries lists the values of want that no series of the metric
// family name has for label: what a scrape from g lacks. A family absent
// altogether lacks them all.
func MissingSeries(g prometheus.Gatherer, name, label string, want []string) ([]string, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					have[l.GetValue()] = true
				}
			}
		}
	}
	var out []string
	for _, w := range want {
		if !have[w] {
			out = append(out, w)
		}
	}
	return out, nil
}

// SeriesValues lists the values label takes in the series of the metric
// family name, sorted.
func SeriesValues(g prometheus.Gatherer, name, label string) ([]string, error) {
	fams, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("gather: %w", err)
	}
	var out []string
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}
