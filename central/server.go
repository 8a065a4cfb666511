package central

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/replication"
	"github.com/xaso/xaso/web"
)

// replicationBackend is what the replication service reads and proposes
// through on this member.
type replicationBackend struct {
	*FSM
	s *Server
}

// CatchUp waits until this member has applied what the cluster committed
// (a linearizable read's fence through the log).
func (b replicationBackend) CatchUp(ctx context.Context) error {
	_, err := b.s.read(ctx, xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE)
	return err
}

func (b replicationBackend) Propose(ctx context.Context, actor string, cmds ...*xasov1.CentralCommand) ([]*xasov1.CommandResult, error) {
	return b.s.propose(ctx, actor, cmds...)
}

// ServerConfig configures a member's API.
type ServerConfig struct {
	Member *Member
	// APIAddress is where the other members reach this member's API (host:port).
	APIAddress string
	// TLS serves the API: the member's certificate; client certificates
	// are verified when given (members forwarding writes present theirs,
	// operators use tokens). PeerTLS dials the other members.
	TLS, PeerTLS *tls.Config
	// BootstrapTokenSHA256 is the hex SHA-256 of the bootstrap token: it
	// may see the cluster and create the first operator token (see
	// AccessFirstToken), and is refused once any operator token was made.
	BootstrapTokenSHA256 string
	// CAFingerprint goes into enrollment tokens.
	CAFingerprint string
	// CA, with its key, signs node certificates at enrollment; nil when
	// this member does not hold the key. NodeCertificateTTL is their life.
	CA                 *pki.CA
	NodeCertificateTTL time.Duration
	// NodeNames is the policy of the names node certificates may carry
	// (node_certificate_names); its Reserved names are this member's
	// certificate's. The cluster's members' ids and addresses are added
	// at each enrollment.
	NodeNames pki.NamePolicy
	// MaxConnections caps the API's connections (0: DefaultMaxConnections).
	MaxConnections int
	// GRPCReflection serves gRPC server reflection (grpc_reflection).
	GRPCReflection bool
	// Version is the build's, for xaso_build_info (default: from the
	// build's own information).
	Version string
	Logger  *slog.Logger
	// Now is the clock (default time.Now); commands are stamped with it.
	Now func() time.Time
}

// Server is a member's CentralService (operators) and CentralPeerService
// (the other members), over gRPC and REST on one port.
type Server struct {
	xasov1.UnimplementedCentralServiceServer
	cfg     ServerConfig
	m       *Member
	fsm     *FSM
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics
	// access is the rule of every method (accessTable); local calls this
	// member's CentralService in process, through the same check as gRPC
	// (the REST gateway, exports and the dashboard use it); reads records
	// the reads of personal data.
	access map[string]Access
	local  xasov1.CentralServiceClient
	reads  *personalDataReads
	// sessions are the dashboard's, kept in memory.
	sessions *sessions

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by API address
}

// NewServer builds the API of a running member.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Member == nil || cfg.TLS == nil || cfg.PeerTLS == nil || cfg.APIAddress == "" {
		return nil, errors.New("central server: member, API address and TLS are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, m: cfg.Member, fsm: cfg.Member.FSM(), log: cfg.Logger, now: cfg.Now, conns: map[string]*grpc.ClientConn{},
		access: accessTable()}
	s.reads = &personalDataReads{log: s.log, now: s.now, member: s.m.ID()}
	s.sessions = newSessions(s.now)
	s.local = xasov1.NewCentralServiceClient(&localConn{desc: &xasov1.CentralService_ServiceDesc, srv: s, intercept: s.unaryAccess})
	if cfg.Version == "" {
		cfg.Version = apiserver.Version()
		s.cfg.Version = cfg.Version
	}
	s.metrics = newMetrics(s.m, cfg.Version, s.now)
	return s, nil
}

