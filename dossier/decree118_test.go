package dossier_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// step is one command of a Decree 118 scenario, at a local time.
type step struct {
	action dossier.Action
	role   dossier.Role
	when   string
}

// forge makes the event a node that skipped the workflow's checks would
// record for cmd on d: what central must refuse when the rules refuse it.
func forge(d *dossier.Dossier, cmd dossier.Command, to dossier.State) *dossier.Event {
	ev := &dossier.Event{
		Sequence: d.GetEventCount() + 1, Action: cmd.Action, Actor: cmd.Actor, Role: cmd.Role,
		Time: timestamppb.New(cmd.Time), Reason: cmd.Reason, State: d.GetState(), Assignee: d.GetAssignee(), DueTime: d.GetDueTime(),
	}
	if to != dossier.StateUnspecified {
		ev.State = to
	}
	if cmd.Action == dossier.Apologize {
		ev.AppointmentTime = timestamppb.New(cmd.Appointment)
	}
	return ev
}

// TestDecree118Rules drives dossiers received under Decree 118/2025 (a
// 5-working-day procedure received Monday 23 Nov 2026 09:00: with 24 Nov,
// Vietnam Culture Day, off, due Tuesday 1 Dec, supplements to be asked for
// by Friday 27 Nov) through the
// decree's rules: the last step is refused (want != nil) or allowed, by
// the desk (Decide) and by central's re-decision (CheckEvent) alike.
func TestDecree118Rules(t *testing.T) {
	assign := step{dossier.Assign, dossier.Clerk, "2026-11-23 10:00"}
	request := func(when string) step { return step{dossier.RequestSupplement, dossier.Officer, when} }
	supplement := func(when string) step { return step{dossier.ReceiveSupplement, dossier.Clerk, when} }
	tests := []struct {
		name  string
		proc  func(*dossier.Procedure)
		steps []step
		ok    bool
		to    dossier.State // the state the last step leads to
	}{
		{"art. 11(2)(c), 16(3), 17(2)(a): supplements once: a second request is refused",
			nil, []step{assign, request("2026-11-24 09:00"), supplement("2026-11-25 09:00"), request("2026-11-26 09:00")}, false, dossier.AwaitingSupplement},
		{"art. 19(5): a request on the third working day after receipt is allowed",
			nil, []step{assign, request("2026-11-27 16:59")}, true, dossier.AwaitingSupplement},
		{"art. 19(5): a request after the third working day is refused",
			nil, []step{assign, request("2026-11-30 08:00")}, false, dossier.AwaitingSupplement},
		{"art. 19(5): sector law's window of 10 working days",
			func(p *dossier.Procedure) {
				p.SupplementWindowDays, p.SupplementLegalBasis = 10, "Luật chuyên ngành (ví dụ)"
			},
			[]step{assign, request("2026-12-04 09:00")}, true, dossier.AwaitingSupplement},
		{"art. 19(5): closing on the 15th day after the request is refused",
			nil, []step{assign, request("2026-11-24 09:00"), {dossier.CloseUnsupplemented, dossier.Clerk, "2026-12-09 16:00"}}, false, dossier.ClosedUnsupplemented},
		{"art. 19(5): closing after 15 calendar days is allowed",
			nil, []step{assign, request("2026-11-24 09:00"), {dossier.CloseUnsupplemented, dossier.Clerk, "2026-12-10 08:00"}}, true, dossier.ClosedUnsupplemented},
		{"art. 19(5): sector law's closing period of 30 days",
			func(p *dossier.Procedure) {
				p.SupplementCloseDays, p.SupplementLegalBasis = 30, "Luật chuyên ngành (ví dụ)"
			},
			[]step{assign, request("2026-11-24 09:00"), {dossier.CloseUnsupplemented, dossier.Clerk, "2026-12-10 08:00"}}, false, dossier.ClosedUnsupplemented},
		{"art. 19(6): an apology the day before the due day is allowed",
			nil, []step{assign, {dossier.Apologize, dossier.Officer, "2026-11-30 20:00"}}, true, dossier.InProcessing},
		{"art. 19(6): an apology on the due day is refused",
			nil, []step{assign, {dossier.Apologize, dossier.Officer, "2026-12-01 08:00"}}, false, dossier.InProcessing},
		{"art. 19(6): the date is set anew once: a second apology is refused",
			nil, []step{assign, {dossier.Apologize, dossier.Officer, "2026-11-25 09:00"}, {dossier.Apologize, dossier.Leader, "2026-11-26 09:00"}}, false, dossier.InProcessing},
		{"art. 19(5), 19(6): no apology while the clock is stopped",
			nil, []step{assign, request("2026-11-24 09:00"), {dossier.Apologize, dossier.Officer, "2026-11-25 09:00"}}, false, dossier.AwaitingSupplement},
		{"art. 21: the citizen stops the procedure while it is processed",
			nil, []step{assign, {dossier.Withdraw, dossier.Clerk, "2026-11-24 09:00"}}, true, dossier.Withdrawn},
		{"art. 21: the citizen stops the procedure while the leader decides",
			nil, []step{assign, {dossier.Submit, dossier.Officer, "2026-11-24 09:00"}, {dossier.Withdraw, dossier.Clerk, "2026-11-24 10:00"}}, true, dossier.Withdrawn},
		{"art. 21: no stop once the result exists",
			nil, []step{assign, {dossier.Submit, dossier.Officer, "2026-11-24 09:00"}, {dossier.Approve, dossier.Leader, "2026-11-24 10:00"}, {dossier.Withdraw, dossier.Clerk, "2026-11-24 11:00"}}, false, dossier.Withdrawn},
	}
	cal := sample.Calendar()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			proc := proto.Clone(birth()).(*dossier.Procedure)
			if tc.proc != nil {
				tc.proc(proc)
				if err := dossier.ValidateProcedure(proc); err != nil {
					t.Fatal(err)
				}
			}
			d := &dossier.Dossier{}
			dossier.Apply(d, receive(t, cal, proc, at("2026-11-23 09:00")))
			for i, s := range tc.steps {
				cmd := fullCommand(s.action, s.role, at(s.when))
				cmd.Appointment = at("2026-12-15 10:00")
				ev, err := dossier.Decide(d, cmd, cal)
				if i < len(tc.steps)-1 || tc.ok {
					if err != nil {
						t.Fatalf("step %d %s: %v", i, dossier.ActionName(s.action), err)
					}
					if err := dossier.CheckEvent(d, ev, "09619"); err != nil {
						t.Fatalf("step %d: central refuses what the desk decided: %v", i, err)
					}
					if i == len(tc.steps)-1 && ev.GetState() != tc.to {
						t.Fatalf("state %s, want %s", dossier.StateName(ev.GetState()), dossier.StateName(tc.to))
					}
					dossier.Apply(d, ev)
					continue
				}
				var te *dossier.TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("the desk decided %v, %v; want a transition error", ev, err)
				}
				t.Logf("desk: %v", err)
				// The same rule fires at central on a node's forged event.
				err = dossier.CheckEvent(d, forge(d, cmd, tc.to), "09619")
				if !errors.As(err, &te) {
					t.Fatalf("central took the forged event: %v", err)
				}
				t.Logf("central: %v", err)
			}
		})
	}
}

