// Package standin is a stand-in for the National Public Service Portal
// (Cổng Dịch vụ công quốc gia), for demos and tests on a machine that
// reaches nothing outside: citizens file online dossiers for the communes
// of the sample province on its page; the province's connector pulls them,
// acknowledges them and pushes back each dossier's statuses and progress
// steps in the shapes of package portal; a page and
// GET /v1/dossiers/{code}/statuses show the statuses received. It is not
// the portal: docs/portal.md says what is taken from provincial practice
// and what is guessed.
package standin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/portal"
	"github.com/xaso/xaso/sample"
)

// Limits on what the stand-in accepts.
const (
	// MaxJSONBody bounds a pushed message.
	MaxJSONBody = 1 << 20
	// MaxScan bounds one scan; MaxFiling a whole filing.
	MaxScan   = 5 << 20
	MaxFiling = 25 << 20
	// MaxPage bounds the dossiers of one listing.
	MaxPage = 100
	// MaxWait bounds a long poll.
	MaxWait = 60 * time.Second
)

// Config configures a stand-in.
type Config struct {
	// Dir keeps the stand-in's state.
	Dir string
	// Token is the bearer token the province's connector presents.
	Token string
	// Province is the province whose communes citizens file for
	// (default: the sample province); Procedures its catalogue (default:
	// the sample one).
	Province   *sample.Province
	Procedures []*xasov1.Procedure
	// Logger receives every refusal with its reason (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default: time.Now).
	Now func() time.Time
}

// Server is a running stand-in's state and HTTP handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	store    *store
	communes map[string]sample.Commune
	procs    map[string]*xasov1.Procedure
	procList []*xasov1.Procedure
	mux      *http.ServeMux
}

// New opens the stand-in's state in cfg.Dir.
func New(cfg Config) (*Server, error) {
	if len(cfg.Token) < 16 {
		return nil, errors.New("portal stand-in: the connector's token must be at least 16 characters")
	}
	if cfg.Province == nil {
		p := sample.SampleProvince()
		cfg.Province = &p
	}
	if cfg.Procedures == nil {
		cfg.Procedures = sample.Procedures()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st, err := openStore(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: st, communes: map[string]sample.Commune{}, procs: map[string]*xasov1.Procedure{}}
	for _, c := range cfg.Province.Communes {
		s.communes[c.Code] = c
	}
	for _, p := range cfg.Procedures {
		if old, ok := s.procs[p.GetCode()]; !ok || p.GetVersion() > old.GetVersion() {
			s.procs[p.GetCode()] = p
		}
	}
	for _, p := range cfg.Procedures {
		if s.procs[p.GetCode()] == p && online(p) {
			s.procList = append(s.procList, p)
		}
	}
	s.routes()
	return s, nil
}

// online reports whether a procedure may be filed online (partly or in
// full); the others are filed on paper at the desk.
func online(p *xasov1.Procedure) bool {
	l := p.GetOnlineLevel()
	return l == xasov1.OnlineLevel_ONLINE_LEVEL_PARTIAL || l == xasov1.OnlineLevel_ONLINE_LEVEL_FULL
}

// Close closes the state.
func (s *Server) Close() error { return s.store.Close() }

// ServeHTTP serves the connector's API and the citizen's pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/province/{province}/dossiers", s.auth(s.listDossiers))
	m.HandleFunc("POST /v1/province/{province}/dossiers/{code}/ack", s.auth(s.ackDossier))
	m.HandleFunc("GET /v1/files/{id}", s.auth(s.getFile))
	m.HandleFunc("POST /v1/dossiers/{code}/sync", s.auth(s.pushSync))
	m.HandleFunc("POST /v1/dossiers/{code}/progress", s.auth(s.pushProgress))
	m.HandleFunc("GET /v1/dossiers/{code}/statuses", s.getStatuses)
	m.HandleFunc("GET /{$}", s.homePage)
	m.HandleFunc("GET /nop-ho-so", s.filingForm)
	m.HandleFunc("POST /nop-ho-so", s.fileDossier)
	m.HandleFunc("GET /ho-so/{code}", s.dossierPage)
	m.HandleFunc("GET /tra-cuu", s.lookup)
	s.mux = m
}

