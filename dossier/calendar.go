package dossier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Zone is Vietnam's time (UTC+7, no daylight saving). It is a fixed zone so
// that the binary needs no time-zone database.
var Zone = time.FixedZone("ICT", 7*3600)

// Date is a civil date, without time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the civil date of t in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q is not YYYY-MM-DD", s)
	}
	return DateOf(t, time.UTC), nil
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

func (d Date) noon() time.Time { return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC) }

// AddDays returns the date n calendar days later (earlier when n < 0).
func (d Date) AddDays(n int) Date { return DateOf(d.noon().AddDate(0, 0, n), time.UTC) }

// Weekday returns the day of the week.
func (d Date) Weekday() time.Weekday { return d.noon().Weekday() }

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.noon().Before(e.noon()) }

// At returns the instant at hh:mm on d in loc.
func (d Date) At(c Clock, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, c.Minutes/60, c.Minutes%60, 0, 0, loc)
}

// Clock is a time of day, in minutes after midnight.
type Clock struct{ Minutes int }

// ParseClock parses HH:MM.
func ParseClock(s string) (Clock, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return Clock{}, fmt.Errorf("time of day %q is not HH:MM", s)
	}
	return Clock{t.Hour()*60 + t.Minute()}, nil
}

// String formats the clock as HH:MM.
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Minutes/60, c.Minutes%60) }

// DayKind says what a listed day is.
type DayKind string

// Kinds of listed days.
const (
	// Holiday is a weekday off: a public holiday or a compensatory day off.
	Holiday DayKind = "holiday"
	// Workday is a weekend day worked to make up for a day off (làm bù).
	Workday DayKind = "workday"
)

// CalendarDay is one day the calendar lists as an exception to the week.
type CalendarDay struct {
	Date string  `json:"date"`
	Kind DayKind `json:"kind"`
	Name string  `json:"name"`
	// Note says where the day comes from, or that it is still to be checked.
	Note string `json:"note,omitempty"`
}

// CalendarSpec is the province's working calendar as data (JSON): working
// hours, the afternoon cut-off for receipts, and the days off and worked.
//
// Days lists the exceptions to the week the government announced. For an
// official year (OfficialYears) the list is complete: a weekday not listed
// is a working day. For any other year the calendar computes the public
// holidays of the Labour Code (see ComputedHolidays) and applies the days
// listed for that year on top; due dates over such days are provisional.
type CalendarSpec struct {
	// WorkEnd is when working hours end (HH:MM); due times fall then.
	// Empty means the end of the last session, or 17:00.
	WorkEnd string `json:"work_end"`
	// Sessions are the working hours of a working day, in order (HH:MM to
	// HH:MM), e.g. a morning and an afternoon session. Empty means 07:30 to
	// 11:30 and 13:00 to WorkEnd: 8 hours a day, 40 a week, as Decision
	// 188/1999/QĐ-TTg sets for public servants (not in the repository). The
	// last session ends at WorkEnd.
	Sessions []Session `json:"sessions,omitempty"`
	// Cutoff is the time of day after which a receipt counts from the next
	// working day (HH:MM). Empty means WorkEnd: the texts set no earlier hour.
	Cutoff string        `json:"cutoff,omitempty"`
	Days   []CalendarDay `json:"days"`
	// OfficialYears are the years whose days off and worked Days lists in
	// full, from the government's notices. When empty, every year that has
	// a listed day is official (as calendars written before this field mean).
	OfficialYears []int `json:"official_years,omitempty"`
}

// Calendar answers which days are working days and computes due dates in
// working days. Saturdays and Sundays are off unless listed as workdays;
// listed holidays are off; in a year that is not official, the computed
// public holidays are off too. It is immutable (but for a cache of the
// computed years) and safe for concurrent use.
type Calendar struct {
	loc      *time.Location
	workEnd  Clock
	cutoff   Clock
	sessions []session
	off      map[Date]string
	on       map[Date]string
	official map[int]bool
	spec     CalendarSpec
	computed *computedYears
}

// computedYears caches the holidays computed for years that are not official.
type computedYears struct {
	mu    sync.Mutex
	years map[int]map[Date]string
}

