package central

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// pdfBytes is a PDF of n bytes (its magic, then noise from seed).
func pdfBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	copy(b, "%PDF-1.4\n")
	return b
}

// chunksOf splits content as a node does.
func chunksOf(content []byte) [][]byte {
	var out [][]byte
	for off := 0; off < len(content); off += dossier.ChunkSize {
		out = append(out, content[off:min(off+dossier.ChunkSize, len(content))])
	}
	return out
}

// manifestOf is the manifest of chunks sent as the file of hash sha.
func manifestOf(sha string, size int, contentType string, chunks [][]byte) *xasov1.AttachmentManifest {
	m := &xasov1.AttachmentManifest{ChunkSize: dossier.ChunkSize,
		Attachment: &xasov1.AttachmentRef{Sha256: sha, Filename: "scan.pdf", ContentType: contentType, SizeBytes: int64(size)}}
	for _, c := range chunks {
		s := sha256.Sum256(c)
		m.ChunkSha256 = append(m.ChunkSha256, s[:])
	}
	return m
}

func fileSum(content []byte) string {
	s := sha256.Sum256(content)
	return hex.EncodeToString(s[:])
}

func offer(commune string, m *xasov1.AttachmentManifest) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutAttachmentManifest{PutAttachmentManifest: &xasov1.PutAttachmentManifestCommand{
		CommuneCode: commune, Manifest: m}}}
}

func putChunk(commune, sha string, i int, data []byte) *xasov1.CentralCommand {
	s := sha256.Sum256(data)
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutChunk{PutChunk: &xasov1.PutChunkCommand{
		Sha256: s[:], Data: data, CommuneCode: commune, AttachmentSha256: sha, Index: int32(i)}}}
}

func wantCode(t *testing.T, what string, r *xasov1.CommandResult, want codes.Code) {
	t.Helper()
	if got := codes.Code(r.GetCode()); got != want {
		t.Fatalf("%s: %v (%s), want %v", what, got, r.GetMessage(), want)
	}
}

