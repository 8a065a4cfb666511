package node

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// calendar2027 is the sample calendar with 2027 published: its computed
// holidays and (hypothetically) Monday 4 January 2027 off as well.
func calendar2027(t *testing.T) string {
	t.Helper()
	spec := sample.Calendar().Spec()
	spec.OfficialYears = append(append([]int(nil), spec.OfficialYears...), 2027)
	for _, h := range dossier.ComputedHolidays(2027) {
		spec.Days = append(spec.Days, dossier.CalendarDay{Date: h.Date.String(), Kind: dossier.Holiday, Name: h.Name})
	}
	spec.Days = append(spec.Days, dossier.CalendarDay{Date: "2027-01-04", Kind: dossier.Holiday, Name: "Nghỉ hoán đổi (thử)"})
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// Central publishes 2027: the node takes the calendar from the feed and
// moves the provisional due time of an open dossier with a RESCHEDULE
// event in its outbox; a dossier not due over 2027 keeps its due time.
func TestPublishedYearReschedulesProvisionalDueTimes(t *testing.T) {
	n := startNode(t)
	n.clock.Set(time.Date(2026, 12, 28, 9, 0, 0, 0, dossier.Zone))
	marriage := map[string]any{
		"procedure_code": "1.000894",
		"applicant":      map[string]any{"full_name": "Hà Thị Lan"},
		"channel":        "CHANNEL_IN_PERSON",
		"components":     []any{map[string]any{"code": "TK", "paper": true}},
	}
	status, resp := n.call(t, "POST", "/v1/dossiers", marriage)
	if status != 200 {
		t.Fatalf("receive: %d %v", status, resp)
	}
	code := resp["dossier"].(map[string]any)["code"].(string)
	status, resp = n.call(t, "POST", "/v1/dossiers", birthRequest()) // same day: 28 Dec 2026
	if status != 200 {
		t.Fatalf("receive: %d %v", status, resp)
	}
	sameDay := resp["dossier"].(map[string]any)["code"].(string)
	before, err := n.Store().Get(code, false)
	if err != nil {
		t.Fatal(err)
	}
	if !before.GetDueTime().AsTime().Equal(time.Date(2027, 1, 5, 17, 0, 0, 0, dossier.Zone)) || !dossier.DueProvisional(before, n.Calendar()) {
		t.Fatalf("due %v, want 5 Jan 2027 17:00, provisional", before.GetDueTime().AsTime())
	}
	head, _ := n.Store().OutboxHead()

	n.clock.Set(time.Date(2026, 12, 29, 8, 0, 0, 0, dossier.Zone))
	const index = 4242
	item := &xasov1.FeedItem{Sequence: n.Store().FeedSequence() + 1, RaftIndex: index, Broadcast: true,
		Item: &xasov1.FeedItem_CalendarJson{CalendarJson: calendar2027(t)}}
	if err := (syncLocal{Store: n.Store(), n: n.Node}).ApplyFeed(context.Background(), []*xasov1.FeedItem{item}); err != nil {
		t.Fatal(err)
	}
	if !n.Calendar().IsOfficialYear(2027) {
		t.Fatal("the node does not use the published calendar")
	}
	after, err := n.Store().Get(code, true)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2027, 1, 6, 17, 0, 0, 0, dossier.Zone)
	if !after.GetDueTime().AsTime().Equal(want) || dossier.DueProvisional(after, n.Calendar()) {
		t.Errorf("due %v after the calendar, want %v, not provisional", after.GetDueTime().AsTime(), want)
	}
	last := after.GetEvents()[len(after.GetEvents())-1]
	if last.GetAction() != dossier.Reschedule || last.GetActor() != dossier.SystemActor || last.GetCalendarIndex() != index ||
		!last.GetPreviousDueTime().AsTime().Equal(before.GetDueTime().AsTime()) || last.GetReason() == "" {
		t.Errorf("last event %v", last)
	}
	if h, _ := n.Store().OutboxHead(); h != head+1 {
		t.Errorf("outbox head %d, want %d: one RESCHEDULE", h, head+1)
	}
	if _, _, body := page(t, n.client, n.url+"/tra-cuu/"+code+"?k="+n.Store().LookupCheck(code)); !strings.Contains(body, "Tính lại hạn theo lịch nghỉ chính thức") ||
		!strings.Contains(body, "06/01/2027") || strings.Contains(body, "dự kiến") {
		t.Errorf("the look-up after the calendar:\n%s", body)
	}
	if d, _ := n.Store().Get(sameDay, false); d.GetEventCount() != 1 {
		t.Errorf("the same-day dossier has %d events", d.GetEventCount())
	}
	// The overdue index follows the new due time: overdue after 5 Jan, not on it.
	if c, _ := n.Store().CountOverdue(time.Date(2027, 1, 6, 9, 0, 0, 0, dossier.Zone)); c != 1 {
		t.Errorf("overdue on 6 Jan: %d, want only the same-day dossier", c)
	}
	// The feed again (a node re-reading it): nothing moves twice.
	item.Sequence++
	if err := (syncLocal{Store: n.Store(), n: n.Node}).ApplyFeed(context.Background(), []*xasov1.FeedItem{item}); err != nil {
		t.Fatal(err)
	}
	if h, _ := n.Store().OutboxHead(); h != head+1 {
		t.Errorf("outbox head %d after the same calendar again", h)
	}
}

