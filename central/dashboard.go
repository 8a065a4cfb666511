package central

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/web"
)

// sessionCookie holds a dashboard session's id: random, with nothing of
// the token in it. The session is kept in the member's memory (sessions),
// so a member's restart signs everyone out of it.
const sessionCookie = "xaso_session"

// oldTokenCookie is where the dashboard once kept the token itself: sign-in
// and sign-out clear it from the browser.
const oldTokenCookie = "xaso_operator"

// dashboard serves the province dashboard.
type dashboard struct {
	s        *Server
	pages    *web.Pages
	sessions *sessions

	// limiter counts token sign-ins per address before the token is looked
	// up, with a cap on checks at once; in memory, so a member's restart
	// clears it.
	limiterOnce sync.Once
	limiter     *web.SignInLimiter
}

// newDashboard makes the dashboard of s.
func newDashboard(s *Server, pages *web.Pages) *dashboard {
	return &dashboard{s: s, pages: pages, sessions: s.sessions}
}

// limits returns the sign-in limiter, made on first use with the member's
// clock.
func (d *dashboard) limits() *web.SignInLimiter {
	d.limiterOnce.Do(func() {
		lim := web.DefaultSignInLimits
		lim.AccountFailures = 0 // a token names nobody until it is checked
		d.limiter = web.NewSignInLimiter(lim, d.s.now)
	})
	return d.limiter
}

// routes adds the dashboard's pages to mux, each with the access rule of
// what it shows (see Access): a page of personal data needs the records
// role, as the API's methods do.
func (d *dashboard) routes(mux apiserver.Router) {
	mux.Handle("GET /static/", web.Static())
	mux.HandleFunc("GET /dang-nhap", d.signInForm)
	mux.HandleFunc("POST /dang-nhap", d.signIn)
	mux.HandleFunc("POST /dang-xuat", d.signOut)
	mux.HandleFunc("GET /{$}", d.signedIn(AccessRead, d.overview))
	mux.HandleFunc("GET /bao-cao", d.signedIn(AccessRead, d.export))
	mux.HandleFunc("GET /qua-han", d.signedIn(AccessRead, d.overdue))
	mux.HandleFunc("GET /danh-muc", d.signedIn(AccessRead, d.catalogue))
	mux.HandleFunc("GET /danh-muc/{code}", d.signedIn(AccessRead, d.procedure))
	mux.HandleFunc("GET /lich", d.signedIn(AccessRead, d.calendar))
	mux.HandleFunc("GET /ho-so", d.signedIn(AccessPersonalData, d.dossier))
}

// operator is the signed-in operator: the call context carrying the
// session's token (calls through Server.local are checked as the token's),
// and who it is.
type operator struct {
	ctx    context.Context
	caller caller
}

type dashHandler func(w http.ResponseWriter, r *http.Request, op operator)

// signedIn wraps a page that needs a session whose token's role the rule a
// lets in.
func (d *dashboard) signedIn(a Access, h dashHandler) http.HandlerFunc {
	return web.SignedIn(d.operator, func(w http.ResponseWriter, r *http.Request, op operator) {
		if !a.allows(op.caller) {
			lang := web.PickLang(w, r)
			http.Error(w, web.Message(lang, "dash.forbidden")+" ("+op.caller.roleName()+"; "+a.roles()+")", http.StatusForbidden)
			return
		}
		h(w, r, op)
	})
}

// operator finds the request's session and checks its token again: a
// token revoked or expired ends the session at its next request.
func (d *dashboard) operator(r *http.Request) (operator, bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return operator{}, false
	}
	sess, ok := d.sessions.get(ck.Value)
	if !ok {
		return operator{}, false
	}
	who, err := d.s.tokenCaller(sess.secretSum, viaSession, web.ClientAddr(r))
	if err != nil {
		d.sessions.end(ck.Value)
		if status.Code(err) != codes.Unauthenticated {
			d.s.log.Warn("dashboard: check a session's token", "err", err)
		}
		return operator{}, false
	}
	return operator{ctx: withSessionToken(r.Context(), sess.secretSum), caller: who}, true
}

