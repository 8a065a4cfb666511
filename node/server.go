package node

import (
	"context"
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
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// handler builds the node's HTTP handler: gRPC (HTTP/2 with content type
// application/grpc) and everything else on one port.
func (n *Node) handler() (http.Handler, error) {
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(n.cfg.MaxAttachmentBytes)+(1<<20)),
		grpc.MaxSendMsgSize(int(n.cfg.MaxAttachmentBytes)+(1<<20)),
		grpc.ChainUnaryInterceptor(n.grpcObserve),
	)
	xasov1.RegisterNodeServiceServer(gs, n.svc)

	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			if strings.EqualFold(h, "Idempotency-Key") {
				return "idempotency-key", true
			}
			return runtime.DefaultHeaderMatcher(h)
		}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
		runtime.WithMiddlewares(n.httpObserve),
	)
	if err := xasov1.RegisterNodeServiceHandlerServer(context.Background(), gw, n.svc); err != nil {
		return nil, fmt.Errorf("register REST gateway: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/v1/", http.MaxBytesHandler(gw, n.cfg.MaxAttachmentBytes*4/3+(1<<20)))
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !n.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
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

// grpcObserve times gRPC calls and turns a panic into Internal.
func (n *Node) grpcObserve(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			n.log.ErrorContext(ctx, "panic in handler", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
		n.metrics.grpcLatency.WithLabelValues(info.FullMethod, status.Code(err).String()).Observe(time.Since(start).Seconds())
	}()
	return h(ctx, req)
}

// httpObserve times REST calls by route and turns a panic into a 500.
func (n *Node) httpObserve(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		route := r.URL.Path
		if p, ok := runtime.HTTPPattern(r.Context()); ok {
			route = p.String()
		}
		defer func() {
			if p := recover(); p != nil {
				n.log.ErrorContext(r.Context(), "panic in handler", "route", route, "panic", p, "stack", string(debug.Stack()))
				if !sw.wrote {
					http.Error(sw, `{"code":13,"message":"internal error"}`, http.StatusInternalServerError)
				}
			}
			n.metrics.httpLatency.WithLabelValues(r.Method+" "+route, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
		}()
		next(sw, r, params)
	}
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

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Serve serves the node's API on ln until ctx is done, then shuts down
// gracefully (in-flight requests get shutdownGrace to finish).
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	h, err := n.handler()
	if err != nil {
		return err
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	n.ready.Store(true)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		n.ready.Store(false)
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	n.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down %s: %w", ln.Addr(), err)
	}
	return nil
}

const shutdownGrace = 10 * time.Second
