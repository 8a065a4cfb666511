package dossier_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/xaso/xaso/dossier"
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

func FuzzParseCode(f *testing.F) {
	f.Add("09619-261123-0001")
	f.Add("00070-250101-12345")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := dossier.ParseCode(s)
		if err != nil {
			return
		}
		if !dossier.ValidCommuneCode(p.Commune) || p.Seq < 1 {
			t.Fatalf("ParseCode(%q) accepted %+v", s, p)
		}
	})
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
