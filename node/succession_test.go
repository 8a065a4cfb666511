package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/sample"
)

// TestSuccessorTakesASucceededDossier: the successor's node takes a
// dossier central handed to it down the feed with its code, state, due
// time and holder, writes nothing to its outbox for it, acts on it at once
// (Resolution 190/2025/QH15: no step repeated), takes a replayed item
// once, and refuses an item whose events do not end with its hand-over.
func TestSuccessorTakesASucceededDossier(t *testing.T) {
	ctx := context.Background()
	cal := sample.Calendar()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	const pred = "09620"

	prev := openSeeded(t, t.TempDir(), nil)
	defer prev.Close()
	d, err := prev.Create(ctx, pred, cal, CreateInput{
		ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON, Actor: "a", Role: dossier.Clerk, Time: at,
		Applicant: &xasov1.Applicant{FullName: "Một", IdNumber: "001190099999"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, err = prev.Transition(ctx, cal, d.GetCode(), 0, dossier.Command{Action: dossier.Assign, Role: dossier.Clerk, Actor: "a", Assignee: "cb.tuphap", Time: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	full, err := prev.Get(d.GetCode(), true)
	if err != nil {
		t.Fatal(err)
	}
	// What central sends after the predecessor's seal.
	ev, err := dossier.SucceedEvent(full, testCommune, "Nghị quyết số 1656/NQ-UBTVQH15", at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	out := proto.Clone(full).(*xasov1.Dossier)
	dossier.Apply(out, ev)
	out.Events = append(out.Events, ev)
	item := &xasov1.FeedItem{Sequence: 10, CommuneCode: testCommune, Item: &xasov1.FeedItem_Succeeded{Succeeded: out}}

	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	forged := proto.Clone(item).(*xasov1.FeedItem)
	forged.GetSucceeded().Events = forged.GetSucceeded().GetEvents()[:2]
	forged.GetSucceeded().EventCount = 2
	if err := st.applyFeedItem(ctx, forged, testCommune, time.Now()); err == nil {
		t.Fatal("took a succeeded dossier whose events do not end with its hand-over")
	}
	lastBefore, _ := st.OutboxHead()
	for range 2 { // the second time, replayed after a restore: taken once
		if err := st.applyFeedItem(ctx, item, testCommune, time.Now()); err != nil {
			t.Fatal(err)
		}
		item.Sequence++
	}
	got, err := st.Get(d.GetCode(), true)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetCommuneCode() != testCommune || got.GetState() != dossier.InProcessing || got.GetAssignee() != "cb.tuphap" ||
		!proto.Equal(got.GetDueTime(), full.GetDueTime()) || len(got.GetEvents()) != 3 {
		t.Fatalf("succeeded dossier here: %v", got)
	}
	if last, _ := st.OutboxHead(); last != lastBefore {
		t.Errorf("the hand-over went to the outbox: %d records, was %d", last, lastBefore)
	}
	if st.Counts()[dossier.InProcessing] != 1 {
		t.Errorf("counts %v", st.Counts())
	}
	// The successor's officer goes on at once.
	next, err := st.Transition(ctx, cal, d.GetCode(), 3, dossier.Command{Action: dossier.Submit, Role: dossier.Officer, Actor: "cb.tuphap", Time: at.Add(2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if next.GetState() != dossier.AwaitingApproval || next.GetEventCount() != 4 {
		t.Errorf("after the successor's submit: %v", next)
	}
	// Restored from central: its own records, with the history up to the
	// SUCCEED as central sends it before the first step after it.
	recs, err := st.ReadOutbox(1, 100, 1<<20)
	if err != nil || len(recs) != 1 {
		t.Fatalf("successor's outbox: %v, %v", recs, err)
	}
	if err := openSeeded(t, t.TempDir(), nil).Restore(ctx, recs, nil); err == nil {
		t.Error("restored a step on a succeeded dossier without its history")
	}
	fresh := openSeeded(t, t.TempDir(), nil)
	defer fresh.Close()
	if err := fresh.Restore(ctx, recs, map[string]*xasov1.EventList{d.GetCode(): {Events: out.GetEvents()}}); err != nil {
		t.Fatal(err)
	}
	if got, err := fresh.Get(d.GetCode(), true); err != nil || got.GetState() != dossier.AwaitingApproval || len(got.GetEvents()) != 4 || got.GetCommuneCode() != testCommune {
		t.Fatalf("restored: %v, %v", got, err)
	}
	if err := fresh.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestPredecessorDeskRefusesReceiptsFromTheEffectiveTime: once central's
// feed brings the succession its commune ceases in, the node takes
// receipts until the effective time and none from it, with the desk's
// Vietnamese message naming the successor's centre; a succession of other
// communes changes nothing here.
func TestPredecessorDeskRefusesReceiptsFromTheEffectiveTime(t *testing.T) {
	ctx := context.Background()
	cal := sample.Calendar()
	eff := time.Date(2026, 12, 1, 0, 0, 0, 0, dossier.Zone)
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	receive := func(at time.Time) error {
		_, err := st.Create(ctx, testCommune, cal, CreateInput{
			ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON, Actor: "a", Role: dossier.Clerk, Time: at,
			Applicant: &xasov1.Applicant{FullName: "Một", IdNumber: "001190099999"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
		})
		return err
	}
	items := []*xasov1.FeedItem{
		{Sequence: 1, Broadcast: true, Item: &xasov1.FeedItem_Commune{Commune: &xasov1.Commune{Code: "09700", Name: "Phường Hạc Thành"}}},
		{Sequence: 2, Broadcast: true, Item: &xasov1.FeedItem_Succession{Succession: &xasov1.Succession{
			PredecessorCodes: []string{"09621"}, SuccessorCode: "09700", EffectiveTime: timestamppb.New(eff.Add(-48 * time.Hour)), Basis: "Nghị quyết khác"}}},
		{Sequence: 3, Broadcast: true, Item: &xasov1.FeedItem_Succession{Succession: &xasov1.Succession{
			PredecessorCodes: []string{"09622", testCommune}, SuccessorCode: "09700", EffectiveTime: timestamppb.New(eff), Basis: "Nghị quyết số 1686/NQ-UBTVQH15"}}},
	}
	if err := st.applyFeedItem(ctx, items[0], testCommune, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.applyFeedItem(ctx, items[1], testCommune, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := receive(eff.Add(-time.Hour)); err != nil {
		t.Fatalf("another commune's succession stopped this desk: %v", err)
	}
	if err := st.applyFeedItem(ctx, items[2], testCommune, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := receive(eff.Add(-time.Minute)); err != nil {
		t.Fatalf("a receipt before the effective time: %v", err)
	}
	err := receive(eff.Add(time.Minute))
	var se *dossier.SuccessionError
	if !errors.As(err, &se) {
		t.Fatalf("a receipt after the effective time: %v", err)
	}
	st2 := status.Convert(grpcerr.From(err, nil, "x"))
	if st2.Code() != codes.FailedPrecondition || !strings.Contains(st2.Message(), "Phường Hạc Thành") || !strings.Contains(st2.Message(), "không tiếp nhận hồ sơ mới") {
		t.Errorf("the desk would show %s %q", st2.Code(), st2.Message())
	}
}

// TestPredecessorSealsOnceDrained: a predecessor's node seals its chain
// only after the effective time and once central acknowledged every
// record (nothing done offline is lost), once; the seal chains like any
// record and the store still verifies; after it the node writes no event
// on its dossiers (one owner: the successor).
func TestPredecessorSealsOnceDrained(t *testing.T) {
	ctx := context.Background()
	cal := sample.Calendar()
	eff := time.Date(2026, 12, 1, 0, 0, 0, 0, dossier.Zone)
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	if ok, err := st.Seal(ctx, testCommune, eff.Add(time.Hour)); ok || err != nil {
		t.Fatalf("sealed without a succession: %v, %v", ok, err)
	}
	d, err := st.Create(ctx, testCommune, cal, CreateInput{
		ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON, Actor: "a", Role: dossier.Clerk, Time: eff.Add(-time.Hour),
		Applicant: &xasov1.Applicant{FullName: "Một", IdNumber: "001190099999"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	item := &xasov1.FeedItem{Sequence: 1, Broadcast: true, Item: &xasov1.FeedItem_Succession{Succession: &xasov1.Succession{
		PredecessorCodes: []string{testCommune}, SuccessorCode: "09700", EffectiveTime: timestamppb.New(eff), Basis: "Nghị quyết số 1686/NQ-UBTVQH15"}}}
	if err := st.applyFeedItem(ctx, item, testCommune, time.Now()); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Seal(ctx, testCommune, eff.Add(-time.Minute)); ok || err != nil {
		t.Fatalf("sealed before the effective time: %v, %v", ok, err)
	}
	for _, c := range []struct {
		at  time.Time
		due bool
	}{{eff.Add(-time.Minute), false}, {eff, true}} {
		if due, sealed, err := st.sealDue(c.at); due != c.due || sealed || err != nil {
			t.Errorf("sealDue at %s: %v %v %v", c.at, due, sealed, err)
		}
	}
	// Offline across the effective time: the node goes on working.
	if _, err := st.Transition(ctx, cal, d.GetCode(), 0, dossier.Command{Action: dossier.Assign, Role: dossier.Clerk, Actor: "a", Assignee: "cb", Time: eff.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Seal(ctx, testCommune, eff.Add(time.Hour)); !errors.Is(err, ErrNotDrained) {
		t.Fatalf("sealed with records central does not hold: %v", err)
	}
	last, _ := st.OutboxHead()
	if err := st.Acknowledge(ctx, last); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Seal(ctx, testCommune, eff.Add(time.Hour)); !ok || err != nil {
		t.Fatalf("seal once drained: %v, %v", ok, err)
	}
	if ok, err := st.Seal(ctx, testCommune, eff.Add(2*time.Hour)); ok || err != nil {
		t.Fatalf("sealed twice: %v, %v", ok, err)
	}
	if due, sealed, err := st.sealDue(eff.Add(2 * time.Hour)); !sealed || err != nil {
		t.Errorf("sealDue after the seal: %v %v %v", due, sealed, err)
	}
	recs, err := st.ReadOutbox(last+1, 10, 1<<20)
	if err != nil || len(recs) != 1 || recs[0].GetSeal().GetSuccessorCode() != "09700" {
		t.Fatalf("outbox after the seal: %v, %v", recs, err)
	}
	if err := dossier.ValidateRecord(recs[0], testCommune, eff.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.Verify(); err != nil {
		t.Fatalf("the store does not verify with a seal: %v", err)
	}
	_, err = st.Transition(ctx, cal, d.GetCode(), 0, dossier.Command{Action: dossier.Submit, Role: dossier.Officer, Actor: "cb", Time: eff.Add(3 * time.Hour)})
	var oe *dossier.OwnerError
	if !errors.As(err, &oe) || status.Code(grpcerr.From(err, nil, "x")) != codes.PermissionDenied {
		t.Fatalf("an event after the seal: %v", err)
	}
}
