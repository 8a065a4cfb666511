package central

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// Files (scans of components, results) reach central after the events
// that name them: a node offers a file's manifest, then sends the chunks
// central lacks. Chunks are content-addressed, so a file two dossiers
// share, or a chunk resent after a cut, is stored once.
//
// A manifest is only a commune's claim until the bytes prove it, and one
// commune's claim never stands in another's way (a stolen node key must
// not let its commune block another commune's files by offering a bogus
// manifest first). Each commune's offer waits at am/{sha}/{commune}, its
// own, whatever other communes offered by that hash. When the commune's
// chunks complete it, apply joins the file and checks its SHA-256 and that
// its bytes are of the content type it declares; only then does the file
// count as held, at am/{sha} (the key reads use), and every commune's
// waiting offer of that hash is settled: from then on an offer naming the
// same chunks is told nothing is missing, and one naming others is
// refused, for that commune alone. A check that fails drops the offer and
// says why; nothing else changes.
//
// A commune has at most maxPendingFiles offers waiting, so that a hostile
// node cannot fill the state with manifests. The chunks it sends for an
// offer that never completes, or fails its check, stay: they are
// content-addressed and may be another file's too, and nothing in apply
// (no clock) can say when an offer is abandoned. That is a known cost,
// bounded only by the size of a file times the offers a commune makes;
// issue 20 moves the bytes out of the Raft state into a store beside the
// log, where unreferenced chunks can be collected.

// maxPendingFiles bounds the offers of a commune waiting for their bytes.
// A node sends one file at a time, so a commune has one or two waiting
// unless its node dies mid-upload, again and again.
const maxPendingFiles = 1000

// prefixPending indexes the waiting offers by commune, to bound them:
// ap/{commune}/{attachment sha256}, empty value.
const prefixPending = "ap/"

func chunkKey(sum []byte) []byte { return []byte(prefixChunk + hex.EncodeToString(sum)) }

// manifestKey is where a file central holds whole and verified has its manifest.
func manifestKey(sha string) []byte { return []byte(prefixManifest + sha) }

// pendingKey is where a commune's offer of a file waits for its bytes.
func pendingKey(sha, commune string) []byte { return []byte(prefixManifest + sha + "/" + commune) }

func pendingIndexKey(commune, sha string) []byte {
	return []byte(prefixPending + commune + "/" + sha)
}

func applyManifest(st *stateTxn, c *xasov1.PutAttachmentManifestCommand) *xasov1.CommandResult {
	man, commune := c.GetManifest(), c.GetCommuneCode()
	if !dossier.ValidCommuneCode(commune) {
		return invalid("", violation("commune_code", "a 5-digit administrative unit code"))
	}
	if err := dossier.ValidateOfferedManifest(man); err != nil {
		return invalid("", err.(dossier.Violations))
	}
	if !st.getProto([]byte(prefixCommune+commune), &xasov1.Commune{}) {
		return refused(codes.FailedPrecondition, "commune %s is not registered", commune)
	}
	sha := man.GetAttachment().GetSha256()
	held := &xasov1.AttachmentManifest{}
	if st.getProto(manifestKey(sha), held) {
		// Settling the file cleared every waiting offer of it: there is
		// none of this commune's to drop.
		if !dossier.SameChunks(held, man) {
			return refused(codes.DataLoss, "file %s: the chunks differ from those of the file central holds by that hash", sha)
		}
		return &xasov1.CommandResult{Duplicates: 1}
	}
	if !st.getProto(pendingKey(sha, commune), &xasov1.AttachmentManifest{}) {
		if countPending(st, commune) >= maxPendingFiles {
			return refused(codes.ResourceExhausted, "commune %s has %d files offered and not complete: finish those first", commune, maxPendingFiles)
		}
		st.set(pendingIndexKey(commune, sha), []byte{})
	}
	// A commune's new offer of a hash replaces its own earlier one.
	st.setProto(pendingKey(sha, commune), man)
	// Every chunk may be here already (another file's, or sent before an
	// answer was lost): the file is checked now, as no chunk will come.
	if complete(st, man, -1, nil) {
		return settle(st, commune, man, nil, nil)
	}
	return &xasov1.CommandResult{Accepted: 1}
}

func applyChunk(st *stateTxn, c *xasov1.PutChunkCommand) *xasov1.CommandResult {
	data := c.GetData()
	sum := sha256.Sum256(data)
	if !bytes.Equal(sum[:], c.GetSha256()) || len(data) > dossier.ChunkSize {
		return refused(codes.DataLoss, "the chunk does not match its hash")
	}
	sha, commune, i := c.GetAttachmentSha256(), c.GetCommuneCode(), c.GetIndex()
	if sha == "" && commune == "" {
		// A command written before files were checked whole (replayed
		// from an older log): a content-addressed chunk, as it was then.
		return storeChunk(st, sum[:], data)
	}
	var v dossier.Violations
	if !dossier.ValidCommuneCode(commune) {
		v.Add("commune_code", "a 5-digit administrative unit code")
	}
	if !dossier.ValidSHA256(sha) {
		v.Add("attachment_sha256", "the SHA-256 of the file, in hex")
	}
	if len(v) > 0 {
		return invalid("", v)
	}
	man := &xasov1.AttachmentManifest{}
	pending := st.getProto(pendingKey(sha, commune), man)
	if !pending && !st.getProto(manifestKey(sha), man) {
		return refused(codes.FailedPrecondition, "file %s was not offered by commune %s: offer its manifest first", sha, commune)
	}
	if i < 0 || int(i) >= len(man.GetChunkSha256()) || !bytes.Equal(man.GetChunkSha256()[i], sum[:]) {
		return invalid("", violation("data", fmt.Sprintf("not chunk %d of file %s as commune %s offered it", i, sha, commune)))
	}
	if !pending {
		// The file is held (another commune's copy completed first, or a
		// manifest from before files were checked lacks chunks).
		return storeChunk(st, sum[:], data)
	}
	if complete(st, man, int(i), sum[:]) {
		// Checked before the chunk is stored: a refused file changes
		// nothing but its commune's offer.
		if res := settle(st, commune, man, sum[:], data); res.GetCode() != 0 {
			return res
		}
	}
	return storeChunk(st, sum[:], data)
}

