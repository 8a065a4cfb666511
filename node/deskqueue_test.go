package node

import (
	"net/http"
	"strings"
	"testing"

	"github.com/xaso/xaso/dossier"
)

// TestQueueByRoleAndSearch: each role's queue shows its own work first —
// a leader the approvals (Decree 118/2025 art. 19), an officer what is
// assigned to them — and only a clerk's offers receiving; the desk finds a
// citizen's dossiers by identity number or by name without diacritics,
// and logs the search as a personal-data read.
func TestQueueByRoleAndSearch(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	d := newDesk(t, n)
	_, created := n.call(t, "POST", "/v1/dossiers", birthRequest())
	code := created["dossier"].(map[string]any)["code"].(string)
	if st, resp := n.call(t, "POST", "/v1/dossiers/"+code+":transition", map[string]any{"action": "ACTION_ASSIGN", "role": "ROLE_CLERK", "assignee": "minh"}); st != 200 {
		t.Fatalf("assign: %d %v", st, resp)
	}

	first := func(body string) string {
		i := strings.Index(body, `<h2 id="q-`)
		if i < 0 {
			return ""
		}
		rest := body[i+len(`<h2 id="q-`):]
		return rest[:strings.IndexByte(rest, '"')]
	}
	for _, c := range []struct{ user, first string }{{"hoa", "approval"}, {"minh", "mine"}, {"lan", "ready"}} {
		d.signIn(c.user)
		_, _, body := d.get("/ban")
		if got := first(body); got != c.first {
			t.Errorf("%s's queue starts with %q, want %q", c.user, got, c.first)
		}
		if receive := strings.Contains(body, `href="/ban/tiep-nhan"`); receive != (c.user == "lan") {
			t.Errorf("%s's queue offers receiving: %v", c.user, receive)
		}
		if c.user == "minh" && !strings.Contains(body[strings.Index(body, `id="q-mine"`):], code) {
			t.Errorf("the officer's 'assigned to me' lacks %s", code)
		}
	}

	d.signIn("lan")
	for _, q := range []string{"001190012345", "ha thi", "Hà Thị Lan"} {
		before := n.Store().AccessHead()
		st, _, body := d.get("/ban/tim-kiem?q=" + strings.ReplaceAll(q, " ", "+"))
		if st != http.StatusOK || !strings.Contains(body, `href="/ban/ho-so/`+code+`"`) {
			t.Errorf("search %q: %d\n%s", q, st, body)
			continue
		}
		log, _, err := n.Store().AccessLog(AccessFilter{}, 1, 0)
		if err != nil || n.Store().AccessHead() == before || len(log) != 1 || log[0].GetKind() != dossier.AccessSearch || log[0].GetName() != "lan" {
			t.Errorf("search %q logged %v (%v)", q, log, err)
		}
	}
	if _, _, body := d.get("/ban/tim-kiem?q=nguyen+van+khong"); strings.Contains(body, code) || !strings.Contains(body, "Không có hồ sơ nào") {
		t.Errorf("a search for someone else finds:\n%s", body)
	}
	if st, _, body := d.get("/ban/tim-kiem?q=a"); st != http.StatusBadRequest || !strings.Contains(body, `id="search-error"`) {
		t.Errorf("a one-letter search: %d\n%s", st, body)
	}
}
