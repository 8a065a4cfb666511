package central

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/xaso/xaso/configfile"
	"github.com/xaso/xaso/pki"
)

// Config is one central member's configuration (`xaso central --config`).
// The YAML keys are also the command's flags (with - for _).
type Config struct {
	// ID is the member's Raft ID; its certificate's common name must be the same.
	ID      string `yaml:"id"`
	DataDir string `yaml:"data_dir"`
	// StateKeyFile holds the AES key (16, 24 or 32 bytes, raw or hex) that
	// encrypts the member's state at rest (default: {data_dir}.key, beside
	// the data directory). A new state gets a new key there when the file
	// does not exist; the file must be readable by its owner only.
	StateKeyFile string `yaml:"state_key_file"`
	// RaftListen is where the Raft transport listens; RaftAdvertise where
	// the other members reach it (default: RaftListen).
	RaftListen    string `yaml:"raft_listen"`
	RaftAdvertise string `yaml:"raft_advertise"`
	// APIListen serves gRPC, REST and metrics over TLS; APIAdvertise is
	// where the other members reach it (default: APIListen).
	APIListen    string `yaml:"api_listen"`
	APIAdvertise string `yaml:"api_advertise"`
	// Bootstrap lists the voters of a new cluster as id=host:port (Raft
	// addresses). Used only when this member has no Raft state yet; a
	// member that joins an existing cluster leaves it empty.
	Bootstrap []string `yaml:"bootstrap"`
	// CAFile, CertFile and KeyFile are the province CA's certificate and
	// this member's certificate and key (PEM).
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAKeyFile is the CA's private key (PEM), with which this member signs
	// the certificates of enrolling nodes. Optional: a member without it
	// refuses enrollment, and nodes enroll at a member that has it.
	CAKeyFile string `yaml:"ca_key_file"`
	// NodeCertificateTTL is how long a node certificate signed at
	// enrollment is valid.
	NodeCertificateTTL time.Duration `yaml:"node_certificate_ttl"`
	// NodeCertificateNames are the names a node certificate signed at
	// enrollment may carry, for the node to serve its API with: DNS
	// domains (a name and every name under it) and IP networks (CIDR).
	// Loopback names are always signed; central's own (the members' ids,
	// their certificates' and advertised names and addresses) never.
	// Empty: loopback only, and nodes serve clients on the network with
	// the files of their tls_cert_file, or with their own self-signed
	// certificate.
	NodeCertificateNames []string `yaml:"node_certificate_names"`
	// BootstrapTokenFile holds the bootstrap token: it may see the cluster
	// and make the first operator token, an operator's, and is refused
	// once any operator token was made (see AccessFirstToken).
	BootstrapTokenFile string `yaml:"bootstrap_token_file"`
	// Raft timing.
	HeartbeatTimeout time.Duration `yaml:"heartbeat_timeout"`
	ElectionTimeout  time.Duration `yaml:"election_timeout"`
	// SnapshotThreshold is how many new entries trigger a snapshot;
	// TrailingLogs how many stay after one (for followers slightly behind).
	SnapshotThreshold uint64 `yaml:"snapshot_threshold"`
	TrailingLogs      uint64 `yaml:"trailing_logs"`
	// SnapshotInterval is how often Raft looks whether snapshot_threshold
	// new entries have come (it waits a random time between one and two
	// intervals).
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
	// LogLevel is the level of the member's logs, Raft's own included.
	LogLevel string `yaml:"log_level"`
	// GRPCReflection serves gRPC server reflection, for grpcurl and the
	// like to list and call the API without its .proto files. Off by
	// default: it shows the whole API to anyone who can connect.
	GRPCReflection bool `yaml:"grpc_reflection"`
	// Version is the build's, for xaso_build_info; set by the binary, not
	// read from the file.
	Version string `yaml:"-"`
	// MaxConnections caps the API connections a member serves at once
	// (each connected node holds one for its replication streams, plus
	// operators, dashboards and the other members); further ones wait
	// until one closes.
	MaxConnections int `yaml:"max_connections"`
	// PortalURL is the national portal's address for the portal
	// connector (central/portalconn), PortalTokenFile the file of the
	// bearer token it presents (one line of at least 16 characters, mode
	// 600), PortalProvince the province's unit code there. The connector
	// runs on the leader when PortalURL is set; off otherwise.
	PortalURL       string `yaml:"portal_url"`
	PortalTokenFile string `yaml:"portal_token_file"`
	PortalProvince  string `yaml:"portal_province"`
}