// TestDecree118SupplementRestartsTheClock: art. 19(5) "Thời hạn giải quyết
// được tính lại từ đầu sau khi nhận đủ hồ sơ": the full processing time
// counts from the supplement's receipt, and no dossier waiting for it is
// overdue, at the node or at central (rule of ClockRuns).
func TestDecree118SupplementRestartsTheClock(t *testing.T) {
	cal := sample.Calendar()
	d := &dossier.Dossier{}
	dossier.Apply(d, receive(t, cal, birth(), at("2026-11-23 09:00")))
	for _, s := range []step{{dossier.Assign, dossier.Clerk, "2026-11-23 10:00"}, {dossier.RequestSupplement, dossier.Officer, "2026-11-26 10:00"}} {
		ev, err := dossier.Decide(d, fullCommand(s.action, s.role, at(s.when)), cal)
		if err != nil {
			t.Fatal(err)
		}
		dossier.Apply(d, ev)
	}
	if dossier.ClockRuns(d) || dossier.OverdueAt(d, at("2027-01-10 10:00")) {
		t.Fatal("art. 19(5): a dossier waiting for supplements counts as overdue")
	}
	ev, err := dossier.Decide(d, fullCommand(dossier.ReceiveSupplement, dossier.Clerk, at("2027-01-11 10:00")), cal)
	if err != nil {
		t.Fatal(err)
	}
	dossier.Apply(d, ev)
	if got := dossier.DateOf(d.GetDueTime().AsTime(), dossier.Zone).String(); got != "2027-01-18" {
		t.Fatalf("due %s after the supplement of Monday 11 Jan; want 5 working days later, 2027-01-18", got)
	}
	if !dossier.ClockRuns(d) || d.GetSupplementRequests() != 1 {
		t.Fatalf("after the supplement: %v", d)
	}
}

