package dossier_test

import (
	"testing"

	"github.com/xaso/xaso/dossier"
)

func date(t *testing.T, s string) dossier.Date {
	t.Helper()
	d, err := dossier.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Known dates of the Vietnamese lunar calendar, each with its source.
var lunarDates = []struct {
	solar  string
	lunar  dossier.LunarDate
	source string
}{
	// Tết (1/1 lunar).
	{"1985-01-21", dossier.LunarDate{Year: 1985, Month: 1, Day: 1}, "Tết Ất Sửu in Vietnam (UTC+7); China's was 20 Feb 1985"},
	{"2024-02-10", dossier.LunarDate{Year: 2024, Month: 1, Day: 1}, "Tết Giáp Thìn, official 2024 calendar"},
	{"2025-01-29", dossier.LunarDate{Year: 2025, Month: 1, Day: 1}, "Tết Ất Tỵ, embedded official 2025 calendar"},
	{"2026-02-17", dossier.LunarDate{Year: 2026, Month: 1, Day: 1}, "Tết Bính Ngọ, embedded official 2026 calendar"},
	{"2027-02-06", dossier.LunarDate{Year: 2027, Month: 1, Day: 1}, "Tết Đinh Mùi, published lunar calendars"},
	{"2028-01-26", dossier.LunarDate{Year: 2028, Month: 1, Day: 1}, "Tết Mậu Thân, published lunar calendars"},
	// The new moon of 2 Feb 2030 is at 16:07 UT: 23:07 in Vietnam, 00:07 on
	// 3 Feb in China. 3 Feb 2030 is the Chinese New Year, not Tết.
	{"2030-02-02", dossier.LunarDate{Year: 2030, Month: 1, Day: 1}, "Tết Canh Tuất in Vietnam (UTC+7); China's is 3 Feb 2030"},
	{"2007-02-17", dossier.LunarDate{Year: 2007, Month: 1, Day: 1}, "Tết Đinh Hợi in Vietnam (UTC+7); China's was 18 Feb 2007"},
	// The last day of the year before Tết (29 or 30 tháng Chạp).
	{"2025-01-28", dossier.LunarDate{Year: 2024, Month: 12, Day: 29}, "29 tháng Chạp Giáp Thìn, embedded 2025 calendar"},
	{"2026-02-16", dossier.LunarDate{Year: 2025, Month: 12, Day: 29}, "29 tháng Chạp Ất Tỵ, embedded 2026 calendar"},
	{"2024-02-09", dossier.LunarDate{Year: 2023, Month: 12, Day: 30}, "30 tháng Chạp Quý Mão, official 2024 calendar"},
	// The Hùng Kings' day (10/3 lunar).
	{"2023-04-29", dossier.LunarDate{Year: 2023, Month: 3, Day: 10}, "Giỗ Tổ 2023, a Saturday (after leap month 2)"},
	{"2024-04-18", dossier.LunarDate{Year: 2024, Month: 3, Day: 10}, "Giỗ Tổ 2024, official 2024 calendar"},
	{"2025-04-07", dossier.LunarDate{Year: 2025, Month: 3, Day: 10}, "Giỗ Tổ 2025, embedded 2025 calendar"},
	{"2026-04-26", dossier.LunarDate{Year: 2026, Month: 3, Day: 10}, "Giỗ Tổ 2026, a Sunday, embedded 2026 calendar"},
	// Leap months.
	{"2023-03-22", dossier.LunarDate{Year: 2023, Month: 2, Leap: true, Day: 1}, "leap month 2 of Quý Mão 2023"},
	{"2025-07-25", dossier.LunarDate{Year: 2025, Month: 6, Leap: true, Day: 1}, "leap month 6 of Ất Tỵ 2025"},
}

func TestLunarKnownDates(t *testing.T) {
	for _, tc := range lunarDates {
		t.Run(tc.solar, func(t *testing.T) {
			d := date(t, tc.solar)
			got, err := dossier.SolarToLunar(d)
			if err != nil || got != tc.lunar {
				t.Errorf("SolarToLunar(%s) = %v, %v; want %v (%s)", tc.solar, got, err, tc.lunar, tc.source)
			}
			back, err := dossier.LunarToSolar(tc.lunar)
			if err != nil || back != d {
				t.Errorf("LunarToSolar(%v) = %v, %v; want %s (%s)", tc.lunar, back, err, tc.solar, tc.source)
			}
		})
	}
}

// Every day from 1950 to 2100 converts to a lunar date and back, and
// consecutive days are consecutive lunar days or a new month's first.
func TestLunarRoundTrip(t *testing.T) {
	last := 2100
	if testing.Short() {
		last = 1960
	}
	d := dossier.Date{Year: 1950, Month: 1, Day: 1}
	prev, err := dossier.SolarToLunar(d.AddDays(-1))
	if err != nil {
		t.Fatal(err)
	}
	for ; d.Year <= last; d = d.AddDays(1) {
		l, err := dossier.SolarToLunar(d)
		if err != nil {
			t.Fatal(err)
		}
		if l.Day != prev.Day+1 && !(l.Day == 1 && prev.Day >= 29) {
			t.Fatalf("%s is %v after %v", d, l, prev)
		}
		back, err := dossier.LunarToSolar(l)
		if err != nil || back != d {
			t.Fatalf("%s → %v → %v, %v", d, l, back, err)
		}
		prev = l
	}
}

func TestLunarRejectsMissingDates(t *testing.T) {
	for _, l := range []dossier.LunarDate{
		{Year: 2024, Month: 2, Leap: true, Day: 1}, // 2024 has no leap month
		{Year: 2023, Month: 3, Leap: true, Day: 1}, // 2023's leap month is 2
		{Year: 2026, Month: 13, Day: 1},
		{Year: 2026, Month: 1, Day: 31},
		{Year: 1800, Month: 1, Day: 1},
		{Year: 2025, Month: 12, Day: 30}, // Chạp of Ất Tỵ has 29 days
	} {
		if d, err := dossier.LunarToSolar(l); err == nil {
			t.Errorf("LunarToSolar(%v) = %s, want an error", l, d)
		}
	}
	if _, err := dossier.SolarToLunar(dossier.Date{Year: 2500, Month: 1, Day: 1}); err == nil {
		t.Error("SolarToLunar(2500-01-01): want an error")
	}
}
