package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

func TestRESTReceiveAndWorkflow(t *testing.T) {
	n := startNode(t)
	code, resp := n.call(t, "POST", "/v1/dossiers", birthRequest())
	if code != 200 {
		t.Fatalf("create: %d %v", code, resp)
	}
	d := resp["dossier"].(map[string]any)
	dc := d["code"].(string)
	if dc != "09619-261123-0001" || d["state"] != "STATE_RECEIVED" {
		t.Fatalf("new dossier: %v", d)
	}
	// Birth registration is a same-day procedure: due at 17:00 today.
	if d["due_time"] != "2026-11-23T10:00:00Z" {
		t.Errorf("due_time %v, want 17:00 in Vietnam on the day", d["due_time"])
	}
	steps := []map[string]any{
		{"action": "ACTION_ASSIGN", "actor": "motcua.1", "role": "ROLE_CLERK", "assignee": "tuphap.1"},
		{"action": "ACTION_SUBMIT", "actor": "tuphap.1", "role": "ROLE_OFFICER"},
		{"action": "ACTION_APPROVE", "actor": "chutich", "role": "ROLE_LEADER"},
		{"action": "ACTION_RETURN", "actor": "motcua.1", "role": "ROLE_CLERK"},
	}
	for i, s := range steps {
		if i == len(steps)-1 {
			// The clerk no longer types the citizen's satisfaction (Decree
			// 118/2025 art. 33: the citizen rates), nor rates for them.
			for _, bad := range []map[string]any{
				{"action": "ACTION_RETURN", "satisfaction": "SATISFACTION_VERY_SATISFIED"},
				{"action": "ACTION_RATE"},
			} {
				code, resp := n.call(t, "POST", "/v1/dossiers/"+dc+":transition", bad)
				want := map[bool]string{true: "satisfaction", false: "action"}[bad["satisfaction"] != nil]
				if code != 400 || !slices.Contains(fieldViolations(resp), want) {
					t.Fatalf("%v: %d %v, want InvalidArgument on %s", bad, code, resp, want)
				}
			}
		}
		code, resp := n.call(t, "POST", "/v1/dossiers/"+dc+":transition", s)
		if code != 200 {
			t.Fatalf("%v: %d %v", s["action"], code, resp)
		}
	}
	code, resp = n.call(t, "GET", "/v1/dossiers/"+dc, nil)
	if code != 200 {
		t.Fatalf("get: %d %v", code, resp)
	}
	d = resp["dossier"].(map[string]any)
	if d["state"] != "STATE_RETURNED" || d["timeliness"] != "TIMELINESS_ON_TIME" || d["satisfaction"] != nil {
		t.Errorf("returned dossier: %v", d)
	}
	if evs := d["events"].([]any); len(evs) != 5 {
		t.Errorf("%d events, want 5", len(evs))
	}
}

func TestRESTIdempotentCreate(t *testing.T) {
	n := startNode(t)
	_, first := n.call(t, "POST", "/v1/dossiers", birthRequest(), "Idempotency-Key", "f3a1c2")
	_, again := n.call(t, "POST", "/v1/dossiers", birthRequest(), "Idempotency-Key", "f3a1c2")
	c1 := first["dossier"].(map[string]any)["code"]
	c2 := again["dossier"].(map[string]any)["code"]
	if c1 != c2 {
		t.Fatalf("a retried POST made two dossiers: %v and %v", c1, c2)
	}
	body := birthRequest()
	body["request_id"] = "other"
	_, third := n.call(t, "POST", "/v1/dossiers", body)
	if third["dossier"].(map[string]any)["code"] == c1 {
		t.Fatal("a different request id returned the same dossier")
	}
	if last, _ := n.Store().OutboxHead(); last != 2 {
		t.Errorf("outbox holds %d events, want 2", last)
	}
}

func TestConcurrentRetriesCreateOneDossier(t *testing.T) {
	n := startNode(t)
	codes := make(chan string, 20)
	for range 20 {
		go func() {
			req := &xasov1.CreateDossierRequest{
				RequestId: "double-click", ProcedureCode: "1.001193", Channel: xasov1.Channel_CHANNEL_IN_PERSON,
				Applicant:  &xasov1.Applicant{FullName: "Lò Văn Sơn"},
				Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}, {Code: "GCS", Paper: true}},
			}
			resp, err := n.grpc.CreateDossier(context.Background(), req)
			if err != nil {
				codes <- err.Error()
				return
			}
			codes <- resp.GetDossier().GetCode()
		}()
	}
	first := <-codes
	for range 19 {
		if c := <-codes; c != first {
			t.Fatalf("concurrent retries answered %s and %s", first, c)
		}
	}
	if c := n.Store().Counts()[dossier.Received]; c != 1 {
		t.Fatalf("%d dossiers stored, want 1", c)
	}
}

