package central

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// TestDashboard: the province dashboard signs an operator in with their
// token (a wrong one refused next to the field), shows the year by commune
// with sync columns, the catalogue with its history, the calendar, the
// overdue list and a dossier look-up, and exports the report; without a
// session every page leads to the sign-in.
func TestDashboard(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	ac.eventuallyStatus(200, f, "PUT", "/v1/communes/09619", ac.operator, map[string]any{"name": "Xã Tả Van"}, nil)
	base := ac.url(f)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: ac.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusSeeOther {
			return resp.StatusCode, resp.Header.Get("Location")
		}
		return resp.StatusCode, string(b)
	}
	signIn := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/dang-nhap", strings.NewReader(url.Values{"token": {token}, "next": {"/danh-muc"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", base)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location") + string(b)
	}

	if st, loc := get("/"); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/dang-nhap") {
		t.Fatalf("without a session: %d %s", st, loc)
	}
	if st, body := signIn("xo_wrong"); st != http.StatusUnauthorized || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("wrong token: %d\n%s", st, body)
	}
	if st, loc := signIn(ac.records); st != http.StatusSeeOther || loc != "/danh-muc" {
		t.Fatalf("sign in: %d %s", st, loc)
	}
	for _, c := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/", 200, []string{"Theo xã", `id="commune-09619"`, "Xã Tả Van", "chưa có máy trạm", "<svg", "/bao-cao?format=xlsx",
			"Chỉ số theo Quyết định 766/QĐ-TTg", `id="period"`, `id="indicator-progress.on_time_rate"`, "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn", "Chưa đo được"}},
		{"/?year=2026&lang=en", 200, []string{"By commune", "Last contact", "Not yet synced"}},
		{"/?year=2026&commune=09619", 200, []string{"<strong>09619</strong>", "<svg"}},
		{"/danh-muc", 200, []string{"Procedure catalogue"}},
		{"/lich", 200, []string{"Working calendar", "Change history"}},
		{"/qua-han", 200, []string{"No dossier is overdue"}},
		{"/ho-so?code=nonsense", 400, []string{`id="code-error"`}},
		{"/ho-so?code=09619-261123-0001", 404, []string{"No such dossier in the province"}},
	} {
		st, body := get(c.path)
		if st != c.status {
			t.Errorf("%s: %d, want %d\n%s", c.path, st, c.status, body)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", c.path, w)
			}
		}
	}
	resp, err := c.Get(base + "/bao-cao?format=csv&from_month=2026-01&to_month=2026-12&group_by=commune")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