// DefaultConfig returns the defaults every key starts from.
func DefaultConfig() Config {
	return Config{
		DataDir:            "/var/lib/xaso/central",
		RaftListen:         ":7000",
		APIListen:          ":8443",
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		NodeCertificateTTL: 2 * 365 * 24 * time.Hour,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		LogLevel:           "info",
		MaxConnections:     DefaultMaxConnections,
	}
}

// LoadConfig reads a YAML file over the defaults. Unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	err := configfile.Load(path, &cfg)
	return cfg, err
}

// Peers parses the bootstrap list.
func (c Config) Peers() ([]Peer, error) {
	var out []Peer
	seen := map[string]bool{}
	for i, b := range c.Bootstrap {
		id, addr, ok := strings.Cut(b, "=")
		if _, _, err := net.SplitHostPort(addr); !ok || !validName(id) || err != nil {
			return nil, fmt.Errorf("bootstrap[%d]: %q is not id=host:port", i, b)
		}
		if seen[id] {
			return nil, fmt.Errorf("bootstrap[%d]: %s is listed twice", i, id)
		}
		seen[id] = true
		out = append(out, Peer{ID: id, Addr: addr})
	}
	if len(out) > 0 && !seen[c.ID] {
		return nil, fmt.Errorf("bootstrap: this member (%s) is not in the list", c.ID)
	}
	return out, nil
}

