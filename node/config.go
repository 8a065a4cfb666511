package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/configfile"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/internal/atrest"
	"github.com/xaso/xaso/vietqr"
)

// Config is a commune node's configuration. The YAML keys are also the
// command-line flags of `xaso node` (with - for _); flags win over the file.
type Config struct {
	// Listen is the address serving gRPC, REST, the web pages and metrics,
	// over TLS unless PlainHTTP is set.
	Listen string `yaml:"listen"`
	// TLSCertFile and TLSKeyFile are the certificate (PEM, the chain after
	// it) and key the node serves TLS with; both or neither. Without them
	// the node serves the certificate central signed at enrollment for its
	// Names, and before that (or without central) a self-signed one it
	// makes once, keeps in its encrypted store and logs the SHA-256
	// fingerprint of.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// PlainHTTP serves plain HTTP instead of TLS: only behind a trusted
	// reverse proxy that terminates TLS for the node. The desk's session
	// cookie is then always Secure and every response carries
	// Strict-Transport-Security, so browsers reach the node through the
	// proxy over HTTPS only.
	PlainHTTP bool `yaml:"plain_http"`
	// ClientCAFile is a further CA (PEM) whose API client certificates the
	// node takes (mutual TLS), besides the province CA it holds once
	// enrolled. A client certificate must name this commune and a role
	// (`xaso admin api-cert`).
	ClientCAFile string `yaml:"client_ca_file"`
	// DataDir holds the Badger store.
	DataDir string `yaml:"data_dir"`
	// Commune is the 5-digit administrative unit code of this commune.
	Commune string `yaml:"commune"`
	// AgencyID is the electronic identifier (mã định danh) of the
	// commune's agency, e.g. "000.00.31.H56": dossier codes begin with it
	// (Decree 118/2025 art. 28) once central's commune registry, as it
	// reaches the node, gives the commune the same e-ID. Unset, or until
	// then, the node issues codes in the legacy form
	// {commune}-{yymmdd}-{nnnn}, which stay valid.
	AgencyID string `yaml:"agency_id"`
	// EncryptionKeyFile holds the AES key (16, 24 or 32 bytes, raw or hex)
	// that encrypts the store at rest (default: {data_dir}.key, beside the
	// data directory). A new store gets a new key there when the file does
	// not exist; the file must be readable by its owner only.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// AllowUnencryptedStore keeps opening a store made without encryption
	// (by an earlier version without a key), with a warning; such a store
	// keeps no private key of the node, so the node cannot enroll with it.
	// A new store is always encrypted.
	AllowUnencryptedStore bool `yaml:"allow_unencrypted_store"`
	// MaxAttachmentBytes is the largest file a clerk may upload.
	MaxAttachmentBytes int64 `yaml:"max_attachment_bytes"`
	// CalendarFile, when set, is the working calendar (JSON) to start from;
	// without it the embedded official calendar is used.
	CalendarFile string `yaml:"calendar_file"`
	// CatalogueFile, when set, is the procedure catalogue (JSON) to start
	// from; without it the embedded sample catalogue is used.
	CatalogueFile string `yaml:"catalogue_file"`
	// CommuneName is the commune's name as the receipt prints it, e.g.
	// "xã Tả Van" (default: "xã {commune}").
	CommuneName string `yaml:"commune_name"`
	// UsersFile lists who may sign in to the desk pages (name, full name,
	// role, password hash from `xaso hash-password`); it is read again
	// when it changes. Without it nobody can sign in.
	UsersFile string `yaml:"users_file"`
	// Names are the host names and addresses clients reach the node by:
	// the Host header of every request must be one of them (a page from
	// elsewhere cannot drive the API through a clerk's browser), and the
	// node's TLS certificate names them. Default: the machine's host name,
	// "localhost" and the addresses of its interfaces. Loopback is always
	// allowed.
	Names []string `yaml:"names"`
	// TokensFile lists the API tokens of this node (name, role, expiry,
	// SHA-256 of the secret), made with `xaso admin node-token`; it is read
	// again when it changes, so a removed token stops working at once.
	TokensFile string `yaml:"tokens_file"`
	// MetricsNeedToken makes /metrics answer only a caller with a token
	// (any role; "monitor" is meant for it).
	MetricsNeedToken bool `yaml:"metrics_need_token"`
	// GRPCReflection serves gRPC server reflection, for grpcurl and the
	// like to list and call the API without its .proto files. Off by
	// default: it shows the whole API to anyone who can connect.
	GRPCReflection bool `yaml:"grpc_reflection"`
	// Version is the build's, for xaso_build_info; set by the binary, not
	// read from the file (default: from the build's own information).
	Version string `yaml:"-"`
	// AllowedOrigins are further origins (scheme://host[:port]) whose pages
	// may call the REST API with a signed-in official's session; the
	// node's own names are always allowed.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// PublicURL is the address citizens reach the look-up page at, which
	// the receipt's QR code holds (default: the address the clerk uses).
	PublicURL string `yaml:"public_url"`
	// FeeBankBIN, FeeAccountNumber and FeeAccountName are the commune's
	// account that fees are paid into: the bank's 6-digit BIN as NAPAS
	// lists it (e.g. 970405), the account number (letters and digits, at
	// most 19) and the account holder's name as the bank shows it. With
	// them, the receipt and the look-up page of a dossier with a fee show
	// a VietQR code for the exact amount with the dossier's code as the
	// transfer's content; without them (all three empty) they say the fee
	// is paid at the desk.
	FeeBankBIN       string `yaml:"fee_bank_bin"`
	FeeAccountNumber string `yaml:"fee_account_number"`
	FeeAccountName   string `yaml:"fee_account_name"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// MaxConnections caps the HTTP connections the node serves at once
	// (desk browsers, API clients); further ones wait until one closes.
	MaxConnections int `yaml:"max_connections"`

	// Central lists central members' API addresses (host:port). Without
	// it the node works alone and keeps its outbox.
	Central []string `yaml:"central"`
	// NodeID names this machine at central (default node-{commune}).
	NodeID string `yaml:"node_id"`
	// EnrollmentTokenFile holds the one-time token an operator issued for
	// this commune; read only until the node has enrolled.
	EnrollmentTokenFile string `yaml:"enrollment_token_file"`
	// SyncBandwidthKbit caps what sync sends, in kbit/s (0: no cap), so
	// that it leaves room for the commune's other traffic.
	SyncBandwidthKbit int64 `yaml:"sync_bandwidth_kbit"`
	// SyncHeartbeat is how often an idle node reports in to central.
	SyncHeartbeat time.Duration `yaml:"sync_heartbeat"`
	// SyncKeepalive is the ping interval that detects a half-open link.
	SyncKeepalive time.Duration `yaml:"sync_keepalive"`
	// SyncUploadWindow, when set ("22:00-06:00", Vietnam time), is when
	// files (scans, results) may be sent; events go at any time.
	SyncUploadWindow string `yaml:"sync_upload_window"`
	// RestoreFromCentral marks a machine that replaces a commune's node
	// whose data is lost: before clerks change anything it enrolls and
	// takes the commune's dossiers and its place in the hash chain back
	// from central. Once done it has no further effect.
	RestoreFromCentral bool `yaml:"restore_from_central"`

	// SyncDial, when set, opens the connections to central instead of
	// TCP (the demo and tests put simulated links here). Not a file key.
	SyncDial func(ctx context.Context, addr string) (net.Conn, error) `yaml:"-"`
}

// DefaultConfig returns the defaults every key starts from.
func DefaultConfig() Config {
	return Config{
		Listen:             ":8080",
		DataDir:            "/var/lib/xaso/node",
		MaxAttachmentBytes: 20 << 20,
		LogLevel:           "info",
		MaxConnections:     512,
		SyncHeartbeat:      30 * time.Second,
		SyncKeepalive:      10 * time.Second,
	}
}

// LoadConfig reads a YAML file over the defaults. Unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	err := configfile.Load(path, &cfg)
	return cfg, err
}

// Validate checks every key and names the first that is wrong.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port", c.Listen)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data_dir: required")
	}
	if err := c.checkTLS(); err != nil {
		return err
	}
	if !dossier.ValidCommuneCode(c.Commune) {
		return fmt.Errorf("commune: %q is not a 5-digit administrative unit code", c.Commune)
	}
	if c.AgencyID != "" {
		if err := dossier.CheckAgencyID(c.AgencyID); err != nil {
			return fmt.Errorf("agency_id: %w", err)
		}
	}
	if c.MaxAttachmentBytes < 1<<10 || c.MaxAttachmentBytes > 256<<20 {
		return fmt.Errorf("max_attachment_bytes: %d is outside 1 KiB to 256 MiB", c.MaxAttachmentBytes)
	}
	if c.MaxConnections < 0 || c.MaxConnections > 1<<16 {
		return fmt.Errorf("max_connections: %d is outside 1 to 65536 (0: the default)", c.MaxConnections)
	}
	for key, f := range map[string]string{"calendar_file": c.CalendarFile, "catalogue_file": c.CatalogueFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	if c.CalendarFile != "" {
		data, _ := os.ReadFile(c.CalendarFile)
		if _, err := dossier.ParseCalendar(data); err != nil {
			return fmt.Errorf("calendar_file: %w", err)
		}
	}
	if len(c.CommuneName) > 100 || !utf8.ValidString(c.CommuneName) {
		return fmt.Errorf("commune_name: at most 100 bytes of UTF-8")
	}
	if c.UsersFile != "" {
		data, err := os.ReadFile(c.UsersFile)
		if err != nil {
			return fmt.Errorf("users_file: %w", err)
		}
		if _, err := ParseUsers(data); err != nil {
			return fmt.Errorf("users_file: %s: %w", c.UsersFile, err)
		}
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public_url: %q is not an http(s)://host[:port] address", c.PublicURL)
		}
	}
	if err := c.checkFeeAccount(); err != nil {
		return err
	}
	for i, h := range c.Names {
		if !validHostName(h) {
			return fmt.Errorf("names[%d]: %q is not a host name or an IP address", i, h)
		}
	}
	for i, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			return fmt.Errorf("allowed_origins[%d]: %q is not scheme://host[:port]", i, o)
		}
	}
	if c.TokensFile != "" {
		data, err := os.ReadFile(c.TokensFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("tokens_file: %w", err)
		}
		if _, err := ParseTokens(data); err != nil {
			return fmt.Errorf("tokens_file: %s: %w", c.TokensFile, err)
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel)
	}
	for i, a := range c.Central {
		if h, _, err := net.SplitHostPort(a); err != nil || h == "" {
			return fmt.Errorf("central[%d]: %q is not host:port", i, a)
		}
	}
	if c.NodeID != "" && !dossier.ValidName(c.NodeID, 64) {
		return fmt.Errorf("node_id: %q is not 1 to 64 letters, digits, '.', '-' or '_'", c.NodeID)
	}
	if c.RestoreFromCentral && len(c.Central) == 0 {
		return fmt.Errorf("restore_from_central: set, but central is empty (where would the data come from?)")
	}
	if c.EnrollmentTokenFile != "" && len(c.Central) == 0 {
		return fmt.Errorf("enrollment_token_file: set, but central is empty (where would the node enroll?)")
	}
	if c.SyncBandwidthKbit < 0 || c.SyncBandwidthKbit > 10_000_000 {
		return fmt.Errorf("sync_bandwidth_kbit: %d is outside 0 (no cap) to 10000000", c.SyncBandwidthKbit)
	}
	if c.SyncHeartbeat < time.Second || c.SyncHeartbeat > time.Hour {
		return fmt.Errorf("sync_heartbeat: %v is outside 1s to 1h", c.SyncHeartbeat)
	}
	if c.SyncKeepalive < time.Second || c.SyncKeepalive > 10*time.Minute {
		return fmt.Errorf("sync_keepalive: %v is outside 1s to 10m", c.SyncKeepalive)
	}
	if _, err := dossier.ParseDailyWindow(c.SyncUploadWindow); err != nil {
		return fmt.Errorf("sync_upload_window: %w", err)
	}
	return c.checkEncryption()
}

// checkFeeAccount checks the fee account: all three keys or none.
func (c Config) checkFeeAccount() error {
	if c.FeeBankBIN == "" && c.FeeAccountNumber == "" && c.FeeAccountName == "" {
		return nil
	}
	t := vietqr.Transfer{BIN: c.FeeBankBIN, Account: c.FeeAccountNumber}
	if err := t.Check(); err != nil {
		var fe *vietqr.FieldError
		if errors.As(err, &fe) && fe.Field == "bin" {
			return fmt.Errorf("fee_bank_bin: %q is not the bank's 6-digit BIN (e.g. 970405), needed with the fee account", c.FeeBankBIN)
		}
		return fmt.Errorf("fee_account_number: %q is not 1 to %d letters or digits, needed with the fee account", dossier.Short(c.FeeAccountNumber, 40), vietqr.MaxAccountLen)
	}
	if n := strings.TrimSpace(c.FeeAccountName); n == "" || len(c.FeeAccountName) > 100 || !utf8.ValidString(c.FeeAccountName) {
		return fmt.Errorf("fee_account_name: the account holder's name, 1 to 100 bytes of UTF-8, needed with the fee account")
	}
	return nil
}

// HostNames returns the names the node answers to: the configured names,
// or the machine's host name and interface addresses; loopback always.
func (c Config) HostNames() []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	if len(c.Names) > 0 {
		return append(names, c.Names...)
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				names = append(names, ipn.IP.String())
			}
		}
	}
	return names
}

// validHostName reports whether h is an IP address or a DNS name.
func validHostName(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// version is the build's version: Version, or what the build says.
func (c Config) version() string {
	if c.Version != "" {
		return c.Version
	}
	return apiserver.Version()
}

// nodeID is the configured node id or its default.
func (c Config) nodeID() string {
	if c.NodeID != "" {
		return c.NodeID
	}
	return "node-" + c.Commune
}

// ReadKeyFile reads an AES key of 16, 24 or 32 bytes, raw or hex-encoded,
// from a file that only its owner may read.
func ReadKeyFile(path string) ([]byte, error) { return atrest.ReadKeyFile(path) }
