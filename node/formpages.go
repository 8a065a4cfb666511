package node

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// formRoutes adds the printed forms of Circular 03/2025/TT-VPCP (see
// forms.go): a dossier's forms 02 to 06 (01 is the receipt) and the
// tracking book (07). Signed-in officials only, as every desk page.
func (p *pages) formRoutes(mux apiserver.Router) {
	mux.HandleFunc("GET /ban/ho-so/{code}/mau/{form}", p.desk(p.dossierForm))
	mux.HandleFunc("GET /ban/so-theo-doi", p.desk(p.book))
}

// formPath is the address of a dossier's form.
func formPath(code, number string) string {
	if number == "01" {
		return "/ban/ho-so/" + url.PathEscape(code) + "/phieu"
	}
	return "/ban/ho-so/" + url.PathEscape(code) + "/mau/" + number
}

// formLink is a dossier page's link to a form that applies.
type formLink struct{ Href, Label string }

// formInput is what the forms of d are filled from: its procedure at the
// version it was received under, the commune, the calendar's zone and the
// officials' full names.
func (p *pages) formInput(d *dossier.Dossier) formInput {
	proc, err := p.n.store.procedureVersion(d.GetProcedureCode(), d.GetProcedureVersion())
	if err != nil {
		proc = nil // the forms name the missing components by the codes the receipt recorded
	}
	return formInput{d: d, proc: proc, commune: p.communeName(), zone: p.n.Calendar().Location(), name: p.fullName}
}

// fullName is an official's full name from the users file, or "" when it
// does not list them.
func (p *pages) fullName(user string) string {
	if u, ok, _ := p.users.lookup(user); ok {
		return u.FullName
	}
	return ""
}

// receiptApplies says whether the desk gave d a receipt: it took the
// dossier, rather than guiding or refusing at reception.
func receiptApplies(d *dossier.Dossier) bool {
	evs := d.GetEvents()
	return len(evs) > 0 && evs[0].GetState() != dossier.Guided && evs[0].GetState() != dossier.RefusedAtReception
}

// formLinks lists the forms that apply to d, the receipt first.
func formLinks(in formInput) []formLink {
	var out []formLink
	if receiptApplies(in.d) {
		out = append(out, formLink{Href: formPath(in.d.GetCode(), "01"), Label: "In giấy tiếp nhận hồ sơ và hẹn trả kết quả"})
	}
	for _, f := range dossierForms {
		if _, ok := formBuilders[f.Number](in); ok {
			out = append(out, formLink{Href: formPath(in.d.GetCode(), f.Number), Label: f.Label})
		}
	}
	return out
}

// notApplicable answers 404 for a form that does not apply to a dossier,
// saying why in Vietnamese.
func notApplicable(w http.ResponseWriter, number, code string) {
	http.Error(w, fmt.Sprintf("Không có mẫu số %s (%s) cho hồ sơ %s: %s.", number, formTitles[number], code, formAbsent[number]), http.StatusNotFound)
}

// dossierForm prints one of a dossier's forms 02 to 06; 01 is the receipt.
func (p *pages) dossierForm(w http.ResponseWriter, r *http.Request, se Session) {
	lang := web.PickLang(w, r)
	code, number := r.PathValue("code"), r.PathValue("form")
	if number == "01" {
		http.Redirect(w, r, formPath(code, "01"), http.StatusSeeOther)
		return
	}
	build, ok := formBuilders[number]
	if !ok {
		http.Error(w, fmt.Sprintf("Không có mẫu số %q: bàn làm việc in các mẫu 01 đến 06 của một hồ sơ và sổ theo dõi (mẫu 07).", number), http.StatusNotFound)
		return
	}
	d, ok := p.readDossier(w, r, code)
	if !ok {
		return
	}
	data, ok := build(p.formInput(d))
	if !ok {
		notApplicable(w, number, d.GetCode())
		return
	}
	if !p.recordRead(w, r, se, read{kind: dossier.AccessReceipt, codes: []string{d.GetCode()}, count: 1}) {
		return
	}
	p.pages.Render(w, http.StatusOK, "form", p.page(r.Context(), lang, se, formPath(code, number), "Mẫu số "+number+" · "+d.GetCode(), data))
}

// bookMax is the most dossiers the tracking book lists at once: as many as
// one access entry names.
const bookMax = dossier.MaxAccessCodes

// book prints the tracking book (form 07): the dossiers received from
// ?tu= to ?den= (days, yyyy-mm-dd; by default this month up to today),
// one row each in the order they were received. It records the dossiers
// it lists as one list read.
func (p *pages) book(w http.ResponseWriter, r *http.Request, se Session) {
	lang := web.PickLang(w, r)
	zone := p.n.Calendar().Location()
	now := p.n.now().In(zone)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, zone)
	data := &bookData{Number: "07", Title: formTitles["07"], Commune: p.communeName(), Place: placeName(p.communeName()),
		Day: fmt.Sprintf("%02d", now.Day()), Month: fmt.Sprintf("%02d", int(now.Month())), Year: fmt.Sprintf("%04d", now.Year())}
	day := func(field string, def time.Time) time.Time {
		s := r.URL.Query().Get(field)
		if s == "" {
			return def
		}
		t, err := time.ParseInLocation(time.DateOnly, s, zone)
		if err != nil {
			data.Errors.Add(field, "Ngày không hợp lệ: chọn ngày, tháng, năm.")
			return def
		}
		return t
	}
	from, to := day("tu", today.AddDate(0, 0, 1-today.Day())), day("den", today)
	if !data.Errors.Any() && to.Before(from) {
		data.Errors.Add("den", "Ngày cuối kỳ phải từ ngày đầu kỳ trở đi.")
	}
	data.FromValue, data.ToValue = from.Format(time.DateOnly), to.Format(time.DateOnly)
	data.From, data.To = formDate(from, zone), formDate(to, zone)
	status := http.StatusOK
	if data.Errors.Any() {
		status = http.StatusBadRequest
	} else {
		filter := fmt.Sprintf("received_time >= %s AND received_time < %s", from.Format(time.RFC3339), to.AddDate(0, 0, 1).Format(time.RFC3339))
		f, err := ParseFilter(filter)
		if err != nil {
			p.fail(w, r, err, "tracking book filter")
			return
		}
		shown := read{kind: dossier.AccessList, filter: filter}
		token := ""
		for {
			ds, next, err := p.n.store.List(f, min(100, bookMax-len(data.Rows)), token, p.n.now())
			if err != nil {
				p.fail(w, r, err, "tracking book")
				return
			}
			for _, d := range ds {
				data.Rows = append(data.Rows, bookRowOf(len(data.Rows)+1, d, zone))
				shown.codes = append(shown.codes, d.GetCode())
			}
			if next == "" {
				break
			}
			if len(data.Rows) >= bookMax {
				data.More = true
				break
			}
			token = next
		}
		if !p.recordRead(w, r, se, shown) {
			return
		}
	}
	path := "/ban/so-theo-doi?tu=" + url.QueryEscape(data.FromValue) + "&den=" + url.QueryEscape(data.ToValue)
	p.pages.Render(w, status, "form", p.page(r.Context(), lang, se, path, "Mẫu số 07 · Sổ theo dõi hồ sơ", data))
}

// dossierMissing names the required components of d's procedure not
// handed in so far, for the dossier page.
func dossierMissing(in formInput) []string {
	return missingComponents(in.d, in.proc, len(in.d.GetEvents())-1)
}
