// Package atrest holds what the node's store and central's state share to
// be encrypted at rest: the AES key files (read only when no one but their
// owner may read them, created once with a random key) and a look at a
// Badger directory that tells a new store from one made without
// encryption and one made with it, before Badger opens it.
package atrest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DefaultKeyFile is the key file of a store in dataDir when none is
// configured: beside the directory, not in it, so that a copy of the
// directory does not carry its key along ("/var/lib/xaso/node" →
// "/var/lib/xaso/node.key").
func DefaultKeyFile(dataDir string) string {
	return strings.TrimRight(filepath.Clean(dataDir), string(filepath.Separator)) + ".key"
}

// ReadKeyFile reads an AES key of 16, 24 or 32 bytes, raw or hex-encoded.
// A file that its group or others may read or write is refused: the key
// is worth as much as everything it encrypts.
func ReadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s may be read by group or others (mode %04o): chmod 600 it, owned by the user the service runs as", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, err
	}
	if k, err := hex.DecodeString(strings.TrimSpace(string(data))); err == nil && validKeyLen(len(k)) {
		return k, nil
	}
	if validKeyLen(len(data)) {
		return data, nil
	}
	return nil, fmt.Errorf("%s holds %d bytes; an AES key is 16, 24 or 32 bytes (raw or hex)", path, len(data))
}

func validKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// CreateKeyFile writes a new random 32-byte key to path, hex-encoded, with
// mode 0600; it never replaces a file that exists (fs.ErrExist). The
// directory must exist.
func CreateKeyFile(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // the new name survives a power cut; best effort
		d.Close()
	}
	return key, nil
}

// ReadOrCreateKeyFile reads the key in path, or makes it there when the
// file does not exist (as CreateKeyFile); made says it was made now. A key
// made by another process meanwhile is read.
func ReadOrCreateKeyFile(path string) (key []byte, made bool, err error) {
	key, err = ReadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if key, err = CreateKeyFile(path); errors.Is(err, fs.ErrExist) {
		key, err = ReadKeyFile(path)
		return key, false, err
	}
	return key, err == nil, err
}

// State is what a Badger directory holds, as far as encryption goes.
type State int

const (
	// New: no store yet (no directory, or no Badger files in it).
	New State = iota
	// Plain: a store made without an encryption key.
	Plain
	// Encrypted: a store made with one.
	Encrypted
)

func (s State) String() string {
	return [...]string{"new", "not encrypted", "encrypted"}[s]
}

// Badger's key registry starts with a 16-byte IV and the text below,
// encrypted with the store's key when it has one, in clear otherwise.
const (
	keyRegistryFile = "KEYREGISTRY"
	ivSize          = 16
	sanityText      = "Hello Badger"
)

// Inspect tells what the Badger directory dir holds without opening it.
func Inspect(dir string) (State, error) {
	f, err := os.Open(filepath.Join(dir, keyRegistryFile))
	if errors.Is(err, fs.ErrNotExist) {
		// Badger writes its key registry first; without one, a manifest
		// would be a store of a Badger older than encryption.
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err == nil {
			return Plain, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return New, err
		}
		return New, nil
	}
	if err != nil {
		return New, err
	}
	defer f.Close()
	head := make([]byte, ivSize+len(sanityText))
	if _, err := io.ReadFull(f, head); err != nil {
		return New, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if bytes.Equal(head[ivSize:], []byte(sanityText)) {
		return Plain, nil
	}
	return Encrypted, nil
}

// FilesHolding lists the files under dir whose bytes contain text in
// clear: what a check that a store is encrypted looks for.
func FilesHolding(dir, text string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(text)) {
			out = append(out, path)
		}
		return nil
	})
	return out, err
}
