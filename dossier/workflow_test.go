package dossier_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

var (
	allStates = []dossier.State{dossier.Received, dossier.InProcessing, dossier.AwaitingSupplement, dossier.AwaitingApproval, dossier.ResultReady, dossier.Returned, dossier.Refused, dossier.Withdrawn, dossier.Transferred, dossier.Guided, dossier.RefusedAtReception, dossier.ClosedUnsupplemented}
	allRoles  = []dossier.Role{dossier.Clerk, dossier.Officer, dossier.Leader}
)

// allowed is the workflow of DESIGN.md written out by hand, (action, from,
// role) → to. Everything not listed must be refused.
var allowed = map[string]dossier.State{
	"ASSIGN RECEIVED CLERK":                          dossier.InProcessing,
	"FORWARD IN_PROCESSING OFFICER":                  dossier.InProcessing,
	"FORWARD IN_PROCESSING LEADER":                   dossier.InProcessing,
	"REQUEST_SUPPLEMENT IN_PROCESSING OFFICER":       dossier.AwaitingSupplement,
	"RECEIVE_SUPPLEMENT AWAITING_SUPPLEMENT CLERK":   dossier.InProcessing,
	"SUBMIT IN_PROCESSING OFFICER":                   dossier.AwaitingApproval,
	"SEND_BACK AWAITING_APPROVAL LEADER":             dossier.InProcessing,
	"APPROVE AWAITING_APPROVAL LEADER":               dossier.ResultReady,
	"REFUSE IN_PROCESSING LEADER":                    dossier.Refused,
	"REFUSE AWAITING_APPROVAL LEADER":                dossier.Refused,
	"RETURN RESULT_READY CLERK":                      dossier.Returned,
	"RETURN REFUSED CLERK":                           dossier.Refused,
	"WITHDRAW RECEIVED CLERK":                        dossier.Withdrawn,
	"WITHDRAW IN_PROCESSING CLERK":                   dossier.Withdrawn, // Decree 118/2025 art. 21
	"WITHDRAW AWAITING_SUPPLEMENT CLERK":             dossier.Withdrawn,
	"WITHDRAW AWAITING_APPROVAL CLERK":               dossier.Withdrawn,            // art. 21
	"CLOSE_UNSUPPLEMENTED AWAITING_SUPPLEMENT CLERK": dossier.ClosedUnsupplemented, // art. 19(5)
	"APOLOGIZE RECEIVED OFFICER":                     dossier.Received,
	"APOLOGIZE RECEIVED LEADER":                      dossier.Received,
	"APOLOGIZE IN_PROCESSING OFFICER":                dossier.InProcessing,
	"APOLOGIZE IN_PROCESSING LEADER":                 dossier.InProcessing,
	"APOLOGIZE AWAITING_SUPPLEMENT OFFICER":          dossier.AwaitingSupplement,
	"APOLOGIZE AWAITING_SUPPLEMENT LEADER":           dossier.AwaitingSupplement,
	"APOLOGIZE AWAITING_APPROVAL OFFICER":            dossier.AwaitingApproval,
	"APOLOGIZE AWAITING_APPROVAL LEADER":             dossier.AwaitingApproval,
	"TRANSFER RECEIVED CLERK":                        dossier.Transferred,
}

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)

// fullCommand fills every field an action may need.
func fullCommand(a dossier.Action, r dossier.Role, now time.Time) dossier.Command {
	cmd := dossier.Command{Action: a, Role: r, Actor: "nguyen.van.a", Time: now, Reason: "lý do", Assignee: "tran.thi.b", Appointment: now.AddDate(0, 1, 0)}
	if a == dossier.ReceiveSupplement {
		cmd.Components = []*xasov1.SubmittedComponent{{Code: "GT", Paper: true}}
	}
	if a == dossier.Transfer {
		cmd.TransferCommune = "00082"
	}
	return cmd
}

// refusedUnder118 are the rows of allowed that Decree 118/2025 takes away
// from the dossiers received under it: no apology while the clock is
// stopped (art. 19(5), 19(6)).
var refusedUnder118 = map[string]bool{
	"APOLOGIZE AWAITING_SUPPLEMENT OFFICER": true,
	"APOLOGIZE AWAITING_SUPPLEMENT LEADER":  true,
}

