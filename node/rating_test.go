package node

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// returnedDossier receives a birth registration and takes it to its
// return over the API; it returns the dossier's code.
func returnedDossier(t *testing.T, n *testNode) string {
	t.Helper()
	code, resp := n.call(t, "POST", "/v1/dossiers", birthRequest())
	if code != 200 {
		t.Fatalf("create: %d %v", code, resp)
	}
	dc := resp["dossier"].(map[string]any)["code"].(string)
	for _, s := range []map[string]any{
		{"action": "ACTION_ASSIGN", "role": "ROLE_CLERK", "assignee": "tuphap.1"},
		{"action": "ACTION_SUBMIT", "role": "ROLE_OFFICER"},
		{"action": "ACTION_APPROVE", "role": "ROLE_LEADER"},
		{"action": "ACTION_RETURN", "role": "ROLE_CLERK"},
	} {
		if code, resp := n.call(t, "POST", "/v1/dossiers/"+dc+":transition", s); code != 200 {
			t.Fatalf("%v: %d %v", s["action"], code, resp)
		}
	}
	return dc
}

// ratingForm is a complete rating: every content of art. 33(1) that must
// be rated, (g) left out, (h) and (i) rated.
func ratingForm() url.Values {
	f := url.Values{"comment": {"Cán bộ hướng dẫn tận tình."}}
	for _, c := range dossier.Contents {
		f.Set("score-"+dossier.ContentName(c.Content), "VERY_SATISFIED")
	}
	f.Set("score-COMPLAINT_HANDLING", "NONE")
	f.Set("score-ONLINE_SERVICE", "SATISFIED")
	return f
}

// ratingOf reads the dossier's rating and its events over the API.
func ratingOf(t *testing.T, n *testNode, code string) (*xasov1.Dossier, []*xasov1.Event) {
	t.Helper()
	d, err := n.Store().Get(code, true)
	if err != nil {
		t.Fatal(err)
	}
	return d, d.GetEvents()
}