// apiError is the JSON answer to a refused request; error_code and message
// as provincial systems read the portal's answers.
type apiError struct {
	ErrorCode int                 `json:"error_code"`
	Message   string              `json:"message"`
	Fields    []portal.FieldError `json:"fields,omitempty"`
}

// refuse logs why r was refused and answers it as JSON.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, msg string, fields []portal.FieldError) {
	s.log.Warn("portal stand-in: refused", "method", r.Method, "path", r.URL.Path, "status", status, "reason", msg, "fields", fields)
	writeJSON(w, status, apiError{ErrorCode: status, Message: msg, Fields: fields})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// auth lets through only requests with the connector's bearer token.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.Token))
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="portal"`)
			s.refuse(w, r, http.StatusUnauthorized, "missing or wrong bearer token", nil)
			return
		}
		h(w, r)
	}
}

// listing is the answer to the connector's pull.
type listing struct {
	Dossiers []Dossier `json:"dossiers"`
	// Next is the cursor of the next pull (after=Next).
	Next int64 `json:"next"`
}

// listDossiers answers GET /v1/province/{province}/dossiers?after=N&limit=M&wait=D:
// the dossiers filed for the province after cursor N and not yet
// acknowledged, oldest first; with wait, it waits up to D for one.
func (s *Server) listDossiers(w http.ResponseWriter, r *http.Request) {
	prov := r.PathValue("province")
	if prov != s.cfg.Province.Code {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("province %q is not served by this portal stand-in (it serves %s)", prov, s.cfg.Province.Code), nil)
		return
	}
	var fields []portal.FieldError
	q := r.URL.Query()
	after, limit, wait := int64(0), MaxPage, time.Duration(0)
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fields = append(fields, portal.FieldError{Field: "after", Reason: "want a cursor: a whole number, 0 or more"})
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPage {
			fields = append(fields, portal.FieldError{Field: "limit", Reason: fmt.Sprintf("want 1 to %d", MaxPage)})
		}
		limit = n
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxWait {
			fields = append(fields, portal.FieldError{Field: "wait", Reason: fmt.Sprintf("want a duration up to %v, such as 30s", MaxWait)})
		}
		wait = d
	}
	if len(fields) > 0 {
		s.refuse(w, r, http.StatusBadRequest, "bad query", fields)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	for {
		l, filed := s.pending(after, limit)
		if len(l.Dossiers) > 0 || wait == 0 {
			writeJSON(w, http.StatusOK, l)
			return
		}
		select {
		case <-filed:
		case <-ctx.Done():
			writeJSON(w, http.StatusOK, l)
			return
		}
	}
}

// pending lists the unacknowledged dossiers after the cursor, and the
// channel closed at the next filing.
func (s *Server) pending(after int64, limit int) (listing, <-chan struct{}) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	l := listing{Dossiers: []Dossier{}, Next: after}
	for _, code := range s.store.order {
		st := s.store.byCode[code]
		if st.d.Seq <= after || st.acked {
			continue
		}
		if len(l.Dossiers) == limit {
			break
		}
		l.Dossiers = append(l.Dossiers, st.d)
		l.Next = st.d.Seq
	}
	return l, s.store.filed
}

// ackDossier answers POST /v1/province/{province}/dossiers/{code}/ack: the
// connector has the dossier; it is not listed again. Acknowledging twice is
// not an error.
func (s *Server) ackDossier(w http.ResponseWriter, r *http.Request) {
	prov, code := r.PathValue("province"), r.PathValue("code")
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	st := s.store.byCode[code]
	if st == nil || st.d.MaTinh != prov {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("no dossier %q was filed for province %q", code, prov), nil)
		return
	}
	if !st.acked {
		if err := s.store.append(record{Kind: "ack", At: s.cfg.Now(), Code: code}); err != nil {
			s.log.Error("portal stand-in: keeping an acknowledgement", "code", code, "err", err)
			writeJSON(w, http.StatusInternalServerError, apiError{ErrorCode: 500, Message: "could not keep the acknowledgement; retry"})
			return
		}
	}
	writeJSON(w, http.StatusOK, apiError{ErrorCode: 0, Message: "acknowledged"})
}

// getFile answers GET /v1/files/{id} with a scan.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.store.mu.Lock()
	var f *File
	if code, _, ok := strings.Cut(id, "~"); ok {
		if st := s.store.byCode[code]; st != nil {
			for i := range st.d.TaiLieuNop {
				if st.d.TaiLieuNop[i].TepDinhKemId == id {
					f = &st.d.TaiLieuNop[i]
				}
			}
		}
	}
	s.store.mu.Unlock()
	if f == nil {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("no file %q", id), nil)
		return
	}
	w.Header().Set("Content-Type", f.LoaiTep)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", "attachment")
	http.ServeFile(w, r, s.store.filePath(id))
}

// envelope carries a pushed message with the connector's message id, which
// makes a retried push count once.
type envelope[T any] struct {
	MessageId string `json:"MessageId"`
	Data      *T     `json:"data"`
}

// decode reads a pushed message strictly: bounded, one JSON object, no
// unknown fields. It returns the message's sum for idempotence.
func decode[T any](w http.ResponseWriter, r *http.Request) (envelope[T], string, []portal.FieldError, error) {
	var e envelope[T]
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return e, "", nil, fmt.Errorf("body larger than %d bytes", MaxJSONBody)
		}
		return e, "", nil, fmt.Errorf("reading body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, "", nil, fmt.Errorf("malformed message: %v", err)
	}
	if dec.More() {
		return e, "", nil, errors.New("malformed message: more than one JSON value")
	}
	var fields []portal.FieldError
	if e.MessageId == "" || len(e.MessageId) > portal.MaxCodeLen || strings.Trim(e.MessageId, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-_") != "" {
		fields = append(fields, portal.FieldError{Field: "MessageId", Reason: fmt.Sprintf("required: 1 to %d letters, digits, '.', '-', '_'", portal.MaxCodeLen)})
	}
	if e.Data == nil {
		fields = append(fields, portal.FieldError{Field: "data", Reason: "required"})
	}
	canon, _ := json.Marshal(e.Data)
	sum := sha256.Sum256(canon)
	return e, hex.EncodeToString(sum[:]), fields, nil
}

// pushed is the answer to an accepted push.
type pushed struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
	// Duplicate is true when the message id was kept before: the retry is
	// not counted again.
	Duplicate bool `json:"duplicate"`
}

// seen reports whether id was kept before, refusing (true) a different
// message under it. The caller holds mu.
func (s *Server) seen(w http.ResponseWriter, r *http.Request, id, sum string) bool {
	old, ok := s.store.msgs[id]
	if !ok {
		return false
	}
	if old != sum {
		s.refuse(w, r, http.StatusConflict, fmt.Sprintf("message id %q was used for a different message", id), nil)
		return true
	}
	writeJSON(w, http.StatusOK, pushed{Message: "already received", Duplicate: true})
	return true
}

// pushSync answers POST /v1/dossiers/{code}/sync: a dossier sync
// (DongBoHoSoMC), kept once per message id.
func (s *Server) pushSync(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	e, sum, fields, err := decode[portal.DossierSync](w, r)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if e.Data != nil {
		fields = append(fields, prefixed(e.Data.Validate())...)
		if e.Data.MaHoSo != "" && e.Data.MaHoSo != code {
			fields = append(fields, portal.FieldError{Field: "data.MaHoSo", Reason: fmt.Sprintf("%q is not the dossier of the address, %q", e.Data.MaHoSo, code)})
		}
	}
	if len(fields) > 0 {
		s.refuse(w, r, http.StatusBadRequest, "invalid dossier sync", fields)
		return
	}
	m := e.Data
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if s.seen(w, r, e.MessageId, sum) {
		return
	}
	st := s.store.byCode[code]
	if st == nil {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("dossier %q was never sent by the portal", code), nil)
		return
	}
	if m.MaTTHC != st.d.MaTTHC {
		s.refuse(w, r, http.StatusBadRequest, "invalid dossier sync", []portal.FieldError{{Field: "data.MaTTHC", Reason: fmt.Sprintf("the dossier was filed for procedure %s", st.d.MaTTHC)}})
		return
	}
	if !portal.CanFollow(st.status, m.TrangThaiHoSo) {
		s.refuse(w, r, http.StatusConflict, fmt.Sprintf("status %d (%s) cannot follow the dossier's status %d (%s)",
			m.TrangThaiHoSo, m.TrangThaiHoSo.Name(), st.status, st.status.Name()), []portal.FieldError{{Field: "data.TrangThaiHoSo", Reason: "not accepted after the current status"}})
		return
	}
	if err := s.store.append(record{Kind: "sync", At: s.cfg.Now(), Code: code, MessageID: e.MessageId, Sum: sum, Sync: m}); err != nil {
		s.log.Error("portal stand-in: keeping a dossier sync", "code", code, "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{ErrorCode: 500, Message: "could not keep the message; retry"})
		return
	}
	s.log.Info("portal stand-in: status received", "code", code, "status", int(m.TrangThaiHoSo), "message_id", e.MessageId)
	writeJSON(w, http.StatusOK, pushed{Message: "received"})
}

// pushProgress answers POST /v1/dossiers/{code}/progress: a progress step
// (CapNhatTienDoHoSoMC), kept once per message id. Its TrangThai is the
// dossier's status or one that may follow it; the status itself changes
// only by a sync.
func (s *Server) pushProgress(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	e, sum, fields, err := decode[portal.Progress](w, r)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error(), nil)
		return
	}
	if e.Data != nil {
		fields = append(fields, prefixed(e.Data.Validate())...)
		if e.Data.MaHoSo != "" && e.Data.MaHoSo != code {
			fields = append(fields, portal.FieldError{Field: "data.MaHoSo", Reason: fmt.Sprintf("%q is not the dossier of the address, %q", e.Data.MaHoSo, code)})
		}
	}
	if len(fields) > 0 {
		s.refuse(w, r, http.StatusBadRequest, "invalid progress step", fields)
		return
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if s.seen(w, r, e.MessageId, sum) {
		return
	}
	st := s.store.byCode[code]
	if st == nil {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("dossier %q was never sent by the portal", code), nil)
		return
	}
	if !portal.CanFollow(st.status, e.Data.TrangThai) {
		s.refuse(w, r, http.StatusConflict, fmt.Sprintf("a step in status %d does not fit the dossier's status %d", e.Data.TrangThai, st.status),
			[]portal.FieldError{{Field: "data.TrangThai", Reason: "neither the current status nor one that may follow it"}})
		return
	}
	if err := s.store.append(record{Kind: "progress", At: s.cfg.Now(), Code: code, MessageID: e.MessageId, Sum: sum, Progress: e.Data}); err != nil {
		s.log.Error("portal stand-in: keeping a progress step", "code", code, "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{ErrorCode: 500, Message: "could not keep the message; retry"})
		return
	}
	writeJSON(w, http.StatusOK, pushed{Message: "received"})
}

// prefixed turns a Validate error into field errors under "data.".
func prefixed(err error) []portal.FieldError {
	var errs portal.Errors
	if !errors.As(err, &errs) {
		if err != nil {
			return []portal.FieldError{{Field: "data", Reason: err.Error()}}
		}
		return nil
	}
	out := make([]portal.FieldError, len(errs))
	for i, f := range errs {
		out[i] = portal.FieldError{Field: "data." + f.Field, Reason: f.Reason}
	}
	return out
}

// Statuses is the answer to GET /v1/dossiers/{code}/statuses.
type Statuses struct {
	MaHoSo string `json:"MaHoSo"`
	// TrangThaiHoSo is the dossier's status now (1 until a status is received).
	TrangThaiHoSo portal.Status `json:"TrangThaiHoSo"`
	// Statuses are the statuses received, in the order received.
	Statuses []StatusEntry `json:"statuses"`
}

// getStatuses answers GET /v1/dossiers/{code}/statuses. It carries no
// personal data and is open, as the portal's own look-up by code.
func (s *Server) getStatuses(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	s.store.mu.Lock()
	st := s.store.byCode[code]
	var out Statuses
	if st != nil {
		out = Statuses{MaHoSo: code, TrangThaiHoSo: st.status, Statuses: append([]StatusEntry{}, st.statuses...)}
	}
	s.store.mu.Unlock()
	if st == nil {
		s.refuse(w, r, http.StatusNotFound, fmt.Sprintf("no dossier %q", code), nil)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
