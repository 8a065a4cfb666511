package replication

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/pki"
)

// Central is what the replication service needs of the central member it
// runs on: proposing commands through Raft (forwarded to the leader when
// this member is not it) and reading the member's applied state.
type Central interface {
	Propose(ctx context.Context, actor string, cmds ...*xasov1.CentralCommand) ([]*xasov1.CommandResult, error)
	EnrolledNode(id string) (*xasov1.EnrolledNode, error)
	Enrollment(secretSHA256 string) (*xasov1.EnrollmentToken, error)
	NodeStream(commune string) (*xasov1.NodeStream, error)
	// FeedAfter returns up to limit items for commune after sequence after,
	// and the last sequence it looked at (items for other communes are
	// skipped, and need not be looked at again).
	FeedAfter(commune string, after uint64, limit int) ([]*xasov1.FeedItem, uint64, error)
	// FeedHead is the last sequence of the whole feed.
	FeedHead() (uint64, error)
	// WaitApplied returns once the member has applied index, or ctx ends.
	WaitApplied(ctx context.Context, index uint64) error
	// CatchUp returns once the member has applied everything the cluster
	// had committed when it was called (a linearizable read's fence).
	CatchUp(ctx context.Context) error
	// NodesChanged returns a channel closed when a node is next enrolled
	// or revoked (or the state replaced by a snapshot).
	NodesChanged() <-chan struct{}
	AppliedIndex() uint64
	AttachmentManifest(sha string) (*xasov1.AttachmentManifest, error)
	// PendingManifest returns a commune's own offer of a file central does
	// not hold yet.
	PendingManifest(commune, sha string) (*xasov1.AttachmentManifest, error)
	MissingChunks(m *xasov1.AttachmentManifest) ([]int32, error)
	// Records returns a commune's outbox records from sequence from on.
	Records(commune string, from int64, limit int) ([]*xasov1.OutboxRecord, error)
	// Dossier returns a dossier with its events.
	Dossier(code string) (*xasov1.Dossier, error)
}

// ServiceConfig configures the replication service of a central member.
type ServiceConfig struct {
	Central Central
	// CA signs node certificates at enrollment; without it this member
	// refuses enrollment (the others may hold the key).
	CA *pki.CA
	// CertTTL is how long a node certificate is valid (default one year).
	CertTTL time.Duration
	// NodeNames returns the policy of the names a node certificate may
	// carry, at the time of an enrollment (the members change); nil, or
	// the zero policy: loopback names only.
	NodeNames func() (pki.NamePolicy, error)
	Logger    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Window is how many batches a stream may have waiting (default 64).
	Window int
	// StreamsPerNode bounds the Push and the Feed streams one node may
	// have open at once, each (default 4: a node needs one of each; a
	// reconnect may overlap the streams of links that broke silently).
	// One more ends the node's oldest.
	StreamsPerNode int
}

// Service is the central side of replication (xasov1.ReplicationServiceServer).
type Service struct {
	xasov1.UnimplementedReplicationServiceServer
	cfg   ServiceConfig
	codec *Codec

	mu sync.Mutex
	// streams are the open streams by node and kind ("push", "feed"),
	// oldest first.
	streams map[streamKey][]*openStream
}

type streamKey struct{ node, kind string }

// openStream is one open stream and how to end it.
type openStream struct{ end context.CancelCauseFunc }

// errReplaced ends the oldest of a node's streams when the node opens one
// more than StreamsPerNode: a node's newest stream is the one it uses (the
// others are left from links that broke without a word).
var errReplaced = errors.New("the node opened a newer stream")

// register counts a node's stream of kind, which end ends; beyond
// StreamsPerNode it ends the node's oldest of that kind. release forgets it.
func (s *Service) register(who caller, kind string, end context.CancelCauseFunc) (release func()) {
	k := streamKey{who.node.GetNodeId(), kind}
	me := &openStream{end: end}
	s.mu.Lock()
	defer s.mu.Unlock()
	if open := s.streams[k]; len(open) >= s.cfg.StreamsPerNode {
		open[0].end(errReplaced)
		s.streams[k] = open[1:]
	}
	s.streams[k] = append(s.streams[k], me)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		open := slices.DeleteFunc(s.streams[k], func(o *openStream) bool { return o == me })
		if len(open) == 0 {
			delete(s.streams, k)
		} else {
			s.streams[k] = open
		}
	}
}

