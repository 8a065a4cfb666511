package dossier_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// honest returns a desk's records of commune and the dossier each event
// was decided on (nil for a receipt), as central folds them.
func honest(t testing.TB, commune string, seed uint64, n int) ([]*xasov1.OutboxRecord, []*xasov1.Dossier) {
	t.Helper()
	h := workload.NewHistory(commune, sample.Procedures(), sample.Calendar(), seed, time.Date(2026, 3, 2, 8, 0, 0, 0, dossier.Zone))
	held := map[string]*xasov1.Dossier{}
	var recs []*xasov1.OutboxRecord
	var before []*xasov1.Dossier
	for range n {
		rec, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		d := held[rec.GetDossierCode()]
		recs = append(recs, rec)
		if d == nil {
			before = append(before, nil)
			d = &xasov1.Dossier{}
			held[rec.GetDossierCode()] = d
		} else {
			before = append(before, dossier.Clone(d))
		}
		dossier.Apply(d, rec.GetEvent())
	}
	return recs, before
}

// Property: every record an honest desk makes (Decide, ReceiveEvent and the
// transfer's acceptance, through the simulated desk) passes central's
// checks, so central never blocks an honest commune.
func TestHonestRecordsPassCentralsChecks(t *testing.T) {
	for seed := range uint64(4) {
		recs, before := honest(t, "00004", seed, 3000)
		now := recs[len(recs)-1].GetEvent().GetTime().AsTime()
		ratings := 0
		for i, rec := range recs {
			if rec.GetEvent().GetAction() == dossier.Rate {
				ratings++
			}
			if err := dossier.ValidateRecord(rec, "00004", now); err != nil {
				t.Fatalf("seed %d record %d (%s): %v", seed, rec.GetSequence(), rec.GetEvent().GetAction(), err)
			}
			if err := dossier.CheckEvent(before[i], rec.GetEvent(), "00004"); err != nil {
				t.Fatalf("seed %d record %d (%s on %v): %v", seed, rec.GetSequence(), rec.GetEvent().GetAction(), before[i].GetState(), err)
			}
		}
		if ratings == 0 {
			t.Fatalf("seed %d: no citizen rated: the ratings went unchecked", seed)
		}
	}
}

