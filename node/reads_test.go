package node

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// oldestFirst is the whole access log of st, oldest first.
func oldestFirst(t *testing.T, st *Store) []*xasov1.AccessEntry {
	t.Helper()
	all, _, err := st.AccessLog(AccessFilter{}, 10_000, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(all)
	return all
}

// wantEntry is what a test expects of an access entry.
type wantEntry struct {
	kind                    dossier.AccessKind
	name, via, addr, filter string
	role                    dossier.Role
	codes                   []string
	count                   int32
	sha                     string
	at                      time.Time
}

func checkEntries(t *testing.T, got []*xasov1.AccessEntry, want []wantEntry) {
	t.Helper()
	if len(got) != len(want) {
		for _, e := range got {
			t.Logf("entry %v", e)
		}
		t.Fatalf("%d access entries, want %d", len(got), len(want))
	}
	for i, w := range want {
		e := got[i]
		if e.GetKind() != w.kind || e.GetName() != w.name || e.GetRole() != w.role || e.GetVia() != w.via || e.GetClientAddress() != w.addr ||
			!slices.Equal(e.GetDossierCodes(), w.codes) || e.GetFilter() != w.filter || e.GetCount() != w.count || e.GetAttachmentSha256() != w.sha ||
			!e.GetTime().AsTime().Equal(w.at) {
			t.Errorf("entry %d: %v\nwant %+v", i+1, e, w)
		}
	}
}

// Every read of personal data through the API is in the access log before
// its answer: who (the call's principal, or an unknown reader with the
// connection's address), when (the node's clock), what (the dossier, the
// dossiers listed with the filter, the file), from which address. A list
// by a citizen's identity number is a search; a dossier that is not there
// shows nothing and is not logged.
func TestAPIReadsAreLogged(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("scan "), 100)...)
	att, err := n.grpc.CreateAttachment(ctx, &xasov1.CreateAttachmentRequest{Filename: "khai-sinh.pdf", ContentType: "application/pdf", Content: pdf})
	if err != nil {
		t.Fatal(err)
	}
	sha := att.GetAttachment().GetSha256()
	body := birthRequest()
	body["components"] = []any{map[string]any{"code": "TK", "attachment_sha256": []string{sha}}, map[string]any{"code": "GCS", "paper": true}}
	body["attachments"] = []any{map[string]any{"sha256": sha, "filename": "khai-sinh.pdf", "content_type": "application/pdf", "component_code": "TK"}}
	st, resp := n.call(t, "POST", "/v1/dossiers", body)
	if st != 200 {
		t.Fatalf("create: %d %v", st, resp)
	}
	code := resp["dossier"].(map[string]any)["code"].(string)
	if got := n.Store().AccessHead(); got != 0 {
		t.Fatalf("receiving a dossier wrote %d access entries", got)
	}

	clerk := WithPrincipal(ctx, Principal{Name: "lan", Role: dossier.Clerk, Via: ViaToken, Addr: "192.0.2.10"})
	t0 := n.clock.Now()
	if _, err := n.Server().GetDossier(clerk, &xasov1.GetDossierRequest{Code: code}); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Minute)
	n.clock.Set(t1)
	if _, err := n.Server().ListDossiers(clerk, &xasov1.ListDossiersRequest{Filter: "state = RECEIVED"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Server().ListDossiers(clerk, &xasov1.ListDossiersRequest{Filter: "applicant_id_number = 001190012345"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Server().ListDossiers(clerk, &xasov1.ListDossiersRequest{Filter: "state = REFUSED"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Server().GetAttachment(clerk, &xasov1.GetAttachmentRequest{Sha256: sha}); err != nil {
		t.Fatal(err)
	}
	// Over the network: the token's owner, from the connection's address.
	if _, err := n.grpc.GetDossier(ctx, &xasov1.GetDossierRequest{Code: code}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.grpc.GetDossier(ctx, &xasov1.GetDossierRequest{Code: "09619-261123-0404"}); status.Code(err) != codes.NotFound {
		t.Fatalf("a dossier that is not there: %v", err)
	}
	if st, _ := n.call(t, "GET", "/v1/dossiers?filter=state%20%3D%20RECEIVED", nil); st != 200 {
		t.Fatalf("REST list: %d", st)
	}
	lan := func(w wantEntry) wantEntry {
		w.name, w.role, w.via, w.addr = "lan", dossier.Clerk, "token", "192.0.2.10"
		if w.at.IsZero() {
			w.at = t1
		}
		return w
	}
	checkEntries(t, oldestFirst(t, n.Store()), []wantEntry{
		lan(wantEntry{kind: dossier.AccessRead, codes: []string{code}, count: 1, at: t0}),
		lan(wantEntry{kind: dossier.AccessList, codes: []string{code}, count: 1, filter: "state = RECEIVED"}),
		lan(wantEntry{kind: dossier.AccessSearch, codes: []string{code}, count: 1, filter: "applicant_id_number = 001190012345"}),
		lan(wantEntry{kind: dossier.AccessList, filter: "state = REFUSED"}),
		lan(wantEntry{kind: dossier.AccessDownload, sha: sha}),
		{name: "motcua.1", role: dossier.Clerk, via: "token", kind: dossier.AccessRead, codes: []string{code}, count: 1, addr: "127.0.0.1", at: t1},
		{name: "motcua.1", role: dossier.Clerk, via: "token", kind: dossier.AccessList, codes: []string{code}, count: 1, filter: "state = RECEIVED", addr: "127.0.0.1", at: t1},
	})
	// Each is an outbox record, for central.
	if last, _ := n.Store().OutboxHead(); last != 1+7 {
		t.Fatalf("outbox at %d: one event and 7 access entries expected", last)
	}
}

// A reader's name and address are bounded and made one line before they
// are recorded, and a page of 500 dossiers names each of them.
func TestRecordedReadsAreBounded(t *testing.T) {
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	var shown []string
	for i := range 600 {
		shown = append(shown, fmt.Sprintf("09619-261123-%04d", i%550+1))
	}
	who := reader{name: " cán bộ\nmột cửa\x00" + strings.Repeat("ễ", 100), role: 77, via: "a via", addr: strings.Repeat("1", 300)}
	rd := read{kind: dossier.AccessList, codes: shown, count: 600, filter: "state = RECEIVED\x01" + strings.Repeat("x", 2000)}
	if err := recordRead(context.Background(), st, testCommune, at, who, rd); err != nil {
		t.Fatal(err)
	}
	e := oldestFirst(t, st)[0]
	if len(e.GetName()) > dossier.MaxActorBytes || strings.ContainsAny(e.GetName(), "\n\x00") || !strings.HasPrefix(e.GetName(), "cán bộ một cửa") {
		t.Errorf("name %q", e.GetName())
	}
	if e.GetRole() != 0 || e.GetVia() != "" || len(e.GetClientAddress()) > dossier.MaxClientAddressBytes || len(e.GetFilter()) > dossier.MaxFilterBytes {
		t.Errorf("role %v, via %q, address of %d bytes, filter of %d bytes", e.GetRole(), e.GetVia(), len(e.GetClientAddress()), len(e.GetFilter()))
	}
	if len(e.GetDossierCodes()) != dossier.MaxAccessCodes || e.GetCount() != 600 || e.GetDossierCodes()[499] != "09619-261123-0500" {
		t.Errorf("%d dossiers named, count %d", len(e.GetDossierCodes()), e.GetCount())
	}
}

// Only the commune's leader reads the access log: a caller without a
// principal is asked to sign in, any other role refused. The leader pages
// through it newest first, by reader or by dossier; reading the log is not
// itself a read of a dossier, and no call of the API removes an entry.
func TestOnlyTheLeaderReadsTheAccessLog(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	st, resp := n.call(t, "POST", "/v1/dossiers", birthRequest())
	if st != 200 {
		t.Fatalf("create: %d %v", st, resp)
	}
	code := resp["dossier"].(map[string]any)["code"].(string)
	as := func(name string, role dossier.Role) context.Context {
		return WithPrincipal(ctx, Principal{Name: name, Role: role, Via: ViaSession, Addr: "192.0.2.1"})
	}
	for range 10 {
		if _, err := n.Server().GetDossier(as("lan", dossier.Clerk), &xasov1.GetDossierRequest{Code: code}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.Server().GetDossier(as("minh", dossier.Officer), &xasov1.GetDossierRequest{Code: code}); err != nil {
		t.Fatal(err)
	}

	if _, err := n.Server().ListAccessLog(ctx, &xasov1.ListAccessLogRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("without a principal: %v", err)
	}
	if _, err := xasov1.NewNodeServiceClient(grpcConn(t, n)).ListAccessLog(ctx, &xasov1.ListAccessLogRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("over gRPC without credentials: %v", err)
	}
	if st, _ := n.callAs(t, nobody, "GET", "/v1/accessLog", nil); st != http.StatusUnauthorized {
		t.Errorf("REST without credentials: %d", st)
	}
	if st, _ := n.callAs(t, xasov1.Role_ROLE_LEADER, "GET", "/v1/accessLog", nil); st != http.StatusOK {
		t.Errorf("REST with the leader's token: %d", st)
	}
	for _, who := range []context.Context{as("lan", dossier.Clerk), as("minh", dossier.Officer), as("monitor", 0)} {
		if _, err := n.Server().ListAccessLog(who, &xasov1.ListAccessLogRequest{}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("not a leader: %v", err)
		}
	}

	leader := as("hoa", dossier.Leader)
	var seqs []int64
	token := ""
	for pages := 0; ; pages++ {
		r, err := n.Server().ListAccessLog(leader, &xasov1.ListAccessLogRequest{PageSize: 4, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, sequences(r.GetEntries())...)
		if token = r.GetNextPageToken(); token == "" {
			break
		}
		if pages > 5 {
			t.Fatal("the pages do not end")
		}
	}
	if !slices.Equal(seqs, []int64{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}) {
		t.Fatalf("the leader's pages: %v", seqs)
	}
	r, err := n.Server().ListAccessLog(leader, &xasov1.ListAccessLogRequest{Name: "minh"})
	if err != nil || len(r.GetEntries()) != 1 || r.GetEntries()[0].GetName() != "minh" || r.GetEntries()[0].GetSequence() != 11 {
		t.Fatalf("minh's reads: %v, %v", r.GetEntries(), err)
	}
	if r, err = n.Server().ListAccessLog(leader, &xasov1.ListAccessLogRequest{DossierCode: code, PageSize: 100}); err != nil || len(r.GetEntries()) != 11 {
		t.Fatalf("the reads of %s: %d, %v", code, len(r.GetEntries()), err)
	}
	if r, err = n.Server().ListAccessLog(leader, &xasov1.ListAccessLogRequest{DossierCode: "09619-261123-0404"}); err != nil || len(r.GetEntries()) != 0 {
		t.Fatalf("the reads of a dossier nobody read: %v, %v", r.GetEntries(), err)
	}
	for _, bad := range []*xasov1.ListAccessLogRequest{{PageToken: "abc"}, {PageToken: "-3"}, {DossierCode: "x"}, {PageSize: -1}, {Name: strings.Repeat("n", 200)}} {
		if _, err := n.Server().ListAccessLog(leader, bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", bad, err)
		}
	}
	if got := n.Store().AccessHead(); got != 11 {
		t.Fatalf("reading the log wrote to it: head %d", got)
	}
	for _, m := range xasov1.NodeService_ServiceDesc.Methods {
		if strings.Contains(strings.ToLower(m.MethodName), "access") && m.MethodName != "ListAccessLog" {
			t.Errorf("the API has %s besides ListAccessLog", m.MethodName)
		}
	}
}

// Every desk page that shows personal data writes its entry with the
// signed-in official, the role, the session and the browser's address:
// the receipt, the work queue (every dossier of its sections, with their
// filters), the dossier page and a file. The leader's queue links to the
// access log, which shows them, a page at a time, by reader or by dossier;
// other officials may not open it.
func TestDeskReadsAreLoggedAndTheLeaderSeesThem(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	d := newDesk(t, n)
	d.signIn("lan")
	form := url.Values{"procedure": {"1.001193"}, "request_id": {"r1"}, "full_name": {"Hà Thị Lan"}, "id_number": {"001190012345"}, "channel": {"IN_PERSON"}, "paper": {"GCS"}}
	st, loc, body := d.post("/ban/tiep-nhan", form, map[string][2]string{"scan-TK": {"to-khai.pdf", "%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"}})
	if st != http.StatusSeeOther {
		t.Fatalf("receive: %d %s\n%s", st, loc, body)
	}
	code := strings.TrimSuffix(strings.TrimPrefix(loc, "/ban/ho-so/"), "/phieu")
	full, err := n.Store().Get(code, false)
	if err != nil {
		t.Fatal(err)
	}
	sha := full.GetAttachments()[0].GetSha256()
	for _, path := range []string{loc, "/ban", "/ban/ho-so/" + code, "/ban/tep/" + sha} {
		if st, _, body := d.get(path); st != 200 {
			t.Fatalf("%s: %d\n%s", path, st, body)
		}
	}
	at := n.clock.Now()
	lan := func(w wantEntry) wantEntry {
		w.name, w.role, w.via, w.addr, w.at = "lan", dossier.Clerk, "session", "127.0.0.1", at
		return w
	}
	entries := oldestFirst(t, n.Store())
	if len(entries) != 4 || !strings.Contains(entries[1].GetFilter(), "overdue = true | ") || !strings.Contains(entries[1].GetFilter(), "state = RECEIVED") {
		t.Fatalf("the queue's entry: %v", entries)
	}
	checkEntries(t, entries, []wantEntry{
		lan(wantEntry{kind: dossier.AccessReceipt, codes: []string{code}, count: 1}),
		lan(wantEntry{kind: dossier.AccessList, codes: []string{code}, count: 1, filter: entries[1].GetFilter()}),
		lan(wantEntry{kind: dossier.AccessRead, codes: []string{code}, count: 1}),
		lan(wantEntry{kind: dossier.AccessDownload, sha: sha}),
	})

	if st, _, _ := d.get("/ban/nhat-ky-truy-cap"); st != http.StatusForbidden {
		t.Fatalf("a clerk opens the access log: %d", st)
	}
	if _, _, body := d.get("/ban"); strings.Contains(body, `href="/ban/nhat-ky-truy-cap"`) {
		t.Fatal("a clerk's queue links to the access log")
	}
	d.signIn("hoa")
	if _, _, body := d.get("/ban"); !strings.Contains(body, `href="/ban/nhat-ky-truy-cap"`) {
		t.Fatal("the leader's queue does not link to the access log")
	}
	st, _, body = d.get("/ban/nhat-ky-truy-cap")
	for _, want := range []string{"Nhật ký truy cập dữ liệu cá nhân", "Xem giấy tiếp nhận", "Xem danh sách hồ sơ", "Xem hồ sơ", "Tải tệp", sha,
		`<a href="/ban/nhat-ky-truy-cap?ho-so=` + code + `">`, "lan", "hoa", "127.0.0.1", "qua bàn làm việc", "Cán bộ một cửa", "Lãnh đạo"} {
		if st != 200 || !strings.Contains(body, want) {
			t.Errorf("the access log page (%d) lacks %q", st, want)
		}
	}
	if _, _, body = d.get("/ban/nhat-ky-truy-cap?nguoi=hoa"); strings.Contains(body, "Tải tệp") || !strings.Contains(body, "Xem danh sách hồ sơ") {
		t.Errorf("the leader's own reads show another's:\n%s", body)
	}
	if st, _, _ := d.get("/ban/nhat-ky-truy-cap?ho-so=x"); st != http.StatusBadRequest {
		t.Errorf("a bad dossier code: %d", st)
	}
	if st, _, _ := d.get("/ban/nhat-ky-truy-cap?truoc=x"); st != http.StatusBadRequest {
		t.Errorf("a bad page: %d", st)
	}
	// More than a page: the older ones are a link away.
	for range accessPageSize {
		if err := recordRead(context.Background(), n.Store(), testCommune, at, reader{name: "minh", role: dossier.Officer, via: ViaSession, addr: "192.0.2.9"},
			read{kind: dossier.AccessRead, codes: []string{code}, count: 1}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, body = d.get("/ban/nhat-ky-truy-cap?ho-so=" + code)
	i := strings.Index(body, `href="/ban/nhat-ky-truy-cap?ho-so=`+code+`&amp;truoc=`)
	if i < 0 || strings.Contains(body, "Xem giấy tiếp nhận") {
		t.Fatalf("the first page of %s's reads: no link to the older ones, or the oldest on it", code)
	}
	older := strings.ReplaceAll(body[i+len(`href="`):i+strings.Index(body[i:], `">`)], "&amp;", "&")
	if st, _, body := d.get(older); st != 200 || !strings.Contains(body, "Xem giấy tiếp nhận") {
		t.Fatalf("the older page %s: %d", older, st)
	}
}
