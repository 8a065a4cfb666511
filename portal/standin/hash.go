package standin

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// hashReader hashes what is read through it.
type hashReader struct {
	r io.Reader
	h hash.Hash
}

func newHashReader(r io.Reader) *hashReader { return &hashReader{r: r, h: sha256.New()} }

// Read reads from the underlying reader and hashes what it read.
func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// sum is the hex SHA-256 of what was read.
func (h *hashReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }
