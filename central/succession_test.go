package central

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

const testBasis = "Nghị quyết số 1656/NQ-UBTVQH15 về sắp xếp các đơn vị hành chính cấp xã"

func declareSuccession(preds []string, to string, at time.Time) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_DeclareSuccession{DeclareSuccession: &xasov1.DeclareSuccessionCommand{
		Succession: &xasov1.Succession{PredecessorCodes: preds, SuccessorCode: to, EffectiveTime: timestamppb.New(at), Basis: testBasis}}}}
}

// chainAfter re-chains rec as commune's next record after prev (the
// record central holds last), as a node would write it.
func chainAfter(t *testing.T, rec *xasov1.OutboxRecord, commune string, seq int64, prev []byte) *xasov1.OutboxRecord {
	t.Helper()
	rec = proto.Clone(rec).(*xasov1.OutboxRecord)
	rec.CommuneCode, rec.Sequence, rec.PrevHash = commune, seq, prev
	h, err := dossier.RecordHash(rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.Hash = h
	return rec
}

// TestDeclareSuccessionRefusesBadDeclarations: every check of the FSM
// fires, and a refused declaration writes nothing.
func TestDeclareSuccessionRefusesBadDeclarations(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004", "00007", "00008", "00010")
	later := testNow.Add(24 * time.Hour)
	bad := []struct {
		name string
		cmd  *xasov1.CentralCommand
		code codes.Code
	}{
		{"no succession", &xasov1.CentralCommand{Command: &xasov1.CentralCommand_DeclareSuccession{DeclareSuccession: &xasov1.DeclareSuccessionCommand{}}}, codes.InvalidArgument},
		{"in the past", declareSuccession([]string{"00004"}, "00008", testNow.Add(-time.Hour)), codes.InvalidArgument},
		{"unregistered predecessor", declareSuccession([]string{"00004", "00005"}, "00008", later), codes.FailedPrecondition},
		{"unregistered successor", declareSuccession([]string{"00004"}, "00009", later), codes.FailedPrecondition},
	}
	before := withoutAudit(dump(t, a.f))
	for _, c := range bad {
		if r := a.apply(t, c.cmd)[0]; codes.Code(r.GetCode()) != c.code {
			t.Errorf("%s: %v, want %s", c.name, r, c.code)
		}
	}
	if err := sameState(before, withoutAudit(dump(t, a.f))); err != nil {
		t.Fatalf("refused declarations wrote: %v", err)
	}
	if r := a.apply(t, declareSuccession([]string{"00004", "00007"}, "00008", later))[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	for _, c := range []struct {
		name string
		cmd  *xasov1.CentralCommand
		code codes.Code
	}{
		{"a commune in two successions", declareSuccession([]string{"00007"}, "00010", later), codes.AlreadyExists},
		{"a successor that ceases (a cycle)", declareSuccession([]string{"00008"}, "00004", later), codes.FailedPrecondition},
	} {
		if r := a.apply(t, c.cmd)[0]; codes.Code(r.GetCode()) != c.code {
			t.Errorf("%s: %v, want %s", c.name, r, c.code)
		}
	}
	items, _, err := a.f.FeedAfter("00010", 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if s := items[len(items)-1].GetSuccession(); s.GetSuccessorCode() != "00008" || len(s.GetPredecessorCodes()) != 2 {
		t.Errorf("the declaration is not in every commune's feed: %v", items[len(items)-1])
	}
}

// TestSuccessionHandsOverUnfinishedDossiers: the predecessor's events
// before the effective time are taken, a receipt after it is refused,
// other events after it are taken; its seal hands each unfinished
// dossier to the successor with state, due time, pause and holder
// unchanged (Resolution 190/2025/QH15), finished ones stay readable by
// their codes, nothing of the predecessor is taken after the seal, and
// the successor acts on a handed-over dossier at once.
func TestSuccessionHandsOverUnfinishedDossiers(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004", "00007", "00008")
	h, recs := historyInEveryState(t, "00004", 400)
	eff := h.Now().Add(time.Minute)
	if r := a.apply(t, declareSuccession([]string{"00004", "00007"}, "00008", eff))[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	if r := a.apply(t, appendEvents("00004", recs...))[0]; r.GetCode() != 0 || int(r.GetAccepted()) != len(recs) {
		t.Fatalf("events before the effective time: %v", r)
	}
	last := recs[len(recs)-1]
	seq, prev := last.GetSequence(), last.GetHash()

	// After the effective time: a receipt is refused (and blocks the
	// chain until an operator lifts it), a step on an open dossier is taken.
	var receipt, step *xasov1.OutboxRecord
	for receipt == nil || step == nil {
		rec, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rec.GetEvent().GetReceipt() != nil && receipt == nil:
			receipt = rec
		case rec.GetEvent().GetReceipt() == nil && rec.GetEvent().GetAction() != dossier.Rate && step == nil:
			step = rec
		}
	}
	if r := a.apply(t, appendEvents("00004", chainAfter(t, receipt, "00004", seq+1, prev)))[0]; codes.Code(r.GetCode()) != codes.FailedPrecondition || r.GetBlocked() == nil || !strings.Contains(r.GetMessage(), "new dossiers go to commune 00008") {
		t.Fatalf("a receipt after the effective time: %v", r)
	}
	if r := a.apply(t, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{CommuneCode: "00004", Sequence: seq + 1}}})[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	stepRec := chainAfter(t, step, "00004", seq+1, prev)
	if r := a.apply(t, appendEvents("00004", stepRec))[0]; r.GetCode() != 0 || r.GetAccepted() != 1 {
		t.Fatalf("a step after the effective time: %v", r)
	}
	seq, prev = seq+1, stepRec.GetHash()

	// What central holds of 00004 before the seal.
	before := map[string]*xasov1.Dossier{}
	for _, rec := range append(recs, stepRec) {
		d, err := a.f.Dossier(rec.GetDossierCode())
		if err != nil {
			t.Fatal(err)
		}
		before[d.GetCode()] = d
	}
	states := map[dossier.State]int{}
	for _, d := range before {
		states[d.GetState()]++
	}
	for _, s := range []dossier.State{dossier.InProcessing, dossier.AwaitingSupplement, dossier.AwaitingApproval, dossier.ResultReady, dossier.Returned} {
		if states[s] == 0 {
			t.Fatalf("the history left no dossier %s: %v", dossier.StateName(s), states)
		}
	}

	// A seal before the effective time, or naming another successor, is refused.
	sealRec := func(at time.Time, to string) *xasov1.OutboxRecord {
		return chainAfter(t, &xasov1.OutboxRecord{Seal: &xasov1.SuccessionSeal{Time: timestamppb.New(at), SuccessorCode: to}}, "00004", seq+1, prev)
	}
	early := sealRec(eff.Add(-time.Minute), "00008")
	if r := a.apply(t, appendEvents("00004", early))[0]; codes.Code(r.GetCode()) != codes.FailedPrecondition {
		t.Fatalf("a seal before the effective time: %v", r)
	}
	a.apply(t, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{CommuneCode: "00004", Sequence: seq + 1}}})
	if r := a.apply(t, appendEvents("00004", sealRec(eff.Add(time.Hour), "00007")))[0]; codes.Code(r.GetCode()) != codes.InvalidArgument {
		t.Fatalf("a seal naming another successor: %v", r)
	}
	a.apply(t, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{CommuneCode: "00004", Sequence: seq + 1}}})
	feedFrom, err := a.f.FeedHead()
	if err != nil {
		t.Fatal(err)
	}
	seal := sealRec(eff.Add(time.Hour), "00008")
	if r := a.apply(t, appendEvents("00004", seal))[0]; r.GetCode() != 0 || r.GetAccepted() != 1 {
		t.Fatalf("the seal: %v", r)
	}
	ss, err := a.f.Succession("00004")
	if err != nil || ss.GetSealedSequence() != seq+1 {
		t.Fatalf("succession state %v, %v", ss, err)
	}

	// Every unfinished dossier is the successor's, as it stood; the rest
	// stay the predecessor's, readable by their codes.
	var handed int64
	for code, was := range before {
		d, err := a.f.Dossier(code)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if !dossier.HandedOver(was.GetState()) {
			if !proto.Equal(d, was) {
				t.Errorf("%s (%s) changed: %v", code, dossier.StateName(was.GetState()), d)
			}
			continue
		}
		handed++
		switch {
		case d.GetCommuneCode() != "00008" || d.GetCode() != code:
			t.Errorf("%s is commune %s's", code, d.GetCommuneCode())
		case d.GetState() != was.GetState() || !proto.Equal(d.GetDueTime(), was.GetDueTime()) || !proto.Equal(d.GetPausedTime(), was.GetPausedTime()) || d.GetAssignee() != was.GetAssignee():
			t.Errorf("%s changed in the hand-over: %v, was %v", code, d, was)
		case d.GetEventCount() != was.GetEventCount()+1 || d.GetReceivedCommuneCode() != "00004":
			t.Errorf("%s: %d events, received by %s", code, d.GetEventCount(), d.GetReceivedCommuneCode())
		}
	}
	if ss.GetHandedOver() != handed || handed == 0 {
		t.Errorf("handed over %d, counted %d", ss.GetHandedOver(), handed)
	}

	// The successor's feed brings each with its events, the last the SUCCEED naming the basis.
	items, _, err := a.f.FeedAfter("00008", feedFrom, 10000)
	if err != nil || int64(len(items)) != handed {
		t.Fatalf("%d feed items for 00008, %v; want %d", len(items), err, handed)
	}
	var awaitingApproval *xasov1.Dossier
	for _, it := range items {
		d := it.GetSucceeded()
		evs := d.GetEvents()
		if len(evs) != int(d.GetEventCount()) || evs[len(evs)-1].GetAction() != dossier.Succeed || evs[len(evs)-1].GetReason() != testBasis {
			t.Fatalf("feed item %v", it)
		}
		if !proto.Equal(dossier.Fold(evs), withoutEvents(d)) {
			t.Errorf("%s: its events do not fold into it", d.GetCode())
		}
		if d.GetState() == dossier.AwaitingApproval && awaitingApproval == nil {
			awaitingApproval = d
		}
	}

	// Nothing of the predecessor after its seal; the other predecessor,
	// not sealed, cannot write to a dossier now the successor's (one owner).
	next, err := dossier.Decide(awaitingApproval, dossier.Command{Action: dossier.Approve, Actor: "ld.xa", Role: dossier.Leader, Time: eff.Add(2 * time.Hour)}, sample.Calendar())
	if err != nil {
		t.Fatal(err)
	}
	evRec := &xasov1.OutboxRecord{DossierCode: awaitingApproval.GetCode(), Event: next}
	if r := a.apply(t, appendEvents("00004", chainAfter(t, evRec, "00004", seal.GetSequence()+1, seal.GetHash())))[0]; codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Errorf("the predecessor after its seal: %v", r)
	}
	if r := a.apply(t, appendEvents("00007", chainAfter(t, evRec, "00007", 1, dossier.GenesisHash())))[0]; codes.Code(r.GetCode()) != codes.PermissionDenied {
		t.Errorf("another commune on the successor's dossier: %v", r)
	}
	// The successor approves at once.
	if r := a.apply(t, appendEvents("00008", chainAfter(t, evRec, "00008", 1, dossier.GenesisHash())))[0]; r.GetCode() != 0 || r.GetAccepted() != 1 {
		t.Fatalf("the successor's approval: %v", r)
	}
	if d, _ := a.f.Dossier(awaitingApproval.GetCode()); d.GetState() != dossier.ResultReady || d.GetCommuneCode() != "00008" {
		t.Errorf("after the successor's approval: %v", d)
	}
}

