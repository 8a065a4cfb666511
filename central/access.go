package central

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/web"
)

// Access is the rule of who may call a method of the member's API. Every
// method the member serves has one rule in accessTable, and the one check
// (Server.checkAccess) applies it to gRPC calls, to REST calls (the
// gateway calls the service in process, through the same check: see
// localConn) and to the dashboard's calls. A method without a rule is
// refused to everyone.
type Access uint8

// The callers a rule can let in.
const (
	allowViewer Access = 1 << iota
	allowRecords
	allowOperator
	// allowBootstrap: the bootstrap token, while no operator token was
	// ever made.
	allowBootstrap
	// byService: no operator; the service checks its callers' certificates
	// (members, nodes) or enrollment tokens itself.
	byService
)

// The rules a method can have.
const (
	// AccessRead is a read that holds no personal data (reports, the
	// communes, the catalogue, the calendar, the cluster, the nodes):
	// every operator role.
	AccessRead = allowViewer | allowRecords | allowOperator
	// AccessPersonalData is a read of citizens' personal data (dossiers
	// with their applicants' names, ID numbers, phones and addresses,
	// their files; who read them): the records role only. Every call is
	// recorded (see personalDataReads). A new method that returns personal
	// data takes this rule, one line in accessTable.
	AccessPersonalData = allowRecords
	// AccessAdmin is a write or administration (the audit trail, tokens,
	// the cluster): the operator role.
	AccessAdmin = allowOperator
	// AccessFirstToken is making an operator token: the operator role, and
	// the bootstrap token for the first one.
	AccessFirstToken = allowOperator | allowBootstrap
	// AccessClusterState is the cluster's state: every operator role, and
	// the bootstrap token (to wait for a leader before the first token).
	AccessClusterState = AccessRead | allowBootstrap
	// AccessService is a method of members or nodes, which their service
	// authenticates.
	AccessService = byService
)

// accessTable is the rule of every method the member serves, by gRPC full
// method name. TestAccessEveryMethod holds the same table written out
// again, so that a rule changes only on purpose.
func accessTable() map[string]Access {
	t := map[string]Access{
		xasov1.CentralService_GetCluster_FullMethodName:             AccessClusterState,
		xasov1.CentralService_AddClusterMember_FullMethodName:       AccessAdmin,
		xasov1.CentralService_RemoveClusterMember_FullMethodName:    AccessAdmin,
		xasov1.CentralService_TransferLeadership_FullMethodName:     AccessAdmin,
		xasov1.CentralService_TakeSnapshot_FullMethodName:           AccessAdmin,
		xasov1.CentralService_ListCommunes_FullMethodName:           AccessRead,
		xasov1.CentralService_PutCommune_FullMethodName:             AccessAdmin,
		xasov1.CentralService_UnitAt_FullMethodName:                 AccessRead,
		xasov1.CentralService_UnitHistory_FullMethodName:            AccessRead,
		xasov1.CentralService_UpdateCommuneSettings_FullMethodName:  AccessAdmin,
		xasov1.CentralService_ListCatalogProcedures_FullMethodName:  AccessRead,
		xasov1.CentralService_GetCatalogProcedure_FullMethodName:    AccessRead,
		xasov1.CentralService_CreateCatalogProcedure_FullMethodName: AccessAdmin,
		xasov1.CentralService_UpdateCatalogProcedure_FullMethodName: AccessAdmin,
		xasov1.CentralService_GetCalendar_FullMethodName:            AccessRead,
		xasov1.CentralService_UpdateCalendar_FullMethodName:         AccessAdmin,
		xasov1.CentralService_GetProvinceDossier_FullMethodName:     AccessPersonalData,
		xasov1.CentralService_GetProvinceAttachment_FullMethodName:  AccessPersonalData,
		xasov1.CentralService_ListAccessRecords_FullMethodName:      AccessPersonalData,
		xasov1.CentralService_GetPerformanceReport_FullMethodName:   AccessRead,
		xasov1.CentralService_ListAuditRecords_FullMethodName:       AccessAdmin,
		xasov1.CentralService_CreateOperatorToken_FullMethodName:    AccessFirstToken,
		xasov1.CentralService_ListOperatorTokens_FullMethodName:     AccessAdmin,
		xasov1.CentralService_DeleteOperatorToken_FullMethodName:    AccessAdmin,
		xasov1.CentralService_CreateEnrollmentToken_FullMethodName:  AccessAdmin,
		xasov1.CentralService_ListNodes_FullMethodName:              AccessRead,
		xasov1.CentralService_RevokeNode_FullMethodName:             AccessAdmin,
		xasov1.CentralService_UnblockCommuneChain_FullMethodName:    AccessAdmin,
		xasov1.CentralService_DeclareSuccession_FullMethodName:      AccessAdmin,

		xasov1.CentralPeerService_Propose_FullMethodName: AccessService,

		xasov1.ReplicationService_Enroll_FullMethodName:          AccessService,
		xasov1.ReplicationService_Push_FullMethodName:            AccessService,
		xasov1.ReplicationService_Feed_FullMethodName:            AccessService,
		xasov1.ReplicationService_OfferAttachment_FullMethodName: AccessService,
		xasov1.ReplicationService_PutChunk_FullMethodName:        AccessService,
		xasov1.ReplicationService_Restore_FullMethodName:         AccessService,
	}
	// The health service and reflection (when grpc_reflection is on) are
	// open, as /healthz and /readyz are.
	for _, m := range apiserver.HealthMethods() {
		t[m] = AccessService
	}
	return t
}

