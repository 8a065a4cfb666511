package node

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// formProc is the procedure the constructed dossiers are received under:
// two required components and an optional one.
var formProc = &xasov1.Procedure{Code: "1.001022", Version: 1, Name: "Đăng ký nhận cha, mẹ, con", ProcessingDays: 3,
	Components: []*xasov1.Component{{Code: "TK", Name: "Tờ khai", Required: true}, {Code: "CC", Name: "Chứng cứ", Required: true}, {Code: "KH", Name: "Giấy tờ khác"}}}

// at is a moment in Vietnam on 2026-01-dd.
func at(day, hour, minute int) *timestamppb.Timestamp {
	return timestamppb.New(time.Date(2026, 1, day, hour, minute, 0, 0, dossier.Zone))
}

// built folds events into a dossier, as the store keeps it with its events.
func built(evs ...*dossier.Event) *dossier.Dossier {
	d := &dossier.Dossier{}
	for i, ev := range evs {
		ev.Sequence = int64(i + 1)
		if i == 0 {
			ev.Receipt = &xasov1.Receipt{Code: "09619-260105-0007", CommuneCode: "09619", ProcedureCode: formProc.GetCode(),
				ProcedureVersion: 1, ProcedureName: formProc.GetName(), ProcessingDays: formProc.GetProcessingDays(),
				Applicant: &xasov1.Applicant{FullName: "Hà Thị Lan", Address: "Bản Tả Van", Phone: "0912345678"}}
		}
		dossier.Apply(d, ev)
		d.Events = append(d.Events, ev)
	}
	return d
}

// received is a complete dossier received on 5 January 2026, 08:05,
// due on the 8th.
func received() *dossier.Event {
	return &dossier.Event{Action: dossier.Receive, Actor: "lan", Role: dossier.Clerk, Time: at(5, 8, 5), State: dossier.Received,
		DueTime: at(8, 17, 0), Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}, {Code: "CC", Paper: true}}}
}

func assigned() *dossier.Event {
	return &dossier.Event{Action: dossier.Assign, Actor: "lan", Role: dossier.Clerk, Time: at(5, 9, 30), State: dossier.InProcessing, Assignee: "minh", DueTime: at(8, 17, 0)}
}

func testInput(d *dossier.Dossier) formInput {
	return formInput{d: d, proc: formProc, commune: "xã Tả Van", zone: dossier.Zone,
		name: func(u string) string {
			return map[string]string{"lan": "Lò Thị Lan", "minh": "Vàng A Minh", "hoa": "Giàng Thị Hoa"}[u]
		}}
}