func dossierIn(s dossier.State) *dossier.Dossier {
	return &dossier.Dossier{Code: "09619-261123-0001", CommuneCode: "09619", State: s, EventCount: 3, DueTime: timestamppb.New(t0.AddDate(0, 0, 7)), PausedTime: timestamppb.New(t0), ProcessingDays: 5}
}

// dossier118In is dossierIn for a dossier received under Decree 118/2025,
// within its supplement window, before its due day.
func dossier118In(s dossier.State) *dossier.Dossier {
	d := dossierIn(s)
	d.Rules = dossier.Decree118
	d.SupplementDeadline = timestamppb.New(t0.AddDate(0, 0, 3))
	return d
}

func TestTransitionTable(t *testing.T) {
	for _, rules := range []string{"old rules", "Decree 118"} {
		for _, a := range dossier.Actions() {
			for _, s := range allStates {
				for _, r := range allRoles {
					key := fmt.Sprintf("%s %s %s", dossier.ActionName(a), dossier.StateName(s), dossier.RoleName(r))
					t.Run(rules+" "+key, func(t *testing.T) {
						d := dossierIn(s)
						if rules == "Decree 118" {
							d = dossier118In(s)
						}
						now := t0.Add(time.Hour)
						if a == dossier.CloseUnsupplemented {
							now = t0.AddDate(0, 0, 16) // art. 19(5): after 15 days
						}
						_, ok := allowed[key]
						transition(t, d, a, r, now, key, ok && !(rules == "Decree 118" && refusedUnder118[key]))
					})
				}
			}
		}
	}
}

