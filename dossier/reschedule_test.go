package dossier_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// official2027 is the sample calendar with 2027 published: the computed
// New Year's Day, and (hypothetically) Monday 4 January 2027 given off as
// well, the kind of swap a government notice makes.
func official2027(t testing.TB) *dossier.Calendar {
	t.Helper()
	spec := sample.Calendar().Spec()
	spec.OfficialYears = append(append([]int(nil), spec.OfficialYears...), 2027)
	for _, h := range dossier.ComputedHolidays(2027) {
		spec.Days = append(spec.Days, dossier.CalendarDay{Date: h.Date.String(), Kind: dossier.Holiday, Name: h.Name})
	}
	spec.Days = append(spec.Days, dossier.CalendarDay{Date: "2027-01-04", Kind: dossier.Holiday, Name: "Nghỉ hoán đổi (thử)"})
	cal, err := dossier.NewCalendar(spec)
	if err != nil {
		t.Fatal(err)
	}
	return cal
}

// Processing times in working days or hours and the rule for a receipt
// after the cut-off (calendar cut-off 16:00, sessions 07:30–11:30,
// 13:00–17:00).
func TestDueFor(t *testing.T) {
	spec := sample.Calendar().Spec()
	spec.Cutoff = "16:00"
	cal, err := dossier.NewCalendar(spec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		received string
		pt       dossier.ProcessingTime
		want     string
	}{
		{"same day before the cut-off", "2026-11-16 09:00", dossier.ProcessingTime{}, "2026-11-16 17:00"},
		{"same day after the cut-off counts from the next day", "2026-11-16 16:30", dossier.ProcessingTime{}, "2026-11-17 17:00"},
		{"same-day rule keeps the day after the cut-off", "2026-11-16 16:30", dossier.ProcessingTime{Late: dossier.SameDay}, "2026-11-16 17:00"},
		{"same-day rule on a Saturday: the next working day", "2026-11-21 09:00", dossier.ProcessingTime{Late: dossier.SameDay}, "2026-11-23 17:00"},
		{"2 working days", "2026-11-16 09:00", dossier.ProcessingTime{Days: 2}, "2026-11-18 17:00"},
		{"2 working days after the cut-off", "2026-11-16 16:30", dossier.ProcessingTime{Days: 2}, "2026-11-19 17:00"},
		// Art. 17(2)(c): an online dossier is answered within 8 working hours.
		{"art. 17(2)(c) 8 working hours in the morning", "2026-11-16 09:00", dossier.ProcessingTime{Hours: 8}, "2026-11-17 09:00"},
		{"8 working hours over lunch", "2026-11-16 11:00", dossier.ProcessingTime{Hours: 8}, "2026-11-17 11:00"},
		{"8 working hours after the cut-off: from the next session", "2026-11-16 16:30", dossier.ProcessingTime{Hours: 8}, "2026-11-17 17:00"},
		{"8 working hours after the cut-off, same-day rule", "2026-11-16 16:30", dossier.ProcessingTime{Hours: 8, Late: dossier.SameDay}, "2026-11-17 16:30"},
		// 24 Nov is Vietnam Culture Day (off).
		{"hours skip a day off", "2026-11-23 15:00", dossier.ProcessingTime{Hours: 4}, "2026-11-25 09:30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cal.DueFor(at(tc.received), tc.pt).In(dossier.Zone).Format("2006-01-02 15:04")
			if got != tc.want {
				t.Errorf("DueFor(%s, %+v) = %s, want %s", tc.received, tc.pt, got, tc.want)
			}
		})
	}
	// Days without a same-day rule are Due's.
	if !cal.DueFor(at("2026-11-16 16:30"), dossier.ProcessingTime{Days: 3}).Equal(cal.Due(at("2026-11-16 16:30"), 3)) {
		t.Error("DueFor in days disagrees with Due")
	}
}

