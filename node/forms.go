package node

// The forms of Circular 03/2025/TT-VPCP (appendix I), printed from the
// desk, each on one A4 page:
//
//	01 Giấy tiếp nhận hồ sơ và hẹn trả kết quả (the receipt, desk.go)
//	02 Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ
//	03 Phiếu từ chối tiếp nhận giải quyết hồ sơ
//	04 Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết
//	05 Thông báo dừng giải quyết hồ sơ
//	06 Phiếu kiểm soát quá trình giải quyết hồ sơ
//	07 Sổ theo dõi hồ sơ
//
// The numbers and titles are the circular's (appendix I as published with
// it). The text of the appendix's forms themselves could not be found; their
// fields follow the forms of Circular 01/2018/TT-VPCP (appendix: 01 receipt,
// 02 supplement request, 03 refusal, 04 apology and new appointment, 05
// process control slip, 06 tracking book) adapted to Decree 118/2025/NĐ-CP:
// the issuing body is the commune's Trung tâm Phục vụ hành chính công (art.
// 7(3)(a)); 02 serves both the guidance at reception (art. 16(3),
// 17(1)(c)) and the request during processing (art. 19(5)); 03 both the
// refusal at reception (art. 17(1)(c)) and after appraisal (art. 19(3));
// 04 names the reason of the delay and the new date (art. 19(6)); 05, new
// in the circular, records the citizen's request to stop (art. 21).
//
// Every form is filled from the dossier and its events only; the data of
// each is built here without HTTP, and a form that does not apply to a
// dossier is not built.

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// formTitles are the titles of the circular's forms, by number.
var formTitles = map[string]string{
	"01": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
	"02": "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
	"03": "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
	"04": "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT",
	"05": "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ",
	"06": "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
	"07": "SỔ THEO DÕI HỒ SƠ",
}

// dossierForms are the forms printed for one dossier besides the receipt,
// in order, with the label of the dossier page's link to each.
var dossierForms = []struct{ Number, Label string }{
	{"02", "In phiếu yêu cầu bổ sung, hoàn thiện hồ sơ"},
	{"03", "In phiếu từ chối tiếp nhận, giải quyết hồ sơ"},
	{"04", "In văn bản xin lỗi, hẹn lại ngày trả kết quả"},
	{"05", "In thông báo dừng giải quyết hồ sơ"},
	{"06", "In phiếu kiểm soát quá trình giải quyết"},
}

// formDate writes a time as the forms date it: dd/mm/yyyy in zone, two
// digits for the day and the month; empty for the zero time.
func formDate(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(zone)
	return fmt.Sprintf("%02d/%02d/%04d", t.Day(), int(t.Month()), t.Year())
}

// formClock writes a moment as the forms' sentences do: "hh giờ mm phút,
// ngày dd/mm/yyyy".
func formClock(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return ""
	}
	l := t.In(zone)
	return fmt.Sprintf("%02d giờ %02d phút, ngày %s", l.Hour(), l.Minute(), formDate(t, zone))
}

// formTime writes a moment as the forms' tables do: "hh:mm dd/mm/yyyy".
func formTime(t time.Time, zone *time.Location) string {
	if t.IsZero() {
		return ""
	}
	l := t.In(zone)
	return fmt.Sprintf("%02d:%02d %s", l.Hour(), l.Minute(), formDate(t, zone))
}

// formDuration writes a legal processing time as the law states it, with
// two digits: "trong ngày" for a procedure done the same working day,
// "05 ngày làm việc", or "08 giờ làm việc" (dossier.ProcessingTime).
func formDuration(days, hours int32) string {
	return dossier.ProcessingText(days, hours)
}

// placeName is the place a form is dated at: the commune's name without
// its kind ("xã Tả Van" is dated "Tả Van, ngày …").
func placeName(commune string) string {
	for _, kind := range []string{"xã ", "phường ", "đặc khu ", "Xã ", "Phường ", "Đặc khu "} {
		if rest, ok := strings.CutPrefix(commune, kind); ok && rest != "" {
			return rest
		}
	}
	return commune
}

// formInput is what the forms are filled from.
type formInput struct {
	d *dossier.Dossier // with its events
	// proc is the procedure at the version the dossier was received
	// under; nil when the node does not hold it.
	proc *xasov1.Procedure
	// commune is the commune's name, e.g. "xã Tả Van".
	commune string
	zone    *time.Location
	// name is an official's full name from their user name.
	name func(user string) string
}

