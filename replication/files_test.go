package replication_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/replication"
)

// fsmCentral is one central member without Raft: what is proposed is
// applied to its state at once, as the next log entry.
type fsmCentral struct {
	*central.FSM
	mu       sync.Mutex
	index    uint64
	proposed []*xasov1.CentralCommand
}

func (c *fsmCentral) Propose(_ context.Context, actor string, cmds ...*xasov1.CentralCommand) ([]*xasov1.CommandResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cmd := range cmds {
		cmd.Time, cmd.Actor = timestamppb.Now(), actor
	}
	data, err := proto.Marshal(&xasov1.CentralCommandBatch{Format: 1, Commands: cmds})
	if err != nil {
		return nil, err
	}
	c.index++
	c.proposed = append(c.proposed, cmds...)
	res, _ := c.FSM.Apply(&raft.Log{Index: c.index, Type: raft.LogCommand, Data: data}).([]*xasov1.CommandResult)
	return res, nil
}

func (c *fsmCentral) CatchUp(context.Context) error { return nil }

func (c *fsmCentral) proposals() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.proposed)
}

// fileService is a replication service on an fsmCentral, and a context
// for a node of each commune.
func fileService(t *testing.T, communes ...string) (*replication.Service, *fsmCentral, map[string]context.Context) {
	t.Helper()
	f, err := central.OpenFSM(t.TempDir(), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c := &fsmCentral{FSM: f}
	now := time.Now()
	ca, err := pki.NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	s, err := replication.NewService(replication.ServiceConfig{Central: c, CA: ca, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctxs := map[string]context.Context{}
	for _, code := range communes {
		secret, sum, err := pki.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		res, _ := c.Propose(context.Background(), "operator.test",
			&xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCommune{PutCommune: &xasov1.PutCommuneCommand{Commune: &xasov1.Commune{Code: code, Name: "Xã " + code}}}},
			&xasov1.CentralCommand{Command: &xasov1.CentralCommand_IssueEnrollment{IssueEnrollment: &xasov1.IssueEnrollmentCommand{Token: &xasov1.EnrollmentToken{
				SecretSha256: sum, CommuneCode: code, ExpireTime: timestamppb.New(now.Add(time.Hour))}}}})
		for _, r := range res {
			if r.GetCode() != 0 {
				t.Fatalf("register commune %s: %s", code, r.GetMessage())
			}
		}
		key, err := pki.NewNodeKey()
		if err != nil {
			t.Fatal(err)
		}
		csr, err := pki.NodeRequest(key, "node-"+code, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := s.Enroll(context.Background(), &xasov1.EnrollRequest{Secret: secret, CommuneCode: code, NodeId: "node-" + code, CsrDer: csr})
		if err != nil {
			t.Fatalf("enroll a node of %s: %v", code, err)
		}
		leaf, err := pki.ParseCertificate(resp.GetCertificatePem())
		if err != nil {
			t.Fatal(err)
		}
		ctxs[code] = peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}})
	}
	return s, c, ctxs
}

// aFile is a file as a node stores it: content, chunks, manifest.
type aFile struct {
	content []byte
	chunks  [][]byte
	man     *xasov1.AttachmentManifest
}

func newFile(content []byte, contentType string) aFile {
	s := sha256.Sum256(content)
	f := aFile{content: content, man: &xasov1.AttachmentManifest{ChunkSize: dossier.ChunkSize, Attachment: &xasov1.AttachmentRef{
		Sha256: hex.EncodeToString(s[:]), Filename: "scan.pdf", ContentType: contentType, SizeBytes: int64(len(content))}}}
	for off := 0; off < len(content); off += dossier.ChunkSize {
		c := content[off:min(off+dossier.ChunkSize, len(content))]
		cs := sha256.Sum256(c)
		f.chunks, f.man.ChunkSha256 = append(f.chunks, c), append(f.man.ChunkSha256, cs[:])
	}
	return f
}

func randomPDF(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	copy(b, "%PDF-1.4\n")
	return b
}

func wantStatus(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}

