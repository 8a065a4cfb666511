// Package apiserver is the HTTP plumbing the node and central share: one
// port that serves gRPC (HTTP/2, content type application/grpc) and the
// REST gateway beside plain handlers, grpc-gateway's error mapping as xaso
// wants it (a refused action is 409, a wrong method 405), request timing
// with panics turned into errors and series made in advance for every
// method and route (routes.go), the gRPC health service with readiness
// semantics and optional reflection (health.go), and a graceful serve loop.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// Gateway returns a grpc-gateway mux with xaso's JSON (proto field names)
// and error mapping, plus opts.
func Gateway(opts ...runtime.ServeMuxOption) *runtime.ServeMux {
	base := []runtime.ServeMuxOption{
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	}
	return runtime.NewServeMux(append(base, opts...)...)
}

// Split sends gRPC requests to gs and everything else to h.
func Split(gs *grpc.Server, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsGRPC(r) {
			gs.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// IsGRPC says whether r is a gRPC call (HTTP/2, content type
// application/grpc…), which Split sends to the gRPC server and which the
// per-request deadlines of Serve leave alone.
func IsGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// errorHandler is grpc-gateway's, but a refused workflow action is 409
// Conflict rather than 400, so that clients can tell it from bad input.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if status.Code(err) == codes.FailedPrecondition {
		w = &statusOverride{ResponseWriter: w, code: http.StatusConflict}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// routingErrorHandler answers a wrong method with 405, where grpc-gateway
// would say 501 Not Implemented.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		w = &statusOverride{ResponseWriter: w, code: http.StatusMethodNotAllowed}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

type statusOverride struct {
	http.ResponseWriter
	code int
}

func (s *statusOverride) WriteHeader(int) { s.ResponseWriter.WriteHeader(s.code) }

// Observer times calls into histograms labelled by method or route and
// status, and turns a panic in a handler into an Internal error.
type Observer struct {
	Log *slog.Logger
	// GRPC is labelled (method, code); HTTP (route, status).
	GRPC, HTTP *prometheus.HistogramVec
	// GRPCErrors (method) and HTTPErrors (route), when set, count the
	// calls that failed on the server's side: a gRPC code such as
	// Internal or Unavailable, an HTTP status of 500 or more.
	GRPCErrors, HTTPErrors *prometheus.CounterVec
	// Streams (method), when set, is the streams open now: a stream is
	// timed only when it ends, and a node's replication streams last as
	// long as it is connected.
	Streams *prometheus.GaugeVec
}

func (o Observer) grpcDone(method string, err error, start time.Time) {
	c := status.Code(err)
	o.GRPC.WithLabelValues(method, c.String()).Observe(time.Since(start).Seconds())
	if o.GRPCErrors != nil && serverFault(c) {
		o.GRPCErrors.WithLabelValues(method).Inc()
	}
}

// Unary is a gRPC interceptor.
func (o Observer) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			o.Log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
		o.grpcDone(info.FullMethod, err, start)
	}()
	return h(ctx, req)
}

// Stream is a gRPC stream interceptor: it times a stream from its start to
// its end (labelled like Unary) and turns a panic in the handler into an
// Internal error with a log line, so that no input can end the process.
func (o Observer) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	start := time.Now()
	if o.Streams != nil {
		open := o.Streams.WithLabelValues(info.FullMethod)
		open.Inc()
		defer open.Dec()
	}
	defer func() {
		if p := recover(); p != nil {
			o.Log.ErrorContext(ss.Context(), "panic in stream handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
		o.grpcDone(info.FullMethod, err, start)
	}()
	return h(srv, ss)
}

// Middleware is a grpc-gateway middleware timing REST calls by route.
func (o Observer) Middleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		route := r.URL.Path
		if p, ok := runtime.HTTPPattern(r.Context()); ok {
			route = p.String()
		}
		o.time(w, r, r.Method+" "+route, func(w http.ResponseWriter) { next(w, r, params) })
	}
}

// Handler times a plain HTTP handler under route, a ServeMux pattern
// ("GET /tra-cuu/{code}"), labelled as it is.
func (o Observer) Handler(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.time(w, r, route, func(w http.ResponseWriter) { h.ServeHTTP(w, r) })
	})
}

