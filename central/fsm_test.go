package central

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

var testNow = time.Date(2026, 3, 2, 9, 0, 0, 0, dossier.Zone)

// testEventsProposed stamps the tests' AppendEvents commands: a proposer's
// clock after every event of the histories they make, which start at
// testNow (central refuses events far ahead of its clock).
var testEventsProposed = testNow.AddDate(5, 0, 0)

// proposalTime is how a test stamps cmds: testEventsProposed when they
// carry a node's events, testNow otherwise.
func proposalTime(cmds ...*xasov1.CentralCommand) time.Time {
	for _, c := range cmds {
		if c.GetAppendEvents() != nil {
			return testEventsProposed
		}
	}
	return testNow
}

func openTestFSM(t testing.TB) *FSM {
	t.Helper()
	f, err := OpenFSM(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// applier feeds commands to an FSM as Raft would: one entry at a time, indexes rising.
type applier struct {
	f     *FSM
	index uint64
}

func (a *applier) apply(t testing.TB, cmds ...*xasov1.CentralCommand) []*xasov1.CommandResult {
	t.Helper()
	res, _ := a.f.Apply(a.entry(t, cmds...)).([]*xasov1.CommandResult)
	if len(res) != len(cmds) {
		t.Fatalf("entry %d: %d results for %d commands", a.index, len(res), len(cmds))
	}
	return res
}

// entry makes the next log entry of cmds, stamped as a proposer stamps
// them (the test time, an operator) where they are not.
func (a *applier) entry(t testing.TB, cmds ...*xasov1.CentralCommand) *raft.Log {
	t.Helper()
	for _, c := range cmds {
		if c.Time == nil {
			c.Time = timestamppb.New(proposalTime(c))
		}
		if c.Actor == "" {
			c.Actor = "operator.test"
		}
	}
	a.index++
	data, err := proto.Marshal(&xasov1.CentralCommandBatch{Format: batchFormat, Commands: cmds})
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: a.index, Type: raft.LogCommand, Data: data}
}

func putProcedure(p *xasov1.Procedure, expected int32) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutProcedure{PutProcedure: &xasov1.PutProcedureCommand{Procedure: p, ExpectedVersion: expected}}}
}

func putCalendar(js string) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCalendar{PutCalendar: &xasov1.PutCalendarCommand{CalendarJson: js}}}
}

func appendEvents(commune string, recs ...*xasov1.OutboxRecord) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_AppendEvents{AppendEvents: &xasov1.AppendEventsCommand{CommuneCode: commune, NodeId: "node-" + commune, Records: recs}}}
}

// dump is every key and value of the FSM's state, for comparisons.
func dump(t testing.TB, f *FSM) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().Key())] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withoutAudit drops the audit and applied-index keys, which every command
// (refused ones too) writes.
func withoutAudit(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if !bytes.HasPrefix([]byte(k), []byte(prefixAudit)) && k != keyApplied {
			out[k] = v
		}
	}
	return out
}

func sameState(a, b map[string]string) error {
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return fmt.Errorf("key %q differs", k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return fmt.Errorf("key %q only in the second state", k)
		}
	}
	return nil
}

