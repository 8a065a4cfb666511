package dossier

import (
	"fmt"
	"sort"
	"time"
)

// Public holidays computed from the law, for the years the government has
// not yet announced. Sources:
//
//   - Labour Code 2019 (45/2019/QH14) art. 112(1): Tết Dương lịch 1 day
//     (1/1); Tết Âm lịch 5 days; Victory Day 1 day (30/4); International
//     Labour Day 1 day (1/5); National Day 2 days (2/9 and one day before or
//     after); the Hùng Kings' day 1 day (10/3 lunar).
//   - Art. 112(1) as amended: Vietnam Culture Day, 24/11, a paid holiday
//     from 2026. The amending text is not in the repository.
//   - Art. 112(3): each year the Prime Minister fixes the days of Tết and
//     the day next to National Day; the computation below places them as the
//     government usually does and is provisional until the notice.
//   - Art. 111(3): a holiday that falls on the weekly rest day (Saturday or
//     Sunday for public servants) gives a day off on the next working day.
//
// The texts of the Labour Code are not in the repository; the articles are
// cited from the published code.

// cultureDayFrom is the first year 24/11 is a holiday.
const cultureDayFrom = 2026

// ComputedDay is one day off the calendar computes from the law.
type ComputedDay struct {
	Date Date
	Name string
}

// ComputedHolidays returns the weekdays off of year y computed from the law,
// in date order: the public holidays that fall on a weekday and a day off in
// lieu for each that falls on a weekend. The lunar holidays are left out for
// years the lunar conversion does not compute (outside 1900 to 2198).
func ComputedHolidays(y int) []ComputedDay {
	var days []ComputedDay
	add := func(d Date, name string) { days = append(days, ComputedDay{d, name}) }
	add(Date{y, time.January, 1}, "Tết Dương lịch")
	// Tết: 5 days, placed as in 2025 and 2026: the last day of the lunar
	// year and the first four of the new one.
	if tet, err := LunarToSolar(LunarDate{Year: y, Month: 1, Day: 1}); err == nil {
		add(tet.AddDays(-1), "Tết Âm lịch (ngày cuối năm)")
		for i := 0; i < 4; i++ {
			add(tet.AddDays(i), fmt.Sprintf("Tết Âm lịch (mùng %d)", i+1))
		}
	}
	if hung, err := LunarToSolar(LunarDate{Year: y, Month: 3, Day: 10}); err == nil {
		add(hung, "Giỗ Tổ Hùng Vương (10/3 âm lịch)")
	}
	add(Date{y, time.April, 30}, "Ngày Chiến thắng")
	add(Date{y, time.May, 1}, "Ngày Quốc tế lao động")
	// National Day: the day before, as the government chose in 2022 to 2026,
	// but the Friday after when 2/9 is a Thursday (as in 2021).
	nd := Date{y, time.September, 2}
	if nd.Weekday() == time.Thursday {
		add(nd.AddDays(1), "Quốc khánh (ngày liền kề)")
	} else {
		add(nd.AddDays(-1), "Quốc khánh (ngày liền kề)")
	}
	add(nd, "Quốc khánh")
	if y >= cultureDayFrom {
		add(Date{y, time.November, 24}, "Ngày Văn hóa Việt Nam")
	}
	sort.Slice(days, func(i, j int) bool { return days[i].Date.Before(days[j].Date) })

	holiday := map[Date]bool{}
	for _, d := range days {
		holiday[d.Date] = true
	}
	var out []ComputedDay
	for _, d := range days {
		if !isWeekend(d.Date) {
			out = append(out, d)
			continue
		}
		// Art. 111(3): the next weekday that is not already off.
		next := d.Date.AddDays(1)
		for isWeekend(next) || holiday[next] {
			next = next.AddDays(1)
		}
		holiday[next] = true
		out = append(out, ComputedDay{next, fmt.Sprintf("Nghỉ bù %s (%s rơi vào %s)", d.Name, d.Date, weekdayVI[d.Date.Weekday()])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date.Before(out[j].Date) })
	return out
}

func isWeekend(d Date) bool { return d.Weekday() == time.Saturday || d.Weekday() == time.Sunday }

var weekdayVI = [...]string{"Chủ nhật", "thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy"}
