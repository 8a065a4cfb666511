package central

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

// BenchmarkBuildUnitsSharedList is what a put of a commune's history costs
// the state machine once the whole country's 3,321 communes carry theirs:
// the registry of every history is built and checked.
func BenchmarkBuildUnitsSharedList(b *testing.B) {
	data, err := os.ReadFile("../../shared/data/units-2025.tsv")
	if errors.Is(err, fs.ErrNotExist) {
		b.Skip("the shared units list is not here")
	}
	cs, err := CommunesFromUnitsTSV(data)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := buildUnits(cs); err != nil {
			b.Fatal(err)
		}
	}
}
