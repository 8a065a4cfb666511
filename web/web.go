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
	"strings"
	"time"

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
		if strings.HasSuffix(n, "/layout.html") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
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
	Data any
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
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
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
