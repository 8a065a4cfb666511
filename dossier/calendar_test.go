package dossier_test

import (
	"testing"
	"time"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, dossier.Zone)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDue(t *testing.T) {
	cal := sample.Calendar()
	tests := []struct {
		name     string
		received string
		days     int
		wantDue  string
	}{
		{"same-day procedure on a working morning", "2026-11-23 09:00", 0, "2026-11-23"},
		{"one day from Monday", "2026-11-16 09:00", 1, "2026-11-17"},
		{"three days over a weekend", "2026-11-26 10:00", 3, "2026-12-01"},
		{"after the cut-off counts from the next working day", "2026-11-16 17:30", 0, "2026-11-17"},
		{"exactly at the cut-off counts from the next working day", "2026-11-16 17:00", 1, "2026-11-18"},
		{"received on a Saturday", "2026-11-28 09:00", 1, "2026-12-01"},
		{"received on a Sunday evening", "2026-11-29 20:00", 0, "2026-11-30"},
		{"Tết Bính Ngọ: five days off Mon 16 to Fri 20 Feb", "2026-02-13 09:00", 1, "2026-02-23"},
		{"received in Tết counts from the first day back", "2026-02-18 09:00", 0, "2026-02-23"},
		{"Tết Ất Tỵ and the worked Saturday 8 Feb 2025", "2025-02-07 09:00", 1, "2025-02-08"},
		{"Hùng Kings' day 2026 falls on Sunday: Monday 27 Apr is off", "2026-04-24 09:00", 1, "2026-04-28"},
		{"30 Apr and 1 May 2026, then the weekend", "2026-04-29 09:00", 1, "2026-05-04"},
		{"Saturday 26 Apr 2025 was worked for Friday 2 May", "2025-04-25 16:00", 1, "2025-04-26"},
		{"2 Sep 2025 with the adjacent Monday", "2025-08-29 09:00", 1, "2025-09-03"},
		{"Tết Dương lịch 2026 with the swapped Friday", "2025-12-31 09:00", 1, "2026-01-05"},
		{"twenty days for land over Tết 2026", "2026-02-02 08:00", 20, "2026-03-09"},
		// Notice 9441/TB-BNV (not in the repository): Sat 22 Aug 2026 worked
		// for Mon 31 Aug; 1 and 2 Sep are National Day (Labour Code art. 112(1)(đ)).
		{"Saturday 22 Aug 2026 is a make-up working day", "2026-08-21 16:00", 1, "2026-08-22"},
		{"31 Aug to 2 Sep 2026 off", "2026-08-28 09:00", 1, "2026-09-03"},
		// Vietnam Culture Day, a paid holiday from 2026 (art. 112(1) as amended).
		{"24 Nov 2026, Vietnam Culture Day, is off", "2026-11-23 09:00", 1, "2026-11-25"},
		{"a receipt on the evening before Culture Day", "2026-11-23 17:30", 0, "2026-11-25"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cal.Due(at(tc.received), tc.days)
			if d := dossier.DateOf(got, dossier.Zone).String(); d != tc.wantDue {
				t.Errorf("Due(%s, %d) = %s, want %s", tc.received, tc.days, d, tc.wantDue)
			}
			if h := got.In(dossier.Zone).Format("15:04"); h != "17:00" {
				t.Errorf("due time of day = %s, want the end of working hours 17:00", h)
			}
		})
	}
}

func TestCutoffSetting(t *testing.T) {
	cal, err := dossier.NewCalendar(dossier.CalendarSpec{WorkEnd: "17:00", Cutoff: "15:00"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cal.StartDay(at("2026-11-16 15:30")).String(); got != "2026-11-17" {
		t.Errorf("with a 15:00 cut-off, 15:30 counts from %s, want 2026-11-17", got)
	}
	if got := cal.StartDay(at("2026-11-16 14:59")).String(); got != "2026-11-16" {
		t.Errorf("with a 15:00 cut-off, 14:59 counts from %s, want the same day", got)
	}
}

func TestTimeliness(t *testing.T) {
	cal := sample.Calendar()
	due := at("2026-11-25 17:00")
	tests := []struct {
		finished   string
		apologized bool
		want       dossier.Timeliness
	}{
		{"2026-11-24 16:00", false, dossier.Early},
		{"2026-11-25 08:00", false, dossier.OnTime},
		{"2026-11-25 19:00", false, dossier.OnTime},
		{"2026-11-26 08:00", false, dossier.Late},
		{"2026-11-24 16:00", true, dossier.Late},
	}
	for _, tc := range tests {
		if got := cal.Timeliness(due, at(tc.finished), tc.apologized); got != tc.want {
			t.Errorf("finished %s (apologized %v): %v, want %v", tc.finished, tc.apologized, got, tc.want)
		}
	}
}

func TestWorkingDaysBetween(t *testing.T) {
	cal := sample.Calendar()
	a, _ := dossier.ParseDate("2026-02-13")
	b, _ := dossier.ParseDate("2026-02-24")
	if got := cal.WorkingDaysBetween(a, b); got != 2 {
		t.Errorf("working days after 13 Feb up to 24 Feb 2026 = %d, want 2 (23 and 24; Tết in between)", got)
	}
	if got := cal.WorkingDaysBetween(b, a); got != 0 {
		t.Errorf("backwards = %d, want 0", got)
	}
}

func TestCalendarRejectsBadData(t *testing.T) {
	bad := map[string]string{
		"holiday on a weekend": `{"days":[{"date":"2026-11-28","kind":"holiday"}]}`,
		"workday on a weekday": `{"days":[{"date":"2026-11-27","kind":"workday"}]}`,
		"bad date":             `{"days":[{"date":"2026-13-01","kind":"holiday"}]}`,
		"unknown kind":         `{"days":[{"date":"2026-11-27","kind":"feast"}]}`,
		"listed twice":         `{"days":[{"date":"2026-11-27","kind":"holiday"},{"date":"2026-11-27","kind":"holiday"}]}`,
		"cut-off after end":    `{"work_end":"17:00","cutoff":"18:00"}`,
		"bad clock":            `{"work_end":"5pm"}`,
		"not JSON":             `{`,
		"official year twice":  `{"official_years":[2026,2026]}`,
		"official year 0":      `{"official_years":[0]}`,
	}
	for name, js := range bad {
		if _, err := dossier.ParseCalendar([]byte(js)); err == nil {
			t.Errorf("%s: accepted %s", name, js)
		}
	}
}

func FuzzParseCalendar(f *testing.F) {
	f.Add(string(sample.CalendarJSON()))
	f.Add(`{"work_end":"16:30","cutoff":"15:00","days":[{"date":"2027-02-08","kind":"holiday"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		cal, err := dossier.ParseCalendar([]byte(s))
		if err != nil {
			return
		}
		// A valid calendar always finds a working day and keeps due times
		// at or after the receipt.
		recv := at("2026-11-23 09:00")
		if due := cal.Due(recv, 3); due.Before(recv) {
			t.Fatalf("due %v before receipt", due)
		}
	})
}