// NewService makes the service.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Central == nil {
		return nil, errors.New("replication service: central required")
	}
	if cfg.CertTTL == 0 {
		cfg.CertTTL = 365 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	if cfg.StreamsPerNode <= 0 {
		cfg.StreamsPerNode = 4
	}
	c, err := NewCodec()
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, codec: c, streams: map[streamKey][]*openStream{}}, nil
}

// Enroll spends an enrollment token and signs the node's certificate.
func (s *Service) Enroll(ctx context.Context, req *xasov1.EnrollRequest) (*xasov1.EnrollResponse, error) {
	var v dossier.Violations
	if len(req.GetSecret()) < 32 || len(req.GetSecret()) > 256 {
		v.Add("secret", "the secret part of an enrollment token")
	}
	if !dossier.ValidCommuneCode(req.GetCommuneCode()) {
		v.Add("commune_code", "a 5-digit administrative unit code")
	}
	if !dossier.ValidName(req.GetNodeId(), 64) {
		v.Add("node_id", "1 to 64 letters, digits, '.', '-' or '_'")
	}
	if len(req.GetCsrDer()) == 0 || len(req.GetCsrDer()) > 16<<10 {
		v.Add("csr_der", "a PKCS #10 certificate request, DER")
	}
	if len(v) > 0 {
		return nil, grpcerr.BadRequest(v)
	}
	sum := pki.SecretSum(req.GetSecret())
	tok, err := s.cfg.Central.Enrollment(sum)
	now := s.cfg.Now()
	switch {
	case err != nil:
		return nil, status.Error(codes.PermissionDenied, "unknown enrollment token")
	case tok.GetUsedByNode() != "" && tok.GetUsedByNode() != req.GetNodeId():
		return nil, status.Error(codes.PermissionDenied, "the enrollment token was used already")
	case !now.Before(tok.GetExpireTime().AsTime()):
		return nil, status.Error(codes.PermissionDenied, "the enrollment token expired")
	case tok.GetCommuneCode() != req.GetCommuneCode():
		return nil, status.Errorf(codes.PermissionDenied, "the enrollment token is for commune %s, not %s", tok.GetCommuneCode(), req.GetCommuneCode())
	case s.cfg.CA == nil:
		return nil, status.Error(codes.FailedPrecondition, "this member holds no CA key to sign with (ca_key_file); enroll at a member that does")
	}
	var names pki.NamePolicy
	if s.cfg.NodeNames != nil {
		if names, err = s.cfg.NodeNames(); err != nil {
			return nil, status.Errorf(codes.Unavailable, "the names a node certificate may carry: %v", err)
		}
	}
	signed, err := s.cfg.CA.SignNode(req.GetCsrDer(), tok.GetCommuneCode(), req.GetNodeId(), names, s.cfg.CertTTL, now)
	if err != nil {
		return nil, grpcerr.Field("csr_der", err.Error())
	}
	certPEM, cert := signed.PEM, signed.Cert
	if len(signed.Refused) > 0 {
		s.cfg.Logger.Warn("enrollment: names the node asked for are not in its certificate (node_certificate_names, or a member's)",
			"node", req.GetNodeId(), "commune", tok.GetCommuneCode(), "refused", signed.Refused)
	}
	fp := sha256.Sum256(cert.Raw)
	use := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UseEnrollment{UseEnrollment: &xasov1.UseEnrollmentCommand{
		SecretSha256: sum, NodeId: req.GetNodeId(), CertificateSha256: hex.EncodeToString(fp[:]),
		CertificateExpireTime: timestamppb.New(cert.NotAfter), PublicKeySha256: pki.PublicKeySum(cert),
	}}}
	// The node calls this member next: it must know the node by then.
	if _, err := s.propose(ctx, req.GetNodeId(), use); err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("node enrolled", "node", req.GetNodeId(), "commune", tok.GetCommuneCode(), "expires", cert.NotAfter,
		"names", append(slices.Clone(cert.DNSNames), ipStrings(cert.IPAddresses)...))
	return &xasov1.EnrollResponse{CertificatePem: certPEM, CaPem: s.cfg.CA.CertPEM}, nil
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func resultErr(res []*xasov1.CommandResult) error {
	if len(res) != 1 {
		return status.Errorf(codes.Internal, "%d results for one command", len(res))
	}
	if c := codes.Code(res[0].GetCode()); c != codes.OK {
		return status.Error(c, res[0].GetMessage())
	}
	return nil
}

