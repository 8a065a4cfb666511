package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/web"
)

// sessionCookie names the desk's session cookie.
const sessionCookie = "xaso_session"

// deskHandler is a desk page: it gets the signed-in session.
type deskHandler func(w http.ResponseWriter, r *http.Request, se Session)

// deskRoutes adds the clerk's desk: sign-in, the work queue, receiving a
// dossier, its receipt, the dossier page with the actions the user may
// take, and the files.
func (p *pages) deskRoutes(mux apiserver.Router) {
	mux.HandleFunc("GET /dang-nhap", p.signInForm)
	mux.HandleFunc("POST /dang-nhap", p.signIn)
	mux.HandleFunc("POST /dang-xuat", p.signOut)
	mux.HandleFunc("POST /ban/mo-khoa", p.desk(p.unlock))
	mux.HandleFunc("GET /ban", p.desk(p.queue))
	mux.HandleFunc("GET /ban/dong-bo", p.desk(p.syncJSON))
	mux.HandleFunc("GET /ban/tiep-nhan", p.desk(p.receiveForm))
	mux.HandleFunc("POST /ban/tiep-nhan", p.desk(p.receive))
	mux.HandleFunc("GET /ban/ho-so", p.desk(p.openCode))
	mux.HandleFunc("GET /ban/ho-so/{code}", p.desk(p.dossierPage))
	mux.HandleFunc("POST /ban/ho-so/{code}", p.desk(p.act))
	mux.HandleFunc("GET /ban/ho-so/{code}/phieu", p.desk(p.receipt))
	mux.HandleFunc("GET /ban/tep/{sha}", p.desk(p.file))
	mux.HandleFunc("GET /ban/nhat-ky-truy-cap", p.desk(p.accessLog))
	mux.HandleFunc("GET /ban/tim-kiem", p.desk(p.search))
	p.formRoutes(mux)
}

// desk wraps a desk page: it needs a live session of a user the users file
// still lists with the same role (removing a person ends their sessions).
// The page's context carries the official as the principal of the calls
// it makes to the node's service.
func (p *pages) desk(h deskHandler) http.HandlerFunc {
	return web.SignedIn(p.session, func(w http.ResponseWriter, r *http.Request, se Session) {
		h(w, r.WithContext(WithPrincipal(r.Context(), sessionPrincipal(se, web.ClientAddr(r)))), se)
	})
}

// session returns the request's session when it is valid.
func (p *pages) session(r *http.Request) (Session, bool) { return p.auth.session(r) }

