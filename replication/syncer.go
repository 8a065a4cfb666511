package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/pki"
)

// Local is what the syncer needs of the node it runs in.
type Local interface {
	// OutboxHead returns the last outbox sequence and the last acknowledged.
	OutboxHead() (last, acked int64)
	// OutboxChanged is closed when the outbox grows after the call.
	OutboxChanged() <-chan struct{}
	// ReadOutbox returns consecutive records from sequence from on.
	ReadOutbox(from int64, maxRecords, maxBytes int) ([]*xasov1.OutboxRecord, error)
	// Acknowledge records that central committed every record up to seq.
	Acknowledge(ctx context.Context, seq int64) error
	// RecordHash returns the hash of the node's record at seq (the
	// genesis hash at 0).
	RecordHash(seq int64) ([]byte, error)
	// FeedSequence is the last feed item applied.
	FeedSequence() uint64
	// ApplyFeed applies items in order, each with its checkpoint.
	ApplyFeed(ctx context.Context, items []*xasov1.FeedItem) error
	// Identity is the node's enrollment: nil at first, a key alone while
	// enrolling (kept so that a lost answer can be asked for again).
	Identity() (*xasov1.NodeIdentity, error)
	SaveIdentity(ctx context.Context, id *xasov1.NodeIdentity) error
	// Contact records that central answered.
	Contact(t time.Time)
	// NextUpload returns the first file central may lack, with its queue
	// position; nil when every file is at central.
	NextUpload() (uint64, *xasov1.AttachmentManifest, error)
	Chunk(sum []byte) ([]byte, error)
	// Uploaded records that central holds the file at pos in full.
	Uploaded(ctx context.Context, pos uint64) error
	// MustRestore says the node is a replaced machine that must take its
	// commune's data back from central before anything else.
	MustRestore() bool
	// Restore applies records central holds, which continue the node's
	// chain, with the earlier events of the dossiers transferred in.
	Restore(ctx context.Context, recs []*xasov1.OutboxRecord, prior map[string]*xasov1.EventList) error
	// Restored records that the node holds what central held.
	Restored(ctx context.Context) error
}

// Config configures a node's syncer.
type Config struct {
	// Central lists the members' API addresses (host:port); the syncer uses
	// one at a time and moves on when it fails.
	Central []string
	NodeID  string
	Commune string
	// Names are the host names and addresses the node answers to: its
	// certificate request at enrollment asks for them, and central signs
	// those its policy allows, so that the node serves its API with it.
	Names []string
	// EnrollmentToken returns the token to enroll with when the node has no
	// certificate yet (read from a file a field engineer drops in).
	EnrollmentToken func() (string, error)
	// Dial opens the connection to a member (default: TCP). Tests and the
	// demo put simulated links here.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Window is how many batches may await their acknowledgement (default 8).
	Window int
	// BatchRecords and BatchBytes bound a batch (defaults 512 and 256 KiB).
	BatchRecords, BatchBytes int
	// BandwidthBytes caps what the node sends, in bytes a second (0: no cap).
	BandwidthBytes int64
	// Heartbeat is how often an idle node reports in (default 30 s).
	Heartbeat time.Duration
	// Keepalive is the ping interval that detects a half-open link
	// (default 10 s; the ping must be answered within the same time).
	Keepalive time.Duration
	// MaxBackoff caps the wait between attempts (default 30 s).
	MaxBackoff time.Duration
	// UploadWindow says when files may be sent (nil: always), e.g. only
	// at night so that scans do not slow the day's video meetings.
	// Events go at any time, before files.
	UploadWindow func(time.Time) bool
	Logger       *slog.Logger
}

// Status is the syncer's view of the link.
type Status struct {
	Enrolled  bool
	Connected bool
	BytesSent int64
	Retries   int64
	// ChunksSent counts file chunks sent (a chunk resent counts again).
	ChunksSent int64
	LastError  string
	// Blocked is set while central refuses one of the node's records for
	// its content, or holds a chain that differs from the node's: nothing
	// from Blocked.Sequence on is sent until that is resolved.
	Blocked *Block
}

// Block is why the node's chain does not go on at central.
type Block struct {
	Sequence int64
	// Code is a gRPC status code: INVALID_ARGUMENT, PERMISSION_DENIED or
	// FAILED_PRECONDITION for a refused record, DATA_LOSS for a chain that
	// differs from central's.
	Code   codes.Code
	Reason string
	Time   time.Time
}

