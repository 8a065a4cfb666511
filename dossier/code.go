package dossier

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The dossier code (mã số hồ sơ). Decree 118/2025 art. 28(2): the
// electronic identifier (mã định danh) of the agency competent to settle
// the procedure, then a string of natural numbers: the day, month and year
// of receipt and the dossier's sequence among those received that day.
// Circular 03/2025 art. 13 is said to fix the sequence at 4 digits or
// more; its text is not at hand here (nor in the references searched), so
// only the decree is cited for the structure. This file is the one place
// that knows the format. A code has one of three forms:
//
//   - {agency}-{yymmdd}-{nnnn}: received by the commune whose agency
//     e-ID is agency, its own sequence for the day, 4 to 8 digits
//     (AgencyCode).
//   - {agency}-{yymmdd}-{commune}{nnnn}: received by commune (its 5-digit
//     administrative unit code) for a procedure whose competent agency is
//     another, agency (Procedure.competent_agency_id). Several communes
//     receive for the same agency without talking to each other, so the
//     sequence part starts with the receiving commune's code and goes on
//     with that commune's own sequence for the agency and day, 4 to 8
//     digits (SharedAgencyCode).
//   - {commune}-{yymmdd}-{nnnn}: the form used before agency e-IDs, the
//     receiving commune's 5-digit code and its sequence for the day, 4 to
//     9 digits (LegacyCode). A node without an agency e-ID still issues
//     them; codes issued before stay valid.
//
// Unique province-wide without coordination: central gives each agency
// e-ID to one commune at most, a commune issues AgencyCodes only under its
// own e-ID and SharedAgencyCodes and LegacyCodes only with its own
// commune code in them, and each node keeps a durable counter per series
// (everything but the last number) that never goes back, also across a
// restore from central.
//
// The agency e-ID is the identifier of Decision 20/2020/QĐ-TTg on the
// electronic identifiers of agencies and organisations serving data
// connection and sharing, written as dotted groups such as
// "000.00.00.H56". The decision's own text could not be consulted here:
// the grammar below (see ValidAgencyID) is deliberately a strict
// superset of that shape, not a transcription of the decision, and
// whether H56 is Thanh Hóa's group is not verified.

// CodeForm says which form a dossier code has.
type CodeForm int

// The forms of a dossier code.
const (
	// LegacyCode is {commune}-{yymmdd}-{nnnn}.
	LegacyCode CodeForm = iota
	// AgencyCode is {agency}-{yymmdd}-{nnnn}.
	AgencyCode
	// SharedAgencyCode is {agency}-{yymmdd}-{commune}{nnnn}.
	SharedAgencyCode
)

// Bounds of the agency e-ID and of sequences.
const (
	// MaxAgencyIDBytes is the longest agency e-ID.
	MaxAgencyIDBytes = 32
	// maxAgencyGroups and maxGroupBytes bound the dotted groups.
	maxAgencyGroups = 6
	maxGroupBytes   = 8
	// MaxAgencySeq is the largest sequence of an AgencyCode or a
	// SharedAgencyCode (8 digits); a legacy code's goes to 9 digits.
	MaxAgencySeq = 99_999_999
	maxLegacySeq = 999_999_999
)

// FormatCode returns the legacy code of the seq-th dossier received by
// commune on the day of t.
func FormatCode(commune string, t time.Time, seq int) string {
	return fmt.Sprintf("%s-%s-%04d", commune, t.In(Zone).Format("060102"), seq)
}

// FormatAgencyCode returns the code of the seq-th dossier received under
// the agency e-ID on the day of t: an AgencyCode when commune is empty,
// else the SharedAgencyCode of the receiving commune.
func FormatAgencyCode(agency, commune string, t time.Time, seq int) string {
	return fmt.Sprintf("%s-%s-%s%04d", agency, t.In(Zone).Format("060102"), commune, seq)
}

// CodeDay returns the yymmdd part of codes for dossiers received at t.
func CodeDay(t time.Time) string { return t.In(Zone).Format("060102") }

