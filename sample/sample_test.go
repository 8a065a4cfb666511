package sample

import (
	"fmt"
	"testing"

	"github.com/xaso/xaso/dossier"
)

func TestEmbeddedDataIsValid(t *testing.T) {
	cal := Calendar()
	if got := len(cal.Spec().Days); got < 20 {
		t.Fatalf("calendar lists %d days, want the 2025 and 2026 holidays", got)
	}
	procs := Procedures()
	if len(procs) < 20 {
		t.Fatalf("catalogue has %d procedures, want at least 20", len(procs))
	}
	seen := map[string]bool{}
	for _, p := range procs {
		if err := dossier.ValidateProcedure(p); err != nil {
			t.Errorf("procedure %s: %v", p.GetCode(), err)
		}
		if seen[p.GetCode()] {
			t.Errorf("procedure %s listed twice", p.GetCode())
		}
		seen[p.GetCode()] = true
	}
	prov := SampleProvince()
	codes := map[string]bool{}
	for _, c := range prov.Communes {
		if !dossier.ValidCommuneCode(c.Code) || codes[c.Code] || c.Name == "" {
			t.Errorf("commune %+v: code must be 5 digits, unique, with a name", c)
		}
		codes[c.Code] = true
	}
	if len(prov.Communes) < 10 {
		t.Errorf("province has %d communes, want at least 10", len(prov.Communes))
	}
}

// Every public holiday of the law (Labour Code 2019 art. 112(1), 24/11 from
// 2026) that falls on a weekday is off in each official year: a holiday
// missing from the embedded list, as 24 Nov 2026 once was, fails here.
func TestOfficialYearsHaveTheLawsHolidays(t *testing.T) {
	if err := checkHolidays(Calendar()); err != nil {
		t.Error(err)
	}
	// The check fires on a calendar without Culture Day.
	broken, err := dossier.ParseCalendar([]byte(`{"official_years":[2026],"days":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if checkHolidays(broken) == nil {
		t.Error("a 2026 calendar listing no holiday passed the check")
	}
}

func checkHolidays(cal *dossier.Calendar) error {
	for _, y := range cal.OfficialYears() {
		for _, d := range dossier.ComputedHolidays(y) {
			if cal.IsWorkingDay(d.Date) && !movedByNotice[d.Date.String()] {
				return fmt.Errorf("official %d: %s (%s) is a working day", y, d.Date, d.Name)
			}
		}
	}
	return nil
}

// movedByNotice are days the computation gives off that the government
// placed elsewhere: Tết Ất Tỵ's day in lieu for Saturday 1 Feb 2025 was
// given as Monday 27 Jan, swapped with Saturday 8 Feb.
var movedByNotice = map[string]bool{"2025-02-03": true}