// A node of a commune whose key was stolen offers a bogus manifest for a
// file before the commune that has the file does: the service judges each
// commune's chunks against its own offer, the true file reaches central
// whole, and the bogus manifest is refused to its commune alone.
func TestTheServiceKeepsEachCommunesOfferItsOwn(t *testing.T) {
	s, c, node := fileService(t, "00004", "00008")
	thief, owner := node["00004"], node["00008"]
	real := newFile(randomPDF(2*dossier.ChunkSize+4321, 1), "application/pdf")
	bogus := newFile(randomPDF(len(real.content), 2), "application/pdf")
	sha := real.man.GetAttachment().GetSha256()
	bogus.man.Attachment.Sha256 = sha

	o, err := s.OfferAttachment(thief, &xasov1.OfferAttachmentRequest{Manifest: bogus.man})
	if err != nil || len(o.GetMissingChunks()) != 3 {
		t.Fatalf("the thief's offer: %v, missing %v", err, o.GetMissingChunks())
	}
	if _, err := s.PutChunk(thief, &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: 0, Data: bogus.chunks[0]}); err != nil {
		t.Fatalf("the thief's chunk 0: %v", err)
	}
	o, err = s.OfferAttachment(owner, &xasov1.OfferAttachmentRequest{Manifest: real.man})
	if err != nil {
		t.Fatalf("the owner's offer, after the thief's: %v", err)
	}
	if !slices.Equal(o.GetMissingChunks(), []int32{0, 1, 2}) {
		t.Fatalf("the owner's offer: missing %v", o.GetMissingChunks())
	}

	// Each chunk is checked against its commune's own offer, before anything is proposed.
	before := c.proposals()
	_, err = s.PutChunk(owner, &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: 1, Data: bogus.chunks[1]})
	wantStatus(t, "a bogus chunk from the owner", err, codes.InvalidArgument)
	_, err = s.PutChunk(thief, &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: 1, Data: real.chunks[1]})
	wantStatus(t, "a true chunk against the thief's bogus manifest", err, codes.InvalidArgument)
	_, err = s.PutChunk(owner, &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: 3, Data: real.chunks[0]})
	wantStatus(t, "a chunk out of range", err, codes.InvalidArgument)
	if n := c.proposals(); n != before {
		t.Fatalf("%d commands proposed for chunks the service refuses", n-before)
	}

	missing := o.GetMissingChunks()
	for len(missing) > 0 {
		i := missing[0]
		r, err := s.PutChunk(owner, &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: i, Data: real.chunks[i]})
		if err != nil {
			t.Fatalf("the owner's chunk %d: %v", i, err)
		}
		want := &xasov1.PutChunkCommand{Sha256: real.man.GetChunkSha256()[i], Data: real.chunks[i], CommuneCode: "00008", AttachmentSha256: sha, Index: i}
		if got := c.proposed[len(c.proposed)-1].GetPutChunk(); !proto.Equal(got, want) {
			t.Fatalf("proposed for chunk %d: commune %q file %q index %d", i, got.GetCommuneCode(), got.GetAttachmentSha256(), got.GetIndex())
		}
		missing = r.GetMissingChunks()
	}
	if _, got, err := c.Attachment(sha); err != nil || !bytes.Equal(got, real.content) {
		t.Fatalf("the owner's file at central: %d bytes, %v", len(got), err)
	}

	_, err = s.OfferAttachment(thief, &xasov1.OfferAttachmentRequest{Manifest: bogus.man})
	wantStatus(t, "the thief's bogus manifest once the file is held", err, codes.DataLoss)
	_, err = s.PutChunk(thief, &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: 2, Data: bogus.chunks[2]})
	wantStatus(t, "the thief's bogus chunk once the file is held", err, codes.InvalidArgument)
	if o, err := s.OfferAttachment(thief, &xasov1.OfferAttachmentRequest{Manifest: real.man}); err != nil || len(o.GetMissingChunks()) != 0 {
		t.Fatalf("the true manifest from the thief's commune: %v, missing %v", err, o.GetMissingChunks())
	}
	if _, got, err := c.Attachment(sha); err != nil || !bytes.Equal(got, real.content) {
		t.Fatalf("the file at central, after: %d bytes, %v", len(got), err)
	}
}