// CodeDayOf returns the yymmdd part of codes for dossiers received on d.
func CodeDayOf(d Date) string { return fmt.Sprintf("%02d%02d%02d", d.Year%100, int(d.Month), d.Day) }

// ParsedCode is a dossier code taken apart.
type ParsedCode struct {
	Form CodeForm
	// Agency is the agency e-ID; empty in a LegacyCode.
	Agency string
	// Commune is the commune the code names: a LegacyCode's prefix, or
	// the receiving commune at the start of a SharedAgencyCode's
	// sequence; empty in an AgencyCode, which names the agency only (who
	// holds a dossier is its record's, never its code's).
	Commune string
	Date    Date
	Seq     int
}

// String formats the code back: ParseCode(p.String()) is p, and
// p.String() is the code p was parsed from unless that was a legacy code
// with a sequence padded past 4 digits.
func (p ParsedCode) String() string {
	day := CodeDayOf(p.Date)
	switch p.Form {
	case AgencyCode:
		return fmt.Sprintf("%s-%s-%04d", p.Agency, day, p.Seq)
	case SharedAgencyCode:
		return fmt.Sprintf("%s-%s-%s%04d", p.Agency, day, p.Commune, p.Seq)
	default:
		return fmt.Sprintf("%s-%s-%04d", p.Commune, day, p.Seq)
	}
}

// Series is the code without its own sequence number: the scope a node
// numbers within ({commune}-{yymmdd}, {agency}-{yymmdd} or
// {agency}-{yymmdd}-{commune}).
func (p ParsedCode) Series() string {
	day := CodeDayOf(p.Date)
	switch p.Form {
	case AgencyCode:
		return p.Agency + "-" + day
	case SharedAgencyCode:
		return p.Agency + "-" + day + "-" + p.Commune
	default:
		return p.Commune + "-" + day
	}
}

// ParseCode checks a dossier code and takes it apart. Its errors quote at
// most the first 40 bytes of what they were given.
func ParseCode(code string) (ParsedCode, error) {
	q := Short(code, 40)
	// Longest: a 32-byte e-ID, "-", 6, "-", 5 + 8 digits.
	if len(code) > MaxAgencyIDBytes+1+6+1+5+8 {
		return ParsedCode{}, fmt.Errorf("dossier code %q… is too long", q)
	}
	first, rest, ok1 := strings.Cut(code, "-")
	day, num, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return ParsedCode{}, fmt.Errorf("dossier code %q is not {agency}-{yymmdd}-{nnnn} nor {commune}-{yymmdd}-{nnnn}", q)
	}
	date, ok := parseYYMMDD(day)
	if !ok {
		return ParsedCode{}, fmt.Errorf("dossier code %q: %q is not a yymmdd date", q, Short(day, 40))
	}
	if !strings.Contains(first, ".") {
		// The legacy form, read exactly as before agency e-IDs: central
		// replays records it took then.
		if !ValidCommuneCode(first) {
			return ParsedCode{}, fmt.Errorf("dossier code %q: %q is neither a 5-digit commune code nor a dotted agency e-ID", q, Short(first, 40))
		}
		seq, ok := parseSeq(num, 9, false)
		if !ok {
			return ParsedCode{}, fmt.Errorf("dossier code %q: sequence %q is not 4 to 9 digits from 0001", q, Short(num, 40))
		}
		return ParsedCode{Form: LegacyCode, Commune: first, Date: date, Seq: seq}, nil
	}
	if err := CheckAgencyID(first); err != nil {
		return ParsedCode{}, fmt.Errorf("dossier code %q: %w", q, err)
	}
	if seq, ok := parseSeq(num, 8, true); ok {
		return ParsedCode{Form: AgencyCode, Agency: first, Date: date, Seq: seq}, nil
	}
	if len(num) > 5 && ValidCommuneCode(num[:5]) {
		if seq, ok := parseSeq(num[5:], 8, true); ok {
			return ParsedCode{Form: SharedAgencyCode, Agency: first, Commune: num[:5], Date: date, Seq: seq}, nil
		}
	}
	return ParsedCode{}, fmt.Errorf("dossier code %q: sequence %q is neither 4 to 8 digits from 0001 nor a 5-digit commune code and such a sequence", q, Short(num, 40))
}

