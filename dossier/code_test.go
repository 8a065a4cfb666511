package dossier_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

func TestCodeRoundTrip(t *testing.T) {
	code := dossier.FormatCode("09619", at("2026-11-23 23:30"), 7)
	if code != "09619-261123-0007" {
		t.Fatalf("FormatCode = %s", code)
	}
	p, err := dossier.ParseCode(code)
	if err != nil || p.Commune != "09619" || p.Seq != 7 || p.Date.String() != "2026-11-23" {
		t.Fatalf("ParseCode(%s) = %+v, %v", code, p, err)
	}
	if got := dossier.FormatCode("09619", at("2026-11-23 08:00"), 12345); got != "09619-261123-12345" {
		t.Errorf("a day past 9999 dossiers widens the sequence: %s", got)
	}
}

func TestParseCodeRejects(t *testing.T) {
	for _, c := range []string{"", "09619", "0961-261123-0001", "09619-261323-0001", "09619-261123-001", "09619-261123-0000", "09619-261123-00x1", "a-b-c-d", "09619-261123-+001"} {
		if _, err := dossier.ParseCode(c); err == nil {
			t.Errorf("ParseCode(%q) accepted", c)
		}
	}
}

// Decree 118/2025 art. 28(2): the agency's e-ID, then the day of receipt
// and the day's sequence; the legacy commune form still parses.
func TestAgencyCodes(t *testing.T) {
	at := at("2026-11-23 09:00")
	for _, c := range []struct {
		name, code string
		want       dossier.ParsedCode
	}{
		{"art. 28(2): the commune's own e-ID", dossier.FormatAgencyCode("000.00.31.H56", "", at, 7),
			dossier.ParsedCode{Form: dossier.AgencyCode, Agency: "000.00.31.H56", Seq: 7}},
		{"art. 28(2)(a): another competent agency, the receiving commune in the sequence", dossier.FormatAgencyCode("000.00.00.H56", "15619", at, 12),
			dossier.ParsedCode{Form: dossier.SharedAgencyCode, Agency: "000.00.00.H56", Commune: "15619", Seq: 12}},
		{"art. 28(2)(b): a sequence past 9999 widens", dossier.FormatAgencyCode("000.00.31.H56", "", at, 12345678),
			dossier.ParsedCode{Form: dossier.AgencyCode, Agency: "000.00.31.H56", Seq: 12345678}},
		{"shared, 8-digit sequence", dossier.FormatAgencyCode("G01.H56", "15619", at, 10000000),
			dossier.ParsedCode{Form: dossier.SharedAgencyCode, Agency: "G01.H56", Commune: "15619", Seq: 10000000}},
		{"legacy codes stay valid", dossier.FormatCode("09619", at, 3),
			dossier.ParsedCode{Form: dossier.LegacyCode, Commune: "09619", Seq: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.want.Date = dossier.Date{Year: 2026, Month: 11, Day: 23}
			p, err := dossier.ParseCode(c.code)
			if err != nil || p != c.want {
				t.Fatalf("ParseCode(%s) = %+v, %v; want %+v", c.code, p, err, c.want)
			}
			if p.String() != c.code {
				t.Errorf("String() = %s, want %s", p.String(), c.code)
			}
		})
	}
	if got := dossier.FormatAgencyCode("000.00.00.H56", "15619", at, 1); got != "000.00.00.H56-261123-156190001" {
		t.Errorf("shared code %s", got)
	}
}