func TestOperatorCommandsRefuseBadInputAndChangeNothing(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	proc := sample.Procedures()[0]
	setup := a.apply(t, putCommune("00004", "Phường Ba Đình"), putProcedure(proc, -1), putCalendar(string(sample.CalendarJSON())))
	for i, r := range setup {
		if r.GetCode() != 0 {
			t.Fatalf("setup command %d refused: %s", i, r.GetMessage())
		}
	}
	badProc := proto.Clone(proc).(*xasov1.Procedure)
	badProc.Code, badProc.ProcessingDays = "bad/code", -1
	tests := []struct {
		name   string
		cmd    *xasov1.CentralCommand
		code   codes.Code
		fields []string
	}{
		{"commune code not 5 digits", putCommune("123", "Xã A"), codes.InvalidArgument, []string{"commune.code"}},
		{"commune without name", putCommune("00007", " "), codes.InvalidArgument, []string{"commune.name"}},
		{"duplicate procedure code", putProcedure(proc, -1), codes.InvalidArgument, []string{"procedure.code"}},
		{"malformed procedure", putProcedure(badProc, 0), codes.InvalidArgument, []string{"procedure.code", "procedure.processing_days"}},
		{"stale procedure version", putProcedure(proc, 7), codes.Aborted, nil},
		{"malformed calendar", putCalendar(`{"years": [`), codes.InvalidArgument, []string{"calendar_json"}},
		{"calendar of the wrong shape", putCalendar(`{"work_start": "25:00"}`), codes.InvalidArgument, []string{"calendar_json"}},
		{"enrollment for an unknown commune", &xasov1.CentralCommand{Command: &xasov1.CentralCommand_IssueEnrollment{IssueEnrollment: &xasov1.IssueEnrollmentCommand{Token: &xasov1.EnrollmentToken{
			CommuneCode: "99999", SecretSha256: fmt.Sprintf("%064x", 1), ExpireTime: timestamppb.New(testNow.Add(time.Hour))}}}}, codes.InvalidArgument, []string{"token.commune_code"}},
		{"unknown enrollment token", &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UseEnrollment{UseEnrollment: &xasov1.UseEnrollmentCommand{SecretSha256: fmt.Sprintf("%064x", 2), NodeId: "n1"}}}, codes.PermissionDenied, nil},
		{"token without role", &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutOperatorToken{PutOperatorToken: &xasov1.PutOperatorTokenCommand{Token: &xasov1.OperatorToken{Name: "x", SecretSha256: fmt.Sprintf("%064x", 3)}}}}, codes.InvalidArgument, []string{"token.role"}},
		{"events of an unregistered commune", appendEvents("00010"), codes.FailedPrecondition, nil},
		{"empty command", &xasov1.CentralCommand{}, codes.InvalidArgument, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := withoutAudit(dump(t, f))
			res := a.apply(t, tc.cmd)[0]
			if codes.Code(res.GetCode()) != tc.code {
				t.Fatalf("code %v (%s), want %v", codes.Code(res.GetCode()), res.GetMessage(), tc.code)
			}
			var got []string
			for _, v := range res.GetViolations() {
				got = append(got, v.GetField())
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.fields) {
				t.Errorf("violations %v, want %v", got, tc.fields)
			}
			if err := sameState(before, withoutAudit(dump(t, f))); err != nil {
				t.Errorf("a refused command changed the state: %v", err)
			}
		})
	}
	audit, err := f.Audit()
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 3+len(tests)-1 { // AppendEvents is not audited
		t.Errorf("%d audit records, want %d", len(audit), 3+len(tests)-1)
	}
	if audit[0].GetCommand().GetActor() != "operator.test" {
		t.Errorf("audit record without its actor: %v", audit[0])
	}
}

func TestProcedureVersionsAndEnrollmentTokens(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	proc := proto.Clone(sample.Procedures()[1]).(*xasov1.Procedure)
	a.apply(t, putCommune("00004", "Phường Ba Đình"))
	if r := a.apply(t, putProcedure(proc, -1))[0]; r.GetVersion() != 1 {
		t.Fatalf("first version %d: %s", r.GetVersion(), r.GetMessage())
	}
	proc.FeeVnd = 50000
	if r := a.apply(t, putProcedure(proc, 1))[0]; r.GetVersion() != 2 {
		t.Fatalf("second version %d: %s", r.GetVersion(), r.GetMessage())
	}
	v1, err := f.ProcedureVersion(proc.GetCode(), 1)
	if err != nil || v1.GetFeeVnd() == 50000 {
		t.Fatalf("version 1 changed: %v %v", v1, err)
	}
	cur, _ := f.Procedure(proc.GetCode())
	if cur.GetVersion() != 2 || cur.GetFeeVnd() != 50000 {
		t.Fatalf("current = %v", cur)
	}

	secret := fmt.Sprintf("%064x", 42)
	issue := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_IssueEnrollment{IssueEnrollment: &xasov1.IssueEnrollmentCommand{Token: &xasov1.EnrollmentToken{
		CommuneCode: "00004", SecretSha256: secret, ExpireTime: timestamppb.New(testNow.Add(time.Hour))}}}}
	use := func(at time.Time) *xasov1.CommandResult {
		return a.apply(t, &xasov1.CentralCommand{Time: timestamppb.New(at), Command: &xasov1.CentralCommand_UseEnrollment{UseEnrollment: &xasov1.UseEnrollmentCommand{SecretSha256: secret, NodeId: "node-00004", CertificateSha256: fmt.Sprintf("%064x", 7)}}})[0]
	}
	if r := a.apply(t, issue)[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	if r := use(testNow.Add(2 * time.Hour)); codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Errorf("expired token taken: %v", r)
	}
	if r := use(testNow.Add(time.Minute)); r.GetCode() != 0 {
		t.Errorf("fresh token refused: %v", r)
	}
	if r := use(testNow.Add(2 * time.Minute)); codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Errorf("token used twice: %v", r)
	}
}

