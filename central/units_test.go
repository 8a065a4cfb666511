package central

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
)

// sampleUnitCommunes is the sample province's communes with their unit
// history (Resolution 1686/NQ-UBTVQH15, codes of Decision 19/2025/QĐ-TTg).
func sampleUnitCommunes(t testing.TB) map[string]*xasov1.Commune {
	t.Helper()
	cs, err := CommunesFromUnitsTSV(sample.ProvinceTSV())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 166 {
		t.Fatalf("%d communes from the sample province, want 166", len(cs))
	}
	out := map[string]*xasov1.Commune{}
	for _, c := range cs {
		out[c.GetCode()] = c
	}
	return out
}

func putCommuneRecord(cm *xasov1.Commune) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCommune{PutCommune: &xasov1.PutCommuneCommand{Commune: proto.Clone(cm).(*xasov1.Commune)}}}
}

// unitAt answers as UnitAt does, from f alone: the unit in force, else the
// code and name of the units carrying on its territory.
func unitAt(t *testing.T, f *FSM, code, at string) (*xasov1.UnitVersion, []string) {
	t.Helper()
	idx, err := f.units()
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseUnitDate(at)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := idx.at(code, d)
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range resp.GetSuccessors() {
		names = append(names, u.GetCode()+" "+u.GetName())
	}
	return resp.GetUnit(), names
}

// Central keeps each commune's unit history; a change of 2026 (invented
// for the test: Xã Hóa Quỳ 16186 merged into Xã Như Xuân 16174, whose code
// continues) is refused until the unit before it ends on its date.
func TestCentralKeepsUnitHistory(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	cs := sampleUnitCommunes(t)
	var cmds []*xasov1.CentralCommand
	for _, code := range []string{"16186", "16174", "14848"} {
		cmds = append(cmds, putCommuneRecord(cs[code]))
	}
	for i, r := range a.apply(t, cmds...) {
		if r.GetCode() != 0 {
			t.Fatalf("put %d: %v", i, r)
		}
	}
	hq, err := f.Commune("16186")
	if err != nil || len(hq.GetUnitVersions()) != 2 {
		t.Fatalf("16186 stored with %d versions (%v), want 2", len(hq.GetUnitVersions()), err)
	}
	if b := hq.GetUnitVersions()[1].GetBasis(); b.GetResolution() != "1686/NQ-UBTVQH15" || b.GetDate() != "" {
		t.Errorf("16186's 2025 version: basis %v, want Resolution 1686/NQ-UBTVQH15 (its day unknown)", b)
	}
	if u, _ := unitAt(t, f, "16186", "2025-06-30"); u.GetValidTo() != "2025-07-01" || len(u.GetSuccessors()) != 1 || u.GetSuccessors()[0].GetValidFrom() != "2025-07-01" {
		t.Errorf("16186 on 2025-06-30: %v, want the old commune, succeeded by 16186 from 2025-07-01", u)
	}
	if u, _ := unitAt(t, f, "16186", "2025-07-01"); len(u.GetPredecessors()) != 2 || u.GetPredecessors()[0].GetName() != "Xã Bình Lương" {
		t.Errorf("16186 on 2025-07-01: %v, want formed from Xã Bình Lương and old Xã Hóa Quỳ", u)
	}

	// A rename without a history keeps the history.
	if r := a.apply(t, putCommune("16186", "Xã Hóa Quỳ"))[0]; r.GetCode() != 0 {
		t.Fatal(r)
	}
	if c, _ := f.Commune("16186"); len(c.GetUnitVersions()) != 2 {
		t.Fatalf("a put without a history dropped it: %v", c)
	}

	// The 2026 change, put before 16186's 2025 version ends: refused.
	nx := proto.Clone(cs["16174"]).(*xasov1.Commune)
	nx.UnitVersions[len(nx.UnitVersions)-1].ValidTo = "2026-07-01"
	nx.UnitVersions = append(nx.UnitVersions, &xasov1.UnitVersion{Code: "16174", Name: "Xã Như Xuân", Kind: "xã", Province: "38",
		ValidFrom: "2026-07-01", ChangeKind: "merger", Basis: &xasov1.UnitLegalBasis{Resolution: "9999/NQ-UBTVQH15 (test)"},
		Predecessors: []*xasov1.UnitRef{{Code: "16186", ValidFrom: "2025-07-01"}, {Code: "16174", ValidFrom: "2025-07-01"}}})
	r := a.apply(t, putCommuneRecord(nx))[0]
	if codes.Code(r.GetCode()) != codes.InvalidArgument || !strings.Contains(r.GetMessage(), "16186 from 2025-07-01 ends -, not on the change's date 2026-07-01") {
		t.Fatalf("a change whose unit before goes on: %v", r)
	}
	ended := proto.Clone(cs["16186"]).(*xasov1.Commune)
	ended.UnitVersions[1].ValidTo = "2026-07-01"
	for i, r := range a.apply(t, putCommuneRecord(ended), putCommuneRecord(nx)) {
		if r.GetCode() != 0 {
			t.Fatalf("put %d: %v", i, r)
		}
	}
	if u, succ := unitAt(t, f, "16186", "2026-07-01"); u != nil || slices.Compare(succ, []string{"16174 Xã Như Xuân"}) != 0 {
		t.Errorf("16186 on 2026-07-01: %v, successors %v; want none in force, succeeded by 16174", u, succ)
	}
	if u, _ := unitAt(t, f, "16174", "2026-07-01"); len(u.GetPredecessors()) != 2 {
		t.Errorf("16174 on 2026-07-01: %v", u)
	}
	if u, succ := unitAt(t, f, "16174", "2025-06-30"); u != nil || succ != nil {
		t.Errorf("16174 the day before it was formed: %v, %v; want none", u, succ)
	}
	if u, _ := unitAt(t, f, "14848", "2020-01-01"); u.GetName() != "Xã Tam Chung" || u.GetValidFrom() != "" {
		t.Errorf("an unchanged commune (giữ nguyên): %v", u)
	}
	// Undoing the end of 16186 would leave 16174's change dangling.
	if r := a.apply(t, putCommuneRecord(cs["16186"]))[0]; codes.Code(r.GetCode()) != codes.InvalidArgument {
		t.Errorf("a history breaking another commune's: %v", r)
	}
}