// held says whether central holds file sha and serves it as content.
func held(t *testing.T, f *FSM, sha string, content []byte) bool {
	t.Helper()
	_, got, err := f.Attachment(sha)
	if errors.Is(err, errNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("read file %s: %v", sha, err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("file %s: %d bytes served, not the %d bytes of the file", sha, len(got), len(content))
	}
	return true
}

// pendingKeys lists the waiting offers in the state, both keys of each.
func pendingKeys(t *testing.T, f *FSM) []string {
	t.Helper()
	var out []string
	for k := range dump(t, f) {
		if strings.HasPrefix(k, prefixPending) || strings.HasPrefix(k, prefixManifest) && strings.Count(k, "/") == 2 {
			out = append(out, k)
		}
	}
	return out
}

// A stolen node key lets its commune offer a bogus manifest for a file
// another commune holds, before that commune offers it: the other
// commune's offer is its own, its upload completes, and the file is
// served; the bogus chunks never make the file, and once the file is held
// the bogus manifest is refused to its commune alone.
func TestACommunesBogusOfferNeverBlocksAnothers(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004", "00008", "00012")
	const thief, owner, third = "00004", "00008", "00012"

	content := pdfBytes(2*dossier.ChunkSize+1000, 1)
	sha := fileSum(content)
	real := chunksOf(content)
	bogus := chunksOf(pdfBytes(len(content), 2)) // same sizes, other bytes
	realMan := manifestOf(sha, len(content), "application/pdf", real)
	bogusMan := manifestOf(sha, len(content), "application/pdf", bogus)

	wantCode(t, "the thief's offer", a.apply(t, offer(thief, bogusMan))[0], codes.OK)
	wantCode(t, "the thief's chunk 0", a.apply(t, putChunk(thief, sha, 0, bogus[0]))[0], codes.OK)
	wantCode(t, "the owner's offer", a.apply(t, offer(owner, realMan))[0], codes.OK)
	if p, err := f.PendingManifest(owner, sha); err != nil || !dossier.SameChunks(p, realMan) {
		t.Fatalf("the owner's offer waits as its own: %v", err)
	}
	// A chunk of the thief's manifest is not one of the owner's.
	wantCode(t, "a bogus chunk sent as the owner's", a.apply(t, putChunk(owner, sha, 1, bogus[1]))[0], codes.InvalidArgument)
	wantCode(t, "the thief's chunk 1", a.apply(t, putChunk(thief, sha, 1, bogus[1]))[0], codes.OK)
	for i, c := range real {
		if held(t, f, sha, content) {
			t.Fatalf("the file is held before its chunk %d came", i)
		}
		wantCode(t, fmt.Sprint("the owner's chunk ", i), a.apply(t, putChunk(owner, sha, i, c))[0], codes.OK)
	}
	if !held(t, f, sha, content) {
		t.Fatal("the owner's file is not served once all its chunks came")
	}
	if ks := pendingKeys(t, f); len(ks) != 0 {
		t.Fatalf("offers still wait once the file is held: %q", ks)
	}

	// Later offers are answered from the held file, for each commune alone.
	wantCode(t, "the thief's bogus manifest again", a.apply(t, offer(thief, bogusMan))[0], codes.DataLoss)
	wantCode(t, "the thief's last bogus chunk", a.apply(t, putChunk(thief, sha, 2, bogus[2]))[0], codes.InvalidArgument)
	wantCode(t, "a third commune's offer of the true file", a.apply(t, offer(third, realMan))[0], codes.OK)
	if m, _ := f.MissingChunks(realMan); len(m) != 0 {
		t.Fatalf("chunks %v missing of a held file", m)
	}
	if ks := pendingKeys(t, f); len(ks) != 0 {
		t.Fatalf("an offer of a held file waits: %q", ks)
	}
	if !held(t, f, sha, content) {
		t.Fatal("the file is no longer served")
	}
}

// The bogus chunks completing their commune's offer first never make the
// file: the offer is dropped, and the owner's still completes.
func TestBogusChunksCompletingFirstAreRefused(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004", "00008")
	content := pdfBytes(dossier.ChunkSize+10, 3)
	sha := fileSum(content)
	real, bogus := chunksOf(content), chunksOf(pdfBytes(len(content), 4))
	a.apply(t, offer("00004", manifestOf(sha, len(content), "application/pdf", bogus)), offer("00008", manifestOf(sha, len(content), "application/pdf", real)))
	wantCode(t, "bogus chunk 0", a.apply(t, putChunk("00004", sha, 0, bogus[0]))[0], codes.OK)
	wantCode(t, "the chunk completing the bogus offer", a.apply(t, putChunk("00004", sha, 1, bogus[1]))[0], codes.DataLoss)
	if held(t, f, sha, content) {
		t.Fatal("bogus chunks made the file")
	}
	if _, err := f.PendingManifest("00004", sha); err == nil {
		t.Fatal("the refused offer still waits")
	}
	for i, c := range real {
		wantCode(t, fmt.Sprint("the owner's chunk ", i), a.apply(t, putChunk("00008", sha, i, c))[0], codes.OK)
	}
	if !held(t, f, sha, content) {
		t.Fatal("the owner's file is not served")
	}
}

// The check at completion can fail, and a failure drops the commune's
// offer and changes nothing else.
func TestAFileIsCheckedWholeWhenItsLastChunkComes(t *testing.T) {
	pdf := pdfBytes(dossier.ChunkSize+500, 5)
	text := bytes.Repeat([]byte("not a scan at all\n"), 20_000)
	for _, tc := range []struct {
		name    string
		content []byte // sent
		man     func(content []byte) *xasov1.AttachmentManifest
		want    codes.Code
	}{
		{"a true file", pdf, func(c []byte) *xasov1.AttachmentManifest {
			return manifestOf(fileSum(c), len(c), "application/pdf", chunksOf(c))
		}, codes.OK},
		{"chunks that do not hash to the file's SHA-256", pdf, func(c []byte) *xasov1.AttachmentManifest {
			return manifestOf(fileSum(pdfBytes(len(c), 6)), len(c), "application/pdf", chunksOf(c))
		}, codes.DataLoss},
		{"bytes that are not the declared type", text, func(c []byte) *xasov1.AttachmentManifest {
			return manifestOf(fileSum(c), len(c), "application/pdf", chunksOf(c))
		}, codes.InvalidArgument},
		{"a PDF declared a PNG", pdf, func(c []byte) *xasov1.AttachmentManifest {
			return manifestOf(fileSum(c), len(c), "image/png", chunksOf(c))
		}, codes.InvalidArgument},
		{"a size that is not the file's", pdf, func(c []byte) *xasov1.AttachmentManifest {
			return manifestOf(fileSum(c), len(c)+1000, "application/pdf", chunksOf(c))
		}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := openTestFSM(t)
			a := &applier{f: f}
			registerSample(t, a, "00004")
			man := tc.man(tc.content)
			sha := man.GetAttachment().GetSha256()
			chunks := chunksOf(tc.content)
			wantCode(t, "offer", a.apply(t, offer("00004", man))[0], codes.OK)
			for i, c := range chunks[:len(chunks)-1] {
				wantCode(t, fmt.Sprint("chunk ", i), a.apply(t, putChunk("00004", sha, i, c))[0], codes.OK)
			}
			before := withoutAudit(dump(t, f))
			last := len(chunks) - 1
			wantCode(t, "the last chunk", a.apply(t, putChunk("00004", sha, last, chunks[last]))[0], tc.want)
			if got := held(t, f, sha, tc.content); got != (tc.want == codes.OK) {
				t.Fatalf("file held: %v", got)
			}
			if ks := pendingKeys(t, f); len(ks) != 0 {
				t.Fatalf("the offer still waits: %q", ks)
			}
			if tc.want == codes.OK {
				return
			}
			delete(before, string(pendingKey(sha, "00004")))
			delete(before, string(pendingIndexKey("00004", sha)))
			if err := sameState(before, withoutAudit(dump(t, f))); err != nil {
				t.Fatalf("a refused file changed more than its offer: %v", err)
			}
		})
	}
}

