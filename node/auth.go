package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// rule says who may call a method of the node API.
type rule int

const (
	// anyCaller is any authenticated caller, monitoring clients included:
	// the catalogue and the sync status hold no personal data.
	anyCaller rule = iota + 1
	// officials are clerks, officers and leaders: they act in the
	// workflow and read dossiers (the workflow then decides which action
	// each role may take).
	officials
	// leaders are the commune's leaders: the personal-data access log.
	leaders
	// leadersAndMonitors may run a store check (it reads the whole store).
	leadersAndMonitors
)

// methodRules is who may call each method of the node API. A method that
// is not listed is refused to everyone (TestEveryMethodHasARule keeps the
// table complete).
var methodRules = map[string]rule{
	xasov1.NodeService_ListProcedures_FullMethodName:    anyCaller,
	xasov1.NodeService_GetProcedure_FullMethodName:      anyCaller,
	xasov1.NodeService_CreateDossier_FullMethodName:     officials,
	xasov1.NodeService_GetDossier_FullMethodName:        officials,
	xasov1.NodeService_ListDossiers_FullMethodName:      officials,
	xasov1.NodeService_TransitionDossier_FullMethodName: officials,
	xasov1.NodeService_CreateAttachment_FullMethodName:  officials,
	xasov1.NodeService_GetAttachment_FullMethodName:     officials,
	xasov1.NodeService_GetSyncStatus_FullMethodName:     anyCaller,
	xasov1.NodeService_CheckStore_FullMethodName:        leadersAndMonitors,
	xasov1.NodeService_ListAccessLog_FullMethodName:     leaders,
}

// allow says whether p may call method: nil, or a PermissionDenied status
// naming what the method needs.
func allow(p Principal, method string) error {
	ok := false
	need := ""
	switch methodRules[method] {
	case anyCaller:
		ok = true
	case officials:
		ok, need = p.Official(), "an official's role (clerk, officer or leader)"
	case leaders:
		ok, need = p.Role == dossier.Leader, "the leader's role"
	case leadersAndMonitors:
		ok, need = p.Role == dossier.Leader || p.Role == 0, "the leader's or a monitor's role"
	default:
		need = "a rule (none is defined for this method)"
	}
	if ok {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "%s may not call %s: it needs %s", p.describe(), shortMethod(method), need)
}

// describe names p in an error.
func (p Principal) describe() string {
	role := "monitor"
	if p.Role != 0 {
		role = strings.ToLower(strings.TrimPrefix(p.Role.String(), "ROLE_"))
	}
	return fmt.Sprintf("%s %q (%s)", p.Via, p.Name, role)
}

func shortMethod(m string) string { return m[strings.LastIndexByte(m, '/')+1:] }

// caller returns the principal ctx carries when it may call method:
// Unauthenticated without one, PermissionDenied when its role may not.
// Every service method starts with it, whichever way the call came (gRPC,
// the REST gateway, a desk page).
func caller(ctx context.Context, method string) (Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return Principal{}, status.Error(codes.Unauthenticated, "sign in, or call with a token (authorization: Bearer …) or a client certificate")
	}
	return p, allow(p, method)
}

// authenticator finds who makes a request: a token from the tokens file, a
// client certificate from the province CA, or (REST and pages only) an
// official's desk session.
type authenticator struct {
	tokens *tokens
	users  *users
	store  *Store
	now    func() time.Time
	// cert reads a verified client certificate of this commune's API
	// clients; nil while the node has no way to verify one.
	cert func(*tls.ConnectionState) (Principal, bool)
	// names are the hosts the node answers to; origins the further
	// origins whose pages may call the API with a session.
	names   map[string]bool
	origins map[string]bool
}

