package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
)

// Files at central: a commune's offer of a file (its manifest) is its own
// until the bytes are all there and central's state machine has checked
// them (the SHA-256 of the whole, the content type it declares); only then
// does central hold the file, by its hash, for every commune. So a node's
// stolen key lets its commune offer bogus manifests and waste its own
// uploads, never stand in the way of another commune's files. The service
// checks what it can before proposing (the manifest's shape and content
// type, each chunk against the commune's own offer) and apply checks it
// all again.

// OfferAttachment records the commune's offer of a file (its manifest) and
// says which chunks central lacks: none when central holds the file with
// the same chunks; a file central holds with other chunks is refused.
func (s *Service) OfferAttachment(ctx context.Context, req *xasov1.OfferAttachmentRequest) (*xasov1.OfferAttachmentResponse, error) {
	who, err := s.identify(ctx)
	if err != nil {
		return nil, err
	}
	man := req.GetManifest()
	if err := dossier.ValidateOfferedManifest(man); err != nil {
		return nil, grpcerr.BadRequest(err.(dossier.Violations))
	}
	if _, err := s.cfg.Central.AttachmentManifest(man.GetAttachment().GetSha256()); err != nil {
		// Not held: the commune's own offer, whatever others offered by
		// that hash. Proposed unless the commune's node offered this very
		// manifest before (it resumes after a cut).
		if p, err := s.cfg.Central.PendingManifest(who.commune, man.GetAttachment().GetSha256()); err != nil || !proto.Equal(p, man) {
			if err := s.proposeFile(ctx, who, offerCommand(who, man)); err != nil {
				return nil, err
			}
		}
	}
	missing, err := s.missing(ctx, who, man)
	if err != nil {
		return nil, err
	}
	return &xasov1.OfferAttachmentResponse{MissingChunks: missing}, nil
}

func offerCommand(who caller, man *xasov1.AttachmentManifest) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutAttachmentManifest{PutAttachmentManifest: &xasov1.PutAttachmentManifestCommand{
		CommuneCode: who.commune, Manifest: man}}}
}

// PutChunk stores one chunk of a file the commune offered and says which
// chunks central still lacks. The chunk that completes the commune's offer
// has central check the whole file.
func (s *Service) PutChunk(ctx context.Context, req *xasov1.PutChunkRequest) (*xasov1.PutChunkResponse, error) {
	who, err := s.identify(ctx)
	if err != nil {
		return nil, err
	}
	sha, i, data := req.GetAttachmentSha256(), req.GetIndex(), req.GetData()
	var v dossier.Violations
	if !dossier.ValidSHA256(sha) {
		v.Add("attachment_sha256", "the SHA-256 of the file, in hex")
	}
	if len(data) == 0 || len(data) > dossier.ChunkSize {
		v.Add("data", fmt.Sprintf("1 to %d bytes", dossier.ChunkSize))
	}
	if len(v) > 0 {
		return nil, grpcerr.BadRequest(v)
	}
	// The commune's own offer, never another commune's; or the file
	// central holds (another commune's copy was complete first).
	man, err := s.cfg.Central.PendingManifest(who.commune, sha)
	pending := err == nil
	if !pending {
		if man, err = s.cfg.Central.AttachmentManifest(sha); err != nil {
			return nil, status.Errorf(codes.FailedPrecondition, "file %s was not offered: offer its manifest first", sha)
		}
	}
	if i < 0 || int(i) >= len(man.GetChunkSha256()) {
		return nil, grpcerr.Field("index", fmt.Sprintf("0 to %d", len(man.GetChunkSha256())-1))
	}
	sum := sha256.Sum256(data)
	if !bytes.Equal(sum[:], man.GetChunkSha256()[i]) {
		return nil, grpcerr.Field("data", fmt.Sprintf("does not hash to chunk %d of the manifest", i))
	}
	send := pending
	if !pending {
		// Held: the chunk is stored already, unless the manifest is from
		// before files were checked whole.
		missing, err := s.cfg.Central.MissingChunks(man)
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "read chunks: %v", err)
		}
		send = slices.Contains(missing, i)
	}
	if send {
		cmd := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutChunk{PutChunk: &xasov1.PutChunkCommand{
			Sha256: sum[:], Data: data, CommuneCode: who.commune, AttachmentSha256: sha, Index: i}}}
		if err := s.proposeFile(ctx, who, cmd); err != nil {
			return nil, err
		}
	}
	missing, err := s.missing(ctx, who, man)
	if err != nil {
		return nil, err
	}
	return &xasov1.PutChunkResponse{MissingChunks: missing}, nil
}

// missing says which chunks of man (the commune's offer, or the file
// central holds) central lacks. When it lacks none but does not hold the
// file yet, the offer is proposed again so that central checks the file
// now: the last chunk may have come with another file, which does not
// check this one.
func (s *Service) missing(ctx context.Context, who caller, man *xasov1.AttachmentManifest) ([]int32, error) {
	sha := man.GetAttachment().GetSha256()
	for again := false; ; again = true {
		held, err := s.cfg.Central.AttachmentManifest(sha)
		if err == nil {
			if !dossier.SameChunks(held, man) {
				return nil, status.Errorf(codes.DataLoss, "file %s: the chunks differ from those of the file central holds by that hash", sha)
			}
			man = held
		}
		missing, merr := s.cfg.Central.MissingChunks(man)
		if merr != nil {
			return nil, status.Errorf(codes.Unavailable, "read chunks: %v", merr)
		}
		if len(missing) > 0 || err == nil || again {
			return missing, nil
		}
		if err := s.proposeFile(ctx, who, offerCommand(who, man)); err != nil {
			return nil, err
		}
	}
}

// proposeFile proposes a file's command and logs a refusal of the file.
func (s *Service) proposeFile(ctx context.Context, who caller, cmd *xasov1.CentralCommand) error {
	_, err := s.propose(ctx, who.node.GetNodeId(), cmd)
	switch status.Code(err) {
	case codes.InvalidArgument, codes.DataLoss, codes.ResourceExhausted, codes.FailedPrecondition:
		s.cfg.Logger.Warn("file refused", "node", who.node.GetNodeId(), "commune", who.commune, "why", status.Convert(err).Message())
	}
	return err
}
