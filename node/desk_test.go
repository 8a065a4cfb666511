package node

import (
	"bytes"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	testHashOnce sync.Once
	testHash     string
)

// writeUsers writes a users file with a clerk, an officer and a leader,
// all with the password "mật khẩu 1".
func writeUsers(t *testing.T) string {
	t.Helper()
	testHashOnce.Do(func() {
		h, err := HashPassword("mật khẩu 1")
		if err != nil {
			t.Fatal(err)
		}
		testHash = h
	})
	path := filepath.Join(t.TempDir(), "users.yaml")
	var b strings.Builder
	for _, u := range [][2]string{{"lan", "clerk"}, {"minh", "officer"}, {"hoa", "leader"}} {
		b.WriteString("- name: " + u[0] + "\n  full_name: Người " + u[0] + "\n  role: " + u[1] + "\n  password_hash: " + testHash + "\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// desk is a browser-like client of the desk pages: cookies, no redirects
// followed on POST so that the answer can be checked.
type desk struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newDesk(t *testing.T, n *testNode) *desk {
	jar, _ := cookiejar.New(nil)
	return &desk{t: t, base: n.url, c: &http.Client{Jar: jar, Transport: n.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// post sends a form (multipart when files are given) and returns the
// status, the Location and the body.
func (d *desk) post(path string, fields url.Values, files map[string][2]string) (int, string, string) {
	d.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for field, f := range files { // f: file name, content
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{`form-data; name="` + field + `"; filename="` + f[0] + `"`}
		h["Content-Type"] = []string{"application/pdf"}
		w, _ := mw.CreatePart(h)
		w.Write([]byte(f[1]))
	}
	mw.Close()
	req, _ := http.NewRequest("POST", d.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", d.base)
	resp, err := d.c.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func (d *desk) get(path string) (int, string, string) {
	d.t.Helper()
	resp, err := d.c.Get(d.base + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func (d *desk) signIn(name string) {
	d.t.Helper()
	d.c.Jar, _ = cookiejar.New(nil)
	if st, loc, body := d.form("/dang-nhap", url.Values{"name": {name}, "password": {"mật khẩu 1"}}); st != http.StatusSeeOther || loc != "/ban" {
		d.t.Fatalf("sign in as %s: %d %s\n%s", name, st, loc, body)
	}
}

// TestClerkDesk walks a dossier through the desk pages: sign-in (wrong
// password refused), the procedure picker, a form with errors shown next
// to the fields and nothing stored, a complete receipt with a scan, the
// printed receipt with its QR code, the actions each role may take, and
// the result handed back.
func TestClerkDesk(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t); c.CommuneName = "xã Tả Van" })
	d := newDesk(t, n)

	if st, loc, _ := d.get("/ban"); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/dang-nhap") {
		t.Fatalf("the desk without a session: %d %s", st, loc)
	}
	if st, _, body := d.form("/dang-nhap", url.Values{"name": {"lan"}, "password": {"sai"}}); st != http.StatusUnauthorized || !strings.Contains(body, "Sai tên đăng nhập hoặc mật khẩu") {
		t.Fatalf("wrong password: %d\n%s", st, body)
	}
	d.signIn("lan")
	st, _, body := d.get("/ban")
	if st != 200 || !strings.Contains(body, "Việc cần làm") || !strings.Contains(body, "Người lan (Cán bộ một cửa)") || !strings.Contains(body, `id="sync"`) {
		t.Fatalf("queue: %d\n%s", st, body)
	}

	// The picker finds the birth registration without accents.
	if _, _, body = d.get("/ban/tiep-nhan?q=khai+sinh"); !strings.Contains(body, `href="/ban/tiep-nhan?procedure=1.001193"`) {
		t.Fatalf("picker:\n%s", body)
	}
	_, _, body = d.get("/ban/tiep-nhan?procedure=1.001193")
	if !strings.Contains(body, `name="scan-TK"`) || !strings.Contains(body, `id="paper-GCS"`) {
		t.Fatalf("checklist:\n%s", body)
	}

	form := url.Values{"procedure": {"1.001193"}, "request_id": {"r1"}, "id_number": {"12345"}, "channel": {"IN_PERSON"}, "paper": {"GCS"}}
	lastBefore, _ := n.Store().OutboxHead() // the queue's read is in it
	st, _, body = d.post("/ban/tiep-nhan", form, nil)
	if st != http.StatusBadRequest {
		t.Fatalf("a form with errors: %d", st)
	}
	for _, want := range []string{`id="full_name-error"`, `id="id_number-error"`, `id="components-error"`, `aria-invalid="true"`, `value="12345"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the form with errors lacks %s", want)
		}
	}
	if last, _ := n.Store().OutboxHead(); last != lastBefore {
		t.Fatalf("a form with errors changed the store: outbox at %d, %d before", last, lastBefore)
	}

	form.Set("full_name", "Hà Thị Lan")
	form.Set("id_number", "001190012345")
	form.Set("phone", "0912345678")
	st, loc, body := d.post("/ban/tiep-nhan", form, map[string][2]string{"scan-TK": {"to-khai.pdf", "%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"}})
	if st != http.StatusSeeOther || !strings.HasSuffix(loc, "/phieu") {
		t.Fatalf("receive: %d %s\n%s", st, loc, body)
	}
	code := strings.TrimSuffix(strings.TrimPrefix(loc, "/ban/ho-so/"), "/phieu")
	_, _, body = d.get(loc)
	for _, want := range []string{"GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", code, "UBND XÃ TẢ VAN", "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG<br>XÃ TẢ VAN", "Mẫu số 01", "trong ngày", "Tả Van, ngày 23 tháng 11 năm 2026", "Trung tâm Phục vụ hành chính công xã Tả Van", "Hà Thị Lan", "1 bản điện tử", "bản giấy",
		`<svg class="qr"`, "/tra-cuu/" + code, "Người lan", `id="print"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the receipt lacks %q", want)
		}
	}

	// The clerk may assign; an empty assignee is shown next to its field.
	_, _, body = d.get("/ban/ho-so/" + code)
	if !strings.Contains(body, `value="ASSIGN"`) || strings.Contains(body, `value="APPROVE"`) {
		t.Fatalf("the clerk's actions:\n%s", body)
	}
	if st, _, body = d.post("/ban/ho-so/"+code, url.Values{"action": {"ASSIGN"}, "expected_event_count": {"1"}}, nil); st != http.StatusBadRequest || !strings.Contains(body, `id="ASSIGN-assignee-error"`) {
		t.Fatalf("assign without assignee: %d\n%s", st, body)
	}
	step := func(user, action string, events int, extra url.Values) {
		t.Helper()
		d.signIn(user)
		f := url.Values{"action": {action}, "expected_event_count": {strconv.Itoa(events)}}
		for k, v := range extra {
			f[k] = v
		}
		if st, loc, body := d.post("/ban/ho-so/"+code, f, nil); st != http.StatusSeeOther || loc != "/ban/ho-so/"+code+"?done="+action {
			t.Fatalf("%s by %s: %d %s\n%s", action, user, st, loc, body)
		}
	}
	step("lan", "ASSIGN", 1, url.Values{"assignee": {"minh"}})
	step("minh", "SUBMIT", 2, nil)
	step("hoa", "APPROVE", 3, nil)
	step("lan", "RETURN", 4, nil)
	_, _, body = d.get("/ban/ho-so/" + code + "?done=RETURN")
	for _, want := range []string{"Đã ghi: trả kết quả.", "state-RETURNED", "Phê duyệt, có kết quả", "to-khai.pdf"} {
		if !strings.Contains(body, want) {
			t.Errorf("the returned dossier's page lacks %q", want)
		}
	}

	// A form posted from another site is refused.
	req, _ := http.NewRequest("POST", n.url+"/ban/ho-so/"+code, strings.NewReader("action=WITHDRAW"))
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp, err := d.c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post: %v %v", resp, err)
	}
	// Signing out ends the session.
	d.post("/dang-xuat", nil, nil)
	if st, _, _ := d.get("/ban"); st != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", st)
	}
}

// TestSessionsSurviveRestart: a session stored before the store closes is
// there after it opens again, until it expires.
func TestSessionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := OpenStore(StoreOptions{Dir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	token, err := st.NewSession(User{Name: "lan", Role: "clerk"}, now)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = OpenStore(StoreOptions{Dir: dir, Logger: log}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if se, err := st.Session(token, now.Add(time.Hour)); err != nil || se.User != "lan" {
		t.Fatalf("after a restart: %+v %v", se, err)
	}
	if _, err := st.Session(token, now.Add(sessionTTL)); err != ErrNotFound {
		t.Fatalf("an expired session: %v", err)
	}
	if _, err := st.Session(token+"x", now); err != ErrNotFound {
		t.Fatalf("a wrong token: %v", err)
	}
	if err := st.Verify(); err != nil {
		t.Fatalf("sessions break the store's invariants: %v", err)
	}
}

// TestParseUsers: each wrong entry is named with its key.
func TestParseUsers(t *testing.T) {
	h, _ := HashPassword("password1")
	for _, c := range []struct{ yaml, want string }{
		{"", ""},
		{"- name: lan\n  role: clerk\n  password_hash: " + h + "\n", ""},
		{"- name: lan\n  role: boss\n  password_hash: " + h + "\n", "[0].role"},
		{"- name: 'l a n'\n  role: clerk\n  password_hash: " + h + "\n", "[0].name"},
		{"- name: lan\n  role: clerk\n  password_hash: plain\n", "[0].password_hash"},
		{"- name: lan\n  role: clerk\n  password_hash: " + h + "\n- name: lan\n  role: clerk\n  password_hash: " + h + "\n", "[1].name"},
		{"- name: lan\n  rol: clerk\n", "rol"},
	} {
		_, err := ParseUsers([]byte(c.yaml))
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.yaml, err, c.want)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was hashed")
	}
	if !checkPassword(h, "password1") || checkPassword(h, "password2") {
		t.Error("checkPassword")
	}
}
