package dossier

import (
	"fmt"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// LateReceipt is a procedure's rule for a receipt after the cut-off.
type LateReceipt = xasov1.LateReceipt

// Rules for a receipt after the calendar's cut-off.
const (
	// NextWorkingDay counts the processing time from the next working day
	// (for a time in hours, from the next working session): the default.
	NextWorkingDay = xasov1.LateReceipt_LATE_RECEIPT_UNSPECIFIED
	// SameDay counts it from the day of receipt even after the cut-off.
	SameDay = xasov1.LateReceipt_LATE_RECEIPT_SAME_DAY
)

// MaxProcessingHours bounds a processing time in working hours: a
// procedure whose time is longer states it in working days.
const MaxProcessingHours = 400

// ProcessingTime is a procedure's legal processing time: in working days
// or, where the law sets it so, in working hours (Decree 118/2025 art.
// 17(2)(c) counts in working hours, "không muộn hơn 08 (tám) giờ làm việc"), and
// its rule for a receipt after the cut-off. The zero value is "trong
// ngày": due at the end of the working day the receipt counts from.
type ProcessingTime struct {
	// Days is the time in working days (0: the same working day).
	Days int
	// Hours, when not 0, is the time in working hours; Days is then 0.
	Hours int
	// Late is the rule for a receipt after the cut-off.
	Late LateReceipt
}

// ProcessingTimeOf returns the processing time of a procedure.
func ProcessingTimeOf(p *Procedure) ProcessingTime {
	return ProcessingTime{Days: int(p.GetProcessingDays()), Hours: int(p.GetProcessingHours()), Late: p.GetLateReceipt()}
}

// DossierProcessingTime returns the processing time a dossier was received
// with.
func DossierProcessingTime(d *Dossier) ProcessingTime {
	return ProcessingTime{Days: int(d.GetProcessingDays()), Hours: int(d.GetProcessingHours()), Late: d.GetLateReceipt()}
}

// SameDayTime reports whether the time is "trong ngày": no working day
// and no hour beyond the day the receipt counts from.
func (pt ProcessingTime) SameDayTime() bool { return pt.Days == 0 && pt.Hours == 0 }

// Text is the processing time as the receipt and the look-up say it, in
// Vietnamese: "trong ngày", "05 ngày làm việc" or "08 giờ làm việc" (never
// "0 ngày làm việc").
func (pt ProcessingTime) Text() string {
	switch {
	case pt.Hours > 0:
		return fmt.Sprintf("%02d giờ làm việc", pt.Hours)
	case pt.Days > 0:
		return fmt.Sprintf("%02d ngày làm việc", pt.Days)
	default:
		return "trong ngày"
	}
}

// ProcessingText is ProcessingTime.Text of a dossier's or a procedure's
// figures, for templates.
func ProcessingText(days, hours int32) string {
	return ProcessingTime{Days: int(days), Hours: int(hours)}.Text()
}

// DueFor returns the due time of a dossier received at t with processing
// time pt. In working days: the end of working hours on the Days-th
// working day after the day the receipt counts from (StartDay; with
// SameDay, the day of receipt itself when it is a working day, whatever
// the hour). In working hours: when that much working time has passed,
// counted from the receipt, or after the cut-off (unless SameDay) from the
// first session of the next working day.
func (c *Calendar) DueFor(t time.Time, pt ProcessingTime) time.Time {
	cutoff := c.cutoff
	if pt.Late == SameDay {
		cutoff = Clock{24 * 60}
	}
	if pt.Hours > 0 {
		local := t.In(c.loc)
		d := DateOf(local, c.loc)
		if c.IsWorkingDay(d) && local.Hour()*60+local.Minute() >= cutoff.Minutes {
			// After the cut-off: the hours run from the next working
			// day's first session (AddWorkingHours starts there).
			t = c.NextWorkingDay(d).At(Clock{}, c.loc)
		}
		return c.AddWorkingHours(t, time.Duration(pt.Hours)*time.Hour)
	}
	return c.EndOfDay(c.AddWorkingDays(c.StartDayCutoff(t, cutoff), pt.Days))
}

// DeadlineFor is DueFor with whether the due time is provisional.
func (c *Calendar) DeadlineFor(t time.Time, pt ProcessingTime) Deadline {
	due := c.DueFor(t, pt)
	return Deadline{Time: due, Provisional: c.Provisional(DateOf(t, c.loc), DateOf(due, c.loc))}
}

// validateProcessingTime checks a procedure's processing time.
func validateProcessingTime(p *Procedure, v *Violations) {
	if p.GetProcessingDays() < 0 || p.GetProcessingDays() > 365 {
		v.Add("processing_days", "0 to 365 working days")
	}
	if h := p.GetProcessingHours(); h < 0 || h > MaxProcessingHours {
		v.Add("processing_hours", fmt.Sprintf("0 to %d working hours; a longer time is set in working days", MaxProcessingHours))
	} else if h > 0 && p.GetProcessingDays() != 0 {
		v.Add("processing_hours", "a processing time is in working days or in working hours, not both: set processing_days to 0")
	}
	if l := p.GetLateReceipt(); l != NextWorkingDay && !knownEnum(l, xasov1.LateReceipt_name) {
		v.Add("late_receipt", "UNSPECIFIED (from the next working day) or SAME_DAY")
	}
}