func (d *dashboard) signInForm(w http.ResponseWriter, r *http.Request) {
	lang := web.PickLang(w, r)
	d.pages.Render(w, http.StatusOK, "signin", web.Page{Lang: lang, Site: "site.central", Title: web.Message(lang, "signin.title"), Path: "/dang-nhap",
		Data: web.SignInForm{Token: true, Next: dashboardNext(r.URL.Query().Get("next"))}})
}

// signIn checks an operator token and opens a session for it: the cookie
// holds the session's id, never the token.
func (d *dashboard) signIn(w http.ResponseWriter, r *http.Request) {
	lang := web.PickLang(w, r)
	if !web.SameOrigin(r) {
		http.Error(w, "forbidden: the form did not come from this dashboard", http.StatusForbidden)
		return
	}
	if !web.ReadSignInForm(w, r) {
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := dashboardNext(r.PostFormValue("next"))
	refuse := func(code int, msg string) {
		d.pages.Render(w, code, "signin", web.Page{Lang: lang, Site: "site.central", Title: web.Message(lang, "signin.title"), Path: "/dang-nhap",
			Data: web.SignInForm{Token: true, Next: next, Error: msg}})
	}
	if token == "" || len(token) > 200 {
		refuse(http.StatusUnauthorized, "signin.badtoken")
		return
	}
	a, wait, err := d.limits().Begin("", web.ClientAddr(r))
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		if errors.Is(err, web.ErrSignInLocked) {
			refuse(http.StatusTooManyRequests, "signin.lockout")
		} else {
			refuse(http.StatusServiceUnavailable, "signin.busy")
		}
		return
	}
	// The bootstrap token opens no session: it only makes the first token.
	who, err := d.s.tokenCaller(pki.SecretSum(token), viaSession, web.ClientAddr(r))
	a.Done(err == nil)
	if err != nil {
		code, msg := http.StatusUnauthorized, "signin.badtoken"
		if status.Code(err) != codes.Unauthenticated {
			code, msg = http.StatusInternalServerError, "signin.broken"
		}
		refuse(code, msg)
		return
	}
	id, err := d.sessions.start(who)
	if err != nil {
		d.s.log.Error("dashboard: start a session", "err", err)
		refuse(http.StatusInternalServerError, "signin.broken")
		return
	}
	d.s.log.Info("dashboard sign-in", "token", who.name, "role", who.roleName(), "from", who.addr)
	http.SetCookie(w, &http.Cookie{Name: oldTokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionMaxLife / time.Second), HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// dashboardNext keeps a post-sign-in redirect on the dashboard: a local
// path (see web.LocalPath) that is not the sign-in or sign-out, else the
// front page.
func dashboardNext(next string) string {
	next = web.LocalPath(next, "/")
	if strings.HasPrefix(next, "/dang-") {
		return "/"
	}
	return next
}

func (d *dashboard) signOut(w http.ResponseWriter, r *http.Request) {
	if !web.SameOrigin(r) {
		http.Error(w, "forbidden: the form did not come from this dashboard", http.StatusForbidden)
		return
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		d.sessions.end(ck.Value)
	}
	for _, name := range []string{sessionCookie, oldTokenCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	}
	http.Redirect(w, r, "/dang-nhap", http.StatusSeeOther)
}

// page frames a dashboard page.
func (d *dashboard) page(lang web.Lang, op operator, path, title string, data any) web.Page {
	pg := web.Page{Lang: lang, Site: "site.central", Title: title, Path: path, Data: data,
		User: &web.User{Name: op.caller.name, FullName: op.caller.name, Role: "role." + op.caller.roleName()}}
	links := []web.Link{{Href: "/", Label: "nav.dashboard"}, {Href: "/qua-han", Label: "nav.overdue"},
		{Href: "/danh-muc", Label: "nav.catalogue"}, {Href: "/lich", Label: "nav.calendar"}}
	if AccessPersonalData.allows(op.caller) {
		links = append(links, web.Link{Href: "/ho-so", Label: "nav.dossier"})
	}
	for _, l := range links {
		l.Current = strings.SplitN(path, "?", 2)[0] == l.Href || l.Href != "/" && strings.HasPrefix(path, l.Href)
		pg.Nav = append(pg.Nav, l)
	}
	return pg
}

// fail answers a page whose data cannot be read: the API's status as HTTP.
func (d *dashboard) fail(w http.ResponseWriter, err error, what string) {
	st := status.Convert(err)
	code := http.StatusInternalServerError
	switch st.Code() {
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	case codes.Unavailable:
		code = http.StatusServiceUnavailable
	}
	d.s.log.Warn("dashboard", "what", what, "err", err)
	http.Error(w, what+": "+st.Message(), code)
}

// overviewData is the dashboard's front page.
type overviewData struct {
	Year, PrevYear, NextYear int
	// Focus is the commune or procedure the chart follows; empty: the province.
	Focus       string
	Total       *xasov1.PerformanceRow
	Chart       template.HTML
	Communes    []communeRow
	Procedures  []*xasov1.PerformanceRow
	ExportQuery string
}

type communeRow struct {
	Row         *xasov1.PerformanceRow
	Code, Name  string
	Node        string
	LagEvents   int64
	LastContact time.Time
	Stale       bool
	// Blocked is the record central refused for its content, when the
	// commune's chain is blocked at one.
	Blocked *xasov1.ChainBlock
}

// topProcedures is how many procedures the front page lists.
const topProcedures = 15

// overview: the year's on-time rate and volumes by month (chart), every
// commune with its figures, sync lag and last contact, the busiest
// procedures, and the export of it all.
func (d *dashboard) overview(w http.ResponseWriter, r *http.Request, op operator) {
	lang := web.PickLang(w, r)
	now := d.s.now().In(dossier.Zone)
	year := now.Year()
	if y, err := strconv.Atoi(r.URL.Query().Get("year")); err == nil && y >= 2000 && y <= 2100 {
		year = y
	}
	from, to := fmt.Sprintf("%d-01", year), fmt.Sprintf("%d-12", year)
	report := func(groupBy ...string) ([]*xasov1.PerformanceRow, error) {
		res, err := d.s.local.GetPerformanceReport(op.ctx, &xasov1.GetPerformanceReportRequest{FromMonth: from, ToMonth: to, GroupBy: groupBy})
		return res.GetRows(), err
	}
	// The chart follows one commune or one procedure when asked (the
	// tables' links), else the province.
	chartReq := &xasov1.GetPerformanceReportRequest{FromMonth: from, ToMonth: to, GroupBy: []string{"month"}}
	var focus string
	if c := r.URL.Query().Get("commune"); c != "" {
		chartReq.CommuneCodes, focus = []string{c}, c
	} else if p := r.URL.Query().Get("procedure"); p != "" {
		chartReq.ProcedureCodes, focus = []string{p}, p
	}
	res, err := d.s.local.GetPerformanceReport(op.ctx, chartReq)
	byMonth := res.GetRows()
	if err != nil {
		d.fail(w, err, "report by month")
		return
	}
	// The province's year with its Decision 766 indicators and period
	// view: the cards and the indicator table (indicators.go).
	res, err = d.s.local.GetPerformanceReport(op.ctx, &xasov1.GetPerformanceReportRequest{FromMonth: from, ToMonth: to, Indicators: true})
	total := res.GetRows()
	if err != nil {
		d.fail(w, err, "report")
		return
	}
	byCommune, err := report("commune")
	if err != nil {
		d.fail(w, err, "report by commune")
		return
	}
	byProc, err := report("procedure")
	if err != nil {
		d.fail(w, err, "report by procedure")
		return
	}
	communes, err := d.s.local.ListCommunes(op.ctx, &xasov1.ListCommunesRequest{})
	if err != nil {
		d.fail(w, err, "communes")
		return
	}
	nodes, err := d.s.local.ListNodes(op.ctx, &xasov1.ListNodesRequest{})
	if err != nil {
		d.fail(w, err, "nodes")
		return
	}
	data := &overviewData{Year: year, PrevYear: year - 1, NextYear: year + 1, Focus: focus,
		ExportQuery: url.Values{"from_month": {from}, "to_month": {to}, "group_by": {"commune", "procedure", "month"}}.Encode()}
	if len(total) > 0 {
		data.Total = total[0]
	} else {
		// Nothing received or closed in the year (what a year before carried
		// over into it is not shown then).
		data.Total = &xasov1.PerformanceRow{Counts: &xasov1.Aggregate{}}
		data.Total.Indicators, data.Total.Period = Indicators(data.Total), PeriodView(nil, nil)
	}
	data.Chart = monthChart(lang, year, byMonth)
	rows := map[string]*xasov1.PerformanceRow{}
	for _, r := range byCommune {
		rows[r.GetCommuneCode()] = r
	}
	status := map[string]*xasov1.NodeStatus{}
	for _, n := range nodes.GetNodes() {
		if n.GetNode().GetRevokeTime() == nil {
			status[n.GetNode().GetCommuneCode()] = n
		}
	}
	for _, c := range communes.GetCommunes() {
		cr := communeRow{Code: c.GetCode(), Name: c.GetName(), Row: rows[c.GetCode()]}
		if cr.Row == nil {
			cr.Row = &xasov1.PerformanceRow{Counts: &xasov1.Aggregate{}}
		}
		if n := status[c.GetCode()]; n != nil {
			cr.Node, cr.LagEvents, cr.Blocked = n.GetNode().GetNodeId(), n.GetLagEvents(), n.GetBlocked()
			if n.GetLastContactTime() != nil {
				cr.LastContact = n.GetLastContactTime().AsTime()
				cr.Stale = now.Sub(cr.LastContact) > time.Hour
			}
		}
		data.Communes = append(data.Communes, cr)
	}
	slices.SortStableFunc(byProc, func(a, b *xasov1.PerformanceRow) int {
		return int(b.GetCounts().GetReceived() - a.GetCounts().GetReceived())
	})
	data.Procedures = byProc[:min(len(byProc), topProcedures)]
	d.pages.Render(w, http.StatusOK, "dashboard", d.page(lang, op, fmt.Sprintf("/?year=%d", year), web.Message(lang, "nav.dashboard"), data))
}

// monthChart draws the year's dossiers received per month (bars, left
// scale) and the on-time rate (line, right scale, 0–100 %) as SVG.
func monthChart(lang web.Lang, year int, rows []*xasov1.PerformanceRow) template.HTML {
	const w, h, left, right, top, bottom = 720, 260, 48, 48, 16, 28
	byMonth := map[string]*xasov1.PerformanceRow{}
	var maxN int64 = 1
	for _, r := range rows {
		byMonth[r.GetMonth()] = r
		maxN = max(maxN, r.GetCounts().GetReceived())
	}
	// A round top for the left scale.
	step := int64(1)
	for maxN/step > 10 {
		step *= 10
	}
	maxN = (maxN/step + 1) * step
	maxN = (maxN + 3) / 4 * 4 // four equal steps between the grid lines
	plotW, plotH := float64(w-left-right), float64(h-top-bottom)
	slot := plotW / 12
	var b strings.Builder
	title := web.Message(lang, "chart.title")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title"><title id="chart-title">%s %d</title>`, w, h, template.HTMLEscapeString(title), year)
	for i := 0; i <= 4; i++ {
		y := float64(top) + plotH*float64(i)/4
		fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, left, w-right, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%d</text>`, left-6, y+4, maxN*int64(4-i)/4)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f">%d%%</text>`, w-right+6, y+4, 100*(4-i)/4)
	}
	var line []string
	for m := 1; m <= 12; m++ {
		key := fmt.Sprintf("%d-%02d", year, m)
		r := byMonth[key]
		x := float64(left) + slot*float64(m-1)
		n := r.GetCounts().GetReceived()
		bh := plotH * float64(n) / float64(maxN)
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`, x+slot*0.15, float64(top)+plotH-bh, slot*0.7, bh, key, n)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`, x+slot/2, h-8, m)
		c := r.GetCounts()
		if c.GetFinishedEarly()+c.GetFinishedOnTime()+c.GetFinishedLate() > 0 {
			y := float64(top) + plotH*(1-r.GetOnTimeRate())
			line = append(line, fmt.Sprintf("%.1f,%.1f", x+slot/2, y))
			fmt.Fprintf(&b, `<circle class="dot" cx="%.1f" cy="%.1f" r="3.5"><title>%s: %.0f%%</title></circle>`, x+slot/2, y, key, r.GetOnTimeRate()*100)
		}
	}
	if len(line) > 1 {
		fmt.Fprintf(&b, `<polyline class="line" points="%s"/>`, strings.Join(line, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// export serves the year's report as CSV or XLSX for the signed-in
// operator (the browser cannot add the API's Authorization header).
func (d *dashboard) export(w http.ResponseWriter, r *http.Request, op operator) {
	q := r.URL.Query()
	format := q.Get("format")
	q.Del("format")
	d.s.writeExport(w, op.ctx, q, format)
}

// overdueRow is one dossier past its due time.
type overdueRow struct {
	Code, Commune, Procedure, State string
	Due                             time.Time
	Days                            int
}

// overdueLimit is how many overdue dossiers the page lists, most overdue
// first.
const overdueLimit = 500

func (d *dashboard) overdue(w http.ResponseWriter, r *http.Request, op operator) {
	lang := web.PickLang(w, r)
	now := d.s.now()
	ds, more, err := d.s.fsm.Overdue(now, overdueLimit)
	if err != nil {
		d.fail(w, err, "overdue dossiers")
		return
	}
	names := map[string]string{}
	if cs, err := d.s.fsm.Communes(); err == nil {
		for _, c := range cs {
			names[c.GetCode()] = c.GetName()
		}
	}
	var rows []overdueRow
	for _, x := range ds {
		due := x.GetDueTime().AsTime()
		rows = append(rows, overdueRow{Code: x.GetCode(), Commune: x.GetCommuneCode() + " " + names[x.GetCommuneCode()], Procedure: x.GetProcedureName(),
			State: dossier.StateName(x.GetState()), Due: due, Days: int(now.Sub(due).Hours() / 24)})
	}
	d.pages.Render(w, http.StatusOK, "overdue", d.page(lang, op, "/qua-han", web.Message(lang, "nav.overdue"), map[string]any{"Rows": rows, "More": more,
		"Link": AccessPersonalData.allows(op.caller)}))
}

// Overdue returns the open dossiers whose due time is before asOf, most
// overdue first, at most limit of them, and whether there are more.
func (f *FSM) Overdue(asOf time.Time, limit int) (out []*xasov1.Dossier, more bool, err error) {
	err = f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixDue)})
		defer it.Close()
		end := binary.BigEndian.AppendUint64([]byte(prefixDue), uint64(asOf.Unix()))
		for it.Rewind(); it.Valid() && string(it.Item().Key()) < string(end); it.Next() {
			if len(out) == limit {
				more = true
				return nil
			}
			code := string(it.Item().Key()[len(prefixDue)+8:])
			x := &xasov1.Dossier{}
			item, err := txn.Get([]byte(prefixDossier + code))
			if err != nil {
				return fmt.Errorf("dossier %s of the due index: %w", code, err)
			}
			if err := item.Value(func(v []byte) error { return proto.Unmarshal(v, x) }); err != nil {
				return err
			}
			out = append(out, x)
		}
		return nil
	})
	return out, more, err
}