func TestParseCodeRejectsAgencyCodes(t *testing.T) {
	for _, c := range []string{
		"000.00.00.h56-261123-0001",                     // lower case
		"H56-261123-0001",                               // no dot and not 5 digits
		".00.H56-261123-0001",                           // empty group
		"000..H56-261123-0001",                          // empty group
		"000.00.00.H56.-261123-0001",                    // trailing dot
		"1.2.3.4.5.6.7-261123-0001",                     // 7 groups
		"000000000.H56-261123-0001",                     // a group of 9
		"AAAAAAAA.BBBBBBBB.CCCCCCCC.DDDDDD-261123-0001", // 33 bytes
		"000.00.00.H56-261123-00001",                    // padded past 4 digits
		"000.00.00.H56-261123-0000",                     // zero
		"000.00.00.H56-261123-123456789",                // 9 digits: no commune 12345 with sequence 6789? it is one, see below
		"000.00.00.H56-261123-156190000",                // shared, sequence 0
		"000.00.00.H56-261123-1561900001",               // shared, padded
		"000.00.00.H56-261323-0001",                     // no 23rd month
		"000.00.00.Ư56-261123-0001",                     // not ASCII
		"000.00.00.H56-261123-0001-",                    // extra part
		"000.00.00.H56-261123-0001\n",
	} {
		if p, err := dossier.ParseCode(c); err == nil && c != "000.00.00.H56-261123-123456789" {
			t.Errorf("ParseCode(%q) accepted: %+v", c, p)
		}
	}
	// 9 digits are a commune and a 4-digit sequence, never a 9-digit one.
	if p, err := dossier.ParseCode("000.00.00.H56-261123-123456789"); err != nil || p.Form != dossier.SharedAgencyCode || p.Commune != "12345" || p.Seq != 6789 {
		t.Errorf("9-digit sequence: %+v, %v", p, err)
	}
	long := strings.Repeat("A", 200) + ".B-261123-0001"
	if _, err := dossier.ParseCode(long); err == nil || len(err.Error()) > 120 {
		t.Errorf("a long code's error quotes at most 40 bytes: %v", err)
	}
}

// Decree 118/2025 art. 28: a commune issues codes under its own e-ID, under
// a procedure's competent agency with its own code in the sequence, or in
// the legacy form with its own code; anything else is another's.
func TestCheckCodeIssuer(t *testing.T) {
	const own, other, dept = "000.00.31.H56", "000.00.32.H56", "000.00.00.H56"
	for _, c := range []struct {
		name, code, communeAgency, procAgency string
		ok                                    bool
	}{
		{"own e-ID", own + "-261123-0001", own, "", true},
		{"another commune's e-ID", other + "-261123-0001", own, "", false},
		{"an e-ID while none is registered", own + "-261123-0001", "", "", false},
		{"legacy, own commune", "15619-261123-0001", own, "", true},
		{"legacy, no e-ID registered", "15619-261123-0001", "", "", true},
		{"legacy, another commune", "15620-261123-0001", own, "", false},
		{"competent agency, own commune in the sequence", dept + "-261123-156190001", own, dept, true},
		{"competent agency, commune without an e-ID", dept + "-261123-156190001", "", dept, true},
		{"competent agency, another commune in the sequence", dept + "-261123-156200001", own, dept, false},
		{"competent agency the procedure does not name", dept + "-261123-156190001", own, "", false},
		{"art. 28(2)(a): own e-ID where the procedure names another agency", own + "-261123-0001", own, dept, false},
		{"procedure's agency is the commune's own", own + "-261123-0001", own, own, true},
		{"a former e-ID of the commune", "000.00.99.H56-261123-0001", own, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var agencies []string
			if c.communeAgency != "" {
				agencies = []string{"000.00.99.H56", c.communeAgency}
			}
			err := dossier.CheckCodeIssuer(c.code, "15619", agencies, c.procAgency)
			var oe *dossier.OwnerError
			if c.ok != (err == nil) || err != nil && !errors.As(err, &oe) {
				t.Fatalf("CheckCodeIssuer(%s) = %v, want ok %v", c.code, err, c.ok)
			}
		})
	}
}

