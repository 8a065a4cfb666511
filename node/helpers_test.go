package node

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// testNode is a node serving on loopback, with clients for both protocols.
type testNode struct {
	*Node
	url   string
	grpc  xasov1.NodeServiceClient
	clock *clock
}

const testCommune = "09619"

// startNode opens a node in a temporary directory and serves it until the
// test ends. The clock starts on Monday 23 November 2026, 09:00 in Vietnam.
func startNode(t testing.TB, mutate ...func(*Config)) *testNode {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Commune = testCommune
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	for _, m := range mutate {
		m(&cfg)
	}
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Open(context.Background(), cfg, log, clk.Now)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := n.Store().Verify(); err != nil {
			t.Errorf("store invariants after the test: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &testNode{Node: n, url: "http://" + ln.Addr().String(), grpc: xasov1.NewNodeServiceClient(conn), clock: clk}
}

// call sends a JSON request and decodes the JSON answer into a map.
func (n *testNode) call(t *testing.T, method, path string, body any, header ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		out["raw"] = string(raw)
	}
	return resp.StatusCode, out
}

// birthRequest is a complete birth registration as a REST body.
func birthRequest() map[string]any {
	return map[string]any{
		"procedure_code": "1.001193",
		"applicant":      map[string]any{"full_name": "Hà Thị Lan", "id_number": "001190012345", "phone": "0912345678"},
		"channel":        "CHANNEL_IN_PERSON",
		"components":     []any{map[string]any{"code": "TK", "paper": true}, map[string]any{"code": "GCS", "paper": true}},
		"actor":          "motcua.1",
		"role":           "ROLE_CLERK",
	}
}

func fieldViolations(resp map[string]any) []string {
	var out []string
	details, _ := resp["details"].([]any)
	for _, d := range details {
		dm, _ := d.(map[string]any)
		fvs, _ := dm["field_violations"].([]any)
		for _, fv := range fvs {
			out = append(out, fv.(map[string]any)["field"].(string))
		}
	}
	return out
}