// change is one catalogue or calendar change from the audit trail.
type change struct {
	Time      time.Time
	Actor     string
	Index     uint64
	Version   int32
	Refused   string
	Procedure *xasov1.Procedure
}

// history returns the audited changes that match.
func (d *dashboard) history(match func(*xasov1.CentralCommand) bool) ([]change, error) {
	recs, err := d.s.fsm.Audit()
	if err != nil {
		return nil, err
	}
	var out []change
	for _, r := range recs {
		c := r.GetCommand()
		if !match(c) {
			continue
		}
		ch := change{Time: c.GetTime().AsTime(), Actor: c.GetActor(), Index: r.GetIndex()}
		if r.GetResult().GetCode() != 0 {
			ch.Refused = r.GetResult().GetMessage()
		}
		if p := c.GetPutProcedure().GetProcedure(); p != nil {
			ch.Procedure = p
			ch.Version = r.GetResult().GetVersion()
		}
		out = append(out, ch)
	}
	slices.Reverse(out) // newest first
	return out, nil
}

func (d *dashboard) catalogue(w http.ResponseWriter, r *http.Request, op operator) {
	lang := web.PickLang(w, r)
	res, err := d.s.local.ListCatalogProcedures(op.ctx, &xasov1.ListCatalogProceduresRequest{})
	if err != nil {
		d.fail(w, err, "catalogue")
		return
	}
	d.pages.Render(w, http.StatusOK, "catalogue", d.page(lang, op, "/danh-muc", web.Message(lang, "nav.catalogue"), map[string]any{"Procedures": res.GetProcedures()}))
}