// ErrChainDiverged says that central holds another record than the node
// at a sequence both hold: the node stops sending until an operator
// resolves it (docs/deploy.md).
var ErrChainDiverged = errors.New("central's chain differs from this node's")

// Syncer replicates a node's outbox up to central and central's feed down
// to the node, reconnecting with capped exponential back-off and jitter.
type Syncer struct {
	local  Local
	cfg    Config
	codec  *Codec
	bucket *bucket
	window atomic.Pointer[func(time.Time) bool] // nil: files at any time

	// acked wakes the uploader when events were acknowledged (files may
	// go once every event is at central).
	acked     chan struct{}
	sent      atomic.Int64
	retries   atomic.Int64
	chunks    atomic.Int64
	connected atomic.Bool
	enrolled  atomic.Bool
	mu        sync.Mutex
	lastErr   string
	blocked   *Block
	// restored is closed once the node holds what central holds of its
	// commune; the feed and the uploads wait for it.
	restored     chan struct{}
	restoredOnce sync.Once
}

// NewSyncer makes a syncer; Run starts it.
func NewSyncer(local Local, cfg Config) (*Syncer, error) {
	if len(cfg.Central) == 0 {
		return nil, errors.New("replication: no central address")
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if cfg.Window <= 0 {
		cfg.Window = 8
	}
	if cfg.BatchRecords <= 0 {
		cfg.BatchRecords = 512
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 256 << 10
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Second
	}
	if cfg.Keepalive <= 0 {
		cfg.Keepalive = 10 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c, err := NewCodec()
	if err != nil {
		return nil, err
	}
	s := &Syncer{local: local, cfg: cfg, codec: c, bucket: newBucket(cfg.BandwidthBytes), acked: make(chan struct{}, 1), restored: make(chan struct{})}
	if !local.MustRestore() {
		s.markRestored()
	}
	if cfg.UploadWindow != nil {
		s.window.Store(&cfg.UploadWindow)
	}
	if id, err := local.Identity(); err == nil && len(id.GetCertificatePem()) > 0 {
		s.enrolled.Store(true)
	}
	return s, nil
}

// Status returns the link's status now.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{Enrolled: s.enrolled.Load(), Connected: s.connected.Load(), BytesSent: s.sent.Load(), Retries: s.retries.Load(),
		ChunksSent: s.chunks.Load(), LastError: s.lastErr, Blocked: s.blocked}
}

// setBlocked records central's word on the node's chain (nil: not
// blocked). A block the node found itself (DATA_LOSS: central's chain
// differs from its own) stays while the syncer runs; a restarted node
// compares the hashes again.
func (s *Syncer) setBlocked(b *xasov1.ChainBlock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case b == nil && s.blocked != nil && s.blocked.Code != codes.DataLoss:
		s.cfg.Logger.Info("central takes this node's records again", "from", s.blocked.Sequence)
		s.blocked = nil
	case b != nil && (s.blocked == nil || s.blocked.Sequence != b.GetSequence()):
		s.blocked = &Block{Sequence: b.GetSequence(), Code: codes.Code(b.GetCode()), Reason: b.GetReason(), Time: b.GetTime().AsTime()}
		s.cfg.Logger.Error("central refused a record of this node: sync stops there until an operator resolves it",
			"sequence", b.GetSequence(), "code", codes.Code(b.GetCode()), "reason", b.GetReason())
	}
}

func (s *Syncer) isBlocked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked != nil
}

// checkHash compares central's hash of the record at seq with the node's
// own; a mismatch blocks the node's sync and is ErrChainDiverged.
func (s *Syncer) checkHash(seq int64, central []byte) error {
	own, err := s.local.RecordHash(seq)
	if err != nil {
		return fmt.Errorf("read the hash of record %d: %w", seq, err)
	}
	if bytes.Equal(own, central) {
		return nil
	}
	err = fmt.Errorf("%w at sequence %d: central holds %x, this node %x", ErrChainDiverged, seq, central, own)
	s.mu.Lock()
	s.blocked = &Block{Sequence: seq, Code: codes.DataLoss, Reason: err.Error(), Time: time.Now()}
	s.mu.Unlock()
	s.cfg.Logger.Error("sync stopped", "err", err)
	return err
}

func (s *Syncer) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.lastErr = ""
	} else {
		s.lastErr = err.Error()
	}
}