// TestCitizenRatesOnTheLookup: the citizen rates on the look-up page with
// the receipt's check value (Decree 118/2025 art. 31(1)(c), 33): not
// before the result is returned, not without the check value, not with a
// content left out that everyone rates (the Vietnamese message next to
// it), and once; nothing is recorded when refused.
func TestCitizenRatesOnTheLookup(t *testing.T) {
	n := startNode(t)
	d := newDesk(t, n)
	_, created := n.call(t, "POST", "/v1/dossiers", birthRequest())
	open := created["dossier"].(map[string]any)["code"].(string)
	openCheck := n.Store().LookupCheck(open)
	if _, _, body := d.get("/tra-cuu/" + open + "?k=" + openCheck); !strings.Contains(body, "Ông/bà đánh giá được khi hồ sơ đã trả kết quả") || strings.Contains(body, `name="score-RETURN_TIME"`) {
		t.Fatalf("a dossier in processing offers a rating:\n%s", body)
	}
	post := func(code string, f url.Values) (int, string, string) {
		t.Helper()
		return d.form("/tra-cuu/"+code+"/danh-gia", f)
	}
	before, _ := n.Store().OutboxHead()
	f := ratingForm()
	f.Set("k", openCheck)
	if st, _, body := post(open, f); st != http.StatusConflict || !strings.Contains(body, "Hồ sơ chưa có kết quả để đánh giá.") {
		t.Fatalf("rating a dossier in processing: %d\n%s", st, body)
	}

	code := returnedDossier(t, n)
	check := n.Store().LookupCheck(code)
	if _, _, body := d.get("/tra-cuu/" + code + "?k=" + check); strings.Count(body, "<fieldset") != 9 || !strings.Contains(body, "Thái độ ứng xử của cán bộ") || !strings.Contains(body, `name="k" value="`+check+`"`) {
		t.Fatalf("the look-up of a returned dossier has no form of the nine contents:\n%s", body)
	}
	before, _ = n.Store().OutboxHead()
	unchanged := func(what string) {
		t.Helper()
		if head, _ := n.Store().OutboxHead(); head != before {
			t.Fatalf("%s recorded something: outbox at %d, %d before", what, head, before)
		}
	}
	// Without the check value, or with a wrong one: nothing recorded.
	if st, _, body := post(code, ratingForm()); st != http.StatusForbidden || !strings.Contains(body, "Cần mã kiểm tra in trên giấy tiếp nhận") {
		t.Fatalf("without the check value: %d\n%s", st, body)
	}
	f = ratingForm()
	f.Set("k", "AAAAAAAA")
	if st, _, body := post(code, f); st != http.StatusForbidden || !strings.Contains(body, "Mã kiểm tra không đúng") {
		t.Fatalf("a wrong check value: %d\n%s", st, body)
	}
	unchanged("a rating without the check value")
	// A content everyone rates left out; a level off the scale; a control
	// character in the comment: each is answered next to its field.
	for _, c := range []struct {
		name, field, value, want string
	}{
		{"(đ) left out", "score-STAFF_CONDUCT", "", `id="score-STAFF_CONDUCT-error" class="error" role="alert">Hãy chọn một mức đánh giá`},
		{"(a) off the scale", "score-RETURN_TIME", "EXCELLENT", `id="score-RETURN_TIME-error" class="error" role="alert">Mức đánh giá không hợp lệ`},
		{"a control character", "comment", "tốt\x1b[2J", `id="rating-comment-error" class="error" role="alert">Góp ý tối đa 1000 byte`},
		{"(a) left out as not applicable", "score-RETURN_TIME", "NONE", `id="score-RETURN_TIME-error"`},
	} {
		f := ratingForm()
		f.Set("k", check)
		f.Set(c.field, c.value)
		if st, _, body := post(code, f); st != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Fatalf("%s: %d, want %q\n%s", c.name, st, c.want, body)
		}
	}
	unchanged("a rating with errors")

	f = ratingForm()
	f.Set("k", strings.ToLower(check))
	st, loc, body := post(code, f)
	if st != http.StatusSeeOther || loc != "/tra-cuu/"+code+"?k="+check+"&danh-gia=xong" {
		t.Fatalf("the rating: %d %s\n%s", st, loc, body)
	}
	if _, _, body := d.get(loc); !strings.Contains(body, "Cảm ơn ông/bà đã đánh giá") || strings.Contains(body, `name="score-RETURN_TIME"`) || !strings.Contains(body, "Công dân đánh giá việc giải quyết") {
		t.Fatalf("after the rating:\n%s", body)
	}
	got, evs := ratingOf(t, n, code)
	last := evs[len(evs)-1]
	r := got.GetRating()
	if last.GetAction() != dossier.Rate || last.GetRole() != dossier.Citizen || last.GetActor() != dossier.CitizenActor ||
		r.GetChannel() != xasov1.RatingChannel_RATING_CHANNEL_LOOKUP || len(r.GetScores()) != 8 || r.GetComment() != "Cán bộ hướng dẫn tận tình." || got.GetState() != dossier.Returned {
		t.Fatalf("recorded: %v; last event %v", r, last)
	}
	// Once per dossier.
	before, _ = n.Store().OutboxHead()
	f.Set("score-RETURN_TIME", "NOT_SATISFIED")
	if st, _, body := post(code, f); st != http.StatusConflict || !strings.Contains(body, "Hồ sơ này đã được đánh giá") {
		t.Fatalf("a second rating: %d\n%s", st, body)
	}
	unchanged("a second rating")
}

// TestRatingIsLimitedLikeTheLookup: a rating posted counts against the
// look-up's limit per address, so that check values cannot be guessed
// through it either.
func TestRatingIsLimitedLikeTheLookup(t *testing.T) {
	n := startNode(t)
	d := newDesk(t, n)
	code := returnedDossier(t, n)
	f := ratingForm()
	f.Set("k", "AAAAAAAA")
	for i := range lookupsPerMinute {
		if st, _, _ := d.form("/tra-cuu/"+code+"/danh-gia", f); st != http.StatusForbidden {
			t.Fatalf("guess %d: %d", i+1, st)
		}
	}
	if st, _, _ := d.form("/tra-cuu/"+code+"/danh-gia", f); st != http.StatusTooManyRequests {
		t.Fatalf("past the limit: %d", st)
	}
	if st, _, _ := d.get("/tra-cuu/" + code); st != http.StatusTooManyRequests {
		t.Fatalf("the look-up past the limit: %d", st)
	}
}

