package dossier_test

import (
	"math/rand/v2"
	"testing"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// Due dates in years the embedded calendar does not cover (2027 on): the
// holidays are computed from the Labour Code and the due date is provisional.
func TestDueInComputedYears(t *testing.T) {
	cal := sample.Calendar()
	tests := []struct {
		name        string
		received    string
		days        int
		wantDue     string
		provisional bool
	}{
		{"official 2026 only", "2026-11-16 09:00", 1, "2026-11-17", false},
		// The issue: 1 Jan 2027 counted as a working day (art. 112(1)(a)).
		{"1 Jan 2027 is off", "2026-12-31 09:00", 1, "2027-01-04", true},
		{"a receipt in 2026 due in 2027 is provisional", "2026-12-30 09:00", 1, "2026-12-31", false},
		// Tết Đinh Mùi: 1/1 lunar = Sat 6 Feb 2027; 5 days from Fri 5 Feb
		// (art. 112(1)(b)); Sat 6 and Sun 7 give Wed 10 and Thu 11 off (art. 111(3)).
		{"Tết 2027 with two days in lieu", "2027-02-04 09:00", 1, "2027-02-12", true},
		// Giỗ Tổ 2027: 10/3 lunar = Fri 16 Apr 2027 (art. 112(1)(e)).
		{"Hùng Kings' day 2027", "2027-04-15 09:00", 1, "2027-04-19", true},
		// 1 May 2027 is a Saturday: Monday 3 May off (art. 111(3)).
		{"30 Apr and 1 May 2027 with Monday in lieu", "2027-04-29 09:00", 1, "2027-05-04", true},
		// 2 Sep 2027 is a Thursday: the adjacent day is Friday 3 Sep.
		{"National Day 2027", "2027-09-01 09:00", 1, "2027-09-06", true},
		{"Vietnam Culture Day 2027", "2027-11-23 09:00", 1, "2027-11-25", true},
		// Tết Mậu Thân: 1/1 lunar = Wed 26 Jan 2028.
		{"Tết 2028", "2028-01-24 09:00", 1, "2028-02-01", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dl := cal.Deadline(at(tc.received), tc.days)
			if d := dossier.DateOf(dl.Time, dossier.Zone).String(); d != tc.wantDue {
				t.Errorf("Deadline(%s, %d) = %s, want %s", tc.received, tc.days, d, tc.wantDue)
			}
			if dl.Provisional != tc.provisional {
				t.Errorf("provisional = %v, want %v", dl.Provisional, tc.provisional)
			}
			if !dl.Time.Equal(cal.Due(at(tc.received), tc.days)) {
				t.Errorf("Deadline and Due disagree")
			}
		})
	}
}

// Where the government moved no day, the computation gives the official
// 2026 calendar: only 2 Jan (swapped for 10 Jan, notice not in the
// repository) and 31 Aug (notice 9441/TB-BNV) are not computed.
func TestComputedAgreesWithOfficial2026(t *testing.T) {
	cal := sample.Calendar()
	computed := map[dossier.Date]bool{}
	for _, d := range dossier.ComputedHolidays(2026) {
		computed[d.Date] = true
		if cal.IsWorkingDay(d.Date) {
			t.Errorf("computed holiday %s (%s) is a working day in the official 2026 calendar", d.Date, d.Name)
		}
	}
	swapped := map[string]bool{"2026-01-02": true, "2026-08-31": true}
	for _, day := range cal.Spec().Days {
		d, _ := dossier.ParseDate(day.Date)
		if d.Year == 2026 && day.Kind == dossier.Holiday && !computed[d] && !swapped[day.Date] {
			t.Errorf("official holiday %s (%s) is not computed", day.Date, day.Name)
		}
	}
}

