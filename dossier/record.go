package dossier

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// What a node sends is checked twice at central: by the replication
// service before it is proposed and by the state machine as it applies,
// with the functions of this file. A commune's PC can be stolen and its key
// used, so nothing in a record is taken on trust: every string and list is
// bounded (a string that becomes part of a state key must never exceed the
// store's key limit), every enum is one this version knows, the record is
// its commune's, and the event is one the workflow allows in the state the
// dossier is in (CheckEvent). The node runs the same checks on what it
// writes, so an honest node never sends what central refuses.

// Bounds on a node's records.
const (
	// MaxRecordBytes bounds one encoded outbox record.
	MaxRecordBytes = 64 << 10
	// MaxDossierEvents bounds the events of one dossier (an honest one has
	// tens).
	MaxDossierEvents = 1000
	// MaxDossierBytes bounds a dossier as central stores it, with its
	// components and files (an honest one takes a few kilobytes).
	MaxDossierBytes = 512 << 10
	// MaxActorBytes bounds who acted.
	MaxActorBytes = 128
	// MaxAssigneeBytes bounds the person or unit holding a dossier.
	MaxAssigneeBytes = 200
	// MaxReasonBytes bounds a written reason.
	MaxReasonBytes = 2000
	// MaxListItems bounds each list of an event (components, attachments,
	// scans of a component).
	MaxListItems = 100
	// MaxClockSkew is how far ahead of central's clock an event's time may
	// be (a commune PC's clock is often off, rarely by a day).
	MaxClockSkew = 24 * time.Hour
)

// earliest is before any dossier xaso can hold: times before it are bad input.
var earliest = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

// latestAppointment bounds a due time or an appointment past the event.
const latestAppointment = 5 * 366 * 24 * time.Hour

// ValidateRecord checks the form of an outbox record that commune's node
// sent, against central's clock now: everything that needs no state.
// Field paths are the record's.
func ValidateRecord(rec *xasov1.OutboxRecord, commune string, now time.Time) error {
	return ValidateSizedRecord(rec, proto.Size(rec), commune, now)
}

// ValidateSizedRecord is ValidateRecord for a record whose encoded size
// the caller knows (central's apply encodes each record anyway).
func ValidateSizedRecord(rec *xasov1.OutboxRecord, size int, commune string, now time.Time) error {
	var v Violations
	if rec == nil {
		v.Add("record", "required")
		return v
	}
	if size > MaxRecordBytes {
		v.Add("record", fmt.Sprintf("%d bytes encoded; at most %d", size, MaxRecordBytes))
		return v
	}
	if rec.GetSequence() < 1 {
		v.Add("sequence", "sequences start at 1")
	}
	if rec.GetCommuneCode() != commune {
		v.Add("commune_code", fmt.Sprintf("the record is commune %q's; the node sends for %q only", Short(rec.GetCommuneCode(), 40), commune))
	}
	if len(rec.GetHash()) != 32 {
		v.Add("hash", "a 32-byte SHA-256")
	}
	if len(rec.GetPrevHash()) != 32 {
		v.Add("prev_hash", "a 32-byte SHA-256")
	}
	switch {
	case rec.GetEvent() != nil && rec.GetAccess() != nil:
		v.Add("access", "a record carries an event or an access entry, not both")
	case rec.GetSeal() != nil:
		validateSeal(rec, now, &v)
	case rec.GetAccess() != nil:
		if rec.GetDossierCode() != "" {
			v.Add("dossier_code", "empty for an access entry, which names its dossiers itself")
		}
		validateAccess(rec.GetAccess(), now, "access", &v)
	default:
		if _, err := ParseCode(rec.GetDossierCode()); err != nil {
			v.Add("dossier_code", "not a dossier code {commune}-{yymmdd}-{nnnn}")
		}
		if rec.GetEvent() == nil {
			v.Add("event", "required (or an access entry)")
		} else {
			validateEvent(rec.GetEvent(), now, "event", &v)
			if rc := rec.GetEvent().GetReceipt(); rc != nil && rc.GetCode() != rec.GetDossierCode() {
				v.Add("event.receipt.code", "the receipt is for another dossier than the record's")
			}
		}
	}
	return v.Err()
}

// Short keeps an echoed input or a message at most max bytes long (cut
// at a character boundary, with an ellipsis).
func Short(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + "…"
}

