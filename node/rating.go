package node

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// The citizen rates the service (Decree 118/2025 art. 30(2), 31(1)(b)(c),
// 33): on the look-up page, reached with the receipt's code and check
// value (its QR code carries both), or on the desk device, a page a
// signed-in clerk opens for one dossier and hands over. Either way the
// rating is a RATE event by the CITIZEN role in the dossier's chain, so
// it replicates with the dossier and central re-decides it (CheckEvent):
// once per dossier, once its outcome exists.

// Rate records a citizen's rating of the dossier code. Its errors are
// those of Store.Transition: a *dossier.TransitionError when the dossier
// cannot be rated (not yet, or rated already), dossier.Violations when the
// rating is malformed.
func (n *Node) Rate(ctx context.Context, code string, r *xasov1.Rating) (*dossier.Dossier, error) {
	d, err := n.store.Transition(ctx, n.Calendar(), code, 0, dossier.RateCommand(r, n.now()))
	if err != nil {
		return nil, err
	}
	n.svc.metrics.transition(dossier.Rate)
	return d, nil
}

// ratingData is the rating form of a dossier on the look-up page or the
// desk device: whether it can be rated, the values typed (shown again
// with the errors next to their fields, in the page's language), and
// whether it was just rated or was rated before.
type ratingData struct {
	// Action is where the form posts.
	Action string
	// Check is the look-up's check value, posted again.
	Check    string
	Open     bool
	Rated    bool
	Thanks   bool
	Contents []ratingContentView
	Comment  string
	Errors   web.Errors
}

// ratingContentView is one content of art. 33(1) on the form.
type ratingContentView struct {
	// Name is the content without its enum prefix: the form field is
	// "score-" + Name, the message key "rating.content." + Name.
	Name, Point, Value string
	Optional           bool
}

// newRatingData is the form for d, with the values of a form posted
// (nil: none yet).
func newRatingData(d *dossier.Dossier, action, check string, posted url.Values) *ratingData {
	rd := &ratingData{Action: action, Check: check, Open: dossier.Rateable(d) == nil,
		Rated: d.GetRating() != nil || d.GetSatisfaction() != 0, Comment: posted.Get("comment")}
	for _, c := range dossier.Contents {
		name := dossier.ContentName(c.Content)
		rd.Contents = append(rd.Contents, ratingContentView{Name: name, Point: c.Point, Optional: c.Optional, Value: posted.Get("score-" + name)})
	}
	return rd
}

// ratingLevels are the form's values of the scale, best first.
var ratingLevels = map[string]xasov1.Satisfaction{
	"VERY_SATISFIED": dossier.VerySatisfied, "SATISFIED": dossier.Satisfied, "NOT_SATISFIED": dossier.NotSatisfied,
}

// readRating reads the posted rating form into a rating given through
// channel, with the errors (message keys in lang) next to their fields;
// nothing is recorded while there are any.
func readRating(rd *ratingData, channel xasov1.RatingChannel, lang web.Lang) (*xasov1.Rating, bool) {
	r := &xasov1.Rating{Channel: channel, Comment: strings.TrimSpace(strings.ReplaceAll(rd.Comment, "\r\n", "\n"))}
	for i, c := range dossier.Contents {
		v := rd.Contents[i]
		switch level, ok := ratingLevels[v.Value]; {
		case ok:
			r.Scores = append(r.Scores, &xasov1.RatingScore{Content: c.Content, Level: level})
		case (v.Value == "" || v.Value == "NONE") && !c.Optional:
			rd.Errors.Add("score-"+v.Name, web.Message(lang, "rating.err.required"))
		case v.Value != "" && v.Value != "NONE":
			rd.Errors.Add("score-"+v.Name, web.Message(lang, "rating.err.level"))
		}
	}
	var vs dossier.Violations
	dossier.ValidateRating(r, "rating", &vs)
	for _, v := range vs {
		if v.Field == "rating.comment" {
			rd.Errors.Add("comment", web.Message(lang, "rating.err.comment"))
		} else if !rd.Errors.Any() {
			// The form only offers the scale's levels: what else fails
			// is a hand-made request, answered in the page's language.
			rd.Errors.Other = append(rd.Errors.Other, web.Message(lang, "rating.err.level"))
		}
	}
	return r, !rd.Errors.Any()
}

// rate records the rating posted on a form, answering with the form
// again when it has errors or the dossier cannot be rated; ok says it was
// recorded.
func (p *pages) rate(ctx context.Context, d *dossier.Dossier, rd *ratingData, channel xasov1.RatingChannel, lang web.Lang) (status int, ok bool) {
	if !rd.Open {
		rd.Errors.Other = append(rd.Errors.Other, web.Message(lang, ratingClosedKey(rd)))
		return http.StatusConflict, false
	}
	r, valid := readRating(rd, channel, lang)
	if !valid {
		return http.StatusBadRequest, false
	}
	_, err := p.n.Rate(ctx, d.GetCode(), r)
	var te *dossier.TransitionError
	switch {
	case err == nil:
		return http.StatusSeeOther, true
	case errors.As(err, &te):
		// Rated meanwhile, from another device.
		rd.Open, rd.Rated = false, true
		rd.Errors.Other = append(rd.Errors.Other, web.Message(lang, "rating.err.rated"))
		return http.StatusConflict, false
	case errors.Is(err, ErrRestoring):
		rd.Errors.Other = append(rd.Errors.Other, err.Error())
		return http.StatusServiceUnavailable, false
	}
	var vs dossier.Violations
	if errors.As(err, &vs) {
		rd.Errors.Other = append(rd.Errors.Other, web.Message(lang, "rating.err.level"))
		return http.StatusBadRequest, false
	}
	p.n.log.ErrorContext(ctx, "rating", "code", d.GetCode(), "err", err)
	rd.Errors.Other = append(rd.Errors.Other, web.Message(lang, "rating.err.broken"))
	return http.StatusInternalServerError, false
}

