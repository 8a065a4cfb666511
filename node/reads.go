package node

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/web"
)

// Recording reads of personal data: the API's GetDossier, ListDossiers
// and GetAttachment and the desk's pages that show a dossier, a list of
// them, a receipt or a file each write an access entry (access.go) before
// they answer, and answer with an error when it cannot be written: what
// was not logged is not shown.

// reader is who reads, as an access entry records them.
type reader struct {
	name string
	role dossier.Role
	via  Via
	addr string
}

// accessFrom is the reader of an API call: its principal, or, when the
// call carries none, a reader the node cannot name, with the address the
// connection came from when there is one.
func accessFrom(ctx context.Context) reader {
	if p, ok := PrincipalFrom(ctx); ok {
		return reader{name: p.Name, role: p.Role, via: p.Via, addr: p.Addr}
	}
	var r reader
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		r.addr = pr.Addr.String()
		if host, _, err := net.SplitHostPort(r.addr); err == nil {
			r.addr = host
		}
	}
	return r
}

// deskReader is the reader of a desk page: the signed-in official.
func deskReader(r *http.Request, se Session) reader {
	return reader{name: se.User, role: roleOf(se), via: ViaSession, addr: web.ClientAddr(r)}
}

// read is one read of personal data to record.
type read struct {
	kind dossier.AccessKind
	// codes are the dossiers shown, in order; count how many were shown
	// (at least len(codes)).
	codes  []string
	count  int
	filter string
	sha256 string
}

// recordRead writes the access entry of a read by who at now, with every
// field bounded as central bounds it: the dossiers named each once and at
// most dossier.MaxAccessCodes of them (count says how many were shown),
// the texts cut, one line where central wants one, valid UTF-8.
func recordRead(ctx context.Context, st *Store, commune string, now time.Time, who reader, rd read) error {
	a := &xasov1.AccessEntry{
		Time: timestamppb.New(now), Name: boundText(who.name, dossier.MaxActorBytes, true),
		ClientAddress: boundText(who.addr, dossier.MaxClientAddressBytes, true),
		Kind:          rd.kind, Filter: boundText(rd.filter, dossier.MaxFilterBytes, false), AttachmentSha256: rd.sha256,
	}
	if _, ok := xasov1.Role_name[int32(who.role)]; ok {
		a.Role = who.role
	}
	if dossier.ValidName(string(who.via), dossier.MaxViaBytes) {
		a.Via = string(who.via)
	}
	seen := make(map[string]bool, len(rd.codes))
	for _, c := range rd.codes {
		if len(a.DossierCodes) == dossier.MaxAccessCodes {
			break
		}
		if !seen[c] {
			seen[c] = true
			a.DossierCodes = append(a.DossierCodes, c)
		}
	}
	a.Count = int32(min(max(rd.count, len(a.DossierCodes)), dossier.MaxAccessCount))
	return st.RecordAccess(ctx, commune, a, now)
}

// boundText makes s fit an access entry: valid UTF-8, no control
// characters (but tabs and, unless oneLine, line breaks), at most max
// bytes cut at a character, no space at the ends.
func boundText(s string, max int, oneLine bool) string {
	s = strings.ToValidUTF8(s, "�")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t', !oneLine && (r == '\n' || r == '\r'):
			return r
		case unicode.IsControl(r):
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		s = strings.TrimSpace(dossier.Short(s, max-len("…")))
	}
	return s
}

// logRead records a read by the API's caller.
func (s *service) logRead(ctx context.Context, rd read) error {
	return recordRead(ctx, s.store, s.commune, s.now(), accessFrom(ctx), rd)
}

// ListAccessLog pages through the access log, newest first: for the
// commune's leader only.
func (s *service) ListAccessLog(ctx context.Context, req *xasov1.ListAccessLogRequest) (*xasov1.ListAccessLogResponse, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "the access log is for the commune's leader: sign in")
	}
	if p.Role != dossier.Leader {
		return nil, status.Error(codes.PermissionDenied, "only the commune's leader reads the access log")
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	var v dossier.Violations
	if c := req.GetDossierCode(); c != "" {
		if _, err := dossier.ParseCode(c); err != nil {
			v.Add("dossier_code", err.Error())
		}
	}
	if len(req.GetName()) > dossier.MaxActorBytes {
		v.Add("name", "at most 128 bytes")
	}
	var before int64
	if t := req.GetPageToken(); t != "" {
		if before, err = strconv.ParseInt(t, 10, 64); err != nil || before < 1 {
			v.Add("page_token", "not a token this API gave")
		}
	}
	if len(v) > 0 {
		return nil, grpcerr.BadRequest(v)
	}
	entries, next, err := s.store.AccessLog(AccessFilter{DossierCode: req.GetDossierCode(), Name: req.GetName(), ByName: req.GetName() != ""}, size, before)
	if err != nil {
		return nil, s.fail(ctx, err, "read the access log")
	}
	resp := &xasov1.ListAccessLogResponse{Entries: entries}
	if next > 0 {
		resp.NextPageToken = strconv.FormatInt(next, 10)
	}
	return resp, nil
}

