package dossier

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"
)

// DueProvisional reports whether the due time of d rests on days the
// calendar computed rather than took from the government's notices: the
// period from its receipt to its due time (or appointment) touches a year
// that is not official. It is derived, not stored, so it turns false by
// itself once the year is published.
//
// When central publishes an official year (UpdateCalendar; the node takes
// the new calendar from the feed), a due date computed before may be wrong:
// the node recomputes each open dossier whose due time was provisional
// under the old calendar (RescheduleEvent) and writes a changed due time as
// a RESCHEDULE event, so the log says why it moved; central re-decides it
// on the calendar it published (CheckReschedule).
func DueProvisional(d *Dossier, cal *Calendar) bool {
	if d.GetReceivedTime() == nil || d.GetDueTime() == nil {
		return false
	}
	end := d.GetDueTime().AsTime()
	if a := d.GetAppointmentTime(); a != nil && a.AsTime().After(end) {
		end = a.AsTime()
	}
	return cal.Provisional(DateOf(d.GetReceivedTime().AsTime(), cal.Location()), DateOf(end, cal.Location()))
}

// ProvisionalYear is the first year that is not official on cal in the
// period from d's receipt to its due time or appointment (DueProvisional),
// or 0 when its due time is not provisional: what the pages name when
// they say that a due date is "dự kiến".
func ProvisionalYear(d *Dossier, cal *Calendar) int {
	if !DueProvisional(d, cal) {
		return 0
	}
	from := DateOf(d.GetReceivedTime().AsTime(), cal.Location()).Year
	to := DateOf(d.GetDueTime().AsTime(), cal.Location()).Year
	if a := d.GetAppointmentTime(); a != nil {
		to = max(to, DateOf(a.AsTime(), cal.Location()).Year)
	}
	for y := from; y <= to; y++ {
		if !cal.IsOfficialYear(y) {
			return y
		}
	}
	return 0
}

// SystemActor is the actor of the events no person makes (RESCHEDULE).
const SystemActor = "system"

// RecomputeDue returns the due time a dossier's events make on cal: the
// receipt's processing time from the receipt (DueFor), then each
// supplement's restart of the clock as Decide computes it; the other
// events keep it, and earlier RESCHEDULE events are what is being redone.
// ok is false when the events leave no due time (not received, or received
// before due times were kept).
func RecomputeDue(events []*Event, cal *Calendar) (due time.Time, ok bool) {
	d := &Dossier{}
	var cur *timestamppb.Timestamp
	for _, ev := range events {
		switch ev.GetAction() {
		case Receive:
			Apply(d, ev)
			if ev.GetDueTime() != nil {
				cur = timestamppb.New(cal.DueFor(ev.GetTime().AsTime(), DossierProcessingTime(d)))
			}
		case ReceiveSupplement:
			d.DueTime = cur
			next := timestamppb.New(supplementDue(d, ev.GetTime().AsTime(), cal))
			Apply(d, ev)
			cur = next
		default:
			Apply(d, ev)
		}
		d.DueTime = cur
	}
	if cur == nil {
		return time.Time{}, false
	}
	return cur.AsTime(), true
}

// RescheduleEvent returns the RESCHEDULE event that moves the due time of
// d (with its events, oldest first) to what cal, the calendar central
// published at Raft index index, computes, at t; nil when the due time
// does not move or the legal clock no longer concerns the dossier (it is
// finished, withdrawn, closed, transferred, or has no due time).
func RescheduleEvent(d *Dossier, events []*Event, cal *Calendar, index uint64, t time.Time) (*Event, error) {
	if !IsOpen(d.GetState()) || d.GetDueTime() == nil {
		return nil, nil
	}
	if int64(len(events)) != d.GetEventCount() {
		return nil, fmt.Errorf("dossier %s: %d events for an event count of %d", d.GetCode(), len(events), d.GetEventCount())
	}
	due, ok := RecomputeDue(events, cal)
	if !ok || due.Equal(d.GetDueTime().AsTime()) {
		return nil, nil
	}
	loc := cal.Location()
	return &Event{
		Sequence: d.GetEventCount() + 1,
		Action:   Reschedule,
		Actor:    SystemActor,
		Time:     timestamppb.New(t),
		Reason: fmt.Sprintf("Hạn giải quyết tính lại theo lịch làm việc do tỉnh công bố (lịch số %d): từ %s sang %s",
			index, d.GetDueTime().AsTime().In(loc).Format("15:04 02/01/2006"), due.In(loc).Format("15:04 02/01/2006")),
		State:           d.GetState(),
		Assignee:        d.GetAssignee(),
		DueTime:         timestamppb.New(due),
		PreviousDueTime: d.GetDueTime(),
		CalendarIndex:   index,
	}, nil
}

