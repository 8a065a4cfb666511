package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// ChunkSize is the size of an attachment chunk.
const ChunkSize = dossier.ChunkSize

func attachmentKey(sha string) []byte { return []byte(prefixAttachment + sha) }

func chunkKey(sum []byte) []byte { return []byte(prefixChunk + hex.EncodeToString(sum)) }

// PutAttachment stores a file content-addressed, in chunks, after checking
// its size and that its content is of the type it claims (PDF, JPEG or PNG).
// Storing the same content twice stores it once.
func (s *Store) PutAttachment(filename, contentType string, content []byte, maxBytes int64) (*xasov1.AttachmentRef, error) {
	var v dossier.Violations
	filename = path.Base(strings.ReplaceAll(filename, "\\", "/"))
	if filename == "." || filename == "/" || !utf8.ValidString(filename) || len(filename) > 255 {
		v.Add("filename", "a file name of at most 255 bytes is required")
	}
	contentType = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	if !dossier.AllowedFileType(contentType) {
		v.Add("content_type", dossier.FileTypesText)
	}
	switch {
	case len(content) == 0:
		v.Add("content", "the file is empty")
	case int64(len(content)) > maxBytes:
		v.Add("content", fmt.Sprintf("%d bytes is over the limit of %d", len(content), maxBytes))
	case dossier.AllowedFileType(contentType):
		if got := http.DetectContentType(content); got != contentType {
			v.Add("content", fmt.Sprintf("the content is %s, not %s", got, contentType))
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(content)
	ref := &xasov1.AttachmentRef{Sha256: hex.EncodeToString(sum[:]), Filename: filename, ContentType: contentType, SizeBytes: int64(len(content))}
	man := &xasov1.AttachmentManifest{Attachment: ref, ChunkSize: ChunkSize}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for off := 0; off < len(content); off += ChunkSize {
		part := content[off:min(off+ChunkSize, len(content))]
		cs := sha256.Sum256(part)
		man.ChunkSha256 = append(man.ChunkSha256, cs[:])
		if err := wb.Set(chunkKey(cs[:]), bytes.Clone(part)); err != nil {
			return nil, fmt.Errorf("store attachment %s: %w", ref.Sha256, err)
		}
	}
	// Chunks first, manifest last: a manifest never names a missing chunk.
	if err := wb.Flush(); err != nil {
		return nil, fmt.Errorf("store attachment %s: %w", ref.Sha256, err)
	}
	mv, err := proto.Marshal(man)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	// The file goes to central once a dossier's change names it (see
	// queueUploads): a scan stored for an action the workflow refused, or
	// a form left half-filled, stays in the commune.
	if _, err := s.write(context.Background(), func(txn *badger.Txn) (*effect, error) {
		eff := newEffect()
		if _, err := txn.Get(attachmentKey(ref.Sha256)); err == nil {
			return eff, nil // stored already
		}
		eff.set(attachmentKey(ref.Sha256), mv)
		return eff, nil
	}); err != nil {
		return nil, fmt.Errorf("store attachment %s: %w", ref.Sha256, err)
	}
	return ref, nil
}

// Attachment returns a stored file and its content, checked against its hash.
func (s *Store) Attachment(sha string) (*xasov1.AttachmentRef, []byte, error) {
	man := &xasov1.AttachmentManifest{}
	var content []byte
	err := s.view(func(txn *badger.Txn) error {
		if err := getProto(txn, attachmentKey(sha), man); err != nil {
			return err
		}
		var err error
		content, err = dossier.JoinChunks(man, func(sum []byte) ([]byte, error) { return getValue(txn, chunkKey(sum)) })
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("attachment %s: %w", sha, err)
	}
	return man.GetAttachment(), content, nil
}

// errCorrupt says that stored content does not match its hash.
var errCorrupt = dossier.ErrFileCorrupt
