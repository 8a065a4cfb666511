package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/internal/atrest"
)

// An applicant's name and a private key's text the tests look for in the
// bytes on disk.
const (
	applicantMarker = "Zyxwvutsrq Ponmlkjih"
	keyMarker       = "QKLMNOPQRSTUVWXYZ-private-key-body"
)

func encConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Commune = testCommune
	cfg.DataDir = filepath.Join(t.TempDir(), "node")
	cfg.Listen = "127.0.0.1:0"
	return cfg
}

func openNode(t *testing.T, cfg Config, log *slog.Logger) (*Node, error) {
	t.Helper()
	if log == nil {
		log = quietLog()
	}
	clk := &clock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)}
	return Open(context.Background(), cfg, log, clk.Now)
}

// filesHolding lists the files under dir whose bytes contain s.
func filesHolding(t testing.TB, dir, s string) []string {
	t.Helper()
	out, err := atrest.FilesHolding(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNewStoreIsEncryptedByDefault(t *testing.T) {
	cfg := encConfig(t)
	n, err := openNode(t, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	kf := cfg.DataDir + ".key"
	st, err := os.Stat(kf)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("default key file %s: %v %v", kf, st, err)
	}
	key, _ := os.ReadFile(kf)
	if !n.Store().Encrypted() || len(strings.TrimSpace(string(key))) != 64 {
		t.Fatalf("encrypted %v, key file of %d bytes", n.Store().Encrypted(), len(key))
	}
	createOne(t, n.Store(), applicantMarker, time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone))
	// The node's private key, as enrollment keeps it.
	if err := (syncLocal{Store: n.Store(), n: n}).SaveIdentity(context.Background(), &xasov1.NodeIdentity{
		NodeId: "node-" + testCommune, CommuneCode: testCommune, KeyPem: []byte("-----BEGIN PRIVATE KEY-----\n" + keyMarker + "\n-----END PRIVATE KEY-----\n"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{applicantMarker, "001190099999", keyMarker, "PRIVATE KEY"} {
		if got := filesHolding(t, cfg.DataDir, s); len(got) > 0 {
			t.Errorf("%q lies in clear in %v", s, got)
		}
	}
	if state, err := atrest.Inspect(cfg.DataDir); err != nil || state != atrest.Encrypted {
		t.Fatalf("the store looks %v (%v)", state, err)
	}

	// The same key opens it again, and is not replaced.
	n, err = openNode(t, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := n.Store().Identity()
	n.Close()
	if err != nil || !strings.Contains(string(id.GetKeyPem()), keyMarker) {
		t.Fatalf("identity after reopening: %v %v", id, err)
	}
	if again, _ := os.ReadFile(kf); !bytes.Equal(again, key) {
		t.Fatal("the key file was rewritten")
	}
	// Through the Go API, the key beside the store is found; without
	// encryption the store does not open.
	s, err := OpenStore(StoreOptions{Dir: cfg.DataDir, Logger: quietLog()})
	if err != nil {
		t.Fatalf("OpenStore without a key: %v", err)
	}
	s.Close()
	if _, err := OpenStore(StoreOptions{Dir: cfg.DataDir, Unencrypted: true, Logger: quietLog()}); err == nil {
		t.Fatal("opened the encrypted store without encryption")
	}
}

// checkOneLine checks err is one line starting with the key it names.
func checkOneLine(t *testing.T, what string, err error, key, want string) {
	t.Helper()
	if err == nil || !strings.HasPrefix(err.Error(), key+": ") || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v; want one line naming %s, saying %q", what, err, key, want)
	}
}

func TestKeyFileReadableByOthersIsRefused(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		cfg := encConfig(t)
		kf := cfg.DataDir + ".key"
		if explicit {
			kf = filepath.Join(t.TempDir(), "node.key")
			cfg.EncryptionKeyFile = kf
		}
		os.WriteFile(kf, []byte(strings.Repeat("ab", 32)), 0o600)
		os.Chmod(kf, 0o644)
		checkOneLine(t, "validate", cfg.Validate(), "encryption_key_file", "group or others")
		_, err := openNode(t, cfg, nil)
		checkOneLine(t, "open", err, "encryption_key_file", "group or others")
		if _, err := os.Stat(cfg.DataDir); err == nil {
			t.Errorf("a store was made with a key file others may read")
		}
		os.Chmod(kf, 0o600)
		n, err := openNode(t, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		n.Close()
		// Group-readable after the store was made: refused too.
		os.Chmod(kf, 0o640)
		_, err = openNode(t, cfg, nil)
		checkOneLine(t, "reopen", err, "encryption_key_file", "mode 0640")
	}
}

func TestWrongOrMissingKeyIsAClearError(t *testing.T) {
	cfg := encConfig(t)
	n, err := openNode(t, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := atrest.CreateKeyFile(other); err != nil {
		t.Fatal(err)
	}
	wrong := cfg
	wrong.EncryptionKeyFile = other
	_, err = openNode(t, wrong, nil)
	checkOneLine(t, "another key", err, "encryption_key_file", "is not the key the store")

	missing := cfg
	missing.EncryptionKeyFile = filepath.Join(t.TempDir(), "gone.key")
	checkOneLine(t, "validate without the key", missing.Validate(), "encryption_key_file", "does not exist")
	_, err = openNode(t, missing, nil)
	checkOneLine(t, "open without the key", err, "encryption_key_file", "does not exist")
	if _, err := os.Stat(missing.EncryptionKeyFile); err == nil {
		t.Fatal("made a new key for an encrypted store")
	}
}

func TestUnencryptedStoreOpensOnlyWhenAllowedAndKeepsNoPrivateKey(t *testing.T) {
	cfg := encConfig(t)
	// A store an earlier version made without a key.
	st := openSeeded(t, cfg.DataDir, nil)
	createOne(t, st, applicantMarker, time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone))
	st.Close()
	if got := filesHolding(t, cfg.DataDir, applicantMarker); len(got) == 0 {
		t.Fatal("the unencrypted store does not show the name: the tests look for the wrong bytes")
	}

	checkOneLine(t, "validate", cfg.Validate(), "data_dir", "allow_unencrypted_store")
	_, err := openNode(t, cfg, nil)
	checkOneLine(t, "open", err, "data_dir", "allow_unencrypted_store")
	if _, err := os.Stat(cfg.KeyFile()); err == nil {
		t.Fatal("made a key for a store that cannot use it")
	}

	cfg.AllowUnencryptedStore = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	n, err := openNode(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Store().Encrypted() || !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "not encrypted") {
		t.Fatalf("encrypted %v; log:\n%s", n.Store().Encrypted(), logs.String())
	}
	err = (syncLocal{Store: n.Store(), n: n}).SaveIdentity(context.Background(), &xasov1.NodeIdentity{NodeId: "node-" + testCommune, KeyPem: []byte(keyMarker)})
	if !errors.Is(err, ErrIdentityInClear) {
		t.Fatalf("kept a private key in an unencrypted store: %v", err)
	}
	if id, err := n.Store().Identity(); id != nil || err != nil {
		t.Fatalf("identity %v %v", id, err)
	}
}
