package atrest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	key, err := CreateKeyFile(p)
	if err != nil || len(key) != 32 {
		t.Fatalf("create: %d bytes, %v", len(key), err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if _, err := CreateKeyFile(p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a second create: %v", err)
	}
	got, err := ReadKeyFile(p)
	if err != nil || string(got) != string(key) {
		t.Fatalf("read back: %v", err)
	}
	for name, c := range map[string]struct {
		data []byte
		mode os.FileMode
		n    int
		err  string
	}{
		"hex16":     {[]byte(strings.Repeat("0f", 16) + "\n"), 0o600, 16, ""},
		"raw24":     {[]byte(strings.Repeat("\x01", 24)), 0o400, 24, ""},
		"short":     {[]byte("abc"), 0o600, 0, "holds 3 bytes"},
		"group":     {[]byte(strings.Repeat("0f", 32)), 0o640, 0, "group or others (mode 0640)"},
		"others":    {[]byte(strings.Repeat("0f", 32)), 0o604, 0, "group or others"},
		"groupexec": {[]byte(strings.Repeat("0f", 32)), 0o610, 0, "group or others"},
	} {
		f := filepath.Join(dir, name)
		os.WriteFile(f, c.data, 0o600)
		os.Chmod(f, c.mode)
		k, err := ReadKeyFile(f)
		if c.err == "" && (err != nil || len(k) != c.n) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %d bytes, %v", name, len(k), err)
		}
	}
	// Read or create: made once, read after; a loose file is refused, not replaced.
	q := filepath.Join(dir, "q")
	made1, first, err := ReadOrCreateKeyFile(q)
	if err != nil || !first || len(made1) != 32 {
		t.Fatalf("read or create a new key: %d bytes, made %v, %v", len(made1), first, err)
	}
	again, second, err := ReadOrCreateKeyFile(q)
	if err != nil || second || string(again) != string(made1) {
		t.Fatalf("read or create an existing key: made %v, same %v, %v", second, string(again) == string(made1), err)
	}
	if _, made, err := ReadOrCreateKeyFile(filepath.Join(dir, "group")); err == nil || made {
		t.Fatalf("read or create a group-readable key: made %v, %v", made, err)
	}
	if got := DefaultKeyFile("/var/lib/xaso/node/"); got != "/var/lib/xaso/node.key" {
		t.Errorf("default key file %s", got)
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	if st, err := Inspect(filepath.Join(dir, "none")); st != New || err != nil {
		t.Fatalf("no directory: %v %v", st, err)
	}
	reg := filepath.Join(dir, keyRegistryFile)
	os.WriteFile(reg, []byte("0123456789abcdef"+sanityText+"more"), 0o600)
	if st, err := Inspect(dir); st != Plain || err != nil {
		t.Fatalf("plain: %v %v", st, err)
	}
	os.WriteFile(reg, []byte("0123456789abcdef"+"\x8a\x11garbage!!"+"more"), 0o600)
	if st, err := Inspect(dir); st != Encrypted || err != nil {
		t.Fatalf("encrypted: %v %v", st, err)
	}
	os.WriteFile(reg, []byte("short"), 0o600)
	if _, err := Inspect(dir); err == nil {
		t.Fatal("a damaged registry passed")
	}
	os.Remove(reg)
	os.WriteFile(filepath.Join(dir, "MANIFEST"), nil, 0o600)
	if st, err := Inspect(dir); st != Plain || err != nil {
		t.Fatalf("manifest without registry: %v %v", st, err)
	}
}