// official is the full name of who did an event.
func (in formInput) official(user string) string {
	switch {
	case strings.HasPrefix(user, "node:"), user == dossier.SystemActor:
		return "Hệ thống"
	case user == dossier.CitizenActor:
		return "Tổ chức, cá nhân"
	}
	if in.name != nil {
		return cmp.Or(in.name(user), user)
	}
	return user
}

// formHead is what every form carries: its number and title, the issuing
// body (the commune's people's committee and its public administrative
// service centre), the date, and the dossier it is about.
type formHead struct {
	Number, Title string
	// Commune is the commune's name ("xã Tả Van"), Place where the form is
	// dated ("Tả Van").
	Commune, Place string
	// Day, Month and Year of the form, two digits for day and month.
	Day, Month, Year                                  string
	Code, Applicant, Address, Phone, Email, Procedure string
}

// head is the head of form number, dated on.
func (in formInput) head(number string, on time.Time) formHead {
	d := in.d
	h := formHead{Number: number, Title: formTitles[number], Commune: in.commune, Place: placeName(in.commune), Code: d.GetCode(),
		Applicant: d.GetApplicant().GetFullName(), Address: d.GetApplicant().GetAddress(), Phone: d.GetApplicant().GetPhone(),
		Email: d.GetApplicant().GetEmail(), Procedure: d.GetProcedureName()}
	if !on.IsZero() {
		l := on.In(in.zone)
		h.Day, h.Month, h.Year = fmt.Sprintf("%02d", l.Day()), fmt.Sprintf("%02d", int(l.Month())), fmt.Sprintf("%04d", l.Year())
	}
	return h
}

// lastEvent is the index of the dossier's last event that match accepts,
// or -1.
func lastEvent(d *dossier.Dossier, match func(*dossier.Event) bool) int {
	evs := d.GetEvents()
	for i := len(evs) - 1; i >= 0; i-- {
		if match(evs[i]) {
			return i
		}
	}
	return -1
}

// missingComponents names the procedure's required components that the
// events up to and including events[upTo] did not hand in (at reception or
// as supplements). Without the procedure, the components the RECEIVE event
// recorded as missing are named by their codes.
func missingComponents(d *dossier.Dossier, proc *xasov1.Procedure, upTo int) []string {
	evs := d.GetEvents()
	if proc == nil {
		if len(evs) > 0 {
			return evs[0].GetMissingComponents()
		}
		return nil
	}
	handed := map[string]bool{}
	for i, ev := range evs {
		if i > upTo {
			break
		}
		for _, c := range ev.GetComponents() {
			handed[c.GetCode()] = true
		}
	}
	var out []string
	for _, c := range proc.GetComponents() {
		if c.GetRequired() && !handed[c.GetCode()] {
			out = append(out, cmp.Or(c.GetName(), c.GetCode()))
		}
	}
	return out
}

// supplementData is form 02: the guidance at reception or the request
// during processing, with what is to be supplemented and why.
type supplementData struct {
	formHead
	// AtReception: the desk did not take an incomplete dossier (GUIDED);
	// else the handling unit asked during processing.
	AtReception bool
	// Missing are the required components not handed in.
	Missing          []string
	Reason, Issued   string
	Issuer, Received string
	// CloseDays: the days after the request after which the desk closes
	// a dossier whose supplements did not come (art. 19(5): 15 unless
	// sector law says otherwise).
	CloseDays int
}

// supplementForm is form 02 of the latest guidance or supplement request.
func supplementForm(in formInput) (supplementData, bool) {
	i := lastEvent(in.d, func(ev *dossier.Event) bool {
		return ev.GetAction() == dossier.RequestSupplement || ev.GetAction() == dossier.Receive && ev.GetState() == dossier.Guided
	})
	if i < 0 {
		return supplementData{}, false
	}
	ev := in.d.GetEvents()[i]
	t := ev.GetTime().AsTime()
	f := supplementData{formHead: in.head("02", t), AtReception: ev.GetAction() == dossier.Receive,
		Missing: missingComponents(in.d, in.proc, i), Reason: ev.GetReason(), Issued: formClock(t, in.zone), Issuer: in.official(ev.GetActor())}
	if !f.AtReception {
		f.Received = formClock(in.d.GetReceivedTime().AsTime(), in.zone)
		f.CloseDays = cmp.Or(int(in.d.GetSupplementCloseDays()), 15)
	}
	return f, true
}

// refusalData is form 03: the refusal at reception or after appraisal.
type refusalData struct {
	formHead
	AtReception                       bool
	Received, Refused, Reason, Issuer string
}

