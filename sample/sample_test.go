package sample

import (
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