// Each check of a commune's history fires on broken input, naming the
// field.
func TestCentralRefusesBadUnitHistory(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	cs := sampleUnitCommunes(t)
	base := cs["16186"]
	cases := []struct {
		name  string
		edit  func(c *xasov1.Commune)
		field string
		msg   string
	}{
		{"version of another code", func(c *xasov1.Commune) { c.UnitVersions[0].Code = "16174" }, "commune.unit_versions[0].code", ""},
		{"no name", func(c *xasov1.Commune) { c.UnitVersions[1].Name = "" }, "commune.unit_versions[1].name", ""},
		{"bad date", func(c *xasov1.Commune) { c.UnitVersions[1].ValidFrom = "2025-13-01" }, "commune.unit_versions[1].valid_from", ""},
		{"bad kind", func(c *xasov1.Commune) { c.UnitVersions[1].Kind = "quận" }, "commune.unit_versions[1].kind", ""},
		{"bad change kind", func(c *xasov1.Commune) { c.UnitVersions[1].ChangeKind = "annexation" }, "commune.unit_versions[1].change_kind", ""},
		{"bad basis date", func(c *xasov1.Commune) { c.UnitVersions[1].Basis.Date = "17/6/2025" }, "commune.unit_versions[1].basis.date", ""},
		{"predecessor without code or province", func(c *xasov1.Commune) { c.UnitVersions[1].Predecessors[0].Province = "" },
			"commune.unit_versions[1].predecessors[0].name", ""},
		{"predecessor code not 5 digits", func(c *xasov1.Commune) { c.UnitVersions[1].Predecessors[1].Code = "1618" },
			"commune.unit_versions[1].predecessors[1].code", ""},
		{"overlapping versions", func(c *xasov1.Commune) { c.UnitVersions[0].ValidTo = "2025-08-01" }, "commune.unit_versions", "not on the change's date"},
		{"two open versions", func(c *xasov1.Commune) { c.UnitVersions[0].ValidTo = "" }, "commune.unit_versions", "overlaps"},
		{"predecessor not registered", func(c *xasov1.Commune) {
			c.UnitVersions[1].Predecessors = append(c.UnitVersions[1].Predecessors, &xasov1.UnitRef{Code: "16999", ValidFrom: "2020-01-01"})
		}, "commune.unit_versions", "16999 from 2020-01-01 is not in the registry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := proto.Clone(base).(*xasov1.Commune)
			tc.edit(c)
			r := a.apply(t, putCommuneRecord(c))[0]
			if codes.Code(r.GetCode()) != codes.InvalidArgument {
				t.Fatalf("accepted: %v", r)
			}
			var fields []string
			for _, v := range r.GetViolations() {
				fields = append(fields, v.GetField())
			}
			if !slices.Contains(fields, tc.field) || !strings.Contains(r.GetMessage(), tc.msg) {
				t.Fatalf("fields %v (%s), want %s with %q", fields, r.GetMessage(), tc.field, tc.msg)
			}
		})
	}
	if c, err := f.Commune("16186"); err == nil && c.GetCode() != "" {
		t.Errorf("a refused history was stored: %v", c)
	}
}