// transition checks that the desk decides a on d as allowed says, and
// that central's re-decision accepts what the desk decided.
func transition(t *testing.T, d *dossier.Dossier, a dossier.Action, r dossier.Role, now time.Time, key string, ok bool) {
	t.Helper()
	before := proto.Clone(d)
	ev, err := dossier.Decide(d, fullCommand(a, r, now), sample.Calendar())
	if !proto.Equal(before, d) {
		t.Fatal("Decide changed the dossier")
	}
	if !ok {
		var te *dossier.TransitionError
		var re *dossier.RoleError
		if !errors.As(err, &te) && !errors.As(err, &re) {
			t.Fatalf("want refusal (transition or role error), got %v, %v", ev, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("want allowed, got %v", err)
	}
	if want := allowed[key]; ev.GetState() != want || ev.GetSequence() != 4 || ev.GetAction() != a {
		t.Fatalf("event = %v; want state %v, sequence 4", ev, want)
	}
	if err := dossier.CheckEvent(d, ev, "09619"); err != nil {
		t.Fatalf("central refuses what the desk decided: %v", err)
	}
}

func TestReturnRefusalNoticeOnlyOnce(t *testing.T) {
	d := dossierIn(dossier.Refused)
	d.ReturnedTime = timestamppb.New(t0)
	var te *dossier.TransitionError
	if _, err := dossier.Decide(d, fullCommand(dossier.Return, dossier.Clerk, t0), sample.Calendar()); !errors.As(err, &te) {
		t.Fatalf("second return of a refusal notice: %v, want a transition error", err)
	}
}

func TestDecideNeedsFields(t *testing.T) {
	cal := sample.Calendar()
	tests := []struct {
		name  string
		state dossier.State
		cmd   dossier.Command
		field string
	}{
		{"supplement without a reason", dossier.InProcessing, dossier.Command{Action: dossier.RequestSupplement, Role: dossier.Officer, Actor: "x", Time: t0}, "reason"},
		{"refusal without a reason", dossier.AwaitingApproval, dossier.Command{Action: dossier.Refuse, Role: dossier.Leader, Actor: "x", Time: t0}, "reason"},
		{"assign to nobody", dossier.Received, dossier.Command{Action: dossier.Assign, Role: dossier.Clerk, Actor: "x", Time: t0}, "assignee"},
		{"nobody acts", dossier.Received, dossier.Command{Action: dossier.Assign, Role: dossier.Clerk, Assignee: "y", Time: t0}, "actor"},
		{"apology without appointment", dossier.InProcessing, dossier.Command{Action: dossier.Apologize, Role: dossier.Officer, Actor: "x", Reason: "r", Time: t0}, "appointment_time"},
		{"apology with an earlier appointment", dossier.InProcessing, dossier.Command{Action: dossier.Apologize, Role: dossier.Officer, Actor: "x", Reason: "r", Time: t0, Appointment: t0.AddDate(0, 0, 1)}, "appointment_time"},
		{"a rating on a submit", dossier.InProcessing, dossier.Command{Action: dossier.Submit, Role: dossier.Officer, Actor: "x", Time: t0, Rating: &xasov1.Rating{}}, "rating"},
		{"unknown action", dossier.InProcessing, dossier.Command{Action: 99, Role: dossier.Officer, Actor: "x", Time: t0}, "action"},
		{"RECEIVE on an existing dossier", dossier.InProcessing, dossier.Command{Action: dossier.Receive, Role: dossier.Clerk, Actor: "x", Time: t0}, "action"},
		{"supplement with an unnamed component", dossier.AwaitingSupplement, dossier.Command{Action: dossier.ReceiveSupplement, Role: dossier.Clerk, Actor: "x", Time: t0, Components: []*xasov1.SubmittedComponent{{Paper: true}}}, "components[0].code"},
		{"result that is not a result", dossier.AwaitingApproval, dossier.Command{Action: dossier.Approve, Role: dossier.Leader, Actor: "x", Time: t0, Attachments: []*xasov1.AttachmentRef{{Sha256: fmt.Sprintf("%064x", 1)}}}, "attachments[0].result"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dossier.Decide(dossierIn(tc.state), tc.cmd, cal)
			var v dossier.Violations
			if !errors.As(err, &v) {
				t.Fatalf("got %v, want violations", err)
			}
			for _, x := range v {
				if x.Field == tc.field {
					return
				}
			}
			t.Fatalf("violations %v do not name %s", v, tc.field)
		})
	}
}

func birth() *dossier.Procedure {
	for _, p := range sample.Procedures() {
		if p.GetCode() == "1.000894" {
			return p
		}
	}
	panic("no marriage procedure in the sample")
}

func receive(t *testing.T, cal *dossier.Calendar, proc *dossier.Procedure, now time.Time) *dossier.Event {
	t.Helper()
	ev, err := dossier.ReceiveEvent(dossier.ReceiveInput{
		Code: "09619-261123-0001", CommuneCode: "09619", Procedure: proc,
		Applicant: &xasov1.Applicant{FullName: "Nguyễn Văn An", IdNumber: "001090012345"},
		Channel:   xasov1.Channel_CHANNEL_IN_PERSON, Actor: "clerk", Role: dossier.Clerk, Time: now,
		Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
	}, cal)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestReceiveRefusesIncompleteOrMalformed(t *testing.T) {
	cal := sample.Calendar()
	proc := birth()
	in := dossier.ReceiveInput{
		Code: "09619-261123-0001", CommuneCode: "09619", Procedure: proc,
		Applicant: &xasov1.Applicant{FullName: " ", IdNumber: "12345", Phone: "abc", Email: "no-at"},
		Actor:     "", Role: dossier.Officer, Time: t0,
		Components: []*xasov1.SubmittedComponent{{Code: "XNHN"}, {Code: "ZZ", Paper: true}, {Code: "ZZ", Paper: true, AttachmentSha256: []string{"ABC"}}},
	}
	_, err := dossier.ReceiveEvent(in, cal)
	var v dossier.Violations
	if !errors.As(err, &v) {
		t.Fatalf("got %v", err)
	}
	want := []string{"actor", "role", "applicant.full_name", "applicant.id_number", "applicant.phone", "applicant.email", "channel", "components[0]", "components[1].code", "components[2].code", "components[2].attachment_sha256[0]", "components"}
	got := map[string]bool{}
	for _, x := range v {
		got[x.Field] = true
	}
	for _, f := range want {
		if !got[f] {
			t.Errorf("no violation for %s; got %v", f, v)
		}
	}
}

// TestFoldEqualsLiveState drives random command sequences (most refused) and
// checks that the dossier built step by step equals the fold of its events,
// that refused commands change nothing, and that finished dossiers carry
// their timeliness.
func TestFoldEqualsLiveState(t *testing.T) {
	cal := sample.Calendar()
	procs := sample.Procedures()
	actions := append(dossier.Actions(), dossier.Receive, 0)
	for seed := uint64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		proc := proto.Clone(procs[rng.IntN(len(procs))]).(*dossier.Procedure)
		proc.SupplementClock = xasov1.SupplementClock(rng.IntN(3))
		now := t0.Add(time.Duration(rng.IntN(72)) * time.Hour)
		first, err := dossier.ReceiveEvent(dossier.ReceiveInput{
			Code: "09619-261123-0001", CommuneCode: "09619", Procedure: proc,
			Applicant: &xasov1.Applicant{FullName: "Lò Thị Mai"}, Channel: xasov1.Channel_CHANNEL_ONLINE,
			Actor: "clerk", Role: dossier.Clerk, Time: now, Components: allComponents(proc),
		}, cal)
		if err != nil {
			t.Fatalf("seed %d: receive: %v", seed, err)
		}
		live := &dossier.Dossier{}
		dossier.Apply(live, first)
		events := []*dossier.Event{first}
		for step := 0; step < 40; step++ {
			now = now.Add(time.Duration(rng.IntN(30)) * time.Hour)
			a := actions[rng.IntN(len(actions))]
			cmd := fullCommand(a, allRoles[rng.IntN(3)], now)
			if rng.IntN(2) == 0 {
				cmd.Reason = ""
			}
			before := proto.Clone(live)
			ev, err := dossier.Decide(live, cmd, cal)
			if err != nil {
				if !proto.Equal(before, live) {
					t.Fatalf("seed %d: refused %v changed the dossier", seed, a)
				}
				continue
			}
			dossier.Apply(live, ev)
			events = append(events, ev)
			if dossier.IsFinished(live.GetState()) && live.GetTimeliness() == xasov1.Timeliness_TIMELINESS_UNSPECIFIED {
				t.Fatalf("seed %d: finished dossier without timeliness", seed)
			}
			if live.GetState() == dossier.AwaitingSupplement && live.GetPausedTime() == nil {
				t.Fatalf("seed %d: clock not stopped while awaiting supplements", seed)
			}
		}
		if folded := dossier.Fold(events); !proto.Equal(folded, live) {
			t.Fatalf("seed %d: fold of %d events differs from the live dossier:\nfold %v\nlive %v", seed, len(events), folded, live)
		}
		for i, ev := range events {
			if ev.GetSequence() != int64(i+1) {
				t.Fatalf("seed %d: event %d has sequence %d", seed, i, ev.GetSequence())
			}
		}
	}
}

func allComponents(p *dossier.Procedure) []*xasov1.SubmittedComponent {
	var out []*xasov1.SubmittedComponent
	for _, c := range p.GetComponents() {
		out = append(out, &xasov1.SubmittedComponent{Code: c.GetCode(), Paper: true})
	}
	return out
}

func TestSupplementClock(t *testing.T) {
	cal := sample.Calendar()
	proc := proto.Clone(birth()).(*dossier.Procedure) // 5 working days
	// Received Monday 23 Nov 2026 09:00: due Tuesday 1 Dec (24 Nov, Vietnam
	// Culture Day, is off).
	recv := receive(t, cal, proc, at("2026-11-23 09:00"))
	if got := recv.GetDueTime().AsTime().In(dossier.Zone).Format(time.DateOnly); got != "2026-12-01" {
		t.Fatalf("due %s, want 2026-12-01", got)
	}
	run := func(clock xasov1.SupplementClock) string {
		d := &dossier.Dossier{}
		dossier.Apply(d, recv)
		d.SupplementClock = clock
		step := func(a dossier.Action, r dossier.Role, when string) {
			t.Helper()
			cmd := fullCommand(a, r, at(when))
			ev, err := dossier.Decide(d, cmd, cal)
			if err != nil {
				t.Fatal(err)
			}
			dossier.Apply(d, ev)
		}
		step(dossier.Assign, dossier.Clerk, "2026-11-23 10:00")
		step(dossier.RequestSupplement, dossier.Officer, "2026-11-25 10:00") // Wed: 4 working days left (26, 27, 30, 1)
		step(dossier.ReceiveSupplement, dossier.Clerk, "2026-12-02 10:00")   // Wed 2 Dec
		return d.GetDueTime().AsTime().In(dossier.Zone).Format(time.DateOnly)
	}
	if got := run(xasov1.SupplementClock_SUPPLEMENT_CLOCK_RESTART); got != "2026-12-09" {
		t.Errorf("restart: due %s, want 5 working days after 2 Dec: 2026-12-09", got)
	}
	if got := run(xasov1.SupplementClock_SUPPLEMENT_CLOCK_RESUME); got != "2026-12-08" {
		t.Errorf("resume: due %s, want 4 working days after 2 Dec: 2026-12-08", got)
	}
}

func TestLateWithApology(t *testing.T) {
	cal := sample.Calendar()
	d := &dossier.Dossier{}
	dossier.Apply(d, receive(t, cal, birth(), at("2026-11-23 09:00"))) // due 30 Nov
	for _, c := range []dossier.Command{
		fullCommand(dossier.Assign, dossier.Clerk, at("2026-11-23 10:00")),
		fullCommand(dossier.Apologize, dossier.Officer, at("2026-11-27 10:00")),
		fullCommand(dossier.Submit, dossier.Officer, at("2026-11-27 11:00")),
		fullCommand(dossier.Approve, dossier.Leader, at("2026-11-27 15:00")),
	} {
		ev, err := dossier.Decide(d, c, cal)
		if err != nil {
			t.Fatal(err)
		}
		dossier.Apply(d, ev)
	}
	if d.GetTimeliness() != dossier.Late || !d.GetApologized() || d.GetAppointmentTime() == nil {
		t.Fatalf("a dossier that needed an apology counts as late: %v", d)
	}
}

func TestTransferHandsTheDossierToAnotherCommuneWithItsClock(t *testing.T) {
	cal := sample.Calendar()
	d := dossierIn(dossier.Received)
	for _, bad := range []string{"", "123", "09619"} {
		cmd := fullCommand(dossier.Transfer, dossier.Clerk, t0)
		cmd.TransferCommune = bad
		if _, err := dossier.Decide(d, cmd, cal); err == nil {
			t.Errorf("transfer to %q decided", bad)
		}
	}
	assign := fullCommand(dossier.Assign, dossier.Clerk, t0)
	assign.TransferCommune = "00082"
	if _, err := dossier.Decide(d, assign, cal); err == nil {
		t.Error("an ASSIGN naming a commune decided")
	}
	ev, err := dossier.Decide(d, fullCommand(dossier.Transfer, dossier.Clerk, t0), cal)
	if err != nil {
		t.Fatal(err)
	}
	dossier.Apply(d, ev)
	if d.GetState() != dossier.Transferred || d.GetCommuneCode() != "09619" || dossier.IsOpen(d.GetState()) || !dossier.IsFinal(d) {
		t.Fatalf("after TRANSFER: %v", d)
	}
	if _, err := dossier.AcceptTransferEvent(d, "00004", t0); err == nil {
		t.Fatal("a commune took a dossier transferred to another")
	}
	acc, err := dossier.AcceptTransferEvent(d, "00082", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	due := d.GetDueTime()
	dossier.Apply(d, acc)
	if d.GetState() != dossier.Received || d.GetCommuneCode() != "00082" || d.GetTransferCommuneCode() != "" || !proto.Equal(d.GetDueTime(), due) || d.GetEventCount() != 5 {
		t.Fatalf("after ACCEPT_TRANSFER: %v", d)
	}
	if _, err := dossier.AcceptTransferEvent(d, "00082", t0); err == nil {
		t.Fatal("a dossier accepted twice")
	}
}
