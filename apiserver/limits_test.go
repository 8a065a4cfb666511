package apiserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

// serve runs Serve with h and lim on a local port until the test ends.
func serve(t *testing.T, h http.Handler, lim Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h, nil, lim, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trickle writes s to c one byte every 200 ms until s is written, the
// write fails or stop is closed.
func trickle(c net.Conn, s string, stop <-chan struct{}) {
	for i := 0; i < len(s); i++ {
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// closedWithin waits up to d for the server to answer or close c, and
// says how long it took.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.SetReadDeadline(start.Add(d))
	_, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after %v", d)
	}
	return time.Since(start)
}

// A body sent one byte every 200 ms is cut at the read deadline: the
// handler's read fails and the connection closes, long before the body
// would have arrived.
func TestSlowBodyIsCutAtTheReadDeadline(t *testing.T) {
	readErr := make(chan error, 1)
	var got atomic.Int64
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got.Store(int64(len(b)))
		readErr <- err
	}), Limits{ReadTimeout: 500 * time.Millisecond, ReadHeaderTimeout: 5 * time.Second})
	c := dial(t, addr)
	if _, err := io.WriteString(c, "POST /v1/things HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go trickle(c, strings.Repeat("x", 100), stop)
	start := time.Now()
	select {
	case err := <-readErr:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("the handler's read: %v, want a timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the read failed after %v, want about 500ms", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the handler is still reading after 10s (%d bytes)", got.Load())
	}
	if n := got.Load(); n >= 100 {
		t.Fatalf("the handler read the whole body (%d bytes)", n)
	}
	closedWithin(t, c, 3*time.Second)
}

// A header sent one byte every 200 ms is cut at ReadHeaderTimeout and the
// handler never runs.
func TestSlowHeaderIsCut(t *testing.T) {
	var calls atomic.Int32
	addr := serve(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }),
		Limits{ReadHeaderTimeout: 500 * time.Millisecond})
	c := dial(t, addr)
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	go trickle(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("y", 100)+"\r\n\r\n", stop)
	closedWithin(t, c, 5*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the connection closed after %v, want about 500ms", d)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the handler ran %d times", n)
	}
}

// The read deadline no longer applies once the body has arrived: a
// handler that works on past it keeps its request's context (net/http
// lifts the deadline for its background read; this holds it to that).
func TestReadDeadlineIsLiftedAtTheBodysEnd(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusServiceUnavailable)
		case <-time.After(time.Second):
			io.WriteString(w, "ok")
		}
	}), Limits{ReadTimeout: 300 * time.Millisecond})
	resp, err := http.Post("http://"+addr+"/", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s, want 200 ok", resp.Status, b)
	}
}

// A gRPC stream through the same server (apiserver.Split, HTTP/2) lives
// far longer than the HTTP deadlines: messages go both ways over 2 s
// against read and write deadlines of 300 ms.
func TestGRPCStreamOutlivesTheHTTPDeadlines(t *testing.T) {
	gs := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		for {
			var m emptypb.Empty
			if err := ss.RecvMsg(&m); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := ss.SendMsg(&m); err != nil {
				return err
			}
		}
	}))
	var plain atomic.Int32
	h := Split(gs, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { plain.Add(1) }))
	addr := serve(t, h, Limits{ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, "/xaso.test.Echo/Chat")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 10; i++ {
		if err := st.SendMsg(&emptypb.Empty{}); err != nil {
			t.Fatalf("send %d after %v: %v", i, time.Since(start), err)
		}
		if err := st.RecvMsg(&emptypb.Empty{}); err != nil {
			t.Fatalf("receive %d after %v: %v", i, time.Since(start), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if err := st.RecvMsg(&emptypb.Empty{}); err != io.EOF {
		t.Fatalf("the stream's end after %v: %v, want its normal end", time.Since(start), err)
	}
	if n := plain.Load(); n != 0 {
		t.Fatalf("the plain handler served %d gRPC requests", n)
	}
}

// With MaxConns 2, a third connection is not served while two are open,
// and is served as soon as one closes.
func TestConnectionLimit(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		Limits{MaxConns: 2, ReadHeaderTimeout: 30 * time.Second})
	// Two connections that are served: each has had an answer and stays
	// open (keep-alive).
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c := dial(t, addr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		resp.Body.Close()
		held = append(held, c)
	}
	third := dial(t, addr)
	io.WriteString(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := br.Peek(1); err == nil {
		t.Fatal("a third connection was served beside two")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("the third connection: %v, want it left waiting", err)
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the third connection once the first closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the third connection: %s", resp.Status)
	}
}

// A route with Deadlines gets its own read deadline in place of the
// server's: a body trickled over about 1.2 s arrives whole where the
// server's deadline is 300 ms.
func TestDeadlinesGiveARouteLonger(t *testing.T) {
	readErr := make(chan error, 1)
	h := Deadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), 10*time.Second, 0)
	addr := serve(t, h, Limits{ReadTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
	go trickle(c, "abcdef", nil)
	select {
	case err := <-readErr:
		if err != nil {
			t.Fatalf("the handler's read: %v, want the whole body", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no body after 10s")
	}
}