// TestCitizenRatesOnTheDeskDevice: a clerk opens the rating page of one
// dossier on the desk device (Decree 118/2025 art. 31(1)(b)); it shows
// nothing personal and no desk navigation, takes the citizen's rating
// once, and answers errors next to the fields. The return form has no
// satisfaction choice any more.
func TestCitizenRatesOnTheDeskDevice(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	d := newDesk(t, n)
	_, created := n.call(t, "POST", "/v1/dossiers", birthRequest())
	dc := created["dossier"].(map[string]any)["code"].(string)
	for _, s := range []map[string]any{
		{"action": "ACTION_ASSIGN", "role": "ROLE_CLERK", "assignee": "minh"},
		{"action": "ACTION_SUBMIT", "role": "ROLE_OFFICER"},
		{"action": "ACTION_APPROVE", "role": "ROLE_LEADER"},
	} {
		if code, resp := n.call(t, "POST", "/v1/dossiers/"+dc+":transition", s); code != 200 {
			t.Fatalf("%v: %d %v", s["action"], code, resp)
		}
	}
	device := "/ban/ho-so/" + dc + "/danh-gia"
	d.signIn("lan")
	_, _, body := d.get("/ban/ho-so/" + dc)
	if !strings.Contains(body, `value="RETURN"`) || strings.Contains(body, `name="satisfaction"`) || strings.Contains(body, device) {
		t.Fatalf("the return form still asks the clerk for the satisfaction, or the device is offered before the return:\n%s", body)
	}
	if st, _, body := d.form(device, ratingForm()); st != http.StatusConflict || !strings.Contains(body, "Hồ sơ chưa có kết quả") {
		t.Fatalf("rating before the return: %d\n%s", st, body)
	}
	if st, loc, body := d.post("/ban/ho-so/"+dc, url.Values{"action": {"RETURN"}, "expected_event_count": {"4"}}, nil); st != http.StatusSeeOther {
		t.Fatalf("return: %d %s\n%s", st, loc, body)
	}
	if _, _, body := d.get("/ban/ho-so/" + dc); !strings.Contains(body, `href="`+device+`"`) {
		t.Fatalf("the returned dossier's page has no link to the device:\n%s", body)
	}

	// An officer does not open the device.
	d.signIn("minh")
	if st, _, _ := d.get(device); st != http.StatusForbidden {
		t.Fatalf("the officer opens the device: %d", st)
	}
	d.signIn("lan")
	st, _, body := d.get(device)
	if st != 200 || strings.Count(body, "<fieldset") != 9 || strings.Contains(body, "Hà Thị Lan") || strings.Contains(body, "0912345678") ||
		strings.Contains(body, `href="/ban"`) || strings.Contains(body, "Người lan") || !strings.Contains(body, `name="viewport"`) {
		t.Fatalf("the device page: %d\n%s", st, body)
	}
	before, _ := n.Store().OutboxHead()
	f := ratingForm()
	f.Del("score-INFORMATION")
	if st, _, body := d.form(device, f); st != http.StatusBadRequest || !strings.Contains(body, `id="score-INFORMATION-error" class="error" role="alert">Hãy chọn một mức đánh giá`) || !strings.Contains(body, `value="VERY_SATISFIED" checked`) {
		t.Fatalf("(d) left out: %d\n%s", st, body)
	}
	if head, _ := n.Store().OutboxHead(); head != before {
		t.Fatal("a rating with errors was recorded")
	}
	f = ratingForm()
	f.Set("score-STAFF_CONDUCT", "NOT_SATISFIED")
	if st, loc, body := d.form(device, f); st != http.StatusSeeOther || loc != device+"?danh-gia=xong" {
		t.Fatalf("the rating: %d %s\n%s", st, loc, body)
	}
	if _, _, body := d.get(device + "?danh-gia=xong"); !strings.Contains(body, "Cảm ơn ông/bà đã đánh giá") || strings.Contains(body, "<fieldset") {
		t.Fatalf("after the rating:\n%s", body)
	}
	got, _ := ratingOf(t, n, dc)
	if got.GetRating().GetChannel() != xasov1.RatingChannel_RATING_CHANNEL_DESK_DEVICE {
		t.Fatalf("recorded %v", got.GetRating())
	}
	// Very satisfied on six contents, satisfied on one, not on one: 2.625.
	if _, _, body := d.get("/ban/ho-so/" + dc); !strings.Contains(body, "Mức độ hài lòng của công dân</dt><dd>Rất hài lòng") || strings.Contains(body, `href="`+device+`"`) {
		t.Fatalf("the dossier's page after the rating:\n%s", body)
	}
	if st, _, body := d.form(device, ratingForm()); st != http.StatusConflict || !strings.Contains(body, "Hồ sơ này đã được đánh giá") {
		t.Fatalf("a second rating: %d\n%s", st, body)
	}
}
