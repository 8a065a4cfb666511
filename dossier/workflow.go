package dossier

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// Short names for the protobuf types the domain works on.
type (
	// Dossier is a citizen's dossier.
	Dossier = xasov1.Dossier
	// Event is one change of a dossier.
	Event = xasov1.Event
	// Procedure is one procedure of the catalogue at one version.
	Procedure = xasov1.Procedure
	// State is a workflow state.
	State = xasov1.State
	// Action is a workflow action.
	Action = xasov1.Action
	// Role is a person's role at the centre.
	Role = xasov1.Role
	// Timeliness is early, on time or late.
	Timeliness = xasov1.Timeliness
)

// Timeliness values.
const (
	Early  = xasov1.Timeliness_TIMELINESS_EARLY
	OnTime = xasov1.Timeliness_TIMELINESS_ON_TIME
	Late   = xasov1.Timeliness_TIMELINESS_LATE
)

// States.
const (
	Received           = xasov1.State_STATE_RECEIVED
	InProcessing       = xasov1.State_STATE_IN_PROCESSING
	AwaitingSupplement = xasov1.State_STATE_AWAITING_SUPPLEMENT
	AwaitingApproval   = xasov1.State_STATE_AWAITING_APPROVAL
	ResultReady        = xasov1.State_STATE_RESULT_READY
	Returned           = xasov1.State_STATE_RETURNED
	Refused            = xasov1.State_STATE_REFUSED
	Withdrawn          = xasov1.State_STATE_WITHDRAWN
	Transferred        = xasov1.State_STATE_TRANSFERRED
	// Guided is an incomplete dossier the desk gave a written guidance
	// for instead of a receipt (Decree 118/2025 art. 16(3), 17(1)(c)).
	Guided = xasov1.State_STATE_GUIDED
	// RefusedAtReception is a dossier the desk refused to take (art.
	// 17(1)(c)).
	RefusedAtReception = xasov1.State_STATE_REFUSED_AT_RECEPTION
	// ClosedUnsupplemented is a dossier closed because the supplements
	// asked for did not come in time (art. 19(5)).
	ClosedUnsupplemented = xasov1.State_STATE_CLOSED_UNSUPPLEMENTED
)

// Decree118 is the body of rules of Decree 118/2025/NĐ-CP; dossiers
// received before xaso followed it carry WORKFLOW_RULES_UNSPECIFIED.
const Decree118 = xasov1.WorkflowRules_WORKFLOW_RULES_DECREE_118_2025

// Decree61 names the older rules (Decree 61/2018/NĐ-CP as amended)
// explicitly; only a dossier received before Decree118From may carry them.
const Decree61 = xasov1.WorkflowRules_WORKFLOW_RULES_DECREE_61_2018

// Decree118From is when Decree 118/2025/NĐ-CP took effect (art. 40(1):
// "có hiệu lực thi hành kể từ ngày 01 tháng 7 năm 2025"), in Vietnam's
// time: a dossier received from then on follows it.
var Decree118From = time.Date(2025, time.July, 1, 0, 0, 0, 0, Zone)

// The decree's periods where sector law sets none (Decree 118/2025 art. 19(5)).
const (
	// DefaultSupplementWindowDays is how many working days after receipt
	// the handling unit may ask for supplements.
	DefaultSupplementWindowDays = 3
	// DefaultSupplementCloseDays is how many days (calendar days: the
	// decree says "15 ngày", not working days) after the supplement
	// request the desk closes a dossier whose supplements did not come.
	DefaultSupplementCloseDays = 15
)

// Roles.
const (
	Clerk   = xasov1.Role_ROLE_CLERK
	Officer = xasov1.Role_ROLE_OFFICER
	Leader  = xasov1.Role_ROLE_LEADER
)

