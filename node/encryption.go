package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/internal/atrest"
)

// Encryption at rest. A node's store is encrypted (Badger, AES) with the
// key in encryption_key_file, {data_dir}.key when none is configured; a
// new store gets a new random key in that file (mode 0600) when the file
// does not exist yet. The key file is never overwritten, and refused when
// its group or others may read it. A store made without encryption (by
// an earlier version without a key) opens only with
// allow_unencrypted_store, and then keeps no new private key of the node:
// an enrollment needs an encrypted store.

// KeyFile is the file of the store's encryption key: encryption_key_file,
// or {data_dir}.key.
func (c Config) KeyFile() string {
	if c.EncryptionKeyFile != "" {
		return c.EncryptionKeyFile
	}
	return atrest.DefaultKeyFile(c.DataDir)
}

// ErrIdentityInClear refuses to keep the node's private key in a store
// that is not encrypted.
var ErrIdentityInClear = errors.New("the store is not encrypted (allow_unencrypted_store): the node keeps its private key only in an encrypted store; move the commune's data to an encrypted store (docs/deploy.md) to enroll")

func errUnencryptedStore(dir string) error {
	return fmt.Errorf("data_dir: the store in %s is not encrypted (made without encryption_key_file); set allow_unencrypted_store: true to keep opening it so, or move its data to an encrypted store (docs/deploy.md)", dir)
}

// checkEncryption is Validate's part: the key file is there and private,
// or will be made for a new store; a store without encryption is allowed.
func (c Config) checkEncryption() error {
	state, err := atrest.Inspect(c.DataDir)
	if err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	if state == atrest.Plain {
		if !c.AllowUnencryptedStore {
			return errUnencryptedStore(c.DataDir)
		}
		return nil
	}
	kf := c.KeyFile()
	_, err = ReadKeyFile(kf)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist) && state == atrest.New:
		// Made with the store; a configured one's directory must be there
		// (the default's is made with the data directory).
		if st, err := os.Stat(filepath.Dir(kf)); c.EncryptionKeyFile != "" && (err != nil || !st.IsDir()) {
			return fmt.Errorf("encryption_key_file: %s cannot be made: no directory %s", kf, filepath.Dir(kf))
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return errKeyMissing(kf, c.DataDir)
	default:
		return fmt.Errorf("encryption_key_file: %w", err)
	}
}

func errKeyMissing(kf, dir string) error {
	return fmt.Errorf("encryption_key_file: %s does not exist, and the store in %s is encrypted with it: put the key back from the node's backup", kf, dir)
}

// openStore opens the node's store as the configuration says, making the
// key of a new store.
func openStore(cfg Config, log *slog.Logger) (*Store, error) {
	state, err := atrest.Inspect(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	opts := StoreOptions{Dir: cfg.DataDir, Logger: log}
	kf := cfg.KeyFile()
	switch state {
	case atrest.Plain:
		if !cfg.AllowUnencryptedStore {
			return nil, errUnencryptedStore(cfg.DataDir)
		}
		log.Warn("the store is not encrypted at rest (allow_unencrypted_store): dossiers and citizens' data lie in clear on disk; move them to an encrypted store (docs/deploy.md)", "data_dir", cfg.DataDir)
		opts.Unencrypted = true
	case atrest.New:
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
		k, made, err := atrest.ReadOrCreateKeyFile(kf)
		if err != nil {
			return nil, fmt.Errorf("encryption_key_file: %w", err)
		}
		if made {
			log.Info("new store: made its encryption key", "encryption_key_file", kf)
		}
		opts.EncryptionKey = k
	case atrest.Encrypted:
		k, err := ReadKeyFile(kf)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errKeyMissing(kf, cfg.DataDir)
		}
		if err != nil {
			return nil, fmt.Errorf("encryption_key_file: %w", err)
		}
		opts.EncryptionKey = k
	}
	st, err := OpenStore(opts)
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		return nil, fmt.Errorf("encryption_key_file: %s is not the key the store in %s was encrypted with", kf, cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	if !st.Encrypted() {
		if id, err := st.Identity(); err == nil && len(id.GetKeyPem()) > 0 {
			log.Warn("the node's private key lies in clear in the unencrypted store: once the data is in an encrypted store, revoke this node at central and enroll it again", "node_id", id.GetNodeId())
		}
	}
	return st, nil
}

// SaveIdentity keeps the node's enrollment, with its private key, only in
// an encrypted store; once it holds the certificate central signed, the
// node serves TLS with it from the next connection on.
func (l syncLocal) SaveIdentity(ctx context.Context, id *xasov1.NodeIdentity) error {
	if !l.Store.Encrypted() && len(id.GetKeyPem()) > 0 {
		return ErrIdentityInClear
	}
	if err := l.Store.SaveIdentity(ctx, id); err != nil {
		return err
	}
	if l.n.tls != nil && len(id.GetCertificatePem()) > 0 {
		if err := l.n.tls.update(ctx, id); err != nil {
			l.n.log.Error("enrolled, but the TLS served stays as it was", "err", err)
		}
	}
	return nil
}