func TestRESTBadInputChangesNothing(t *testing.T) {
	n := startNode(t)
	_, ok := n.call(t, "POST", "/v1/dossiers", birthRequest())
	dc := ok["dossier"].(map[string]any)["code"].(string)
	before, _ := n.Store().OutboxHead()

	missing := birthRequest()
	missing["components"] = []any{map[string]any{"code": "TK", "paper": true}}
	wrongType := birthRequest()
	wrongType["applicant"] = "not an object"
	tests := []struct {
		name, method, path string
		body               any
		status             int
		fields             []string
	}{
		{"incomplete dossier", "POST", "/v1/dossiers", missing, 400, []string{"components"}},
		{"unknown procedure", "POST", "/v1/dossiers", map[string]any{"procedure_code": "9.999", "applicant": map[string]any{"full_name": "A"}, "channel": "CHANNEL_ONLINE", "actor": "a", "role": "ROLE_CLERK"}, 400, []string{"procedure_code"}},
		{"malformed identity number", "POST", "/v1/dossiers", func() any { b := birthRequest(); b["applicant"].(map[string]any)["id_number"] = "12ab"; return b }(), 400, []string{"applicant.id_number"}},
		{"wrong JSON type", "POST", "/v1/dossiers", wrongType, 400, nil},
		{"unknown JSON field", "POST", "/v1/dossiers", map[string]any{"nonsense": 1}, 400, nil},
		{"wrong method", "POST", "/v1/dossiers/" + dc, map[string]any{}, 405, nil},
		{"bad code", "GET", "/v1/dossiers/not-a-code", nil, 400, []string{"code"}},
		{"unknown dossier", "GET", "/v1/dossiers/09619-261123-0999", nil, 404, nil},
		{"bad filter", "GET", "/v1/dossiers?filter=colour%3Dred", nil, 400, []string{"filter"}},
		{"negative page size", "GET", "/v1/dossiers?page_size=-1", nil, 400, []string{"page_size"}},
		{"forged page token", "GET", "/v1/dossiers?page_token=AAAAAAAAAAAA", nil, 400, []string{"page_token"}},
		{"approve a received dossier", "POST", "/v1/dossiers/" + dc + ":transition", map[string]any{"action": "ACTION_APPROVE", "actor": "chutich", "role": "ROLE_LEADER"}, 409, nil},
		{"clerk may not refuse", "POST", "/v1/dossiers/" + dc + ":transition", map[string]any{"action": "ACTION_WITHDRAW", "actor": "x", "role": "ROLE_LEADER", "reason": "r"}, 403, nil},
		{"withdraw without a reason", "POST", "/v1/dossiers/" + dc + ":transition", map[string]any{"action": "ACTION_WITHDRAW", "actor": "x", "role": "ROLE_CLERK"}, 400, []string{"reason"}},
		{"stale version", "POST", "/v1/dossiers/" + dc + ":transition", map[string]any{"action": "ACTION_ASSIGN", "actor": "x", "role": "ROLE_CLERK", "assignee": "y", "expected_event_count": 7}, 409, nil},
		{"attachment never uploaded", "POST", "/v1/dossiers", func() any {
			b := birthRequest()
			b["components"] = []any{map[string]any{"code": "TK", "attachment_sha256": []string{strings.Repeat("ab", 32)}}, map[string]any{"code": "GCS", "paper": true}}
			return b
		}(), 400, []string{"components[0].attachment_sha256[0]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := n.call(t, tc.method, tc.path, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %v", code, tc.status, resp)
			}
			got := fieldViolations(resp)
			for _, f := range tc.fields {
				if !slices.Contains(got, f) {
					t.Errorf("field violations %v do not name %s", got, f)
				}
			}
			if msg, _ := resp["message"].(string); msg == "" {
				t.Errorf("no message saying what was wrong: %v", resp)
			}
		})
	}
	if after, _ := n.Store().OutboxHead(); after != before {
		t.Fatalf("bad requests wrote %d events", after-before)
	}
	if d, _ := n.Store().Get(dc, false); d.GetState() != dossier.Received {
		t.Fatalf("bad requests moved the dossier to %v", d.GetState())
	}
}