// The pages say when a due date is provisional, say "trong ngày" for a
// same-day procedure (never "0 ngày làm việc"), and after an apology show
// its new date as the appointment with the legal due date as such.
func TestDueDatePages(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	n.clock.Set(time.Date(2026, 12, 28, 9, 0, 0, 0, dossier.Zone))
	status, resp := n.call(t, "POST", "/v1/dossiers", map[string]any{
		"procedure_code": "1.000894", "applicant": map[string]any{"full_name": "Hà Thị Lan"},
		"channel": "CHANNEL_IN_PERSON", "components": []any{map[string]any{"code": "TK", "paper": true}},
	})
	if status != 200 {
		t.Fatalf("receive: %d %v", status, resp)
	}
	code := resp["dossier"].(map[string]any)["code"].(string)
	status, resp = n.call(t, "POST", "/v1/dossiers", birthRequest())
	if status != 200 {
		t.Fatalf("receive: %d %v", status, resp)
	}
	birth := resp["dossier"].(map[string]any)["code"].(string)

	const provisional = "dự kiến: lịch nghỉ năm 2027 chưa được công bố chính thức"
	d := newDesk(t, n)
	d.signIn("lan")
	pages := map[string]string{
		"desk":    "/ban/ho-so/" + code,
		"receipt": "/ban/ho-so/" + code + "/phieu",
		"look-up": "/tra-cuu/" + code + "?k=" + n.Store().LookupCheck(code),
	}
	for name, path := range pages {
		if st, _, body := d.get(path); st != 200 || !strings.Contains(body, provisional) {
			t.Errorf("the %s page does not say the due date is provisional: %d\n%s", name, st, body)
		}
	}
	if _, _, body := d.get(pages["receipt"]); !strings.Contains(body, "theo quy định là: 05 ngày làm việc.") {
		t.Errorf("the receipt does not give 5 working days:\n%s", body)
	}
	_, _, body := d.get("/ban/ho-so/" + birth + "/phieu")
	if !strings.Contains(body, "theo quy định là: trong ngày.") || strings.Contains(body, "0 ngày làm việc") || strings.Contains(body, provisional) {
		t.Errorf("the same-day receipt:\n%s", body)
	}
	if _, _, body := d.get("/ban/tiep-nhan?procedure=1.001193"); !strings.Contains(body, "Thời hạn giải quyết: trong ngày") {
		t.Errorf("the receive form of a same-day procedure:\n%s", body)
	}

	// The officer apologises (Decree 118/2025 art. 19(6)) with a new date.
	status, resp = n.callAs(t, xasov1.Role_ROLE_OFFICER, "POST", "/v1/dossiers/"+code+":transition", map[string]any{
		"action": "ACTION_APOLOGIZE", "reason": "Cần xác minh thêm",
		"appointment_time": "2027-01-15T10:00:00Z",
	})
	if status != 200 {
		t.Fatalf("apologize: %d %v", status, resp)
	}
	_, _, body = d.get(pages["receipt"])
	if !strings.Contains(body, "Thời gian trả kết quả giải quyết hồ sơ: 17 giờ 00 phút, ngày 15/01/2027 (hẹn lại bằng văn bản xin lỗi; hạn giải quyết theo quy định: 17 giờ 00 phút, ngày 05/01/2027)") {
		t.Errorf("the reprinted receipt after the apology:\n%s", body)
	}
	_, _, body = d.get(pages["look-up"])
	due, legal := strings.Index(body, "15/01/2027"), strings.Index(body, "Hạn giải quyết theo quy định")
	if due < 0 || legal < due || !strings.Contains(body[legal:], "05/01/2027") {
		t.Errorf("the look-up after the apology:\n%s", body)
	}
}
