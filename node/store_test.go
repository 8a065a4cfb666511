package node

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openSeeded opens a store in dir (encrypted with key, when given) with the
// sample catalogue; the test closes it.
func openSeeded(t testing.TB, dir string, key []byte) *Store {
	t.Helper()
	st, err := OpenStore(StoreOptions{Dir: dir, EncryptionKey: key, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SeedCatalogue(context.Background(), sample.Procedures()); err != nil {
		t.Fatal(err)
	}
	return st
}

func createOne(t testing.TB, st *Store, name string, at time.Time) *dossier.Dossier {
	t.Helper()
	d, err := st.Create(context.Background(), testCommune, sample.Calendar(), CreateInput{
		ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON, Actor: "a", Role: dossier.Clerk, Time: at,
		Applicant: &xasov1.Applicant{FullName: name, IdNumber: "001190099999"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestRestartKeepsCountersAndNumbering(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	st := openSeeded(t, dir, nil)
	first := createOne(t, st, "Một", at)
	createOne(t, st, "Hai", at)
	st.Close()

	st, err := OpenStore(StoreOptions{Dir: dir, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if last, _ := st.OutboxHead(); last != 2 || st.Counts()[dossier.Received] != 2 {
		t.Fatalf("after restart: outbox %d, received %d", last, st.Counts()[dossier.Received])
	}
	third := createOne(t, st, "Ba", at)
	if third.GetCode() != "09619-261123-0003" || third.GetCode() == first.GetCode() {
		t.Fatalf("numbering after restart gave %s", third.GetCode())
	}
	if err := st.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestEncryptionAtRest(t *testing.T) {
	dir := t.TempDir()
	key, _ := hex.DecodeString(strings.Repeat("5a", 32))
	st := openSeeded(t, dir, key)
	createOne(t, st, "Zyxwvutsrq Ponmlkjih", time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone))
	st.Close()

	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Zyxwvutsrq") || strings.Contains(string(b), "001190099999") {
			t.Fatalf("%s holds the applicant in clear", filepath.Base(f))
		}
	}
	if _, err := OpenStore(StoreOptions{Dir: dir, Logger: quietLog()}); err == nil {
		t.Fatal("opened an encrypted store without its key")
	}
	wrong, _ := hex.DecodeString(strings.Repeat("a5", 32))
	if _, err := OpenStore(StoreOptions{Dir: dir, EncryptionKey: wrong, Logger: quietLog()}); err == nil {
		t.Fatal("opened an encrypted store with the wrong key")
	}
	st, err := OpenStore(StoreOptions{Dir: dir, EncryptionKey: key, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityNumberNeverInAKey(t *testing.T) {
	n := startNode(t)
	n.call(t, "POST", "/v1/dossiers", birthRequest())
	err := n.Store().db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if strings.Contains(string(it.Item().Key()), "001190012345") {
				t.Errorf("key %q holds the identity number", it.Item().Key())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidationNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.yaml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	tests := map[string]string{
		"commune: '12'\n":                                    "commune",
		"commune: '09619'\nlisten: nonsense\n":               "listen",
		"commune: '09619'\nmax_attachment_bytes: 5\n":        "max_attachment_bytes",
		"commune: '09619'\nlog_level: loud\n":                "log_level",
		"commune: '09619'\nencryption_key_file: /nope/key\n": "encryption_key_file",
		"commune: '09619'\ncalendar_file: /nope\n":           "calendar_file",
		"commune: '09619'\ncolour: blue\n":                   "colour",
		"commune: '09619'\ndata_dir: ''\n":                   "data_dir",
	}
	for body, key := range tests {
		cfg, err := LoadConfig(write(body))
		if err == nil {
			err = cfg.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: %v, want an error naming %s", body, err, key)
		}
	}
	cfg, err := LoadConfig(write("commune: '09619'\ndata_dir: /tmp/x\n"))
	if err != nil || cfg.Validate() != nil {
		t.Fatalf("good config refused: %v %v", err, cfg.Validate())
	}
}

func TestCreateNeverReusesACode(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	st := openSeeded(t, dir, nil)
	defer st.Close()
	first := createOne(t, st, "Một", at)
	// Damage the day counter as a bad restore might.
	if err := st.db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(prefixDaySeq + "261123")) }); err != nil {
		t.Fatal(err)
	}
	_, err := st.Create(context.Background(), testCommune, sample.Calendar(), CreateInput{
		ProcedureCode: "1.004873", Channel: xasov1.Channel_CHANNEL_IN_PERSON, Actor: "a", Role: dossier.Clerk, Time: at,
		Applicant: &xasov1.Applicant{FullName: "Hai"}, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}},
	})
	if err == nil {
		t.Fatal("created a dossier over an existing code")
	}
	if d, _ := st.Get(first.GetCode(), false); d.GetApplicant().GetFullName() != "Một" {
		t.Fatalf("the first dossier was overwritten: %v", d)
	}
}
