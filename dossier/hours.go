package dossier

import (
	"fmt"
	"time"
)

// Working hours. Decree 118/2025/NĐ-CP sets some periods in working hours:
// art. 17(2)(c), the desk tells an online applicant within 8 working hours
// whether the dossier is accepted; art. 24(3), fees paid online reach the budget within
// 8 working hours. Such periods run only inside the calendar's sessions on
// working days.

// Session is one span of working hours in a day, as data (HH:MM).
type Session struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// session is a parsed Session, in minutes after midnight.
type session struct{ start, end Clock }

// defaultMorning and defaultAfternoonStart are the working hours when the
// calendar names none: 07:30–11:30 and 13:00 to the end of work.
var (
	defaultMorning        = session{Clock{7*60 + 30}, Clock{11*60 + 30}}
	defaultAfternoonStart = Clock{13 * 60}
)

// parseSessions checks the sessions of a calendar and returns them parsed;
// with none, it returns the default ones that end at workEnd.
func parseSessions(in []Session, workEnd Clock) ([]session, error) {
	if len(in) == 0 {
		switch {
		case workEnd.Minutes > defaultAfternoonStart.Minutes:
			return []session{defaultMorning, {defaultAfternoonStart, workEnd}}, nil
		case workEnd.Minutes > defaultMorning.start.Minutes:
			return []session{{defaultMorning.start, Clock{min(workEnd.Minutes, defaultMorning.end.Minutes)}}}, nil
		case workEnd.Minutes > 0:
			return []session{{Clock{0}, workEnd}}, nil
		default:
			return nil, fmt.Errorf("work_end: %s leaves no working hours", workEnd)
		}
	}
	out := make([]session, len(in))
	for i, s := range in {
		var err error
		if out[i].start, err = ParseClock(s.Start); err != nil {
			return nil, fmt.Errorf("sessions[%d].start: %w", i, err)
		}
		if out[i].end, err = ParseClock(s.End); err != nil {
			return nil, fmt.Errorf("sessions[%d].end: %w", i, err)
		}
		if out[i].end.Minutes <= out[i].start.Minutes {
			return nil, fmt.Errorf("sessions[%d]: ends at %s, not after its start %s", i, s.End, s.Start)
		}
		if i > 0 && out[i].start.Minutes < out[i-1].end.Minutes {
			return nil, fmt.Errorf("sessions[%d]: starts at %s, before the session before it ends", i, s.Start)
		}
	}
	if last := out[len(out)-1].end; last != workEnd {
		return nil, fmt.Errorf("sessions: the last ends at %s but work_end is %s", last, workEnd)
	}
	return out, nil
}

// Sessions returns the working hours of a working day.
func (c *Calendar) Sessions() []Session {
	out := make([]Session, len(c.sessions))
	for i, s := range c.sessions {
		out[i] = Session{s.start.String(), s.end.String()}
	}
	return out
}

// DayHours returns the working time of one working day.
func (c *Calendar) DayHours() time.Duration {
	var d time.Duration
	for _, s := range c.sessions {
		d += time.Duration(s.end.Minutes-s.start.Minutes) * time.Minute
	}
	return d
}

// AddWorkingHours returns the instant when d of working time has passed
// after t, counting only the sessions of working days: a receipt out of
// hours starts counting at the next session. A period that ends with a
// session ends at that session's end, not at the next one's start.
func (c *Calendar) AddWorkingHours(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	local := t.In(c.loc)
	day := DateOf(local, c.loc)
	pos := local.Sub(day.At(Clock{}, c.loc)) // time since midnight
	for {
		if c.IsWorkingDay(day) {
			midnight := day.At(Clock{}, c.loc)
			for _, s := range c.sessions {
				start, end := time.Duration(s.start.Minutes)*time.Minute, time.Duration(s.end.Minutes)*time.Minute
				if pos >= end {
					continue
				}
				from := max(pos, start)
				if d <= end-from {
					return midnight.Add(from + d)
				}
				d -= end - from
				pos = end
			}
		}
		day, pos = c.NextWorkingDay(day), 0
	}
}

// WorkingHoursBetween returns the working time from a to b, counting only
// the sessions of working days; 0 when b is not after a.
func (c *Calendar) WorkingHoursBetween(a, b time.Time) time.Duration {
	var total time.Duration
	if !b.After(a) {
		return 0
	}
	for day := DateOf(a, c.loc); !DateOf(b, c.loc).Before(day); day = day.AddDays(1) {
		if !c.IsWorkingDay(day) {
			continue
		}
		for _, s := range c.sessions {
			from, to := day.At(s.start, c.loc), day.At(s.end, c.loc)
			if a.After(from) {
				from = a
			}
			if b.Before(to) {
				to = b
			}
			if to.After(from) {
				total += to.Sub(from)
			}
		}
	}
	return total
}

// DeadlineHours is AddWorkingHours from a receipt at t, with whether the
// result rests on computed days (see Deadline).
func (c *Calendar) DeadlineHours(t time.Time, d time.Duration) Deadline {
	due := c.AddWorkingHours(t, d)
	return Deadline{Time: due, Provisional: c.Provisional(DateOf(t, c.loc), DateOf(due, c.loc))}
}
