package dossier

// DueProvisional reports whether the due time of d rests on days the
// calendar computed rather than took from the government's notices: the
// period from its receipt to its due time (or appointment) touches a year
// that is not official. It is derived, not stored, so it turns false by
// itself once the year is published.
//
// When central publishes an official year (UpdateCalendar; the node takes
// the new calendar from the feed), a due date computed before may be wrong.
// The node is to recompute each open dossier (IsOpen) whose received time
// to due time was provisional under the old calendar: the new due time is
// Due(received, processing days) on the new calendar, or, for a dossier
// whose clock was paused and resumed, the same rule Decide uses on
// RECEIVE_SUPPLEMENT; a changed due time is written as an event of its own
// so the log says why it moved. That event and its replication are not
// built yet.
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