// holidays returns the computed holidays of year y.
func (cy *computedYears) holidays(y int) map[Date]string {
	cy.mu.Lock()
	defer cy.mu.Unlock()
	h, ok := cy.years[y]
	if !ok {
		h = map[Date]string{}
		for _, day := range ComputedHolidays(y) {
			h[day.Date] = day.Name
		}
		cy.years[y] = h
	}
	return h
}

// NewCalendar validates spec and builds the calendar for Vietnam's time zone.
func NewCalendar(spec CalendarSpec) (*Calendar, error) {
	c := &Calendar{loc: Zone, off: map[Date]string{}, on: map[Date]string{}, official: map[int]bool{}, spec: spec,
		computed: &computedYears{years: map[int]map[Date]string{}}}
	var err error
	if spec.WorkEnd == "" {
		spec.WorkEnd = "17:00"
		if n := len(spec.Sessions); n > 0 {
			spec.WorkEnd = spec.Sessions[n-1].End
		}
		c.spec.WorkEnd = spec.WorkEnd
	}
	if c.workEnd, err = ParseClock(spec.WorkEnd); err != nil {
		return nil, fmt.Errorf("work_end: %w", err)
	}
	if c.sessions, err = parseSessions(spec.Sessions, c.workEnd); err != nil {
		return nil, err
	}
	c.cutoff = c.workEnd
	if spec.Cutoff != "" {
		if c.cutoff, err = ParseClock(spec.Cutoff); err != nil {
			return nil, fmt.Errorf("cutoff: %w", err)
		}
		if c.cutoff.Minutes > c.workEnd.Minutes {
			return nil, fmt.Errorf("cutoff: %s is after work_end %s", spec.Cutoff, spec.WorkEnd)
		}
	}
	for i, day := range spec.Days {
		d, err := ParseDate(day.Date)
		if err != nil {
			return nil, fmt.Errorf("days[%d].date: %w", i, err)
		}
		if _, dup := c.off[d]; dup {
			return nil, fmt.Errorf("days[%d].date: %s is listed twice", i, d)
		}
		if _, dup := c.on[d]; dup {
			return nil, fmt.Errorf("days[%d].date: %s is listed twice", i, d)
		}
		weekend := d.Weekday() == time.Saturday || d.Weekday() == time.Sunday
		switch day.Kind {
		case Holiday:
			if weekend {
				return nil, fmt.Errorf("days[%d]: %s is a %s, already off; list the weekday it moves to", i, d, d.Weekday())
			}
			c.off[d] = day.Name
		case Workday:
			if !weekend {
				return nil, fmt.Errorf("days[%d]: %s is a %s, already a working day", i, d, d.Weekday())
			}
			c.on[d] = day.Name
		default:
			return nil, fmt.Errorf("days[%d].kind: %q is neither %q nor %q", i, day.Kind, Holiday, Workday)
		}
		if len(spec.OfficialYears) == 0 {
			c.official[d.Year] = true
		}
	}
	for i, y := range spec.OfficialYears {
		if y < 1900 || y > 9999 {
			return nil, fmt.Errorf("official_years[%d]: %d is not a year this calendar can hold", i, y)
		}
		if c.official[y] {
			return nil, fmt.Errorf("official_years[%d]: %d is listed twice", i, y)
		}
		c.official[y] = true
	}
	return c, nil
}

// ParseCalendar reads a CalendarSpec from JSON and builds the calendar.
func ParseCalendar(data []byte) (*Calendar, error) {
	var spec CalendarSpec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields() // a misspelt key would otherwise be silently ignored
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("parse calendar: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse calendar: more than one JSON value")
	}
	return NewCalendar(spec)
}

// Spec returns the calendar as data, days sorted by date.
func (c *Calendar) Spec() CalendarSpec {
	s := c.spec
	s.Days = append([]CalendarDay(nil), c.spec.Days...)
	sort.Slice(s.Days, func(i, j int) bool { return s.Days[i].Date < s.Days[j].Date })
	return s
}