func newAuthenticator(n *Node) *authenticator {
	a := &authenticator{tokens: &tokens{path: n.cfg.TokensFile}, users: n.users, store: n.store, now: n.now,
		names: map[string]bool{}, origins: map[string]bool{}}
	for _, h := range n.cfg.HostNames() {
		a.names[strings.ToLower(h)] = true
	}
	if u, err := url.Parse(n.cfg.PublicURL); err == nil && u.Hostname() != "" {
		a.names[strings.ToLower(u.Hostname())] = true
	}
	for _, o := range n.cfg.AllowedOrigins {
		a.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
	}
	return a
}

// errNoCredentials says that a request carries none of the credentials
// the node takes.
var errNoCredentials = errors.New("no credentials")

// bearer returns the token of an "authorization: Bearer …" value.
func bearer(v string) (string, bool) {
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:]), true
	}
	return "", false
}

// token authenticates a bearer token.
func (a *authenticator) token(secret, addr string) (Principal, error) {
	t, err := a.tokens.check(secret, a.now())
	if err != nil {
		return Principal{}, err
	}
	return Principal{Name: t.Name, Role: t.role(), Via: ViaToken, Addr: addr}, nil
}

// certificate authenticates a TLS client certificate, if any.
func (a *authenticator) certificate(cs *tls.ConnectionState, addr string) (Principal, bool) {
	if a.cert == nil || cs == nil || len(cs.VerifiedChains) == 0 {
		return Principal{}, false
	}
	p, ok := a.cert(cs)
	p.Addr, p.Via = addr, ViaCertificate
	return p, ok
}

// session authenticates an official's desk session cookie: the session
// must be live and its user still listed with the same role.
func (a *authenticator) session(r *http.Request) (Session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return Session{}, false
	}
	se, err := a.store.Session(c.Value, a.now())
	if err != nil {
		return Session{}, false
	}
	u, ok, err := a.users.lookup(se.User)
	if err != nil || !ok || u.Role != se.Role {
		return Session{}, false
	}
	return se, true
}

// sessionPrincipal is the principal of a desk session.
func sessionPrincipal(se Session, addr string) Principal {
	return Principal{Name: se.User, Role: User{Role: se.Role}.role(), Via: ViaSession, Addr: addr}
}

// fromGRPC authenticates a gRPC call: a bearer token in its metadata, or
// its TLS client certificate.
func (a *authenticator) fromGRPC(ctx context.Context) (Principal, error) {
	addr := ""
	pr, _ := peer.FromContext(ctx)
	if pr != nil && pr.Addr != nil {
		addr = hostOf(pr.Addr.String())
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if tok, ok := bearer(v); ok {
			p, err := a.token(tok, addr)
			if err != nil {
				return Principal{}, status.Errorf(codes.Unauthenticated, "token: %v", err)
			}
			return p, nil
		}
	}
	if pr != nil {
		if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok {
			if p, ok := a.certificate(&ti.State, addr); ok {
				return p, nil
			}
		}
	}
	return Principal{}, status.Error(codes.Unauthenticated, "call with a token (authorization: Bearer …) or a client certificate of this commune")
}

// fromHTTP authenticates a REST request: a bearer token, a TLS client
// certificate, or an official's session cookie (viaCookie then).
func (a *authenticator) fromHTTP(r *http.Request) (p Principal, viaCookie bool, err error) {
	addr := web.ClientAddr(r)
	if v := r.Header.Get("Authorization"); v != "" {
		tok, ok := bearer(v)
		if !ok {
			return Principal{}, false, errors.New("authorization: only Bearer tokens are taken")
		}
		p, err := a.token(tok, addr)
		return p, false, err
	}
	if p, ok := a.certificate(r.TLS, addr); ok {
		return p, false, nil
	}
	if se, ok := a.session(r); ok {
		return sessionPrincipal(se, addr), true, nil
	}
	return Principal{}, false, errNoCredentials
}

// Unary authenticates every unary gRPC call and refuses a principal the
// method's rule does not admit, before the call reaches the service.
// The health service and reflection (apiserver.HealthMethods) need no
// principal, as /healthz and /readyz need none.
func (a *authenticator) Unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if slices.Contains(apiserver.HealthMethods(), info.FullMethod) {
		return handler(ctx, req)
	}
	p, err := a.fromGRPC(ctx)
	if err != nil {
		return nil, err
	}
	if err := allow(p, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(WithPrincipal(ctx, p), req)
}

