package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/web"
)

// handler builds the node's HTTP handler: gRPC and everything else on one port.
func (n *Node) handler() (http.Handler, error) {
	obs := apiserver.Observer{Log: n.log, GRPC: n.metrics.grpcLatency, HTTP: n.metrics.httpLatency,
		GRPCErrors: n.metrics.grpcErrors, HTTPErrors: n.metrics.httpErrors, Streams: n.metrics.streams}
	auth := n.auth
	gs := grpc.NewServer(
		grpc.MaxRecvMsgSize(int(n.cfg.MaxAttachmentBytes)+(1<<20)),
		grpc.MaxSendMsgSize(int(n.cfg.MaxAttachmentBytes)+(1<<20)),
		grpc.ChainUnaryInterceptor(obs.Unary, auth.Unary),
		grpc.ChainStreamInterceptor(obs.Stream, auth.Stream),
	)
	xasov1.RegisterNodeServiceServer(gs, n.svc)
	// Ready: the store is open (Open succeeded) and the server accepts
	// calls; the same answer as /readyz.
	apiserver.RegisterHealth(gs, n.ready.Load, n.cfg.GRPCReflection)

	gw := apiserver.Gateway(
		runtime.WithIncomingHeaderMatcher(func(h string) (string, bool) {
			if strings.EqualFold(h, "Idempotency-Key") {
				return "idempotency-key", true
			}
			return runtime.DefaultHeaderMatcher(h)
		}),
		runtime.WithMiddlewares(obs.Middleware),
	)
	if err := xasov1.RegisterNodeServiceHandlerServer(context.Background(), gw, n.svc); err != nil {
		return nil, fmt.Errorf("register REST gateway: %w", err)
	}

	mux := apiserver.NewMeasuredMux(obs)
	pg, err := web.NewPages()
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	(&pages{n: n, pages: pg, users: n.users, auth: auth}).routes(mux)
	mux.Unmeasured("/v1/", auth.REST(http.MaxBytesHandler(gw, n.cfg.MaxAttachmentBytes*4/3+(1<<20))))
	mux.Unmeasured("GET /metrics", auth.Metrics(n.cfg.MetricsNeedToken, promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !n.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	rest, err := apiserver.GatewayRoutes(xasov1.HTTPRules, "xaso.v1.NodeService")
	if err != nil {
		return nil, err
	}
	methods, streams := apiserver.Methods(gs)
	obs.Preset(methods, streams, append(rest, mux.Routes()...))
	return auth.Hosts(apiserver.Split(gs, uploads(mux, n.cfg.MaxAttachmentBytes))), nil
}

// uploads gives the requests that may carry a scan (a POST to the REST
// API, where a file comes base64 in JSON, or to a desk form under /ban/)
// uploadTimeout to arrive instead of the server's shorter read deadline,
// and those that send one back (GET /v1/attachments/…, /ban/tep/…) as long
// to leave; everything else keeps the server's.
func uploads(h http.Handler, maxFile int64) http.Handler {
	d := uploadTimeout(maxFile)
	up, down := apiserver.Deadlines(h, d, 0), apiserver.Deadlines(h, 0, d)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case r.Method == http.MethodPost && (strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/ban/")):
			up.ServeHTTP(w, r)
		case r.Method == http.MethodGet && (strings.HasPrefix(p, "/v1/attachments/") || strings.HasPrefix(p, "/ban/tep/")):
			down.ServeHTTP(w, r)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

// uploadTimeout bounds reading a body that may carry a file of up to
// maxFile bytes: 2 minutes, enough for the default 20 MiB (27 MiB as
// base64) at 256 KiB/s, a slow commune link; a larger configured maximum
// gets the time it takes at that rate. A client trickling a body is cut
// there, whatever it declared.
func uploadTimeout(maxFile int64) time.Duration {
	const rate = 256 << 10 // bytes per second
	d := time.Duration(maxFile*4/3/rate) * time.Second
	return max(d, 2*time.Minute)
}

// Serve serves the node's API on ln until ctx is done, then shuts down
// gracefully (in-flight requests get apiserver.ShutdownGrace to finish):
// over TLS (tls.go), or plain HTTP with plain_http. With a central
// configured, it also syncs with central meanwhile.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	h, err := n.handler()
	if err != nil {
		return err
	}
	if n.syncer != nil {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		sealed := make(chan struct{})
		go func() {
			defer close(done)
			n.syncer.Run(ctx)
		}()
		go func() {
			defer close(sealed)
			n.sealWhenDrained(ctx, time.Minute)
		}()
		defer func() { cancel(); <-done; <-sealed }()
	}
	var tc *tls.Config
	if n.tls != nil {
		tc = n.tls.serverConfig()
	} else {
		n.log.Warn("serving plain HTTP (plain_http): only for a reverse proxy that terminates TLS in front of the node", "listen", ln.Addr().String())
		h = strictTransport(h)
	}
	return apiserver.Serve(ctx, ln, h, tc, apiserver.Limits{MaxConns: n.cfg.MaxConnections}, n.log, func() { n.ready.Store(true) }, func() { n.ready.Store(false) })
}