// Registry is the Prometheus registry of the member's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// Handler is the member's HTTP handler: gRPC, REST under /v1/, report
// exports, /metrics, /healthz and /readyz.
func (s *Server) Handler() (http.Handler, error) {
	obs := apiserver.Observer{Log: s.log, GRPC: s.metrics.grpcLatency, HTTP: s.metrics.httpLatency,
		GRPCErrors: s.metrics.grpcErrors, HTTPErrors: s.metrics.httpErrors, Streams: s.metrics.streams}
	repl, err := replication.NewService(replication.ServiceConfig{
		Central: replicationBackend{FSM: s.fsm, s: s}, CA: s.cfg.CA, CertTTL: s.cfg.NodeCertificateTTL, Logger: s.log, Now: s.now,
		NodeNames: s.nodeNames,
	})
	if err != nil {
		return nil, err
	}
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(obs.Unary, s.unaryAccess), grpc.ChainStreamInterceptor(obs.Stream, s.streamAccess), grpc.MaxRecvMsgSize(16<<20),
		// Nodes ping every few seconds to notice a half-open link; a member
		// pings a silent node to free what its stream holds.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	)
	xasov1.RegisterCentralServiceServer(gs, s)
	xasov1.RegisterCentralPeerServiceServer(gs, peerService{s: s})
	xasov1.RegisterReplicationServiceServer(gs, repl)
	apiserver.RegisterHealth(gs, s.ready, s.cfg.GRPCReflection)
	// The gateway calls the service through s.local, not directly: the
	// access check of gRPC calls is then the check of REST calls too.
	gw := apiserver.Gateway(runtime.WithMiddlewares(obs.Middleware))
	if err := xasov1.RegisterCentralServiceHandlerClient(context.Background(), gw, s.local); err != nil {
		return nil, fmt.Errorf("register REST gateway: %w", err)
	}
	mux := apiserver.NewMeasuredMux(obs)
	mux.Unmeasured("/v1/", http.MaxBytesHandler(gw, 4<<20))
	mux.Handle("GET /v1/reports/performance:export", http.HandlerFunc(s.exportReport))
	pg, err := web.NewPages()
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	newDashboard(s, pg).routes(mux)
	mux.Unmeasured("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if id, _ := s.m.Leader(); id == "" {
			http.Error(w, "no leader known", http.StatusServiceUnavailable)
			return
		}
		if !s.caughtUp() {
			http.Error(w, "not yet applied what the cluster committed", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	rest, err := apiserver.GatewayRoutes(xasov1.HTTPRules, "xaso.v1.CentralService")
	if err != nil {
		return nil, err
	}
	methods, streams := apiserver.Methods(gs)
	obs.Preset(methods, streams, append(rest, mux.Routes()...))
	return apiserver.Split(gs, withClientAddr(downloads(mux))), nil
}

// ready is the member's readiness, as /readyz and the gRPC health
// service answer it: a leader is known and this member has applied every
// entry it knows committed.
func (s *Server) ready() bool {
	if id, _ := s.m.Leader(); id == "" {
		return false
	}
	return s.caughtUp()
}

// caughtUp says whether this member has applied up to the commit index
// Raft reports (Raft's applied index, which counts its own no-op and
// configuration entries the state never sees).
func (s *Server) caughtUp() bool {
	st := s.m.Stats()
	commit, err1 := strconv.ParseUint(st["commit_index"], 10, 64)
	applied, err2 := strconv.ParseUint(st["applied_index"], 10, 64)
	return err1 == nil && err2 == nil && applied >= commit
}

// Serve serves the API on ln until ctx is done. While serving, the member
// records its API address whenever it becomes the leader, so that the
// others can forward writes to it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	h, err := s.Handler()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.registerAddress(ctx)
	}()
	defer wg.Wait()
	defer s.closeConns()
	return apiserver.Serve(ctx, ln, h, s.cfg.TLS, s.limits(), s.log, nil, nil)
}

// DefaultMaxConnections is a member's connection cap when none is set:
// every connected node holds one connection for its replication streams
// (a province has a few hundred communes), and operators, dashboards and
// the other members need room beside them.
const DefaultMaxConnections = 4096

// downloadTimeout is how long a file or an export may take to reach an
// operator: a file of dossier.MaxFileBytes (as base64 in JSON) at 256 KiB/s.
const downloadTimeout = time.Duration(dossier.MaxFileBytes*4/3/(256<<10)) * time.Second

