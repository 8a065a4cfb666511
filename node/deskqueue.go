package node

import (
	"net/http"
	"slices"
	"strings"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// queueSpec is one section of the work queue: its id, title (message key)
// and ListDossiers filter.
type queueSpec struct{ id, title, filter string }

// roleSections orders the work queue's sections so that each role sees
// its own work first (issue 22): a leader the dossiers waiting for
// approval (Decree 118/2025 art. 19), an officer the dossiers assigned to
// them, a clerk the results to hand back and the supplements to take.
func roleSections(role, user string, secs []queueSpec) []queueSpec {
	first := map[string][]string{
		"leader":  {"approval"},
		"officer": {"mine"},
		"clerk":   {"ready", "supplement", "received"},
	}[role]
	if role == "officer" && validFilterName(user) {
		secs = append([]queueSpec{{"mine", "queue.mine", "assignee = " + user + " AND state = IN_PROCESSING"}}, secs...)
	}
	out := make([]queueSpec, 0, len(secs))
	for _, id := range first {
		if i := slices.IndexFunc(secs, func(s queueSpec) bool { return s.id == id }); i >= 0 {
			out = append(out, secs[i])
		}
	}
	for _, s := range secs {
		if !slices.Contains(first, s.id) {
			out = append(out, s)
		}
	}
	return out
}

// validFilterName reports whether a sign-in name can stand in a filter as
// it is (no spaces or operators).
func validFilterName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n=<>&|\"'")
}

// searchLimit is how many dossiers a desk search shows.
const searchLimit = 50

// searchData is the desk search's page.
type searchData struct {
	Query   string
	Rows    []queueRow
	More    bool
	Invalid string
}

// search finds dossiers by the applicant's identity number (12 digits, by
// the node's index) or by name (any part, without diacritics: "ha thi lan"
// finds "Hà Thị Lan"). What it shows is a personal-data read, logged as a
// search (node/access.go).
func (p *pages) search(w http.ResponseWriter, r *http.Request, se Session) {
	lang := web.PickLang(w, r)
	d := &searchData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	render := func(status int) {
		p.pages.Render(w, status, "search", p.page(r.Context(), lang, se, "/ban/tim-kiem", web.Message(lang, "search.title"), d))
	}
	if d.Query == "" {
		render(http.StatusOK)
		return
	}
	if len(d.Query) > 200 || (len([]rune(d.Query)) < 2) {
		d.Invalid = web.Message(lang, "search.invalid")
		render(http.StatusBadRequest)
		return
	}
	now := p.n.now()
	rd := read{kind: dossier.AccessSearch}
	var found []*dossier.Dossier
	if dossier.ValidIDNumber(d.Query) {
		f, err := ParseFilter("applicant_id_number = " + d.Query)
		if err != nil {
			p.fail(w, r, err, "search filter")
			return
		}
		ds, next, err := p.n.store.List(f, searchLimit, "", now)
		if err != nil {
			p.fail(w, r, err, "search")
			return
		}
		found, d.More, rd.filter = ds, next != "", "applicant_id_number = "+d.Query
	} else {
		q := fold(d.Query)
		token := ""
		for {
			ds, next, err := p.n.store.List(Filter{}, 500, token, now)
			if err != nil {
				p.fail(w, r, err, "search")
				return
			}
			for _, x := range ds {
				if strings.Contains(fold(x.GetApplicant().GetFullName()), q) {
					if len(found) == searchLimit {
						d.More = true
						break
					}
					found = append(found, x)
				}
			}
			if next == "" || d.More {
				break
			}
			token = next
		}
		rd.filter = "applicant_name ~ " + d.Query
	}
	for _, x := range found {
		rd.codes = append(rd.codes, x.GetCode())
		t := timesOf(x, now, p.n.Calendar())
		d.Rows = append(d.Rows, queueRow{Code: x.GetCode(), Procedure: x.GetProcedureName(),
			Applicant: x.GetApplicant().GetFullName(), Assignee: x.GetAssignee(), Due: t.Due, Overdue: t.Overdue})
	}
	rd.count = len(found)
	if !p.recordRead(w, r, se, rd) {
		return
	}
	render(http.StatusOK)
}