// Actions.
const (
	Receive           = xasov1.Action_ACTION_RECEIVE
	Assign            = xasov1.Action_ACTION_ASSIGN
	Forward           = xasov1.Action_ACTION_FORWARD
	RequestSupplement = xasov1.Action_ACTION_REQUEST_SUPPLEMENT
	ReceiveSupplement = xasov1.Action_ACTION_RECEIVE_SUPPLEMENT
	Submit            = xasov1.Action_ACTION_SUBMIT
	SendBack          = xasov1.Action_ACTION_SEND_BACK
	Approve           = xasov1.Action_ACTION_APPROVE
	Refuse            = xasov1.Action_ACTION_REFUSE
	Return            = xasov1.Action_ACTION_RETURN
	Withdraw          = xasov1.Action_ACTION_WITHDRAW
	Apologize         = xasov1.Action_ACTION_APOLOGIZE
	Transfer          = xasov1.Action_ACTION_TRANSFER
	AcceptTransfer    = xasov1.Action_ACTION_ACCEPT_TRANSFER
	// CloseUnsupplemented closes a dossier whose supplements did not come
	// within the period after the request (Decree 118/2025 art. 19(5)).
	CloseUnsupplemented = xasov1.Action_ACTION_CLOSE_UNSUPPLEMENTED
	// Reschedule moves a due time computed on days the calendar computed
	// to what central's newly published calendar computes (RescheduleEvent).
	Reschedule = xasov1.Action_ACTION_RESCHEDULE
)

// rule is one row of the workflow: from which states an action may be taken,
// by which roles, what state follows, and what the action must carry.
type rule struct {
	from     []State
	roles    []Role
	to       State // STATE_UNSPECIFIED: the state does not change
	reason   bool  // a written reason is required
	assignee bool  // the new holder is required
}

// rules is the workflow of the one-stop-shop mechanism (Decree 118/2025).
// RECEIVE is not here: it creates the dossier. The rows are the union of
// what the older rules (Decree 61/2018 as amended) and Decree 118/2025
// allow, so that every logged event still replays; checkRule and
// checkTime narrow them for dossiers received under Decree 118/2025.
var rules = map[Action]rule{
	Assign:            {from: []State{Received}, roles: []Role{Clerk}, to: InProcessing, assignee: true},
	Forward:           {from: []State{InProcessing}, roles: []Role{Officer, Leader}, assignee: true, reason: true},
	RequestSupplement: {from: []State{InProcessing}, roles: []Role{Officer}, to: AwaitingSupplement, reason: true},
	ReceiveSupplement: {from: []State{AwaitingSupplement}, roles: []Role{Clerk}, to: InProcessing},
	Submit:            {from: []State{InProcessing}, roles: []Role{Officer}, to: AwaitingApproval},
	SendBack:          {from: []State{AwaitingApproval}, roles: []Role{Leader}, to: InProcessing, reason: true},
	Approve:           {from: []State{AwaitingApproval}, roles: []Role{Leader}, to: ResultReady},
	Refuse:            {from: []State{InProcessing, AwaitingApproval}, roles: []Role{Leader}, to: Refused, reason: true},
	Return:            {from: []State{ResultReady, Refused}, roles: []Role{Clerk}},
	// Decree 118/2025 art. 21: the citizen may stop the procedure until the
	// decision or the notice of the result is issued; the desk records it.
	Withdraw: {from: []State{Received, InProcessing, AwaitingSupplement, AwaitingApproval}, roles: []Role{Clerk}, to: Withdrawn, reason: true},
	// Art. 19(6), 12(5): the handling unit apologises in writing with a
	// new date; under Decree 118/2025 not while the clock is stopped for
	// supplements (checkRule), once, and the day before the due day at
	// the latest (checkTime).
	Apologize: {from: []State{Received, InProcessing, AwaitingSupplement, AwaitingApproval}, roles: []Role{Officer, Leader}, reason: true},
	// Art. 19(5): the desk closes a dossier whose supplements did not come
	// within 15 days of the request (or sector law's period; checkTime).
	CloseUnsupplemented: {from: []State{AwaitingSupplement}, roles: []Role{Clerk}, to: ClosedUnsupplemented},
	// The "any commune" service: a desk receives a dossier that another
	// commune is competent for, and hands it over before anyone works on it.
	Transfer: {from: []State{Received}, roles: []Role{Clerk}, to: Transferred},
	// Art. 30(2), 33: the citizen rates the handling once its outcome
	// exists, once per dossier (Rateable narrows it in checkRule).
	Rate: {from: []State{Returned, Refused, Guided, RefusedAtReception}, roles: []Role{Citizen}},
}