// allows says whether the rule lets c in.
func (a Access) allows(c caller) bool {
	if c.bootstrap {
		return a&allowBootstrap != 0
	}
	switch c.role {
	case xasov1.OperatorRole_OPERATOR_ROLE_VIEWER:
		return a&allowViewer != 0
	case xasov1.OperatorRole_OPERATOR_ROLE_RECORDS:
		return a&allowRecords != 0
	case xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR:
		return a&allowOperator != 0
	}
	return false
}

// roles names the roles a rule lets in, for a refusal's message.
func (a Access) roles() string {
	var rs []string
	for _, r := range []struct {
		bit  Access
		name string
	}{{allowViewer, "VIEWER"}, {allowRecords, "RECORDS"}, {allowOperator, "OPERATOR"}} {
		if a&r.bit != 0 {
			rs = append(rs, r.name)
		}
	}
	return strings.Join(rs, " or ")
}

// Ways a caller is authenticated.
const (
	viaToken     = "token"     // an operator token in the call (authorization: Bearer)
	viaSession   = "session"   // a dashboard session, kept for a token
	viaBootstrap = "bootstrap" // the bootstrap token of the configuration
)

// caller is an authenticated operator.
type caller struct {
	// name is the token's name (the actor of what it writes); "bootstrap"
	// for the bootstrap token.
	name string
	role xasov1.OperatorRole
	// bootstrap: the bootstrap token, which has no role.
	bootstrap bool
	// via says how the caller was authenticated; addr is where the call
	// came from (host, without the port).
	via, addr string
	// secretSum is the SHA-256 of the token's secret (a dashboard session
	// keeps it, to check the token again at each request).
	secretSum string
}

// roleName is the caller's role as the dashboard and logs name it.
func (c caller) roleName() string {
	if c.bootstrap {
		return viaBootstrap
	}
	return strings.TrimPrefix(c.role.String(), "OPERATOR_ROLE_")
}

type callerKey struct{}

// callerFrom returns the operator the access check let in.
func callerFrom(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok
}

// actor is the name a write of the call is recorded under. A call that
// did not pass the access check (only code in this package could make
// one) writes nothing.
func actor(ctx context.Context) (string, error) {
	c, ok := callerFrom(ctx)
	if !ok || c.name == "" {
		return "", status.Error(codes.Internal, "a write without an authenticated caller")
	}
	return c.name, nil
}

type sessionKey struct{}

// withSessionToken returns ctx carrying the token of a dashboard session,
// by the SHA-256 of its secret: calls through s.local with it are checked
// as the token's own, and refused once it is revoked or expired. Only code
// in this process can set it.
func withSessionToken(ctx context.Context, secretSum string) context.Context {
	return context.WithValue(ctx, sessionKey{}, secretSum)
}

type clientAddrKey struct{}

// withClientAddr gives the HTTP requests (REST, exports, the dashboard)
// the client's address, which calls in process take as theirs.
func withClientAddr(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, web.ClientAddr(r))))
	})
}

// clientAddr is where a call came from: the HTTP client's address for
// calls in process, else the gRPC peer's.
func clientAddr(ctx context.Context) string {
	if a, ok := ctx.Value(clientAddrKey{}).(string); ok {
		return a
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			return host
		}
		return p.Addr.String()
	}
	return ""
}