// What the service refuses of an offer or a chunk, before proposing.
func TestTheServiceChecksFilesBeforeProposing(t *testing.T) {
	s, c, node := fileService(t, "00004")
	n := node["00004"]
	f := newFile(randomPDF(1000, 3), "application/pdf")
	before := c.proposals()
	html := proto.Clone(f.man).(*xasov1.AttachmentManifest)
	html.Attachment.ContentType = "text/html"
	_, err := s.OfferAttachment(n, &xasov1.OfferAttachmentRequest{Manifest: html})
	wantStatus(t, "a content type no scan has", err, codes.InvalidArgument)
	short := proto.Clone(f.man).(*xasov1.AttachmentManifest)
	short.ChunkSha256 = nil
	_, err = s.OfferAttachment(n, &xasov1.OfferAttachmentRequest{Manifest: short})
	wantStatus(t, "a manifest without chunks", err, codes.InvalidArgument)
	_, err = s.PutChunk(n, &xasov1.PutChunkRequest{AttachmentSha256: f.man.GetAttachment().GetSha256(), Data: f.chunks[0]})
	wantStatus(t, "a chunk of a file not offered", err, codes.FailedPrecondition)
	_, err = s.PutChunk(n, &xasov1.PutChunkRequest{AttachmentSha256: "x", Data: f.chunks[0]})
	wantStatus(t, "a chunk of no file", err, codes.InvalidArgument)
	if got := c.proposals(); got != before {
		t.Fatalf("%d commands proposed for what the service refuses", got-before)
	}
	// A file whose bytes are not its declared type: the service cannot
	// tell before the bytes are there; central refuses it then.
	png := newFile(f.content, "image/png")
	if _, err := s.OfferAttachment(n, &xasov1.OfferAttachmentRequest{Manifest: png.man}); err != nil {
		t.Fatal(err)
	}
	_, err = s.PutChunk(n, &xasov1.PutChunkRequest{AttachmentSha256: png.man.GetAttachment().GetSha256(), Data: png.chunks[0]})
	wantStatus(t, "a PDF sent as a PNG", err, codes.InvalidArgument)
	if _, _, err := c.Attachment(png.man.GetAttachment().GetSha256()); err == nil {
		t.Fatal("central holds a file whose bytes are not its type")
	}
}

// An offer whose chunks all came, the last with another file, is checked
// when its node offers it again (resuming after a cut): no chunk of its own
// will come to complete it.
func TestAnOfferCompletedByAnotherFilesChunkIsChecked(t *testing.T) {
	s, c, node := fileService(t, "00004", "00008")
	x := newFile(randomPDF(dossier.ChunkSize+500, 4), "application/pdf")
	y := newFile(append(bytes.Clone(x.content[:dossier.ChunkSize]), randomPDF(700, 5)...), "application/pdf")
	sha := x.man.GetAttachment().GetSha256()
	if _, err := s.OfferAttachment(node["00008"], &xasov1.OfferAttachmentRequest{Manifest: x.man}); err != nil {
		t.Fatal(err)
	}
	r, err := s.PutChunk(node["00008"], &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: 1, Data: x.chunks[1]})
	if err != nil || !slices.Equal(r.GetMissingChunks(), []int32{0}) {
		t.Fatalf("chunk 1: %v, missing %v", err, r.GetMissingChunks())
	}
	// Another commune sends the first chunk, which its file shares.
	if _, err := s.OfferAttachment(node["00004"], &xasov1.OfferAttachmentRequest{Manifest: y.man}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutChunk(node["00004"], &xasov1.PutChunkRequest{AttachmentSha256: y.man.GetAttachment().GetSha256(), Index: 0, Data: y.chunks[0]}); err != nil {
		t.Fatal(err)
	}
	o, err := s.OfferAttachment(node["00008"], &xasov1.OfferAttachmentRequest{Manifest: x.man})
	if err != nil || len(o.GetMissingChunks()) != 0 {
		t.Fatalf("the offer again: %v, missing %v", err, o.GetMissingChunks())
	}
	if _, got, err := c.Attachment(sha); err != nil || !bytes.Equal(got, x.content) {
		t.Fatalf("the file at central: %d bytes, %v", len(got), err)
	}
}
