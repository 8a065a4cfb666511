package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadConfigNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("commune: '09619'\nlisten: ':8080'\nlog_level: chatty\n"), 0o600)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("commune: '09619'\nsync_window: night\n"), 0o600)
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("commune: '09619'\ndata_dir: "+dir+"\n"), 0o600)
	loose := filepath.Join(dir, "loose.key")
	os.WriteFile(loose, []byte(strings.Repeat("ab", 32)), 0o600)
	os.Chmod(loose, 0o640)
	looseConfig := filepath.Join(dir, "loose.yaml")
	os.WriteFile(looseConfig, []byte("commune: '09619'\ndata_dir: "+filepath.Join(dir, "store")+"\nencryption_key_file: "+loose+"\n"), 0o600)
	tests := []struct {
		args []string
		code int
		key  string
	}{
		{[]string{"node", "--commune", "12", "--data-dir", dir}, 1, "commune"},
		{[]string{"node", "--commune", "09619", "--max-attachment-bytes", "lots"}, 1, "max_attachment_bytes"},
		{[]string{"node", "--config", bad}, 1, "log_level"},
		{[]string{"node", "--colour", "red"}, 2, "colour"},
		{[]string{"node", "--commune", "09619", "--data-dir", filepath.Join(dir, "store"), "--encryption-key-file", loose}, 1, "encryption_key_file"},
		{[]string{"node", "--commune", "09619", "--allow-unencrypted-store", "perhaps"}, 1, "allow_unencrypted_store"},
		{[]string{"node", "--commune", "09619", "--max-connections", "many"}, 1, "max_connections"},
		{[]string{"node", "--commune", "09619", "--max-connections", "70000"}, 1, "max_connections"},
		{[]string{"check-config", looseConfig}, 1, "encryption_key_file"},
		{[]string{"check-config", unknown}, 1, "sync_window"},
		{[]string{"check-config", bad}, 1, "log_level"},
		{[]string{"check-config"}, 2, "usage"},
		{[]string{"demo", "--communes", "0"}, 1, "communes"},
		{[]string{"frobnicate"}, 2, "frobnicate"},
	}
	for _, tc := range tests {
		code, _, stderr := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.key) {
			t.Errorf("xaso %v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, stderr, tc.code, tc.key)
		}
		if tc.code == 1 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("xaso %v: want one line, got %q", tc.args, stderr)
		}
	}
	if code, out, _ := runCmd(t, "check-config", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("good config: %d %q", code, out)
	}
	if code, out, _ := runCmd(t, "version"); code != 0 || !strings.HasPrefix(out, "xaso ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestDemoReplicatesToCentralAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	dir := t.TempDir()
	go func() { done <- run(ctx, []string{"demo", "--communes", "3", "--dir", dir}, &out, &errb) }()

	nodeRE := regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
	centralRE := regexp.MustCompile(`https://127\.0\.0\.1:\d+`)
	deadline := time.Now().Add(60 * time.Second)
	var nodes, members []string
	for len(nodes) < 3 || len(members) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no URLs: %q %q", out.String(), errb.String())
		}
		nodes, members = nodeRE.FindAllString(out.String(), -1), centralRE.FindAllString(out.String(), -1)
		time.Sleep(20 * time.Millisecond) // polling the output, bounded by the deadline
	}
	// The simulated clerks receive dossiers at the nodes ...
	waitBody(t, http.DefaultClient, deadline, nodes[0]+"/v1/dossiers?page_size=1", "", `"code"`)

	// ... and central acknowledges them: the first commune's link is good.
	caPEM, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := os.ReadFile(filepath.Join(dir, "pki", "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitBody(t, client, deadline, members[1]+"/v1/nodes", string(token), `"acked_sequence"`)

	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(out.String(), "stopped") {
			t.Fatalf("demo exit %d: %q %q", code, out.String(), errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after cancel")
	}
}

// waitBody polls url until its body contains want, bounded by deadline.
func waitBody(t *testing.T, client *http.Client, deadline time.Time, url, token, want string) {
	t.Helper()
	var last string
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			last = body.String()
			if strings.Contains(last, want) {
				return
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s before the deadline; last: %s", url, want, last)
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
}
