package node

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// form posts a URL-encoded form, as a browser's sign-in does, and returns
// the status, the Location and the body.
func (d *desk) form(path string, fields url.Values) (int, string, string) {
	d.t.Helper()
	req, _ := http.NewRequest("POST", d.base+path, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", d.base)
	resp, err := d.c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

// countHashes counts the passwords node n hashes.
func countHashes(n *Node) *atomic.Int32 {
	var count atomic.Int32
	f := func() { count.Add(1) }
	n.users.hashed.Store(&f)
	return &count
}

// Twelve wrong passwords at once: at most five are hashed, the rest
// refused unhashed; the right password is then refused while the name is
// locked, until a leader unlocks it; a clerk cannot unlock.
func TestSignInLockOutBurst(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	hashes := countHashes(n.Node)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, _ := newDesk(t, n).form("/dang-nhap", url.Values{"name": {"lan"}, "password": {"đoán sai"}})
			mu.Lock()
			codes[st]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if h := hashes.Load(); h > 5 {
		t.Fatalf("%d of 12 parallel wrong passwords were hashed, want at most 5 (answers %v)", h, codes)
	}
	if codes[http.StatusUnauthorized] > 5 || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests]+codes[http.StatusServiceUnavailable] != 12 {
		t.Fatalf("answers %v", codes)
	}
	// Finish the lock: whatever the cap on hashes at once refused.
	for i := 0; i < 10; i++ {
		st, _, _ := newDesk(t, n).form("/dang-nhap", url.Values{"name": {"lan"}, "password": {"đoán sai"}})
		if st == http.StatusTooManyRequests {
			break
		}
	}
	before := hashes.Load()
	lan := newDesk(t, n)
	st, _, body := lan.form("/dang-nhap", url.Values{"name": {"lan"}, "password": {"mật khẩu 1"}})
	if st != http.StatusTooManyRequests || !strings.Contains(body, "lãnh đạo mở khóa") || hashes.Load() != before {
		t.Fatalf("the right password while locked: %d, %d hashed\n%s", st, hashes.Load()-before, body)
	}

	clerk := newDesk(t, n)
	clerk.signIn("minh")
	if st, _, _ := clerk.form("/ban/mo-khoa", url.Values{"name": {"lan"}}); st != http.StatusForbidden {
		t.Fatalf("an officer unlocks: %d", st)
	}
	// The leader's work queue lists the locked official with a button to
	// unlock; an officer's does not.
	if _, _, body := clerk.get("/ban"); strings.Contains(body, `action="/ban/mo-khoa"`) {
		t.Fatal("an officer's work queue offers to unlock")
	}
	leader := newDesk(t, n)
	leader.signIn("hoa")
	if _, _, body := leader.get("/ban"); !strings.Contains(body, `action="/ban/mo-khoa"`) || !strings.Contains(body, `name="name" value="lan"`) {
		t.Fatalf("the leader's work queue does not offer to unlock lan:\n%s", body)
	}
	if st, loc, body := leader.form("/ban/mo-khoa", url.Values{"name": {"lan"}}); st != http.StatusSeeOther || loc != "/ban" {
		t.Fatalf("the leader unlocks: %d %s\n%s", st, loc, body)
	}
	lan.signIn("lan")
	if _, _, body := leader.get("/ban"); strings.Contains(body, `name="name" value="lan"`) {
		t.Fatal("the leader's work queue still lists lan as locked after the unlock")
	}
}

// One address trying many names is locked out at its limit.
func TestSignInPerAddress(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	d := newDesk(t, n)
	for i := range 20 {
		if st, _, _ := d.form("/dang-nhap", url.Values{"name": {"ai" + string(rune('a'+i))}, "password": {"x"}}); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	st, _, _ := d.form("/dang-nhap", url.Values{"name": {"lan"}, "password": {"mật khẩu 1"}})
	if st != http.StatusTooManyRequests {
		t.Fatalf("after 20 wrong names from one address: %d, want 429", st)
	}
}

// countingReader gives n bytes and counts what was read of them.
type countingReader struct {
	left int64
	read atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), c.left)
	for i := range p[:k] {
		p[i] = 'a'
	}
	c.left -= k
	c.read.Add(k)
	return int(k), nil
}

// A 100 MiB sign-in form, multipart or URL-encoded, is refused quickly
// without being read, and nothing is written to a temporary file.
func TestSignInFormRefusedUnread(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	const size = 100 << 20
	for _, c := range []struct {
		ctype  string
		status int
	}{
		{"multipart/form-data; boundary=XX", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusRequestEntityTooLarge},
	} {
		body := &countingReader{left: size}
		var r io.Reader = body
		if strings.HasPrefix(c.ctype, "multipart") {
			r = io.MultiReader(strings.NewReader("--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n\r\n"), body)
		}
		req, _ := http.NewRequest("POST", n.url+"/dang-nhap", r)
		req.ContentLength = -1 // chunked: the size is not announced
		req.Header.Set("Content-Type", c.ctype)
		req.Header.Set("Origin", n.url)
		start := time.Now()
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.ctype, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d", c.ctype, resp.StatusCode, c.status)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered after %v", c.ctype, d)
		}
		if got := body.read.Load(); got > 16<<20 {
			t.Errorf("%s: %d bytes sent of %d", c.ctype, got, size)
		}
	}
	// An announced size over the limit is refused before the body.
	req, _ := http.NewRequest("POST", n.url+"/dang-nhap", strings.NewReader("name=lan&password="+strings.Repeat("x", 5000)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 5 KB form: %d", resp.StatusCode)
	}
	if es, _ := os.ReadDir(tmp); len(es) > 0 {
		t.Errorf("temporary files written: %v", es)
	}
}

// After sign-in only a path on the desk is followed.
func TestSignInOpenRedirect(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	for next, want := range map[string]string{
		`/\evil.example`:         "/ban",
		"//evil":                 "/ban",
		"https://evil":           "/ban",
		"/%2F%2Fevil":            "/ban",
		"/%5Cevil":               "/ban",
		"/ban\\..\\..\\/evil":    "/ban",
		"/ban/%2F%2Fevil":        "/ban/%2F%2Fevil", // on the desk: harmless
		"/tra-cuu":               "/ban",
		"/ban/ho-so/09619-x?a=b": "/ban/ho-so/09619-x?a=b",
	} {
		d := newDesk(t, n)
		st, loc, _ := d.form("/dang-nhap", url.Values{"name": {"lan"}, "password": {"mật khẩu 1"}, "next": {next}})
		if st != http.StatusSeeOther || loc != want {
			t.Errorf("next=%q: %d %q, want %q", next, st, loc, want)
		}
	}
}