// caller is a node, as its certificate and central's registry say.
type caller struct {
	node    *xasov1.EnrolledNode
	commune string
	leaf    *x509.Certificate
}

// identify checks the node's certificate against the registry: enrolled,
// this very certificate, the commune it names, not revoked.
func (s *Service) identify(ctx context.Context) (caller, error) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return caller{}, status.Error(codes.Unauthenticated, "no peer")
	}
	ti, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 {
		return caller{}, status.Error(codes.Unauthenticated, "a node calls with the certificate it got at enrollment")
	}
	leaf := ti.State.VerifiedChains[0][0]
	commune, ok := pki.NodeCommune(leaf)
	if !ok {
		return caller{}, status.Error(codes.PermissionDenied, "not a node certificate")
	}
	n, err := s.admit(leaf, commune)
	if err != nil {
		// This member may not have applied the node's enrollment yet (it
		// enrolled through another one a moment ago): refuse only what the
		// cluster's latest state refuses. Without a leader that cannot be
		// known; the node hears so soon and calls again.
		cctx, cancel := context.WithTimeout(ctx, catchUpWait)
		cerr := s.cfg.Central.CatchUp(cctx)
		cancel()
		if cerr != nil {
			return caller{}, status.Errorf(codes.Unavailable, "checking the node's enrollment: %v", cerr)
		}
		if n, err = s.admit(leaf, commune); err != nil {
			return caller{}, err
		}
	}
	return caller{node: n, commune: commune, leaf: leaf}, nil
}

// catchUpWait bounds how long identify waits for the cluster before it
// answers Unavailable.
const catchUpWait = 10 * time.Second

// admit checks a node's certificate against the member's registry.
func (s *Service) admit(leaf *x509.Certificate, commune string) (*xasov1.EnrolledNode, error) {
	id := leaf.Subject.CommonName
	n, err := s.cfg.Central.EnrolledNode(id)
	if err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "node %s is not enrolled", id)
	}
	fp := sha256.Sum256(leaf.Raw)
	switch {
	case n.GetCertificateSha256() != hex.EncodeToString(fp[:]):
		return nil, status.Errorf(codes.PermissionDenied, "node %s was enrolled again with another certificate", id)
	case n.GetCommuneCode() != commune:
		return nil, status.Errorf(codes.PermissionDenied, "node %s is enrolled for commune %s, its certificate names %s", id, n.GetCommuneCode(), commune)
	case n.GetRevokeTime() != nil:
		return nil, status.Errorf(codes.PermissionDenied, "node %s is revoked", id)
	}
	return n, nil
}