// validText checks a free-text field: at most max bytes, no control
// characters other than line breaks and tabs.
func validText(s string, max int) bool {
	return len(s) <= max && textOK(s, false)
}

// validLine is validText on one line, not empty.
func validLine(s string, max int) bool {
	return len(s) <= max && strings.TrimSpace(s) != "" && textOK(s, true)
}

// textOK says whether s has no control character but tabs and, unless
// oneLine, line breaks. (Apply asks it for every event: ASCII is read a
// byte at a time.)
func textOK(s string, oneLine bool) bool {
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b < 0x20 && (b != '\t' && (oneLine || b != '\n' && b != '\r')) || b == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsControl(r) {
			return false
		}
		i += size
	}
	return true
}

// validateSeal checks a succession seal record in form: it carries
// nothing else, and names a time and a successor (central checks them
// against the succession it holds).
func validateSeal(rec *xasov1.OutboxRecord, now time.Time, v *Violations) {
	if rec.GetEvent() != nil || rec.GetAccess() != nil || rec.GetDossierCode() != "" {
		v.Add("seal", "a seal record carries no dossier, event or access entry")
	}
	if !validTime(rec.GetSeal().GetTime(), now, MaxClockSkew) {
		v.Add("seal.time", "a time not in the future")
	}
	if !ValidCommuneCode(rec.GetSeal().GetSuccessorCode()) {
		v.Add("seal.successor_code", "a 5-digit administrative unit code")
	}
}

// knownEnum says whether e is one of the values names lists, other than
// the zero value.
func knownEnum[E ~int32](e E, names map[int32]string) bool {
	if e == 0 {
		return false
	}
	_, ok := names[int32(e)]
	return ok
}

func validTime(t *timestamppb.Timestamp, now time.Time, ahead time.Duration) bool {
	if t.CheckValid() != nil {
		return false
	}
	at := t.AsTime()
	return !at.Before(earliest) && !at.After(now.Add(ahead))
}

// sameTime says whether two timestamps are both unset or the same instant.
func sameTime(a, b *timestamppb.Timestamp) bool {
	return (a == nil) == (b == nil) && a.GetSeconds() == b.GetSeconds() && a.GetNanos() == b.GetNanos()
}

// validateEvent checks an event's fields one by one, without the dossier.
func validateEvent(ev *xasov1.Event, now time.Time, f string, v *Violations) {
	if s := ev.GetSequence(); s < 1 || s > MaxDossierEvents {
		v.Add(f+".sequence", fmt.Sprintf("1 to %d", MaxDossierEvents))
	}
	if !knownEnum(ev.GetAction(), xasov1.Action_name) {
		v.Add(f+".action", "a workflow action")
	}
	if !validLine(ev.GetActor(), MaxActorBytes) {
		v.Add(f+".actor", fmt.Sprintf("who acted: one line of at most %d bytes", MaxActorBytes))
	}
	if ev.GetAction() == Reschedule {
		if ev.GetRole() != 0 {
			v.Add(f+".role", "a RESCHEDULE is the system's: no role")
		}
	} else if !knownEnum(ev.GetRole(), xasov1.Role_name) {
		v.Add(f+".role", "CLERK, OFFICER, LEADER or CITIZEN")
	}
	if ev.GetTime() == nil || !validTime(ev.GetTime(), now, MaxClockSkew) {
		v.Add(f+".time", fmt.Sprintf("a time from %s to a day ahead of central's clock", earliest.Format(time.DateOnly)))
	}
	if !validText(ev.GetReason(), MaxReasonBytes) {
		v.Add(f+".reason", fmt.Sprintf("at most %d bytes of text", MaxReasonBytes))
	}
	if !knownEnum(ev.GetState(), xasov1.State_name) {
		v.Add(f+".state", "a workflow state")
	}
	if a := ev.GetAssignee(); a != "" && !validLine(a, MaxAssigneeBytes) {
		v.Add(f+".assignee", fmt.Sprintf("one line of at most %d bytes", MaxAssigneeBytes))
	}
	for _, t := range []struct {
		name string
		ts   *timestamppb.Timestamp
	}{{"due_time", ev.GetDueTime()}, {"appointment_time", ev.GetAppointmentTime()}, {"previous_due_time", ev.GetPreviousDueTime()}} {
		if t.ts != nil && !validTime(t.ts, now, MaxClockSkew+latestAppointment) {
			v.Add(f+"."+t.name, "a time within five years")
		}
	}
	if s := ev.GetSatisfaction(); s != 0 && !knownEnum(s, xasov1.Satisfaction_name) {
		v.Add(f+".satisfaction", "a known rating")
	}
	if r := ev.GetRating(); r != nil {
		ValidateRating(r, f+".rating", v)
	}
	if t := ev.GetTimeliness(); t != 0 && !knownEnum(t, xasov1.Timeliness_name) {
		v.Add(f+".timeliness", "EARLY, ON_TIME or LATE")
	}
	if h := ev.GetProcessingHours(); h < 0 || h > MaxProcessingHours {
		v.Add(f+".processing_hours", fmt.Sprintf("0 to %d working hours", MaxProcessingHours))
	}
	if l := ev.GetLateReceipt(); l != 0 && !knownEnum(l, xasov1.LateReceipt_name) {
		v.Add(f+".late_receipt", "a known rule for a receipt after the cut-off")
	}
	if c := ev.GetTransferCommuneCode(); c != "" && !ValidCommuneCode(c) {
		v.Add(f+".transfer_commune_code", "a 5-digit administrative unit code")
	}
	validateParts(ev.GetComponents(), ev.GetAttachments(), f, v)
	if m := ev.GetMissingComponents(); len(m) > MaxListItems {
		v.Add(f+".missing_components", fmt.Sprintf("at most %d", MaxListItems))
	} else {
		for i, c := range m {
			if !validLine(c, 64) {
				v.Add(fmt.Sprintf("%s.missing_components[%d]", f, i), "a component code: one line of at most 64 bytes")
			}
		}
	}
	if rc := ev.GetReceipt(); rc != nil {
		validateReceipt(rc, now, f+".receipt", v)
	}
}

