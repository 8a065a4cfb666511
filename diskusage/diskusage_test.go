package diskusage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOfCountsAllocatedBlocksNotApparentSize(t *testing.T) {
	dir := t.TempDir()
	// A preallocated-looking file: 256 MiB long, nothing written.
	sparse, err := os.Create(filepath.Join(dir, "000001.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sparse.Truncate(256 << 20); err != nil {
		t.Fatal(err)
	}
	sparse.Close()
	empty, err := Of(dir)
	if err != nil {
		t.Fatal(err)
	}
	if empty >= 1<<20 {
		t.Fatalf("a 256 MiB file with nothing written counts %d bytes", empty)
	}
	// Data written counts, in a subdirectory too.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "000002.sst"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	full, err := Of(dir, dir) // the same directory twice counts once
	if err != nil {
		t.Fatal(err)
	}
	if full < empty+1<<20 || full > empty+(1<<20)+(64<<10) {
		t.Fatalf("after writing 1 MiB: %d bytes (before %d)", full, empty)
	}
	if _, err := Of(filepath.Join(dir, "khong-co")); err == nil {
		t.Fatal("a directory that does not exist: no error")
	}
}
