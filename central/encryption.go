package central

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	"github.com/xaso/xaso/internal/atrest"
)

// Encryption at rest. A member's state (Badger) is encrypted with the AES
// key in state_key_file, {data_dir}.key when none is configured; a new
// state gets a new random key in that file (mode 0600) when the file does
// not exist yet. The key file is never overwritten, and refused when its
// group or others may read it. The state is derived from the Raft
// snapshot and log, so a state made without encryption (by an earlier
// version) is cleared at start and rebuilt, encrypted, by Raft. What the
// process does not encrypt (the Raft log, the snapshots, the TLS keys) is
// the disk's to protect: see docs/deploy.md.

// StateOptions say how OpenState opens a member's state.
type StateOptions struct {
	// Dir is the Badger directory.
	Dir string
	// Key, 16, 24 or 32 bytes, encrypts the state at rest (AES); without
	// it the state is not encrypted (tests).
	Key    []byte
	Logger *slog.Logger
}

// stateDir is where a member keeps its state, in its data directory.
func stateDir(dataDir string) string { return filepath.Join(dataDir, "state") }

// StateKeyPath is the file of the state's encryption key: state_key_file, or
// {data_dir}.key.
func (c Config) StateKeyPath() string {
	if c.StateKeyFile != "" {
		return c.StateKeyFile
	}
	return atrest.DefaultKeyFile(c.DataDir)
}

// checkStateKey is Validate's part: the key file is there and private, or
// will be made for a state that is not encrypted yet.
func (c Config) checkStateKey() error {
	state, err := atrest.Inspect(stateDir(c.DataDir))
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	kf := c.StateKeyPath()
	_, err = atrest.ReadKeyFile(kf)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist) && state != atrest.Encrypted:
		if st, err := os.Stat(filepath.Dir(kf)); c.StateKeyFile != "" && (err != nil || !st.IsDir()) {
			return fmt.Errorf("state_key_file: %s cannot be made: no directory %s", kf, filepath.Dir(kf))
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return errStateKeyMissing(kf, stateDir(c.DataDir))
	default:
		return fmt.Errorf("state_key_file: %w", err)
	}
}

func errStateKeyMissing(kf, dir string) error {
	return fmt.Errorf("state_key_file: %s does not exist, and the state in %s is encrypted with it: put the key back, or delete %s to have Raft rebuild it with a new key", kf, dir, dir)
}

// stateKey returns the key of the member's state, making it for a state
// that is not encrypted yet. A state made without encryption is cleared:
// Raft restores it from the snapshot and replays the log.
func (c Config) stateKey(log *slog.Logger) ([]byte, error) {
	dir := stateDir(c.DataDir)
	state, err := atrest.Inspect(dir)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	kf := c.StateKeyPath()
	key, err := atrest.ReadKeyFile(kf)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && state != atrest.Encrypted:
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
		var made bool
		if key, made, err = atrest.ReadOrCreateKeyFile(kf); err != nil {
			return nil, fmt.Errorf("state_key_file: %w", err)
		}
		if made {
			log.Info("made the state's encryption key", "state_key_file", kf)
		}
	case errors.Is(err, fs.ErrNotExist):
		return nil, errStateKeyMissing(kf, dir)
	default:
		return nil, fmt.Errorf("state_key_file: %w", err)
	}
	if state == atrest.Plain {
		log.Warn("the state is not encrypted (made by an earlier version): clearing it; Raft rebuilds it, encrypted, from the snapshot and the log", "dir", dir)
		if err := clearDir(dir); err != nil {
			return nil, fmt.Errorf("clear the unencrypted state: %w", err)
		}
	}
	return key, nil
}

// clearDir removes what dir holds, keeping dir.
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// wrongStateKey names state_key_file when the state does not open with it.
func (c Config) wrongStateKey(err error) error {
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		dir := stateDir(c.DataDir)
		return fmt.Errorf("state_key_file: %s is not the key the state in %s was encrypted with: put the right key back, or delete %s to have Raft rebuild it with this one", c.StateKeyPath(), dir, dir)
	}
	return err
}
