package central

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/xaso/xaso/internal/atrest"
)

// marker is a commune name the tests look for in the bytes on disk.
const marker = "Zyxwvutsrq Ponmlkjih"

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// filesHolding lists the files under dir whose bytes contain s.
func filesHolding(t testing.TB, dir, s string) []string {
	t.Helper()
	out, err := atrest.FilesHolding(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStateIsEncryptedAtRestAndRefusesAnotherKey(t *testing.T) {
	dir := t.TempDir()
	f, err := OpenState(StateOptions{Dir: dir, Key: testKey(1), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	a := &applier{f: f}
	registerSample(t, a, "00004")
	a.apply(t, putCommune("00008", marker))
	a.apply(t, appendEvents("00004", records(t, "00004", 1, 50)...))
	want := dump(t, f)
	f.Close()

	if got := filesHolding(t, dir, marker); len(got) > 0 {
		t.Fatalf("the commune's name lies in clear in %v", got)
	}
	if st, err := atrest.Inspect(dir); err != nil || st != atrest.Encrypted {
		t.Fatalf("the state looks %v (%v)", st, err)
	}
	if _, err := OpenState(StateOptions{Dir: dir, Key: testKey(2), Logger: quietLog()}); !errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		t.Fatalf("opened with another key: %v", err)
	}
	if _, err := OpenFSM(dir, quietLog()); err == nil {
		t.Fatal("opened without its key")
	}
	f, err = OpenState(StateOptions{Dir: dir, Key: testKey(1), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := sameState(want, dump(t, f)); err != nil {
		t.Fatalf("reopened: %v", err)
	}
}

// A snapshot of an encrypted state restores into another member's state,
// encrypted with that member's own key.
func TestSnapshotRestoresIntoAnEncryptedState(t *testing.T) {
	src, err := OpenState(StateOptions{Dir: t.TempDir(), Key: testKey(1), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := &applier{f: src}
	registerSample(t, a, "00004")
	a.apply(t, putCommune("00008", marker))
	a.apply(t, appendEvents("00004", records(t, "00004", 2, 80)...))

	dir := t.TempDir()
	dst, err := OpenState(StateOptions{Dir: dir, Key: testKey(3), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	(&applier{f: dst}).apply(t, putCommune("00099", "Xã cũ"))
	if err := dst.Restore(io.NopCloser(snapshotOf(t, src))); err != nil {
		t.Fatal(err)
	}
	if err := sameState(dump(t, src), dump(t, dst)); err != nil {
		t.Fatalf("restored state differs: %v", err)
	}
	dst.Close()
	if got := filesHolding(t, dir, marker); len(got) > 0 {
		t.Fatalf("the restored state holds the commune's name in clear in %v", got)
	}
	dst, err = OpenState(StateOptions{Dir: dir, Key: testKey(3), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if c, err := dst.Commune("00008"); err != nil || c.GetName() != marker {
		t.Fatalf("after reopening: %v %v", c, err)
	}
}

// stateConfig is a member configuration whose TLS files Validate does not
// reach: only the key checks are asked of it.
func stateConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "central")
	return cfg
}

func TestStateKeyFileIsMadeOncePrivateAndChecked(t *testing.T) {
	cfg := stateConfig(t)
	if err := cfg.checkStateKey(); err != nil {
		t.Fatalf("a new member without a key file: %v", err)
	}
	key, err := cfg.stateKey(quietLog())
	if err != nil {
		t.Fatal(err)
	}
	kf := cfg.StateKeyPath()
	if kf != cfg.DataDir+".key" {
		t.Fatalf("default key file %s", kf)
	}
	st, err := os.Stat(kf)
	if err != nil || st.Mode().Perm() != 0o600 || len(key) != 32 {
		t.Fatalf("key file %v %v, key of %d bytes", st.Mode(), err, len(key))
	}
	again, err := cfg.stateKey(quietLog())
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("the key changed on the second start: %v", err)
	}
	f, err := OpenState(StateOptions{Dir: stateDir(cfg.DataDir), Key: key, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()

	// A key file its group may read is refused, in one line naming the key.
	if err := os.Chmod(kf, 0o640); err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{"validate": cfg.checkStateKey(), "start": func() error { _, err := cfg.stateKey(quietLog()); return err }()} {
		if err == nil || !strings.HasPrefix(err.Error(), "state_key_file: ") || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "group or others") {
			t.Errorf("%s with a group-readable key: %v", what, err)
		}
	}
	os.Chmod(kf, 0o600)

	// The encrypted state's key gone: a clear error, no new key.
	os.Rename(kf, kf+".away")
	for what, err := range map[string]error{"validate": cfg.checkStateKey(), "start": func() error { _, err := cfg.stateKey(quietLog()); return err }()} {
		if err == nil || !strings.HasPrefix(err.Error(), "state_key_file: ") || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s without the key: %v", what, err)
		}
	}
	if _, err := os.Stat(kf); err == nil {
		t.Fatal("made a new key for an encrypted state")
	}

	// Another key: the error names state_key_file.
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := atrest.CreateKeyFile(other); err != nil {
		t.Fatal(err)
	}
	cfg.StateKeyFile = other
	k2, err := cfg.stateKey(quietLog())
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenState(StateOptions{Dir: stateDir(cfg.DataDir), Key: k2, Logger: quietLog()})
	if err = cfg.wrongStateKey(err); err == nil || !strings.HasPrefix(err.Error(), "state_key_file: "+other+" is not the key") {
		t.Fatalf("wrong key: %v", err)
	}
}

// A state an earlier version wrote without encryption is cleared at start
// and rebuilt, encrypted, by Raft; the member ends with the cluster's data.
func TestUnencryptedStateIsRebuiltEncrypted(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 20 {
		name := fmt.Sprintf("Xã %d", i)
		if i == 7 {
			name = marker
		}
		if res, err := c.write(ctx, putCommune(fmt.Sprintf("%05d", 10000+i), name)); err != nil || res.GetCode() != 0 {
			t.Fatalf("write %d: %v %v", i, res, err)
		}
	}
	var follower string
	for _, m := range c.running() {
		if !m.IsLeader() {
			follower = m.ID()
			break
		}
	}
	if err := c.member(follower).FSM().WaitApplied(ctx, c.leader().FSM().AppliedIndex()); err != nil {
		t.Fatal(err)
	}
	c.stop(follower)
	dir := stateDir(c.dirs[follower])
	if got := filesHolding(t, dir, marker); len(got) == 0 {
		t.Fatal("the unencrypted state does not hold the name: the test looks for the wrong bytes")
	}
	cfg := DefaultConfig()
	cfg.DataDir = c.dirs[follower]
	key, err := cfg.stateKey(quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := atrest.Inspect(dir); st != atrest.New {
		t.Fatalf("the unencrypted state was not cleared: %v", st)
	}
	c.tuning = func(m *MemberConfig) { m.StateKey = key }
	m := c.start(Peer{ID: follower, Addr: c.addrOf(follower)}, nil)
	if err := m.FSM().WaitApplied(ctx, c.leader().FSM().AppliedIndex()); err != nil {
		t.Fatalf("rebuilding: %v", err)
	}
	if got, _ := m.FSM().Communes(); len(got) != 20 {
		t.Fatalf("rebuilt state holds %d communes, want 20", len(got))
	}
	c.stop(follower)
	if got := filesHolding(t, dir, marker); len(got) > 0 {
		t.Fatalf("the rebuilt state holds the name in clear in %v", got)
	}
	if st, _ := atrest.Inspect(dir); st != atrest.Encrypted {
		t.Fatalf("the rebuilt state is %v", st)
	}
}

// Encrypted members (each with its own key) catch up from a snapshot.
func TestEncryptedMemberCatchesUpFromASnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *MemberConfig) {
		cfg.SnapshotThreshold, cfg.TrailingLogs = 64, 16
		cfg.StateKey = testKey(cfg.ID[len(cfg.ID)-1])
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var follower string
	for _, m := range c.running() {
		if !m.IsLeader() {
			follower = m.ID()
			break
		}
	}
	c.stop(follower)
	for i := range 300 {
		name := fmt.Sprintf("Xã %d", i)
		if i == 150 {
			name = marker
		}
		if res, err := c.write(ctx, putCommune(fmt.Sprintf("%05d", 10000+i), name)); err != nil || res.GetCode() != 0 {
			t.Fatalf("write %d: %v %v", i, res, err)
		}
	}
	l := c.leader()
	if err := l.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	m := c.start(Peer{ID: follower, Addr: c.addrOf(follower)}, nil)
	if err := m.FSM().WaitApplied(ctx, l.FSM().AppliedIndex()); err != nil {
		t.Fatalf("follower catching up: %v", err)
	}
	if m.FSM().Restores() == 0 {
		t.Fatalf("follower caught up without installing a snapshot: %v", m.Stats())
	}
	if got, _ := m.FSM().Communes(); len(got) != 300 {
		t.Fatalf("follower holds %d communes, want 300", len(got))
	}
	c.stop(follower)
	if got := filesHolding(t, stateDir(c.dirs[follower]), marker); len(got) > 0 {
		t.Fatalf("the restored state holds the name in clear in %v", got)
	}
	// What the process does not encrypt, the disk must (docs/deploy.md):
	// the snapshot it received holds the name in clear.
	if got := filesHolding(t, filepath.Join(c.dirs[follower], "snapshots"), marker); len(got) == 0 {
		t.Error("the snapshot on disk no longer holds the name in clear: say so in docs/deploy.md")
	}
}