func TestCheckAgencyID(t *testing.T) {
	for _, s := range []string{"000.00.00.H56", "G01.H56", "A.B", "12345678.ABCDEFGH.1.2.3.4"} {
		if err := dossier.CheckAgencyID(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "15619", "H56", "a.b", "A..B", "A.B.", "A-B.C", "A B.C", "1.2.3.4.5.6.7", "123456789.A"} {
		if dossier.ValidAgencyID(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

// Every code ParseCode takes formats back to one it parses the same, and
// to itself unless it is a legacy code padded past 4 digits; every code
// of a valid e-ID, date and sequence parses back.
func FuzzParseCode(f *testing.F) {
	f.Add("09619-261123-0001")
	f.Add("00070-250101-12345")
	f.Add("000.00.00.H56-261123-0001")
	f.Add("000.00.00.H56-261123-156190001")
	f.Add("G01.H56-261123-99999999")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := dossier.ParseCode(s)
		if err != nil {
			return
		}
		if p.Seq < 1 {
			t.Fatalf("ParseCode(%q) accepted %+v", s, p)
		}
		switch p.Form {
		case dossier.LegacyCode:
			if !dossier.ValidCommuneCode(p.Commune) || p.Agency != "" {
				t.Fatalf("ParseCode(%q) accepted %+v", s, p)
			}
		case dossier.AgencyCode:
			if !dossier.ValidAgencyID(p.Agency) || p.Commune != "" || p.Seq > dossier.MaxAgencySeq || p.String() != s {
				t.Fatalf("ParseCode(%q) accepted %+v", s, p)
			}
		case dossier.SharedAgencyCode:
			if !dossier.ValidAgencyID(p.Agency) || !dossier.ValidCommuneCode(p.Commune) || p.Seq > dossier.MaxAgencySeq || p.String() != s {
				t.Fatalf("ParseCode(%q) accepted %+v", s, p)
			}
		}
		if q, err := dossier.ParseCode(p.String()); err != nil || q != p {
			t.Fatalf("ParseCode(%q) = %+v, %v; from %q: %+v", p.String(), q, err, s, p)
		}
	})
}

// The legacy codes of earlier versions parse exactly as before.
func TestLegacyCodesParse(t *testing.T) {
	for _, c := range []string{"09619-261123-0001", "00070-250101-12345", "09619-261123-123456789", "09619-261123-00012"} {
		p, err := dossier.ParseCode(c)
		if err != nil || p.Form != dossier.LegacyCode {
			t.Errorf("ParseCode(%q) = %+v, %v", c, p, err)
		}
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for range 2000 {
		groups := make([]string, 2+rnd.IntN(3))
		for i := range groups {
			b := make([]byte, 1+rnd.IntN(5))
			for j := range b {
				b[j] = alnum[rnd.IntN(len(alnum))]
			}
			groups[i] = string(b)
		}
		agency := strings.Join(groups, ".")
		commune := ""
		if rnd.IntN(2) == 0 {
			commune = fmt.Sprintf("%05d", rnd.IntN(100000))
		}
		when := time.Date(2000+rnd.IntN(68), time.Month(1+rnd.IntN(12)), 1+rnd.IntN(28), 12, 0, 0, 0, dossier.Zone)
		seq := 1 + rnd.IntN(dossier.MaxAgencySeq)
		code := dossier.FormatAgencyCode(agency, commune, when, seq)
		p, err := dossier.ParseCode(code)
		if err != nil || p.Agency != agency || p.Commune != commune || p.Seq != seq || p.Date != dossier.DateOf(when, dossier.Zone) || p.String() != code {
			t.Fatalf("%s: %+v, %v", code, p, err)
		}
	}
}

// parseYYMMDD reads every yymmdd as time.Parse("060102") does.
func TestParseYYMMDDIsTimeParse(t *testing.T) {
	for yy := range 100 {
		for mm := range 14 {
			for dd := range 33 {
				s := fmt.Sprintf("%02d%02d%02d", yy, mm, dd)
				want, err := time.Parse("060102", s)
				got, ok := dossier.ParseYYMMDD(s)
				if ok != (err == nil) || ok && got != dossier.DateOf(want, time.UTC) {
					t.Fatalf("%s: %v %v, time.Parse says %v %v", s, got, ok, want, err)
				}
			}
		}
	}
	for _, s := range []string{"", "26113", "2611300", "26 130", "2611x0", "-61130"} {
		if _, ok := dossier.ParseYYMMDD(s); ok {
			t.Errorf("%q read as a date", s)
		}
	}
}

// Decree 118/2025 art. 28(2)(a): a procedure's competent agency is named by
// its e-ID; the catalogue takes no other.
func TestValidateProcedureCompetentAgency(t *testing.T) {
	p := proto.Clone(sample.Procedures()[0]).(*xasov1.Procedure)
	for id, ok := range map[string]bool{"": true, "000.00.00.H56": true, "Sở Tư pháp": false, "15619": false} {
		p.CompetentAgencyId = id
		err := dossier.ValidateProcedure(p)
		if ok != (err == nil) || !ok && !strings.Contains(err.Error(), "competent_agency_id") {
			t.Errorf("competent_agency_id %q: %v", id, err)
		}
	}
}