// Location returns the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// IsWorkingDay reports whether d is a working day.
func (c *Calendar) IsWorkingDay(d Date) bool {
	if _, ok := c.on[d]; ok {
		return true
	}
	if _, ok := c.off[d]; ok {
		return false
	}
	if !c.official[d.Year] {
		if _, ok := c.computed.holidays(d.Year)[d]; ok {
			return false
		}
	}
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// IsOfficialYear reports whether the government's days off and worked for
// year y are in the calendar; when not, the year's holidays are computed.
func (c *Calendar) IsOfficialYear(y int) bool { return c.official[y] }

// OfficialYears returns the official years, in order.
func (c *Calendar) OfficialYears() []int {
	out := make([]int, 0, len(c.official))
	for y := range c.official {
		out = append(out, y)
	}
	sort.Ints(out)
	return out
}

// Provisional reports whether a period from a to b (both included, in
// either order) touches a year that is not official: anything computed over
// it in working days may change when central publishes that year.
func (c *Calendar) Provisional(a, b Date) bool {
	if b.Before(a) {
		a, b = b, a
	}
	for y := a.Year; y <= b.Year; y++ {
		if !c.official[y] {
			return true
		}
	}
	return false
}

// NextWorkingDay returns the first working day after d.
func (c *Calendar) NextWorkingDay(d Date) Date {
	for {
		d = d.AddDays(1)
		if c.IsWorkingDay(d) {
			return d
		}
	}
}

// StartDay is the working day a receipt at t counts from: the day itself when
// it is a working day and t is before the cut-off, else the next working day.
func (c *Calendar) StartDay(t time.Time) Date { return c.StartDayCutoff(t, c.cutoff) }

// StartDayCutoff is StartDay with a cut-off of the caller's, for a procedure
// whose own rule sets another hour than the calendar's.
func (c *Calendar) StartDayCutoff(t time.Time, cutoff Clock) Date {
	local := t.In(c.loc)
	d := DateOf(local, c.loc)
	if c.IsWorkingDay(d) && local.Hour()*60+local.Minute() < cutoff.Minutes {
		return d
	}
	return c.NextWorkingDay(d)
}

// Cutoff returns the calendar's cut-off for receipts.
func (c *Calendar) Cutoff() Clock { return c.cutoff }

// AddWorkingDays returns the n-th working day after d (d itself not counted,
// as the Civil Code counts periods in days); n = 0 returns d.
func (c *Calendar) AddWorkingDays(d Date, n int) Date {
	for ; n > 0; n-- {
		d = c.NextWorkingDay(d)
	}
	return d
}

// WorkingDaysBetween counts the working days after a up to and including b;
// 0 when b is not after a.
func (c *Calendar) WorkingDaysBetween(a, b Date) int {
	n := 0
	for d := a.AddDays(1); !b.Before(d); d = d.AddDays(1) {
		if c.IsWorkingDay(d) {
			n++
		}
	}
	return n
}

// EndOfDay returns the end of working hours on d.
func (c *Calendar) EndOfDay(d Date) time.Time { return d.At(c.workEnd, c.loc) }

// Due returns the due time of a dossier received at t with a processing time
// of days working days: the end of working hours on the due day.
func (c *Calendar) Due(t time.Time, days int) time.Time {
	return c.EndOfDay(c.AddWorkingDays(c.StartDay(t), days))
}

// Deadline is a due time and whether it rests on computed days.
type Deadline struct {
	// Time is the due time.
	Time time.Time
	// Provisional is true when the period from the receipt to the due time
	// touches a year that is not official: the due time is to be computed
	// again when central publishes that year's calendar.
	Provisional bool
}

// Deadline is Due with whether the due time is provisional.
func (c *Calendar) Deadline(t time.Time, days int) Deadline {
	due := c.Due(t, days)
	return Deadline{Time: due, Provisional: c.Provisional(DateOf(t, c.loc), DateOf(due, c.loc))}
}

// Timeliness judges a dossier finished at finished against its due time:
// before the due day is early, on it on time, after it late. A dossier that
// needed an apology counts as late whatever the new appointment.
func (c *Calendar) Timeliness(due, finished time.Time, apologized bool) Timeliness {
	if apologized {
		return Late
	}
	dd, fd := DateOf(due, c.loc), DateOf(finished, c.loc)
	switch {
	case fd.Before(dd):
		return Early
	case dd.Before(fd):
		return Late
	default:
		return OnTime
	}
}
