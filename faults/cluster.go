package faults

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// Options shape a province in containers.
type Options struct {
	// Dir holds the configuration and PKI mounted into the containers.
	Dir string
	// Binary is a static xaso binary (CGO_ENABLED=0).
	Binary string
	// LinkProxy is a static build of ./linkproxy, each commune's uplink.
	LinkProxy string
	// Run names this run's containers, networks and image (letters, digits, -).
	Run string
	// Communes run a node each.
	Communes []sample.Commune
	Logger   *slog.Logger
}

// Cluster is a province in containers. The central members are on the
// "wan" network. Each node reaches them over an uplink of its own: a
// network ("up-CODE", which a cut disconnects it from) to a link proxy
// that answers there for central-1, central-2 and central-3 and forwards
// over the wan with the delay, cap and loss it is told (the kernel has no
// netem). The nodes are also on the "lan" network, where the simulated
// clerks reach them whatever happens to their uplink.
type Cluster struct {
	opts     Options
	image    string
	wan, lan string
	ca       *pki.CA
	// bootstrap is the members' bootstrap token; token and records are the
	// secrets of the operator's token (made with it) and the records
	// officer's (made with the operator's): see makeOperatorTokens.
	bootstrap, token, records string
	members                   []string // container names; their hostnames are central-1 …
	nodes                     []string // container names, one per commune
	links                     []string // the nodes' link proxies' container names
	ups                       []string // the nodes' uplink networks

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // operator connections, by member address

	// tokens are the simulated officials' node API tokens, valid at every
	// node (its tokens file lists them).
	tokens workload.Tokens
}