func (o Observer) time(w http.ResponseWriter, r *http.Request, route string, serve func(http.ResponseWriter)) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		if p := recover(); p != nil {
			o.Log.ErrorContext(r.Context(), "panic in handler", "route", route, "panic", p, "stack", string(debug.Stack()))
			if !sw.wrote {
				http.Error(sw, `{"code":13,"message":"internal error"}`, http.StatusInternalServerError)
			}
		}
		o.HTTP.WithLabelValues(route, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
		if o.HTTPErrors != nil && sw.code >= 500 {
			o.HTTPErrors.WithLabelValues(route).Inc()
		}
	}()
	serve(sw)
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(c int) {
	s.code, s.wrote = c, true
	s.ResponseWriter.WriteHeader(c)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// ShutdownGrace is how long in-flight requests get to finish at shutdown.
const ShutdownGrace = 10 * time.Second

// Limits bound what clients can hold of a server: the time to send a
// request, the time to take a response, idle time, and connections. A zero
// field takes its value from DefaultLimits.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's header: a client that
	// trickles its header is cut when it passes.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the body of an ordinary HTTP request (the
	// REST gateway, the pages and their forms, exports), counted from when
	// the handler starts; WriteTimeout bounds writing its response. Once
	// the body has been read to its end the read deadline no longer
	// applies, so a slow handler is not cut by it. A route can have other deadlines with
	// Deadlines (the node's uploads do).
	//
	// gRPC calls (IsGRPC) are exempt: central's replication streams (Push,
	// Feed) live as long as a node is connected, and gRPC bounds its calls
	// itself (message size limits, keepalive pings that find dead peers,
	// the caller's deadline). http.Server's own ReadTimeout and
	// WriteTimeout are not used for the same reason: over HTTP/2 they
	// would cut every stream, gRPC's included.
	ReadTimeout, WriteTimeout time.Duration
	// IdleTimeout closes a connection that has no request in flight.
	IdleTimeout time.Duration
	// MaxConns caps the connections served at once; a further connection
	// waits in the listen backlog until one closes. A gRPC client (a node
	// at central, a member forwarding to the leader) multiplexes all its
	// calls over one HTTP/2 connection, so it costs one slot however many
	// streams it runs; the deadlines above free slots that slow clients
	// hold, so they cannot keep a node out for long. Negative: no limit.
	MaxConns int
}

// DefaultLimits are the limits of a field left zero.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      2 * time.Minute,
	IdleTimeout:       2 * time.Minute,
	MaxConns:          512,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxConns == 0 {
		l.MaxConns = d.MaxConns
	}
	return l
}

// Deadlines gives h's requests other deadlines than the server's: read
// bounds reading the body and write writing the response, from when h
// starts (zero keeps the server's). gRPC calls are left alone.
func Deadlines(h http.Handler, read, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsGRPC(r) {
			h.ServeHTTP(w, r)
			return
		}
		withDeadlines(w, r, read, write)
		h.ServeHTTP(w, r)
	})
}

// withDeadlines sets w's write deadline and, when r has a body, its read
// deadline. net/http itself lifts the read deadline once the body has been
// read to its end (HTTP/1.1 then reads the connection in the background
// with none, to notice a client that goes away; over HTTP/2 a stream's
// deadline passing after its body's end changes nothing), so a handler
// that works long after reading is not cut by it.
func withDeadlines(w http.ResponseWriter, r *http.Request, read, write time.Duration) {
	rc := http.NewResponseController(w)
	if write > 0 {
		_ = rc.SetWriteDeadline(time.Now().Add(write))
	}
	if read > 0 && r.Body != nil && r.Body != http.NoBody {
		_ = rc.SetReadDeadline(time.Now().Add(read))
	}
}

// Serve serves h on ln until ctx is done, then shuts down gracefully. With
// tlsConfig it serves HTTPS (HTTP/2 by ALPN, also in a configuration its
// GetConfigForClient returns); a plain HTTP request on it is answered 400.
// Without, HTTP/1.1 and unencrypted HTTP/2. lim bounds clients (see Limits). started, when set,
// is called once serving begins and stopped when it ends.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, tlsConfig *tls.Config, lim Limits, log *slog.Logger, started, stopped func()) error {
	lim = lim.withDefaults()
	addr := ln.Addr()
	if lim.MaxConns > 0 {
		ln = netutil.LimitListener(ln, lim.MaxConns)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tlsConfig == nil {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP2(true)
		tlsConfig = tlsConfig.Clone()
		tlsConfig.NextProtos = []string{"h2", "http/1.1"}
		if get := tlsConfig.GetConfigForClient; get != nil {
			// A configuration chosen per connection (a node's certificate
			// changes when it enrolls) offers the same protocols.
			tlsConfig.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				c, err := get(hello)
				if err != nil || c == nil || len(c.NextProtos) > 0 {
					return c, err
				}
				c = c.Clone()
				c.NextProtos = []string{"h2", "http/1.1"}
				return c, nil
			}
		}
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler:           Deadlines(h, lim.ReadTimeout, lim.WriteTimeout),
		Protocols:         &protocols,
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if started != nil {
		started()
	}
	if stopped != nil {
		defer stopped()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down %s: %w", addr, err)
	}
	return nil
}
