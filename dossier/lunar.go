package dossier

import (
	"fmt"
	"math"
)

// The Vietnamese lunisolar calendar (âm lịch), computed astronomically for
// Vietnam's time zone, UTC+7. It follows the rules of the traditional
// calendar as Hồ Ngọc Đức describes them in "Thuật toán tính âm lịch":
//
//   - a month begins on the civil day (in UTC+7) that holds a new moon;
//   - month 11 is the month that holds the winter solstice;
//   - a lunar year with 13 months between two months 11 has a leap month:
//     the first month after month 11 that holds no major solar term (trung
//     khí, the sun's longitude crossing a multiple of 30°), which takes the
//     number of the month before it.
//
// New moons and the sun's longitude come from the truncated series in Jean
// Meeus, "Astronomical Algorithms" (ch. 49 and ch. 25, low accuracy), as
// that description uses them; they are good to well under an hour for the
// years this package computes. Computing in UTC+7 rather than China's UTC+8
// is what makes some Vietnamese years differ from the Chinese calendar (Tết
// 1985 is on 21 January in Vietnam, 20 February in China).

// lunarZone is Vietnam's offset from UTC in hours.
const lunarZone = 7.0

// Years the lunar conversion is used for. The series lose accuracy far
// from 2000 and the law computed here is recent; outside these years the
// calendar computes no lunar holiday.
const (
	lunarFirstYear = 1900
	lunarLastYear  = 2199
)

// synodicMonth is the mean length of a lunation in days.
const synodicMonth = 29.530588853

// jdEpoch2000 is the Julian day number of 1 January 2000.
const jdEpoch2000 = 2451545

// newMoon1900 is the Julian date of the mean new moon of 1 January 1900
// (13:52 UT), lunation 0 of the series below.
const newMoon1900 = 2415021.076998695

// LunarDate is a date of the Vietnamese lunar calendar.
type LunarDate struct {
	// Year is the Gregorian year in which the lunar year begins (Tết).
	Year int
	// Month is 1 to 12; Leap marks the leap month that repeats it.
	Month int
	Leap  bool
	// Day is 1 to 30.
	Day int
}

// String formats the lunar date as day/month[ leap]/year.
func (l LunarDate) String() string {
	leap := ""
	if l.Leap {
		leap = " nhuận"
	}
	return fmt.Sprintf("%d/%d%s/%d âm lịch", l.Day, l.Month, leap, l.Year)
}

// julianDay returns the Julian day number of d (proleptic Gregorian).
func julianDay(d Date) int {
	return jdEpoch2000 + int(math.Round(d.noon().Sub(Date{2000, 1, 1}.noon()).Hours()/24))
}

// dateOfJulianDay is the inverse of julianDay.
func dateOfJulianDay(jd int) Date { return Date{2000, 1, 1}.AddDays(jd - jdEpoch2000) }

// newMoon returns the Julian date (UT, fractional) of lunation k, counted
// from the new moon of January 1900 (Meeus ch. 49, truncated).
func newMoon(k int) float64 {
	const rad = math.Pi / 180
	kf := float64(k)
	t := kf / 1236.85 // Julian centuries from 1900
	t2, t3 := t*t, t*t*t
	jd := 2415020.75933 + 29.53058868*kf + 0.0001178*t2 - 0.000000155*t3
	jd += 0.00033 * math.Sin((166.56+132.87*t-0.009173*t2)*rad)
	m := (359.2242 + 29.10535608*kf - 0.0000333*t2 - 0.00000347*t3) * rad   // the sun's mean anomaly
	mm := (306.0253 + 385.81691806*kf + 0.0107306*t2 + 0.00001236*t3) * rad // the moon's mean anomaly
	f := (21.2964 + 390.67050646*kf - 0.0016528*t2 - 0.00000239*t3) * rad   // the moon's argument of latitude
	c := (0.1734-0.000393*t)*math.Sin(m) + 0.0021*math.Sin(2*m) -
		0.4068*math.Sin(mm) + 0.0161*math.Sin(2*mm) - 0.0004*math.Sin(3*mm) +
		0.0104*math.Sin(2*f) - 0.0051*math.Sin(m+mm) - 0.0074*math.Sin(m-mm) +
		0.0004*math.Sin(2*f+m) - 0.0004*math.Sin(2*f-m) - 0.0006*math.Sin(2*f+mm) +
		0.0010*math.Sin(2*f-mm) + 0.0005*math.Sin(m+2*mm)
	var deltaT float64 // TT − UT, in days
	if t < -11 {
		deltaT = 0.001 + 0.000839*t + 0.0002261*t2 - 0.00000845*t3 - 0.000000081*t*t3
	} else {
		deltaT = -0.000278 + 0.000265*t + 0.000262*t2
	}
	return jd + c - deltaT
}

// newMoonDay returns the Julian day number of the civil day, in Vietnam's
// zone, that holds lunation k.
func newMoonDay(k int) int { return int(math.Floor(newMoon(k) + 0.5 + lunarZone/24)) }

