package dossier

import (
	"fmt"
	"strconv"
	"time"
)

// The dossier code is {commune}-{yymmdd}-{nnnn}: the administrative unit code
// of the receiving commune (5 digits), the receipt date in Vietnam's time, and
// the commune's sequence for that day, at least 4 digits. Unique province-wide
// without coordination because each commune numbers its own dossiers. This
// file is the one place that knows the format.

// FormatCode returns the code of the seq-th dossier received by commune on the
// day of t.
func FormatCode(commune string, t time.Time, seq int) string {
	return fmt.Sprintf("%s-%s-%04d", commune, t.In(Zone).Format("060102"), seq)
}

// CodeDay returns the yymmdd part of codes for dossiers received at t.
func CodeDay(t time.Time) string { return t.In(Zone).Format("060102") }

// ParsedCode is a dossier code taken apart.
type ParsedCode struct {
	Commune string
	Date    Date
	Seq     int
}

// ParseCode checks a dossier code and takes it apart. Its errors quote at
// most the first 40 bytes of what they were given.
func ParseCode(code string) (ParsedCode, error) {
	// {commune:5}-{yymmdd:6}-{seq:4..9}: 17 to 22 bytes.
	if len(code) < 17 || len(code) > 22 || code[5] != '-' || code[12] != '-' {
		return ParsedCode{}, fmt.Errorf("dossier code %q is not {commune}-{yymmdd}-{nnnn}", Short(code, 40))
	}
	commune, day, num := code[:5], code[6:12], code[13:]
	if !ValidCommuneCode(commune) {
		return ParsedCode{}, fmt.Errorf("dossier code %q: commune %q is not 5 digits", code, commune)
	}
	date, ok := parseYYMMDD(day)
	if !ok {
		return ParsedCode{}, fmt.Errorf("dossier code %q: %q is not a yymmdd date", code, day)
	}
	seq, err := strconv.Atoi(num)
	if err != nil || !digits(num) || seq < 1 {
		return ParsedCode{}, fmt.Errorf("dossier code %q: sequence %q is not 4 to 9 digits from 0001", code, num)
	}
	return ParsedCode{Commune: commune, Date: date, Seq: seq}, nil
}

// parseYYMMDD reads a yymmdd date as time.Parse's "060102" does (years 69
// to 99 are 1969 to 1999), without parsing a layout: central checks every
// dossier code a node sends with it.
func parseYYMMDD(s string) (Date, bool) {
	if len(s) != 6 || !digits(s) {
		return Date{}, false
	}
	n := func(i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }
	y, m, d := n(0)+2000, time.Month(n(2)), n(4)
	if y >= 2069 {
		y -= 100
	}
	if m < 1 || m > 12 || d < 1 || d > time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return Date{}, false
	}
	return Date{y, m, d}, true
}

// ValidCommuneCode reports whether s is a 5-digit administrative unit code.
func ValidCommuneCode(s string) bool { return len(s) == 5 && digits(s) }

// ReportMonth is the month a time falls in, in Vietnam, as "200601": the
// month a dossier counts in reports is the month of its receipt.
func ReportMonth(t time.Time) string { return t.In(Zone).Format("200601") }