// Validate checks every key and names the first that is wrong.
func (c Config) Validate() error {
	if !validName(c.ID) {
		return fmt.Errorf("id: %q is not 1 to 64 letters, digits, '.', '-' or '_'", c.ID)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data_dir: required")
	}
	for _, kv := range [][2]string{{"raft_listen", c.RaftListen}, {"api_listen", c.APIListen}} {
		if _, _, err := net.SplitHostPort(kv[1]); err != nil {
			return fmt.Errorf("%s: %q is not host:port", kv[0], kv[1])
		}
	}
	for _, kv := range [][2]string{{"raft_advertise", c.RaftAdvertise}, {"api_advertise", c.APIAdvertise}} {
		if kv[1] == "" {
			continue
		}
		if h, _, err := net.SplitHostPort(kv[1]); err != nil || h == "" || net.ParseIP(h) != nil && net.ParseIP(h).IsUnspecified() {
			return fmt.Errorf("%s: %q is not a host:port the other members can reach", kv[0], kv[1])
		}
	}
	if _, err := c.Peers(); err != nil {
		return err
	}
	if c.SnapshotInterval < time.Second || c.SnapshotInterval > 24*time.Hour {
		return fmt.Errorf("snapshot_interval: %v is outside 1s to 24h", c.SnapshotInterval)
	}
	if _, err := c.tls(); err != nil {
		return err
	}
	if c.BootstrapTokenFile != "" {
		if _, err := c.bootstrapTokenSum(); err != nil {
			return fmt.Errorf("bootstrap_token_file: %w", err)
		}
	}
	if c.HeartbeatTimeout < 50*time.Millisecond || c.ElectionTimeout < c.HeartbeatTimeout {
		return fmt.Errorf("election_timeout: %v must be at least heartbeat_timeout %v, itself at least 50ms", c.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.MaxConnections < 0 || c.MaxConnections > 1<<16 {
		return fmt.Errorf("max_connections: %d is outside 1 to 65536 (0: the default)", c.MaxConnections)
	}
	if c.NodeCertificateTTL < time.Hour || c.NodeCertificateTTL > 10*365*24*time.Hour {
		return fmt.Errorf("node_certificate_ttl: %v is outside 1h to 10 years", c.NodeCertificateTTL)
	}
	if _, err := pki.ParseNamePolicy(c.NodeCertificateNames); err != nil {
		return fmt.Errorf("node_certificate_names%w", err)
	}
	if c.TrailingLogs == 0 || c.SnapshotThreshold == 0 {
		return fmt.Errorf("snapshot_threshold and trailing_logs: both above 0")
	}
	if err := c.checkPortal(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	return c.checkStateKey()
}

// memberTLS is a member's TLS material, loaded.
type memberTLS struct {
	pair   pki.Pair
	caPEM  []byte
	caFP   string
	member string   // the certificate's common name
	names  []string // the certificate's DNS names and IP addresses
	ca     *pki.CA  // with its key, when ca_key_file is set
}

func (c Config) tls() (memberTLS, error) {
	var t memberTLS
	var err error
	for _, kf := range [][2]string{{"ca_file", c.CAFile}, {"cert_file", c.CertFile}, {"key_file", c.KeyFile}} {
		if kf[1] == "" {
			return t, fmt.Errorf("%s: required (central speaks only TLS)", kf[0])
		}
	}
	if t.caPEM, err = os.ReadFile(c.CAFile); err != nil {
		return t, fmt.Errorf("ca_file: %w", err)
	}
	ca, err := pki.ParseCertificate(t.caPEM)
	if err != nil {
		return t, fmt.Errorf("ca_file: %w", err)
	}
	t.caFP = pki.Fingerprint(ca)
	if t.pair.CertPEM, err = os.ReadFile(c.CertFile); err != nil {
		return t, fmt.Errorf("cert_file: %w", err)
	}
	if t.pair.KeyPEM, err = os.ReadFile(c.KeyFile); err != nil {
		return t, fmt.Errorf("key_file: %w", err)
	}
	cert, err := pki.ParseCertificate(t.pair.CertPEM)
	if err != nil {
		return t, fmt.Errorf("cert_file: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return t, fmt.Errorf("cert_file: not issued by the CA of ca_file: %w", err)
	}
	if cert.Subject.CommonName != c.ID {
		return t, fmt.Errorf("cert_file: issued to %q, not to this member %q", cert.Subject.CommonName, c.ID)
	}
	if _, err := pki.ServerConfig(t.pair, t.caPEM); err != nil {
		return t, fmt.Errorf("key_file: %w", err)
	}
	t.member = cert.Subject.CommonName
	t.names = append(t.names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		t.names = append(t.names, ip.String())
	}
	if c.CAKeyFile != "" {
		key, err := os.ReadFile(c.CAKeyFile)
		if err != nil {
			return t, fmt.Errorf("ca_key_file: %w", err)
		}
		if t.ca, err = pki.LoadCA(t.caPEM, key); err != nil {
			return t, fmt.Errorf("ca_key_file: %w", err)
		}
	}
	return t, nil
}

// checkPortal checks the portal connector's keys: all three or none.
func (c Config) checkPortal() error {
	if c.PortalURL == "" && c.PortalTokenFile == "" && c.PortalProvince == "" {
		return nil
	}
	if c.PortalURL == "" || c.PortalProvince == "" {
		return fmt.Errorf("portal_url, portal_token_file and portal_province: all three, or none")
	}
	if u, err := url.Parse(c.PortalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("portal_url: %q is not an http(s) address", c.PortalURL)
	}
	_, err := c.portalToken()
	return err
}

// portalToken reads the portal connector's token: one line of at least 16
// characters in a file its owner only may read.
func (c Config) portalToken() (string, error) {
	if c.PortalTokenFile == "" {
		return "", fmt.Errorf("portal_token_file: required with portal_url")
	}
	fi, err := os.Stat(c.PortalTokenFile)
	if err != nil {
		return "", fmt.Errorf("portal_token_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("portal_token_file: %s is readable by others (mode %v); want 600", c.PortalTokenFile, fi.Mode().Perm())
	}
	data, err := os.ReadFile(c.PortalTokenFile)
	if err != nil {
		return "", fmt.Errorf("portal_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < 16 || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("portal_token_file: want one line of at least 16 characters in %s", c.PortalTokenFile)
	}
	return tok, nil
}

func (c Config) bootstrapTokenSum() (string, error) {
	data, err := os.ReadFile(c.BootstrapTokenFile)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < 32 {
		return "", fmt.Errorf("the token in %s is shorter than 32 characters", c.BootstrapTokenFile)
	}
	return pki.SecretSum(tok), nil
}

// tlsConfigs are a member's TLS configurations: Raft server and client
// (mutual), and the API server (client certificates optional).
type tlsConfigs struct {
	server, client, api *tls.Config
}

func (t memberTLS) configs() (tlsConfigs, error) {
	var c tlsConfigs
	var err error
	if c.server, err = pki.ServerConfig(t.pair, t.caPEM); err != nil {
		return c, err
	}
	if c.client, err = pki.ClientConfig(t.pair, t.caPEM); err != nil {
		return c, err
	}
	c.api, err = pki.APIServerConfig(t.pair, t.caPEM)
	return c, err
}