// bearer is the token of the call's authorization metadata.
func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return strings.TrimSpace(v[7:])
		}
	}
	return ""
}

// authenticate says who makes the call: a dashboard session's token, or
// the token in the call's metadata (an operator's, or the bootstrap token
// while no operator token was ever made).
func (s *Server) authenticate(ctx context.Context) (caller, error) {
	addr := clientAddr(ctx)
	if sum, ok := ctx.Value(sessionKey{}).(string); ok {
		return s.tokenCaller(sum, viaSession, addr)
	}
	tok := bearer(ctx)
	if tok == "" {
		return caller{}, status.Error(codes.Unauthenticated, "an operator token is required: authorization: Bearer <token>")
	}
	sum := pki.SecretSum(tok)
	if s.cfg.BootstrapTokenSHA256 != "" && subtle.ConstantTimeCompare([]byte(sum), []byte(s.cfg.BootstrapTokenSHA256)) == 1 {
		issued, err := s.fsm.TokenIssued()
		if err != nil {
			return caller{}, status.Errorf(codes.Internal, "check the bootstrap token: %v", err)
		}
		if issued {
			return caller{}, status.Error(codes.Unauthenticated, "the bootstrap token is spent: an operator token was made already; use one (xaso admin token create)")
		}
		return caller{name: viaBootstrap, bootstrap: true, via: viaBootstrap, addr: addr, secretSum: sum}, nil
	}
	return s.tokenCaller(sum, viaToken, addr)
}

// tokenCaller authenticates the operator token whose secret hashes to sum.
func (s *Server) tokenCaller(sum, via, addr string) (caller, error) {
	t, err := s.fsm.TokenBySecretHash(sum)
	if errors.Is(err, errNotFound) {
		return caller{}, status.Error(codes.Unauthenticated, "unknown or revoked operator token")
	}
	if err != nil {
		return caller{}, status.Errorf(codes.Internal, "check token: %v", err)
	}
	exp := tokenExpiry(t)
	if !s.now().Before(exp) {
		return caller{}, status.Errorf(codes.Unauthenticated, "operator token %q expired at %s; ask an operator for a new one", t.GetName(), exp.Format(time.RFC3339))
	}
	return caller{name: t.GetName(), role: t.GetRole(), via: via, addr: addr, secretSum: sum}, nil
}

// checkAccess applies method's rule to the call in ctx and returns ctx
// carrying the caller (nil caller for a method its service authenticates).
func (s *Server) checkAccess(ctx context.Context, method string) (context.Context, *caller, Access, error) {
	a, ok := s.access[method]
	if !ok {
		s.log.Error("a method without an access rule was called: refused", "method", method)
		return nil, nil, 0, status.Errorf(codes.PermissionDenied, "%s has no access rule", method)
	}
	if a == AccessService {
		return ctx, nil, a, nil
	}
	c, err := s.authenticate(ctx)
	if err != nil {
		return nil, nil, a, err
	}
	if !a.allows(c) {
		short := method[strings.LastIndex(method, "/")+1:]
		if c.bootstrap {
			return nil, nil, a, status.Errorf(codes.PermissionDenied, "the bootstrap token may only create the first operator token (and see the cluster), not call %s", short)
		}
		return nil, nil, a, status.Errorf(codes.PermissionDenied, "token %q has the %s role; %s needs %s", c.name, c.roleName(), short, a.roles())
	}
	return context.WithValue(ctx, callerKey{}, c), &c, a, nil
}

// unaryAccess is the access check of unary calls, over gRPC and in
// process. A personal-data read is recorded with its outcome.
func (s *Server) unaryAccess(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, c, a, err := s.checkAccess(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	resp, err := h(ctx, req)
	if a == AccessPersonalData {
		s.reads.record(ctx, *c, info.FullMethod, req, err)
	}
	return resp, err
}

// streamAccess is the access check of streams.
func (s *Server) streamAccess(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, c, _, err := s.checkAccess(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if c != nil {
		ss = &callerStream{ServerStream: ss, ctx: ctx}
	}
	return h(srv, ss)
}

// callerStream is a stream whose context carries its caller.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *callerStream) Context() context.Context { return c.ctx }

// describe is a short text of a request, for the record of a read.
func describe(req any) string {
	m, ok := req.(proto.Message)
	if !ok {
		return fmt.Sprintf("%T", req)
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Sprintf("%T", req)
	}
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