// downloads gives the answers that may carry a whole file (GET
// /v1/attachments/…) or a province's report (the export) downloadTimeout
// to leave, instead of the server's shorter write deadline.
func downloads(h http.Handler) http.Handler {
	long := apiserver.Deadlines(h, 0, downloadTimeout)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && (strings.HasPrefix(r.URL.Path, "/v1/attachments/") || strings.HasPrefix(r.URL.Path, "/v1/reports/performance:export")) {
			long.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// limits are the API's: apiserver's deadlines for plain HTTP (the
// dashboard, REST, exports); gRPC, the replication streams above all, is
// exempt from them (see apiserver.Limits).
func (s *Server) limits() apiserver.Limits {
	lim := apiserver.Limits{MaxConns: s.cfg.MaxConnections}
	if lim.MaxConns == 0 {
		lim.MaxConns = DefaultMaxConnections
	}
	return lim
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for a, c := range s.conns {
		c.Close()
		delete(s.conns, a)
	}
}

// registerAddress records this member's API address in the state (through
// the leader), so that the others can forward writes to it and operators
// see where every member answers. It retries until it is recorded, and
// again whenever this member becomes the leader.
func (s *Server) registerAddress(ctx context.Context) {
	registered := func() bool {
		ms, err := s.fsm.Members()
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.GetId() == s.m.ID() && m.GetApiAddress() == s.cfg.APIAddress {
				return true
			}
		}
		return false
	}
	register := func() {
		backoff := 50 * time.Millisecond
		for !registered() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := s.write(cctx, "member:"+s.m.ID(), &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutMember{PutMember: &xasov1.PutMemberCommand{
				Member: &xasov1.ClusterMember{Id: s.m.ID(), ApiAddress: s.cfg.APIAddress}}}})
			cancel()
			if err == nil {
				return
			}
			s.log.Debug("record API address", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	register()
	for {
		select {
		case lead := <-s.m.Leadership():
			if lead {
				register()
			}
		case <-ctx.Done():
			return
		}
	}
}

// peerConn returns a client connection to another member's API.
func (s *Server) peerConn(addr string) (*grpc.ClientConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.conns[addr]; ok {
		return c, nil
	}
	// passthrough: the name is resolved by the dialer on every connect, as
	// the operating system resolves it (hosts file first), with no DNS
	// service-config lookups that hang where no DNS server answers.
	c, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(s.cfg.PeerTLS)))
	if err != nil {
		return nil, fmt.Errorf("dial member at %s: %w", addr, err)
	}
	s.conns[addr] = c
	return c, nil
}

// leaderConn returns a connection to the leader's API.
func (s *Server) leaderConn() (*grpc.ClientConn, string, error) {
	id, _ := s.m.Leader()
	if id == "" {
		return nil, "", status.Error(codes.Unavailable, "no leader known: the cluster is electing one; retry")
	}
	ms, err := s.fsm.Members()
	if err != nil {
		return nil, "", status.Errorf(codes.Internal, "read members: %v", err)
	}
	for _, m := range ms {
		if m.GetId() == id {
			c, err := s.peerConn(m.GetApiAddress())
			return c, id, err
		}
	}
	return nil, "", status.Errorf(codes.Unavailable, "the leader %s has not recorded its API address yet; retry", id)
}