// The units API: read-only, for every operator role; GET
// /v1/units/{code}?at= and /v1/units/{code}/history.
func TestAPIUnits(t *testing.T) {
	ac := newAPICluster(t)
	fl := ac.follower().ID()
	cs := sampleUnitCommunes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30e9)
	defer cancel()
	for _, code := range []string{"16186", "16174"} {
		if _, err := ac.write(ctx, putCommuneRecord(cs[code])); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		Unit struct {
			Code, Name   string
			ValidFrom    string `json:"valid_from"`
			Predecessors []struct{ Code, Name string }
		}
	}
	ac.eventuallyStatus(200, fl, "GET", "/v1/units/16186?at=2025-07-01", ac.viewer, nil, &got)
	if got.Unit.Name != "Xã Hóa Quỳ" || got.Unit.ValidFrom != "2025-07-01" || len(got.Unit.Predecessors) != 2 {
		t.Errorf("16186 on 2025-07-01: %+v", got)
	}
	var hist struct {
		Versions []struct {
			ValidFrom string `json:"valid_from"`
			ValidTo   string `json:"valid_to"`
		}
	}
	if code := ac.do(fl, "GET", "/v1/units/16186/history", ac.records, nil, &hist); code != 200 || len(hist.Versions) != 2 || hist.Versions[0].ValidTo != "2025-07-01" {
		t.Errorf("history: %d %+v", code, hist)
	}
	if code := ac.do(fl, "GET", "/v1/units/16186", "", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	var eb errorBody
	if code := ac.do(fl, "GET", "/v1/units/1618?at=2025-7-1", ac.viewer, nil, &eb); code != 400 || strings.Join(eb.fields(), ",") != "code,at" {
		t.Errorf("bad code and day: %d %v", code, eb.fields())
	}
	if code := ac.do(fl, "GET", "/v1/units/99999", ac.viewer, nil, nil); code != 404 {
		t.Errorf("unknown code: %d, want 404", code)
	}
	var old struct {
		Unit struct {
			ValidTo    string `json:"valid_to"`
			Successors []struct {
				Code      string
				ValidFrom string `json:"valid_from"`
			}
		}
	}
	if code := ac.do(fl, "GET", "/v1/units/16186?at=2020-01-01", ac.operator, nil, &old); code != 200 || old.Unit.ValidTo != "2025-07-01" ||
		len(old.Unit.Successors) != 1 || old.Unit.Successors[0].ValidFrom != "2025-07-01" {
		t.Errorf("before 2025: %d %+v", code, old)
	}
	// Over gRPC too, on the leader's server.
	if _, err := ac.server(ac.leader().ID()).UnitHistory(ctx, &xasov1.UnitHistoryRequest{Code: "12ab"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad code over gRPC: %v", err)
	}
}
