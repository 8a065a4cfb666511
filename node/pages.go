package node

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/xaso/xaso/apiserver"
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
	// Fee is the fee of an open dossier and how to pay it, as the receipt
	// shows it; nil without a fee or once the dossier is closed.
	Fee *feeView
}

// times are a dossier's dates as the pages show them.
type times struct {
	// Due is the appointment: the due time, or the new date an apology set.
	Due, Finished, Returned time.Time
	// LegalDue is, once an apology set a new date, the due time the law
	// sets: the one timeliness is judged against.
	LegalDue   time.Time
	Timeliness string // a message key, or empty
	Overdue    bool
	// ProvisionalYear, when not 0, is a year whose days off the due date
	// rests on and the government has not published yet.
	ProvisionalYear int
}

// timesOf reads a dossier's dates at now, on the calendar in force.
func timesOf(d *dossier.Dossier, now time.Time, cal *dossier.Calendar) times {
	var t times
	if d.GetDueTime() != nil {
		t.Due = d.GetDueTime().AsTime()
		t.Overdue = clockRuns(d) && t.Due.Before(now)
	}
	if d.GetAppointmentTime() != nil {
		t.LegalDue, t.Due = t.Due, d.GetAppointmentTime().AsTime()
	}
	if dossier.IsOpen(d.GetState()) {
		t.ProvisionalYear = dossier.ProvisionalYear(d, cal)
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

// lookupData is the look-up page's data: the code and check value asked
// for, the message key of what is wrong with them, and the dossier found
// (Exists alone when the check value was not given or is wrong).
type lookupData struct {
	Code, Check, Error string
	Exists             bool
	Dossier            *lookupView
	// Rating is the citizen's rating form, with the dossier.
	Rating *ratingData
}

// pages serves the node's web pages.
type pages struct {
	n       *Node
	pages   *web.Pages
	users   *users
	auth    *authenticator
	lookups lookupLimiter
}

// lookupLimiter bounds the citizen's look-ups per client address: at most
// lookupsPerMinute a minute, counted in one-minute windows. It keeps its
// counts in memory (a restart clears them).
type lookupLimiter struct {
	mu      sync.Mutex
	windows map[string]*lookupWindow
}

type lookupWindow struct {
	start time.Time
	n     int
}

// lookupsPerMinute is how many look-ups one address may make a minute: a
// family checking its dossiers makes a few; walking codes takes thousands.
const lookupsPerMinute = 30

// allow counts one look-up from addr at now and says whether it may go on.
func (l *lookupLimiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.windows == nil {
		l.windows = map[string]*lookupWindow{}
	}
	if len(l.windows) > 10_000 {
		for a, w := range l.windows {
			if now.Sub(w.start) >= time.Minute {
				delete(l.windows, a)
			}
		}
	}
	w := l.windows[addr]
	if w == nil || now.Sub(w.start) >= time.Minute {
		w = &lookupWindow{start: now}
		l.windows[addr] = w
	}
	w.n++
	return w.n <= lookupsPerMinute
}

// allowLookup answers 429 when the client's address has looked up too much.
func (p *pages) allowLookup(w http.ResponseWriter, r *http.Request) bool {
	if p.lookups.allow(web.ClientAddr(r), p.n.now()) {
		return true
	}
	w.Header().Set("Retry-After", "60")
	http.Error(w, web.Message(web.PickLang(w, r), "lookup.toomany"), http.StatusTooManyRequests)
	return false
}

// routes adds the pages to mux.
func (p *pages) routes(mux apiserver.Router) {
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/tra-cuu", http.StatusSeeOther)
	})
	p.deskRoutes(mux)
	mux.HandleFunc("GET /tra-cuu", p.lookupForm)
	mux.HandleFunc("GET /tra-cuu/{code}", p.lookup)
	mux.HandleFunc("POST /tra-cuu/{code}/danh-gia", p.lookupRate)
	p.deviceRoutes(mux)
}