// records makes n chained records of a commune's history.
func records(t testing.TB, commune string, seed uint64, n int) []*xasov1.OutboxRecord {
	t.Helper()
	h := workload.NewHistory(commune, sample.Procedures(), sample.Calendar(), seed, testNow)
	out := make([]*xasov1.OutboxRecord, n)
	for i := range out {
		rec, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = rec
	}
	return out
}

func registerSample(t testing.TB, a *applier, communes ...string) {
	t.Helper()
	var cmds []*xasov1.CentralCommand
	for _, c := range communes {
		cmds = append(cmds, putCommune(c, "Xã "+c))
	}
	for _, p := range sample.Procedures() {
		cmds = append(cmds, putProcedure(p, -1))
	}
	for i, r := range a.apply(t, cmds...) {
		if r.GetCode() != 0 {
			t.Fatalf("setup %d: %s", i, r.GetMessage())
		}
	}
}

func TestAppendEventsTakesExactlyTheNextRecord(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004", "00008")
	recs := records(t, "00004", 1, 40)

	r := a.apply(t, appendEvents("00004", recs[:10]...))[0]
	if r.GetCode() != 0 || r.GetAccepted() != 10 || r.GetNextSequence() != 11 {
		t.Fatalf("first batch: %v", r)
	}
	// Duplicates (a resend after a lost acknowledgement) are dropped.
	r = a.apply(t, appendEvents("00004", recs[5:15]...))[0]
	if r.GetCode() != 0 || r.GetAccepted() != 5 || r.GetDuplicates() != 5 || r.GetNextSequence() != 16 {
		t.Fatalf("overlapping batch: %v", r)
	}
	// A gap is refused with the sequence to send from.
	r = a.apply(t, appendEvents("00004", recs[20:25]...))[0]
	if codes.Code(r.GetCode()) != codes.FailedPrecondition || r.GetAccepted() != 0 || r.GetNextSequence() != 16 {
		t.Fatalf("gap: %v", r)
	}
	// A tampered record breaks the chain: refused for its content, it
	// blocks the commune's chain there, visibly, until an operator lifts it.
	bad := proto.Clone(recs[15]).(*xasov1.OutboxRecord)
	bad.Event.Actor = "someone else"
	r = a.apply(t, appendEvents("00004", bad))[0]
	if codes.Code(r.GetCode()) != codes.DataLoss || r.GetNextSequence() != 16 || r.GetBlocked().GetSequence() != 16 {
		t.Fatalf("tampered: %v", r)
	}
	if hw, _ := f.NodeStream("00004"); hw.GetBlocked().GetSequence() != 16 || codes.Code(hw.GetBlocked().GetCode()) != codes.DataLoss {
		t.Fatalf("the block is not in the high-water mark: %v", hw)
	}
	// While blocked, nothing from the refused sequence on is taken.
	r = a.apply(t, appendEvents("00004", recs[15:20]...))[0]
	if r.GetAccepted() != 0 || r.GetBlocked().GetSequence() != 16 {
		t.Fatalf("blocked chain took records: %v", r)
	}
	unblock := func(commune string, seq int64) *xasov1.CommandResult {
		return a.apply(t, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{CommuneCode: commune, Sequence: seq}}})[0]
	}
	if r := unblock("00004", 15); codes.Code(r.GetCode()) != codes.FailedPrecondition {
		t.Fatalf("unblock at the wrong sequence: %v", r)
	}
	if r := unblock("00004", 16); r.GetCode() != 0 {
		t.Fatalf("unblock: %v", r)
	}
	if r := unblock("00004", 16); codes.Code(r.GetCode()) != codes.FailedPrecondition {
		t.Fatalf("unblock twice: %v", r)
	}
	// A duplicate that differs from what central holds is not silently dropped.
	forged := proto.Clone(recs[3]).(*xasov1.OutboxRecord)
	forged.Hash = bytes.Repeat([]byte{1}, 32)
	r = a.apply(t, appendEvents("00004", forged))[0]
	if codes.Code(r.GetCode()) != codes.DataLoss || r.GetBlocked().GetSequence() != 16 {
		t.Fatalf("forged duplicate: %v", r)
	}
	if r := unblock("00004", 16); r.GetCode() != 0 {
		t.Fatalf("unblock: %v", r)
	}
	// Another commune's records are refused, and block that commune only.
	r = a.apply(t, appendEvents("00008", recs[15]))[0]
	if codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Fatalf("foreign records: %v", r)
	}
	r = a.apply(t, appendEvents("00004", recs[15:]...))[0]
	if r.GetCode() != 0 || r.GetNextSequence() != 41 {
		t.Fatalf("rest: %v", r)
	}
	hw, _ := f.NodeStream("00004")
	if hw.GetLastSequence() != 40 || !bytes.Equal(hw.GetLastHash(), recs[39].GetHash()) {
		t.Fatalf("high-water mark %v", hw)
	}
	held, err := f.Records("00004", 1, 100)
	if err != nil || len(held) != 40 {
		t.Fatalf("records held: %d, %v", len(held), err)
	}
	// Every dossier at central is the fold of its events.
	byCode := map[string][]*xasov1.Event{}
	for _, rec := range recs {
		byCode[rec.GetDossierCode()] = append(byCode[rec.GetDossierCode()], rec.GetEvent())
	}
	for code, evs := range byCode {
		d, err := f.Dossier(code)
		if err != nil {
			t.Fatal(err)
		}
		want := dossier.Fold(evs)
		want.Events = evs
		if !proto.Equal(d, want) {
			t.Fatalf("dossier %s at central differs from the fold of its events", code)
		}
	}
}