func TestProcessingTimeText(t *testing.T) {
	for pt, want := range map[dossier.ProcessingTime]string{
		{}:                           "trong ngày",
		{Late: dossier.SameDay}:      "trong ngày",
		{Days: 5}:                    "05 ngày làm việc",
		{Hours: 8}:                   "08 giờ làm việc",
		{Hours: 8, Late: 1}:          "08 giờ làm việc",
		{Days: 1, Late: 0, Hours: 0}: "01 ngày làm việc",
	} {
		if got := pt.Text(); got != want {
			t.Errorf("%+v: %q, want %q", pt, got, want)
		}
	}
}

// The procedure's processing-time fields are checked; the due time of a
// receipt follows them and they ride with the receipt to the dossier.
func TestProcedureProcessingTime(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*dossier.Procedure)
		field string
	}{
		{"hours and days both", func(p *dossier.Procedure) { p.ProcessingHours = 8 }, "processing_hours"},
		{"negative hours", func(p *dossier.Procedure) { p.ProcessingDays, p.ProcessingHours = 0, -1 }, "processing_hours"},
		{"too many hours", func(p *dossier.Procedure) { p.ProcessingDays, p.ProcessingHours = 0, dossier.MaxProcessingHours+1 }, "processing_hours"},
		{"unknown late-receipt rule", func(p *dossier.Procedure) { p.LateReceipt = 7 }, "late_receipt"},
		{"hours alone", func(p *dossier.Procedure) { p.ProcessingDays, p.ProcessingHours = 0, 8 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := birth()
			tc.edit(p)
			err := dossier.ValidateProcedure(p)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var v dossier.Violations
			if !errors.As(err, &v) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("ValidateProcedure = %v, want a violation of %s", err, tc.field)
			}
		})
	}

	cal := sample.Calendar()
	p := birth()
	p.ProcessingDays, p.ProcessingHours, p.LateReceipt = 0, 8, dossier.SameDay
	ev := receive(t, cal, p, at("2026-11-16 09:00"))
	if got := ev.GetDueTime().AsTime(); !got.Equal(at("2026-11-17 09:00")) {
		t.Errorf("due %v, want 8 working hours later", got)
	}
	d := dossier.Fold([]*dossier.Event{ev})
	if d.GetProcessingHours() != 8 || d.GetLateReceipt() != dossier.SameDay {
		t.Errorf("the dossier has %d hours, rule %v", d.GetProcessingHours(), d.GetLateReceipt())
	}
	if err := dossier.CheckOwn(nil, ev, "09619", at("2026-11-16 09:00")); err != nil {
		t.Errorf("central refuses an honest receipt in hours: %v", err)
	}
	forged := cloneEvent(ev)
	forged.Receipt.ProcessingDays = 5
	if err := dossier.CheckEvent(nil, forged, "09619"); err == nil || !strings.Contains(err.Error(), "processing_hours") {
		t.Errorf("a receipt in hours and days: %v", err)
	}
}

func cloneEvent(ev *dossier.Event) *dossier.Event { return proto.Clone(ev).(*dossier.Event) }