// What apply takes of an offer, checked again whatever the service did.
func TestAnOfferIsCheckedInApply(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004")
	content := pdfBytes(1000, 8)
	good := func() *xasov1.AttachmentManifest {
		return manifestOf(fileSum(content), len(content), "application/pdf", chunksOf(content))
	}
	for _, tc := range []struct {
		name    string
		commune string
		change  func(m *xasov1.AttachmentManifest)
		want    codes.Code
	}{
		{"a content type no scan has", "00004", func(m *xasov1.AttachmentManifest) { m.Attachment.ContentType = "text/html" }, codes.InvalidArgument},
		{"too few chunk hashes", "00004", func(m *xasov1.AttachmentManifest) { m.Attachment.SizeBytes = 3 * dossier.ChunkSize }, codes.InvalidArgument},
		{"no commune", "", func(*xasov1.AttachmentManifest) {}, codes.InvalidArgument},
		{"a commune not registered", "00099", func(*xasov1.AttachmentManifest) {}, codes.FailedPrecondition},
	} {
		m := good()
		tc.change(m)
		wantCode(t, tc.name, a.apply(t, offer(tc.commune, m))[0], tc.want)
	}
	sha := fileSum(content)
	wantCode(t, "a chunk of a file not offered", a.apply(t, putChunk("00004", sha, 0, content))[0], codes.FailedPrecondition)
	wantCode(t, "offer", a.apply(t, offer("00004", good()))[0], codes.OK)
	wantCode(t, "a chunk out of range", a.apply(t, putChunk("00004", sha, 1, content))[0], codes.InvalidArgument)
	bad := putChunk("00004", sha, 0, content)
	bad.GetPutChunk().Sha256 = make([]byte, 32)
	wantCode(t, "a chunk not of its hash", a.apply(t, bad)[0], codes.DataLoss)
	wantCode(t, "the chunk", a.apply(t, putChunk("00004", sha, 0, content))[0], codes.OK)
	if !held(t, f, sha, content) {
		t.Fatal("the file is not served")
	}
}