// Each way a record can be wrong is refused, and with the kind of error
// central maps to a status code.
func TestCentralRefusesWhatTheWorkflowDoesNot(t *testing.T) {
	recs, before := honest(t, "00004", 1, 400)
	now := recs[len(recs)-1].GetEvent().GetTime().AsTime()
	find := func(a xasov1.Action) int {
		for i, r := range recs {
			if r.GetEvent().GetAction() == a {
				return i
			}
		}
		t.Fatalf("no %v in the history", a)
		return -1
	}
	assign, submit, approve := find(dossier.Assign), find(dossier.Submit), find(dossier.Approve)
	receipt := -1 // the receipt of the assigned dossier (the history's first may be a guidance)
	for i, r := range recs {
		if r.GetEvent().GetAction() == dossier.Receive && r.GetDossierCode() == recs[assign].GetDossierCode() {
			receipt = i
		}
	}
	long := strings.Repeat("x", 70_000)
	var (
		violations = func(err error) bool { var v dossier.Violations; return errors.As(err, &v) }
		transition = func(err error) bool { var e *dossier.TransitionError; return errors.As(err, &e) }
		role       = func(err error) bool { var e *dossier.RoleError; return errors.As(err, &e) }
		owner      = func(err error) bool { var e *dossier.OwnerError; return errors.As(err, &e) }
	)
	cases := []struct {
		name   string
		at     int
		mutate func(r *xasov1.OutboxRecord)
		record bool // refused by ValidateRecord; otherwise by CheckEvent
		kind   func(error) bool
	}{
		{"a 70,000-byte dossier code", receipt, func(r *xasov1.OutboxRecord) { r.DossierCode = long }, true, violations},
		{"a 70,000-byte procedure code", receipt, func(r *xasov1.OutboxRecord) { r.Event.Receipt.ProcedureCode = long }, true, violations},
		{"a record of another commune", assign, func(r *xasov1.OutboxRecord) { r.CommuneCode = "00008" }, true, violations},
		{"an unknown action", assign, func(r *xasov1.OutboxRecord) { r.Event.Action = 999 }, true, violations},
		{"an unknown state", assign, func(r *xasov1.OutboxRecord) { r.Event.State = 77 }, true, violations},
		{"an unknown role", assign, func(r *xasov1.OutboxRecord) { r.Event.Role = 9 }, true, violations},
		{"a time in 2099", assign, func(r *xasov1.OutboxRecord) {
			r.Event.Time = timestamppb.New(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
		}, true, violations},
		{"a time before 2015", assign, func(r *xasov1.OutboxRecord) { r.Event.Time = timestamppb.New(time.Unix(0, 0)) }, true, violations},
		{"a control character in the actor", assign, func(r *xasov1.OutboxRecord) { r.Event.Actor = "a\x00b" }, true, violations},
		{"a transfer to an empty commune", assign, func(r *xasov1.OutboxRecord) {
			r.Event.Action, r.Event.State, r.Event.TransferCommuneCode, r.Event.Assignee = dossier.Transfer, dossier.Transferred, "", ""
		}, false, violations},
		{"a transfer to its own commune", assign, func(r *xasov1.OutboxRecord) {
			r.Event.Action, r.Event.State, r.Event.TransferCommuneCode, r.Event.Assignee = dossier.Transfer, dossier.Transferred, "00004", ""
		}, false, violations},
		{"a receipt under another commune's code", receipt, func(r *xasov1.OutboxRecord) {
			r.Event.Receipt.Code = "00082" + r.Event.Receipt.Code[5:]
			r.DossierCode = r.Event.Receipt.Code
		}, false, owner},
		{"a receipt in another commune's name", receipt, func(r *xasov1.OutboxRecord) { r.Event.Receipt.CommuneCode = "00082" }, false, owner},
		{"a receipt by an officer", receipt, func(r *xasov1.OutboxRecord) { r.Event.Role = dossier.Officer }, false, role},
		{"approval by a clerk", submit, func(r *xasov1.OutboxRecord) {
			r.Event.Action, r.Event.Role, r.Event.State = dossier.Approve, dossier.Clerk, dossier.ResultReady
		}, false, transition},
		{"a submit by a clerk", submit, func(r *xasov1.OutboxRecord) { r.Event.Role = dossier.Clerk }, false, role},
		{"a state the action does not make", submit, func(r *xasov1.OutboxRecord) { r.Event.State = dossier.Returned }, false, violations},
		{"a second receipt", assign, func(r *xasov1.OutboxRecord) { r.Event.Receipt = recs[receipt].GetEvent().GetReceipt() }, false, transition},
		{"an event that skips one", assign, func(r *xasov1.OutboxRecord) { r.Event.Sequence += 1 }, false, violations},
		{"an assignment without assignee", assign, func(r *xasov1.OutboxRecord) { r.Event.Assignee = "" }, false, violations},
		{"a submit that moves the due time", submit, func(r *xasov1.OutboxRecord) {
			r.Event.DueTime = timestamppb.New(r.GetEvent().GetDueTime().AsTime().Add(240 * time.Hour))
		}, false, violations},
		{"a rating before the return", submit, func(r *xasov1.OutboxRecord) { r.Event.Satisfaction = xasov1.Satisfaction_SATISFACTION_SATISFIED }, false, violations},
		// The data of the Decision 766 indicators: the procedure's online
		// level and fee at receipt only, the processing time on a result
		// or refusal only, and never more than the days since receipt.
		{"an online level on an assignment", assign, func(r *xasov1.OutboxRecord) { r.Event.OnlineLevel = xasov1.OnlineLevel_ONLINE_LEVEL_FULL }, false, violations},
		{"a fee on a submit", submit, func(r *xasov1.OutboxRecord) { r.Event.FeeVnd = 15000 }, false, violations},
		{"an unknown online level at receipt", receipt, func(r *xasov1.OutboxRecord) { r.Event.OnlineLevel = 9 }, false, violations},
		{"a negative fee at receipt", receipt, func(r *xasov1.OutboxRecord) { r.Event.FeeVnd = -1 }, false, violations},
		{"working days at receipt", receipt, func(r *xasov1.OutboxRecord) { r.Event.WorkingDays = 1 }, false, violations},
		{"working days on a submit", submit, func(r *xasov1.OutboxRecord) { r.Event.WorkingDays = 2 }, false, violations},
		{"negative working days on an approval", approve, func(r *xasov1.OutboxRecord) { r.Event.WorkingDays = -1 }, false, violations},
		{"more working days than days since receipt", approve, func(r *xasov1.OutboxRecord) { r.Event.WorkingDays = 5000 }, false, violations},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := proto.Clone(recs[c.at]).(*xasov1.OutboxRecord)
			// The unchanged record passes: the case tests its mutation.
			if err := dossier.ValidateRecord(rec, "00004", now); err != nil {
				t.Fatal(err)
			}
			if err := dossier.CheckEvent(before[c.at], rec.GetEvent(), "00004"); err != nil {
				t.Fatal(err)
			}
			c.mutate(rec)
			err := dossier.ValidateRecord(rec, "00004", now)
			if !c.record {
				if err != nil {
					t.Fatalf("ValidateRecord refused what CheckEvent should: %v", err)
				}
				err = dossier.CheckEvent(before[c.at], rec.GetEvent(), "00004")
			}
			if err == nil || !c.kind(err) {
				t.Fatalf("got %T %v", err, err)
			}
			if len(err.Error()) > 4000 {
				t.Fatalf("the refusal echoes the input: %d bytes", len(err.Error()))
			}
		})
	}
}

