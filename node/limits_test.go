package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/xaso/xaso/apiserver"
)

// The node's uploads (a POST to the REST API or to a desk form) get
// uploadTimeout to arrive where other bodies get the server's deadline: a
// body trickled over about a second arrives whole at /v1/attachments and
// /ban/tiep-nhan, and is cut at a page's form elsewhere.
func TestUploadsGetALongerReadDeadline(t *testing.T) {
	if d := uploadTimeout(20 << 20); d != 2*time.Minute {
		t.Fatalf("uploadTimeout(20 MiB) = %v, want 2m", d)
	}
	if d := uploadTimeout(256 << 20); d <= 2*time.Minute || d > 30*time.Minute {
		t.Fatalf("uploadTimeout(256 MiB) = %v, want more than 2m and bounded", d)
	}
	readErr := make(chan error, 1)
	h := uploads(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), 20<<20)
	addr := serveLimited(t, h, apiserver.Limits{ReadTimeout: 300 * time.Millisecond})
	for path, whole := range map[string]bool{"/v1/attachments": true, "/ban/tiep-nhan": true, "/dang-xuat": false} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
		go func() {
			for _, b := range []byte("abcdef") {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		select {
		case err := <-readErr:
			if whole && err != nil {
				t.Errorf("%s: %v, want the whole body", path, err)
			}
			if !whole && err == nil {
				t.Errorf("%s: the whole body arrived past the server's deadline", path)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no end of the body after 10s", path)
		}
		c.Close()
	}
}

// The node's files leave within uploadTimeout where other answers get the
// server's write deadline: an answer written after that deadline reaches
// the client from /v1/attachments/… and /ban/tep/…, not from a page.
func TestDownloadsGetALongerWriteDeadline(t *testing.T) {
	h := uploads(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(500 * time.Millisecond) // a slow answer: past the server's write deadline
		io.WriteString(w, "the file")
	}), 20<<20)
	addr := serveLimited(t, h, apiserver.Limits{WriteTimeout: 200 * time.Millisecond})
	for path, whole := range map[string]bool{"/v1/attachments/ab": true, "/ban/tep/ab": true, "/ban/ho-so/x": false} {
		resp, err := http.Get("http://" + addr + path)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		switch {
		case whole && (err != nil || string(body) != "the file"):
			t.Errorf("%s: %q, %v; want the answer whole", path, body, err)
		case !whole && err == nil && string(body) == "the file":
			t.Errorf("%s: the answer arrived past the server's write deadline", path)
		}
	}
}

// serveLimited serves h on a loopback port with lim until the test ends,
// and returns its address.
func serveLimited(t *testing.T, h http.Handler, lim apiserver.Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- apiserver.Serve(ctx, ln, h, nil, lim, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}