// Start builds the image, the networks and the PKI, starts the members,
// registers the communes, catalogue and calendar, issues the enrollment
// tokens and starts the nodes.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{opts: opts, image: "xaso-faults:" + opts.Run, wan: opts.Run + "-wan", lan: opts.Run + "-lan"}
	if err := c.build(ctx); err != nil {
		return nil, err
	}
	for _, n := range []string{c.wan, c.lan} {
		if _, err := docker(ctx, "network", "create", "--internal", n); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	if err := c.makePKI(); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	if err := c.makeTokens(); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	for i := range 3 {
		if err := c.startMember(ctx, i); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	if err := c.makeOperatorTokens(ctx); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	if err := c.seed(ctx); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	for i := range opts.Communes {
		if err := c.startNode(ctx, i); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	for i := range opts.Communes {
		if err := c.waitEnrolled(ctx, i); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	return c, nil
}

// nodeName is the host name of the i-th node, which its certificate names.
func (c *Cluster) nodeName(i int) string { return "node-" + c.opts.Communes[i].Code }

// nodeTLS is how the clerks trust the i-th node: by the certificate
// central signed for its name at enrollment.
func (c *Cluster) nodeTLS(i int) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(c.ca.Cert)
	return &tls.Config{RootCAs: roots, ServerName: c.nodeName(i), MinVersion: tls.VersionTLS12}
}

// waitEnrolled waits until the i-th node serves the certificate central
// signed for it (before that it serves a self-signed one).
func (c *Cluster) waitEnrolled(ctx context.Context, i int) error {
	var last error
	for {
		ip, err := containerIP(ctx, c.nodes[i], c.lan)
		if err == nil && ip != "" {
			d := tls.Dialer{Config: c.nodeTLS(i)}
			dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			var conn net.Conn
			if conn, err = d.DialContext(dctx, "tcp", net.JoinHostPort(ip, "8080")); err == nil {
				conn.Close()
			}
			cancel()
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s does not serve the certificate central signs at enrollment: %v", c.nodes[i], last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) build(ctx context.Context) error {
	dir := filepath.Join(c.opts.Dir, "image")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, path := range map[string]string{"xaso": c.opts.Binary, "linkproxy": c.opts.LinkProxy} {
		bin, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("binary %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), bin, 0o755); err != nil {
			return err
		}
	}
	dockerfile := "FROM scratch\nCOPY xaso /xaso\nCOPY linkproxy /linkproxy\nENTRYPOINT [\"/xaso\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	_, err := docker(ctx, "build", "-q", "-t", c.image, dir)
	return err
}

func (c *Cluster) confDir() string { return filepath.Join(c.opts.Dir, "etc") }

func (c *Cluster) makePKI() error {
	dir := c.confDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ca, err := pki.NewCA("xaso fault suite CA", time.Now())
	if err != nil {
		return err
	}
	key, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	c.ca = ca
	for _, s := range []*string{&c.bootstrap, &c.token, &c.records} {
		secret, _, err := pki.NewSecret()
		if err != nil {
			return err
		}
		*s = central.OperatorTokenPrefix + secret
	}
	files := map[string][]byte{"ca.crt": ca.CertPEM, "ca.key": key, "bootstrap.token": []byte(c.bootstrap)}
	for i := range 3 {
		id := fmt.Sprintf("central-%d", i+1)
		pair, err := ca.Issue(id, []string{id}, nil, 30*24*time.Hour, time.Now())
		if err != nil {
			return err
		}
		files[id+".crt"], files[id+".key"] = pair.CertPEM, pair.KeyPEM
	}
	for name, data := range files {
		// Read by the containers' processes, which run as root in them.
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startMember(ctx context.Context, i int) error {
	id := fmt.Sprintf("central-%d", i+1)
	var boot []string
	for k := range 3 {
		boot = append(boot, fmt.Sprintf("central-%d=central-%d:7000", k+1, k+1))
	}
	// The nodes' certificates name their hosts, by which the clerks reach them.
	var nodeNames []string
	for k := range c.opts.Communes {
		nodeNames = append(nodeNames, c.nodeName(k))
	}
	cfg := fmt.Sprintf(`id: %s
data_dir: /data
raft_listen: ":7000"
raft_advertise: %s:7000
api_listen: ":8443"
api_advertise: %s:8443
bootstrap: [%s]
ca_file: /etc/xaso/ca.crt
ca_key_file: /etc/xaso/ca.key
cert_file: /etc/xaso/%s.crt
key_file: /etc/xaso/%s.key
bootstrap_token_file: /etc/xaso/bootstrap.token
heartbeat_timeout: 500ms
election_timeout: 500ms
log_level: info
node_certificate_names: [%s]
`, id, id, id, strings.Join(boot, ", "), id, id, strings.Join(nodeNames, ", "))
	if err := os.WriteFile(filepath.Join(c.confDir(), id+".yaml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	name := c.opts.Run + "-" + id
	_, err := docker(ctx, "run", "-d", "--name", name, "--hostname", id, "--network", c.wan, "--network-alias", id,
		"-v", c.confDir()+":/etc/xaso:ro", c.image, "central", "--config", "/etc/xaso/"+id+".yaml")
	if err != nil {
		return err
	}
	c.members = append(c.members, name)
	return nil
}

func (c *Cluster) startNode(ctx context.Context, i int) error {
	cm := c.opts.Communes[i]
	id := "node-" + cm.Code
	cfg := fmt.Sprintf(`listen: ":8080"
data_dir: /data
commune: "%s"
node_id: %s
central: [central-1:8443, central-2:8444, central-3:8445]
enrollment_token_file: /etc/xaso/%s.token
names: [%s]
tokens_file: /etc/xaso/node-tokens.yaml
sync_heartbeat: 2s
sync_keepalive: 2s
log_level: info
`, cm.Code, id, id, id)
	if err := os.WriteFile(filepath.Join(c.confDir(), id+".yaml"), []byte(cfg), 0o644); err != nil {
		return err
	}
	resp, err := retry(ctx, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.CreateEnrollmentTokenResponse, error) {
		return api.CreateEnrollmentToken(ctx, &xasov1.CreateEnrollmentTokenRequest{CommuneCode: cm.Code})
	}, c)
	if err != nil {
		return fmt.Errorf("enrollment token for %s: %w", cm.Code, err)
	}
	if err := os.WriteFile(filepath.Join(c.confDir(), id+".token"), []byte(resp.GetToken()), 0o644); err != nil {
		return err
	}
	up, link := c.opts.Run+"-up-"+cm.Code, c.opts.Run+"-link-"+cm.Code
	if _, err := docker(ctx, "network", "create", "--internal", up); err != nil {
		return err
	}
	c.ups = append(c.ups, up)
	// The proxy reaches the members by container name on the wan and
	// answers for their hostnames on the uplink, a port each.
	args := []string{"run", "-d", "--name", link, "--network", c.wan, "--entrypoint", "/linkproxy", c.image, "-control", ":9999"}
	for k, m := range []string{"central-1", "central-2", "central-3"} {
		args = append(args, "-route", fmt.Sprintf(":%d=%s-%s:8443", 8443+k, c.opts.Run, m))
	}
	if _, err := docker(ctx, args...); err != nil {
		return err
	}
	c.links = append(c.links, link)
	if _, err := docker(ctx, "network", "connect", "--alias", "central-1", "--alias", "central-2", "--alias", "central-3", up, link); err != nil {
		return err
	}
	name := c.opts.Run + "-" + id
	if _, err := docker(ctx, "run", "-d", "--name", name, "--hostname", id, "--network", up,
		"-v", c.confDir()+":/etc/xaso:ro", c.image, "node", "--config", "/etc/xaso/"+id+".yaml"); err != nil {
		return err
	}
	if _, err := docker(ctx, "network", "connect", c.lan, name); err != nil {
		return err
	}
	c.nodes = append(c.nodes, name)
	return nil
}

// Members returns the members' container names (central-1 first).
func (c *Cluster) Members() []string { return c.members }

// Nodes returns the nodes' container names, in the order of the communes.
func (c *Cluster) Nodes() []string { return c.nodes }

// Links returns the nodes' link proxies' container names, in the order of
// the nodes.
func (c *Cluster) Links() []string { return c.links }

// Communes returns the communes, in the order of the nodes.
func (c *Cluster) Communes() []sample.Commune { return c.opts.Communes }

// Close removes the containers and the networks.
func (c *Cluster) Close(ctx context.Context) error {
	var errs []error
	for _, n := range append(append(append([]string{}, c.nodes...), c.links...), c.members...) {
		if _, err := docker(ctx, "rm", "-f", n); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range append([]string{c.wan, c.lan}, c.ups...) {
		docker(ctx, "network", "rm", n) // absent when Start failed early
	}
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.mu.Unlock()
	docker(ctx, "image", "rm", c.image)
	return errors.Join(errs...)
}

// central returns a client of a member's API as the operator; connections
// are kept by address (a restarted member may come back at another).
func (c *Cluster) central(ctx context.Context, i int) (xasov1.CentralServiceClient, func(), error) {
	ip, err := containerIP(ctx, c.members[i], c.wan)
	if err != nil || ip == "" {
		return nil, nil, fmt.Errorf("%s has no address: %v", c.members[i], err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conns[ip]; ok {
		return xasov1.NewCentralServiceClient(conn), func() {}, nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.ca.Cert)
	tc := &tls.Config{RootCAs: roots, ServerName: fmt.Sprintf("central-%d", i+1), MinVersion: tls.VersionTLS13}
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(ip, "8443"), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		return nil, nil, err
	}
	if c.conns == nil {
		c.conns = map[string]*grpc.ClientConn{}
	}
	c.conns[ip] = conn
	return xasov1.NewCentralServiceClient(conn), func() {}, nil
}

// retry calls the operator API as the operator on each member in turn
// until one answers with something other than Unavailable (or ctx ends).
func retry[T any](ctx context.Context, call func(context.Context, xasov1.CentralServiceClient) (T, error), c *Cluster) (T, error) {
	return retryAs(ctx, c.token, call, c)
}

// retryAs is retry with the token secret.
func retryAs[T any](ctx context.Context, secret string, call func(context.Context, xasov1.CentralServiceClient) (T, error), c *Cluster) (T, error) {
	var zero T
	var last error
	for k := 0; ; k++ {
		api, closeConn, err := c.central(ctx, k%len(c.members))
		if err == nil {
			cctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret), 5*time.Second)
			var r T
			r, err = call(cctx, api)
			cancel()
			closeConn()
			if err == nil || (status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded) {
				return r, err
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("no member answered: %w", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// makeOperatorTokens makes the operator's token with the bootstrap token, and the
// records officer's with the operator's. Their secrets are made here, so
// that an answer lost on the way (retried) loses nothing: a token whose
// secret works is made.
func (c *Cluster) makeOperatorTokens(ctx context.Context) error {
	for _, t := range []struct {
		name, secret, with string
		role               xasov1.OperatorRole
	}{
		{"faults-operator", c.token, c.bootstrap, xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR},
		{"faults-records", c.records, c.token, xasov1.OperatorRole_OPERATOR_ROLE_RECORDS},
	} {
		_, err := retryAs(ctx, t.with, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.CreateOperatorTokenResponse, error) {
			return api.CreateOperatorToken(ctx, &xasov1.CreateOperatorTokenRequest{Name: t.name, Role: t.role, Secret: t.secret,
				TtlSeconds: int64(central.MaxOperatorTokenTTL / time.Second)})
		}, c)
		if err != nil {
			if _, werr := retryAs(ctx, t.secret, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.GetClusterResponse, error) {
				return api.GetCluster(ctx, &xasov1.GetClusterRequest{})
			}, c); werr != nil {
				return fmt.Errorf("make the %s token: %w (and it does not work: %v)", t.name, err, werr)
			}
		}
	}
	return nil
}

// seed registers the communes, the sample catalogue and calendar.
func (c *Cluster) seed(ctx context.Context) error {
	for _, cm := range c.opts.Communes {
		if _, err := retry(ctx, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.PutCommuneResponse, error) {
			return api.PutCommune(ctx, &xasov1.PutCommuneRequest{Commune: &xasov1.Commune{Code: cm.Code, Name: cm.Name}})
		}, c); err != nil {
			return fmt.Errorf("register %s: %w", cm.Code, err)
		}
	}
	for _, p := range sample.Procedures() {
		if _, err := retry(ctx, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.CreateCatalogProcedureResponse, error) {
			return api.CreateCatalogProcedure(ctx, &xasov1.CreateCatalogProcedureRequest{Procedure: p})
		}, c); err != nil && status.Code(err) != codes.InvalidArgument {
			return fmt.Errorf("catalogue %s: %w", p.GetCode(), err)
		}
	}
	_, err := retry(ctx, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.UpdateCalendarResponse, error) {
		return api.UpdateCalendar(ctx, &xasov1.UpdateCalendarRequest{CalendarJson: string(sample.CalendarJSON())})
	}, c)
	return err
}

// makeTokens writes the nodes' tokens file: a token for each simulated
// official, by name and role.
func (c *Cluster) makeTokens() error {
	c.tokens = workload.Tokens{}
	var list []node.Token
	for _, o := range workload.Officials() {
		tok, secret, err := node.NewToken(o.Name, strings.ToLower(strings.TrimPrefix(o.Role.String(), "ROLE_")), 24*time.Hour, time.Now())
		if err != nil {
			return err
		}
		list = append(list, tok)
		c.tokens[o.Name] = secret
	}
	data, err := node.MarshalTokens(list)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.confDir(), "node-tokens.yaml"), data, 0o644)
}

// NodeAPI dials a node on the lan, where the clerks reach it. Each call
// carries the token of the official the workload acts as, or the
// leader's.
func (c *Cluster) NodeAPI(ctx context.Context, i int) (xasov1.NodeServiceClient, func(), error) {
	ip, err := containerIP(ctx, c.nodes[i], c.lan)
	if err != nil || ip == "" {
		return nil, nil, fmt.Errorf("%s has no lan address: %v", c.nodes[i], err)
	}
	// Over TLS, by the node's name (its certificate's, and one it answers
	// to), whatever its address on the lan.
	conn, err := grpc.NewClient("passthrough:///"+net.JoinHostPort(ip, "8080"), grpc.WithTransportCredentials(credentials.NewTLS(c.nodeTLS(i))),
		grpc.WithAuthority(c.nodeName(i)),
		grpc.WithUnaryInterceptor(c.tokens.Interceptor(workload.Leader)))
	if err != nil {
		return nil, nil, err
	}
	return xasov1.NewNodeServiceClient(conn), func() { conn.Close() }, nil
}

// Cut disconnects the i-th node from its uplink: its commune loses central.
func (c *Cluster) Cut(ctx context.Context, i int) error {
	_, err := docker(ctx, "network", "disconnect", c.ups[i], c.nodes[i])
	return err
}

// Heal reconnects the i-th node to its uplink and makes its link proxy
// carry traffic as it did at the start: no delay, cap, loss or spell.
func (c *Cluster) Heal(ctx context.Context, i int) error {
	_, err := docker(ctx, "network", "connect", c.ups[i], c.nodes[i])
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	if err := c.link(ctx, i, "POST", "/heal"); err != nil {
		return err
	}
	return c.link(ctx, i, "PUT", "/profile")
}

// Degrade gives the i-th node's uplink a one-way delay and a loss share
// (0 to 1) through its link proxy; Heal ends it.
func (c *Cluster) Degrade(ctx context.Context, i int, delay time.Duration, loss float64) error {
	return c.link(ctx, i, "PUT", fmt.Sprintf("/profile?delay=%s&loss=%g", delay, loss))
}

// HalfOpen stops every byte on the i-th node's uplink without closing
// anything, as a dead NAT does; Heal resets the stalled connections.
func (c *Cluster) HalfOpen(ctx context.Context, i int) error {
	return c.link(ctx, i, "POST", "/half-open")
}

// link calls the control API of the i-th node's link proxy on the wan.
func (c *Cluster) link(ctx context.Context, i int, method, path string) error {
	ip, err := containerIP(ctx, c.links[i], c.wan)
	if err != nil || ip == "" {
		return fmt.Errorf("%s has no wan address: %v", c.links[i], err)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+net.JoinHostPort(ip, "9999")+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("link proxy %s: %w", c.links[i], err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("link proxy %s %s %s: %s: %s", c.links[i], method, path, resp.Status, body)
	}
	return nil
}

// Kill sends SIGKILL to a container; Start starts it again.
func (c *Cluster) Kill(ctx context.Context, name string) error {
	_, err := docker(ctx, "kill", "-s", "KILL", name)
	return err
}

// Start starts a stopped container again.
func (c *Cluster) Start(ctx context.Context, name string) error {
	_, err := docker(ctx, "start", name)
	return err
}

// Leader returns the index of the member that leads now.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	r, err := retry(ctx, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.GetClusterResponse, error) {
		r, err := api.GetCluster(ctx, &xasov1.GetClusterRequest{})
		if err == nil && r.GetLeaderId() == "" {
			return nil, status.Error(codes.Unavailable, "no leader yet")
		}
		return r, err
	}, c)
	if err != nil {
		return 0, err
	}
	var i int
	if _, err := fmt.Sscanf(r.GetLeaderId(), "central-%d", &i); err != nil {
		return 0, fmt.Errorf("leader %q: %w", r.GetLeaderId(), err)
	}
	return i - 1, nil
}

// Central reads through the operator API on any member that answers, as
// the records officer (dossiers, and what a viewer reads).
func Central[T any](ctx context.Context, c *Cluster, call func(context.Context, xasov1.CentralServiceClient) (T, error)) (T, error) {
	return retryAs(ctx, c.records, call, c)
}

// Logs returns a container's log (xaso logs to stderr).
func (c *Cluster) Logs(ctx context.Context, name string) []byte {
	out, _ := exec.CommandContext(ctx, "docker", "logs", name).CombinedOutput()
	return out
}

// Isolate disconnects a member from the wan: it can reach no one, and no
// one it (the leader alone on its side of a partition).
func (c *Cluster) Isolate(ctx context.Context, name string) error {
	_, err := docker(ctx, "network", "disconnect", c.wan, name)
	return err
}

// Rejoin reconnects an isolated member, under its hostname.
func (c *Cluster) Rejoin(ctx context.Context, name string) error {
	alias := strings.TrimPrefix(name, c.opts.Run+"-")
	_, err := docker(ctx, "network", "connect", "--alias", alias, c.wan, name)
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// RestartAll restarts every container at once, members and nodes.
func (c *Cluster) RestartAll(ctx context.Context) error {
	args := append([]string{"restart", "-t", "2"}, c.members...)
	_, err := docker(ctx, append(args, c.nodes...)...)
	return err
}

// Throttle caps the i-th node's uplink interface at rate (tc's tbf, e.g.
// "256kbit") from the host, inside the container's network namespace (the
// image has no tc of its own); an empty rate removes the cap.
func (c *Cluster) Throttle(ctx context.Context, i int, rate string) error {
	pid, err := docker(ctx, "inspect", "-f", "{{.State.Pid}}", c.nodes[i])
	if err != nil {
		return err
	}
	ip, err := containerIP(ctx, c.nodes[i], c.ups[i])
	if err != nil || ip == "" {
		return fmt.Errorf("%s has no uplink address: %v", c.nodes[i], err)
	}
	ns := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "nsenter", append([]string{"-t", pid, "-n"}, args...)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("nsenter %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	// The uplink interface is the one holding the uplink address.
	addrs, err := ns("ip", "-o", "-4", "addr", "show")
	if err != nil {
		return err
	}
	dev := ""
	for _, line := range strings.Split(addrs, "\n") {
		if f := strings.Fields(line); len(f) > 3 && strings.HasPrefix(f[3], ip+"/") {
			dev = f[1]
		}
	}
	if dev == "" {
		return fmt.Errorf("%s: no interface holds %s", c.nodes[i], ip)
	}
	if rate == "" {
		_, err = ns("tc", "qdisc", "del", "dev", dev, "root")
		if err != nil && strings.Contains(err.Error(), "No such file") {
			return nil
		}
		return err
	}
	_, err = ns("tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms")
	return err
}