// TestDecree118ReceptionOutcomes: art. 16(3), 17(1)(c): an incomplete
// dossier is not taken in but the guidance (with the missing components)
// or the refusal is recorded, with its reason; nothing else may follow.
func TestDecree118ReceptionOutcomes(t *testing.T) {
	cal := sample.Calendar()
	in := dossier.ReceiveInput{
		Code: "09619-261123-0001", CommuneCode: "09619", Procedure: birth(),
		Applicant: &xasov1.Applicant{FullName: "Nguyễn Văn An"}, Channel: xasov1.Channel_CHANNEL_IN_PERSON,
		Actor: "clerk", Role: dossier.Clerk, Time: at("2026-11-23 09:00"),
	}
	if _, err := dossier.ReceiveEvent(in, cal); err == nil {
		t.Fatal("art. 17(1)(c): an incomplete dossier was taken in")
	}
	for _, outcome := range []dossier.State{dossier.Guided, dossier.RefusedAtReception} {
		in := in
		in.Outcome = outcome
		if _, err := dossier.ReceiveEvent(in, cal); err == nil {
			t.Fatalf("%s without a reason", dossier.StateName(outcome))
		}
		in.Reason = "Thiếu tờ khai"
		ev, err := dossier.ReceiveEvent(in, cal)
		if err != nil {
			t.Fatal(err)
		}
		if err := dossier.CheckEvent(nil, ev, "09619"); err != nil {
			t.Fatalf("central refuses the %s: %v", dossier.StateName(outcome), err)
		}
		d := dossier.Fold([]*dossier.Event{ev})
		if d.GetState() != outcome || d.GetDueTime() != nil || d.GetOutcomeReason() != "Thiếu tờ khai" || dossier.IsOpen(d.GetState()) || !dossier.IsFinal(d) {
			t.Fatalf("%s: %v", dossier.StateName(outcome), d)
		}
		if outcome == dossier.Guided && len(d.GetMissingComponents()) == 0 {
			t.Fatal("the guidance does not list the missing components")
		}
		// Broken input: a guidance without its reason, or with a due time.
		bad := proto.Clone(ev).(*dossier.Event)
		bad.Reason = ""
		if err := dossier.CheckEvent(nil, bad, "09619"); err == nil {
			t.Fatal("central took a guidance without a reason")
		}
		bad = proto.Clone(ev).(*dossier.Event)
		bad.DueTime = timestamppb.New(at("2026-11-30 17:00"))
		if err := dossier.CheckEvent(nil, bad, "09619"); err == nil {
			t.Fatal("central took a guidance with a running clock")
		}
	}
}

