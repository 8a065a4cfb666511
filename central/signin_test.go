package central

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// The dashboard's sign-in: after it only a local path is followed, a
// multipart form is refused unread, and one address trying token after
// token is locked out at its limit.
func TestDashboardSignInLimits(t *testing.T) {
	ac := newAPICluster(t)
	base := ac.url(ac.follower().ID())
	post := func(ctype, body string) (int, string) {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Transport: ac.client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("POST", base+"/dang-nhap", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Origin", base)
		resp, err := c.Do(req)
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
	const form = "application/x-www-form-urlencoded"
	for next, want := range map[string]string{
		`/\evil.example`: "/",
		"//evil":         "/",
		"https://evil":   "/",
		"/%2F%2Fevil":    "/",
		"/%5Cevil":       "/",
		"/dang-xuat":     "/",
		"/danh-muc?x=1":  "/danh-muc?x=1",
	} {
		st, loc := post(form, url.Values{"token": {ac.viewer}, "next": {next}}.Encode())
		if st != http.StatusSeeOther || loc != want {
			t.Errorf("next=%q: %d %q, want %q", next, st, loc, want)
		}
	}
	if st, _ := post("multipart/form-data; boundary=XX", "--XX\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n"+ac.viewer+"\r\n--XX--\r\n"); st != http.StatusUnsupportedMediaType {
		t.Errorf("multipart sign-in: %d, want 415", st)
	}
	if st, _ := post(form, "token="+strings.Repeat("x", 5000)); st != http.StatusRequestEntityTooLarge {
		t.Errorf("a 5 KB form: %d, want 413", st)
	}
	for i := range 20 {
		if st, _ := post(form, url.Values{"token": {"xo_wrong"}}.Encode()); st != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i, st)
		}
	}
	if st, _ := post(form, url.Values{"token": {ac.viewer}}.Encode()); st != http.StatusTooManyRequests {
		t.Fatalf("the right token after 20 wrong ones from this address: %d, want 429", st)
	}
}
