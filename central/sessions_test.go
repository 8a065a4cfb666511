package central

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// dashClient is a browser on the dashboard of one member.
type dashClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (ac *apiCluster) browser(t *testing.T, member string) *dashClient {
	jar, _ := cookiejar.New(nil)
	return &dashClient{t: t, base: ac.url(member), c: &http.Client{Jar: jar, Transport: ac.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// get answers the status and the body, or the redirect's location.
func (b *dashClient) get(path string, cookies ...*http.Cookie) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusSeeOther {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(body)
}

// post sends a form from the dashboard's origin; it answers the response.
func (b *dashClient) post(path string, form url.Values) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// signIn signs in with token and returns the session cookie set.
func (b *dashClient) signIn(token string) *http.Cookie {
	b.t.Helper()
	resp := b.post("/dang-nhap", url.Values{"token": {token}, "next": {"/"}})
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	b.t.Fatalf("sign in set no %s cookie: %v", sessionCookie, resp.Cookies())
	return nil
}

// signedOut says whether path sends the browser to the sign-in.
func (b *dashClient) signedOut(path string, cookies ...*http.Cookie) bool {
	b.t.Helper()
	st, loc := b.get(path, cookies...)
	return st == http.StatusSeeOther && strings.HasPrefix(loc, "/dang-nhap")
}

// The dashboard keeps sessions on the member: the cookie holds a random
// id (HttpOnly, SameSite=Strict, Secure over TLS), never the token; a
// session ends at sign-out, after 8 hours idle or 12 in all, and when
// its token is revoked or expires.
func TestDashboardSessionsAreServerSide(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	d := ac.browser(t, f)
	ck := d.signIn(ac.records)
	if ck.Value == ac.records || strings.Contains(ck.Value, ac.records) || strings.Contains(ac.records, ck.Value) || len(ck.Value) < 40 {
		t.Fatalf("the cookie %q is not a session id apart from the token", ck.Value)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || !ck.Secure || ck.Path != "/" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Secure, Path=/", ck)
	}
	if st, body := d.get("/ho-so?code=00004-260302-0001"); st != http.StatusNotFound || !strings.Contains(body, `href="/ho-so"`) {
		t.Fatalf("records officer's dossier look-up: %d\n%s", st, body)
	}
	reads := ac.server(f).PersonalDataReads()
	if len(reads) != 1 || reads[0].Via != viaSession || reads[0].Name != "ho-so" || reads[0].From != "127.0.0.1" {
		t.Fatalf("the dashboard's read was recorded as %+v", reads)
	}
	// The token itself as the cookie opens nothing.
	other := ac.browser(t, f)
	if !other.signedOut("/", &http.Cookie{Name: sessionCookie, Value: ac.records}) || !other.signedOut("/", &http.Cookie{Name: oldTokenCookie, Value: ac.records}) {
		t.Fatal("the token as a cookie signs in")
	}
	// Sign-out ends the session on the member: its id replayed is refused.
	if resp := d.post("/dang-xuat", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if !other.signedOut("/", ck) {
		t.Fatal("a signed-out session's id still opens the dashboard")
	}

	// Idle for 8 hours: ended. Used every 7 hours: ended at 12.
	d.signIn(ac.viewer)
	ac.advance(sessionIdleLife)
	if !d.signedOut("/lich") {
		t.Fatal("a session idle for 8 hours is alive")
	}
	d.signIn(ac.viewer)
	ac.advance(7 * time.Hour)
	if d.signedOut("/lich") {
		t.Fatal("a session used after 7 hours ended")
	}
	ac.advance(5 * time.Hour)
	if !d.signedOut("/lich") {
		t.Fatal("a session 12 hours old is alive")
	}

	// A revoked token ends its sessions at their next request.
	var tok struct {
		Secret string `json:"secret"`
	}
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "tam", "role": "OPERATOR_ROLE_VIEWER", "ttl_seconds": 7200}, &tok)
	d.signIn(tok.Secret)
	if d.signedOut("/") {
		t.Fatal("a fresh session is refused")
	}
	before := ac.server(f).sessions.count()
	if code := ac.do(f, "DELETE", "/v1/tokens/tam", ac.operator, nil, nil); code != 200 {
		t.Fatalf("revoke: %d", code)
	}
	if !d.signedOut("/") {
		t.Fatal("the session of a revoked token is alive")
	}
	if after := ac.server(f).sessions.count(); after != before-1 {
		t.Fatalf("%d sessions kept after the revoked token's was refused, want %d", after, before-1)
	}
	// An expired token too.
	ac.eventuallyStatus(200, f, "POST", "/v1/tokens", ac.operator, map[string]any{"name": "ngan", "role": "OPERATOR_ROLE_VIEWER", "ttl_seconds": 3600}, &tok)
	d.signIn(tok.Secret)
	ac.advance(time.Hour)
	if !d.signedOut("/") {
		t.Fatal("the session of an expired token is alive")
	}
}

// A viewer's and an operator's sessions do not open the dossier look-up
// (the records role's), nor link to it; a records officer's does.
func TestDashboardPersonalDataNeedsTheRecordsRole(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	for _, c := range []struct {
		name, token string
		may         bool
	}{{"viewer", ac.viewer, false}, {"operator", ac.operator, false}, {"records", ac.records, true}} {
		d := ac.browser(t, f)
		d.signIn(c.token)
		st, body := d.get("/ho-so?code=00004-260302-0001")
		if c.may != (st != http.StatusForbidden) {
			t.Errorf("%s: /ho-so %d", c.name, st)
		}
		_, front := d.get("/qua-han")
		if c.may != strings.Contains(front, `href="/ho-so"`) {
			t.Errorf("%s: the dossier look-up in the navigation: %v, want %v", c.name, !c.may, c.may)
		}
		if !c.may && !strings.Contains(body, "records") {
			t.Errorf("%s: the refusal does not say which role is needed: %s", c.name, body)
		}
	}
	if n := len(ac.server(f).PersonalDataReads()); n != 1 {
		t.Fatalf("%d reads recorded, want the records officer's one", n)
	}
}
