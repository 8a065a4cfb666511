package apiserver

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// A panic in a stream handler (as in a unary one) is an Internal error for
// that call, counted, and the server goes on serving.
func TestPanicInAStreamHandlerIsAnInternalError(t *testing.T) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "test_grpc_seconds"}, []string{"method", "code"})
	obs := Observer{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), GRPC: hist}
	calls := 0
	gs := grpc.NewServer(grpc.ChainStreamInterceptor(obs.Stream),
		grpc.UnknownServiceHandler(func(any, grpc.ServerStream) error {
			calls++
			if calls == 1 {
				panic("boom")
			}
			return status.Error(codes.NotFound, "no such method")
		}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(ln)
	defer gs.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = conn.Invoke(ctx, "/xaso.test.Stream/Panic", &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.Internal {
		t.Fatalf("a panicking stream handler: %v, want Internal", err)
	}
	// The process and the server are still there.
	if err := conn.Invoke(ctx, "/xaso.test.Stream/Again", &emptypb.Empty{}, &emptypb.Empty{}); status.Code(err) != codes.NotFound {
		t.Fatalf("the call after the panic: %v, want NotFound", err)
	}
	series := make(chan prometheus.Metric, 10)
	hist.Collect(series)
	close(series)
	if n := len(series); n != 2 {
		t.Fatalf("%d series observed, want 2 (Internal and NotFound)", n)
	}
}

// The unary interceptor does the same for a unary handler.
func TestPanicInAUnaryHandlerIsAnInternalError(t *testing.T) {
	hist := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "test_grpc_seconds"}, []string{"method", "code"})
	obs := Observer{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), GRPC: hist}
	resp, err := obs.Unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/x/Y"}, func(context.Context, any) (any, error) { panic("boom") })
	if resp != nil || status.Code(err) != codes.Internal {
		t.Fatalf("got %v, %v; want Internal", resp, err)
	}
}