// lookupForm is the citizen's look-up form; with ?code= it goes to that
// dossier's page (the address the receipt's QR code holds).
func (p *pages) lookupForm(w http.ResponseWriter, r *http.Request) {
	lang := web.PickLang(w, r)
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	check := strings.TrimSpace(r.URL.Query().Get("k"))
	if code != "" {
		if _, err := dossier.ParseCode(code); err == nil {
			http.Redirect(w, r, lookupPath(code, check), http.StatusSeeOther)
			return
		}
		p.render(w, http.StatusBadRequest, lang, "/tra-cuu", lookupData{Code: code, Check: check, Error: "lookup.bad"})
		return
	}
	p.render(w, http.StatusOK, lang, "/tra-cuu", lookupData{})
}

// lookupPath is a dossier's look-up address, with its check value when
// there is one.
func lookupPath(code, check string) string {
	path := "/tra-cuu/" + url.PathEscape(code)
	if check != "" {
		path += "?k=" + url.QueryEscape(check)
	}
	return path
}

// lookup shows where a dossier is and by when its result is due, given
// the check value printed on the receipt (in the QR code's address, or
// typed); the code alone says only that the dossier exists. Look-ups are
// limited per address.
func (p *pages) lookup(w http.ResponseWriter, r *http.Request) {
	if !p.allowLookup(w, r) {
		return
	}
	lang := web.PickLang(w, r)
	code := r.PathValue("code")
	check := strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("k")))
	_, data, ok := p.findDossier(w, r, lang, code, check)
	if !ok {
		return
	}
	if data.Rating != nil {
		data.Rating.Thanks = r.URL.Query().Get("danh-gia") == "xong"
	}
	p.render(w, http.StatusOK, lang, "/tra-cuu/"+url.PathEscape(code), data)
}

// findDossier reads the dossier a look-up asks for: with the right check
// value, the page's view of it and its rating form; without, only whether
// it exists. It answers the request itself when there is no such dossier
// (ok false).
func (p *pages) findDossier(w http.ResponseWriter, r *http.Request, lang web.Lang, code, check string) (*dossier.Dossier, lookupData, bool) {
	path := "/tra-cuu/" + url.PathEscape(code)
	if _, err := dossier.ParseCode(code); err != nil {
		p.render(w, http.StatusBadRequest, lang, path, lookupData{Code: code, Error: "lookup.bad"})
		return nil, lookupData{}, false
	}
	d, err := p.n.store.Get(code, true)
	switch {
	case errors.Is(err, ErrNotFound):
		p.render(w, http.StatusNotFound, lang, path, lookupData{Code: code, Error: "lookup.notfound"})
		return nil, lookupData{}, false
	case err != nil:
		p.n.log.ErrorContext(r.Context(), "look-up page", "code", code, "err", err)
		http.Error(w, "the dossier cannot be read now; try again", http.StatusInternalServerError)
		return nil, lookupData{}, false
	}
	if subtle.ConstantTimeCompare([]byte(check), []byte(p.n.store.LookupCheck(code))) != 1 {
		data := lookupData{Code: code, Check: check, Exists: true}
		if check != "" {
			data.Error = "lookup.badcheck"
		}
		return d, data, true
	}
	v := &lookupView{Code: d.GetCode(), Procedure: d.GetProcedureName(), State: dossier.StateName(d.GetState()),
		Received: d.GetReceivedTime().AsTime(), times: timesOf(d, p.n.now(), p.n.Calendar())}
	for _, ev := range d.GetEvents() {
		v.Steps = append(v.Steps, lookupStep{Time: ev.GetTime().AsTime(), Action: dossier.ActionName(ev.GetAction())})
	}
	if dossier.IsOpen(d.GetState()) {
		v.Fee = p.n.feeOf(d)
	}
	return d, lookupData{Code: code, Check: check, Dossier: v, Rating: newRatingData(d, path+"/danh-gia", check, nil)}, true
}

func (p *pages) render(w http.ResponseWriter, status int, lang web.Lang, path string, data lookupData) {
	title := web.Message(lang, "lookup.title")
	if data.Dossier != nil {
		title = data.Dossier.Code
	}
	p.pages.Render(w, status, "lookup", web.Page{Lang: lang, Title: title, Path: path, Data: data})
}
