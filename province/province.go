// Package province runs a whole province in one process: a central cluster
// of three members and a node per commune, each node reaching central over
// a link of its own that may be simulated (delay, cap, cuts). `xaso demo`
// is built on it, and so are the tests that need the real thing end to end.
//
// Everything is configured as in production — a province CA, member
// certificates, a bootstrap token that makes the first operator token,
// an operator's and a records officer's tokens, one-time enrollment
// tokens that the nodes spend on their first contact — only in one
// directory and on loopback.
package province

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/internal/freeport"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/replication/linksim"
	"github.com/xaso/xaso/sample"
)

// Options shape a province.
type Options struct {
	// Dir holds every member's and node's data, and the PKI. Members and
	// nodes run with the product's defaults for encryption at rest: each
	// store is encrypted with a key made at its first start, beside it
	// ({member or node}/data.key).
	Dir string
	// Communes run a node each (default: the sample province's first five).
	Communes []sample.Commune
	// PortBase, when set, puts the members' APIs on PortBase, +1, +2,
	// their Raft transports on +3, +4, +5 and the nodes on +10, +11, …;
	// otherwise free ports are picked.
	PortBase int
	// Link returns the simulated link of the i-th commune; nil (or a nil
	// link) connects directly.
	Link func(i int) *linksim.Link
	// Fast shortens Raft's timeouts and the nodes' heartbeats, for tests.
	Fast bool
	// Logger receives every part's log (default: discarded).
	Logger *slog.Logger
	// AgencyID, when set, gives a commune's agency e-ID, registered at
	// central and set in its node's configuration (dossier codes begin
	// with it); nil or "": none, legacy codes.
	AgencyID func(commune string) string
	// Node, when set, may change each commune node's configuration before
	// it starts (e.g. the fee account), after everything else is set.
	Node func(c sample.Commune, cfg *node.Config)
	// Central, when set, may change each central member's configuration
	// before it starts (e.g. the portal connector's keys).
	Central func(cfg *central.Config)
}

// agencyID is the agency e-ID Options gives commune, or "".
func (o Options) agencyID(commune string) string {
	if o.AgencyID == nil {
		return ""
	}
	return o.AgencyID(commune)
}

// Province is a running province.
type Province struct {
	opts  Options
	log   *slog.Logger
	ca    *pki.CA
	caPEM []byte
	// bootstrap is the members' bootstrap token; token and records are the
	// secrets of the operator's and the records officer's tokens it and
	// then the operator make (see makeOperatorTokens).
	bootstrap, token, records string
	members                   []*Member
	nodes                     []*Node
	conn                      *grpc.ClientConn
	api                       xasov1.CentralServiceClient
	// userHash is the demo password's hash, made once for every node.
	userHash string
}

// Member is one central member and its running state.
type Member struct {
	Config central.Config
	// URL is where the member serves its API (HTTPS, gRPC on the same port).
	URL    string
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
	// failed holds why the member stopped on its own (say, its address was
	// taken), so that waiting for a leader ends with that reason.
	failed atomic.Pointer[error]
}

// Node is one commune node and its running state.
type Node struct {
	Commune sample.Commune
	Config  node.Config
	Link    *linksim.Link
	// URL is where the node serves its API and pages (HTTPS: with the
	// certificate central signed at enrollment, which the province CA
	// verifies; before that, with a self-signed one).
	URL    string
	ln     net.Listener
	mu     sync.Mutex
	node   *node.Node
	cancel context.CancelFunc
	done   chan error
}