// Stream is Unary for streaming calls.
func (a *authenticator) Stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if slices.Contains(apiserver.HealthMethods(), info.FullMethod) {
		return handler(srv, ss)
	}
	p, err := a.fromGRPC(ss.Context())
	if err != nil {
		return err
	}
	if err := allow(p, info.FullMethod); err != nil {
		return err
	}
	return handler(srv, &principalStream{ServerStream: ss, ctx: WithPrincipal(ss.Context(), p)})
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

// hostOf is the host part of a host[:port].
func hostOf(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// knownHost says whether r's Host header is one of the node's names.
func (a *authenticator) knownHost(r *http.Request) bool {
	return a.names[strings.ToLower(hostOf(r.Host))]
}

// allowedOrigin says whether a page at origin may call the API with an
// official's session: one of the node's own names (any scheme and port)
// or a configured origin.
func (a *authenticator) allowedOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return a.names[strings.ToLower(u.Hostname())] || a.origins[strings.ToLower(strings.TrimSuffix(origin, "/"))]
}

// Hosts answers only requests whose Host header names the node (a page
// of another site cannot reach it through a name it controls, DNS
// rebinding); health checks answer whatever the name, and gRPC, which no
// browser speaks, is left to the interceptors.
func (a *authenticator) Hosts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || apiserver.IsGRPC(r) || a.knownHost(r) {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "misdirected request: this node does not answer to "+dossier.Short(r.Host, 100)+" (names in its configuration)", http.StatusMisdirectedRequest)
	})
}

// REST authenticates every call of the REST API and keeps other sites'
// pages from driving it through an official's browser: a call that
// changes something must be JSON (a form or text/plain is what a foreign
// page can send without asking) and come from an allowed Origin, or carry
// no Origin and a token or certificate.
func (a *authenticator) REST(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		write := r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions
		if write {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				restError(w, http.StatusUnsupportedMediaType, codes.InvalidArgument, "a call that changes something sends Content-Type: application/json")
				return
			}
			if o := r.Header.Get("Origin"); o != "" && !a.allowedOrigin(o) {
				restError(w, http.StatusForbidden, codes.PermissionDenied, "calls from pages of "+dossier.Short(o, 100)+" are not allowed (allowed_origins)")
				return
			}
		}
		p, viaCookie, err := a.fromHTTP(r)
		switch {
		case errors.Is(err, errNoCredentials):
			w.Header().Set("WWW-Authenticate", `Bearer realm="xaso"`)
			restError(w, http.StatusUnauthorized, codes.Unauthenticated, "sign in at the desk, or call with a token (authorization: Bearer …) or a client certificate")
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="xaso", error="invalid_token"`)
			restError(w, http.StatusUnauthorized, codes.Unauthenticated, "token: "+err.Error())
			return
		}
		if write && viaCookie && r.Header.Get("Origin") == "" {
			restError(w, http.StatusForbidden, codes.PermissionDenied, "a call made with a desk session must carry the Origin of the node's pages")
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Metrics answers /metrics only to a caller with a token when the
// configuration asks for it.
func (a *authenticator) Metrics(need bool, h http.Handler) http.Handler {
	if !need {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xaso"`)
			http.Error(w, "metrics need a token (authorization: Bearer …)", http.StatusUnauthorized)
			return
		}
		if _, err := a.token(tok, web.ClientAddr(r)); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xaso", error="invalid_token"`)
			http.Error(w, "token: "+err.Error(), http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// restError writes an error in the gateway's JSON shape.
func restError(w http.ResponseWriter, httpStatus int, code codes.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	json.NewEncoder(w).Encode(map[string]any{"code": int(code), "message": msg, "details": []any{}})
}