// validateParts bounds the components and attachments an event carries.
func validateParts(comps []*xasov1.SubmittedComponent, atts []*xasov1.AttachmentRef, f string, v *Violations) {
	if len(comps) > MaxListItems {
		v.Add(f+".components", fmt.Sprintf("at most %d", MaxListItems))
		comps = nil
	}
	if len(atts) > MaxListItems {
		v.Add(f+".attachments", fmt.Sprintf("at most %d", MaxListItems))
		atts = nil
	}
	for i, c := range comps {
		cf := fmt.Sprintf("%s.components[%d]", f, i)
		if !validLine(c.GetCode(), 64) {
			v.Add(cf+".code", "a component code: one line of at most 64 bytes")
		}
		if len(c.GetAttachmentSha256()) > MaxListItems {
			v.Add(cf+".attachment_sha256", fmt.Sprintf("at most %d", MaxListItems))
			continue
		}
		for j, h := range c.GetAttachmentSha256() {
			if !ValidSHA256(h) {
				v.Add(fmt.Sprintf("%s.attachment_sha256[%d]", cf, j), "a lower-case hex SHA-256")
			}
		}
	}
	for i, a := range atts {
		af := fmt.Sprintf("%s.attachments[%d]", f, i)
		if !ValidSHA256(a.GetSha256()) {
			v.Add(af+".sha256", "a lower-case hex SHA-256")
		}
		if !validText(a.GetFilename(), 255) {
			v.Add(af+".filename", "at most 255 bytes of text")
		}
		if !validText(a.GetContentType(), 100) {
			v.Add(af+".content_type", "at most 100 bytes of text")
		}
		if a.GetSizeBytes() < 0 || a.GetSizeBytes() > MaxFileBytes {
			v.Add(af+".size_bytes", fmt.Sprintf("0 to %d", MaxFileBytes))
		}
		if cc := a.GetComponentCode(); cc != "" && !validLine(cc, 64) {
			v.Add(af+".component_code", "a component code: one line of at most 64 bytes")
		}
	}
}