// Push takes a node's outbox batches: it answers first with central's
// high-water mark, then each batch once Raft committed it. Batches waiting
// together are proposed as one command. The stream ends within moments of
// the node's revocation.
func (s *Service) Push(stream xasov1.ReplicationService_PushServer) error {
	who, err := s.identify(stream.Context())
	if err != nil {
		return err
	}
	ctx, end, stop := s.guard(stream.Context(), who)
	defer stop()
	defer s.register(who, "push", end)()
	hw, err := s.cfg.Central.NodeStream(who.commune)
	if err != nil {
		return status.Errorf(codes.Unavailable, "read high-water mark: %v", err)
	}
	first := &xasov1.PushResponse{AckedSequence: hw.GetLastSequence(), NextSequence: hw.GetLastSequence() + 1,
		AckedHash: chainHash(hw.GetLastHash()), Blocked: hw.GetBlocked()}
	if err := stream.Send(first); err != nil {
		return err
	}
	reqs := make(chan *xasov1.PushRequest, s.cfg.Window)
	recvErr := make(chan error, 1)
	go func() {
		defer close(reqs)
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				recvErr <- ctx.Err()
				return
			}
		}
	}()
	for {
		var req *xasov1.PushRequest
		select {
		case <-ctx.Done():
			// Revoked, or replaced by a newer stream of the node.
			return guardErr(ctx, status.FromContextError(ctx.Err()).Err())
		case r, ok := <-reqs:
			if !ok {
				if err := <-recvErr; err != nil && !errors.Is(err, io.EOF) {
					return guardErr(ctx, err)
				}
				return nil
			}
			req = r
		}
		batch := []*xasov1.PushRequest{req}
	more:
		for len(batch) < s.cfg.Window {
			select {
			case r, ok := <-reqs:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		if err := s.commit(ctx, who, batch, stream); err != nil {
			return guardErr(ctx, err)
		}
	}
}

// chainHash is a high-water mark's hash: the genesis hash before the first record.
func chainHash(h []byte) []byte {
	if len(h) == 0 {
		return dossier.GenesisHash()
	}
	return h
}

// errRevoked is the cause of a stream's end when its node was revoked or
// enrolled again with another certificate.
var errRevoked = errors.New("the node's enrollment ended")

// guard returns a context that ends when the calling node is revoked (or
// enrolled again with another certificate), checked each time central
// applies an enrollment or a revocation, or when end is called; stop
// releases it.
func (s *Service) guard(parent context.Context, who caller) (ctx context.Context, end context.CancelCauseFunc, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		for {
			changed := s.cfg.Central.NodesChanged()
			if _, err := s.admit(who.leaf, who.commune); err != nil {
				s.cfg.Logger.Warn("closing a revoked node's stream", "node", who.node.GetNodeId(), "commune", who.commune, "why", err)
				cancel(fmt.Errorf("%w: %v", errRevoked, status.Convert(err).Message()))
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()
	return ctx, cancel, func() { cancel(nil) }
}

// guardErr says PermissionDenied when ctx ended because the node was
// revoked, and passes err on otherwise.
func guardErr(ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errRevoked):
		return status.Error(codes.PermissionDenied, cause.Error())
	case errors.Is(cause, errReplaced):
		return status.Error(codes.Aborted, cause.Error())
	}
	return err
}

// commit checks the records of the batches and proposes them, as few
// commands as keep each under maxBatchBytes, and answers each batch. The
// first record the check refuses is not proposed: the command that carries
// the records before it says that it was refused, and central blocks the
// commune's chain there (a record refused for its content is not a gap).
func (s *Service) commit(ctx context.Context, who caller, batch []*xasov1.PushRequest, stream xasov1.ReplicationService_PushServer) error {
	var group []*xasov1.PushRequest
	newCmd := func() *xasov1.AppendEventsCommand {
		return &xasov1.AppendEventsCommand{CommuneCode: who.commune, NodeId: who.node.GetNodeId()}
	}
	cmd := newCmd()
	size := 0
	now := s.cfg.Now()
	for i, req := range batch {
		recs, err := s.codec.Decode(req)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "batch %d: %v", req.GetBatchId(), err)
		}
		group = append(group, req)
		cmd.NodeLastSequence = max(cmd.NodeLastSequence, req.GetNodeLastSequence())
		for _, r := range recs {
			if err := dossier.ValidateRecord(r, who.commune, now); err != nil {
				cmd.Refused = &xasov1.ChainBlock{Sequence: r.GetSequence(), Code: int32(codes.InvalidArgument), Reason: dossier.Short(err.Error(), 2000)}
				s.cfg.Logger.Warn("record refused", "node", who.node.GetNodeId(), "commune", who.commune, "sequence", r.GetSequence(), "why", err)
				// The batches after this one are answered with it.
				return s.appendEvents(ctx, who, cmd, append(group, batch[i+1:]...), stream)
			}
			cmd.Records = append(cmd.Records, r)
			size += proto.Size(r)
		}
		if i == len(batch)-1 || size >= maxBatchBytes/2 {
			if err := s.appendEvents(ctx, who, cmd, group, stream); err != nil {
				return err
			}
			group, size, cmd = nil, 0, newCmd()
		}
	}
	return nil
}