// Run syncs until ctx ends. Every failure is retried: the node keeps
// serving its clerks whatever the link does.
func (s *Syncer) Run(ctx context.Context) {
	base, wait := 200*time.Millisecond, 200*time.Millisecond
	for i := 0; ctx.Err() == nil; i++ {
		addr := s.cfg.Central[i%len(s.cfg.Central)]
		progressed, err := s.attempt(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		s.setErr(err)
		s.retries.Add(1)
		if progressed {
			wait = base
		}
		s.cfg.Logger.Warn("sync interrupted; retrying", "central", addr, "err", err, "in", wait)
		// Equal jitter: half the wait fixed, half random, so that the
		// communes of a province do not all come back at the same instant.
		d := wait/2 + rand.N(wait/2+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// attempt enrolls when needed, then runs one session with a member.
func (s *Syncer) attempt(ctx context.Context, addr string) (progressed bool, err error) {
	id, err := s.local.Identity()
	if err != nil {
		return false, fmt.Errorf("read identity: %w", err)
	}
	if len(id.GetCertificatePem()) == 0 {
		if id, err = s.enroll(ctx, addr, id); err != nil {
			return false, err
		}
		progressed = true
	}
	p, err := s.session(ctx, addr, id)
	return progressed || p, err
}

func (s *Syncer) enroll(ctx context.Context, addr string, pending *xasov1.NodeIdentity) (*xasov1.NodeIdentity, error) {
	if s.cfg.EnrollmentToken == nil {
		return nil, errors.New("not enrolled, and no enrollment token is configured (enrollment_token_file)")
	}
	text, err := s.cfg.EnrollmentToken()
	if err != nil {
		return nil, fmt.Errorf("not enrolled: read enrollment token: %w", err)
	}
	// The key is kept before the first request: when an answer is lost,
	// the next request with the same key and token gets the certificate.
	if pending == nil || len(pending.GetKeyPem()) == 0 {
		key, err := pki.NewNodeKey()
		if err != nil {
			return nil, err
		}
		pending = &xasov1.NodeIdentity{NodeId: s.cfg.NodeID, CommuneCode: s.cfg.Commune, KeyPem: key}
		if err := s.local.SaveIdentity(ctx, pending); err != nil {
			return nil, fmt.Errorf("save the node key: %w", err)
		}
	}
	id, err := Enroll(ctx, addr, text, s.cfg.Commune, s.cfg.NodeID, pending.GetKeyPem(), s.cfg.Names, s.cfg.Dial)
	if err != nil {
		return nil, err
	}
	if err := s.local.SaveIdentity(ctx, id); err != nil {
		return nil, fmt.Errorf("save identity: %w", err)
	}
	s.enrolled.Store(true)
	s.cfg.Logger.Info("enrolled", "node", id.GetNodeId(), "commune", id.GetCommuneCode(), "central", addr)
	return id, nil
}

// dialOptions are the gRPC options of a connection to central: the given
// TLS, the metered (and capped) dialer, and keepalives that notice a
// half-open link within two intervals.
func (s *Syncer) dialOptions(tc credentials.TransportCredentials) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(tc),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := s.cfg.Dial(ctx, addr)
			if err != nil {
				return nil, err
			}
			return &meteredConn{Conn: c, sent: &s.sent, bucket: s.bucket, closed: make(chan struct{})}, nil
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: s.cfg.Keepalive, Timeout: s.cfg.Keepalive, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(32 << 20)),
	}
}

// session pushes and pulls over one connection until either fails.
func (s *Syncer) session(ctx context.Context, addr string, id *xasov1.NodeIdentity) (bool, error) {
	tc, err := pki.ClientConfig(pki.Pair{CertPEM: id.GetCertificatePem(), KeyPEM: id.GetKeyPem()}, id.GetCaPem())
	if err != nil {
		return false, fmt.Errorf("node certificate: %w", err)
	}
	tc.ServerName, _, _ = net.SplitHostPort(addr)
	conn, err := grpc.NewClient("passthrough:///"+addr, s.dialOptions(credentials.NewTLS(tc))...)
	if err != nil {
		return false, fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	client := xasov1.NewReplicationServiceClient(conn)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var progressed atomic.Bool
	errs := make(chan error, 3)
	go func() { errs <- s.push(ctx, client, &progressed) }()
	go func() { errs <- s.feed(ctx, client, &progressed) }()
	go func() { errs <- s.upload(ctx, client, &progressed) }()
	err = <-errs
	cancel()
	<-errs
	<-errs
	s.connected.Store(false)
	return progressed.Load(), err
}

type flight struct {
	id  uint64
	end int64 // last sequence of the batch
}

// push streams the outbox from central's high-water mark on, with up to
// Window batches awaiting acknowledgement.
func (s *Syncer) push(ctx context.Context, client xasov1.ReplicationServiceClient, progressed *atomic.Bool) error {
	stream, err := client.Push(ctx)
	if err != nil {
		return fmt.Errorf("open push stream: %w", err)
	}
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	s.contact()
	last, acked := s.local.OutboxHead()
	central := first.GetAckedSequence()
	if s.local.MustRestore() {
		if central > last {
			if err := s.restore(ctx, client, last, central, progressed); err != nil {
				return err
			}
			last, acked = s.local.OutboxHead()
		}
		if err := s.local.Restored(ctx); err != nil {
			return err
		}
		s.markRestored()
	}
	if central > last {
		return fmt.Errorf("central holds %d events of this commune and this node only %d: this node's data is older than central's; set restore_from_central on a replaced machine", central, last)
	}
	// Nothing is taken as acknowledged unless central holds this very chain.
	if err := s.checkHash(central, first.GetAckedHash()); err != nil {
		return err
	}
	s.setBlocked(first.GetBlocked())
	if central > acked {
		if err := s.local.Acknowledge(ctx, central); err != nil {
			return err
		}
	}
	s.connected.Store(true)
	s.setErr(nil)
	acked = central
	next := central + 1

	answers := make(chan *xasov1.PushResponse, s.cfg.Window+1)
	recvErr := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case answers <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		inflight []flight
		batchID  uint64
		epoch    uint64 = 1 // answers to batches before it cannot rewind
		beat            = time.NewTicker(s.cfg.Heartbeat)
	)
	defer beat.Stop()
	for {
		changed := s.local.OutboxChanged()
		for len(inflight) < s.cfg.Window && !s.isBlocked() {
			head, _ := s.local.OutboxHead()
			if next > head {
				break
			}
			recs, err := s.local.ReadOutbox(next, s.cfg.BatchRecords, s.cfg.BatchBytes)
			if err != nil {
				return fmt.Errorf("read outbox: %w", err)
			}
			if len(recs) == 0 {
				break
			}
			batchID++
			if err := s.send(stream, batchID, recs, head); err != nil {
				return err
			}
			inflight = append(inflight, flight{id: batchID, end: recs[len(recs)-1].GetSequence()})
			next = recs[len(recs)-1].GetSequence() + 1
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-recvErr:
			return fmt.Errorf("push: %w", err)
		case r := <-answers:
			s.contact()
			if r.GetAckedSequence() > acked {
				if err := s.checkHash(r.GetAckedSequence(), r.GetAckedHash()); err != nil {
					return err
				}
				acked = r.GetAckedSequence()
				if err := s.local.Acknowledge(ctx, acked); err != nil {
					return err
				}
				progressed.Store(true)
				select {
				case s.acked <- struct{}{}:
				default:
				}
			}
			var end int64 = -1
			for len(inflight) > 0 && inflight[0].id <= r.GetBatchId() {
				if inflight[0].id == r.GetBatchId() {
					end = inflight[0].end
				}
				inflight = inflight[1:]
			}
			wasBlocked := s.isBlocked()
			s.setBlocked(r.GetBlocked())
			switch {
			case r.GetBlocked() != nil:
				// Refused for its content: nothing from it on is sent, and
				// the answers to what is in flight say the same.
				next, inflight, epoch = r.GetNextSequence(), nil, batchID+1
			case wasBlocked && !s.isBlocked():
				// An operator lifted the block: go on from central's mark.
				next, inflight, epoch = r.GetNextSequence(), nil, batchID+1
			case r.GetBatchId() >= epoch && end >= 0 && r.GetNextSequence() <= end:
				// Central lacks what came before this batch (it restarted
				// from a snapshot, or a batch was lost): resend from where
				// it says, and ignore the answers to what is in flight.
				s.cfg.Logger.Info("central asks to resend", "from", r.GetNextSequence(), "sent_up_to", end)
				next, inflight, epoch = r.GetNextSequence(), nil, batchID+1
			}
		case <-changed:
		case <-beat.C:
			if len(inflight) == 0 {
				head, _ := s.local.OutboxHead()
				batchID++
				if err := s.send(stream, batchID, nil, head); err != nil {
					return err
				}
				inflight = append(inflight, flight{id: batchID, end: next - 1})
			}
		}
	}
}

func (s *Syncer) send(stream xasov1.ReplicationService_PushClient, id uint64, recs []*xasov1.OutboxRecord, head int64) error {
	req := &xasov1.PushRequest{BatchId: id, NodeLastSequence: head}
	if err := s.codec.Encode(req, recs); err != nil {
		return err
	}
	if err := stream.Send(req); err != nil {
		return fmt.Errorf("push: send: %w", err)
	}
	return nil
}

// feed applies central's feed from the node's checkpoint on.
func (s *Syncer) feed(ctx context.Context, client xasov1.ReplicationServiceClient, progressed *atomic.Bool) error {
	if err := s.waitRestored(ctx); err != nil {
		return err
	}
	stream, err := client.Feed(ctx, &xasov1.FeedRequest{AfterSequence: s.local.FeedSequence()})
	if err != nil {
		return fmt.Errorf("open feed: %w", err)
	}
	for {
		r, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("feed: %w", err)
		}
		s.contact()
		if err := s.local.ApplyFeed(ctx, r.GetItems()); err != nil {
			return fmt.Errorf("apply feed: %w", err)
		}
		progressed.Store(true)
	}
}