// sunLongitude returns the sun's apparent longitude, in radians in [0, 2π),
// at Julian date jd (Meeus ch. 25, low accuracy).
func sunLongitude(jd float64) float64 {
	const rad = math.Pi / 180
	t := (jd - 2451545.0) / 36525 // Julian centuries from J2000
	t2 := t * t
	m := 357.52910 + 35999.05030*t - 0.0001559*t2 - 0.00000048*t*t2 // mean anomaly, degrees
	l0 := 280.46645 + 36000.76983*t + 0.0003032*t2                  // mean longitude, degrees
	dl := (1.914600-0.004817*t-0.000014*t2)*math.Sin(rad*m) +
		(0.019993-0.000101*t)*math.Sin(2*rad*m) + 0.000290*math.Sin(3*rad*m)
	l := (l0 + dl) * rad
	l -= 2 * math.Pi * math.Floor(l/(2*math.Pi))
	return l
}

// sunSector returns which 30° sector (0 to 11) the sun's longitude is in at
// the start of civil day jd in Vietnam's zone; sector 9 begins at the
// winter solstice (270°).
func sunSector(jd int) int {
	return int(math.Floor(sunLongitude(float64(jd)-0.5-lunarZone/24) / math.Pi * 6))
}

// lunationBefore returns the number of the lunation nearest before or at
// Julian day jd, counted as newMoon counts them.
func lunationBefore(jd int) int { return int(math.Floor((float64(jd) - newMoon1900) / synodicMonth)) }

// month11 returns the Julian day number of the first day of the lunar month
// 11 that holds the winter solstice of Gregorian year y.
func month11(y int) int {
	k := lunationBefore(julianDay(Date{y, 12, 31}))
	nm := newMoonDay(k)
	if sunSector(nm) >= 9 { // the month begins after the solstice: take the one before
		nm = newMoonDay(k - 1)
	}
	return nm
}

// leapOffset returns, for a 13-month lunar year whose month 11 begins on
// Julian day a11, how many months after a11 the leap month begins: the
// first month holding no major solar term.
func leapOffset(a11 int) int {
	k := int(math.Floor((float64(a11)-newMoon1900)/synodicMonth + 0.5))
	i := 1
	arc := sunSector(newMoonDay(k + i))
	for {
		last := arc
		i++
		arc = sunSector(newMoonDay(k + i))
		if arc == last || i >= 14 {
			return i - 1
		}
	}
}

// SolarToLunar returns the Vietnamese lunar date of d, a Gregorian date
// between 1900 and 2199.
func SolarToLunar(d Date) (LunarDate, error) {
	if d.Year < lunarFirstYear || d.Year > lunarLastYear {
		return LunarDate{}, fmt.Errorf("lunar date of %s: only years %d to %d are computed", d, lunarFirstYear, lunarLastYear)
	}
	jd := julianDay(d)
	// The mean lunation is only near the true one: step back until the
	// month found begins on or before d.
	k := lunationBefore(jd) + 1
	start := newMoonDay(k)
	for start > jd {
		k--
		start = newMoonDay(k)
	}
	a11, b11 := month11(d.Year), 0
	year := d.Year
	if a11 >= start {
		b11, a11 = a11, month11(d.Year-1)
	} else {
		year, b11 = d.Year+1, month11(d.Year+1)
	}
	out := LunarDate{Day: jd - start + 1}
	diff := (start - a11) / 29 // months since month 11
	out.Month = diff + 11
	if b11-a11 > 365 { // 13 months: a leap year
		if lo := leapOffset(a11); diff >= lo {
			out.Month = diff + 10
			out.Leap = diff == lo
		}
	}
	if out.Month > 12 {
		out.Month -= 12
	}
	if out.Month >= 11 && diff < 4 {
		year--
	}
	out.Year = year
	return out, nil
}

// LunarToSolar returns the Gregorian date of the Vietnamese lunar date l.
// It fails when the lunar date does not exist (a leap month the year does
// not have, a 30th in a 29-day month) or is outside the years computed.
func LunarToSolar(l LunarDate) (Date, error) {
	if l.Year < lunarFirstYear || l.Year > lunarLastYear-1 || l.Month < 1 || l.Month > 12 || l.Day < 1 || l.Day > 30 {
		return Date{}, fmt.Errorf("lunar date %s: out of range", l)
	}
	var a11, b11 int
	if l.Month < 11 {
		a11, b11 = month11(l.Year-1), month11(l.Year)
	} else {
		a11, b11 = month11(l.Year), month11(l.Year+1)
	}
	k := int(math.Floor(0.5 + (float64(a11)-newMoon1900)/synodicMonth))
	off := l.Month - 11
	if off < 0 {
		off += 12
	}
	if b11-a11 > 365 {
		lo := leapOffset(a11)
		leapMonth := lo - 2
		if leapMonth <= 0 {
			leapMonth += 12
		}
		if l.Leap && l.Month != leapMonth {
			return Date{}, fmt.Errorf("lunar date %s: the leap month of that year is %d", l, leapMonth)
		}
		if l.Leap || off >= lo {
			off++
		}
	} else if l.Leap {
		return Date{}, fmt.Errorf("lunar date %s: that year has no leap month", l)
	}
	start := newMoonDay(k + off)
	if l.Day > newMoonDay(k+off+1)-start {
		return Date{}, fmt.Errorf("lunar date %s: that month has %d days", l, newMoonDay(k+off+1)-start)
	}
	return dateOfJulianDay(start + l.Day - 1), nil
}
