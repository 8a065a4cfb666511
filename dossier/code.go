package dossier

import (
	"fmt"
	"strconv"
	"strings"
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

// ParseCode checks a dossier code and takes it apart.
func ParseCode(code string) (ParsedCode, error) {
	parts := strings.Split(code, "-")
	if len(parts) != 3 {
		return ParsedCode{}, fmt.Errorf("dossier code %q is not {commune}-{yymmdd}-{nnnn}", code)
	}
	if !ValidCommuneCode(parts[0]) {
		return ParsedCode{}, fmt.Errorf("dossier code %q: commune %q is not 5 digits", code, parts[0])
	}
	t, err := time.Parse("060102", parts[1])
	if err != nil || len(parts[1]) != 6 {
		return ParsedCode{}, fmt.Errorf("dossier code %q: %q is not a yymmdd date", code, parts[1])
	}
	seq, err := strconv.Atoi(parts[2])
	if err != nil || len(parts[2]) < 4 || len(parts[2]) > 9 || !digits(parts[2]) || seq < 1 {
		return ParsedCode{}, fmt.Errorf("dossier code %q: sequence %q is not 4 to 9 digits from 0001", code, parts[2])
	}
	return ParsedCode{Commune: parts[0], Date: DateOf(t, time.UTC), Seq: seq}, nil
}

// ValidCommuneCode reports whether s is a 5-digit administrative unit code.
func ValidCommuneCode(s string) bool { return len(s) == 5 && digits(s) }

// ReportMonth is the month a time falls in, in Vietnam, as "200601": the
// month a dossier counts in reports is the month of its receipt.
func ReportMonth(t time.Time) string { return t.In(Zone).Format("200601") }