// reportFromDossiers computes per commune × procedure × month counts the
// slow way, from the dossiers themselves.
func reportFromDossiers(ds []*xasov1.Dossier, asOf time.Time) map[group]*xasov1.PerformanceRow {
	out := map[group]*xasov1.PerformanceRow{}
	for _, d := range ds {
		c := contributionOf(d)
		r, ok := out[c.group]
		if !ok {
			r = &xasov1.PerformanceRow{Counts: &xasov1.Aggregate{}}
			out[c.group] = r
		}
		addAggregate(r.Counts, c.agg, 1)
		if c.due != 0 && c.due < asOf.Unix() {
			r.OverdueNow++
		}
		if c.closed != nil {
			cr, ok := out[c.closed.group]
			if !ok {
				cr = &xasov1.PerformanceRow{Counts: &xasov1.Aggregate{}}
				out[c.closed.group] = cr
			}
			addAggregate(cr.Counts, c.closed.agg, 1)
		}
	}
	return out
}

func TestReportEqualsTheDossiersCounted(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	communes := []string{"00004", "00008", "00025"}
	registerSample(t, a, communes...)
	folds := map[string][]*xasov1.Event{}
	for i, c := range communes {
		recs := records(t, c, uint64(i+7), 600)
		for from := 0; from < len(recs); from += 50 {
			if r := a.apply(t, appendEvents(c, recs[from:min(from+50, len(recs))]...))[0]; r.GetCode() != 0 {
				t.Fatal(r.GetMessage())
			}
		}
		for _, rec := range recs {
			folds[rec.GetDossierCode()] = append(folds[rec.GetDossierCode()], rec.GetEvent())
		}
	}
	var ds []*xasov1.Dossier
	for _, evs := range folds {
		ds = append(ds, dossier.Fold(evs))
	}
	asOf := testNow.AddDate(0, 1, 0)
	want := reportFromDossiers(ds, asOf)

	rows, err := f.Report(ReportQuery{From: "202601", To: "202612", ByMonth: true, ByCommune: true, ByProcedure: true, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	var total xasov1.Aggregate
	var overdue int64
	for _, r := range rows {
		overdue += r.GetOverdueNow()
		g := group{r.GetMonth()[:4] + r.GetMonth()[5:], r.GetCommuneCode(), r.GetProcedureCode()}
		w := want[g]
		if w == nil || !proto.Equal(r.GetCounts(), w.GetCounts()) || r.GetOverdueNow() != w.GetOverdueNow() {
			t.Fatalf("row %v: %v overdue %d, want %v", g, r.GetCounts(), r.GetOverdueNow(), w)
		}
		if r.GetCommuneName() == "" || r.GetProcedureName() == "" {
			t.Fatalf("row %v without names", g)
		}
		addAggregate(&total, r.GetCounts(), 1)
	}
	if overdue == 0 || total.GetReturned() == 0 || total.GetReceivedOnline() == 0 || total.GetVerySatisfied() == 0 || total.GetPending() == 0 {
		t.Fatalf("the history does not exercise the report: %v, overdue %d", &total, overdue)
	}
	// Roll-ups agree with the detail.
	prov, err := f.Report(ReportQuery{From: "202601", To: "202612", AsOf: asOf})
	if err != nil || len(prov) != 1 {
		t.Fatalf("province row: %v %v", prov, err)
	}
	if !proto.Equal(prov[0].GetCounts(), &total) {
		t.Fatalf("province %v, detail sums to %v", prov[0].GetCounts(), &total)
	}
	taken := 0 // dossiers the desk took in; guidance and refusal at reception are counted apart
	for _, d := range ds {
		if s := d.GetState(); s != dossier.Guided && s != dossier.RefusedAtReception {
			taken++
		}
	}
	if c := prov[0].GetCounts(); c.GetReceived() != int64(taken) || c.GetGuided() == 0 || c.GetReceived()+c.GetGuided()+c.GetRefusedAtReception() != int64(len(ds)) {
		t.Fatalf("province received %d, guided %d, refused at reception %d; dossiers %d, taken in %d", c.GetReceived(), c.GetGuided(), c.GetRefusedAtReception(), len(ds), taken)
	}
	for _, q := range []ReportQuery{
		{ByCommune: true}, {ByProcedure: true}, {ByMonth: true, ByCommune: true},
		{ByCommune: true, ByProcedure: true, Procedures: []string{sample.Procedures()[0].GetCode()}},
		{ByCommune: true, ByProcedure: true, Communes: []string{"00008"}},
		{Communes: []string{"00008", "00025"}, Procedures: []string{sample.Procedures()[2].GetCode(), sample.Procedures()[3].GetCode()}},
		// Rows made straight from the rows read (one per aggregate).
		{ByMonth: true, ByProcedure: true, Communes: []string{"00008"}},
		{ByMonth: true, ByCommune: true, Procedures: []string{sample.Procedures()[0].GetCode()}},
		// A code asked for twice counts once.
		{ByMonth: true, ByProcedure: true, Communes: []string{"00025", "00008", "00025"}},
		{Procedures: []string{sample.Procedures()[1].GetCode(), sample.Procedures()[1].GetCode()}},
	} {
		q.From, q.To, q.AsOf = "202601", "202612", asOf
		rows, err := f.Report(q)
		if err != nil {
			t.Fatal(err)
		}
		var sum xasov1.Aggregate
		var overdue int64
		seen := map[group]bool{}
		for _, r := range rows {
			addAggregate(&sum, r.GetCounts(), 1)
			overdue += r.GetOverdueNow()
			g := group{r.GetMonth(), r.GetCommuneCode(), r.GetProcedureCode()}
			if seen[g] {
				t.Errorf("query %+v: row %v twice", q, g)
			}
			seen[g] = true
		}
		var expect xasov1.Aggregate
		var expectOverdue int64
		for g, w := range want {
			if (q.Communes == nil || contains(q.Communes, g.commune)) && (q.Procedures == nil || contains(q.Procedures, g.procedure)) {
				addAggregate(&expect, w.GetCounts(), 1)
				expectOverdue += w.GetOverdueNow()
			}
		}
		if !proto.Equal(&sum, &expect) || overdue != expectOverdue {
			t.Errorf("query %+v sums to %v overdue %d, want %v overdue %d", q, &sum, overdue, &expect, expectOverdue)
		}
	}
	checkYearLevel(t, f, asOf)
	// A state written before the by-year level existed gets it at open
	// (here: built again from the monthly rows), and the same reports.
	if err := f.db.DropPrefix([]byte(levelProcedureYear)); err != nil {
		t.Fatal(err)
	}
	if err := f.ensureYearLevel(); err != nil {
		t.Fatal(err)
	}
	checkYearLevel(t, f, asOf)
}

// checkYearLevel compares reports by procedure over ranges that cover
// whole years (read from the by-year level) with the same reports by month
// summed per procedure.
func checkYearLevel(t *testing.T, f *FSM, asOf time.Time) {
	t.Helper()
	for _, q := range []ReportQuery{
		{From: "202601", To: "202612"},
		{From: "202511", To: "202702"},
		{From: "202601", To: "202611"},
		{From: "202501", To: "202712", Procedures: []string{sample.Procedures()[1].GetCode(), sample.Procedures()[4].GetCode()}},
	} {
		q.ByProcedure, q.AsOf = true, asOf
		got, err := f.Report(q)
		if err != nil {
			t.Fatal(err)
		}
		monthly := q
		monthly.ByMonth = true
		rows, err := f.Report(monthly)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]*xasov1.PerformanceRow{}
		for _, r := range rows {
			w, ok := want[r.GetProcedureCode()]
			if !ok {
				w = &xasov1.PerformanceRow{Counts: &xasov1.Aggregate{}}
				want[r.GetProcedureCode()] = w
			}
			addAggregate(w.Counts, r.GetCounts(), 1)
			w.OverdueNow += r.GetOverdueNow()
		}
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%s..%s by procedure: %d rows, by month %d procedures", q.From, q.To, len(got), len(want))
		}
		for _, r := range got {
			w := want[r.GetProcedureCode()]
			if w == nil || !proto.Equal(r.GetCounts(), w.GetCounts()) || r.GetOverdueNow() != w.GetOverdueNow() || r.GetMonth() != "" {
				t.Fatalf("%s..%s, %s: %v (month %q), by month %v", q.From, q.To, r.GetProcedureCode(), r, r.GetMonth(), w)
			}
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// TestSnapshotRestoreGivesAnIdenticalState is a property test: after any
// history, restoring a snapshot gives the same state, which then follows
// the same later entries to the same place.
func TestSnapshotRestoreGivesAnIdenticalState(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			src := openTestFSM(t)
			a := &applier{f: src}
			registerSample(t, a, "00004", "00008")
			hist := map[string][]*xasov1.OutboxRecord{"00004": records(t, "00004", seed, 400), "00008": records(t, "00008", seed+100, 400)}
			next := map[string]int{}
			gen := func() *xasov1.CentralCommand {
				switch rng.IntN(5) {
				case 0:
					return putCommune(fmt.Sprintf("%05d", 100+rng.IntN(50)), fmt.Sprintf("Xã %d", rng.IntN(1000)))
				case 1:
					p := proto.Clone(sample.Procedures()[rng.IntN(len(sample.Procedures()))]).(*xasov1.Procedure)
					p.FeeVnd = int64(rng.IntN(100)) * 1000
					return putProcedure(p, 0)
				default:
					c := []string{"00004", "00008"}[rng.IntN(2)]
					// Some resends overlap what central has, as after a lost acknowledgement.
					from := max(next[c]-rng.IntN(3), 0)
					to := min(from+1+rng.IntN(30), len(hist[c]))
					next[c] = max(next[c], to)
					return appendEvents(c, hist[c][from:to]...)
				}
			}
			for range 20 + rng.IntN(40) {
				a.apply(t, gen(), gen())
			}
			buf := snapshotOf(t, src)
			dst := openTestFSM(t)
			// The destination has some state of its own, which the restore replaces.
			(&applier{f: dst}).apply(t, putCommune("00099", "Xã cũ"))
			if err := dst.Restore(io.NopCloser(buf)); err != nil {
				t.Fatal(err)
			}
			if err := sameState(dump(t, src), dump(t, dst)); err != nil {
				t.Fatalf("restored state differs: %v", err)
			}
			if dst.AppliedIndex() != src.AppliedIndex() {
				t.Fatalf("applied index %d, want %d", dst.AppliedIndex(), src.AppliedIndex())
			}
			// Both follow the same later entries to the same state.
			b := &applier{f: dst, index: a.index}
			for range 10 {
				cmd := gen()
				a.apply(t, cmd)
				b.apply(t, proto.Clone(cmd).(*xasov1.CentralCommand))
			}
			if err := sameState(dump(t, src), dump(t, dst)); err != nil {
				t.Fatalf("after restore, the same entries led elsewhere: %v", err)
			}
		})
	}
}