func (d *dashboard) procedure(w http.ResponseWriter, r *http.Request, op operator) {
	lang := web.PickLang(w, r)
	code := r.PathValue("code")
	res, err := d.s.local.GetCatalogProcedure(op.ctx, &xasov1.GetCatalogProcedureRequest{Code: code})
	if err != nil {
		d.fail(w, err, "procedure")
		return
	}
	changes, err := d.history(func(c *xasov1.CentralCommand) bool { return c.GetPutProcedure().GetProcedure().GetCode() == code })
	if err != nil {
		d.fail(w, err, "procedure history")
		return
	}
	d.pages.Render(w, http.StatusOK, "procedure", d.page(lang, op, "/danh-muc/"+url.PathEscape(code), res.GetProcedure().GetName(),
		map[string]any{"Procedure": res.GetProcedure(), "Changes": changes}))
}

func (d *dashboard) calendar(w http.ResponseWriter, r *http.Request, op operator) {
	lang := web.PickLang(w, r)
	var spec dossier.CalendarSpec
	res, err := d.s.local.GetCalendar(op.ctx, &xasov1.GetCalendarRequest{})
	switch code := status.Code(err); {
	case err == nil:
		cal, err := dossier.ParseCalendar([]byte(res.GetCalendarJson()))
		if err != nil {
			d.fail(w, err, "calendar")
			return
		}
		spec = cal.Spec()
	case code != codes.NotFound && code != codes.FailedPrecondition: // none registered yet: an empty page says so
		d.fail(w, err, "calendar")
		return
	}
	changes, err := d.history(func(c *xasov1.CentralCommand) bool { return c.GetPutCalendar() != nil })
	if err != nil {
		d.fail(w, err, "calendar history")
		return
	}
	d.pages.Render(w, http.StatusOK, "calendar", d.page(lang, op, "/lich", web.Message(lang, "nav.calendar"),
		map[string]any{"Spec": spec, "Changes": changes}))
}

// dossier looks a dossier up province-wide by code.
func (d *dashboard) dossier(w http.ResponseWriter, r *http.Request, op operator) {
	lang := web.PickLang(w, r)
	code := strings.TrimSpace(r.URL.Query().Get("code"))
	data := map[string]any{"Code": code, "Error": "", "Dossier": (*xasov1.Dossier)(nil)}
	answer := http.StatusOK
	if code != "" {
		res, err := d.s.local.GetProvinceDossier(op.ctx, &xasov1.GetProvinceDossierRequest{Code: code})
		switch {
		case err == nil:
			data["Dossier"] = res.GetDossier()
		case status.Code(err) == codes.NotFound, status.Code(err) == codes.InvalidArgument:
			data["Error"] = web.FormErrors(err, "code").Field("code")
			if data["Error"] == "" {
				data["Error"] = web.Message(lang, "lookup.notfound.province")
			}
			answer = http.StatusNotFound
			if status.Code(err) == codes.InvalidArgument {
				answer = http.StatusBadRequest
			}
		default:
			d.fail(w, err, "dossier")
			return
		}
	}
	d.pages.Render(w, answer, "province-dossier", d.page(lang, op, "/ho-so", web.Message(lang, "nav.dossier"), data))
}