// refusalForm is form 03 of the dossier's refusal.
func refusalForm(in formInput) (refusalData, bool) {
	i := lastEvent(in.d, func(ev *dossier.Event) bool {
		return ev.GetAction() == dossier.Refuse || ev.GetAction() == dossier.Receive && ev.GetState() == dossier.RefusedAtReception
	})
	if i < 0 {
		return refusalData{}, false
	}
	ev := in.d.GetEvents()[i]
	t := ev.GetTime().AsTime()
	return refusalData{formHead: in.head("03", t), AtReception: ev.GetAction() == dossier.Receive,
		Received: formClock(in.d.GetReceivedTime().AsTime(), in.zone), Refused: formClock(t, in.zone),
		Reason: ev.GetReason(), Issuer: in.official(ev.GetActor())}, true
}

// apologyData is form 04: the apology for a delay with the new
// appointment (art. 19(6)).
type apologyData struct {
	formHead
	Received, Due, NewDue, Reason, Issuer string
}

// apologyForm is form 04 of the dossier's apology.
func apologyForm(in formInput) (apologyData, bool) {
	i := lastEvent(in.d, func(ev *dossier.Event) bool { return ev.GetAction() == dossier.Apologize })
	if i < 0 {
		return apologyData{}, false
	}
	evs := in.d.GetEvents()
	ev := evs[i]
	due := ev.GetDueTime() // the apology leaves the legal due time as it was
	if due == nil && i > 0 {
		due = evs[i-1].GetDueTime()
	}
	f := apologyData{formHead: in.head("04", ev.GetTime().AsTime()), Received: formClock(in.d.GetReceivedTime().AsTime(), in.zone),
		Reason: ev.GetReason(), Issuer: in.official(ev.GetActor())}
	if due != nil {
		f.Due = formClock(due.AsTime(), in.zone)
	}
	if ev.GetAppointmentTime() != nil {
		f.NewDue = formClock(ev.GetAppointmentTime().AsTime(), in.zone)
	}
	return f, true
}

// stopData is form 05: the citizen stopped the procedure (art. 21).
type stopData struct {
	formHead
	Received, Stopped, Reason, Clerk string
}

// stopForm is form 05 of the dossier's withdrawal.
func stopForm(in formInput) (stopData, bool) {
	i := lastEvent(in.d, func(ev *dossier.Event) bool { return ev.GetAction() == dossier.Withdraw })
	if i < 0 {
		return stopData{}, false
	}
	ev := in.d.GetEvents()[i]
	t := ev.GetTime().AsTime()
	return stopData{formHead: in.head("05", t), Received: formClock(in.d.GetReceivedTime().AsTime(), in.zone),
		Stopped: formClock(t, in.zone), Reason: ev.GetReason(), Clerk: in.official(ev.GetActor())}, true
}

// controlData is form 06: every hand-over of the dossier with its time.
type controlData struct {
	formHead
	Received, Due, Duration string
	Rows                    []controlRow
}

// controlRow is one event of the slip: when, what, from whom to whom,
// and, for the step that finished the dossier, how it stood against the
// due time.
type controlRow struct {
	No                                 int
	Time, Step, From, To, Result, Note string
}

// timelinessText is how a finished step stood against its due time.
var timelinessText = map[dossier.Timeliness]string{dossier.Early: "Trước hạn", dossier.OnTime: "Đúng hạn", dossier.Late: "Quá hạn"}

// holder names who holds the dossier after ev: the citizen once it is
// back with them, the desk once its result or refusal is to be handed
// back, else the person or unit it was handed to.
func (in formInput) holder(ev *dossier.Event) string {
	switch ev.GetState() {
	case dossier.AwaitingSupplement, dossier.Returned, dossier.Withdrawn, dossier.Guided, dossier.RefusedAtReception, dossier.ClosedUnsupplemented:
		return "Tổ chức, cá nhân"
	case dossier.ResultReady, dossier.Refused:
		return "Bộ phận Một cửa"
	case dossier.Transferred:
		return "Xã có thẩm quyền (" + ev.GetTransferCommuneCode() + ")"
	}
	if a := ev.GetAssignee(); a != "" {
		return in.official(a)
	}
	if ev.GetState() == dossier.AwaitingApproval {
		return "Lãnh đạo"
	}
	return "Bộ phận Một cửa"
}

// sentence ends a text with a full stop unless it ends with punctuation.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s[len(s)-1:], ".!?;:") {
		return s
	}
	return s + "."
}