// TestOldDossiersReplay: dossiers received under the older rules keep
// them: their logged events (two supplement requests, two apologies, an
// apology while waiting) still pass central's re-decision and fold.
func TestOldDossiersReplay(t *testing.T) {
	cal := sample.Calendar()
	first := receive(t, cal, birth(), at("2026-11-23 09:00"))
	first.Receipt.Rules, first.Receipt.SupplementDeadline = 0, nil // as older versions wrote it
	d := &dossier.Dossier{}
	if err := dossier.CheckEvent(nil, first, "09619"); err != nil {
		t.Fatal(err)
	}
	dossier.Apply(d, first)
	events := []*dossier.Event{first}
	for _, s := range []step{
		{dossier.Assign, dossier.Clerk, "2026-11-23 10:00"},
		{dossier.RequestSupplement, dossier.Officer, "2026-11-24 10:00"},
		{dossier.Apologize, dossier.Officer, "2026-11-25 10:00"},
		{dossier.ReceiveSupplement, dossier.Clerk, "2026-11-26 10:00"},
		{dossier.RequestSupplement, dossier.Officer, "2026-12-08 10:00"},
		{dossier.ReceiveSupplement, dossier.Clerk, "2026-12-09 10:00"},
		{dossier.Apologize, dossier.Leader, "2026-12-16 10:00"},
	} {
		cmd := fullCommand(s.action, s.role, at(s.when))
		if s.action == dossier.Apologize {
			cmd.Appointment = at(s.when).AddDate(0, 1, 0)
		}
		ev, err := dossier.Decide(d, cmd, cal)
		if err != nil {
			t.Fatalf("%s at %s: %v", dossier.ActionName(s.action), s.when, err)
		}
		if err := dossier.CheckEvent(d, ev, "09619"); err != nil {
			t.Fatalf("%s at %s: central refuses an old dossier's event: %v", dossier.ActionName(s.action), s.when, err)
		}
		dossier.Apply(d, ev)
		events = append(events, ev)
	}
	if f := dossier.Fold(events); !proto.Equal(f, d) || f.GetSupplementRequests() != 0 {
		t.Fatalf("fold %v\nlive %v", f, d)
	}
}

// TestDecree118NeverTwice is a property: whatever the order and timing of
// the actions, a dossier under Decree 118/2025 gets at most one supplement
// request and one apology, never an apology while it waits for
// supplements, and central accepts every event the desk decides.
func TestDecree118NeverTwice(t *testing.T) {
	cal := sample.Calendar()
	actions := dossier.Actions()
	for seed := uint64(1); seed <= 400; seed++ {
		rng := rand.New(rand.NewPCG(seed, 118))
		d := &dossier.Dossier{}
		now := at("2026-11-23 08:00").Add(time.Duration(rng.IntN(96)) * time.Hour)
		dossier.Apply(d, receive(t, cal, birth(), now))
		requests, apologies := 0, 0
		for range 60 {
			now = now.Add(time.Duration(rng.IntN(20)) * time.Hour)
			a := actions[rng.IntN(len(actions))]
			cmd := fullCommand(a, allRoles[rng.IntN(3)], now)
			waiting := d.GetState() == dossier.AwaitingSupplement
			ev, err := dossier.Decide(d, cmd, cal)
			if err != nil {
				continue
			}
			if err := dossier.CheckEvent(d, ev, "09619"); err != nil {
				t.Fatalf("seed %d: central refuses %s: %v", seed, dossier.ActionName(a), err)
			}
			switch a {
			case dossier.RequestSupplement:
				requests++
			case dossier.Apologize:
				apologies++
				if waiting {
					t.Fatalf("seed %d: an apology while the clock is stopped", seed)
				}
			}
			dossier.Apply(d, ev)
		}
		if requests > 1 || apologies > 1 {
			t.Fatalf("seed %d: %d supplement requests, %d apologies", seed, requests, apologies)
		}
	}
}