// A dossier received Monday 28 Dec 2026 for 5 working days is due on the
// computed 2027 calendar Tuesday 5 Jan 2027 (1 Jan off, art. 112(1)(a) of
// the Labour Code), provisional. When central publishes 2027 with 4 Jan
// off too, the node's RESCHEDULE moves it to Wednesday 6 Jan; central
// accepts it only with the due time its calendar makes.
func TestReschedule(t *testing.T) {
	old, cal := sample.Calendar(), official2027(t)
	const index = 42
	rec := receive(t, old, birth(), at("2026-12-28 09:00"))
	d := dossier.Fold([]*dossier.Event{rec})
	if got := d.GetDueTime().AsTime(); !got.Equal(at("2027-01-05 17:00")) || !dossier.DueProvisional(d, old) {
		t.Fatalf("due %v (provisional %v), want 5 Jan 2027 17:00, provisional", got, dossier.DueProvisional(d, old))
	}
	if dossier.DueProvisional(d, cal) {
		t.Error("still provisional once 2027 is official")
	}
	now := at("2026-12-29 08:00")
	ev, err := dossier.RescheduleEvent(d, []*dossier.Event{rec}, cal, index, now)
	if err != nil || ev == nil {
		t.Fatalf("RescheduleEvent = %v, %v", ev, err)
	}
	if !ev.GetDueTime().AsTime().Equal(at("2027-01-06 17:00")) || !ev.GetPreviousDueTime().AsTime().Equal(at("2027-01-05 17:00")) ||
		ev.GetCalendarIndex() != index || ev.GetActor() != dossier.SystemActor || ev.GetReason() == "" {
		t.Fatalf("event %v", ev)
	}
	if err := dossier.CheckOwn(d, ev, "09619", now); err != nil {
		t.Fatalf("the node's own check refuses it: %v", err)
	}
	if err := dossier.CheckReschedule([]*dossier.Event{rec}, ev, cal); err != nil {
		t.Fatalf("central's calendar refuses it: %v", err)
	}
	moved := dossier.Clone(d)
	dossier.Apply(moved, ev)
	if !moved.GetDueTime().AsTime().Equal(at("2027-01-06 17:00")) || moved.GetCalendarIndex() != index {
		t.Errorf("applied: due %v, calendar %d", moved.GetDueTime().AsTime(), moved.GetCalendarIndex())
	}
	// Nothing moves on the same calendar again.
	if again, err := dossier.RescheduleEvent(moved, []*dossier.Event{rec, ev}, cal, index, now); err != nil || again != nil {
		t.Errorf("a second RescheduleEvent on the same calendar = %v, %v", again, err)
	}
	// On the calendar the node had, the due time stays: central refuses the move.
	if err := dossier.CheckReschedule([]*dossier.Event{rec}, ev, old); err == nil {
		t.Error("a due time the calendar does not make is accepted")
	}
	if err := dossier.CheckReschedule([]*dossier.Event{rec}, ev, nil); err == nil {
		t.Error("a calendar central never published is accepted")
	}

	// A node that moves due dates at will, or dresses the event up.
	tests := []struct {
		name  string
		d     func() *dossier.Dossier
		edit  func(*dossier.Event)
		field string
	}{
		{"a week later", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.DueTime = timestamppb.New(at("2027-01-12 17:00")) }, "due_time"},
		{"by a clerk", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.Actor = "clerk" }, "actor"},
		{"by a person named system", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.Role = dossier.Leader }, "role"},
		{"the state moves", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.State = dossier.InProcessing }, "state"},
		{"no calendar", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.CalendarIndex = 0 }, "calendar_index"},
		{"an older calendar", func() *dossier.Dossier { c := dossier.Clone(d); c.CalendarIndex = index + 1; return c }, func(*dossier.Event) {}, "calendar_index"},
		{"wrong previous due", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.PreviousDueTime = timestamppb.New(now) }, "previous_due_time"},
		{"the same due", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.DueTime = d.GetDueTime() }, "due_time"},
		{"with an appointment", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.AppointmentTime = timestamppb.New(at("2027-02-01 17:00")) }, "event"},
		{"no reason", func() *dossier.Dossier { return d }, func(e *dossier.Event) { e.Reason = "" }, "reason"},
		{"a finished dossier", func() *dossier.Dossier { c := dossier.Clone(d); c.State = dossier.Returned; return c }, func(e *dossier.Event) { e.State = dossier.Returned }, "RESCHEDULE"},
		{"a calendar on another action", func() *dossier.Dossier { return d }, func(e *dossier.Event) {
			e.Action, e.Actor, e.Role, e.State, e.DueTime, e.Assignee = dossier.Assign, "clerk", dossier.Clerk, dossier.InProcessing, d.GetDueTime(), "officer"
		}, "calendar_index"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := cloneEvent(ev)
			tc.edit(bad)
			err := dossier.CheckOwn(tc.d(), bad, "09619", now)
			if err == nil {
				err = dossier.CheckReschedule([]*dossier.Event{rec}, bad, cal)
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
	// No person may reschedule through the workflow.
	if _, err := dossier.Decide(d, dossier.Command{Action: dossier.Reschedule, Actor: "leader", Role: dossier.Leader, Time: now, Reason: "x"}, cal); err == nil {
		t.Error("Decide takes a RESCHEDULE")
	}
}

// The recomputation follows the dossier's clock: a supplement restarts it
// (Decree 118/2025 art. 19(5)) from its own day, on the new calendar.
func TestRecomputeDueAfterSupplement(t *testing.T) {
	old, cal := sample.Calendar(), official2027(t)
	rec := receive(t, old, birth(), at("2026-12-21 09:00"))
	d := dossier.Fold([]*dossier.Event{rec})
	evs := []*dossier.Event{rec}
	for _, c := range []dossier.Command{
		{Action: dossier.Assign, Actor: "clerk", Role: dossier.Clerk, Time: at("2026-12-21 10:00"), Assignee: "officer"},
		{Action: dossier.RequestSupplement, Actor: "officer", Role: dossier.Officer, Time: at("2026-12-22 10:00"), Reason: "thiếu giấy"},
		{Action: dossier.ReceiveSupplement, Actor: "clerk", Role: dossier.Clerk, Time: at("2026-12-29 10:00"), Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}}},
	} {
		ev, err := dossier.Decide(d, c, old)
		if err != nil {
			t.Fatal(err)
		}
		dossier.Apply(d, ev)
		evs = append(evs, ev)
	}
	// 5 working days from Wed 30 Dec: 30, 31, (1 Jan off) 4, 5, 6 on the
	// computed calendar; with 4 Jan off too, Thursday 7 Jan.
	if got := d.GetDueTime().AsTime(); !got.Equal(at("2027-01-06 17:00")) {
		t.Fatalf("due after the supplement %v", got)
	}
	due, ok := dossier.RecomputeDue(evs, cal)
	if !ok || !due.Equal(at("2027-01-07 17:00")) {
		t.Errorf("RecomputeDue = %v, %v; want 7 Jan 2027 17:00", due, ok)
	}
	if same, _ := dossier.RecomputeDue(evs, old); !same.Equal(d.GetDueTime().AsTime()) {
		t.Errorf("on the calendar the events were made with, RecomputeDue = %v, not their %v", same, d.GetDueTime().AsTime())
	}
}

