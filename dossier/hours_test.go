package dossier_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

func TestAddWorkingHours(t *testing.T) {
	cal := sample.Calendar() // default sessions 07:30–11:30, 13:00–17:00
	tests := []struct {
		name, from string
		hours      time.Duration
		want       string
	}{
		// Decree 118 art. 17(2)(c): 8 working hours to answer an online filing.
		{"8 hours from Monday morning", "2026-11-16 09:00", 8 * time.Hour, "2026-11-17 09:00"},
		{"over the lunch break", "2026-11-16 11:00", time.Hour, "2026-11-16 13:30"},
		{"ends with the morning session", "2026-11-16 10:30", time.Hour, "2026-11-16 11:30"},
		{"filed at night counts from the next session", "2026-11-16 20:00", 2 * time.Hour, "2026-11-17 09:30"},
		{"filed at lunch counts from 13:00", "2026-11-16 12:10", 30 * time.Minute, "2026-11-16 13:30"},
		{"over the weekend", "2026-11-20 16:00", 2 * time.Hour, "2026-11-23 08:30"},
		{"over Culture Day 24 Nov 2026", "2026-11-23 16:00", 8 * time.Hour, "2026-11-25 16:00"},
		{"over the make-up Saturday 22 Aug 2026", "2026-08-21 16:30", time.Hour, "2026-08-22 08:00"},
		{"zero", "2026-11-16 20:00", 0, "2026-11-16 20:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cal.AddWorkingHours(at(tc.from), tc.hours).In(dossier.Zone).Format("2006-01-02 15:04")
			if got != tc.want {
				t.Errorf("AddWorkingHours(%s, %v) = %s, want %s", tc.from, tc.hours, got, tc.want)
			}
		})
	}
}

func TestSessionsSetting(t *testing.T) {
	cal, err := dossier.ParseCalendar([]byte(`{"sessions":[{"start":"07:30","end":"11:30"},{"start":"13:30","end":"17:00"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cal.DayHours(); got != 7*time.Hour+30*time.Minute {
		t.Errorf("day of %v, want 7h30", got)
	}
	if got := cal.EndOfDay(dossier.Date{Year: 2026, Month: 11, Day: 16}).In(dossier.Zone).Format("15:04"); got != "17:00" {
		t.Errorf("work ends at %s, want the last session's end 17:00", got)
	}
	if got := cal.AddWorkingHours(at("2026-11-16 11:00"), time.Hour).In(dossier.Zone).Format("15:04"); got != "14:00" {
		t.Errorf("an hour from 11:00 ends at %s, want 14:00", got)
	}
	old, err := dossier.ParseCalendar([]byte(`{"work_end":"16:30"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s := old.Sessions(); len(s) != 2 || s[1].End != "16:30" {
		t.Errorf("sessions of a calendar with work_end 16:30 = %v", s)
	}
	for name, js := range map[string]string{
		"session backwards":     `{"sessions":[{"start":"11:30","end":"07:30"}]}`,
		"sessions overlap":      `{"sessions":[{"start":"07:30","end":"12:00"},{"start":"11:00","end":"17:00"}]}`,
		"last end not work_end": `{"work_end":"17:00","sessions":[{"start":"07:30","end":"16:00"}]}`,
		"bad clock":             `{"sessions":[{"start":"7h","end":"11:30"}]}`,
		"no hours":              `{"work_end":"00:00"}`,
	} {
		if _, err := dossier.ParseCalendar([]byte(js)); err == nil {
			t.Errorf("%s: accepted %s", name, js)
		}
	}
}

// Adding h working hours and measuring back gives h, and the end is inside
// a session of a working day.
func TestWorkingHoursProperties(t *testing.T) {
	cal := sample.Calendar()
	rng := rand.New(rand.NewPCG(3, 4))
	base := at("2026-01-01 00:00")
	for i := 0; i < 2000; i++ {
		from := base.Add(time.Duration(rng.IntN(3*365*24*60)) * time.Minute)
		h := time.Duration(1+rng.IntN(60*40)) * time.Minute
		end := cal.AddWorkingHours(from, h)
		if got := cal.WorkingHoursBetween(from, end); got != h {
			t.Fatalf("from %s + %v = %s, but %v of working time lie between", from, h, end, got)
		}
		d := dossier.DateOf(end, dossier.Zone)
		if !cal.IsWorkingDay(d) || cal.WorkingHoursBetween(end.Add(-time.Minute), end) != time.Minute {
			t.Fatalf("from %s + %v ends at %s, out of working hours", from, h, end)
		}
		if dl := cal.DeadlineHours(from, h); dl.Provisional != (d.Year > 2026) || !dl.Time.Equal(end) {
			t.Fatalf("DeadlineHours(%s, %v) = %+v", from, h, dl)
		}
	}
}

// A procedure may carry its own cut-off (e.g. 15:00, the hour after which
// Decree 118 art. 18(2) lets a paper dossier go to the competent body the
// next morning) instead of the calendar's.
func TestStartDayCutoff(t *testing.T) {
	cal := sample.Calendar()
	three := dossier.Clock{Minutes: 15 * 60}
	if got := cal.StartDayCutoff(at("2026-11-16 15:30"), three).String(); got != "2026-11-17" {
		t.Errorf("15:30 with a 15:00 cut-off counts from %s, want 2026-11-17", got)
	}
	if got := cal.StartDay(at("2026-11-16 15:30")).String(); got != "2026-11-16" {
		t.Errorf("15:30 with the calendar's cut-off (17:00) counts from %s, want the same day", got)
	}
	if got := cal.Cutoff().String(); got != "17:00" {
		t.Errorf("calendar cut-off %s, want work_end 17:00", got)
	}
}