// recordRead records a desk page's read by the signed-in official,
// answering the request itself (and showing nothing) when the entry
// cannot be written.
func (p *pages) recordRead(w http.ResponseWriter, r *http.Request, se Session, rd read) bool {
	err := recordRead(r.Context(), p.n.store, p.n.cfg.Commune, p.n.now(), deskReader(r, se), rd)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrRestoring):
		http.Error(w, "this node is restoring its commune's data from central; dossiers are shown again once it is done", http.StatusServiceUnavailable)
	default:
		p.fail(w, r, err, "access log")
	}
	return false
}

// accessPageSize is how many entries a page of the desk's access log shows.
const accessPageSize = 50

// accessRow is one entry of the access log as the desk shows it.
type accessRow struct {
	Sequence int64
	Time     time.Time
	// Name and Via are empty when the node could not tell; Role is a
	// message key, empty without a role.
	Name, Role, Via, Address, Kind, Filter, File string
	Codes                                        []string
	Count                                        int32
}

// accessLogData is the desk's access log page: the filter asked for, a
// page of entries, and the address of the next (older) page.
type accessLogData struct {
	Code, Name, Error string
	Rows              []accessRow
	Older             string
}

// accessLog is the commune's access log for its leader (Nhật ký truy cập
// dữ liệu cá nhân): every read of personal data, newest first, by dossier
// code or by reader, a page at a time.
func (p *pages) accessLog(w http.ResponseWriter, r *http.Request, se Session) {
	if se.Role != "leader" {
		http.Error(w, "forbidden: only the commune's leader reads the access log", http.StatusForbidden)
		return
	}
	lang := web.PickLang(w, r)
	q := r.URL.Query()
	d := &accessLogData{Code: strings.TrimSpace(q.Get("ho-so")), Name: strings.TrimSpace(q.Get("nguoi"))}
	render := func(status int) {
		path := "/ban/nhat-ky-truy-cap"
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		p.pages.Render(w, status, "accesslog", p.page(r.Context(), lang, se, path, web.Message(lang, "access.title"), d))
	}
	before, err := strconv.ParseInt(cmp.Or(q.Get("truoc"), "0"), 10, 64)
	if err != nil || before < 0 {
		d.Error = "access.badpage"
		render(http.StatusBadRequest)
		return
	}
	if d.Code != "" {
		if _, err := dossier.ParseCode(d.Code); err != nil {
			d.Error = "lookup.bad"
			render(http.StatusBadRequest)
			return
		}
	}
	entries, next, err := p.n.store.AccessLog(AccessFilter{DossierCode: d.Code, Name: d.Name, ByName: d.Name != ""}, accessPageSize, before)
	if err != nil {
		p.fail(w, r, err, "access log")
		return
	}
	for _, e := range entries {
		row := accessRow{Sequence: e.GetSequence(), Time: e.GetTime().AsTime(), Name: e.GetName(), Via: e.GetVia(), Address: e.GetClientAddress(),
			Kind: "access.kind." + dossier.AccessKindName(e.GetKind()), Filter: e.GetFilter(), File: e.GetAttachmentSha256(),
			Codes: e.GetDossierCodes(), Count: e.GetCount()}
		if e.GetRole() != 0 {
			row.Role = "role." + dossier.RoleName(e.GetRole())
		}
		d.Rows = append(d.Rows, row)
	}
	if next > 0 {
		older := url.Values{"truoc": {strconv.FormatInt(next, 10)}}
		if d.Code != "" {
			older.Set("ho-so", d.Code)
		}
		if d.Name != "" {
			older.Set("nguoi", d.Name)
		}
		d.Older = "/ban/nhat-ky-truy-cap?" + older.Encode()
	}
	render(http.StatusOK)
}