func withoutEvents(d *xasov1.Dossier) *xasov1.Dossier {
	d = proto.Clone(d).(*xasov1.Dossier)
	d.Events = nil
	return d
}

// historyInEveryState makes n records of a commune's history, from the
// first seed whose history leaves dossiers in every state a hand-over
// concerns (and some finished).
func historyInEveryState(t *testing.T, commune string, n int) (*workload.History, []*xasov1.OutboxRecord) {
	t.Helper()
	for seed := uint64(1); seed < 100; seed++ {
		h := workload.NewHistory(commune, sample.Procedures(), sample.Calendar(), seed, testNow)
		recs := make([]*xasov1.OutboxRecord, n)
		events := map[string][]*xasov1.Event{}
		for i := range recs {
			rec, err := h.Next()
			if err != nil {
				t.Fatal(err)
			}
			recs[i] = rec
			events[rec.GetDossierCode()] = append(events[rec.GetDossierCode()], rec.GetEvent())
		}
		states := map[dossier.State]bool{}
		for _, evs := range events {
			states[dossier.Fold(evs).GetState()] = true
		}
		if states[dossier.InProcessing] && states[dossier.AwaitingSupplement] && states[dossier.AwaitingApproval] && states[dossier.ResultReady] && states[dossier.Returned] {
			return h, recs
		}
	}
	t.Fatal("no history of 100 seeds leaves a dossier in every state")
	return nil, nil
}