// ratingClosedKey is the message of a form that cannot be posted.
func ratingClosedKey(rd *ratingData) string {
	if rd.Rated {
		return "rating.err.rated"
	}
	return "rating.err.notyet"
}

// lookupRate records a rating posted from the look-up page, with the
// check value printed on the receipt: limited per address as the look-up
// is, nothing recorded without the right check value.
func (p *pages) lookupRate(w http.ResponseWriter, r *http.Request) {
	if !web.SameOrigin(r) {
		http.Error(w, "forbidden: the form did not come from this node's pages", http.StatusForbidden)
		return
	}
	if !p.allowLookup(w, r) {
		return
	}
	if !readRatingForm(w, r) {
		return
	}
	lang := web.PickLang(w, r)
	code := r.PathValue("code")
	check := strings.ToUpper(strings.TrimSpace(r.PostForm.Get("k")))
	d, data, ok := p.findDossier(w, r, lang, code, check)
	if !ok {
		return
	}
	if data.Dossier == nil {
		// No or a wrong check value: the page asks for it, nothing is recorded.
		if data.Error == "" {
			data.Error = "rating.err.check"
		}
		p.render(w, http.StatusForbidden, lang, "/tra-cuu/"+url.PathEscape(code), data)
		return
	}
	rd := newRatingData(d, data.Rating.Action, check, r.PostForm)
	status, done := p.rate(r.Context(), d, rd, xasov1.RatingChannel_RATING_CHANNEL_LOOKUP, lang)
	if done {
		http.Redirect(w, r, lookupPath(code, check)+"&danh-gia=xong", http.StatusSeeOther)
		return
	}
	data.Rating = rd
	p.render(w, status, lang, "/tra-cuu/"+url.PathEscape(code), data)
}

// maxRatingForm bounds a posted rating form: nine choices and a comment.
const maxRatingForm = 16 << 10

// readRatingForm reads a posted rating form (URL-encoded or multipart)
// into r.PostForm, answering the request itself when it cannot.
func readRatingForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxRatingForm)
	err := r.ParseMultipartForm(maxRatingForm)
	if err == nil || errors.Is(err, http.ErrNotMultipart) {
		return true
	}
	http.Error(w, "the form cannot be read: "+err.Error(), http.StatusBadRequest)
	return false
}

// deviceData is the desk device's page: the dossier's code and procedure
// (nothing personal: the citizen holds the device) and the form.
type deviceData struct {
	Code, Procedure string
	Rating          *ratingData
}

// deviceRoutes adds the desk device's rating page.
func (p *pages) deviceRoutes(mux apiserver.Router) {
	mux.HandleFunc("GET /ban/ho-so/{code}/danh-gia", p.desk(p.deviceForm))
	mux.HandleFunc("POST /ban/ho-so/{code}/danh-gia", p.desk(p.deviceRate))
}

// deviceForm is the rating page a clerk opens on the desk device for one
// dossier and hands to the citizen (Decree 118/2025 art. 31(1)(b)).
func (p *pages) deviceForm(w http.ResponseWriter, r *http.Request, se Session) {
	p.device(w, r, se, nil)
}

// deviceRate records the rating given on the desk device.
func (p *pages) deviceRate(w http.ResponseWriter, r *http.Request, se Session) {
	if !readRatingForm(w, r) {
		return
	}
	p.device(w, r, se, r.PostForm)
}

// device shows the desk device's page, and records the rating posted
// (posted nil: none).
func (p *pages) device(w http.ResponseWriter, r *http.Request, se Session, posted url.Values) {
	lang := web.PickLang(w, r)
	if roleOf(se) != dossier.Clerk {
		http.Error(w, web.Message(lang, "rating.err.clerk"), http.StatusForbidden)
		return
	}
	code := r.PathValue("code")
	d, ok := p.readDossier(w, r, code)
	if !ok {
		return
	}
	path := "/ban/ho-so/" + url.PathEscape(code) + "/danh-gia"
	data := deviceData{Code: d.GetCode(), Procedure: d.GetProcedureName(), Rating: newRatingData(d, path, "", posted)}
	data.Rating.Thanks = r.URL.Query().Get("danh-gia") == "xong"
	status := http.StatusOK
	if posted != nil {
		var done bool
		if status, done = p.rate(r.Context(), d, data.Rating, xasov1.RatingChannel_RATING_CHANNEL_DESK_DEVICE, lang); done {
			http.Redirect(w, r, path+"?danh-gia=xong", http.StatusSeeOther)
			return
		}
	}
	// No header, no navigation: the citizen holds the device.
	p.pages.Render(w, status, "rate", web.Page{Lang: lang, Title: web.Message(lang, "rating.title"), Path: path, Data: data})
}