func (s *Syncer) contact() { s.local.Contact(time.Now()) }

func (s *Syncer) markRestored() { s.restoredOnce.Do(func() { close(s.restored) }) }

// waitRestored returns once the node holds what central held of its
// commune (at once, unless it is a replaced machine restoring).
func (s *Syncer) waitRestored(ctx context.Context) error {
	select {
	case <-s.restored:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// restore takes the commune's records after last, up to central's mark,
// back from central, a page at a time.
func (s *Syncer) restore(ctx context.Context, client xasov1.ReplicationServiceClient, last, central int64, progressed *atomic.Bool) error {
	s.cfg.Logger.Info("restoring the commune's data from central", "from", last+1, "to", central)
	for last < central {
		r, err := client.Restore(ctx, &xasov1.RestoreRequest{FromSequence: last + 1})
		if err != nil {
			return fmt.Errorf("restore from %d: %w", last+1, err)
		}
		s.contact()
		recs := r.GetRecords()
		if len(recs) == 0 {
			return fmt.Errorf("restore from %d: the member answering holds only %d of the %d events (it lags; another try will do)", last+1, r.GetLastSequence(), central)
		}
		for _, rec := range recs {
			if rec.GetCommuneCode() != s.cfg.Commune {
				return fmt.Errorf("restore from %d: central sent a record of commune %s to commune %s's node", last+1, rec.GetCommuneCode(), s.cfg.Commune)
			}
		}
		if err := s.local.Restore(ctx, recs, r.GetPriorEvents()); err != nil {
			return err
		}
		last = recs[len(recs)-1].GetSequence()
		progressed.Store(true)
	}
	s.cfg.Logger.Info("restored the commune's data from central", "last", last)
	return nil
}

// mayUpload says whether files may go now: every event is acknowledged
// (metadata first) and the upload window is open.
func (s *Syncer) mayUpload() bool {
	last, acked := s.local.OutboxHead()
	w := s.window.Load()
	return last == acked && (w == nil || (*w)(time.Now()))
}

// SetLimits changes the bandwidth cap (bytes a second, 0: none) and the
// upload window (nil: always) of a running syncer, as settings from
// central arrive.
func (s *Syncer) SetLimits(bytesPerSecond int64, uploadWindow func(time.Time) bool) {
	s.bucket.setRate(bytesPerSecond)
	if uploadWindow == nil {
		s.window.Store(nil)
	} else {
		s.window.Store(&uploadWindow)
	}
}

// upload sends the queued files, oldest first: it offers each file's
// manifest and sends the chunks central says it lacks.
func (s *Syncer) upload(ctx context.Context, client xasov1.ReplicationServiceClient, progressed *atomic.Bool) error {
	if err := s.waitRestored(ctx); err != nil {
		return err
	}
	idle := func() error {
		t := time.NewTimer(500 * time.Millisecond)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.local.OutboxChanged():
		case <-s.acked:
		case <-t.C:
		}
		return nil
	}
	for {
		if !s.mayUpload() {
			if err := idle(); err != nil {
				return err
			}
			continue
		}
		pos, man, err := s.local.NextUpload()
		if err != nil {
			return fmt.Errorf("upload queue: %w", err)
		}
		if man == nil {
			if err := idle(); err != nil {
				return err
			}
			continue
		}
		sha := man.GetAttachment().GetSha256()
		offer, err := client.OfferAttachment(ctx, &xasov1.OfferAttachmentRequest{Manifest: man})
		if err != nil {
			return fmt.Errorf("offer file %s: %w", sha, err)
		}
		s.contact()
		missing, err := s.sendChunks(ctx, client, man, offer.GetMissingChunks(), progressed)
		if err != nil {
			return err
		}
		if len(missing) == 0 {
			if err := s.local.Uploaded(ctx, pos); err != nil {
				return err
			}
			progressed.Store(true)
		}
	}
}

// Enroll enrolls a node at the member at addr with an enrollment token's
// text: it trusts the member by the CA fingerprint the token carries (and
// only a member's certificate: pki.MembersOnly), sends a certificate
// request for the node's key asking for names, and returns the identity
// to keep.
func Enroll(ctx context.Context, addr, token, commune, nodeID string, keyPEM []byte, names []string, dial func(context.Context, string) (net.Conn, error)) (*xasov1.NodeIdentity, error) {
	tok, err := pki.ParseEnrollmentToken(token)
	if err != nil {
		return nil, err
	}
	if tok.Commune != commune {
		return nil, fmt.Errorf("the enrollment token is for commune %s, this node is configured for %s", tok.Commune, commune)
	}
	csr, err := pki.NodeRequest(keyPEM, nodeID, names)
	if err != nil {
		return nil, err
	}
	tc := pki.PinnedConfig(tok.CAFingerprint)
	tc.ServerName, _, _ = net.SplitHostPort(addr)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(tc))}
	if dial != nil {
		opts = append(opts, grpc.WithContextDialer(dial))
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	resp, err := xasov1.NewReplicationServiceClient(conn).Enroll(ctx, &xasov1.EnrollRequest{
		Secret: tok.Secret, CommuneCode: commune, NodeId: nodeID, CsrDer: csr,
	})
	if err != nil {
		return nil, fmt.Errorf("enroll at %s: %w", addr, err)
	}
	ca, err := pki.ParseCertificate(resp.GetCaPem())
	if err != nil || pki.Fingerprint(ca) != tok.CAFingerprint {
		return nil, errors.New("enroll: central answered with a CA other than the token's")
	}
	id := &xasov1.NodeIdentity{NodeId: nodeID, CommuneCode: commune, CertificatePem: resp.GetCertificatePem(), KeyPem: keyPEM, CaPem: resp.GetCaPem()}
	if _, err := pki.ClientConfig(pki.Pair{CertPEM: id.GetCertificatePem(), KeyPEM: id.GetKeyPem()}, id.GetCaPem()); err != nil {
		return nil, fmt.Errorf("enroll: the certificate central signed: %w", err)
	}
	return id, nil
}