// propose commits commands on the leader: here when this member leads,
// otherwise forwarded to it. Until a leader is known (during an election)
// it retries, bounded by ctx.
func (s *Server) propose(ctx context.Context, actor string, cmds ...*xasov1.CentralCommand) ([]*xasov1.CommandResult, error) {
	backoff := 20 * time.Millisecond
	for {
		var res []*xasov1.CommandResult
		var err error
		if s.m.IsLeader() {
			res, err = s.m.Propose(ctx, actor, s.now(), cmds...)
			switch {
			case err == nil:
				return res, nil
			case errors.Is(err, ErrOutcomeUnknown):
				return nil, status.Error(codes.Unavailable, err.Error())
			case !errors.Is(err, ErrNotLeader):
				return nil, status.Errorf(codes.Unavailable, "propose: %v", err)
			}
		} else {
			var conn *grpc.ClientConn
			conn, _, err = s.leaderConn()
			if err == nil {
				var resp *xasov1.ProposeResponse
				resp, err = xasov1.NewCentralPeerServiceClient(conn).Propose(ctx, &xasov1.ProposeRequest{Actor: actor, Commands: cmds})
				if err == nil {
					return resp.GetResults(), nil
				}
			}
			if status.Code(err) != codes.Unavailable || errors.Is(err, ErrOutcomeUnknown) {
				return nil, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, status.Errorf(codes.Unavailable, "no leader took the write before the deadline: %v", err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// write proposes one command and turns a refusal into its status; it waits
// until this member has applied the entry, so that the caller reads its write.
func (s *Server) write(ctx context.Context, actor string, cmd *xasov1.CentralCommand) (*xasov1.CommandResult, error) {
	res, err := s.propose(ctx, actor, cmd)
	if err != nil {
		return nil, err
	}
	if len(res) != 1 {
		return nil, status.Errorf(codes.Internal, "%d results for one command", len(res))
	}
	if err := resultErr(res[0]); err != nil {
		return nil, err
	}
	if err := s.fsm.WaitApplied(ctx, res[0].GetIndex()); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return res[0], nil
}

// resultErr is the status of a refused command.
func resultErr(r *xasov1.CommandResult) error {
	if r.GetCode() == 0 {
		return nil
	}
	if codes.Code(r.GetCode()) == codes.InvalidArgument && len(r.GetViolations()) > 0 {
		var v dossier.Violations
		for _, x := range r.GetViolations() {
			v = append(v, dossier.Violation{Field: x.GetField(), Description: x.GetDescription()})
		}
		return grpcerr.BadRequest(v)
	}
	return status.Error(codes.Code(r.GetCode()), r.GetMessage())
}

// read makes a read as fresh as asked and says which index it reflects.
func (s *Server) read(ctx context.Context, c xasov1.ReadConsistency) (*xasov1.ReadInfo, error) {
	if c == xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE {
		res, err := s.propose(ctx, "", &xasov1.CentralCommand{Command: &xasov1.CentralCommand_ReadFence{ReadFence: &xasov1.ReadFenceCommand{}}})
		if err != nil {
			return nil, err
		}
		if err := s.fsm.WaitApplied(ctx, res[0].GetIndex()); err != nil {
			return nil, status.FromContextError(err).Err()
		}
	}
	return &xasov1.ReadInfo{AppliedIndex: s.fsm.AppliedIndex(), MemberId: s.m.ID()}, nil
}

// peerService is CentralPeerService: writes forwarded by other members.
type peerService struct {
	xasov1.UnimplementedCentralPeerServiceServer
	s *Server
}

// Propose commits commands forwarded by another member (mutual TLS: the
// caller's certificate must name a member of the cluster).
func (p peerService) Propose(ctx context.Context, req *xasov1.ProposeRequest) (*xasov1.ProposeResponse, error) {
	s := p.s
	if err := s.authorizePeer(ctx); err != nil {
		return nil, err
	}
	res, err := s.m.Propose(ctx, req.GetActor(), s.now(), req.GetCommands()...)
	switch {
	case errors.Is(err, ErrNotLeader):
		return nil, status.Error(codes.Unavailable, "not the leader any more; retry")
	case err != nil:
		// ErrOutcomeUnknown and others: the forwarding member must not retry blindly.
		return nil, status.Error(codes.Aborted, err.Error())
	}
	return &xasov1.ProposeResponse{Results: res}, nil
}

// nodeNames is the policy of the names a node certificate signed now may
// carry: node_certificate_names, less every name and address of central's
// own — this member's certificate's, and the ids and the Raft and API
// hosts of the cluster's members.
func (s *Server) nodeNames() (pki.NamePolicy, error) {
	p := s.cfg.NodeNames
	p.Reserved = slices.Clone(p.Reserved)
	servers, err := s.m.Servers()
	if err != nil {
		return p, fmt.Errorf("read configuration: %w", err)
	}
	host := func(addr string) string {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			return h
		}
		return addr
	}
	for _, sv := range servers {
		p.Reserved = append(p.Reserved, string(sv.ID), host(string(sv.Address)))
	}
	ms, err := s.fsm.Members()
	if err != nil {
		return p, fmt.Errorf("read members: %w", err)
	}
	for _, m := range ms {
		p.Reserved = append(p.Reserved, m.GetId(), host(m.GetApiAddress()))
	}
	return p, nil
}

// authorizePeer checks that the caller presented a certificate of the
// cluster's CA naming one of the cluster's members.
func (s *Server) authorizePeer(ctx context.Context) error {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no peer")
	}
	ti, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 {
		return status.Error(codes.Unauthenticated, "members call each other with a verified certificate")
	}
	leaf := ti.State.VerifiedChains[0][0]
	if commune, isNode := pki.NodeCommune(leaf); isNode {
		return status.Errorf(codes.PermissionDenied, "a node of commune %s is not a member of the cluster", commune)
	}
	if !pki.IsMember(leaf) {
		return status.Errorf(codes.PermissionDenied, "the certificate of %q is not a member's", leaf.Subject.CommonName)
	}
	name := leaf.Subject.CommonName
	servers, err := s.m.Servers()
	if err != nil {
		return status.Errorf(codes.Unavailable, "read configuration: %v", err)
	}
	for _, sv := range servers {
		if string(sv.ID) == name {
			return nil
		}
	}
	return status.Errorf(codes.PermissionDenied, "%q is not a member of the cluster", name)
}

// toLeader forwards a call to the leader's API with the caller's own
// token; call runs locally when this member leads (conn nil).
func (s *Server) toLeader(ctx context.Context) (xasov1.CentralServiceClient, context.Context, error) {
	if s.m.IsLeader() {
		return nil, ctx, nil
	}
	conn, _, err := s.leaderConn()
	if err != nil {
		return nil, nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	out := metadata.New(nil)
	out.Set("authorization", md.Get("authorization")...)
	return xasov1.NewCentralServiceClient(conn), metadata.NewOutgoingContext(ctx, out), nil
}
