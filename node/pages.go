package node

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// lookupView is what the citizen's look-up shows of a dossier: no more
// than the receipt does (no applicant, no clerk, no reason).
type lookupView struct {
	Code, Procedure, State string
	Received               time.Time
	times
	Steps []lookupStep
}

// times are a dossier's dates as the pages show them.
type times struct {
	// Due is the appointment: the due time, or the new date an apology set.
	Due, Finished, Returned time.Time
	Timeliness              string // a message key, or empty
	Overdue                 bool
}

// timesOf reads a dossier's dates at now.
func timesOf(d *dossier.Dossier, now time.Time) times {
	var t times
	if d.GetDueTime() != nil {
		t.Due = d.GetDueTime().AsTime()
		t.Overdue = clockRuns(d) && t.Due.Before(now)
	}
	if d.GetAppointmentTime() != nil {
		t.Due = d.GetAppointmentTime().AsTime()
	}
	if d.GetFinishedTime() != nil {
		t.Finished = d.GetFinishedTime().AsTime()
		t.Timeliness = map[dossier.Timeliness]string{dossier.Early: "lookup.early", dossier.OnTime: "lookup.ontime", dossier.Late: "lookup.late"}[d.GetTimeliness()]
	}
	if d.GetReturnedTime() != nil {
		t.Returned = d.GetReturnedTime().AsTime()
	}
	return t
}

type lookupStep struct {
	Time   time.Time
	Action string
}

// lookupData is the look-up page's data: the code asked for, the message
// key of what is wrong with it, and the dossier found.
type lookupData struct {
	Code, Error string
	Dossier     *lookupView
}

// pages serves the node's web pages.
type pages struct {
	n     *Node
	pages *web.Pages
	users *users
}

// routes adds the pages to mux.
func (p *pages) routes(mux *http.ServeMux) {
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/tra-cuu", http.StatusSeeOther)
	})
	p.deskRoutes(mux)
	mux.HandleFunc("GET /tra-cuu", p.lookupForm)
	mux.HandleFunc("GET /tra-cuu/{code}", p.lookup)
}

// lookupForm is the citizen's look-up form; with ?code= it goes to that
// dossier's page (the address the receipt's QR code holds).
func (p *pages) lookupForm(w http.ResponseWriter, r *http.Request) {
	lang := web.PickLang(w, r)
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	if code != "" {
		if _, err := dossier.ParseCode(code); err == nil {
			http.Redirect(w, r, "/tra-cuu/"+url.PathEscape(code), http.StatusSeeOther)
			return
		}
		p.render(w, http.StatusBadRequest, lang, "/tra-cuu", lookupData{Code: code, Error: "lookup.bad"})
		return
	}
	p.render(w, http.StatusOK, lang, "/tra-cuu", lookupData{})
}

// lookup shows where a dossier is and by when its result is due.
func (p *pages) lookup(w http.ResponseWriter, r *http.Request) {
	lang := web.PickLang(w, r)
	code := r.PathValue("code")
	path := "/tra-cuu/" + url.PathEscape(code)
	if _, err := dossier.ParseCode(code); err != nil {
		p.render(w, http.StatusBadRequest, lang, path, lookupData{Code: code, Error: "lookup.bad"})
		return
	}
	d, err := p.n.store.Get(code, true)
	switch {
	case errors.Is(err, ErrNotFound):
		p.render(w, http.StatusNotFound, lang, path, lookupData{Code: code, Error: "lookup.notfound"})
		return
	case err != nil:
		p.n.log.ErrorContext(r.Context(), "look-up page", "code", code, "err", err)
		http.Error(w, "the dossier cannot be read now; try again", http.StatusInternalServerError)
		return
	}
	v := &lookupView{Code: d.GetCode(), Procedure: d.GetProcedureName(), State: dossier.StateName(d.GetState()),
		Received: d.GetReceivedTime().AsTime(), times: timesOf(d, p.n.now())}
	for _, ev := range d.GetEvents() {
		v.Steps = append(v.Steps, lookupStep{Time: ev.GetTime().AsTime(), Action: dossier.ActionName(ev.GetAction())})
	}
	p.render(w, http.StatusOK, lang, path, lookupData{Code: code, Dossier: v})
}

func (p *pages) render(w http.ResponseWriter, status int, lang web.Lang, path string, data lookupData) {
	title := web.Message(lang, "lookup.title")
	if data.Dossier != nil {
		title = data.Dossier.Code
	}
	p.pages.Render(w, status, "lookup", web.Page{Lang: lang, Title: title, Path: path, Data: data})
}