// CheckReschedule re-decides a RESCHEDULE event (checked in form by
// CheckEvent) on the calendar cal that central published at the event's
// calendar_index, with the dossier's events so far: the new due time must
// be the one that calendar computes, so that a node cannot move a due date
// at will.
func CheckReschedule(events []*Event, ev *Event, cal *Calendar) error {
	var v Violations
	if cal == nil {
		v.Add("event.calendar_index", fmt.Sprintf("central published no calendar at index %d", ev.GetCalendarIndex()))
		return v
	}
	due, ok := RecomputeDue(events, cal)
	switch {
	case !ok:
		v.Add("event.due_time", "the dossier's events set no due time to recompute")
	case ev.GetDueTime() == nil || !due.Equal(ev.GetDueTime().AsTime()):
		v.Add("event.due_time", fmt.Sprintf("the calendar of index %d makes the due time %s, not %s", ev.GetCalendarIndex(),
			due.In(cal.Location()).Format(time.DateTime), ev.GetDueTime().AsTime().In(cal.Location()).Format(time.DateTime)))
	}
	return v.Err()
}

// checkRescheduleForm checks what a RESCHEDULE event can carry against the
// dossier it moves, all but the due time's value (CheckReschedule).
func checkRescheduleForm(d *Dossier, ev *Event) error {
	var v Violations
	if !IsOpen(d.GetState()) {
		return &TransitionError{Action: Reschedule, State: d.GetState(), Why: "the legal clock no longer concerns the dossier"}
	}
	if ev.GetActor() != SystemActor || ev.GetRole() != 0 {
		v.Add("event.actor", "a RESCHEDULE is the system's: actor \""+SystemActor+"\", no role")
	}
	if ev.GetState() != d.GetState() || ev.GetAssignee() != d.GetAssignee() {
		v.Add("event.state", "a RESCHEDULE changes neither the state nor who holds the dossier")
	}
	switch {
	case d.GetDueTime() == nil:
		v.Add("event.due_time", "the dossier has no due time to move")
	case ev.GetDueTime() == nil || sameTime(ev.GetDueTime(), d.GetDueTime()):
		v.Add("event.due_time", "a RESCHEDULE sets another due time")
	}
	if !sameTime(ev.GetPreviousDueTime(), d.GetDueTime()) {
		v.Add("event.previous_due_time", "the dossier's due time before the event")
	}
	if ev.GetCalendarIndex() == 0 || ev.GetCalendarIndex() < d.GetCalendarIndex() {
		v.Add("event.calendar_index", fmt.Sprintf("the index of the calendar central published, not older than the one the due time was last computed on (%d)", d.GetCalendarIndex()))
	}
	if strings.TrimSpace(ev.GetReason()) == "" {
		v.Add("event.reason", "a RESCHEDULE says why the due time moved")
	}
	if ev.GetAppointmentTime() != nil || ev.GetSatisfaction() != 0 || ev.GetTimeliness() != 0 || ev.GetTransferCommuneCode() != "" ||
		len(ev.GetComponents()) > 0 || len(ev.GetAttachments()) > 0 || len(ev.GetMissingComponents()) > 0 ||
		ev.GetRating() != nil || ev.GetOnlineLevel() != 0 || ev.GetFeeVnd() != 0 || ev.GetWorkingDays() != 0 {
		v.Add("event", "a RESCHEDULE carries only the due times, the calendar and the reason")
	}
	return v.Err()
}