// TestFormFormatting: the forms write dates with two-digit days and
// months, in Vietnam's time, and a same-day procedure's processing time as
// "trong ngày" (Circular 03/2025/TT-VPCP form 01; Decree 118/2025 art.
// 17(1)(c) "Giấy tiếp nhận hồ sơ và hẹn ngày trả kết quả").
func TestFormFormatting(t *testing.T) {
	for _, c := range []struct{ name, got, want string }{
		{"date, two digits", formDate(time.Date(2026, 1, 2, 9, 0, 0, 0, dossier.Zone), dossier.Zone), "02/01/2026"},
		{"date in Vietnam's time", formDate(time.Date(2026, 1, 1, 20, 0, 0, 0, time.UTC), dossier.Zone), "02/01/2026"},
		{"no date", formDate(time.Time{}, dossier.Zone), ""},
		{"clock", formClock(time.Date(2026, 3, 4, 8, 5, 0, 0, dossier.Zone), dossier.Zone), "08 giờ 05 phút, ngày 04/03/2026"},
		{"table time", formTime(time.Date(2026, 3, 4, 8, 5, 0, 0, dossier.Zone), dossier.Zone), "08:05 04/03/2026"},
		{"same-day procedure", formDuration(0, 0), "trong ngày"},
		{"working days, two digits", formDuration(5, 0), "05 ngày làm việc"},
		{"working days", formDuration(15, 0), "15 ngày làm việc"},
		{"working hours (art. 17(2)(c))", formDuration(0, 8), "08 giờ làm việc"},
		{"place of a commune", placeName("xã Tả Van"), "Tả Van"},
		{"place of a ward", placeName("phường Ba Đình"), "Ba Đình"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestFormData: each form's data from constructed dossiers, and no form
// where it does not apply.
func TestFormData(t *testing.T) {
	guided := &dossier.Event{Action: dossier.Receive, Actor: "lan", Role: dossier.Clerk, Time: at(5, 8, 5), State: dossier.Guided,
		Reason: "Thiếu chứng cứ", MissingComponents: []string{"CC"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}}}
	refusedAtDesk := &dossier.Event{Action: dossier.Receive, Actor: "lan", Role: dossier.Clerk, Time: at(5, 8, 5), State: dossier.RefusedAtReception, Reason: "Không thuộc thẩm quyền"}
	asked := &dossier.Event{Action: dossier.RequestSupplement, Actor: "minh", Role: dossier.Officer, Time: at(6, 10, 0), State: dossier.AwaitingSupplement, Reason: "Chứng cứ chưa rõ"}
	refused := &dossier.Event{Action: dossier.Refuse, Actor: "hoa", Role: dossier.Leader, Time: at(7, 14, 0), State: dossier.Refused, Assignee: "minh", Reason: "Không đủ điều kiện", Timeliness: dossier.Early}
	apology := &dossier.Event{Action: dossier.Apologize, Actor: "minh", Role: dossier.Officer, Time: at(7, 9, 0), State: dossier.InProcessing,
		Assignee: "minh", DueTime: at(8, 17, 0), AppointmentTime: at(12, 17, 0), Reason: "Chờ xác minh"}
	withdrawn := &dossier.Event{Action: dossier.Withdraw, Actor: "lan", Role: dossier.Clerk, Time: at(6, 15, 30), State: dossier.Withdrawn, Reason: "Công dân xin rút"}

	for _, c := range []struct {
		name, form string
		d          *dossier.Dossier
		applies    bool
		check      func(t *testing.T, f any)
	}{
		{"02 guidance at reception lists the missing required components (art. 16(3), 17(1)(c))", "02", built(guided), true, func(t *testing.T, f any) {
			s := f.(supplementData)
			if !s.AtReception || !slices.Equal(s.Missing, []string{"Chứng cứ"}) || s.Reason != "Thiếu chứng cứ" || s.Issued != "08 giờ 05 phút, ngày 05/01/2026" || s.Issuer != "Lò Thị Lan" || s.Day != "05" || s.Month != "01" {
				t.Errorf("%+v", s)
			}
		}},
		{"02 request during processing, with the closing period (art. 19(5))", "02", built(received(), assigned(), asked), true, func(t *testing.T, f any) {
			s := f.(supplementData)
			if s.AtReception || len(s.Missing) != 0 || s.Reason != "Chứng cứ chưa rõ" || s.CloseDays != 15 || s.Received != "08 giờ 05 phút, ngày 05/01/2026" || s.Issuer != "Vàng A Minh" || s.Day != "06" {
				t.Errorf("%+v", s)
			}
		}},
		{"02 not for a dossier never asked for supplements", "02", built(received(), assigned()), false, nil},
		{"03 refusal at reception (art. 17(1)(c))", "03", built(refusedAtDesk), true, func(t *testing.T, f any) {
			s := f.(refusalData)
			if !s.AtReception || s.Reason != "Không thuộc thẩm quyền" || s.Issuer != "Lò Thị Lan" {
				t.Errorf("%+v", s)
			}
		}},
		{"03 a leader's refusal after appraisal (art. 19(3))", "03", built(received(), assigned(), refused), true, func(t *testing.T, f any) {
			s := f.(refusalData)
			if s.AtReception || s.Reason != "Không đủ điều kiện" || s.Refused != "14 giờ 00 phút, ngày 07/01/2026" || s.Issuer != "Giàng Thị Hoa" {
				t.Errorf("%+v", s)
			}
		}},
		{"03 not for a dossier in processing", "03", built(received(), assigned()), false, nil},
		{"04 apology with the old and the new appointment (art. 19(6))", "04", built(received(), assigned(), apology), true, func(t *testing.T, f any) {
			s := f.(apologyData)
			if s.Due != "17 giờ 00 phút, ngày 08/01/2026" || s.NewDue != "17 giờ 00 phút, ngày 12/01/2026" || s.Reason != "Chờ xác minh" || s.Issuer != "Vàng A Minh" {
				t.Errorf("%+v", s)
			}
		}},
		{"04 not without an apology", "04", built(received(), assigned()), false, nil},
		{"05 the citizen stops the procedure (art. 21)", "05", built(received(), withdrawn), true, func(t *testing.T, f any) {
			s := f.(stopData)
			if s.Stopped != "15 giờ 30 phút, ngày 06/01/2026" || s.Reason != "Công dân xin rút" || s.Clerk != "Lò Thị Lan" || s.Applicant != "Hà Thị Lan" {
				t.Errorf("%+v", s)
			}
		}},
		{"05 not for a dossier not withdrawn", "05", built(received()), false, nil},
		{"06 every hand-over with its time, the refusal's timeliness (art. 19)", "06", built(received(), assigned(), refused), true, func(t *testing.T, f any) {
			s := f.(controlData)
			if len(s.Rows) != 3 || s.Duration != "03 ngày làm việc" || s.Due != "17:00 08/01/2026" {
				t.Fatalf("%+v", s)
			}
			want := []controlRow{
				{No: 1, Time: "08:05 05/01/2026", Step: "Tiếp nhận hồ sơ", From: "Tổ chức, cá nhân", To: "Bộ phận Một cửa (Lò Thị Lan)"},
				{No: 2, Time: "09:30 05/01/2026", Step: "Phân công xử lý", From: "Lò Thị Lan", To: "Vàng A Minh"},
				{No: 3, Time: "14:00 07/01/2026", Step: "Từ chối giải quyết", From: "Giàng Thị Hoa", To: "Bộ phận Một cửa", Result: "Trước hạn", Note: "Không đủ điều kiện"},
			}
			if !slices.Equal(s.Rows, want) {
				t.Errorf("rows:\n%+v\nwant\n%+v", s.Rows, want)
			}
		}},
		{"06 the apology's new appointment in its note (art. 19(6))", "06", built(received(), assigned(), apology), true, func(t *testing.T, f any) {
			s := f.(controlData)
			if r := s.Rows[2]; r.Note != "Chờ xác minh. Hẹn lại: 12/01/2026." || r.To != "Vàng A Minh" || r.Step != "Xin lỗi và hẹn lại ngày trả" {
				t.Errorf("%+v", r)
			}
		}},
		{"06 not for a dossier without events", "06", &dossier.Dossier{Code: "09619-260105-0007"}, false, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, ok := formBuilders[c.form](testInput(c.d))
			if ok != c.applies {
				t.Fatalf("applies: %v, want %v", ok, c.applies)
			}
			if ok {
				c.check(t, f)
			}
		})
	}
}

// TestFormHeadAndLinks: every form is headed with the commune's people's
// committee and centre, dated with two digits; the dossier page links to
// the forms that apply, the receipt only when the desk took the dossier.
func TestFormHeadAndLinks(t *testing.T) {
	d := built(received(), assigned())
	h := testInput(d).head("06", d.GetEvents()[1].GetTime().AsTime())
	if h.Commune != "xã Tả Van" || h.Place != "Tả Van" || h.Day != "05" || h.Month != "01" || h.Year != "2026" || h.Title != "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" || h.Code != "09619-260105-0007" {
		t.Errorf("head: %+v", h)
	}
	hrefs := func(d *dossier.Dossier) []string {
		var out []string
		for _, l := range formLinks(testInput(d)) {
			out = append(out, strings.TrimPrefix(l.Href, "/ban/ho-so/09619-260105-0007"))
		}
		return out
	}
	if got, want := hrefs(d), []string{"/phieu", "/mau/06"}; !slices.Equal(got, want) {
		t.Errorf("links of a dossier in processing: %v, want %v", got, want)
	}
	guided := built(&dossier.Event{Action: dossier.Receive, Actor: "lan", Role: dossier.Clerk, Time: at(5, 8, 5), State: dossier.Guided, Reason: "r", MissingComponents: []string{"CC"}})
	if got, want := hrefs(guided), []string{"/mau/02", "/mau/06"}; !slices.Equal(got, want) {
		t.Errorf("links of a guided dossier: %v, want %v", got, want)
	}
	// Missing components: from the procedure, else the codes the receipt recorded.
	if got := dossierMissing(testInput(guided)); !slices.Equal(got, []string{"Tờ khai", "Chứng cứ"}) {
		t.Errorf("missing with the procedure: %v", got)
	}
	in := testInput(guided)
	in.proc = nil
	if got := dossierMissing(in); !slices.Equal(got, []string{"CC"}) {
		t.Errorf("missing without the procedure: %v", got)
	}
	if got := dossierMissing(testInput(d)); len(got) != 0 {
		t.Errorf("a complete dossier misses %v", got)
	}
}

// TestBookRow: one row of the tracking book (form 07), the new
// appointment of an apology as its due date (art. 19(6)).
func TestBookRow(t *testing.T) {
	d := built(received(), assigned(), &dossier.Event{Action: dossier.Apologize, Actor: "minh", Role: dossier.Officer, Time: at(7, 9, 0),
		State: dossier.InProcessing, Assignee: "minh", DueTime: at(8, 17, 0), AppointmentTime: at(12, 17, 0), Reason: "r"})
	r := bookRowOf(3, d, dossier.Zone)
	want := bookRow{No: 3, Code: "09619-260105-0007", Procedure: formProc.GetName(), Applicant: "Hà Thị Lan", Contact: "Bản Tả Van; 0912345678",
		Received: "08:05 05/01/2026", Due: "12/01/2026", State: "Đang giải quyết"}
	if r != want {
		t.Errorf("%+v\nwant %+v", r, want)
	}
}