// Start builds the province in opts.Dir and starts it: the cluster first,
// then the registry, catalogue and calendar, then the nodes, which enroll
// on their own with the tokens it issues.
func Start(ctx context.Context, opts Options) (*Province, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.Communes) == 0 {
		opts.Communes = sample.SampleProvince().Communes[:5]
	}
	p := &Province{opts: opts, log: opts.Logger}
	if err := p.makePKI(); err != nil {
		return nil, err
	}
	if err := p.configureMembers(); err != nil {
		return nil, err
	}
	for i := range p.members {
		if err := p.StartMember(i); err != nil {
			p.Close()
			return nil, err
		}
	}
	if err := p.connect(); err != nil {
		p.Close()
		return nil, err
	}
	if err := p.seed(ctx); err != nil {
		p.Close()
		return nil, err
	}
	for i := range opts.Communes {
		if err := p.addNode(ctx, i); err != nil {
			p.Close()
			return nil, err
		}
		if err := p.StartNode(i); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

func (p *Province) pkiDir() string { return filepath.Join(p.opts.Dir, "pki") }

// makePKI makes the province CA, the members' bootstrap token and the
// secrets of the demo's operator and records tokens (or reads them back
// from an earlier run); central learns the secrets in makeOperatorTokens.
func (p *Province) makePKI() error {
	dir := p.pkiDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	certPEM, errC := os.ReadFile(filepath.Join(dir, "ca.crt"))
	keyPEM, errK := os.ReadFile(filepath.Join(dir, "ca.key"))
	if errC == nil && errK == nil {
		ca, err := pki.LoadCA(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("pki: %w", err)
		}
		p.ca = ca
	} else {
		ca, err := pki.NewCA("xaso demo province CA", time.Now())
		if err != nil {
			return err
		}
		key, err := ca.KeyPEM()
		if err != nil {
			return err
		}
		if err := writeFiles(dir, map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": key}); err != nil {
			return err
		}
		p.ca = ca
	}
	p.caPEM = p.ca.CertPEM
	// A directory of a run from before the bootstrap token was only the
	// first token's maker: its operator.token is the bootstrap token.
	if _, err := os.Stat(filepath.Join(dir, BootstrapTokenFile)); errors.Is(err, os.ErrNotExist) {
		if b, err := os.ReadFile(filepath.Join(dir, OperatorTokenFile)); err == nil && !central.ValidOperatorSecret(string(b)) {
			if err := os.Rename(filepath.Join(dir, OperatorTokenFile), filepath.Join(dir, BootstrapTokenFile)); err != nil {
				return fmt.Errorf("pki: %w", err)
			}
		}
	}
	var err error
	if p.bootstrap, err = secretFile(dir, BootstrapTokenFile, ""); err != nil {
		return err
	}
	if p.token, err = secretFile(dir, OperatorTokenFile, central.OperatorTokenPrefix); err != nil {
		return err
	}
	p.records, err = secretFile(dir, RecordsTokenFile, central.OperatorTokenPrefix)
	return err
}

// The token files in Dir/pki: the members' bootstrap token, and the demo's
// operator and records officer's tokens.
const (
	BootstrapTokenFile = "bootstrap.token"
	OperatorTokenFile  = "operator.token"
	RecordsTokenFile   = "records.token"
)

// secretFile reads the secret in dir/name, or makes one (prefix and 32
// random bytes) and writes it there first.
func secretFile(dir, name, prefix string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	secret, _, err := pki.NewSecret()
	if err != nil {
		return "", err
	}
	secret = prefix + secret
	return secret, writeFiles(dir, map[string][]byte{name: []byte(secret)})
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

// port returns the port at offset from the base, or a free one.
func (p *Province) port(offset int) (int, error) {
	if p.opts.PortBase > 0 {
		return p.opts.PortBase + offset, nil
	}
	return freeport.Pick()
}

func (p *Province) configureMembers() error {
	const n = 3
	raft := make([]string, n)
	var bootstrap []string
	for i := range n {
		port, err := p.port(3 + i)
		if err != nil {
			return err
		}
		raft[i] = fmt.Sprintf("127.0.0.1:%d", port)
		bootstrap = append(bootstrap, fmt.Sprintf("central-%d=%s", i+1, raft[i]))
	}
	for i := range n {
		id := fmt.Sprintf("central-%d", i+1)
		dir := filepath.Join(p.opts.Dir, id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		pair, err := p.ca.Issue(id, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, 365*24*time.Hour, time.Now())
		if err != nil {
			return err
		}
		if err := writeFiles(dir, map[string][]byte{"member.crt": pair.CertPEM, "member.key": pair.KeyPEM}); err != nil {
			return err
		}
		port, err := p.port(i)
		if err != nil {
			return err
		}
		cfg := central.DefaultConfig()
		cfg.ID, cfg.DataDir = id, filepath.Join(dir, "data")
		cfg.RaftListen = raft[i]
		cfg.APIListen = fmt.Sprintf("127.0.0.1:%d", port)
		cfg.Bootstrap = bootstrap
		cfg.CAFile, cfg.CAKeyFile = filepath.Join(p.pkiDir(), "ca.crt"), filepath.Join(p.pkiDir(), "ca.key")
		cfg.CertFile, cfg.KeyFile = filepath.Join(dir, "member.crt"), filepath.Join(dir, "member.key")
		cfg.BootstrapTokenFile = filepath.Join(p.pkiDir(), BootstrapTokenFile)
		if p.opts.Fast {
			cfg.HeartbeatTimeout, cfg.ElectionTimeout = 300*time.Millisecond, 300*time.Millisecond
			cfg.SnapshotThreshold, cfg.TrailingLogs = 256, 128
		}
		if p.opts.Central != nil {
			p.opts.Central(&cfg)
		}
		p.members = append(p.members, &Member{Config: cfg, URL: "https://" + cfg.APIListen})
	}
	return nil
}

// Members returns the central members.
func (p *Province) Members() []*Member { return p.members }

// Nodes returns the commune nodes.
func (p *Province) Nodes() []*Node { return p.nodes }

// StartMember starts (or restarts) the i-th member.
func (p *Province) StartMember(i int) error {
	m := p.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel != nil {
		return fmt.Errorf("member %s is running", m.Config.ID)
	}
	if err := m.Config.Validate(); err != nil {
		return fmt.Errorf("member %s: %w", m.Config.ID, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan error, 1)
	m.failed.Store(nil)
	go func() {
		err := central.Run(ctx, m.Config, p.log)
		if err != nil && ctx.Err() == nil {
			failed := fmt.Errorf("member %s stopped: %w", m.Config.ID, err)
			m.failed.Store(&failed)
		}
		m.done <- err
	}()
	return nil
}

// memberFailure is why a member stopped on its own, if one did.
func (p *Province) memberFailure() error {
	for _, m := range p.members {
		if err := m.failed.Load(); err != nil {
			return *err
		}
	}
	return nil
}

// StopMember stops the i-th member and waits until it has closed.
func (p *Province) StopMember(i int) error {
	m := p.members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	err := <-m.done
	m.cancel = nil
	return err
}

// connect opens the operator's connection to the cluster (any member).
func (p *Province) connect() error {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	var addrs []string
	for _, m := range p.members {
		addrs = append(addrs, m.Config.APIListen)
	}
	tc := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13, VerifyConnection: pki.MembersOnly}
	conn, err := grpc.NewClient("passthrough:///"+addrs[0], grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		return err
	}
	p.conn, p.api = conn, xasov1.NewCentralServiceClient(conn)
	return nil
}

// Central is the operators' API on the first member; calls need
// Operator(ctx).
func (p *Province) Central() xasov1.CentralServiceClient { return p.api }

// Operator returns ctx carrying the operator's token (writes and
// administration; no personal data).
func (p *Province) Operator(ctx context.Context) context.Context { return withToken(ctx, p.token) }

// Records returns ctx carrying the records officer's token (dossiers with
// personal data, their files, and what a viewer reads).
func (p *Province) Records(ctx context.Context) context.Context { return withToken(ctx, p.records) }

func withToken(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}

// OperatorToken is the operator's token (its file is Dir/pki/operator.token).
func (p *Province) OperatorToken() string { return p.token }

// RecordsToken is the records officer's token (Dir/pki/records.token).
func (p *Province) RecordsToken() string { return p.records }

// CAFile is the province CA certificate's path.
func (p *Province) CAFile() string { return filepath.Join(p.pkiDir(), "ca.crt") }

// WaitLeader waits until the cluster has a leader that recorded its
// address; it gives up early when a member stopped on its own.
func (p *Province) WaitLeader(ctx context.Context) (string, error) {
	for {
		if err := p.memberFailure(); err != nil {
			return "", err
		}
		c, err := p.api.GetCluster(p.Operator(ctx), &xasov1.GetClusterRequest{})
		if status.Code(err) == codes.Unauthenticated {
			// A first run: the operator's token is not made yet.
			c, err = p.api.GetCluster(withToken(ctx, p.bootstrap), &xasov1.GetClusterRequest{})
		}
		if err == nil && c.GetLeaderId() != "" {
			for _, m := range c.GetMembers() {
				if m.GetLeader() && m.GetApiAddress() != "" {
					return c.GetLeaderId(), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no leader: %v (last answer: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// seed registers the communes, the sample catalogue and the calendar,
// unless an earlier run did.
func (p *Province) seed(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := p.WaitLeader(wctx); err != nil {
		return err
	}
	if err := p.makeOperatorTokens(wctx); err != nil {
		return err
	}
	op := p.Operator(wctx)
	// The sample communes come with their unit history (issue 19).
	history, err := central.CommunesFromUnitsTSV(sample.ProvinceTSV())
	if err != nil {
		return fmt.Errorf("the sample's unit history: %w", err)
	}
	versions := map[string][]*xasov1.UnitVersion{}
	for _, h := range history {
		versions[h.GetCode()] = h.GetUnitVersions()
	}
	for _, c := range p.opts.Communes {
		if _, err := retry(wctx, func() (any, error) {
			return p.api.PutCommune(op, &xasov1.PutCommuneRequest{Commune: &xasov1.Commune{Code: c.Code, Name: c.Name, AgencyId: p.opts.agencyID(c.Code), UnitVersions: versions[c.Code]}})
		}); err != nil {
			return fmt.Errorf("register commune %s: %w", c.Code, err)
		}
	}
	for _, proc := range sample.Procedures() {
		_, err := retry(wctx, func() (any, error) {
			return p.api.CreateCatalogProcedure(op, &xasov1.CreateCatalogProcedureRequest{Procedure: proc})
		})
		if err != nil && status.Code(err) != codes.InvalidArgument { // InvalidArgument: it exists already
			return fmt.Errorf("catalogue %s: %w", proc.GetCode(), err)
		}
	}
	if _, err := p.api.GetCalendar(op, &xasov1.GetCalendarRequest{}); status.Code(err) == codes.NotFound {
		if _, err := retry(wctx, func() (any, error) {
			return p.api.UpdateCalendar(op, &xasov1.UpdateCalendarRequest{CalendarJson: string(sample.CalendarJSON())})
		}); err != nil {
			return fmt.Errorf("calendar: %w", err)
		}
	}
	return nil
}

// makeOperatorTokens makes the operator's token with the bootstrap token, and the
// records officer's with the operator's, unless an earlier run did. Their
// secrets are in Dir/pki before central is asked, so an answer lost on
// the way loses nothing: the next attempt finds the token made.
func (p *Province) makeOperatorTokens(ctx context.Context) error {
	for _, t := range []struct {
		name, secret, with string
		role               xasov1.OperatorRole
	}{
		{"demo-operator", p.token, p.bootstrap, xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR},
		{"demo-records", p.records, p.token, xasov1.OperatorRole_OPERATOR_ROLE_RECORDS},
	} {
		for {
			_, err := p.api.GetCluster(withToken(ctx, t.secret), &xasov1.GetClusterRequest{})
			if err == nil {
				break
			}
			if status.Code(err) == codes.Unauthenticated {
				_, err = p.api.CreateOperatorToken(withToken(ctx, t.with), &xasov1.CreateOperatorTokenRequest{
					Name: t.name, Role: t.role, Secret: t.secret, TtlSeconds: int64(central.MaxOperatorTokenTTL / time.Second)})
				if err == nil {
					break
				}
			}
			// Unavailable (an election), or the token made and not yet
			// seen by the member asked: again, until ctx ends.
			select {
			case <-ctx.Done():
				return fmt.Errorf("make the %s token: %v (last answer: %v)", t.name, ctx.Err(), err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// retry repeats a call refused as Unavailable (an election) until ctx ends.
func retry(ctx context.Context, call func() (any, error)) (any, error) {
	for {
		r, err := call()
		if status.Code(err) != codes.Unavailable {
			return r, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// addNode configures the i-th commune's node and, on its first run,
// issues its enrollment token.
func (p *Province) addNode(ctx context.Context, i int) error {
	c := p.opts.Communes[i]
	dir := filepath.Join(p.opts.Dir, "node-"+c.Code)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tokenFile := filepath.Join(dir, "enroll.token")
	if _, err := os.Stat(filepath.Join(dir, "data")); errors.Is(err, os.ErrNotExist) {
		resp, err := p.api.CreateEnrollmentToken(p.Operator(ctx), &xasov1.CreateEnrollmentTokenRequest{CommuneCode: c.Code})
		if err != nil {
			return fmt.Errorf("enrollment token for %s: %w", c.Code, err)
		}
		if err := writeFiles(dir, map[string][]byte{"enroll.token": []byte(resp.GetToken())}); err != nil {
			return err
		}
	}
	port, err := p.port(10 + i)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("node %s: listen: %w", c.Code, err)
	}
	cfg := node.DefaultConfig()
	cfg.Commune, cfg.DataDir, cfg.Listen = c.Code, filepath.Join(dir, "data"), ln.Addr().String()
	cfg.EnrollmentTokenFile = tokenFile
	// On loopback only: its certificate names loopback, all central signs
	// without node_certificate_names.
	cfg.Names = []string{"localhost"}
	cfg.CommuneName = c.Name
	cfg.AgencyID = p.opts.agencyID(c.Code)
	if cfg.UsersFile, err = p.deskUsers(dir); err != nil {
		return err
	}
	if cfg.TokensFile, err = p.nodeTokens(dir); err != nil {
		return err
	}
	for _, m := range p.members {
		cfg.Central = append(cfg.Central, m.Config.APIListen)
	}
	// Each node starts with a different member, as a province's nodes would.
	k := i % len(cfg.Central)
	cfg.Central = append(cfg.Central[k:], cfg.Central[:k]...)
	if p.opts.Fast {
		cfg.SyncHeartbeat, cfg.SyncKeepalive = time.Second, time.Second
	}
	var link *linksim.Link
	if p.opts.Link != nil {
		link = p.opts.Link(i)
	}
	if link != nil {
		cfg.SyncDial = link.Dial
	}
	if p.opts.Node != nil {
		p.opts.Node(c, &cfg)
	}
	p.nodes = append(p.nodes, &Node{Commune: c, Config: cfg, Link: link, URL: "https://" + ln.Addr().String(), ln: ln})
	return nil
}

// DemoPassword is the password of the demo's desk users (DemoUsers); a
// demo on a shared machine is not a place for real dossiers.
const DemoPassword = "xaso-demo"

// DemoUsers are the desk users of every demo node: a clerk, an officer
// and a leader, by sign-in name.
var DemoUsers = [][2]string{{"motcua", "clerk"}, {"chuyenvien", "officer"}, {"lanhdao", "leader"}}

// deskUsers writes the node's users file once, with DemoUsers.
func (p *Province) deskUsers(dir string) (string, error) {
	path := filepath.Join(dir, "users.yaml")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if p.userHash == "" {
		h, err := node.HashPassword(DemoPassword)
		if err != nil {
			return "", err
		}
		p.userHash = h
	}
	names := map[string]string{"clerk": "Cán bộ một cửa", "officer": "Chuyên viên", "leader": "Lãnh đạo"}
	var b strings.Builder
	for _, u := range DemoUsers {
		fmt.Fprintf(&b, "- name: %s\n  full_name: %s (demo)\n  role: %s\n  password_hash: %s\n", u[0], names[u[1]], u[1], p.userHash)
	}
	return path, writeFiles(dir, map[string][]byte{"users.yaml": []byte(b.String())})
}

// APITokenFile is the file holding the node API token of the demo desk
// user name (DemoUsers): the same token works at every demo node, with
// that user's name and role.
func (p *Province) APITokenFile(name string) string {
	return filepath.Join(p.pkiDir(), "node-api-"+name+".token")
}

// nodeTokens writes the node's tokens file once: a token for each of
// DemoUsers, whose secrets (made on the demo's first run) lie in Dir/pki.
func (p *Province) nodeTokens(dir string) (string, error) {
	path := filepath.Join(dir, "node-tokens.yaml")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	var list []node.Token
	for _, u := range DemoUsers {
		tok, secret, err := node.NewToken(u[0], u[1], node.MaxTokenTTL, time.Now())
		if err != nil {
			return "", err
		}
		if data, err := os.ReadFile(p.APITokenFile(u[0])); err == nil {
			secret = strings.TrimSpace(string(data))
			tok.SHA256 = node.TokenSum(secret)
		} else if err := writeFiles(p.pkiDir(), map[string][]byte{filepath.Base(p.APITokenFile(u[0])): []byte(secret)}); err != nil {
			return "", err
		}
		list = append(list, tok)
	}
	data, err := node.MarshalTokens(list)
	if err != nil {
		return "", err
	}
	return path, writeFiles(dir, map[string][]byte{"node-tokens.yaml": data})
}

// StartNode starts (or restarts) the i-th node.
func (p *Province) StartNode(i int) error {
	n := p.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel != nil {
		return fmt.Errorf("node %s is running", n.Commune.Code)
	}
	log := p.log.With("commune", n.Commune.Code)
	if n.ln == nil {
		ln, err := net.Listen("tcp", n.Config.Listen)
		if err != nil {
			return fmt.Errorf("node %s: listen: %w", n.Commune.Code, err)
		}
		n.ln = ln
	}
	nd, err := node.Open(context.Background(), n.Config, log, time.Now)
	if err != nil {
		n.ln.Close()
		n.ln = nil
		return fmt.Errorf("node %s: %w", n.Commune.Code, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.node, n.cancel, n.done = nd, cancel, make(chan error, 1)
	ln := n.ln
	n.ln = nil
	go func() {
		err := nd.Serve(ctx, ln)
		nd.Close()
		n.done <- err
	}()
	return nil
}

// StopNode stops the i-th node and waits until its store is closed.
func (p *Province) StopNode(i int) error {
	n := p.nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cancel == nil {
		return nil
	}
	n.cancel()
	err := <-n.done
	n.cancel, n.node = nil, nil
	return err
}

// WaitEnrolled waits until every running node has enrolled and serves
// the certificate central signed for it, or ctx ends.
func (p *Province) WaitEnrolled(ctx context.Context) error {
	for _, n := range p.nodes {
		for {
			nd := n.Node()
			if nd == nil || nd.TLSSource() == "enrollment" {
				break
			}
			select {
			case <-ctx.Done():
				st, _ := nd.SyncStatus()
				return fmt.Errorf("node %s has not enrolled: %w (last error: %s)", n.Commune.Code, ctx.Err(), st.LastError)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// Node returns the running node of the i-th commune (nil when stopped).
func (n *Node) Node() *node.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.node
}

// Close stops every node and member.
func (p *Province) Close() error {
	var errs []error
	for i := range p.nodes {
		errs = append(errs, p.StopNode(i))
		if p.nodes[i].ln != nil {
			p.nodes[i].ln.Close()
		}
	}
	if p.conn != nil {
		p.conn.Close()
	}
	for i := range p.members {
		errs = append(errs, p.StopMember(i))
	}
	return errors.Join(errs...)
}