// Decree 118/2025 art. 40(1): from 1 July 2025 Decree 61/2018 no longer
// applies. A receipt from then on that claims it is refused, by the node's
// own check and by central's; one from before keeps its rules.
func TestOlderRulesRefusedAfterTheCutOver(t *testing.T) {
	cal := sample.Calendar()
	tests := []struct {
		name  string
		when  string
		rules xasov1.WorkflowRules
		ok    bool
	}{
		{"Decree 61 the day before", "2025-06-30 16:00", dossier.Decree61, true},
		{"Decree 61 on the day", "2025-07-01 07:30", dossier.Decree61, false},
		{"Decree 61 a year later", "2026-07-01 09:00", dossier.Decree61, false},
		{"Decree 118 after", "2025-07-01 07:30", dossier.Decree118, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := receive(t, cal, birth(), at(tc.when))
			ev.Receipt.Code = "09619-" + at(tc.when).Format("060102") + "-0001"
			ev.Receipt.Rules = tc.rules
			errOwn := dossier.CheckOwn(nil, ev, "09619", at(tc.when))
			errCentral := dossier.CheckEvent(nil, ev, "09619")
			if tc.ok {
				if errOwn != nil || errCentral != nil {
					t.Fatalf("refused: %v / %v", errOwn, errCentral)
				}
				return
			}
			for _, err := range []error{errOwn, errCentral} {
				if err == nil || !strings.Contains(err.Error(), "event.receipt.rules") {
					t.Errorf("error %v, want one naming event.receipt.rules", err)
				}
			}
		})
	}
}