// parseSeq reads a sequence of 4 to maxDigits digits, at least 1; canonical
// refuses zeros padding it past 4 digits, so that it formats back the same.
func parseSeq(s string, maxDigits int, canonical bool) (int, bool) {
	if len(s) < 4 || len(s) > maxDigits || !digits(s) {
		return 0, false
	}
	if canonical && len(s) > 4 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1
}

// CheckAgencyID checks an agency electronic identifier: 2 to 6 groups
// separated by dots, each 1 to 8 digits or upper-case ASCII letters, at
// most 32 bytes in all (e.g. "000.00.00.H56"). The dot tells it from a
// commune code. Its error quotes at most 40 bytes.
func CheckAgencyID(s string) error {
	q := Short(s, 40)
	if len(s) > MaxAgencyIDBytes {
		return fmt.Errorf("agency e-ID %q… is longer than %d bytes", q, MaxAgencyIDBytes)
	}
	groups := strings.Split(s, ".")
	if len(groups) < 2 || len(groups) > maxAgencyGroups {
		return fmt.Errorf("agency e-ID %q is not 2 to %d dot-separated groups", q, maxAgencyGroups)
	}
	for _, g := range groups {
		if len(g) < 1 || len(g) > maxGroupBytes {
			return fmt.Errorf("agency e-ID %q: a group is 1 to %d characters", q, maxGroupBytes)
		}
		for i := range len(g) {
			if c := g[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z') {
				return fmt.Errorf("agency e-ID %q: groups are digits and upper-case letters A to Z", q)
			}
		}
	}
	return nil
}

// ValidAgencyID reports whether s is an agency e-ID (CheckAgencyID).
func ValidAgencyID(s string) bool { return CheckAgencyID(s) == nil }

// CheckCodeIssuer checks that commune may issue the code of a dossier it
// receives, given the agency e-IDs central registered for it, now or
// before (a node offline when its e-ID changed still numbers under the
// old one, which stays the commune's), and the competent agency e-ID of
// the dossier's procedure (empty when it is the commune): an AgencyCode
// under one of the commune's own e-IDs, a
// SharedAgencyCode under the procedure's competent agency with the
// commune's code in its sequence, or a LegacyCode with the commune's code.
// Legacy codes stay allowed after an e-ID is registered: a node keeps
// issuing them until its configuration names the e-ID and central's
// registry as fed to it agrees (so that a node offline when the e-ID was
// registered does not have its chain blocked), and they cannot collide
// with anyone else's. The error is an *OwnerError, or the parse error.
func CheckCodeIssuer(code, commune string, communeAgencies []string, procedureAgency string) error {
	pc, err := ParseCode(code)
	if err != nil {
		return err
	}
	switch {
	case pc.Form == LegacyCode && pc.Commune != commune:
		return &OwnerError{Commune: commune, Dossier: code, Why: "the code is commune " + pc.Commune + "'s"}
	case pc.Form == SharedAgencyCode && pc.Commune != commune:
		return &OwnerError{Commune: commune, Dossier: code, Why: "its sequence starts with commune " + pc.Commune + "'s code"}
	case pc.Form == SharedAgencyCode && pc.Agency != procedureAgency:
		return &OwnerError{Commune: commune, Dossier: code, Why: "agency " + pc.Agency + " is not the competent agency of the dossier's procedure"}
	case pc.Form == AgencyCode && !slices.Contains(communeAgencies, pc.Agency):
		return &OwnerError{Commune: commune, Dossier: code, Why: "agency e-ID " + pc.Agency + " is not one registered for the commune"}
	case pc.Form == AgencyCode && procedureAgency != "" && !slices.Contains(communeAgencies, procedureAgency):
		// Art. 28(2)(a): the code names the competent agency.
		return &OwnerError{Commune: commune, Dossier: code, Why: "the dossier's procedure is settled by agency " + procedureAgency + ", whose e-ID the code must carry"}
	}
	return nil
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