// validateReceipt checks a receipt's fields.
func validateReceipt(rc *xasov1.Receipt, now time.Time, f string, v *Violations) {
	if _, err := ParseCode(rc.GetCode()); err != nil {
		v.Add(f+".code", "not a dossier code {commune}-{yymmdd}-{nnnn}")
	}
	if !ValidCommuneCode(rc.GetCommuneCode()) {
		v.Add(f+".commune_code", "a 5-digit administrative unit code")
	}
	if !ValidName(rc.GetProcedureCode(), 40) {
		v.Add(f+".procedure_code", "a procedure code: 1 to 40 letters, digits, '.', '-' or '_'")
	}
	if rc.GetProcedureVersion() < 0 {
		v.Add(f+".procedure_version", "not negative")
	}
	if !validText(rc.GetProcedureName(), 500) {
		v.Add(f+".procedure_name", "at most 500 bytes of text")
	}
	if d := rc.GetProcessingDays(); d < 0 || d > 365 {
		v.Add(f+".processing_days", "0 to 365 working days")
	}
	if s := rc.GetSupplementClock(); s != 0 && !knownEnum(s, xasov1.SupplementClock_name) {
		v.Add(f+".supplement_clock", "a known supplement clock")
	}
	if r := rc.GetRules(); r != 0 && !knownEnum(r, xasov1.WorkflowRules_name) {
		v.Add(f+".rules", "a known body of workflow rules")
	}
	if dl := rc.GetSupplementDeadline(); dl != nil && !validTime(dl, now, MaxClockSkew+latestAppointment) {
		v.Add(f+".supplement_deadline", "a time within five years")
	}
	if d := rc.GetSupplementCloseDays(); d < 0 || d > 365 {
		v.Add(f+".supplement_close_days", "0 to 365 days")
	}
	ValidateApplicant(rc.GetApplicant(), f+".applicant", v)
	if !knownEnum(rc.GetChannel(), xasov1.Channel_name) {
		v.Add(f+".channel", "IN_PERSON, ONLINE or POSTAL")
	}
}

