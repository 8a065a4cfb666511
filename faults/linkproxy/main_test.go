package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/xaso/xaso/internal/freeport"
)

// TestProxyForwardsAndObeys: bytes pass through the route; bad control
// input is refused with the parameter named; a cut closes the route until
// healed.
func TestProxyForwardsAndObeys(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	listen, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	control, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, control, routes{listen: target.Addr().String()}, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	call := func(method, path string) int {
		deadline := time.Now().Add(5 * time.Second)
		for {
			req, _ := http.NewRequest(method, "http://"+control+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			time.Sleep(20 * time.Millisecond) // the proxy is starting; bounded by the deadline
		}
	}
	echoed := func() bool {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			return false
		}
		_, err = io.ReadFull(c, make([]byte, 1))
		return err == nil
	}
	for path, want := range map[string]int{
		"/profile?delay=5ms&loss=0.01&bytes_per_second=100000": http.StatusOK,
		"/profile?loss=2":             http.StatusBadRequest,
		"/profile?delay=soon":         http.StatusBadRequest,
		"/profile?bytes_per_second=-": http.StatusBadRequest,
	} {
		if got := call("PUT", path); got != want {
			t.Errorf("PUT %s: %d, want %d", path, got, want)
		}
	}
	if !echoed() {
		t.Fatal("no echo through the proxy")
	}
	call("POST", "/cut")
	if echoed() {
		t.Error("echo through a cut link")
	}
	call("POST", "/heal")
	if !echoed() {
		t.Error("no echo after the heal")
	}
}