// TestAPIDeclareSuccession: POST /v1/successions is an operator's; bad
// input is a 400 naming the fields, a commune that is not registered is
// refused, a good declaration is stored with central's declare time.
func TestAPIDeclareSuccession(t *testing.T) {
	ac := newAPICluster(t)
	f := ac.follower().ID()
	for _, c := range []string{"00004", "00007", "00008"} {
		ac.eventuallyStatus(200, f, "PUT", "/v1/communes/"+c, ac.operator, map[string]any{"name": "Xã " + c}, nil)
	}
	at := ac.now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	body := func(preds []string, to, at, basis string) map[string]any {
		return map[string]any{"succession": map[string]any{"predecessor_codes": preds, "successor_code": to, "effective_time": at, "basis": basis}}
	}
	var eb errorBody
	if code := ac.do(f, "POST", "/v1/successions", ac.operator, body([]string{"4"}, "00008", at, ""), &eb); code != 400 ||
		fmt.Sprint(eb.fields()) != "[succession.predecessor_codes[0] succession.basis]" {
		t.Fatalf("bad declaration: %d %v (%s)", code, eb.fields(), eb.Message)
	}
	if code := ac.do(f, "POST", "/v1/successions", ac.viewer, body([]string{"00004"}, "00008", at, testBasis), nil); code != 403 {
		t.Fatalf("a viewer declared: %d", code)
	}
	if code := ac.do(f, "POST", "/v1/successions", ac.operator, body([]string{"00005"}, "00008", at, testBasis), &eb); code != http.StatusConflict || !strings.Contains(eb.Message, "not registered") {
		t.Fatalf("an unregistered commune: %d %s", code, eb.Message)
	}
	var out struct {
		Succession struct {
			SuccessorCode string `json:"successor_code"`
			DeclareTime   string `json:"declare_time"`
		} `json:"succession"`
	}
	if code := ac.do(f, "POST", "/v1/successions", ac.operator, body([]string{"00004", "00007"}, "00008", at, testBasis), &out); code != 200 ||
		out.Succession.SuccessorCode != "00008" || out.Succession.DeclareTime == "" {
		t.Fatalf("declaration: %d %+v", code, out)
	}
}