// A year listed as official is not computed; days listed for another year
// apply on top of the computed ones.
func TestOfficialYears(t *testing.T) {
	cal, err := dossier.ParseCalendar([]byte(`{"official_years":[2027],"days":[{"date":"2028-02-05","kind":"workday","name":"làm bù"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	jan1 := dossier.Date{Year: 2027, Month: 1, Day: 1}
	if !cal.IsWorkingDay(jan1) {
		t.Error("1 Jan 2027 is off in a calendar whose official 2027 lists nothing")
	}
	if cal.IsWorkingDay(dossier.Date{Year: 2028, Month: 1, Day: 26}) {
		t.Error("Tết 2028 is a working day in a year that is computed")
	}
	if !cal.IsWorkingDay(dossier.Date{Year: 2028, Month: 2, Day: 5}) {
		t.Error("a workday listed in a computed year is not a working day")
	}
	if cal.Provisional(jan1, jan1.AddDays(300)) || !cal.Provisional(jan1, dossier.Date{Year: 2028, Month: 1, Day: 1}) {
		t.Error("provisional must be true exactly when the period touches 2028")
	}
	if got := cal.OfficialYears(); len(got) != 1 || got[0] != 2027 {
		t.Errorf("official years %v, want [2027]", got)
	}
	// Old calendars, without official_years: the years with listed days.
	old, err := dossier.ParseCalendar([]byte(`{"work_end":"17:00","days":[{"date":"2026-11-24","kind":"holiday"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !old.IsOfficialYear(2026) || old.IsOfficialYear(2027) {
		t.Errorf("official years of an old calendar = %v, want [2026]", old.OfficialYears())
	}
}

// Properties over random receipts from 2025 to 2030 and periods up to 90
// working days: the due day is a working day (for n > 0), exactly n working
// days follow the start day up to it, and the due date is provisional
// exactly when the period touches a year after 2026.
func TestWorkingDaysProperties(t *testing.T) {
	cal := sample.Calendar()
	rng := rand.New(rand.NewPCG(1, 2))
	start := dossier.Date{Year: 2025, Month: 1, Day: 1}
	for i := 0; i < 2000; i++ {
		d := start.AddDays(rng.IntN(6 * 365))
		n := rng.IntN(91)
		due := cal.AddWorkingDays(d, n)
		if n > 0 && !cal.IsWorkingDay(due) {
			t.Fatalf("%s + %d working days = %s, not a working day", d, n, due)
		}
		if got := cal.WorkingDaysBetween(d, due); got != n {
			t.Fatalf("%s + %d working days = %s, but %d working days lie between", d, n, due, got)
		}
		if n > 0 && cal.WorkingDaysBetween(d, due.AddDays(-1)) != n-1 {
			t.Fatalf("%s + %d: the day before %s is not the (n-1)-th", d, n, due)
		}
		if want := due.Year > 2026; cal.Provisional(d, due) != want {
			t.Fatalf("Provisional(%s, %s) = %v, want %v", d, due, !want, want)
		}
	}
}

func TestComputedHolidaysAreWeekdays(t *testing.T) {
	for y := 2025; y <= 2100; y++ {
		seen := map[dossier.Date]bool{}
		for _, d := range dossier.ComputedHolidays(y) {
			if wd := d.Date.Weekday(); wd == 0 || wd == 6 || seen[d.Date] || d.Date.Year != y {
				t.Fatalf("%d: %s (%s) is a weekend day, a duplicate or out of the year", y, d.Date, d.Name)
			}
			seen[d.Date] = true
		}
		// 11 days of art. 112(1), 12 from 2026: each on a weekday or in lieu.
		if want := 11 + btoi(y >= 2026); len(seen) != want {
			t.Errorf("%d: %d days off computed, want %d", y, len(seen), want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDueProvisional(t *testing.T) {
	cal := sample.Calendar()
	proc := birth() // 5 working days
	d := &dossier.Dossier{}
	dossier.Apply(d, receive(t, cal, proc, at("2026-11-23 09:00")))
	if dossier.DueProvisional(d, cal) {
		t.Error("a dossier received and due in 2026 is provisional")
	}
	late := &dossier.Dossier{}
	dossier.Apply(late, receive(t, cal, proc, at("2026-12-28 09:00")))
	if !dossier.DueProvisional(late, cal) {
		t.Errorf("a dossier due %v, in 2027, is not provisional", late.GetDueTime().AsTime())
	}
	if dossier.DueProvisional(&dossier.Dossier{}, cal) {
		t.Error("a dossier without a due time is provisional")
	}
}