func (p *pages) signInForm(w http.ResponseWriter, r *http.Request) {
	lang := web.PickLang(w, r)
	if _, ok := p.session(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d := web.SignInForm{Next: safeNext(r.URL.Query().Get("next"))}
	if p.users.path == "" {
		d.Disabled = "signin.nousers"
	}
	p.pages.Render(w, http.StatusOK, "signin", web.Page{Lang: lang, Title: web.Message(lang, "signin.title"), Path: "/dang-nhap", Data: d})
}

func (p *pages) signIn(w http.ResponseWriter, r *http.Request) {
	lang := web.PickLang(w, r)
	if !web.SameOrigin(r) {
		http.Error(w, "forbidden: the form did not come from this node's pages", http.StatusForbidden)
		return
	}
	if !web.ReadSignInForm(w, r) {
		return
	}
	name, pass := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("password")
	d := web.SignInForm{Name: name, Next: safeNext(r.PostFormValue("next"))}
	u, wait, err := p.users.authenticate(name, pass, web.ClientAddr(r), p.n.now)
	if err != nil {
		status := http.StatusUnauthorized
		switch {
		case errors.Is(err, errLocked):
			d.Error, status = "signin.lockout", http.StatusTooManyRequests
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		case errors.Is(err, errBusy):
			d.Error, status = "signin.busy", http.StatusServiceUnavailable
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		case errors.Is(err, errBadPassword):
			d.Error = "signin.bad"
		case errors.Is(err, errNoUsers):
			d.Disabled = "signin.nousers"
		default:
			p.n.log.ErrorContext(r.Context(), "sign-in", "err", err)
			d.Error, status = "signin.broken", http.StatusInternalServerError
		}
		p.pages.Render(w, status, "signin", web.Page{Lang: lang, Title: web.Message(lang, "signin.title"), Path: "/dang-nhap", Data: d})
		return
	}
	token, err := p.n.store.NewSession(u, p.n.now())
	if err != nil {
		p.n.log.ErrorContext(r.Context(), "sign-in", "err", err)
		http.Error(w, "the session cannot be stored now; try again", http.StatusInternalServerError)
		return
	}
	p.n.log.InfoContext(r.Context(), "signed in", "user", u.Name, "role", u.Role)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.n.secure(r)})
	http.Redirect(w, r, safeNext(d.Next), http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on the desk: a local path (see
// web.LocalPath) under /ban, else the work queue.
func safeNext(next string) string {
	next = web.LocalPath(next, "/ban")
	if next == "/ban" || strings.HasPrefix(next, "/ban/") || strings.HasPrefix(next, "/ban?") {
		return next
	}
	return "/ban"
}

// unlock lets a leader lift the sign-in lock of an official of the users
// file (someone kept guessing their password): the lock and its back-off
// are cleared, and for an hour the official's wrong passwords count per
// address, so that whoever keeps guessing stays locked out at theirs.
func (p *pages) unlock(w http.ResponseWriter, r *http.Request, se Session) {
	if se.Role != "leader" {
		http.Error(w, "forbidden: only a leader unlocks an official", http.StatusForbidden)
		return
	}
	if !web.ReadSignInForm(w, r) {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if _, ok, err := p.users.lookup(name); err != nil || !ok {
		http.Error(w, "no official of that name", http.StatusNotFound)
		return
	}
	p.users.limits(p.n.now).Unlock(name)
	p.n.log.InfoContext(r.Context(), "sign-in unlocked", "user", name, "by", se.User)
	http.Redirect(w, r, "/ban", http.StatusSeeOther)
}

func (p *pages) signOut(w http.ResponseWriter, r *http.Request) {
	if !web.SameOrigin(r) {
		http.Error(w, "forbidden: the form did not come from this node's pages", http.StatusForbidden)
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := p.n.store.EndSession(c.Value); err != nil {
			p.n.log.ErrorContext(r.Context(), "sign-out", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.n.secure(r)})
	http.Redirect(w, r, "/dang-nhap", http.StatusSeeOther)
}

// page returns the frame of a desk page: user, navigation, sync indicator.
func (p *pages) page(ctx context.Context, lang web.Lang, se Session, path, title string, data any) web.Page {
	pg := web.Page{Lang: lang, Title: title, Path: path, Data: data,
		User: &web.User{Name: se.User, FullName: cmp.Or(se.FullName, se.User), Role: "role." + strings.ToUpper(se.Role)},
		Sync: p.syncBadge(ctx)}
	for _, l := range []web.Link{{Href: "/ban", Label: "nav.queue"}, {Href: "/ban/tiep-nhan", Label: "nav.receive"}, {Href: "/tra-cuu", Label: "nav.lookup"}} {
		if l.Href == "/ban/tiep-nhan" && se.Role != "clerk" {
			continue // receiving is the clerk's (issue 22: a leader was offered it)
		}
		l.Current = path == l.Href || l.Href != "/ban" && strings.HasPrefix(path, l.Href)
		pg.Nav = append(pg.Nav, l)
	}
	return pg
}

// syncBadge reads the sync indicator.
func (p *pages) syncBadge(ctx context.Context) *web.Sync {
	if len(p.n.cfg.Central) == 0 {
		return &web.Sync{Alone: true}
	}
	// Counters the store keeps in memory: every page shows the badge, so
	// it must not scan the outbox as the full sync status does.
	last, acked := p.n.store.OutboxHead()
	st, _ := p.n.SyncStatus()
	sync := &web.Sync{Connected: st.Connected, PendingEvents: last - acked, PendingFiles: p.n.store.PendingUploadCount(),
		LastContact: p.n.store.LastContact()}
	if st.Blocked != nil {
		sync.Blocked = st.Blocked.Sequence
	}
	return sync
}

// syncJSON serves the sync indicator to the desk's script, which refreshes
// it without reloading the page.
func (p *pages) syncJSON(w http.ResponseWriter, r *http.Request, _ Session) {
	lang := web.PickLang(w, r)
	s := p.syncBadge(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]string{"text": s.Label(lang), "class": "sync " + s.Class()})
}

// queueRow is one dossier of the work queue.
type queueRow struct {
	Code, Procedure, Applicant, Assignee string
	Due                                  time.Time
	Overdue                              bool
}

type queueSection struct {
	ID, Title string
	Dossiers  []queueRow
	More      bool
}

// lockedOfficial is an official whose sign-in is locked, as a leader's
// work queue lists them with a button to unlock.
type lockedOfficial struct {
	Name, FullName string
	Until          time.Time
}

// lockedOfficials lists the officials of the users file whose sign-in is
// locked now, by name.
func (p *pages) lockedOfficials() []lockedOfficial {
	list, err := p.users.current()
	if err != nil {
		return nil
	}
	var out []lockedOfficial
	lim := p.users.limits(p.n.now)
	for name, u := range list {
		if until, ok := lim.Locked(name); ok {
			out = append(out, lockedOfficial{Name: name, FullName: u.FullName, Until: until})
		}
	}
	slices.SortFunc(out, func(a, b lockedOfficial) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// queueSize is how many dossiers a work queue section shows.
const queueSize = 50

// queue is the work queue: overdue, due today, waiting for supplements,
// waiting for approval, results to hand back, newly received. It records
// the applicants it shows as one list read.
func (p *pages) queue(w http.ResponseWriter, r *http.Request, se Session) {
	lang := web.PickLang(w, r)
	now := p.n.now()
	cal := p.n.Calendar()
	y, m, dd := now.In(cal.Location()).Date()
	start := time.Date(y, m, dd, 0, 0, 0, 0, cal.Location())
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	sections := []queueSpec{
		{"overdue", "queue.overdue", "overdue = true"},
		{"today", "queue.today", fmt.Sprintf("due_time >= %s AND due_time < %s", stamp(now), stamp(start.AddDate(0, 0, 1)))},
		{"supplement", "queue.supplement", "state = AWAITING_SUPPLEMENT"},
		{"approval", "queue.approval", "state = AWAITING_APPROVAL"},
		{"ready", "queue.ready", "state = RESULT_READY"},
		{"received", "queue.received", "state = RECEIVED"},
	}
	var data struct {
		Sections []queueSection
		// Locked: the officials a leader may unlock (a leader's queue only).
		Locked []lockedOfficial
		// AccessLog: a link to the access log (a leader's queue only).
		AccessLog bool
		// Online: the online filings waiting for acceptance (online.go).
		Online []onlineRow
		// CanReceive: the receive button (a clerk's queue only).
		CanReceive bool
	}
	if se.Role == "leader" {
		data.Locked = p.lockedOfficials()
		data.AccessLog = true
	}
	online, err := p.onlineRows(cal, now)
	if err != nil {
		p.fail(w, r, err, "online filings")
		return
	}
	data.Online = online
	shown := read{kind: dossier.AccessList}
	var filters []string
	data.CanReceive = se.Role == "clerk"
	for _, s := range roleSections(se.Role, se.User, sections) {
		f, err := ParseFilter(s.filter)
		if err != nil {
			p.fail(w, r, err, "work queue filter")
			return
		}
		ds, next, err := p.n.store.List(f, queueSize, "", now)
		if err != nil {
			p.fail(w, r, err, "work queue")
			return
		}
		sec := queueSection{ID: s.id, Title: s.title, More: next != ""}
		filters = append(filters, s.filter)
		for _, d := range ds {
			shown.codes = append(shown.codes, d.GetCode())
			t := timesOf(d, now, p.n.Calendar())
			sec.Dossiers = append(sec.Dossiers, queueRow{Code: d.GetCode(), Procedure: d.GetProcedureName(),
				Applicant: d.GetApplicant().GetFullName(), Assignee: d.GetAssignee(), Due: t.Due, Overdue: t.Overdue})
		}
		data.Sections = append(data.Sections, sec)
	}
	// The queue shows its sections' applicants: one list read of the
	// dossiers it shows (each once, though a dossier may be in two
	// sections), the sections' filters joined.
	shown.filter = strings.Join(filters, " | ")
	if !p.recordRead(w, r, se, shown) {
		return
	}
	p.pages.Render(w, http.StatusOK, "queue", p.page(r.Context(), lang, se, "/ban", web.Message(lang, "queue.title"), &data))
}

// fail answers a desk page whose data cannot be read.
func (p *pages) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	p.n.log.ErrorContext(r.Context(), what, "err", err)
	http.Error(w, what+": cannot be read now; try again", http.StatusInternalServerError)
}

// openCode goes to the dossier a code names (the queue's look-up box).
func (p *pages) openCode(w http.ResponseWriter, r *http.Request, _ Session) {
	http.Redirect(w, r, "/ban/ho-so/"+url.PathEscape(strings.TrimSpace(r.URL.Query().Get("code"))), http.StatusSeeOther)
}

// receiveForm values, shown again when the form has errors.
type receiveValues struct {
	FullName, IDNumber, Phone, Email, Address, Channel, Reason string
}

type receiveData struct {
	Query     string
	Matches   []*xasov1.Procedure
	Procedure *xasov1.Procedure
	RequestID string
	Form      receiveValues
	Paper     map[string]bool
	Errors    web.Errors
}

// receiveFields are the API fields the receive form shows errors next to.
var receiveFields = []string{"applicant.full_name", "applicant.id_number", "applicant.phone", "applicant.email", "applicant.address", "components", "channel", "reason"}

// receiveForm is the first step of receiving: pick the procedure (search by
// name, code or field), then its checklist and the applicant's details.
func (p *pages) receiveForm(w http.ResponseWriter, r *http.Request, se Session) {
	lang := web.PickLang(w, r)
	d := &receiveData{Query: strings.TrimSpace(r.URL.Query().Get("q")), Paper: map[string]bool{}, Form: receiveValues{Channel: "IN_PERSON"}}
	if code := r.URL.Query().Get("procedure"); code != "" {
		proc, err := p.n.store.Procedure(code)
		if err == nil {
			d.Procedure = proc
			d.RequestID = newRequestID()
			// Nothing ticked in advance (issue 22): the clerk ticks each
			// paper copy the applicant has actually handed over.
		} else if !errors.Is(err, ErrNotFound) {
			p.fail(w, r, err, "procedure")
			return
		}
	}
	if d.Procedure == nil {
		procs, err := p.n.store.Procedures("", d.Query)
		if err != nil {
			p.fail(w, r, err, "procedures")
			return
		}
		d.Matches = procs
	}
	p.pages.Render(w, http.StatusOK, "receive", p.page(r.Context(), lang, se, "/ban/tiep-nhan", web.Message(lang, "receive.title"), d))
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// receive takes the form in: it checks the dossier first (so that a form
// with errors stores no file), then stores the scans, then receives it.
func (p *pages) receive(w http.ResponseWriter, r *http.Request, se Session) {
	lang := web.PickLang(w, r)
	if !parseForm(w, r, p.n.cfg.MaxAttachmentBytes*8) {
		return
	}
	defer r.MultipartForm.RemoveAll()
	proc, err := p.n.store.Procedure(r.FormValue("procedure"))
	if err != nil {
		http.Redirect(w, r, "/ban/tiep-nhan", http.StatusSeeOther)
		return
	}
	d := &receiveData{Procedure: proc, RequestID: r.FormValue("request_id"), Paper: map[string]bool{},
		Form: receiveValues{FullName: strings.TrimSpace(r.FormValue("full_name")), IDNumber: strings.TrimSpace(r.FormValue("id_number")),
			Phone: strings.TrimSpace(r.FormValue("phone")), Email: strings.TrimSpace(r.FormValue("email")),
			Address: strings.TrimSpace(r.FormValue("address")), Channel: r.FormValue("channel"), Reason: strings.TrimSpace(r.FormValue("reason"))}}
	// The guidance or refusal at reception (Decree 118/2025 art. 17(1)(c)):
	// the buttons name the state the dossier is recorded in.
	var outcome dossier.State
	switch o := r.FormValue("outcome"); o {
	case "GUIDED", "REFUSED_AT_RECEPTION":
		outcome = dossier.State(xasov1.State_value["STATE_"+o])
	default:
		d.Form.Reason = "" // taken in: the reason box was for the other buttons
	}
	for _, c := range r.MultipartForm.Value["paper"] {
		d.Paper[c] = true
	}
	again := func(status int) {
		p.pages.Render(w, status, "receive", p.page(r.Context(), lang, se, "/ban/tiep-nhan", web.Message(lang, "receive.title"), d))
	}
	applicant := &xasov1.Applicant{FullName: d.Form.FullName, IdNumber: d.Form.IDNumber, Phone: d.Form.Phone, Email: d.Form.Email, Address: d.Form.Address}
	channel := xasov1.Channel(xasov1.Channel_value["CHANNEL_"+d.Form.Channel])
	// What is handed in: paper ticked, or scans chosen (a placeholder hash
	// until the files are stored).
	var comps []*xasov1.SubmittedComponent
	files := map[string][]*multipart.FileHeader{}
	for _, c := range proc.GetComponents() {
		fs := r.MultipartForm.File["scan-"+c.GetCode()]
		files[c.GetCode()] = fs
		if !d.Paper[c.GetCode()] && len(fs) == 0 {
			continue
		}
		sc := &xasov1.SubmittedComponent{Code: c.GetCode(), Paper: d.Paper[c.GetCode()]}
		for range fs {
			sc.AttachmentSha256 = append(sc.AttachmentSha256, strings.Repeat("0", 64))
		}
		comps = append(comps, sc)
	}
	if _, err := dossier.ReceiveEvent(dossier.ReceiveInput{Procedure: proc, Applicant: applicant, Channel: channel,
		Components: comps, Actor: se.User, Role: roleOf(se), Time: p.n.now(), Outcome: outcome, Reason: d.Form.Reason}, p.n.Calendar()); err != nil {
		var v dossier.Violations
		if !errors.As(err, &v) {
			p.fail(w, r, err, "check dossier")
			return
		}
		d.Errors = web.LocalErrors(lang, grpcerr.BadRequest(v), receiveFields...)
		again(http.StatusBadRequest)
		return
	}
	var atts []*xasov1.AttachmentRef
	for _, sc := range comps {
		sc.AttachmentSha256 = nil
		for _, fh := range files[sc.GetCode()] {
			ref, err := p.storeUpload(r.Context(), fh)
			if err != nil {
				d.Errors = uploadErrors(lang, "scan-"+sc.GetCode(), fh.Filename, err)
				again(http.StatusBadRequest)
				return
			}
			ref.ComponentCode = sc.GetCode()
			sc.AttachmentSha256 = append(sc.AttachmentSha256, ref.GetSha256())
			atts = append(atts, ref)
		}
	}
	res, err := p.n.svc.CreateDossier(r.Context(), &xasov1.CreateDossierRequest{
		RequestId: d.RequestID, ProcedureCode: proc.GetCode(), Applicant: applicant, Channel: channel,
		Components: comps, Attachments: atts, Outcome: outcome, Reason: d.Form.Reason,
	})
	if err != nil {
		d.Errors = web.LocalErrors(lang, err, receiveFields...)
		again(httpStatus(err))
		return
	}
	if outcome != dossier.StateUnspecified {
		// No receipt: the dossier page shows the guidance or the refusal.
		http.Redirect(w, r, "/ban/ho-so/"+res.GetDossier().GetCode(), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/ban/ho-so/"+res.GetDossier().GetCode()+"/phieu", http.StatusSeeOther)
}

// parseForm reads a form with files of at most limit bytes in all,
// answering the request itself when it cannot.
func parseForm(w http.ResponseWriter, r *http.Request, limit int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := r.ParseMultipartForm(8 << 20)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("the form is over %s; send fewer or smaller files at once", web.ByteSize(limit)), http.StatusRequestEntityTooLarge)
	case err != nil:
		http.Error(w, "the form cannot be read: "+err.Error(), http.StatusBadRequest)
	}
	return err == nil
}

// storeUpload stores one uploaded file through the API's checks.
func (p *pages) storeUpload(ctx context.Context, fh *multipart.FileHeader) (*xasov1.AttachmentRef, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, p.n.cfg.MaxAttachmentBytes+1))
	if err != nil {
		return nil, err
	}
	res, err := p.n.svc.CreateAttachment(ctx, &xasov1.CreateAttachmentRequest{Filename: fh.Filename, ContentType: fh.Header.Get("Content-Type"), Content: content})
	if err != nil {
		return nil, err
	}
	return res.GetAttachment(), nil
}

// uploadErrors shows what the API found wrong with an uploaded file next
// to the form's file field.
func uploadErrors(lang web.Lang, field, filename string, err error) web.Errors {
	e := web.LocalErrors(lang, err, "content", "content_type", "filename")
	out := web.Errors{Other: e.Other}
	var msgs []string
	for _, f := range []string{"content", "content_type", "filename"} {
		if m := e.Field(f); m != "" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) > 0 {
		out.Add(field, filename+": "+strings.Join(msgs, "; "))
	}
	return out
}

// dossierView is a dossier as the desk shows it.
type dossierView struct {
	Code, Procedure, State, Applicant, Phone, Address, Assignee, Channel string
	Received                                                             time.Time
	times
	Events int64
	Files  []fileView
	// Rating is the satisfaction level the dossier counts at (the
	// citizen's overall one, or a clerk's at return before), e.g.
	// "SATISFIED"; empty when unrated.
	Rating string
}

type fileView struct {
	Sha256, Name, Kind string
	Size               int64
}

type eventView struct {
	Time                                  time.Time
	Action, Actor, Role, Reason, Assignee string
}

// actionForm is one action the user may take, with what it asks for.
type actionForm struct {
	Name                                         string
	Reason, Assignee, Appointment, Commune, File bool
	// Danger: the action is destructive (desklists.go), styled as such
	// and sent only with its confirm box ticked.
	Danger bool
	// People are the users the action may hand the dossier to.
	People []personView
}

type dossierData struct {
	Dossier dossierView
	Events  []eventView
	Actions []actionForm
	// Communes are the registered communes a transfer may go to;
	// CommunesKnown says central has sent the registry (else the code is
	// typed, and checked when central has sent it).
	Communes      []communeView
	CommunesKnown bool
	// Failed is the action whose form has errors; Done the message key
	// of what was just done.
	Failed, Done string
	Errors       web.Errors
	// Forms are the printed forms that apply (forms.go); Missing the
	// procedure's required components not handed in.
	Forms   []formLink
	Missing []string
	// Rate: the clerk may open the desk device's rating page for it.
	Rate bool
}

// actionFields are the API fields the action forms show errors next to.
var actionFields = []string{"assignee", "reason", "appointment_time", "transfer_commune_code", "file"}

func (p *pages) dossierPage(w http.ResponseWriter, r *http.Request, se Session) {
	p.showDossier(w, r, se, http.StatusOK, &dossierData{Done: doneKey(r.URL.Query().Get("done"))})
}

// doneKey is the message of an action just done, from the redirect after it.
func doneKey(action string) string {
	if _, ok := xasov1.Action_value["ACTION_"+action]; ok {
		return "done." + action
	}
	return ""
}

func (p *pages) showDossier(w http.ResponseWriter, r *http.Request, se Session, status int, data *dossierData) {
	lang := web.PickLang(w, r)
	code := r.PathValue("code")
	d, ok := p.readDossier(w, r, code)
	if !ok || !p.recordRead(w, r, se, read{kind: dossier.AccessRead, codes: []string{d.GetCode()}, count: 1}) {
		return
	}
	v := dossierView{Code: d.GetCode(), Procedure: d.GetProcedureName(), State: dossier.StateName(d.GetState()),
		Applicant: d.GetApplicant().GetFullName(), Phone: d.GetApplicant().GetPhone(), Address: d.GetApplicant().GetAddress(),
		Assignee: d.GetAssignee(), Channel: strings.TrimPrefix(d.GetChannel().String(), "CHANNEL_"),
		Received: d.GetReceivedTime().AsTime(), Events: d.GetEventCount(), times: timesOf(d, p.n.now(), p.n.Calendar())}
	for _, a := range d.GetAttachments() {
		kind := a.GetComponentCode()
		if a.GetResult() {
			kind = web.Message(lang, "dossier.result")
		}
		v.Files = append(v.Files, fileView{Sha256: a.GetSha256(), Name: a.GetFilename(), Kind: kind, Size: a.GetSizeBytes()})
	}
	data.Dossier = v
	in := p.formInput(d)
	data.Forms, data.Missing = formLinks(in), dossierMissing(in)
	for _, ev := range d.GetEvents() {
		data.Events = append(data.Events, eventView{Time: ev.GetTime().AsTime(), Action: dossier.ActionName(ev.GetAction()),
			Actor: ev.GetActor(), Role: dossier.RoleName(ev.GetRole()), Reason: ev.GetReason(), Assignee: ev.GetAssignee()})
	}
	us, err := p.users.current()
	if err != nil {
		p.n.log.Warn("desk: no users to offer as assignees", "err", err)
	}
	for _, a := range dossier.AllowedAt(d, roleOf(se), p.n.now()) {
		reason, assignee := dossier.Needs(a)
		f := actionForm{Name: dossier.ActionName(a), Reason: reason, Assignee: assignee,
			Appointment: a == dossier.Apologize, Commune: a == dossier.Transfer, File: a == dossier.Approve, Danger: destructive(a)}
		if assignee {
			f.People = peopleFor(us, a)
		}
		if f.Commune && !data.CommunesKnown {
			cs, err := p.n.store.Communes()
			if err != nil {
				p.fail(w, r, err, "communes")
				return
			}
			data.Communes, data.CommunesKnown = transferTargets(cs, p.n.cfg.Commune), len(cs) > 0
		}
		data.Actions = append(data.Actions, f)
	}
	data.Rate = roleOf(se) == dossier.Clerk && dossier.Rateable(d) == nil
	level := d.GetSatisfaction()
	if r := d.GetRating(); r != nil {
		level = dossier.OverallLevel(r)
	}
	if level != 0 {
		data.Dossier.Rating = strings.TrimPrefix(level.String(), "SATISFACTION_")
	}
	p.pages.Render(w, status, "dossier", p.page(r.Context(), lang, se, "/ban/ho-so/"+url.PathEscape(code), d.GetCode(), data))
}

func roleOf(se Session) dossier.Role { return User{Role: se.Role}.role() }

// readDossier reads a dossier for a desk page, answering the request
// itself when it cannot.
func (p *pages) readDossier(w http.ResponseWriter, r *http.Request, code string) (*dossier.Dossier, bool) {
	if _, err := dossier.ParseCode(code); err != nil {
		p.notice(w, r, http.StatusBadRequest, noticeData{Title: "notice.badcode.title", Message: "notice.badcode", Subject: code})
		return nil, false
	}
	d, err := p.n.store.Get(code, true)
	switch {
	case errors.Is(err, ErrNotFound):
		p.notice(w, r, http.StatusNotFound, noticeData{Title: "notice.nodossier.title", Message: "notice.nodossier", Subject: code})
		return nil, false
	case err != nil:
		p.fail(w, r, err, "dossier")
		return nil, false
	}
	return d, true
}

// act takes one workflow action from the dossier page.
func (p *pages) act(w http.ResponseWriter, r *http.Request, se Session) {
	code := r.PathValue("code")
	if !parseForm(w, r, p.n.cfg.MaxAttachmentBytes*2) {
		return
	}
	defer r.MultipartForm.RemoveAll()
	name := r.FormValue("action")
	action := xasov1.Action(xasov1.Action_value["ACTION_"+name])
	data := &dossierData{Failed: name}
	expected, _ := strconv.ParseInt(r.FormValue("expected_event_count"), 10, 64)
	req := &xasov1.TransitionDossierRequest{Code: code, Action: action,
		Reason: strings.TrimSpace(r.FormValue("reason")), Assignee: strings.TrimSpace(r.FormValue("assignee")),
		TransferCommuneCode: strings.TrimSpace(r.FormValue("transfer_commune_code")), ExpectedEventCount: expected}
	if destructive(action) && r.FormValue("confirm") != "yes" {
		data.Errors.Add("confirm", web.Message(web.PickLang(w, r), "dossier.confirm.missing"))
		p.showDossier(w, r, se, http.StatusBadRequest, data)
		return
	}
	if s := r.FormValue("appointment"); s != "" {
		day, err := time.ParseInLocation(time.DateOnly, s, p.n.Calendar().Location())
		if err != nil {
			data.Errors.Add("appointment_time", web.Message(web.PickLang(w, r), "dossier.appointment.invalid"))
			p.showDossier(w, r, se, http.StatusBadRequest, data)
			return
		}
		// The new appointment is the end of that working day.
		req.AppointmentTime = timestamppb.New(p.n.Calendar().Due(day, 0))
	}
	if fhs := r.MultipartForm.File["file"]; len(fhs) > 0 {
		ref, err := p.storeUpload(r.Context(), fhs[0])
		if err != nil {
			data.Errors = uploadErrors(web.PickLang(w, r), "file", fhs[0].Filename, err)
			p.showDossier(w, r, se, http.StatusBadRequest, data)
			return
		}
		ref.Result = action == dossier.Approve // the one form with a file: the signed result
		req.Attachments = append(req.Attachments, ref)
	}
	if _, err := p.n.svc.TransitionDossier(r.Context(), req); err != nil {
		data.Errors = web.LocalErrors(web.PickLang(w, r), err, actionFields...)
		p.showDossier(w, r, se, httpStatus(err), data)
		return
	}
	http.Redirect(w, r, "/ban/ho-so/"+url.PathEscape(code)+"?done="+name, http.StatusSeeOther)
}

// receiptData is the content of the official receipt form (Giấy tiếp nhận
// hồ sơ và hẹn trả kết quả).
type receiptData struct {
	Code, CommuneName, Applicant, Address, Phone, Email, Procedure, Clerk string
	Received, Due, LookupURL, LookupCheck                                 string
	Day, Month, Year                                                      int
	// Days is the processing time in working days (0 for a time in hours
	// or the same day: show Time).
	Days int
	// Time is the processing time as the law states it: "trong ngày",
	// "05 ngày làm việc" or "08 giờ làm việc".
	Time string
	// LegalDue, after an apology, is the due time the law set, shown as
	// such beside the new appointment (Due).
	LegalDue string
	// ProvisionalYear, when not 0, is the year whose days off Due rests
	// on and which is not published yet.
	ProvisionalYear int
	// Place is where the receipt is dated (the commune's name without
	// its kind).
	Place      string
	Components []receiptComponent
	// Fee is the dossier's fee and how to pay it; nil without a fee.
	Fee *feeView
}

type receiptComponent struct{ Name, How string }

// receipt is the receipt and appointment, to print: the official form's
// content, in Vietnamese whatever the page language, with the code and a
// QR code of the citizen's look-up address.
func (p *pages) receipt(w http.ResponseWriter, r *http.Request, se Session) {
	lang := web.PickLang(w, r)
	code := r.PathValue("code")
	d, ok := p.readDossier(w, r, code)
	if !ok {
		return
	}
	if !receiptApplies(d) {
		notApplicable(w, "01", d.GetCode())
		return
	}
	if !p.recordRead(w, r, se, read{kind: dossier.AccessReceipt, codes: []string{d.GetCode()}, count: 1}) {
		return
	}
	zone := p.n.Calendar().Location()
	rec := d.GetReceivedTime().AsTime().In(zone)
	clock := func(t time.Time) string {
		t = t.In(zone)
		return fmt.Sprintf("%02d giờ %02d phút, ngày %02d/%02d/%d", t.Hour(), t.Minute(), t.Day(), int(t.Month()), t.Year())
	}
	data := receiptData{Code: d.GetCode(), CommuneName: p.communeName(), Applicant: d.GetApplicant().GetFullName(),
		Address: d.GetApplicant().GetAddress(), Phone: d.GetApplicant().GetPhone(), Email: d.GetApplicant().GetEmail(),
		Procedure: d.GetProcedureName(), Received: clock(rec), Day: rec.Day(), Month: int(rec.Month()), Year: rec.Year(),
		Days: int(d.GetProcessingDays()), Time: dossier.DossierProcessingTime(d).Text(), Place: placeName(p.communeName()), LookupURL: p.lookupURL(r, d.GetCode()), LookupCheck: p.n.store.LookupCheck(d.GetCode())}
	if len(d.GetEvents()) > 0 {
		data.Clerk = d.GetEvents()[0].GetActor()
		if u, ok, _ := p.users.lookup(data.Clerk); ok && u.FullName != "" {
			data.Clerk = u.FullName
		}
		if due := d.GetEvents()[0].GetDueTime(); due != nil {
			data.Due = clock(due.AsTime()) // the appointment given at the desk
		}
	}
	// A reprint shows the appointment in force: the due time moved by a
	// supplement or a published calendar, or the new date of an apology
	// with the legal due time beside it.
	if due := d.GetDueTime(); due != nil && dossier.IsOpen(d.GetState()) {
		data.Due = clock(due.AsTime())
	}
	if a := d.GetAppointmentTime(); a != nil {
		if due := d.GetDueTime(); due != nil {
			data.LegalDue = clock(due.AsTime())
		}
		data.Due = clock(a.AsTime())
	}
	if dossier.IsOpen(d.GetState()) {
		data.ProvisionalYear = dossier.ProvisionalYear(d, p.n.Calendar())
	}
	data.Fee = p.n.feeOf(d)
	proc, _ := p.n.store.procedureVersion(d.GetProcedureCode(), d.GetProcedureVersion())
	names := map[string]string{}
	for _, c := range proc.GetComponents() {
		names[c.GetCode()] = c.GetName()
	}
	for _, c := range d.GetComponents() {
		var how []string
		if c.GetPaper() {
			how = append(how, "bản giấy")
		}
		if n := len(c.GetAttachmentSha256()); n > 0 {
			how = append(how, fmt.Sprintf("%d bản điện tử", n))
		}
		data.Components = append(data.Components, receiptComponent{Name: cmp.Or(names[c.GetCode()], c.GetCode()), How: strings.Join(how, ", ")})
	}
	p.pages.Render(w, http.StatusOK, "receipt", p.page(r.Context(), lang, se, "/ban/ho-so/"+url.PathEscape(code)+"/phieu", "Giấy tiếp nhận "+d.GetCode(), data))
}

// communeName is the commune's name as configured, else its code.
func (p *pages) communeName() string {
	if p.n.cfg.CommuneName != "" {
		return p.n.cfg.CommuneName
	}
	return "xã " + p.n.cfg.Commune
}

// lookupURL is the citizen's look-up address of a dossier: the configured
// public address, else the one the clerk reached the node at.
func (p *pages) lookupURL(r *http.Request, code string) string {
	base := strings.TrimSuffix(p.n.cfg.PublicURL, "/")
	if base == "" {
		scheme := "http"
		if p.n.secure(r) {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return base + lookupPath(code, p.n.store.LookupCheck(code))
}

// file serves a dossier's file to a signed-in user, and records the
// download.
func (p *pages) file(w http.ResponseWriter, r *http.Request, se Session) {
	sha := r.PathValue("sha")
	if !dossier.ValidSHA256(sha) {
		http.Error(w, "not a file hash", http.StatusBadRequest)
		return
	}
	ref, content, err := p.n.store.Attachment(sha)
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, "no such file on this node", http.StatusNotFound)
		return
	case err != nil:
		p.fail(w, r, err, "file")
		return
	}
	if !p.recordRead(w, r, se, read{kind: dossier.AccessDownload, sha256: sha}) {
		return
	}
	w.Header().Set("Content-Type", ref.GetContentType())
	// FormatMediaType encodes a Vietnamese file name as RFC 2231 asks.
	w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": ref.GetFilename()}))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(content)
}

// httpStatus is the HTTP status of an API error, as the REST gateway
// answers it.
func httpStatus(err error) int {
	return runtime.HTTPStatusFromCode(status.Code(err))
}