// CheckEvent re-decides an event that commune's node recorded on d (nil
// for a dossier central does not hold yet) with the workflow's rules: the
// event follows the dossier's last one, the action is allowed in the
// dossier's state and to the event's role, the state and holder after it
// are the ones the action makes, and it carries what the action needs and
// nothing an action of its kind cannot carry. It does not recompute due
// times (they follow the calendar the node had) nor timeliness, with one
// exception it leaves to its caller: a RESCHEDULE, which exists only to
// move a due time, is checked here in form, and its due time must then be
// checked with CheckReschedule on the calendar central published (central
// does so as it applies). A receipt claiming Decree 61/2018 from
// Decree118From on is refused (Decree 118/2025 art. 40(1)). The error
// is a *TransitionError, a *RoleError or Violations, like Decide's, or an
// *OwnerError.
func CheckEvent(d *Dossier, ev *Event, commune string) error {
	var v Violations
	if d == nil {
		return checkReceipt(ev, commune)
	}
	if ev.GetSequence() != d.GetEventCount()+1 {
		v.Add("event.sequence", fmt.Sprintf("event %d does not follow the dossier's event %d", ev.GetSequence(), d.GetEventCount()))
		return v
	}
	if ev.GetReceipt() != nil || ev.GetAction() == Receive {
		return &TransitionError{Action: Receive, State: d.GetState(), Why: "the dossier was received already"}
	}
	if ev.GetProcessingHours() != 0 || ev.GetLateReceipt() != 0 {
		v.Add("event.processing_hours", "the processing time is set by the receipt only")
		return v
	}
	if ev.GetAction() != Reschedule && (ev.GetPreviousDueTime() != nil || ev.GetCalendarIndex() != 0) {
		v.Add("event.calendar_index", "only a RESCHEDULE names a calendar and the due time before it")
		return v
	}
	if ev.GetAction() == AcceptTransfer {
		return checkAcceptTransfer(d, ev, commune)
	}
	if d.GetCommuneCode() != commune {
		return &OwnerError{Commune: commune, Dossier: d.GetCode(), Why: "it belongs to commune " + d.GetCommuneCode()}
	}
	if ev.GetAction() == Reschedule {
		if d.GetEventCount() >= MaxDossierEvents {
			v.Add("event.sequence", fmt.Sprintf("a dossier has at most %d events", MaxDossierEvents))
			return v
		}
		// The form here; the due time's value on central's calendar by
		// CheckReschedule, which the caller holding it must call.
		return checkRescheduleForm(d, ev)
	}
	r, known := rules[ev.GetAction()]
	if !known {
		v.Add("event.action", fmt.Sprintf("%s is not a workflow action on an existing dossier", ev.GetAction()))
		return v
	}
	if err := checkRule(d, ev.GetAction(), ev.GetRole()); err != nil {
		return err
	}
	// The same periods Decide checks, at the time the node decided.
	if err := checkTime(d, ev.GetAction(), ev.GetTime().AsTime()); err != nil {
		return err
	}
	want := d.GetState()
	switch {
	case r.to != StateUnspecified:
		want = r.to
	case ev.GetAction() == Return && d.GetState() == ResultReady:
		want = Returned
	}
	if ev.GetState() != want {
		v.Add("event.state", fmt.Sprintf("%s leaves the dossier %s, not %s", ActionName(ev.GetAction()), StateName(want), StateName(ev.GetState())))
	}
	if r.reason && strings.TrimSpace(ev.GetReason()) == "" {
		v.Add("event.reason", ActionName(ev.GetAction())+" needs a written reason")
	}
	switch {
	case r.assignee && strings.TrimSpace(ev.GetAssignee()) == "":
		v.Add("event.assignee", ActionName(ev.GetAction())+" needs the person or unit who takes the dossier")
	case !r.assignee && ev.GetAssignee() != d.GetAssignee():
		v.Add("event.assignee", ActionName(ev.GetAction())+" does not change who holds the dossier")
	}
	action := ev.GetAction()
	if action == ReceiveSupplement {
		if ev.GetDueTime() == nil {
			v.Add("event.due_time", "the supplement restarts the clock: a new due time")
		}
	} else if !sameTime(ev.GetDueTime(), d.GetDueTime()) {
		v.Add("event.due_time", ActionName(action)+" does not change the due time")
	}
	if action == Apologize {
		last := d.GetDueTime()
		if d.GetAppointmentTime() != nil {
			last = d.GetAppointmentTime()
		}
		if at := ev.GetAppointmentTime(); at == nil || !at.AsTime().After(ev.GetTime().AsTime()) || (last != nil && !at.AsTime().After(last.AsTime())) {
			v.Add("event.appointment_time", "an apology sets a new appointment, after the event and after the last one")
		}
	} else if ev.GetAppointmentTime() != nil {
		v.Add("event.appointment_time", "only an APOLOGIZE sets an appointment")
	}
	finishes := action == Approve || action == Refuse
	if finishes != (ev.GetTimeliness() != 0) {
		v.Add("event.timeliness", "set on APPROVE and REFUSE only")
	}
	// A clerk's level at RETURN is legacy: nodes of older versions still
	// send it, and central counts it as before.
	if action != Return && ev.GetSatisfaction() != 0 {
		v.Add("event.satisfaction", "a rating is given when the result is returned")
	}
	// A dossier is rated once: by the citizen (RATE) or, before citizens
	// rated themselves, by the clerk at RETURN; never both, so that it
	// counts at one satisfaction level (Decree 118/2025 art. 29(1)).
	if action == Return && ev.GetSatisfaction() != 0 && d.GetRating() != nil {
		v.Add("event.satisfaction", "the citizen has rated this dossier already")
	}
	switch {
	case action == Rate && ev.GetRating() == nil:
		v.Add("event.rating", "a RATE carries the citizen's rating")
	case action != Rate && ev.GetRating() != nil:
		v.Add("event.rating", "only the citizen's RATE carries a rating")
	case action == Rate && ev.GetActor() != CitizenActor:
		v.Add("event.actor", fmt.Sprintf("the citizen who rates is not named: %q", CitizenActor))
	}
	switch {
	case action == Transfer && (!ValidCommuneCode(ev.GetTransferCommuneCode()) || ev.GetTransferCommuneCode() == commune):
		v.Add("event.transfer_commune_code", "another commune than the one holding the dossier")
	case action != Transfer && ev.GetTransferCommuneCode() != "":
		v.Add("event.transfer_commune_code", "only a TRANSFER names a commune")
	}
	if len(ev.GetMissingComponents()) > 0 {
		v.Add("event.missing_components", "missing components are listed by a guidance at reception only")
	}
	if ev.GetOnlineLevel() != 0 || ev.GetFeeVnd() != 0 {
		v.Add("event.online_level", "the procedure's online level and fee are recorded at receipt only")
	}
	checkWorkingDays(d, ev, finishes, &v)
	if action != ReceiveSupplement && len(ev.GetComponents()) > 0 {
		v.Add("event.components", "components are handed in at receipt or as a supplement")
	}
	switch action {
	case ReceiveSupplement:
	case Approve:
		for i, a := range ev.GetAttachments() {
			if !a.GetResult() {
				v.Add(fmt.Sprintf("event.attachments[%d].result", i), "what is attached on APPROVE is the signed result")
			}
		}
	default:
		if len(ev.GetAttachments()) > 0 {
			v.Add("event.attachments", ActionName(action)+" attaches no file")
		}
	}
	if d.GetEventCount() >= MaxDossierEvents {
		v.Add("event.sequence", fmt.Sprintf("a dossier has at most %d events", MaxDossierEvents))
	}
	return v.Err()
}