// appendEvents proposes one command and answers the batches it carries.
func (s *Service) appendEvents(ctx context.Context, who caller, cmd *xasov1.AppendEventsCommand, batch []*xasov1.PushRequest, stream xasov1.ReplicationService_PushServer) error {
	res, err := s.cfg.Central.Propose(ctx, "node:"+who.node.GetNodeId(), &xasov1.CentralCommand{Command: &xasov1.CentralCommand_AppendEvents{AppendEvents: cmd}})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return status.Errorf(codes.Internal, "%d results for one command", len(res))
	}
	r := res[0]
	switch code := codes.Code(r.GetCode()); {
	case r.GetBlocked() != nil:
		// Refused for its content: the node is told why and stops there.
		if code != codes.OK {
			s.cfg.Logger.Warn("commune chain blocked", "node", who.node.GetNodeId(), "commune", who.commune,
				"sequence", r.GetBlocked().GetSequence(), "code", codes.Code(r.GetBlocked().GetCode()), "why", r.GetBlocked().GetReason())
		}
	case code == codes.OK:
	case code == codes.FailedPrecondition && r.GetNextSequence() > 0:
		// A gap: the answers below send the node back to next_sequence.
	default:
		// The commune is not registered, the node revoked …: not the records.
		s.cfg.Logger.Warn("events refused", "node", who.node.GetNodeId(), "commune", who.commune, "code", code, "message", r.GetMessage())
		return status.Error(code, r.GetMessage())
	}
	for i, req := range batch {
		resp := &xasov1.PushResponse{BatchId: req.GetBatchId(), AckedSequence: r.GetNextSequence() - 1, NextSequence: r.GetNextSequence(),
			AckedHash: chainHash(r.GetLastHash()), Blocked: r.GetBlocked()}
		if i == len(batch)-1 {
			resp.Accepted, resp.Duplicates = r.GetAccepted(), r.GetDuplicates()
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

// feedPage is how many feed items one answer carries at most.
const feedPage = 256

// Feed streams the items after the node's checkpoint, then new ones as the
// member applies them, until the node hangs up.
func (s *Service) Feed(req *xasov1.FeedRequest, stream xasov1.ReplicationService_FeedServer) error {
	who, err := s.identify(stream.Context())
	if err != nil {
		return err
	}
	ctx, end, stop := s.guard(stream.Context(), who)
	defer stop()
	defer s.register(who, "feed", end)()
	// scanned: every item up to it was sent or is for another commune.
	scanned := req.GetAfterSequence()
	for {
		applied := s.cfg.Central.AppliedIndex()
		head, err := s.cfg.Central.FeedHead()
		if err != nil {
			return status.Errorf(codes.Unavailable, "read feed: %v", err)
		}
		if head > scanned {
			items, last, err := s.cfg.Central.FeedAfter(who.commune, scanned, feedPage)
			if err != nil {
				return status.Errorf(codes.Unavailable, "read feed: %v", err)
			}
			if len(items) > 0 {
				if ctx.Err() != nil { // revoked: not one item more
					return guardErr(ctx, ctx.Err())
				}
				if err := stream.Send(&xasov1.FeedResponse{Items: items}); err != nil {
					return err
				}
			}
			scanned = last
			continue
		}
		// Nothing new: wait for the member to apply more.
		if err := s.cfg.Central.WaitApplied(ctx, applied+1); err != nil {
			return guardErr(ctx, status.FromContextError(err).Err())
		}
	}
}

var _ xasov1.ReplicationServiceServer = (*Service)(nil)

// propose proposes one command for a node and waits until this member has
// applied it, so that what the node reads next from it reflects it.
func (s *Service) propose(ctx context.Context, nodeID string, cmd *xasov1.CentralCommand) (*xasov1.CommandResult, error) {
	res, err := s.cfg.Central.Propose(ctx, "node:"+nodeID, cmd)
	if err != nil {
		return nil, err
	}
	if err := resultErr(res); err != nil {
		return nil, err
	}
	if err := s.cfg.Central.WaitApplied(ctx, res[0].GetIndex()); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return res[0], nil
}

// restorePage caps a page of Restore: records, and bytes of records and
// prior events together.
const (
	restorePage      = 512
	restorePageBytes = 1 << 20
)

// Restore returns a page of the caller's commune's records as central
// holds them, with the earlier events of the dossiers transferred in.
func (s *Service) Restore(ctx context.Context, req *xasov1.RestoreRequest) (*xasov1.RestoreResponse, error) {
	who, err := s.identify(ctx)
	if err != nil {
		return nil, err
	}
	var v dossier.Violations
	if req.GetFromSequence() < 1 {
		v.Add("from_sequence", "1 or more")
	}
	if req.GetMaxRecords() < 0 {
		v.Add("max_records", "must not be negative")
	}
	if len(v) > 0 {
		return nil, grpcerr.BadRequest(v)
	}
	limit := int(req.GetMaxRecords())
	if limit == 0 || limit > restorePage {
		limit = restorePage
	}
	hw, err := s.cfg.Central.NodeStream(who.commune)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "read the commune's high-water mark: %v", err)
	}
	recs, err := s.cfg.Central.Records(who.commune, req.GetFromSequence(), limit)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "read the commune's records: %v", err)
	}
	resp := &xasov1.RestoreResponse{LastSequence: hw.GetLastSequence(), PriorEvents: map[string]*xasov1.EventList{}}
	size := 0
	looked := map[string]bool{} // dossiers checked for a succession in this page
	for _, rec := range recs {
		if rec.GetSequence() > hw.GetLastSequence() {
			break // written after the mark was read: the next page has it
		}
		if p, err := s.succeededPrior(rec, who.commune, looked); err != nil {
			return nil, err
		} else if p != nil {
			resp.PriorEvents[rec.GetDossierCode()] = p
			size += proto.Size(p)
		} else if rec.GetEvent().GetAction() == dossier.AcceptTransfer {
			d, err := s.cfg.Central.Dossier(rec.GetDossierCode())
			if err != nil {
				return nil, status.Errorf(codes.Unavailable, "read dossier %s: %v", rec.GetDossierCode(), err)
			}
			prior := &xasov1.EventList{}
			for _, ev := range d.GetEvents() {
				if ev.GetSequence() < rec.GetEvent().GetSequence() {
					prior.Events = append(prior.Events, ev)
				}
			}
			resp.PriorEvents[rec.GetDossierCode()] = prior
			size += proto.Size(prior)
		}
		resp.Records = append(resp.Records, rec)
		if size += proto.Size(rec); size >= restorePageBytes {
			break
		}
	}
	s.cfg.Logger.InfoContext(ctx, "restore page", "node", who.node.GetNodeId(), "commune", who.commune,
		"from", req.GetFromSequence(), "records", len(resp.Records), "last", hw.GetLastSequence())
	return resp, nil
}

// succeededPrior returns the history central holds of a dossier handed to
// commune by a succession when rec is commune's first event after the
// hand-over (its previous event is central's SUCCEED to commune): the
// events the restoring node needs before rec, as for ACCEPT_TRANSFER.
// Each dossier is looked at once a page (looked), and only for a step on
// an existing dossier.
func (s *Service) succeededPrior(rec *xasov1.OutboxRecord, commune string, looked map[string]bool) (*xasov1.EventList, error) {
	ev := rec.GetEvent()
	code := rec.GetDossierCode()
	if ev == nil || ev.GetSequence() < 3 || ev.GetAction() == dossier.AcceptTransfer || looked[code] {
		return nil, nil
	}
	looked[code] = true
	d, err := s.cfg.Central.Dossier(code)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "read dossier %s: %v", code, err)
	}
	evs := d.GetEvents()
	i := int(ev.GetSequence()) - 2 // the event before rec's
	if i < 0 || i >= len(evs) || evs[i].GetAction() != dossier.Succeed || evs[i].GetTransferCommuneCode() != commune {
		return nil, nil
	}
	return &xasov1.EventList{Events: evs[:i+1]}, nil
}
