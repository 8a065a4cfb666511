// Package web renders xaso's server-side pages: templates and assets
// embedded in the binary (nothing is loaded from outside the node or
// central, so the pages work with the internet down), Vietnamese by
// default with an English switch.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/xaso/xaso/dossier"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Lang is a page language.
type Lang string

// The languages of the pages.
const (
	Vietnamese Lang = "vi"
	English    Lang = "en"
)

// langCookie keeps a visitor's choice of language.
const langCookie = "lang"

// PickLang returns the language of a request: ?lang= (remembered in a
// cookie), else the cookie, else Vietnamese.
func PickLang(w http.ResponseWriter, r *http.Request) Lang {
	if l := Lang(r.URL.Query().Get("lang")); l == Vietnamese || l == English {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, HttpOnly: true})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (Lang(c.Value) == English) {
		return English
	}
	return Vietnamese
}

// Pages renders the embedded templates.
type Pages struct {
	tmpl map[string]*template.Template
}

// NewPages parses the templates: each page with the layout.
func NewPages() (*Pages, error) {
	p := &Pages{tmpl: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if strings.HasSuffix(n, "/layout.html") || strings.HasSuffix(n, "/partials.html") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html", n)
		if err != nil {
			return nil, fmt.Errorf("page %s: %w", n, err)
		}
		p.tmpl[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return p, nil
}

// Page is what every page gets: its language and title, and its own data.
type Page struct {
	Lang  Lang
	Title string
	// Path is the page's path, for the language switch.
	Path string
	// Site is the message key of the site's name in the header: the
	// commune centre (default) or the province.
	Site string
	// User is who is signed in; nil on public pages.
	User *User
	// Nav lists the links of the signed-in area, shown in the header.
	Nav []Link
	// Sync is the node's link to central, shown on every desk page.
	Sync *Sync
	Data any
}

// User is the signed-in person as the header shows them.
type User struct {
	Name, FullName string
	// Role is a message key, e.g. role.CLERK.
	Role string
}

// Link is one entry of the header's navigation.
type Link struct {
	Href, Label string // Label is a message key
	Current     bool
}

// Sync is the sync indicator: whether the node reaches central and how
// much waits to go.
type Sync struct {
	// Alone: no central is configured; the node keeps everything.
	Alone, Connected            bool
	PendingEvents, PendingFiles int64
	LastContact                 time.Time
	// Blocked is the sequence of the node's record central refused (or at
	// which central's chain differs): nothing from it on is sent until the
	// province resolves it; 0 when sync is not blocked.
	Blocked int64
}

// FormField is one labelled input: the API field its errors come from,
// the form name, the label's message key, the value to show again, the
// autocomplete hint, and a mode (required, numeric, tel, email).
type FormField struct {
	Page                                          Page
	Field, Name, Label, Value, Autocomplete, Mode string
}

// Label is the sync indicator's text in lang.
func (s Sync) Label(lang Lang) string {
	if s.Alone {
		return Message(lang, "sync.alone")
	}
	if s.Blocked > 0 {
		return fmt.Sprintf("%s · %d %s %s", Message(lang, "sync.blocked"), s.PendingEvents, Message(lang, "sync.events"), Message(lang, "sync.waiting"))
	}
	state := Message(lang, "sync.offline")
	if s.Connected {
		state = Message(lang, "sync.connected")
	}
	return fmt.Sprintf("%s · %d %s, %d %s %s", state, s.PendingEvents, Message(lang, "sync.events"),
		s.PendingFiles, Message(lang, "sync.files"), Message(lang, "sync.waiting"))
}

// Class is the sync indicator's style: alone, connected or offline (a
// blocked sync looks offline).
func (s Sync) Class() string {
	switch {
	case s.Alone:
		return "sync-alone"
	case s.Connected && s.Blocked == 0:
		return "sync-ok"
	}
	return "sync-off"
}

// SignInForm is the sign-in page's data: the name typed (shown again),
// where to go after it, the message keys of an error or of why nobody can
// sign in, and whether it asks for an operator token (central) instead of
// a name and password (the node's desk).
type SignInForm struct {
	Name, Next, Error, Disabled string
	Token                       bool
}

// SiteName is the message key of the header's site name.
func (p Page) SiteName() string {
	if p.Site == "" {
		return "site.node"
	}
	return p.Site
}

// T translates a message key into the page's language.
func (p Page) T(key string) string { return Message(p.Lang, key) }

// Render writes page name with status.
func (p *Pages) Render(w http.ResponseWriter, status int, name string, page Page) {
	t, ok := p.tmpl[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer // rendered whole first, so that an error is not half a page
	if err := t.Execute(&b, page); err != nil {
		http.Error(w, "render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Everything a page needs comes from here.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store") // pages show personal data and live state
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// Static serves the embedded assets under /static/.
func Static() http.Handler {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded folder exists: a build without it does not compile
	}
	return http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
}

var funcs = template.FuncMap{
	// qr draws text as a QR code in SVG.
	"qr": QRSVG,
	// percent shows a share 0..1 as a whole percentage.
	"percent": func(x float64) string { return fmt.Sprintf("%.0f%%", x*100) },
	// size shows a byte count for people.
	"size":     ByteSize,
	"contains": strings.Contains,
	// pair gives a shared piece the page and its own data.
	"pair":       func(p Page, changes any) map[string]any { return map[string]any{"Page": p, "Changes": changes} },
	"stateName":  dossier.StateName,
	"actionName": dossier.ActionName,
	// ts is a protobuf time as a time (zero when unset).
	"ts": func(t *timestamppb.Timestamp) time.Time {
		if t == nil {
			return time.Time{}
		}
		return t.AsTime()
	},
	"upper": strings.ToUpper,
	"list":  func(xs ...string) []string { return xs },
	// ptime is a procedure's processing time in the page's language: in
	// working days, in working hours, or "trong ngày", never "0 days".
	"ptime": func(p Page, proc *dossier.Procedure) string {
		switch pt := dossier.ProcessingTimeOf(proc); {
		case pt.Hours > 0:
			return fmt.Sprintf("%d %s", pt.Hours, p.T("receive.hours"))
		case pt.Days > 0:
			return fmt.Sprintf("%d %s", pt.Days, p.T("receive.days"))
		default:
			return p.T("receive.sameday")
		}
	},
	// field describes one labelled input of a form, for the "input" template.
	"field": func(p Page, field, name, label, value, autocomplete, mode string) FormField {
		return FormField{Page: p, Field: field, Name: name, Label: label, Value: value, Autocomplete: autocomplete, Mode: mode}
	},
	// date shows a time as a day in Vietnam (every date shown is in
	// Vietnam's time), the way the receipt does.
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(dossier.Zone).Format("02/01/2006")
	},
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(dossier.Zone).Format("15:04 02/01/2006")
	},
}

// SameOrigin reports whether a form post came from the host that serves
// the pages: browsers send Origin on every POST; its absence (an old
// client) is let through, as the session cookies are SameSite=Strict.
func SameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// SignedIn wraps a page that needs someone signed in: who reads the
// request's session; without one the visitor goes to the sign-in page and
// comes back after it. A POST must come from the pages' own origin.
func SignedIn[S any](who func(*http.Request) (S, bool), page func(http.ResponseWriter, *http.Request, S)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && !SameOrigin(r) {
			http.Error(w, "forbidden: the form did not come from these pages", http.StatusForbidden)
			return
		}
		s, ok := who(r)
		if !ok {
			http.Redirect(w, r, "/dang-nhap?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		page(w, r, s)
	}
}