// OwnerError says that a commune wrote a dossier that is not its own: a
// receipt under another commune's code or in its name, an event on a
// dossier another commune holds, or a transfer meant for another commune.
type OwnerError struct {
	Commune, Dossier, Why string
}

func (e *OwnerError) Error() string {
	return fmt.Sprintf("commune %s may not write dossier %s: %s", e.Commune, e.Dossier, e.Why)
}

// checkReceipt checks the first event of a dossier: its receipt, by the
// desk, in the commune the code names, which is the sender's.
func checkReceipt(ev *Event, commune string) error {
	var v Violations
	rc := ev.GetReceipt()
	if ev.GetAction() != Receive || rc == nil {
		v.Add("event.action", "the first event of a dossier is its RECEIVE, with the receipt")
		return v
	}
	if ev.GetSequence() != 1 {
		v.Add("event.sequence", "the receipt is event 1")
	}
	// Decree 118/2025 art. 40(1): from 1 July 2025 Decree 61/2018 no
	// longer applies; a dossier received before keeps its rules.
	if rc.GetRules() == Decree61 && !ev.GetTime().AsTime().Before(Decree118From) {
		v.Add("event.receipt.rules", fmt.Sprintf("a dossier received from %s on follows Decree 118/2025 (art. 40(1)), not Decree 61/2018", Decree118From.Format(time.DateOnly)))
	}
	if ev.GetProcessingHours() != 0 && rc.GetProcessingDays() != 0 {
		v.Add("event.processing_hours", "a processing time is in working days or in working hours, not both")
	}
	if ev.GetPreviousDueTime() != nil || ev.GetCalendarIndex() != 0 {
		v.Add("event.calendar_index", "only a RESCHEDULE names a calendar and the due time before it")
	}
	if ev.GetRole() != Clerk {
		return &RoleError{Action: Receive, Role: ev.GetRole(), Roles: []Role{Clerk}}
	}
	if rc.GetCommuneCode() != commune {
		return &OwnerError{Commune: commune, Dossier: Short(rc.GetCode(), 40), Why: "the receipt is in the name of commune " + Short(rc.GetCommuneCode(), 40)}
	}
	// Decree 118/2025 art. 28: a commune numbers its own dossiers, and
	// only its own: a code that names a commune (a legacy code, or one
	// under a competent agency with the receiving commune in its
	// sequence) names this one. Whether an agency e-ID is the commune's
	// takes central's registry (CheckCodeIssuer).
	if pc, err := ParseCode(rc.GetCode()); err == nil && pc.Commune != "" && pc.Commune != commune {
		return &OwnerError{Commune: commune, Dossier: rc.GetCode(), Why: "the code names commune " + pc.Commune}
	}
	if _, ok := xasov1.OnlineLevel_name[int32(ev.GetOnlineLevel())]; !ok {
		v.Add("event.online_level", "NONE, PARTIAL or FULL")
	}
	if ev.GetFeeVnd() < 0 {
		v.Add("event.fee_vnd", "not negative")
	}
	if ev.GetWorkingDays() != 0 {
		v.Add("event.working_days", "set on APPROVE and REFUSE only")
	}
	switch ev.GetState() {
	case Received:
		if ev.GetDueTime() == nil {
			v.Add("event.due_time", "a receipt sets the due time")
		}
		if rc.GetRules() == Decree118 && rc.GetSupplementDeadline() == nil {
			v.Add("event.receipt.supplement_deadline", "a receipt under Decree 118/2025 sets until when supplements may be asked for (art. 19(5))")
		}
		if len(ev.GetMissingComponents()) > 0 {
			v.Add("event.missing_components", "a dossier taken in is complete: only a guidance lists missing components")
		}
	case Guided, RefusedAtReception:
		// Decree 118/2025 art. 17(1)(c): the guidance or the refusal at
		// reception is recorded with its reason; no processing time runs
		// (art. 17(3)).
		if rc.GetRules() != Decree118 {
			v.Add("event.receipt.rules", "a guidance or refusal at reception is recorded under Decree 118/2025")
		}
		if strings.TrimSpace(ev.GetReason()) == "" {
			v.Add("event.reason", "a guidance or refusal at reception states its reason (art. 17(1)(c))")
		}
		if ev.GetDueTime() != nil || rc.GetSupplementDeadline() != nil {
			v.Add("event.due_time", "a dossier not taken in has no due time")
		}
		if ev.GetState() == RefusedAtReception && len(ev.GetMissingComponents()) > 0 {
			v.Add("event.missing_components", "only a guidance lists missing components")
		}
	default:
		v.Add("event.state", "a receipt leaves the dossier RECEIVED, GUIDED or REFUSED_AT_RECEPTION")
	}
	if ev.GetAssignee() != "" || ev.GetAppointmentTime() != nil || ev.GetSatisfaction() != 0 || ev.GetRating() != nil || ev.GetTimeliness() != 0 || ev.GetTransferCommuneCode() != "" {
		v.Add("event", "a receipt carries no holder, appointment, rating, timeliness or transfer")
	}
	return v.Err()
}

