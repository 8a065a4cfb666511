package node

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// TestDeskLists: issue 22's lists, not free text. The assignee is chosen
// from the node's officers, and the API refuses a name that is no user
// with that role (InvalidArgument on assignee); the paper checklist starts
// unticked; a withdrawal (Decree 118/2025 art. 21) waits for its confirm
// box; errors and an unknown code are answered in Vietnamese with the way
// back.
func TestDeskLists(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	d := newDesk(t, n)
	d.signIn("lan")

	if _, _, body := d.get("/ban/tiep-nhan?procedure=1.001193"); !strings.Contains(body, `id="paper-GCS"`) || strings.Contains(body, " checked ") || strings.Contains(body, "checked aria-label") {
		t.Errorf("the paper checklist starts ticked:\n%s", body)
	}

	_, created := n.call(t, "POST", "/v1/dossiers", birthRequest())
	code := created["dossier"].(map[string]any)["code"].(string)
	_, _, body := d.get("/ban/ho-so/" + code)
	if !strings.Contains(body, `<select id="ASSIGN-assignee" name="assignee"`) || !strings.Contains(body, `<option value="minh">Người minh (minh)</option>`) {
		t.Fatalf("the assignee is no list of the officers:\n%s", body)
	}
	for _, not := range []string{`<option value="lan">`, `<option value="hoa">`, `list="people"`} {
		if strings.Contains(body, not) {
			t.Errorf("the assignee list holds %s", not)
		}
	}
	if !strings.Contains(body, `class="action stack danger"`) || !strings.Contains(body, `id="WITHDRAW-confirm"`) {
		t.Errorf("the withdrawal does not look destructive or ask to confirm:\n%s", body)
	}

	// At the desk (a hand-made form), a made-up name and a user without the
	// role are refused, in Vietnamese next to the field. API clients are
	// not held to the users file yet (node/service.go says why).
	for _, who := range []string{"ai.do", "hoa"} {
		st, _, body := d.post("/ban/ho-so/"+code, url.Values{"action": {"ASSIGN"}, "assignee": {who}, "expected_event_count": {"1"}}, nil)
		if st != http.StatusBadRequest || !strings.Contains(body, `id="ASSIGN-assignee-error" class="error">Người này không phải cán bộ của xã`) {
			t.Errorf("assign to %s on the desk: %d\n%s", who, st, body)
		}
	}
	// A withdrawal without its confirm box is not done.
	st, _, body := d.post("/ban/ho-so/"+code, url.Values{"action": {"WITHDRAW"}, "reason": {"Công dân xin rút"}, "expected_event_count": {"1"}}, nil)
	if st != http.StatusBadRequest || !strings.Contains(body, `id="WITHDRAW-confirm-error"`) || !strings.Contains(body, "Hãy đánh dấu ô xác nhận") {
		t.Errorf("withdraw without confirming: %d\n%s", st, body)
	}
	// A withdrawal without a reason: Vietnamese, no internal name.
	st, _, body = d.post("/ban/ho-so/"+code, url.Values{"action": {"WITHDRAW"}, "confirm": {"yes"}, "expected_event_count": {"1"}}, nil)
	if st != http.StatusBadRequest || !strings.Contains(body, "Hãy ghi rõ lý do.") || strings.Contains(body, "needs a written reason") {
		t.Errorf("withdraw without a reason: %d\n%s", st, body)
	}
	// A page older than the dossier says so.
	st, _, body = d.post("/ban/ho-so/"+code, url.Values{"action": {"ASSIGN"}, "assignee": {"minh"}, "expected_event_count": {"5"}}, nil)
	if st == http.StatusSeeOther || !strings.Contains(body, "vừa được người khác cập nhật") || strings.Contains(body, "the request expected") || strings.Contains(body, "hãy sửa các chỗ được đánh dấu") {
		t.Errorf("a stale page: %d\n%s", st, body)
	}
	// Confirmed, with a reason: done.
	if st, loc, body := d.post("/ban/ho-so/"+code, url.Values{"action": {"WITHDRAW"}, "reason": {"Công dân xin rút"}, "confirm": {"yes"}, "expected_event_count": {"1"}}, nil); st != http.StatusSeeOther {
		t.Errorf("withdraw, confirmed: %d %s\n%s", st, loc, body)
	}

	// An unknown or malformed code from the 'Mở hồ sơ' box.
	for _, c := range []string{"abc", "09619-261123-0999"} {
		st, _, body := d.get("/ban/ho-so/" + c)
		if st/100 != 4 || !strings.Contains(body, `<html lang="vi">`) || !strings.Contains(body, `href="/ban"`) || strings.Contains(body, "dossier code") {
			t.Errorf("open %s: %d\n%s", c, st, body)
		}
	}
}

// TestTransferTargets: once central has sent the province's communes, the
// transfer names its target from a list of the other registered communes
// by name, and the node refuses a commune not registered (Decree 118/2025
// art. 20).
func TestTransferTargets(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	for i, c := range []*xasov1.Commune{{Code: testCommune, Name: "Xã thử"}, {Code: "10102", Name: "Xã Tả Van"}} {
		it := &xasov1.FeedItem{Sequence: uint64(i + 1), Broadcast: true, Item: &xasov1.FeedItem_Commune{Commune: c}}
		if err := n.Store().applyFeedItem(context.Background(), it, testCommune, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	d := newDesk(t, n)
	d.signIn("lan")
	_, created := n.call(t, "POST", "/v1/dossiers", birthRequest())
	code := created["dossier"].(map[string]any)["code"].(string)
	_, _, body := d.get("/ban/ho-so/" + code)
	if !strings.Contains(body, `<select id="TRANSFER-commune" name="transfer_commune_code"`) || !strings.Contains(body, `<option value="10102">Xã Tả Van (10102)</option>`) || strings.Contains(body, `<option value="`+testCommune+`">`) {
		t.Fatalf("the transfer target is no list of the other communes:\n%s", body)
	}
	st, _, body := d.post("/ban/ho-so/"+code, url.Values{"action": {"TRANSFER"}, "reason": {"Không thuộc thẩm quyền"}, "transfer_commune_code": {"99999"}, "confirm": {"yes"}, "expected_event_count": {"1"}}, nil)
	if st != http.StatusBadRequest || !strings.Contains(body, `id="TRANSFER-commune-error" class="error">Xã này chưa được đăng ký trong tỉnh.`) {
		t.Errorf("a transfer to an unregistered commune: %d\n%s", st, body)
	}
}