func TestGRPCStatuses(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	_, err := n.grpc.CreateDossier(ctx, &xasov1.CreateDossierRequest{ProcedureCode: "1.001193"})
	st, _ := status.FromError(err)
	if st.Code() != codes.InvalidArgument || len(st.Details()) == 0 {
		t.Fatalf("create without applicant: %v, want InvalidArgument with field violations", err)
	}
	resp, err := n.grpc.CreateDossier(ctx, &xasov1.CreateDossierRequest{
		ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_ONLINE,
		Applicant:  &xasov1.Applicant{FullName: "Giàng A Páo", IdNumber: "010095001234"},
		Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	code := resp.GetDossier().GetCode()
	_, err = n.grpc.TransitionDossier(as(ctx, xasov1.Role_ROLE_OFFICER), &xasov1.TransitionDossierRequest{Code: code, Action: xasov1.Action_ACTION_SUBMIT})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "IN_PROCESSING") {
		t.Fatalf("submit a received dossier: %v, want FailedPrecondition saying it needs IN_PROCESSING", err)
	}
	_, err = n.grpc.GetDossier(ctx, &xasov1.GetDossierRequest{Code: "09619-261123-0404"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown dossier: %v", err)
	}
	got, err := n.grpc.GetDossier(ctx, &xasov1.GetDossierRequest{Code: code})
	if err != nil || len(got.GetDossier().GetEvents()) != 1 {
		t.Fatalf("get: %v %v", got, err)
	}
	// 3 working days from Monday 23 Nov 2026; Tuesday 24, Vietnam Culture Day, is off.
	if due := got.GetDossier().GetDueTime().AsTime().In(dossier.Zone).Format(time.DateTime); due != "2026-11-27 17:00:00" {
		t.Errorf("due %s", due)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	var codes []string
	for i := range 12 {
		req := &xasov1.CreateDossierRequest{
			ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON,
			Applicant:  &xasov1.Applicant{FullName: "Người " + fmt.Sprint(i), IdNumber: fmt.Sprintf("0011900000%02d", i%3)},
			Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
		}
		n.clock.Set(n.clock.Now().Add(time.Hour))
		resp, err := n.grpc.CreateDossier(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, resp.GetDossier().GetCode())
	}
	for _, c := range codes[:4] {
		if _, err := n.grpc.TransitionDossier(ctx, &xasov1.TransitionDossierRequest{Code: c, Action: xasov1.Action_ACTION_ASSIGN, Assignee: "tuphap.1"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(filter string, size int32) []string {
		t.Helper()
		var got []string
		token := ""
		for page := 0; ; page++ {
			resp, err := n.grpc.ListDossiers(ctx, &xasov1.ListDossiersRequest{Filter: filter, PageSize: size, PageToken: token})
			if err != nil {
				t.Fatalf("list %q: %v", filter, err)
			}
			for _, d := range resp.GetDossiers() {
				got = append(got, d.GetCode())
			}
			if token = resp.GetNextPageToken(); token == "" {
				return got
			}
			if page > 20 {
				t.Fatal("paging does not end")
			}
		}
	}
	if got := list("", 5); !slices.Equal(got, codes) {
		t.Errorf("all, in pages of 5: %v", got)
	}
	if got := list("state = IN_PROCESSING", 3); !slices.Equal(got, codes[:4]) {
		t.Errorf("in processing: %v", got)
	}
	if got := list("state = RECEIVED AND assignee = tuphap.1", 3); len(got) != 0 {
		t.Errorf("contradiction matched %v", got)
	}
	if got := list("applicant_id_number = 001190000001", 2); len(got) != 4 {
		t.Errorf("by applicant: %v", got)
	}
	// Received from 10:00 to 21:00 on Monday 23 Nov; due Friday 17:00 (24 Nov
	// is Vietnam Culture Day) unless after the cut-off.
	if got := list(`due_time <= "2026-11-27T17:00:00+07:00"`, 100); len(got) != 7 {
		t.Errorf("due by Friday: %d dossiers %v, want the 7 received 10:00 to 16:00, before the cut-off", len(got), got)
	}
	if got := list("overdue = true", 10); len(got) != 0 {
		t.Errorf("overdue now: %v", got)
	}
	n.clock.Set(time.Date(2026, 11, 30, 8, 0, 0, 0, dossier.Zone))
	if got := list("overdue = true", 10); len(got) != 7 {
		t.Errorf("overdue on Monday 30 Nov: %d, want 7", len(got))
	}
	if got := list("received_time >= 2026-11-23 AND received_time < 2026-11-24", 100); len(got) != 12 {
		t.Errorf("received Monday: %d", len(got))
	}
}

func TestAttachments(t *testing.T) {
	n := startNode(t, func(c *Config) { c.MaxAttachmentBytes = 2 << 20 })
	ctx := context.Background()
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("scan "), 120_000)...) // 600 kB: three chunks
	resp, err := n.grpc.CreateAttachment(ctx, &xasov1.CreateAttachmentRequest{Filename: `C:\scans\khai-sinh.pdf`, ContentType: "application/pdf", Content: pdf})
	if err != nil {
		t.Fatal(err)
	}
	ref := resp.GetAttachment()
	if ref.GetFilename() != "khai-sinh.pdf" || ref.GetSizeBytes() != int64(len(pdf)) {
		t.Fatalf("ref %v", ref)
	}
	got, err := n.grpc.GetAttachment(ctx, &xasov1.GetAttachmentRequest{Sha256: ref.GetSha256()})
	if err != nil || !bytes.Equal(got.GetContent(), pdf) {
		t.Fatalf("download: %v", err)
	}
	bad := []*xasov1.CreateAttachmentRequest{
		{Filename: "a.pdf", ContentType: "application/pdf", Content: []byte("MZ\x90\x00 not a pdf")},
		{Filename: "a.exe", ContentType: "application/octet-stream", Content: pdf},
		{Filename: "big.pdf", ContentType: "application/pdf", Content: append([]byte("%PDF-"), make([]byte, 2<<20)...)},
		{Filename: "", ContentType: "image/png", Content: []byte("\x89PNG\r\n\x1a\n")},
	}
	for i, req := range bad {
		if _, err := n.grpc.CreateAttachment(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("bad upload %d: %v, want InvalidArgument", i, err)
		}
	}
	// A dossier may now name the scan.
	body := birthRequest()
	body["components"] = []any{map[string]any{"code": "TK", "attachment_sha256": []string{ref.GetSha256()}}, map[string]any{"code": "GCS", "paper": true}}
	body["attachments"] = []any{map[string]any{"sha256": ref.GetSha256(), "filename": "khai-sinh.pdf", "content_type": "application/pdf", "component_code": "TK"}}
	if code, resp := n.call(t, "POST", "/v1/dossiers", body); code != 200 {
		t.Fatalf("dossier with a scan: %d %v", code, resp)
	}
	// REST download answers JSON with the content in base64.
	code, r := n.call(t, "GET", "/v1/attachments/"+ref.GetSha256(), nil)
	if code != 200 || r["content"] == nil {
		t.Fatalf("REST download: %d", code)
	}
}

func TestHealthMetricsAndSync(t *testing.T) {
	n := startNode(t)
	n.call(t, "POST", "/v1/dossiers", birthRequest())
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := n.client.Get(n.url + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	resp, err := n.client.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`xaso_node_dossiers{state="RECEIVED"} 1`,
		`xaso_node_transitions_total{action="RECEIVE"} 1`,
		`xaso_node_outbox_pending_events 1`,
		`xaso_node_overdue_dossiers 0`,
		`xaso_node_store_size_bytes`,
		`xaso_node_http_request_duration_seconds_bucket{route="POST /v1/dossiers",status="200"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	code, s := n.call(t, "GET", "/v1/sync", nil)
	if code != 200 || s["last_sequence"] != "1" || s["pending_events"] != "1" {
		t.Fatalf("sync: %d %v", code, s)
	}
}

func TestProcedures(t *testing.T) {
	n := startNode(t)
	code, resp := n.call(t, "GET", "/v1/procedures?query=khai%20sinh", nil)
	if code != 200 {
		t.Fatal(code)
	}
	procs := resp["procedures"].([]any)
	names := []string{}
	for _, p := range procs {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	if !slices.Contains(names, "Đăng ký khai sinh") || !slices.Contains(names, "Đăng ký lại khai sinh") {
		t.Errorf("search 'khai sinh' (no accents) found %v", names)
	}
	var all []string
	token := ""
	for {
		r, err := n.grpc.ListProcedures(context.Background(), &xasov1.ListProceduresRequest{PageSize: 7, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.GetProcedures() {
			all = append(all, p.GetCode())
		}
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(all) < 20 || !slices.IsSorted(all) {
		t.Errorf("catalogue pages: %v", all)
	}
	if code, _ := n.call(t, "GET", "/v1/procedures/1.001193", nil); code != 200 {
		t.Errorf("get procedure: %d", code)
	}
}

// TestCheckStore: the check reads the running store, names the outbox head
// by the last record's hash, and reports a broken invariant without
// failing the call.
func TestCheckStore(t *testing.T) {
	n := startNode(t)
	for range 3 {
		if code, _ := n.call(t, "POST", "/v1/dossiers", birthRequest()); code != 200 {
			t.Fatalf("create: %d", code)
		}
	}
	code, c := n.callAs(t, xasov1.Role_ROLE_LEADER, "GET", "/v1/store:check", nil)
	if code != 200 || c["ok"] != true || c["last_sequence"] != "3" || c["records"] != "3" || c["dossiers"] != "3" {
		t.Fatalf("check: %d %v", code, c)
	}
	recs, err := n.Store().ReadOutbox(3, 1, 1<<20)
	if err != nil || len(recs) != 1 {
		t.Fatal(recs, err)
	}
	if c["head_hash"] != base64.StdEncoding.EncodeToString(recs[0].GetHash()) {
		t.Errorf("head hash %v, the last record's %x", c["head_hash"], recs[0].GetHash())
	}

	// A counter that disagrees with the dossiers is reported, then put back.
	key := countKey(dossier.Received)
	set := func(v int64) {
		if err := n.Store().db.Update(func(txn *badger.Txn) error {
			return txn.Set(key, binary.BigEndian.AppendUint64(nil, uint64(v)))
		}); err != nil {
			t.Fatal(err)
		}
	}
	set(7)
	got, err := n.grpc.CheckStore(as(context.Background(), 0), &xasov1.CheckStoreRequest{})
	if err != nil || got.GetOk() || len(got.GetProblems()) != 1 || !strings.Contains(got.GetProblems()[0], "counter of RECEIVED is 7") {
		t.Errorf("check of a broken counter: %v %v", got, err)
	}
	set(3)
}

// A stored file goes to central once a dossier's change names it, and
// once only: a scan stored for an action the workflow refused stays in
// the commune.
func TestFilesQueueForCentralWhenADossierNamesThem(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	upload := func(text string) string {
		t.Helper()
		resp, err := n.grpc.CreateAttachment(ctx, &xasov1.CreateAttachmentRequest{Filename: "scan.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.7\n" + text)})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetAttachment().GetSha256()
	}
	pending := func(want int64, after string) {
		t.Helper()
		st, err := n.grpc.GetSyncStatus(ctx, &xasov1.GetSyncStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetPendingAttachments() != want {
			t.Fatalf("after %s: %d files queued for central, want %d", after, st.GetPendingAttachments(), want)
		}
	}
	naming := func(sha string) map[string]any {
		body := birthRequest()
		body["components"] = []any{map[string]any{"code": "TK", "attachment_sha256": []string{sha}}, map[string]any{"code": "GCS", "paper": true}}
		body["attachments"] = []any{map[string]any{"sha256": sha, "filename": "scan.pdf", "content_type": "application/pdf", "component_code": "TK"}}
		return body
	}
	a, b := upload("the declaration"), upload("the birth certificate")
	pending(0, "storing two files")
	code, resp := n.call(t, "POST", "/v1/dossiers", naming(a))
	if code != 200 {
		t.Fatalf("dossier naming a file: %d %v", code, resp)
	}
	pending(1, "a receipt naming the first")
	dc := resp["dossier"].(map[string]any)["code"].(string)
	refused := map[string]any{"action": "ACTION_APPROVE", "actor": "chutich", "role": "ROLE_LEADER",
		"attachments": []any{map[string]any{"sha256": b, "filename": "scan.pdf", "content_type": "application/pdf", "result": true}}}
	if code, resp := n.call(t, "POST", "/v1/dossiers/"+dc+":transition", refused); code != 409 {
		t.Fatalf("approving a received dossier: %d %v, want 409", code, resp)
	}
	pending(1, "a refused action naming the second")
	if code, resp := n.call(t, "POST", "/v1/dossiers", naming(a)); code != 200 {
		t.Fatalf("second dossier naming the first file: %d %v", code, resp)
	}
	pending(1, "another receipt naming the first again")
	if code, resp := n.call(t, "POST", "/v1/dossiers", naming(b)); code != 200 {
		t.Fatalf("dossier naming the second file: %d %v", code, resp)
	}
	pending(2, "a receipt naming the second")
}
