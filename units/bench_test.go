package units

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

// BenchmarkNewSharedList builds the registry of the whole shared list
// (3,321 units and their predecessors): central does so on every put of a
// commune's history.
func BenchmarkNewSharedList(b *testing.B) {
	data, err := os.ReadFile("../../shared/data/units-2025.tsv")
	if errors.Is(err, fs.ErrNotExist) {
		b.Skip("the shared units list is not here")
	}
	us, cs, err := LoadTSV(data, nil)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := New(us, cs); err != nil {
			b.Fatal(err)
		}
	}
}