// checkAcceptTransfer checks that commune takes a dossier transferred to it,
// as AcceptTransferEvent makes the event.
func checkAcceptTransfer(d *Dossier, ev *Event, commune string) error {
	if d.GetState() != Transferred {
		return &TransitionError{Action: AcceptTransfer, State: d.GetState(), Why: "it needs TRANSFERRED"}
	}
	var v Violations
	if d.GetTransferCommuneCode() != commune || ev.GetTransferCommuneCode() != commune {
		return &OwnerError{Commune: commune, Dossier: d.GetCode(), Why: "it was not transferred to this commune"}
	}
	if ev.GetState() != Received || ev.GetAssignee() != "" || !sameTime(ev.GetDueTime(), d.GetDueTime()) ||
		ev.GetAppointmentTime() != nil || ev.GetSatisfaction() != 0 || ev.GetRating() != nil || ev.GetTimeliness() != 0 ||
		len(ev.GetComponents()) > 0 || len(ev.GetAttachments()) > 0 {
		v.Add("event", "an ACCEPT_TRANSFER leaves the dossier RECEIVED, unassigned, with its due time, and carries nothing else")
	}
	if !slices.Contains([]Role{Clerk}, ev.GetRole()) {
		return &RoleError{Action: AcceptTransfer, Role: ev.GetRole(), Roles: []Role{Clerk}}
	}
	return v.Err()
}

// CheckOwn is what a node checks of an event it is about to write on
// before (nil for a new dossier) in commune, at now: the checks central
// makes of the record that will carry it, so that an honest node never
// sends what central refuses. Its errors are those of CheckEvent.
func CheckOwn(before *Dossier, ev *Event, commune string, now time.Time) error {
	var v Violations
	if n := proto.Size(ev); n > MaxRecordBytes-256 {
		v.Add("event", fmt.Sprintf("%d bytes encoded; at most %d", n, MaxRecordBytes-256))
		return v
	}
	validateEvent(ev, now, "event", &v)
	if n := proto.Size(before) + proto.Size(ev); n > MaxDossierBytes/2 {
		v.Add("event", fmt.Sprintf("the dossier would hold %d bytes of components and files; at most %d", n, MaxDossierBytes/2))
	}
	if err := v.Err(); err != nil {
		return err
	}
	return CheckEvent(before, ev, commune)
}

// checkWorkingDays checks the processing time an event records (the
// average processing time of Decision 766/QĐ-TTg): only a result or a
// refusal records it, and it cannot exceed the calendar days since receipt
// (working days are fewer); whether it is the right count for the node's
// calendar is not checked here (it is the node's calendar's).
func checkWorkingDays(d *Dossier, ev *Event, finishes bool, v *Violations) {
	wd := ev.GetWorkingDays()
	switch {
	case wd == 0:
	case !finishes:
		v.Add("event.working_days", "set on APPROVE and REFUSE only")
	case wd < 0:
		v.Add("event.working_days", "not negative")
	case d.GetReceivedTime() != nil && float64(wd) > ev.GetTime().AsTime().Sub(d.GetReceivedTime().AsTime()).Hours()/24+1:
		v.Add("event.working_days", fmt.Sprintf("%d working days cannot have passed since the receipt", wd))
	}
}
