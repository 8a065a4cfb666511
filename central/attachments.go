package central

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// Files (scans of components, results) reach central after the events
// that name them: a node offers a file's manifest, then sends the chunks
// central lacks. Chunks are content-addressed, so a file two dossiers
// share, or a chunk resent after a cut, is stored once.

func chunkKey(sum []byte) []byte { return []byte(prefixChunk + hex.EncodeToString(sum)) }

func applyManifest(st *stateTxn, c *xasov1.PutAttachmentManifestCommand) *xasov1.CommandResult {
	if err := dossier.ValidateManifest(c.GetManifest()); err != nil {
		return invalid("", err.(dossier.Violations))
	}
	key := []byte(prefixManifest + c.GetManifest().GetAttachment().GetSha256())
	if !st.getProto(key, &xasov1.AttachmentManifest{}) {
		st.setProto(key, c.GetManifest())
	}
	return &xasov1.CommandResult{}
}

func applyChunk(st *stateTxn, c *xasov1.PutChunkCommand) *xasov1.CommandResult {
	sum := sha256.Sum256(c.GetData())
	if !bytes.Equal(sum[:], c.GetSha256()) || len(c.GetData()) > dossier.ChunkSize {
		return refused(codes.DataLoss, "the chunk does not match its hash")
	}
	key := chunkKey(sum[:])
	if _, err := getValue(st.txn, key); err == nil {
		return &xasov1.CommandResult{Duplicates: 1}
	}
	st.set(key, c.GetData())
	return &xasov1.CommandResult{Accepted: 1}
}

// AttachmentManifest returns the manifest of a file a node offered.
func (f *FSM) AttachmentManifest(sha string) (*xasov1.AttachmentManifest, error) {
	m := &xasov1.AttachmentManifest{}
	if err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, []byte(prefixManifest+sha), m) }); err != nil {
		return nil, fmt.Errorf("attachment %s: %w", sha, err)
	}
	return m, nil
}

// MissingChunks lists the indexes of the manifest's chunks central lacks.
func (f *FSM) MissingChunks(m *xasov1.AttachmentManifest) ([]int32, error) {
	var out []int32
	err := f.db.View(func(txn *badger.Txn) error {
		for i, c := range m.GetChunkSha256() {
			_, err := txn.Get(chunkKey(c))
			switch {
			case err == badger.ErrKeyNotFound:
				out = append(out, int32(i))
			case err != nil:
				return err
			}
		}
		return nil
	})
	return out, err
}

// Attachment returns a file's content when central holds all of it.
func (f *FSM) Attachment(sha string) (*xasov1.AttachmentRef, []byte, error) {
	m, err := f.AttachmentManifest(sha)
	if err != nil {
		return nil, nil, err
	}
	var content []byte
	err = f.db.View(func(txn *badger.Txn) (err error) {
		content, err = dossier.JoinChunks(m, func(sum []byte) ([]byte, error) { return getValue(txn, chunkKey(sum)) })
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("attachment %s: %w", sha, err)
	}
	return m.GetAttachment(), content, nil
}