// sendChunks sends the missing chunks of a file one at a time, while
// uploading is allowed, and returns what central still lacks. One chunk on
// its way, not more: what a cut loses is what is in flight (link and
// socket buffers), so a second chunk in flight would be a second chunk to
// resend. The price is a round trip of idle link per chunk (about 7 % at
// 256 kbit/s and 600 ms).
func (s *Syncer) sendChunks(ctx context.Context, client xasov1.ReplicationServiceClient, man *xasov1.AttachmentManifest, missing []int32, progressed *atomic.Bool) ([]int32, error) {
	sha := man.GetAttachment().GetSha256()
	for len(missing) > 0 && s.mayUpload() {
		i := missing[0]
		if i < 0 || int(i) >= len(man.GetChunkSha256()) {
			return nil, fmt.Errorf("central asks for chunk %d of file %s, which has %d", i, sha, len(man.GetChunkSha256()))
		}
		data, err := s.local.Chunk(man.GetChunkSha256()[i])
		if err != nil {
			return nil, fmt.Errorf("read chunk %d of file %s: %w", i, sha, err)
		}
		s.chunks.Add(1)
		r, err := client.PutChunk(ctx, &xasov1.PutChunkRequest{AttachmentSha256: sha, Index: i, Data: data})
		if err != nil {
			return nil, fmt.Errorf("send chunk %d of file %s: %w", i, sha, err)
		}
		s.contact()
		progressed.Store(true)
		missing = r.GetMissingChunks()
	}
	return missing, nil
}