// controlForm is form 06 of any dossier that has events.
func controlForm(in formInput) (controlData, bool) {
	evs := in.d.GetEvents()
	if len(evs) == 0 {
		return controlData{}, false
	}
	f := controlData{formHead: in.head("06", evs[len(evs)-1].GetTime().AsTime()),
		Received: formTime(in.d.GetReceivedTime().AsTime(), in.zone), Duration: formDuration(in.d.GetProcessingDays(), in.d.GetProcessingHours())}
	if due := evs[0].GetDueTime(); due != nil {
		f.Due = formTime(due.AsTime(), in.zone)
	}
	for i, ev := range evs {
		from := in.official(ev.GetActor())
		if ev.GetAction() == dossier.Receive || ev.GetAction() == dossier.ReceiveSupplement {
			from = "Tổ chức, cá nhân"
		}
		to := in.holder(ev)
		if ev.GetAction() == dossier.Receive && ev.GetState() == dossier.Received || ev.GetAction() == dossier.ReceiveSupplement {
			to = "Bộ phận Một cửa (" + in.official(ev.GetActor()) + ")"
		}
		note := ev.GetReason()
		if at := ev.GetAppointmentTime(); at != nil {
			note = strings.TrimSpace(sentence(note) + " Hẹn lại: " + formDate(at.AsTime(), in.zone) + ".")
		}
		f.Rows = append(f.Rows, controlRow{No: i + 1, Time: formTime(ev.GetTime().AsTime(), in.zone),
			Step: web.Message(web.Vietnamese, "action."+dossier.ActionName(ev.GetAction())), From: from, To: to,
			Result: timelinessText[ev.GetTimeliness()], Note: note})
	}
	return f, true
}

// formBuilders build each dossier form's data; ok is false when the form
// does not apply to the dossier.
var formBuilders = map[string]func(formInput) (any, bool){
	"02": func(in formInput) (any, bool) { return supplementForm(in) },
	"03": func(in formInput) (any, bool) { return refusalForm(in) },
	"04": func(in formInput) (any, bool) { return apologyForm(in) },
	"05": func(in formInput) (any, bool) { return stopForm(in) },
	"06": func(in formInput) (any, bool) { return controlForm(in) },
}

// formAbsent says, in Vietnamese, why a form does not apply to a dossier.
var formAbsent = map[string]string{
	"01": "hồ sơ không được tiếp nhận (đã hướng dẫn bổ sung hoặc từ chối tiếp nhận) nên không có giấy tiếp nhận",
	"02": "hồ sơ không có yêu cầu bổ sung, hoàn thiện nào",
	"03": "hồ sơ không bị từ chối tiếp nhận hay từ chối giải quyết",
	"04": "hồ sơ không có văn bản xin lỗi, hẹn lại ngày trả kết quả",
	"05": "công dân không yêu cầu dừng giải quyết hồ sơ này",
	"06": "hồ sơ chưa có bước xử lý nào",
}

// bookData is form 07: the dossiers received in a period, one row each.
type bookData struct {
	Number, Title, Commune, Place string
	// From and To are the period (dd/mm/yyyy); FromValue and ToValue the
	// same as the date inputs take them (yyyy-mm-dd).
	From, To, FromValue, ToValue string
	Day, Month, Year             string
	Rows                         []bookRow
	// More: the period holds more dossiers than the book lists at once.
	More   bool
	Errors web.Errors
}

// bookRow is one dossier of the book.
type bookRow struct {
	No                                                        int
	Code, Procedure, Applicant, Contact, Received, Due, State string
	Finished, Returned, Note                                  string
}

// bookRowOf is the row of d.
func bookRowOf(no int, d *dossier.Dossier, zone *time.Location) bookRow {
	a := d.GetApplicant()
	r := bookRow{No: no, Code: d.GetCode(), Procedure: d.GetProcedureName(), Applicant: a.GetFullName(),
		Contact:  strings.Trim(a.GetAddress()+"; "+a.GetPhone(), "; "),
		Received: formTime(d.GetReceivedTime().AsTime(), zone),
		State:    web.Message(web.Vietnamese, "state."+dossier.StateName(d.GetState())),
		Note:     timelinessText[d.GetTimeliness()]}
	due := d.GetDueTime()
	if d.GetAppointmentTime() != nil {
		due = d.GetAppointmentTime()
	}
	if due != nil {
		r.Due = formDate(due.AsTime(), zone)
	}
	if t := d.GetFinishedTime(); t != nil {
		r.Finished = formDate(t.AsTime(), zone)
	}
	if t := d.GetReturnedTime(); t != nil {
		r.Returned = formDate(t.AsTime(), zone)
	}
	return r
}
