package dossier_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

func succession(at time.Time) *dossier.Succession {
	return &dossier.Succession{PredecessorCodes: []string{"00004", "00007"}, SuccessorCode: "00008",
		EffectiveTime: timestamppb.New(at), Basis: "Nghị quyết số 1656/NQ-UBTVQH15"}
}

// TestValidateSuccession: a declaration names the communes that cease,
// the successor, when, and the act that decides it (the act the hand-over
// event names, Resolution 190/2025/QH15); every checker fires on broken
// input.
func TestValidateSuccession(t *testing.T) {
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, dossier.Zone)
	cases := []struct {
		name  string
		edit  func(s *dossier.Succession)
		field string
	}{
		{"valid", func(*dossier.Succession) {}, ""},
		{"effective now", func(s *dossier.Succession) { s.EffectiveTime = timestamppb.New(now) }, ""},
		{"no predecessor", func(s *dossier.Succession) { s.PredecessorCodes = nil }, "succession.predecessor_codes"},
		{"bad predecessor code", func(s *dossier.Succession) { s.PredecessorCodes[1] = "7" }, "succession.predecessor_codes[1]"},
		{"successor succeeds itself", func(s *dossier.Succession) { s.PredecessorCodes[0] = "00008" }, "succession.predecessor_codes[0]"},
		{"predecessor twice", func(s *dossier.Succession) { s.PredecessorCodes[1] = "00004" }, "succession.predecessor_codes[1]"},
		{"bad successor", func(s *dossier.Succession) { s.SuccessorCode = "x" }, "succession.successor_code"},
		{"no effective time", func(s *dossier.Succession) { s.EffectiveTime = nil }, "succession.effective_time"},
		{"after the fact", func(s *dossier.Succession) { s.EffectiveTime = timestamppb.New(now.Add(-time.Hour)) }, "succession.effective_time"},
		{"no basis", func(s *dossier.Succession) { s.Basis = "  " }, "succession.basis"},
		{"basis too long", func(s *dossier.Succession) { s.Basis = strings.Repeat("ế", dossier.MaxSuccessionBasisRunes+1) }, "succession.basis"},
		{"basis with a control character", func(s *dossier.Succession) { s.Basis = "Nghị quyết\x00" }, "succession.basis"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := succession(now.Add(24 * time.Hour))
			c.edit(s)
			err := dossier.ValidateSuccession(s, now)
			if c.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var v dossier.Violations
			if !errors.As(err, &v) || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("want a violation of %s, got %v", c.field, err)
			}
		})
	}
}

// TestSuccessionReceipt: from the effective time a predecessor's desk
// takes no new dossier and sends the citizen to the successor's centre
// (Resolution 190/2025/QH15: one body answers for each dossier); before
// it, and for any other commune, receipts go on.
func TestSuccessionReceipt(t *testing.T) {
	at := time.Date(2026, 7, 1, 0, 0, 0, 0, dossier.Zone)
	s := succession(at)
	cases := []struct {
		name    string
		s       *dossier.Succession
		commune string
		t       time.Time
		refused bool
	}{
		{"no succession", nil, "00004", at.Add(time.Hour), false},
		{"predecessor before the time", s, "00004", at.Add(-time.Second), false},
		{"predecessor at the time", s, "00004", at, true},
		{"other predecessor after", s, "00007", at.Add(48 * time.Hour), true},
		{"successor after", s, "00008", at.Add(time.Hour), false},
		{"unrelated commune", s, "00010", at.Add(time.Hour), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := dossier.CheckSuccessionReceipt(c.s, c.commune, "Phường Hạc Thành", c.t)
			if !c.refused {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *dossier.SuccessionError
			if !errors.As(err, &se) {
				t.Fatalf("want a SuccessionError, got %v", err)
			}
			if m := se.Message(); !strings.Contains(m, "Phường Hạc Thành") || !strings.Contains(m, "không tiếp nhận hồ sơ mới") || !strings.Contains(m, s.GetBasis()) {
				t.Errorf("message %q does not send the citizen to the successor with the basis", m)
			}
		})
	}
}

// TestSucceedEventKeepsTheDossier: the successor takes each unfinished
// dossier as it stands — state, due time, pause, holder, components —
// and repeats no step (Resolution 190/2025/QH15); finished or
// transferred dossiers are not handed over.
func TestSucceedEventKeepsTheDossier(t *testing.T) {
	due := timestamppb.New(time.Date(2026, 7, 10, 17, 0, 0, 0, dossier.Zone))
	paused := timestamppb.New(time.Date(2026, 6, 29, 9, 0, 0, 0, dossier.Zone))
	at := time.Date(2026, 7, 1, 0, 5, 0, 0, dossier.Zone)
	for _, st := range []dossier.State{dossier.Received, dossier.InProcessing, dossier.AwaitingSupplement, dossier.AwaitingApproval, dossier.ResultReady, dossier.Refused,
		dossier.Returned, dossier.Withdrawn, dossier.Transferred, dossier.Guided, dossier.RefusedAtReception, dossier.ClosedUnsupplemented} {
		t.Run(dossier.StateName(st), func(t *testing.T) {
			d := &dossier.Dossier{Code: "00004-260601-0001", CommuneCode: "00004", State: st, Assignee: "cb.tuphap", DueTime: due, EventCount: 4,
				Components: []*xasov1.SubmittedComponent{{Code: "TP1"}}}
			if st == dossier.AwaitingSupplement {
				d.PausedTime = paused
			}
			ev, err := dossier.SucceedEvent(d, "00008", "Nghị quyết số 1656/NQ-UBTVQH15", at)
			if !dossier.HandedOver(st) {
				var te *dossier.TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("a %s dossier handed over: %v", dossier.StateName(st), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			before := proto.Clone(d).(*dossier.Dossier)
			dossier.Apply(d, ev)
			if d.GetCommuneCode() != "00008" || d.GetCode() != before.GetCode() || d.GetEventCount() != 5 {
				t.Fatalf("owner %s, code %s, events %d", d.GetCommuneCode(), d.GetCode(), d.GetEventCount())
			}
			d.CommuneCode, d.EventCount, d.UpdateTime = before.GetCommuneCode(), before.GetEventCount(), before.GetUpdateTime()
			if !proto.Equal(d, before) {
				t.Errorf("the hand-over changed more than the owner:\n%v\n%v", d, before)
			}
			if ev.GetReason() == "" || ev.GetActor() != "system" {
				t.Errorf("the event names no basis or a person: %v", ev)
			}
		})
	}
	d := &dossier.Dossier{Code: "00008-260601-0001", CommuneCode: "00008", State: dossier.InProcessing}
	if _, err := dossier.SucceedEvent(d, "00008", "x", at); err == nil {
		t.Error("a dossier handed to the commune that owns it")
	}
}

// TestNodeCannotForgeASucceed: SUCCEED is central's; a node's record of
// one is refused like any event on a dossier it does not own or any
// action outside the workflow.
func TestNodeCannotForgeASucceed(t *testing.T) {
	d := &dossier.Dossier{Code: "00004-260601-0001", CommuneCode: "00004", State: dossier.InProcessing, EventCount: 2}
	ev, err := dossier.SucceedEvent(d, "00008", "Nghị quyết", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, commune := range []string{"00004", "00008"} {
		if err := dossier.CheckEvent(d, ev, commune); err == nil {
			t.Errorf("commune %s's node wrote a SUCCEED", commune)
		}
	}
}