func storeChunk(st *stateTxn, sum, data []byte) *xasov1.CommandResult {
	key := chunkKey(sum)
	if _, err := getValue(st.txn, key); err == nil {
		return &xasov1.CommandResult{Duplicates: 1}
	}
	st.set(key, data)
	return &xasov1.CommandResult{Accepted: 1}
}

// countPending counts a commune's waiting offers, up to maxPendingFiles.
func countPending(st *stateTxn, commune string) int {
	it := st.txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixPending + commune + "/")})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid() && n < maxPendingFiles; it.Next() {
		n++
	}
	return n
}

// complete says whether every chunk of m is stored, or is the chunk of
// hash sum in hand, at index have (-1 and nil: none). It looks from the
// chunk after have on and stops at the first missing one, so that a file
// sent in order costs one look a chunk until its last.
func complete(st *stateTxn, m *xasov1.AttachmentManifest, have int, sum []byte) bool {
	sums := m.GetChunkSha256()
	for k := 1; k <= len(sums); k++ {
		j := (have + k) % len(sums)
		if sum != nil && bytes.Equal(sums[j], sum) {
			continue
		}
		_, err := st.txn.Get(chunkKey(sums[j]))
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return false
		case err != nil:
			panic(fmt.Sprintf("central state: read chunk %d of file %s: %v", j, m.GetAttachment().GetSha256(), err))
		}
	}
	return true
}

// settle checks a commune's offer whose chunks are all here (the one of
// hash sum, when not nil, in data): the whole file's SHA-256, its size,
// and that its bytes are of its declared type. A file that passes is held
// from then on, and every commune's offer of it is settled; one that
// fails drops the commune's offer. The file is read whole into memory, as
// a read of it is (at most dossier.MaxFileBytes).
func settle(st *stateTxn, commune string, m *xasov1.AttachmentManifest, sum, data []byte) *xasov1.CommandResult {
	a := m.GetAttachment()
	content, err := dossier.JoinChunks(m, func(c []byte) ([]byte, error) {
		if sum != nil && bytes.Equal(c, sum) {
			return data, nil
		}
		return getValue(st.txn, chunkKey(c))
	})
	var res *xasov1.CommandResult
	switch {
	case errors.Is(err, dossier.ErrFileCorrupt):
		res = refused(codes.DataLoss, "file %s as commune %s offered it: its chunks do not make a file of that SHA-256", a.GetSha256(), commune)
	case err != nil:
		panic(fmt.Sprintf("central state: read file %s: %v", a.GetSha256(), err)) // complete found every chunk
	case int64(len(content)) != a.GetSizeBytes():
		res = invalid("", violation("manifest.attachment.size_bytes", fmt.Sprintf("the file has %d bytes, not %d", len(content), a.GetSizeBytes())))
	default:
		if got := http.DetectContentType(content[:min(len(content), 512)]); got != a.GetContentType() || !dossier.AllowedFileType(got) {
			res = invalid("", violation("manifest.attachment.content_type", fmt.Sprintf("the file is %s, not %s", got, a.GetContentType())))
		}
	}
	if res != nil {
		st.del(pendingKey(a.GetSha256(), commune))
		st.del(pendingIndexKey(commune, a.GetSha256()))
		return res
	}
	st.setProto(manifestKey(a.GetSha256()), m)
	for _, other := range pendingOffers(st, a.GetSha256()) {
		st.del(pendingKey(a.GetSha256(), other))
		st.del(pendingIndexKey(other, a.GetSha256()))
	}
	return &xasov1.CommandResult{Accepted: 1}
}

// pendingOffers lists the communes whose offer of file sha waits.
func pendingOffers(st *stateTxn, sha string) []string {
	prefix := []byte(prefixManifest + sha + "/")
	it := st.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	var out []string
	for it.Rewind(); it.Valid(); it.Next() {
		out = append(out, string(it.Item().Key()[len(prefix):]))
	}
	return out
}

// AttachmentManifest returns the manifest of a file central holds: its
// bytes were all there and checked against it.
func (f *FSM) AttachmentManifest(sha string) (*xasov1.AttachmentManifest, error) {
	return f.manifest(sha, manifestKey(sha))
}

// PendingManifest returns a commune's offer of a file central does not
// hold yet.
func (f *FSM) PendingManifest(commune, sha string) (*xasov1.AttachmentManifest, error) {
	if !dossier.ValidCommuneCode(commune) {
		return nil, fmt.Errorf("attachment %s of commune %q: %w", sha, commune, errNotFound)
	}
	return f.manifest(sha, pendingKey(sha, commune))
}

func (f *FSM) manifest(sha string, key []byte) (*xasov1.AttachmentManifest, error) {
	if !dossier.ValidSHA256(sha) { // nor a path to another key
		return nil, fmt.Errorf("attachment %q: %w", sha, errNotFound)
	}
	m := &xasov1.AttachmentManifest{}
	if err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, key, m) }); err != nil {
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
