package standin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xaso/xaso/portal"
)

const testToken = "test-token-0123456789abcdef"

// syncBuffer is a log sink the handlers write to from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a stand-in served over HTTP.
type harness struct {
	t   *testing.T
	dir string
	srv *Server
	ts  *httptest.Server
	log *syncBuffer
	now time.Time
}

func start(t *testing.T, dir string) *harness {
	t.Helper()
	h := &harness{t: t, dir: dir, log: &syncBuffer{}, now: time.Date(2025, 12, 1, 1, 30, 0, 0, time.UTC)}
	srv, err := New(Config{Dir: dir, Token: testToken, Logger: slog.New(slog.NewJSONHandler(h.log, nil)), Now: func() time.Time { return h.now }})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.ts = httptest.NewServer(srv)
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.ts != nil {
		h.ts.Close()
		h.srv.Close()
		h.ts = nil
	}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request with the connector's token (token "" sends none) and
// returns the status and body.
func (h *harness) do(method, path, token string, body []byte) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

var pdf = []byte("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

// file files a dossier on the citizen's page and returns the status and
// the Location (or body).
func (h *harness) file(fields map[string]string, files map[string][]byte) (int, string) {
	h.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for k, v := range files {
		fw, _ := mw.CreateFormFile(k, k+".pdf")
		fw.Write(v)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", h.ts.URL+"/nop-ho-so", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := noRedirect.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusSeeOther {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

func birthFields() map[string]string {
	return map[string]string{"xa": "16174", "tthc": "1.001193", "ho_ten": "Nguyễn Văn An", "so_dinh_danh": "038090001234", "so_dien_thoai": "0912345678"}
}

func birthFiles() map[string][]byte { return map[string][]byte{"tp_TK": pdf, "tp_GCS": pdf} }

func (h *harness) list(query string) listing {
	h.t.Helper()
	code, b := h.do("GET", "/v1/province/38/dossiers"+query, testToken, nil)
	if code != http.StatusOK {
		h.t.Fatalf("list%s: %d %s", query, code, b)
	}
	var l listing
	if err := json.Unmarshal(b, &l); err != nil {
		h.t.Fatal(err)
	}
	return l
}

func syncMsg(id, code string, st portal.Status) []byte {
	at, _ := portal.ParseTime("20251201090000")
	m := portal.DossierSync{MaHoSo: code, MaTTHC: "1.001193", TenTTHC: "Đăng ký khai sinh", ChuHoSo: "Nguyễn Văn An",
		LoaiDoiTuong: "1", NgayTiepNhan: at, NgayHenTra: at, TrangThaiHoSo: st, HinhThuc: "0", DonViXuLy: "UBND Xã Như Xuân"}
	if st == portal.StatusResultReturned {
		m.DanhSachGiayToKetQua = []portal.Result{{TenGiayTo: "Giấy khai sinh"}}
	}
	b, _ := json.Marshal(map[string]any{"MessageId": id, "data": m})
	return b
}

func progressMsg(id, code string, st portal.Status) []byte {
	at, _ := portal.ParseTime("20251201093000")
	b, _ := json.Marshal(map[string]any{"MessageId": id, "data": portal.Progress{MaHoSo: code, NguoiXuLy: "Lê Thị Bình", ChucDanh: "Công chức tư pháp - hộ tịch",
		ThoiDiemXuLy: at, NoiDungXuLy: "Thẩm định hồ sơ", TrangThai: st}})
	return b
}

func (h *harness) statuses(code string) Statuses {
	h.t.Helper()
	c, b := h.do("GET", "/v1/dossiers/"+code+"/statuses", "", nil)
	if c != http.StatusOK {
		h.t.Fatalf("statuses: %d %s", c, b)
	}
	var s Statuses
	if err := json.Unmarshal(b, &s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

func statusList(s Statuses) []portal.Status {
	out := []portal.Status{}
	for _, e := range s.Statuses {
		out = append(out, e.TrangThaiHoSo)
	}
	return out
}

// TestFileListAckPushRestart walks an online dossier through the stand-in
// over HTTP: filed on the citizen's page, listed once to the connector,
// acknowledged, its statuses pushed (one push retried), shown in order and
// once each, and all of it kept across a restart.
func TestFileListAckPushRestart(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir)

	code, loc := h.file(birthFields(), birthFiles())
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, "/ho-so/DVC-16174-251201-") {
		t.Fatalf("filing: %d %s", code, loc)
	}
	ma := strings.TrimPrefix(loc, "/ho-so/")

	// The connector's pull: the dossier with its components and scans.
	l := h.list("")
	if len(l.Dossiers) != 1 || l.Dossiers[0].MaHoSo != ma || l.Next != 1 {
		t.Fatalf("list: %+v", l)
	}
	d := l.Dossiers[0]
	if d.MaXa != "16174" || d.MaTTHC != "1.001193" || d.SoDinhDanh != "038090001234" || len(d.TaiLieuNop) != 2 {
		t.Fatalf("dossier: %+v", d)
	}
	for _, f := range d.TaiLieuNop {
		if f.LoaiTep != "application/pdf" || f.KichThuoc != int64(len(pdf)) || f.MaThanhPhanHoSo == "" {
			t.Errorf("file: %+v", f)
		}
		c, b := h.do("GET", f.DuongDanTaiTepTin, testToken, nil)
		if c != http.StatusOK || !bytes.Equal(b, pdf) {
			t.Errorf("GET %s: %d, %d bytes", f.DuongDanTaiTepTin, c, len(b))
		}
		if c, _ := h.do("GET", f.DuongDanTaiTepTin, "", nil); c != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d", f.DuongDanTaiTepTin, c)
		}
	}
	if l := h.list("?after=1"); len(l.Dossiers) != 0 || l.Next != 1 {
		t.Fatalf("after the cursor: %+v", l)
	}
	if c, b := h.do("POST", "/v1/province/38/dossiers/"+ma+"/ack", testToken, nil); c != http.StatusOK {
		t.Fatalf("ack: %d %s", c, b)
	}
	if c, _ := h.do("POST", "/v1/province/38/dossiers/"+ma+"/ack", testToken, nil); c != http.StatusOK {
		t.Fatalf("second ack: %d", c)
	}
	if l := h.list(""); len(l.Dossiers) != 0 {
		t.Fatalf("listed again after the acknowledgement: %+v", l)
	}

	// Statuses pushed, one retried.
	push := func(kind, id string, body []byte) pushed {
		t.Helper()
		c, b := h.do("POST", "/v1/dossiers/"+ma+"/"+kind, testToken, body)
		if c != http.StatusOK {
			t.Fatalf("%s %s: %d %s", kind, id, c, b)
		}
		var p pushed
		json.Unmarshal(b, &p)
		return p
	}
	if p := push("sync", "m1", syncMsg("m1", ma, portal.StatusReceived)); p.Duplicate {
		t.Fatal("first push counted as a duplicate")
	}
	if p := push("sync", "m1", syncMsg("m1", ma, portal.StatusReceived)); !p.Duplicate {
		t.Fatal("retried push not recognised")
	}
	push("sync", "m2", syncMsg("m2", ma, portal.StatusProcessing))
	push("progress", "p1", progressMsg("p1", ma, portal.StatusProcessing))
	if p := push("progress", "p1", progressMsg("p1", ma, portal.StatusProcessing)); !p.Duplicate {
		t.Fatal("retried progress not recognised")
	}
	push("sync", "m3", syncMsg("m3", ma, portal.StatusResolved))
	push("sync", "m4", syncMsg("m4", ma, portal.StatusResultReturned))

	want := fmt.Sprint([]portal.Status{2, 4, 9, 10})
	s := h.statuses(ma)
	if got := fmt.Sprint(statusList(s)); got != want || s.TrangThaiHoSo != portal.StatusResultReturned {
		t.Fatalf("statuses: %s (now %d), want %s", got, s.TrangThaiHoSo, want)
	}
	if s.Statuses[0].TenTrangThai != "Được tiếp nhận" || s.Statuses[0].MessageId != "m1" || s.Statuses[0].NhanLuc.String() != "20251201083000" {
		t.Errorf("first status: %+v", s.Statuses[0])
	}
	c, page := h.do("GET", "/ho-so/"+ma, "", nil)
	if c != http.StatusOK || !strings.Contains(string(page), "Đã trả kết quả") || !strings.Contains(string(page), "Thẩm định hồ sơ") {
		t.Errorf("dossier page: %d %s", c, page)
	}

	// Restart: everything kept.
	h.stop()
	h = start(t, dir)
	if got := fmt.Sprint(statusList(h.statuses(ma))); got != want {
		t.Fatalf("after restart: %s, want %s", got, want)
	}
	if l := h.list(""); len(l.Dossiers) != 0 {
		t.Fatalf("after restart, listed again: %+v", l)
	}
	if c, b := h.do("POST", "/v1/dossiers/"+ma+"/sync", testToken, syncMsg("m2", ma, portal.StatusProcessing)); c != http.StatusOK || !strings.Contains(string(b), `"duplicate":true`) {
		t.Fatalf("retry after restart: %d %s", c, b)
	}
	// The next filing continues the sequence.
	if code, loc := h.file(birthFields(), birthFiles()); code != http.StatusSeeOther || !strings.HasSuffix(loc, "-000002") {
		t.Fatalf("second filing: %d %s", code, loc)
	}
	if l := h.list("?after=1"); len(l.Dossiers) != 1 || l.Dossiers[0].Seq != 2 {
		t.Fatalf("second filing listed: %+v", l)
	}
}

// TestRefusals sends bad input of every kind: each is refused with a JSON
// (or page) answer naming the reason, and logged; nothing is kept.
func TestRefusals(t *testing.T) {
	h := start(t, t.TempDir())
	_, loc := h.file(birthFields(), birthFiles())
	ma := strings.TrimPrefix(loc, "/ho-so/")
	other := "DVC-16174-251201-999999"

	tests := []struct {
		name, method, path, token string
		body                      []byte
		status                    int
		reason                    string // in the answer
	}{
		{"no token", "GET", "/v1/province/38/dossiers", "", nil, 401, "bearer token"},
		{"wrong token", "GET", "/v1/province/38/dossiers", "wrong-token-0123456789", nil, 401, "bearer token"},
		{"push without token", "POST", "/v1/dossiers/" + ma + "/sync", "", syncMsg("a1", ma, 2), 401, "bearer token"},
		{"other province", "GET", "/v1/province/01/dossiers", testToken, nil, 404, "not served"},
		{"bad cursor", "GET", "/v1/province/38/dossiers?after=-1", testToken, nil, 400, "after"},
		{"bad limit", "GET", "/v1/province/38/dossiers?limit=1000", testToken, nil, 400, "limit"},
		{"bad wait", "GET", "/v1/province/38/dossiers?wait=1h", testToken, nil, 400, "wait"},
		{"ack unknown", "POST", "/v1/province/38/dossiers/" + other + "/ack", testToken, nil, 404, "no dossier"},
		{"status for a dossier never sent", "POST", "/v1/dossiers/" + other + "/sync", testToken, syncMsg("a2", other, 2), 404, "never sent"},
		{"progress for a dossier never sent", "POST", "/v1/dossiers/" + other + "/progress", testToken, progressMsg("a3", other, 2), 404, "never sent"},
		{"malformed", "POST", "/v1/dossiers/" + ma + "/sync", testToken, []byte(`{"MessageId":`), 400, "malformed"},
		{"two values", "POST", "/v1/dossiers/" + ma + "/sync", testToken, append(syncMsg("a4", ma, 2), []byte(`{}`)...), 400, "more than one"},
		{"unknown field", "POST", "/v1/dossiers/" + ma + "/sync", testToken, []byte(`{"MessageId":"a5","data":{"Foo":1}}`), 400, "unknown field"},
		{"oversized", "POST", "/v1/dossiers/" + ma + "/sync", testToken, bytes.Repeat([]byte(" "), MaxJSONBody+1), 400, "larger than"},
		{"no message id", "POST", "/v1/dossiers/" + ma + "/sync", testToken, syncMsg("", ma, 2), 400, "MessageId"},
		{"no data", "POST", "/v1/dossiers/" + ma + "/sync", testToken, []byte(`{"MessageId":"a6"}`), 400, "data"},
		{"bad time", "POST", "/v1/dossiers/" + ma + "/sync", testToken, bytes.Replace(syncMsg("a7", ma, 2), []byte("20251201090000"), []byte("2025-12-01"), 1), 400, "yyyyMMddHHmmss"},
		{"status outside the catalogue", "POST", "/v1/dossiers/" + ma + "/sync", testToken, syncMsg("a8", ma, 12), 400, "TrangThaiHoSo"},
		{"art. 17(2): resolved before received", "POST", "/v1/dossiers/" + ma + "/sync", testToken, syncMsg("a9", ma, 9), 409, "cannot follow"},
		{"progress ahead of the status", "POST", "/v1/dossiers/" + ma + "/progress", testToken, progressMsg("a10", ma, 9), 409, "does not fit"},
		{"code of another dossier", "POST", "/v1/dossiers/" + ma + "/sync", testToken, syncMsg("a11", other, 2), 400, "data.MaHoSo"},
		{"other procedure", "POST", "/v1/dossiers/" + ma + "/sync", testToken, bytes.Replace(syncMsg("a12", ma, 2), []byte(`"1.001193"`), []byte(`"1.000656"`), 1), 400, "data.MaTTHC"},
		{"statuses of an unknown dossier", "GET", "/v1/dossiers/" + other + "/statuses", "", nil, 404, "no dossier"},
		{"unknown file", "GET", "/v1/files/" + ma + "~9", testToken, nil, 404, "no file"},
	}
	for _, tt := range tests {
		before := strings.Count(h.log.String(), "refused")
		c, b := h.do(tt.method, tt.path, tt.token, tt.body)
		var e apiError
		if c != tt.status || json.Unmarshal(b, &e) != nil || e.ErrorCode != tt.status || !strings.Contains(string(b), tt.reason) {
			t.Errorf("%s: %d %s; want %d with %q", tt.name, c, b, tt.status, tt.reason)
		}
		if strings.Count(h.log.String(), "refused") != before+1 {
			t.Errorf("%s: not logged", tt.name)
		}
	}
	// A message id used again for another message.
	if c, _ := h.do("POST", "/v1/dossiers/"+ma+"/sync", testToken, syncMsg("b1", ma, 2)); c != 200 {
		t.Fatal(c)
	}
	if c, b := h.do("POST", "/v1/dossiers/"+ma+"/sync", testToken, syncMsg("b1", ma, 4)); c != 409 || !strings.Contains(string(b), "different message") {
		t.Errorf("reused message id: %d %s", c, b)
	}
	if got := statusList(h.statuses(ma)); fmt.Sprint(got) != "[2]" {
		t.Errorf("statuses kept: %v, want only [2]", got)
	}

	// The citizen's page.
	files := birthFiles()
	filings := []struct {
		name   string
		edit   func(f map[string]string, files map[string][]byte)
		reason string
	}{
		{"unknown commune", func(f map[string]string, _ map[string][]byte) { f["xa"] = "00001" }, "không thuộc"},
		{"unknown procedure", func(f map[string]string, _ map[string][]byte) { f["tthc"] = "9.999999" }, "Không có thủ tục"},
		{"a procedure filed only on paper", func(f map[string]string, _ map[string][]byte) { f["tthc"] = "2.000815" }, "không nộp trực tuyến"},
		{"no name", func(f map[string]string, _ map[string][]byte) { f["ho_ten"] = " " }, "họ và tên"},
		{"bad identification number", func(f map[string]string, _ map[string][]byte) { f["so_dinh_danh"] = "12345" }, "12 chữ số"},
		{"bad phone", func(f map[string]string, _ map[string][]byte) { f["so_dien_thoai"] = "12345" }, "10 chữ số"},
		{"required scan missing", func(_ map[string]string, fs map[string][]byte) { delete(fs, "tp_GCS") }, "Thành phần bắt buộc"},
		{"not a scan", func(_ map[string]string, fs map[string][]byte) { fs["tp_TK"] = []byte("MZ\x90\x00 an executable") }, "PDF, JPEG hoặc PNG"},
		{"scan too large", func(_ map[string]string, fs map[string][]byte) {
			fs["tp_TK"] = append(append([]byte{}, pdf...), make([]byte, MaxScan)...)
		}, "Tệp quá lớn"},
	}
	for _, f := range filings {
		fields, fs := birthFields(), map[string][]byte{}
		for k, v := range files {
			fs[k] = v
		}
		f.edit(fields, fs)
		before := strings.Count(h.log.String(), "refused")
		c, body := h.file(fields, fs)
		if c != http.StatusBadRequest || !strings.Contains(body, f.reason) {
			t.Errorf("filing, %s: %d; want 400 with %q", f.name, c, f.reason)
		}
		if strings.Count(h.log.String(), "refused") != before+1 {
			t.Errorf("filing, %s: not logged", f.name)
		}
	}
	if l := h.list("?after=1"); len(l.Dossiers) != 0 {
		t.Errorf("a refused filing was kept: %+v", l)
	}
}

// TestFilingTooLarge: a filing over MaxFiling is refused before it is read
// whole.
func TestFilingTooLarge(t *testing.T) {
	h := start(t, t.TempDir())
	fs := map[string][]byte{}
	for i := range 6 {
		fs[fmt.Sprintf("tp_X%d", i)] = append(append([]byte{}, pdf...), make([]byte, MaxScan-100)...)
	}
	c, body := h.file(birthFields(), fs)
	if c != http.StatusBadRequest || !strings.Contains(body, "quá lớn") {
		t.Fatalf("%d %.200s", c, body)
	}
}

// TestLongPoll: a pull that waits is answered by the next filing.
func TestLongPoll(t *testing.T) {
	h := start(t, t.TempDir())
	got := make(chan listing, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", h.ts.URL+"/v1/province/38/dossiers?wait=30s", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- listing{}
			return
		}
		defer resp.Body.Close()
		var l listing
		json.NewDecoder(resp.Body).Decode(&l)
		got <- l
	}()
	// Until the pull waits, a filing is simply listed on the first pass.
	if c, loc := h.file(birthFields(), birthFiles()); c != http.StatusSeeOther {
		t.Fatal(c, loc)
	}
	select {
	case l := <-got:
		if len(l.Dossiers) != 1 {
			t.Fatalf("long poll: %+v", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting pull was not answered by the filing")
	}
}

// TestJournalCutLine: a last line cut by a crash is dropped at restart; a
// damaged line in the middle stops the start with its line number.
func TestJournalCutLine(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir)
	_, loc := h.file(birthFields(), birthFiles())
	ma := strings.TrimPrefix(loc, "/ho-so/")
	h.stop()
	path := filepath.Join(dir, journalName)
	whole, _ := os.ReadFile(path)
	os.WriteFile(path, append(append([]byte{}, whole...), []byte(`{"kind":"ack","co`)...), 0o600)
	h = start(t, dir)
	if s := h.statuses(ma); s.TrangThaiHoSo != portal.StatusFiled {
		t.Fatalf("after a cut line: %+v", s)
	}
	h.stop()
	if b, _ := os.ReadFile(path); !bytes.Equal(b, whole) {
		t.Fatal("the cut line was not dropped")
	}
	os.WriteFile(path, append([]byte("{not json}\n"), whole...), 0o600)
	if _, err := New(Config{Dir: dir, Token: testToken}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("damaged journal: %v", err)
	}
}

// TestShortToken: the stand-in does not start with a guessable token.
func TestShortToken(t *testing.T) {
	if _, err := New(Config{Dir: t.TempDir(), Token: "short"}); err == nil {
		t.Fatal("started with a short token")
	}
}

// FuzzPush feeds arbitrary bodies and paths to the connector's push and
// pull handlers: every answer is JSON and none is a server error.
func FuzzPush(f *testing.F) {
	f.Add("sync", "DVC-16174-251201-000001", []byte(syncMsg("m1", "DVC-16174-251201-000001", 2)))
	f.Add("progress", "DVC-16174-251201-000001", []byte(progressMsg("p1", "DVC-16174-251201-000001", 2)))
	f.Add("sync", "x", []byte(`{"MessageId":"1","data":{"TrangThaiHoSo":"99","NgayTiepNhan":"x"}}`))
	f.Add("sync", "x", []byte(`{"MessageId":"1","data":null}`))
	f.Add("progress", "x", []byte(`[1,2,3]`))
	f.Add("sync", "x", []byte("\xff\xfe"))
	dir := f.TempDir()
	srv, err := New(Config{Dir: dir, Token: testToken})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	// One dossier to push to.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range birthFields() {
		mw.WriteField(k, v)
	}
	for k, v := range birthFiles() {
		fw, _ := mw.CreateFormFile(k, k)
		fw.Write(v)
	}
	mw.Close()
	req := httptest.NewRequest("POST", "/nop-ho-so", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther {
		f.Fatalf("filing: %d", rec.Code)
	}
	f.Fuzz(func(t *testing.T, kind, code string, body []byte) {
		for i, path := range []string{
			"/v1/dossiers/DVC-16174-251201-000001/sync",
			"/v1/dossiers/DVC-16174-251201-000001/progress",
			"/v1/dossiers/" + code + "/" + kind,
		} {
			req, err := http.NewRequest("POST", path, bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Authorization", "Bearer "+testToken)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
			}
			if i < 2 && !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s: not JSON: %s", path, rec.Body)
			}
		}
		req, err := http.NewRequest("GET", "/v1/province/38/dossiers?"+string(body), nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		srv.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Code >= 500 {
			t.Fatalf("list: %d %s", rec.Code, rec.Body)
		}
	})
}

// TestCitizensFile: the simulated citizens' filings are accepted and
// listed to the connector with every required component.
func TestCitizensFile(t *testing.T) {
	h := start(t, t.TempDir())
	c := &Citizens{URL: h.ts.URL, Communes: []string{"16174", "16186"}}
	for range 20 {
		if _, err := c.FileOne(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	l := h.list("")
	if len(l.Dossiers) != 20 {
		t.Fatalf("listed %d, want 20", len(l.Dossiers))
	}
	for _, d := range l.Dossiers {
		p := h.srv.procs[d.MaTTHC]
		if !online(p) || (d.MaXa != "16174" && d.MaXa != "16186") {
			t.Errorf("%s: procedure %s, commune %s", d.MaHoSo, d.MaTTHC, d.MaXa)
		}
		have := map[string]bool{}
		for _, f := range d.TaiLieuNop {
			have[f.MaThanhPhanHoSo] = true
		}
		for _, comp := range p.GetComponents() {
			if comp.GetRequired() && !have[comp.GetCode()] {
				t.Errorf("%s: required component %s missing", d.MaHoSo, comp.GetCode())
			}
		}
	}
	if _, err := (&Citizens{URL: h.ts.URL, Communes: []string{"99999"}}).FileOne(context.Background()); err == nil {
		t.Error("a filing for a commune outside the province was accepted")
	}
}

// TestCitizenPages: the form offers one upload per component, the
// look-up leads to the dossier's page, and unknown choices are refused
// with a Vietnamese reason.
func TestCitizenPages(t *testing.T) {
	h := start(t, t.TempDir())
	c, b := h.do("GET", "/", "", nil)
	if c != 200 || !strings.Contains(string(b), "Phường Hạc Thành") || !strings.Contains(string(b), "Đăng ký khai sinh") || strings.Contains(string(b), "2.000815") {
		t.Errorf("home: %d", c)
	}
	c, b = h.do("GET", "/nop-ho-so?xa=16174&tthc=1.001193", "", nil)
	if c != 200 || !strings.Contains(string(b), `name="tp_TK"`) || !strings.Contains(string(b), `name="tp_GCS"`) || !strings.Contains(string(b), "Xã Như Xuân") {
		t.Errorf("form: %d %s", c, b)
	}
	for _, q := range []string{"xa=1&tthc=1.001193", "xa=16174&tthc=x", "xa=16174&tthc=2.000815", ""} {
		if c, b := h.do("GET", "/nop-ho-so?"+q, "", nil); c != 400 || !strings.Contains(string(b), `class="loi"`) {
			t.Errorf("form ?%s: %d", q, c)
		}
	}
	_, loc := h.file(birthFields(), birthFiles())
	ma := strings.TrimPrefix(loc, "/ho-so/")
	if c, _ := h.do("GET", "/tra-cuu?ma="+ma, "", nil); c != http.StatusSeeOther {
		t.Errorf("look-up: %d", c)
	}
	if c, b := h.do("GET", "/ho-so/"+ma, "", nil); c != 200 || !strings.Contains(string(b), "Mới đăng ký") || strings.Contains(string(b), "038090001234") {
		t.Errorf("dossier page: %d (it shows the status, not the identification number)", c)
	}
	if c, _ := h.do("GET", "/ho-so/DVC-0", "", nil); c != 404 {
		t.Errorf("unknown dossier page: %d", c)
	}
	if c, _ := h.do("GET", "/tra-cuu?ma=", "", nil); c != 400 {
		t.Errorf("empty look-up: %d", c)
	}
}

// FuzzFiling feeds arbitrary multipart bodies to the citizen's filing:
// none is a server error.
func FuzzFiling(f *testing.F) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.SetBoundary("xasoBoundary")
	for k, v := range birthFields() {
		mw.WriteField(k, v)
	}
	for k, v := range birthFiles() {
		fw, _ := mw.CreateFormFile(k, k+".pdf")
		fw.Write(v)
	}
	mw.Close()
	f.Add(buf.Bytes())
	f.Add([]byte("--xasoBoundary\r\nContent-Disposition: form-data; name=\"xa\"\r\n\r\n16174\r\n--xasoBoundary--\r\n"))
	f.Add([]byte("--xasoBoundary\r\n\r\n"))
	srv, err := New(Config{Dir: f.TempDir(), Token: testToken})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/nop-ho-so", bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=xasoBoundary")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}