// Actions returns every action that can follow RECEIVE, in enum order.
func Actions() []Action {
	var out []Action
	for a := range rules {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// Allowed returns the actions role may take on d now, in enum order.
func Allowed(d *Dossier, role Role) []Action {
	var out []Action
	for _, a := range Actions() {
		if checkRule(d, a, role) == nil {
			out = append(out, a)
		}
	}
	return out
}

// Needs reports what action a must carry besides its actor: a written
// reason, the person or unit who takes the dossier.
func Needs(a Action) (reason, assignee bool) {
	r := rules[a]
	return r.reason, r.assignee
}

// IsFinal reports whether no action can follow s, whoever asks.
func IsFinal(d *Dossier) bool {
	for _, a := range Actions() {
		for _, r := range []Role{Clerk, Officer, Leader} {
			if checkRule(d, a, r) == nil {
				return false
			}
		}
	}
	return true
}

// IsFinished reports whether the result or the refusal exists, which stops
// the clock for good; withdrawn dossiers are not finished, they leave the figures.
func IsFinished(s State) bool {
	return s == ResultReady || s == Returned || s == Refused
}

// IsOpen reports whether the legal clock still concerns the commune that
// holds a dossier in state s: received, not finished, not withdrawn or
// closed, not handed to another commune, and not turned away at reception.
func IsOpen(s State) bool {
	switch s {
	case StateUnspecified, Withdrawn, Transferred, Guided, RefusedAtReception, ClosedUnsupplemented:
		return false
	}
	return !IsFinished(s)
}

// ClockRuns reports whether d's legal clock runs: open, with a due time,
// and not stopped for the citizen's supplements. Only such a dossier can
// be overdue (a dossier waiting for supplements never is: Decree 118/2025
// art. 19(5) counts its time anew when they come).
func ClockRuns(d *Dossier) bool {
	return d != nil && IsOpen(d.GetState()) && d.GetState() != AwaitingSupplement && d.GetDueTime() != nil
}

// OverdueAt reports whether d is overdue at now: its clock runs and its
// due time has passed.
func OverdueAt(d *Dossier, now time.Time) bool {
	return ClockRuns(d) && d.GetDueTime().AsTime().Before(now)
}

// StateUnspecified is the zero State.
const StateUnspecified = xasov1.State_STATE_UNSPECIFIED

// Command is one action a person asks for on a dossier.
type Command struct {
	Action      Action
	Actor       string
	Role        Role
	Time        time.Time
	Reason      string
	Assignee    string
	Appointment time.Time
	Components  []*xasov1.SubmittedComponent
	Attachments []*xasov1.AttachmentRef
	// TransferCommune is the commune a TRANSFER hands the dossier to.
	TransferCommune string
	// Rating is the citizen's rating a RATE carries (the clerk no longer
	// types a satisfaction level at RETURN).
	Rating *Rating
}

// TransitionError says why an action cannot follow the dossier's state.
type TransitionError struct {
	Action Action
	State  State
	Why    string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s a dossier in state %s: %s", ActionName(e.Action), StateName(e.State), e.Why)
}

// RoleError says that a role may not take an action.
type RoleError struct {
	Action Action
	Role   Role
	Roles  []Role
}

func (e *RoleError) Error() string {
	names := make([]string, len(e.Roles))
	for i, r := range e.Roles {
		names[i] = RoleName(r)
	}
	return fmt.Sprintf("role %s may not %s; it takes %s", RoleName(e.Role), ActionName(e.Action), strings.Join(names, " or "))
}

// StateName is the state without its enum prefix, e.g. "IN_PROCESSING".
func StateName(s State) string { return strings.TrimPrefix(s.String(), "STATE_") }

// ActionName is the action without its enum prefix, e.g. "APPROVE".
func ActionName(a Action) string { return strings.TrimPrefix(a.String(), "ACTION_") }

// RoleName is the role without its enum prefix, e.g. "CLERK".
func RoleName(r Role) string { return strings.TrimPrefix(r.String(), "ROLE_") }

func checkRule(d *Dossier, a Action, role Role) error {
	r, ok := rules[a]
	if !ok {
		return &TransitionError{Action: a, State: d.GetState(), Why: "not a workflow action"}
	}
	if !slices.Contains(r.from, d.GetState()) {
		names := make([]string, len(r.from))
		for i, s := range r.from {
			names[i] = StateName(s)
		}
		return &TransitionError{Action: a, State: d.GetState(), Why: "it needs " + strings.Join(names, " or ")}
	}
	if a == Return && d.GetState() == Refused && d.GetReturnedTime() != nil {
		return &TransitionError{Action: a, State: d.GetState(), Why: "the refusal notice was already returned"}
	}
	if a == Rate {
		if err := Rateable(d); err != nil {
			return err
		}
	}
	if d.GetRules() == Decree118 {
		switch {
		case a == RequestSupplement && d.GetSupplementRequests() > 0:
			return &TransitionError{Action: a, State: d.GetState(), Why: "supplements may be asked for only once per dossier (Decree 118/2025 art. 11(2)(c), 16(3), 17(2)(a)) and were asked for already"}
		case a == Apologize && d.GetApologized():
			return &TransitionError{Action: a, State: d.GetState(), Why: "the date of the result may be set anew only once (Decree 118/2025 art. 19(6)) and was already"}
		case a == Apologize && d.GetState() == AwaitingSupplement:
			return &TransitionError{Action: a, State: d.GetState(), Why: "the clock is stopped for supplements: the dossier cannot be late (Decree 118/2025 art. 19(5), 19(6))"}
		}
	}
	if !slices.Contains(r.roles, role) {
		return &RoleError{Action: a, Role: role, Roles: r.roles}
	}
	return nil
}

// checkTime checks the periods in which an action may be taken at t: the
// rules of Decree 118/2025 that depend on the time, for the dossiers
// received under them, and the closing of an unsupplemented dossier for
// all. It needs no calendar: the working-day deadline was computed at
// receipt, and the other periods count calendar days in Vietnam's time.
// Decide (with the command's time) and CheckEvent (with the event's, the
// proposer's) call it alike.
func checkTime(d *Dossier, a Action, t time.Time) error {
	day := DateOf(t, Zone)
	switch a {
	case RequestSupplement:
		// Art. 19(5): "không quá 03 ngày làm việc kể từ ngày tiếp nhận hồ
		// sơ, trừ trường hợp pháp luật chuyên ngành có quy định".
		if dl := d.GetSupplementDeadline(); d.GetRules() == Decree118 && dl != nil && t.After(dl.AsTime()) {
			return &TransitionError{Action: a, State: d.GetState(), Why: fmt.Sprintf("supplements must be asked for by %s, within the working days after receipt the law allows (Decree 118/2025 art. 19(5))", dl.AsTime().In(Zone).Format(time.DateTime))}
		}
	case Apologize:
		// Art. 19(6): "chậm nhất 01 ngày trước ngày hết hạn".
		if due := d.GetDueTime(); d.GetRules() == Decree118 && due != nil && !day.Before(DateOf(due.AsTime(), Zone)) {
			return &TransitionError{Action: a, State: d.GetState(), Why: fmt.Sprintf("the apology with a new date is sent the day before the due day %s at the latest (Decree 118/2025 art. 19(6))", DateOf(due.AsTime(), Zone))}
		}
	case CloseUnsupplemented:
		// Art. 19(5): "Sau 15 ngày kể từ khi thông báo": calendar days,
		// counted from the day after the request.
		days := int(d.GetSupplementCloseDays())
		if days <= 0 {
			days = DefaultSupplementCloseDays
		}
		p := d.GetPausedTime()
		if p == nil {
			return &TransitionError{Action: a, State: d.GetState(), Why: "no supplement request is pending"}
		}
		if last := DateOf(p.AsTime(), Zone).AddDays(days); !last.Before(day) {
			return &TransitionError{Action: a, State: d.GetState(), Why: fmt.Sprintf("the citizen has until %s to bring the supplements; the desk closes the dossier after %d days (Decree 118/2025 art. 19(5))", last, days)}
		}
	}
	return nil
}

// AllowedAt returns the actions role may take on d at t, in enum order:
// Allowed, less those whose period has not come or has passed.
func AllowedAt(d *Dossier, role Role, t time.Time) []Action {
	var out []Action
	for _, a := range Allowed(d, role) {
		if checkTime(d, a, t) == nil {
			out = append(out, a)
		}
	}
	return out
}

// Decide checks that cmd may be applied to d and returns the event it makes;
// it changes nothing. Errors are *TransitionError (the state does not allow
// it), *RoleError (the role does not) or Violations (the command is malformed).
func Decide(d *Dossier, cmd Command, cal *Calendar) (*Event, error) {
	var v Violations
	if strings.TrimSpace(cmd.Actor) == "" {
		v.Add("actor", "who acts is required")
	}
	r, known := rules[cmd.Action]
	if !known {
		v.Add("action", fmt.Sprintf("%s is not a workflow action on an existing dossier", cmd.Action))
		return nil, v
	}
	if r.reason && strings.TrimSpace(cmd.Reason) == "" {
		v.AddCode("reason", CodeReasonRequired, ActionName(cmd.Action)+" needs a written reason")
	}
	if len(cmd.Reason) > 2000 {
		v.Add("reason", "at most 2000 bytes")
	}
	if r.assignee && strings.TrimSpace(cmd.Assignee) == "" {
		v.AddCode("assignee", CodeAssigneeRequired, ActionName(cmd.Action)+" needs the person or unit who takes the dossier")
	}
	if len(v) > 0 {
		return nil, v
	}
	if err := checkRule(d, cmd.Action, cmd.Role); err != nil {
		return nil, err
	}
	if err := checkTime(d, cmd.Action, cmd.Time); err != nil {
		return nil, err
	}

	ev := &Event{
		Sequence: d.GetEventCount() + 1,
		Action:   cmd.Action,
		Actor:    cmd.Actor,
		Role:     cmd.Role,
		Time:     timestamppb.New(cmd.Time),
		Reason:   cmd.Reason,
		State:    d.GetState(),
		Assignee: d.GetAssignee(),
		DueTime:  d.GetDueTime(),
	}
	if r.to != StateUnspecified {
		ev.State = r.to
	}
	if r.assignee {
		ev.Assignee = cmd.Assignee
	}
	due := d.GetDueTime().AsTime()

	switch cmd.Action {
	case ReceiveSupplement:
		if err := v.components(nil, cmd.Components, cmd.Attachments, "components"); err != nil {
			return nil, err
		}
		ev.Components, ev.Attachments = cmd.Components, cmd.Attachments
		ev.DueTime = timestamppb.New(supplementDue(d, cmd.Time, cal))
	case Apologize:
		if cmd.Appointment.IsZero() {
			v.Add("appointment_time", "an apology sets a new appointment")
			return nil, v
		}
		last := due
		if d.GetAppointmentTime() != nil {
			last = d.GetAppointmentTime().AsTime()
		}
		if !cmd.Appointment.After(last) || !cmd.Appointment.After(cmd.Time) {
			v.Add("appointment_time", fmt.Sprintf("the new appointment must be after now and after %s", last.In(cal.Location()).Format(time.DateTime)))
			return nil, v
		}
		ev.AppointmentTime = timestamppb.New(cmd.Appointment)
	case Approve:
		for i, a := range cmd.Attachments {
			if !a.GetResult() {
				v.Add(fmt.Sprintf("attachments[%d].result", i), "what is attached on APPROVE is the signed result")
			}
		}
		if len(v) > 0 {
			return nil, v
		}
		ev.Attachments = cmd.Attachments
		ev.Timeliness = cal.Timeliness(due, cmd.Time, d.GetApologized())
		ev.WorkingDays = ProcessingWorkingDays(d, cmd.Time, cal)
	case Refuse:
		ev.Timeliness = cal.Timeliness(due, cmd.Time, d.GetApologized())
		ev.WorkingDays = ProcessingWorkingDays(d, cmd.Time, cal)
	case Return:
		if d.GetState() == ResultReady {
			ev.State = Returned
		}
	case Transfer:
		switch {
		case !ValidCommuneCode(cmd.TransferCommune):
			v.AddCode("transfer_commune_code", CodeRequired, "the 5-digit code of the commune that is to process the dossier")
		case cmd.TransferCommune == d.GetCommuneCode():
			v.Add("transfer_commune_code", "another commune than the one holding the dossier")
		}
		if len(v) > 0 {
			return nil, v
		}
		ev.TransferCommuneCode = cmd.TransferCommune
	}
	if cmd.Action != Transfer && cmd.TransferCommune != "" {
		v.Add("transfer_commune_code", "only a TRANSFER names a commune")
		return nil, v
	}
	if cmd.Action == Rate {
		ValidateRating(cmd.Rating, "rating", &v)
		if len(v) > 0 {
			return nil, v
		}
		ev.Rating = cmd.Rating
	} else if cmd.Rating != nil {
		v.Add("rating", "only the citizen's RATE carries a rating")
		return nil, v
	}
	return ev, nil
}

// supplementDue is the due time when the supplements come in at t: the
// whole processing time again from t, or with a RESUME clock what was left
// of it when the clock stopped (Decree 118/2025 art. 19(5) and sector law).
func supplementDue(d *Dossier, t time.Time, cal *Calendar) time.Time {
	pt := DossierProcessingTime(d)
	if d.GetSupplementClock() != xasov1.SupplementClock_SUPPLEMENT_CLOCK_RESUME || d.GetDueTime() == nil || d.GetPausedTime() == nil {
		return cal.DueFor(t, pt)
	}
	due, paused := d.GetDueTime().AsTime(), d.GetPausedTime().AsTime()
	if pt.Hours > 0 {
		return cal.AddWorkingHours(t, cal.WorkingHoursBetween(paused, due))
	}
	left := cal.WorkingDaysBetween(cal.StartDay(paused), DateOf(due, cal.Location()))
	return cal.Due(t, left)
}

// Apply changes d by ev. It does no checking: ev must come from Decide or
// ReceiveEvent for this dossier (or be replayed from its log).
func Apply(d *Dossier, ev *Event) {
	if rc := ev.GetReceipt(); rc != nil {
		d.Code = rc.GetCode()
		d.CommuneCode = rc.GetCommuneCode()
		d.ProcedureCode = rc.GetProcedureCode()
		d.ProcedureVersion = rc.GetProcedureVersion()
		d.ProcedureName = rc.GetProcedureName()
		d.ProcessingDays = rc.GetProcessingDays()
		d.SupplementClock = rc.GetSupplementClock()
		d.Applicant = rc.GetApplicant()
		d.Channel = rc.GetChannel()
		d.ReceivedTime = ev.GetTime()
		d.Rules = rc.GetRules()
		d.SupplementDeadline = rc.GetSupplementDeadline()
		d.SupplementCloseDays = rc.GetSupplementCloseDays()
		d.MissingComponents = ev.GetMissingComponents()
		d.ReceivedCommuneCode = rc.GetCommuneCode()
		d.OnlineLevel, d.FeeVnd = ev.GetOnlineLevel(), ev.GetFeeVnd()
		d.ProcessingHours = ev.GetProcessingHours()
		d.LateReceipt = ev.GetLateReceipt()
		if s := ev.GetState(); s == Guided || s == RefusedAtReception {
			d.OutcomeReason = ev.GetReason()
		}
	}
	d.State = ev.GetState()
	d.Assignee = ev.GetAssignee()
	d.DueTime = ev.GetDueTime()
	d.EventCount = ev.GetSequence()
	d.UpdateTime = ev.GetTime()
	d.Components = append(d.Components, ev.GetComponents()...)
	d.Attachments = append(d.Attachments, ev.GetAttachments()...)
	switch ev.GetAction() {
	case RequestSupplement:
		d.PausedTime = ev.GetTime()
		if d.GetRules() == Decree118 {
			d.SupplementRequests++
		}
	case ReceiveSupplement:
		d.PausedTime = nil
	case Approve:
		d.FinishedTime, d.Timeliness, d.WorkingDays = ev.GetTime(), ev.GetTimeliness(), ev.GetWorkingDays()
	case Refuse:
		d.FinishedTime, d.Timeliness, d.OutcomeReason, d.WorkingDays = ev.GetTime(), ev.GetTimeliness(), ev.GetReason(), ev.GetWorkingDays()
	case Withdraw, CloseUnsupplemented:
		d.OutcomeReason = ev.GetReason()
	case Return:
		d.ReturnedTime, d.Satisfaction = ev.GetTime(), ev.GetSatisfaction()
	case Rate:
		d.Rating = ev.GetRating()
	case Apologize:
		d.AppointmentTime, d.Apologized = ev.GetAppointmentTime(), true
	case Transfer:
		d.TransferCommuneCode = ev.GetTransferCommuneCode()
	case Reschedule:
		d.CalendarIndex = ev.GetCalendarIndex()
	case AcceptTransfer:
		d.CommuneCode, d.TransferCommuneCode = ev.GetTransferCommuneCode(), ""
	case Succeed:
		// The owner changes; state, clock, pause and holder stay.
		d.CommuneCode = ev.GetTransferCommuneCode()
	}
}

// AcceptTransferEvent is the event with which commune takes a dossier that
// was transferred to it: the dossier becomes the commune's, RECEIVED, with
// its legal clock running on as it was.
func AcceptTransferEvent(d *Dossier, commune string, t time.Time) (*Event, error) {
	if d.GetState() != Transferred {
		return nil, &TransitionError{Action: AcceptTransfer, State: d.GetState(), Why: "it needs TRANSFERRED"}
	}
	if to := d.GetTransferCommuneCode(); to != commune {
		return nil, fmt.Errorf("dossier %s was transferred to commune %q, not %s", d.GetCode(), to, commune)
	}
	return &Event{
		Sequence: d.GetEventCount() + 1, Action: AcceptTransfer, Actor: "node:" + commune, Role: xasov1.Role_ROLE_CLERK,
		Time: timestamppb.New(t), State: Received, Assignee: "", DueTime: d.GetDueTime(), TransferCommuneCode: commune,
	}, nil
}

// Fold replays a dossier's events, oldest first, into the dossier they make.
func Fold(events []*Event) *Dossier {
	d := &Dossier{}
	for _, ev := range events {
		Apply(d, ev)
	}
	return d
}

// Clone returns a deep copy of d, so that Apply on it leaves d alone.
func Clone(d *Dossier) *Dossier { return proto.Clone(d).(*Dossier) }

// ProcessingWorkingDays is the processing time of a dossier finished at t:
// the working days from the day its clock started (its receipt, or the
// next working day after the afternoon cut-off) to the day of t, as due
// dates count them, so that a dossier on time has at most its procedure's
// processing days. Time waiting for supplements is included (the decree
// restarts the clock then, but the citizen waited). It is what the
// average processing time of Decision 766/QĐ-TTg adds up; 0 when the
// result comes on the start day.
func ProcessingWorkingDays(d *Dossier, t time.Time, cal *Calendar) int32 {
	if d.GetReceivedTime() == nil {
		return 0
	}
	return int32(cal.WorkingDaysBetween(cal.StartDay(d.GetReceivedTime().AsTime()), DateOf(t, cal.Location())))
}