// A commune has a bounded number of offers waiting; at the bound its next
// offer is refused, another commune's is not, and an offer completed makes
// room.
func TestACommunesWaitingOffersAreBounded(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004", "00008")
	file := func(i int) ([]byte, *xasov1.AttachmentManifest) {
		c := append([]byte("%PDF-1.4\n"), fmt.Sprint("file ", i)...)
		return c, manifestOf(fileSum(c), len(c), "application/pdf", chunksOf(c))
	}
	for from := 0; from < maxPendingFiles; from += 200 {
		var cmds []*xasov1.CentralCommand
		for i := from; i < from+200; i++ {
			_, m := file(i)
			cmds = append(cmds, offer("00004", m))
		}
		for i, r := range a.apply(t, cmds...) {
			wantCode(t, fmt.Sprint("offer ", from+i), r, codes.OK)
		}
	}
	_, next := file(maxPendingFiles)
	wantCode(t, "an offer over the bound", a.apply(t, offer("00004", next))[0], codes.ResourceExhausted)
	_, m0 := file(0)
	wantCode(t, "an offer waiting, again", a.apply(t, offer("00004", m0))[0], codes.OK)
	wantCode(t, "another commune's offer", a.apply(t, offer("00008", next))[0], codes.OK)
	c0, _ := file(0)
	wantCode(t, "the chunk completing an offer", a.apply(t, putChunk("00004", m0.GetAttachment().GetSha256(), 0, c0))[0], codes.OK)
	wantCode(t, "an offer once one completed", a.apply(t, offer("00004", next))[0], codes.OK)
	_, more := file(maxPendingFiles + 1)
	wantCode(t, "an offer over the bound again", a.apply(t, offer("00004", more))[0], codes.ResourceExhausted)
}

// An offer whose chunks are all stored already (a chunk command of the
// format before files were checked, replayed from an older log) is
// checked at once: no chunk will come to complete it.
func TestAnOfferOfChunksStoredIsCheckedAtOnce(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004")
	content := pdfBytes(dossier.ChunkSize+77, 9)
	sha := fileSum(content)
	for _, c := range chunksOf(content) {
		old := putChunk("", "", 0, c)
		old.GetPutChunk().Index = 0
		wantCode(t, "a chunk of the older format", a.apply(t, old)[0], codes.OK)
	}
	wrong := manifestOf(sha, len(content), "image/jpeg", chunksOf(content))
	wantCode(t, "an offer of stored chunks that are not its type", a.apply(t, offer("00004", wrong))[0], codes.InvalidArgument)
	if ks := pendingKeys(t, f); len(ks) != 0 {
		t.Fatalf("the refused offer waits: %q", ks)
	}
	r := a.apply(t, offer("00004", manifestOf(sha, len(content), "application/pdf", chunksOf(content))))[0]
	wantCode(t, "an offer of stored chunks", r, codes.OK)
	if !held(t, f, sha, content) {
		t.Fatal("the file is not served")
	}
}

// Offers waiting travel in snapshots: a member restored from one completes
// them as the one that took them would.
func TestWaitingOffersSurviveASnapshot(t *testing.T) {
	src := openTestFSM(t)
	a := &applier{f: src}
	registerSample(t, a, "00004", "00008")
	content := pdfBytes(2*dossier.ChunkSize, 10)
	sha := fileSum(content)
	chunks := chunksOf(content)
	bogus := chunksOf(pdfBytes(len(content), 11))
	a.apply(t, offer("00004", manifestOf(sha, len(content), "application/pdf", bogus)),
		offer("00008", manifestOf(sha, len(content), "application/pdf", chunks)), putChunk("00008", sha, 0, chunks[0]))
	dst := openTestFSM(t)
	if err := dst.Restore(io.NopCloser(snapshotOf(t, src))); err != nil {
		t.Fatal(err)
	}
	if err := sameState(dump(t, src), dump(t, dst)); err != nil {
		t.Fatalf("restored state differs: %v", err)
	}
	last := putChunk("00008", sha, 1, chunks[1])
	a.apply(t, last)
	wantCode(t, "the last chunk on the restored member", (&applier{f: dst, index: a.index - 1}).apply(t, proto.Clone(last).(*xasov1.CentralCommand))[0], codes.OK)
	if !held(t, dst, sha, content) || !held(t, src, sha, content) {
		t.Fatal("the file is not served")
	}
	if err := sameState(dump(t, src), dump(t, dst)); err != nil {
		t.Fatalf("the same entry led elsewhere: %v", err)
	}
}
