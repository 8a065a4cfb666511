package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPortalCommand runs `xaso portal` as an operator does: it prints its
// URL, serves the citizen's page, asks the connector for its token, and
// stops on cancel; bad configuration names what is wrong.
func TestPortalCommand(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("portal-test-token-0123456789\n"), 0o600)
	loose := filepath.Join(dir, "loose")
	os.WriteFile(loose, []byte("portal-test-token-0123456789\n"), 0o644)
	os.Chmod(loose, 0o644)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"portal", "--token-file", tokenFile}, "data: required"},
		{[]string{"portal", "--data", dir}, "token-file: required"},
		{[]string{"portal", "--data", dir, "--token-file", loose}, "group or others"},
		{[]string{"portal", "--data", dir, "--token-file", short}, "at least 16"},
		{[]string{"portal", "--data", dir, "--token-file", filepath.Join(dir, "none")}, "no such file"},
	} {
		code, _, errOut := runCmd(t, tt.args...)
		if code != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, %q; want 1 and %q", tt.args, code, errOut, tt.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"portal", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--token-file", tokenFile}, &out, &errb)
	}()
	urlRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	deadline := time.Now().Add(20 * time.Second)
	var url string
	for url == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed: %q %q", out.String(), errb.String())
		}
		url = urlRE.FindString(out.String())
		time.Sleep(20 * time.Millisecond) // polling the output, bounded by the deadline
	}
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Nộp hồ sơ trực tuyến") || !strings.Contains(string(page), "Xã Như Xuân") {
		t.Fatalf("citizen's page: %d %.300s", resp.StatusCode, page)
	}
	if resp, err := http.Get(url + "/v1/province/38/dossiers"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("pull without a token: %v %v", resp, err)
	}
	waitBody(t, http.DefaultClient, deadline, url+"/v1/province/38/dossiers", "portal-test-token-0123456789", `"dossiers":[]`)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %q", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the stand-in did not stop after cancel")
	}
}