// snapshotOf persists a snapshot of f's state in memory.
func snapshotOf(t *testing.T, f *FSM) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	if err := snap.Persist(&bufferSink{Buffer: &buf}); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// bufferSink is a raft.SnapshotSink in memory.
type bufferSink struct {
	*bytes.Buffer
	cancelled bool
}

func (s *bufferSink) ID() string    { return "test" }
func (s *bufferSink) Cancel() error { s.cancelled = true; return nil }
func (s *bufferSink) Close() error  { return nil }

func TestEnrolledNodeSendsForItsCommuneUntilRevoked(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004", "00008")
	secret := fmt.Sprintf("%064x", 9)
	issue := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_IssueEnrollment{IssueEnrollment: &xasov1.IssueEnrollmentCommand{Token: &xasov1.EnrollmentToken{
		CommuneCode: "00004", SecretSha256: secret, ExpireTime: timestamppb.New(testNow.Add(time.Hour))}}}}
	use := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UseEnrollment{UseEnrollment: &xasov1.UseEnrollmentCommand{
		SecretSha256: secret, NodeId: "node-00004", CertificateSha256: fmt.Sprintf("%064x", 6), PublicKeySha256: fmt.Sprintf("%064x", 1)}}}
	for i, r := range a.apply(t, issue, use) {
		if r.GetCode() != 0 {
			t.Fatalf("setup %d: %v", i, r)
		}
	}
	// The answer was lost: the same node asks again with the same key and
	// gets a new certificate; another key (or node) is refused.
	again := proto.Clone(use).(*xasov1.CentralCommand)
	again.GetUseEnrollment().CertificateSha256 = fmt.Sprintf("%064x", 7)
	otherKey := proto.Clone(use).(*xasov1.CentralCommand)
	otherKey.GetUseEnrollment().PublicKeySha256 = fmt.Sprintf("%064x", 2)
	otherNode := proto.Clone(use).(*xasov1.CentralCommand)
	otherNode.GetUseEnrollment().NodeId = "node-x"
	for i, r := range a.apply(t, otherKey, otherNode, again) {
		if want := []codes.Code{codes.PermissionDenied, codes.PermissionDenied, codes.OK}[i]; codes.Code(r.GetCode()) != want {
			t.Fatalf("enrollment again %d: %v, want %v", i, r, want)
		}
	}
	n, err := a.f.EnrolledNode("node-00004")
	if err != nil || n.GetCommuneCode() != "00004" || n.GetCertificateSha256() != fmt.Sprintf("%064x", 7) {
		t.Fatalf("enrolled node = %v, %v", n, err)
	}
	recs := records(t, "00004", 1, 3)

	// The node names another commune: refused, nothing taken.
	other := appendEvents("00008", records(t, "00008", 2, 1)...)
	other.GetAppendEvents().NodeId = "node-00004"
	if r := a.apply(t, other)[0]; codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Fatalf("events for another commune: %v", r)
	}
	if r := a.apply(t, appendEvents("00004", recs[:2]...))[0]; r.GetCode() != 0 || r.GetAccepted() != 2 {
		t.Fatalf("events of the enrolled node: %v", r)
	}
	revoke := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_RevokeNode{RevokeNode: &xasov1.RevokeNodeCommand{NodeId: "node-00004"}}}
	if r := a.apply(t, revoke)[0]; r.GetCode() != 0 {
		t.Fatalf("revoke: %v", r)
	}
	if r := a.apply(t, appendEvents("00004", recs[2]))[0]; codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Fatalf("events after revocation: %v", r)
	}
	if hw, _ := a.f.NodeStream("00004"); hw.GetLastSequence() != 2 {
		t.Fatalf("high-water mark %d after revocation, want 2", hw.GetLastSequence())
	}
	unknown := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_RevokeNode{RevokeNode: &xasov1.RevokeNodeCommand{NodeId: "nobody"}}}
	if r := a.apply(t, unknown)[0]; codes.Code(r.GetCode()) != codes.NotFound {
		t.Fatalf("revoking an unknown node: %v", r)
	}
}