// The node's own check is central's: an event the node would write passes,
// an oversized one does not.
func TestCheckOwnIsCentralsCheck(t *testing.T) {
	recs, before := honest(t, "00004", 2, 200)
	for i, rec := range recs {
		if err := dossier.CheckOwn(before[i], rec.GetEvent(), "00004", rec.GetEvent().GetTime().AsTime()); err != nil {
			t.Fatalf("record %d: %v", rec.GetSequence(), err)
		}
	}
	ev := proto.Clone(recs[0].GetEvent()).(*xasov1.Event)
	ev.Reason = strings.Repeat("lý do ", 20_000)
	if err := dossier.CheckOwn(nil, ev, "00004", ev.GetTime().AsTime()); err == nil {
		t.Fatal("an oversized event passed")
	}
}

func TestShortCutsAtACharacter(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{{"abc", 5, "abc"}, {"abcdef", 3, "abc…"}, {"Việt Nam", 2, "Vi…"}, {"Việt Nam", 3, "Vi…"}} {
		if got := dossier.Short(c.in, c.max); got != c.want {
			t.Errorf("Short(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

// textOK agrees with the plain rune-by-rune reading of its rule, on every
// kind of character (ASCII controls, line breaks, C1 controls, Vietnamese).
func TestTextOKIsItsRule(t *testing.T) {
	rule := func(s string, oneLine bool) bool {
		for _, r := range s {
			if unicode.IsControl(r) && r != '\t' && (oneLine || r != '\n' && r != '\r') {
				return false
			}
		}
		return true
	}
	alphabet := []rune{'a', 'Z', ' ', '\t', '\n', '\r', 0, 0x1f, 0x7f, 0x85, 0x9f, 'ệ', 'Đ', '€', 0x2028}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		rs := make([]rune, rng.IntN(6))
		for i := range rs {
			rs[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(rs)
		for _, oneLine := range []bool{false, true} {
			if got, want := dossier.TextOK(s, oneLine), rule(s, oneLine); got != want {
				t.Fatalf("textOK(%q, %v) = %v, want %v", s, oneLine, got, want)
			}
		}
	}
}

// BenchmarkRecordChecks is what central's checks of one record cost
// (ValidateRecord and CheckEvent, as apply runs them), over a desk's
// history.
func BenchmarkRecordChecks(b *testing.B) {
	recs, before := honest(b, "00004", 3, 5000)
	now := recs[len(recs)-1].GetEvent().GetTime().AsTime()
	sizes := make([]int, len(recs))
	for i, r := range recs {
		sizes[i] = proto.Size(r)
	}
	b.ResetTimer()
	for i := range b.N {
		k := i % len(recs)
		if err := dossier.ValidateSizedRecord(recs[k], sizes[k], "00004", now); err != nil {
			b.Fatal(err)
		}
		if err := dossier.CheckEvent(before[k], recs[k].GetEvent(), "00004"); err != nil {
			b.Fatal(err)
		}
	}
}

// An honest desk's receipts carry the procedure's online level and fee
// and its results their processing time, which the dossier keeps with the
// commune that received it (the Decision 766 indicators count them). An
// early result took fewer working days than the procedure allows, unless
// a supplement restarted the clock (art. 19(5)): the days are counted from
// the receipt.
func TestHonestRecordsCarryTheIndicatorData(t *testing.T) {
	recs, _ := honest(t, "00004", 2, 600)
	procs := map[string]*xasov1.Procedure{}
	for _, p := range sample.Procedures() {
		procs[p.GetCode()] = p
	}
	held := map[string]*xasov1.Dossier{}
	var timed int
	for _, rec := range recs {
		ev := rec.GetEvent()
		d := held[rec.GetDossierCode()]
		if d == nil {
			d = &xasov1.Dossier{}
			held[rec.GetDossierCode()] = d
		}
		dossier.Apply(d, ev)
		if rc := ev.GetReceipt(); rc != nil {
			p := procs[rc.GetProcedureCode()]
			if ev.GetOnlineLevel() != p.GetOnlineLevel() || ev.GetFeeVnd() != p.GetFeeVnd() || d.GetReceivedCommuneCode() != "00004" {
				t.Fatalf("receipt of %s: level %v fee %d, commune %q", rc.GetProcedureCode(), ev.GetOnlineLevel(), ev.GetFeeVnd(), d.GetReceivedCommuneCode())
			}
		}
		if a := ev.GetAction(); a == dossier.Approve || a == dossier.Refuse {
			if d.GetWorkingDays() != ev.GetWorkingDays() || (ev.GetTimeliness() == dossier.Early && d.GetSupplementRequests() == 0 && ev.GetWorkingDays() >= max(d.GetProcessingDays(), 1)) {
				t.Fatalf("%s: %d working days, %v, %d allowed", rec.GetDossierCode(), ev.GetWorkingDays(), ev.GetTimeliness(), d.GetProcessingDays())
			}
			timed++
		}
	}
	if timed == 0 {
		t.Fatal("the history finishes no dossier")
	}
}

// ProcessingWorkingDays counts as due dates do: from the day the clock
// started (the next working day after the afternoon cut-off) to the day of
// the result, working days only.
func TestProcessingWorkingDays(t *testing.T) {
	cal := sample.Calendar()
	at := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, dossier.Zone) }
	for _, c := range []struct {
		name               string
		received, finished time.Time
		want               int32
	}{
		{"the same day", at(3, 2, 9), at(3, 2, 15), 0},
		{"Monday to Wednesday", at(3, 2, 9), at(3, 4, 10), 2},
		{"Friday to Monday: the weekend is not counted", at(3, 6, 9), at(3, 9, 10), 1},
		{"Friday to the next Friday", at(3, 6, 9), at(3, 13, 10), 5},
	} {
		d := &xasov1.Dossier{ReceivedTime: timestamppb.New(c.received)}
		if got := dossier.ProcessingWorkingDays(d, c.finished, cal); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if got := dossier.ProcessingWorkingDays(&xasov1.Dossier{}, at(3, 2, 9), cal); got != 0 {
		t.Errorf("without a receipt: %d", got)
	}
}
