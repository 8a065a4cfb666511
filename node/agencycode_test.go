package node

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// createUnder receives a dossier of procedure with the node's agency e-ID
// agency and returns its code.
func createUnder(t *testing.T, st *Store, agency, procedure string, at time.Time) string {
	t.Helper()
	d, err := st.Create(context.Background(), testCommune, sample.Calendar(), CreateInput{
		ProcedureCode: procedure, Channel: xasov1.Channel_CHANNEL_IN_PERSON, Actor: "a", Role: dossier.Clerk, Time: at, Agency: agency,
		Applicant: &xasov1.Applicant{FullName: "Một", IdNumber: "001190099999"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d.GetCode()
}

// feedCommune applies central's registry entry of the test commune, as the
// feed brings it.
func feedCommune(t *testing.T, st *Store, seq uint64, agency string) {
	t.Helper()
	it := &xasov1.FeedItem{Sequence: seq, Broadcast: true, Item: &xasov1.FeedItem_Commune{Commune: &xasov1.Commune{Code: testCommune, Name: "Xã thử", AgencyId: agency}}}
	if err := st.applyFeedItem(context.Background(), it, testCommune, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// Decree 118/2025 art. 28: a node numbers its dossiers under its agency
// e-ID once central's registry gives the commune that e-ID (legacy codes
// until then), and under a procedure's competent agency with the commune's
// code in the sequence; each series counts on its own, never reuses a
// number, and a restore from central carries every counter past the codes
// it brings back. Every code is one central takes (CheckCodeIssuer).
func TestCreateNumbersUnderAgencyIDs(t *testing.T) {
	ctx := context.Background()
	const own, dept = "000.00.19.H56", "000.00.00.H56"
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	var shared *xasov1.Procedure
	for _, p := range sample.Procedures() {
		if p.GetCode() == "1.004873" {
			shared = proto.Clone(p).(*xasov1.Procedure)
		}
	}
	shared.Code, shared.CompetentAgencyId = "9.000001", dept
	if err := st.PutProcedure(ctx, shared); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, agency, procedure, registered, want string
	}{
		{"no e-ID configured: legacy", "", "1.004873", "", "09619-261123-0001"},
		{"configured, not registered: legacy", own, "1.004873", "", "09619-261123-0002"},
		{"registered for the commune: under it", own, "1.004873", own, own + "-261123-0001"},
		{"next", own, "1.004873", own, own + "-261123-0002"},
		{"competent agency: the commune in the sequence", own, shared.GetCode(), own, dept + "-261123-096190001"},
		{"competent agency, node without an e-ID", "", shared.GetCode(), own, dept + "-261123-096190002"},
		{"central gives the commune another e-ID: legacy", own, "1.004873", "000.00.20.H56", "09619-261123-0003"},
	}
	feed := uint64(0)
	for _, s := range steps {
		if s.registered != "" {
			feed++
			feedCommune(t, st, feed, s.registered)
		}
		got := createUnder(t, st, s.agency, s.procedure, at)
		if got != s.want {
			t.Fatalf("%s: code %s, want %s", s.name, got, s.want)
		}
		if err := dossier.CheckCodeIssuer(got, testCommune, []string{s.registered}, map[bool]string{true: dept}[s.procedure == shared.GetCode()]); err != nil {
			t.Errorf("%s: central would refuse %s: %v", s.name, got, err)
		}
	}

	// A machine restored from central numbers after every code it got back.
	recs, err := st.ReadOutbox(1, 1000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	fresh := openSeeded(t, t.TempDir(), nil)
	defer fresh.Close()
	if err := fresh.PutProcedure(ctx, shared); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Restore(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	feedCommune(t, fresh, 1, own)
	for _, c := range []struct{ procedure, want string }{
		{"1.004873", own + "-261123-0003"},
		{shared.GetCode(), dept + "-261123-096190003"},
	} {
		if got := createUnder(t, fresh, own, c.procedure, at); got != c.want {
			t.Errorf("after a restore: %s, want %s", got, c.want)
		}
	}
	feedCommune(t, fresh, 2, "000.00.20.H56")
	if got := createUnder(t, fresh, own, "1.004873", at); got != "09619-261123-0004" {
		t.Errorf("legacy after a restore: %s", got)
	}
}

// A node takes no malformed e-ID from central's feed.
func TestFeedRefusesAMalformedAgencyID(t *testing.T) {
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	it := &xasov1.FeedItem{Sequence: 1, Broadcast: true, Item: &xasov1.FeedItem_Commune{Commune: &xasov1.Commune{Code: testCommune, Name: "Xã thử", AgencyId: "000.00.19.h56"}}}
	if err := st.applyFeedItem(context.Background(), it, testCommune, time.Now()); err == nil {
		t.Fatal("a malformed e-ID taken from the feed")
	}
}

// A node refuses an agency_id that is not an e-ID.
func TestConfigAgencyID(t *testing.T) {
	for id, ok := range map[string]bool{"": true, "000.00.19.H56": true, "H56": false, "000.00.19.h56": false, "09619": false} {
		c := DefaultConfig()
		c.Commune, c.DataDir, c.AgencyID = testCommune, t.TempDir(), id
		if err := c.Validate(); (err == nil) != ok {
			t.Errorf("agency_id %q: %v", id, err)
		}
	}
}

// Codes with dots reach every door: the REST routes (a path segment, and
// the :transition suffix after it), gRPC, the look-up page and its form.
func TestAgencyCodesOverRESTAndLookup(t *testing.T) {
	const own = "000.00.19.H56"
	n := startNode(t, func(c *Config) { c.AgencyID = own })
	feedCommune(t, n.Store(), 1, own)
	code, resp := n.call(t, "POST", "/v1/dossiers", birthRequest())
	if code != 200 {
		t.Fatalf("create: %d %v", code, resp)
	}
	dc := resp["dossier"].(map[string]any)["code"].(string)
	if dc != own+"-261123-0001" {
		t.Fatalf("code %s", dc)
	}
	if code, resp := n.call(t, "POST", "/v1/dossiers/"+dc+":transition", map[string]any{"action": "ACTION_ASSIGN", "actor": "motcua.1", "role": "ROLE_CLERK", "assignee": "tuphap.1"}); code != 200 {
		t.Fatalf("transition: %d %v", code, resp)
	}
	code, resp = n.call(t, "GET", "/v1/dossiers/"+dc, nil)
	if code != 200 || resp["dossier"].(map[string]any)["assignee"] != "tuphap.1" {
		t.Fatalf("get: %d %v", code, resp)
	}
	if code, resp := n.call(t, "GET", "/v1/dossiers/000.00.19.h56-261123-0001", nil); code != 400 {
		t.Errorf("a malformed code: %d %v", code, resp)
	}
	if got, err := n.grpc.GetDossier(as(context.Background(), xasov1.Role_ROLE_CLERK), &xasov1.GetDossierRequest{Code: dc}); err != nil || got.GetDossier().GetCode() != dc {
		t.Errorf("gRPC: %v, %v", got, err)
	}
	client := &http.Client{Transport: n.client.Transport}
	check := n.Store().LookupCheck(dc)
	status, path, body := page(t, client, n.url+"/tra-cuu?code="+dc+"&k="+check)
	if status != 200 || path != "/tra-cuu/"+dc || !strings.Contains(body, dc) || !strings.Contains(body, "Ngày hẹn trả kết quả") {
		t.Fatalf("look-up: %d at %s\n%s", status, path, body)
	}
	status, _, body = page(t, client, n.url+"/tra-cuu?code=000.00.19.H56-261123-00001")
	if status != 400 || !strings.Contains(body, "mã định danh của cơ quan") {
		t.Errorf("a bad code on the form: %d\n%s", status, body)
	}
}