func TestCatalogueAndCalendarChangesFeedTheNodes(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004")
	// The commune, then the catalogue, each item for every commune.
	n := 1 + len(sample.Procedures())
	items, _, err := a.f.FeedAfter("00004", 0, 10*n)
	if err != nil || len(items) != n {
		t.Fatalf("feed after registering the catalogue: %d items, %v; want %d", len(items), err, n)
	}
	for i, it := range items {
		if it.GetSequence() != uint64(i+1) || !it.GetBroadcast() || (i == 0) != (it.GetCommune() != nil) || (i > 0) != (it.GetProcedure() != nil) {
			t.Fatalf("item %d = %v", i, it)
		}
	}
	p := proto.Clone(sample.Procedures()[0]).(*xasov1.Procedure)
	p.Name += " (sửa đổi)"
	bad := putProcedure(p, 7) // a stale expected version: refused, so no item
	a.apply(t, bad, putProcedure(p, 1), &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCalendar{PutCalendar: &xasov1.PutCalendarCommand{CalendarJson: string(sample.CalendarJSON())}}})
	items, _, err = a.f.FeedAfter("00004", uint64(n), 10)
	if err != nil || len(items) != 2 {
		t.Fatalf("feed after the changes: %v, %v", items, err)
	}
	if got := items[0].GetProcedure(); got.GetVersion() != 2 || got.GetName() != p.GetName() || items[0].GetRaftIndex() != a.index {
		t.Errorf("procedure item = %v", items[0])
	}
	if items[1].GetCalendarJson() == "" || items[1].GetSequence() != uint64(n+2) {
		t.Errorf("calendar item = %v", items[1])
	}
}

func TestACommuneWritesOnlyToDossiersItOwns(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004", "00008")
	recs := records(t, "00004", 3, 2)
	// 00008 chains a receipt in 00004's name, or an event of 00004's dossier.
	forge := func(from *xasov1.OutboxRecord) *xasov1.OutboxRecord {
		rec := proto.Clone(from).(*xasov1.OutboxRecord)
		rec.CommuneCode, rec.Sequence, rec.PrevHash = "00008", 1, dossier.GenesisHash()
		h, err := dossier.RecordHash(rec)
		if err != nil {
			t.Fatal(err)
		}
		rec.Hash = h
		return rec
	}
	if r := a.apply(t, appendEvents("00008", forge(recs[0])))[0]; codes.Code(r.GetCode()) != codes.PermissionDenied || r.GetBlocked() == nil {
		t.Errorf("a receipt in another's name: %v", r)
	}
	if r := a.apply(t, appendEvents("00004", recs[0]))[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	if r := a.apply(t, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{CommuneCode: "00008", Sequence: 1}}})[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	if r := a.apply(t, appendEvents("00008", forge(recs[1])))[0]; codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Errorf("an event of another's dossier: %v", r)
	}
	if hw, _ := a.f.NodeStream("00008"); hw.GetLastSequence() != 0 {
		t.Fatalf("00008's stream advanced to %d", hw.GetLastSequence())
	}
}
