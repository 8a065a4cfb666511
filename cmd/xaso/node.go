package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/node"
)

// nodeFlags defines one flag per config key on fs and returns a function
// that applies the flags given on the command line over cfg.
func nodeFlags(fs *flag.FlagSet) (configPath *string, apply func(*node.Config) error) {
	configPath = fs.String("config", "", "YAML configuration file; the flags below override its keys")
	d := node.DefaultConfig()
	fs.String("listen", d.Listen, "listen: address for gRPC, REST, web pages and metrics")
	fs.String("data-dir", d.DataDir, "data_dir: directory of the Badger store")
	fs.String("tls-cert-file", "", "tls_cert_file: certificate (PEM) to serve TLS with (default: the one central signed at enrollment, else a self-signed one)")
	fs.String("tls-key-file", "", "tls_key_file: its key (PEM)")
	fs.String("plain-http", "false", "plain_http: serve plain HTTP, only behind a reverse proxy that terminates TLS (cookies Secure, HSTS on every answer)")
	fs.String("client-ca-file", "", "client_ca_file: a further CA (PEM) of API client certificates, besides the province CA")
	fs.String("commune", "", "commune: 5-digit administrative unit code of this commune (required)")
	fs.String("agency-id", "", "agency_id: the electronic identifier of the commune's agency that dossier codes begin with, e.g. 000.00.31.H56 (default: none, codes {commune}-{yymmdd}-{nnnn})")
	fs.String("encryption-key-file", "", "encryption_key_file: AES key (16/24/32 bytes, raw or hex, mode 0600) encrypting the store (default: {data_dir}.key, made for a new store)")
	fs.String("allow-unencrypted-store", "false", "allow_unencrypted_store: keep opening a store made without encryption (it then keeps no private key of the node)")
	fs.String("max-attachment-bytes", strconv.FormatInt(d.MaxAttachmentBytes, 10), "max_attachment_bytes: largest upload")
	fs.String("max-connections", strconv.Itoa(d.MaxConnections), "max_connections: HTTP connections served at once; one more waits")
	fs.String("calendar-file", "", "calendar_file: working calendar JSON to start from (default: embedded official calendar)")
	fs.String("catalogue-file", "", "catalogue_file: procedure catalogue JSON to start from (default: embedded sample)")
	fs.String("commune-name", "", "commune_name: the commune's name as the receipt prints it (default: xã {commune})")
	fs.String("users-file", "", "users_file: who may sign in to the desk pages (YAML: name, full_name, role, password_hash)")
	fs.String("tokens-file", "", "tokens_file: the API's tokens (YAML, hashes; `xaso admin node-token`), read again when it changes")
	fs.String("names", "", "names: host names and addresses clients reach the node by, comma-separated (default: the machine's name and addresses)")
	fs.String("allowed-origins", "", "allowed_origins: further scheme://host[:port] whose pages may call the API with a desk session, comma-separated")
	fs.String("metrics-need-token", "false", "metrics_need_token: /metrics answers only a caller with a token")
	fs.String("grpc-reflection", "false", "grpc_reflection: serve gRPC server reflection (grpcurl list/describe without the .proto files)")
	fs.String("public-url", "", "public_url: address citizens reach the look-up page at, for the receipt's QR code (default: the clerk's)")
	fs.String("fee-bank-bin", "", "fee_bank_bin: 6-digit BIN of the bank holding the commune's fee account, for the VietQR code of fees (default: none, fees paid at the desk)")
	fs.String("fee-account-number", "", "fee_account_number: the commune's fee account number")
	fs.String("fee-account-name", "", "fee_account_name: the fee account holder's name as the bank shows it")
	fs.String("log-level", d.LogLevel, "log_level: debug, info, warn or error")
	fs.String("central", "", "central: central members' API addresses, host:port,… (none: work alone)")
	fs.String("node-id", "", "node_id: this machine's name at central (default node-{commune})")
	fs.String("enrollment-token-file", "", "enrollment_token_file: the one-time token issued for this commune at central")
	fs.String("sync-bandwidth-kbit", "0", "sync_bandwidth_kbit: cap on what sync sends, kbit/s (0: none)")
	fs.String("sync-heartbeat", d.SyncHeartbeat.String(), "sync_heartbeat: how often an idle node reports in")
	fs.String("sync-keepalive", d.SyncKeepalive.String(), "sync_keepalive: ping interval that detects a half-open link")
	fs.String("sync-upload-window", "", "sync_upload_window: when files may be sent, HH:MM-HH:MM Vietnam time (default: always)")
	fs.String("restore-from-central", "false", "restore_from_central: a replaced machine: take the commune's data back from central before clerks change anything")
	apply = func(cfg *node.Config) error {
		var err error
		duration := func(f *flag.Flag, dst *time.Duration) {
			if e := durationFlag(f, dst); e != nil {
				err = e
			}
		}
		fs.Visit(func(f *flag.Flag) {
			if err != nil {
				return
			}
			v := f.Value.String()
			switch f.Name {
			case "listen":
				cfg.Listen = v
			case "data-dir":
				cfg.DataDir = v
			case "tls-cert-file":
				cfg.TLSCertFile = v
			case "tls-key-file":
				cfg.TLSKeyFile = v
			case "plain-http":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					err = fmt.Errorf("plain_http: %q is not true or false", v)
				}
				cfg.PlainHTTP = b
			case "client-ca-file":
				cfg.ClientCAFile = v
			case "commune":
				cfg.Commune = v
			case "agency-id":
				cfg.AgencyID = v
			case "encryption-key-file":
				cfg.EncryptionKeyFile = v
			case "allow-unencrypted-store":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					err = fmt.Errorf("allow_unencrypted_store: %q is not true or false", v)
				}
				cfg.AllowUnencryptedStore = b
			case "max-attachment-bytes":
				n, perr := strconv.ParseInt(v, 10, 64)
				if perr != nil {
					err = fmt.Errorf("max_attachment_bytes: %q is not a number", v)
				}
				cfg.MaxAttachmentBytes = n
			case "max-connections":
				n, perr := strconv.Atoi(v)
				if perr != nil {
					err = fmt.Errorf("max_connections: %q is not a number", v)
				}
				cfg.MaxConnections = n
			case "calendar-file":
				cfg.CalendarFile = v
			case "catalogue-file":
				cfg.CatalogueFile = v
			case "commune-name":
				cfg.CommuneName = v
			case "users-file":
				cfg.UsersFile = v
			case "tokens-file":
				cfg.TokensFile = v
			case "names":
				cfg.Names = splitList(v)
			case "allowed-origins":
				cfg.AllowedOrigins = splitList(v)
			case "metrics-need-token":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					err = fmt.Errorf("metrics_need_token: %q is not true or false", v)
				}
				cfg.MetricsNeedToken = b
			case "grpc-reflection":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					err = fmt.Errorf("grpc_reflection: %q is not true or false", v)
				}
				cfg.GRPCReflection = b
			case "public-url":
				cfg.PublicURL = v
			case "fee-bank-bin":
				cfg.FeeBankBIN = v
			case "fee-account-number":
				cfg.FeeAccountNumber = v
			case "fee-account-name":
				cfg.FeeAccountName = v
			case "log-level":
				cfg.LogLevel = v
			case "central":
				cfg.Central = splitList(v)
			case "node-id":
				cfg.NodeID = v
			case "enrollment-token-file":
				cfg.EnrollmentTokenFile = v
			case "sync-bandwidth-kbit":
				n, perr := strconv.ParseInt(v, 10, 64)
				if perr != nil {
					err = fmt.Errorf("sync_bandwidth_kbit: %q is not a number", v)
				}
				cfg.SyncBandwidthKbit = n
			case "sync-heartbeat":
				duration(f, &cfg.SyncHeartbeat)
			case "sync-keepalive":
				duration(f, &cfg.SyncKeepalive)
			case "sync-upload-window":
				cfg.SyncUploadWindow = v
			case "restore-from-central":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					err = fmt.Errorf("restore_from_central: %q is not true or false", v)
				}
				cfg.RestoreFromCentral = b
			}
		})
		return err
	}
	return configPath, apply
}

// durationFlag parses a duration flag into dst, naming its config key when
// the value is not a duration.
func durationFlag(f *flag.Flag, dst *time.Duration) error {
	d, err := time.ParseDuration(f.Value.String())
	if err != nil {
		return fmt.Errorf("%s: %q is not a duration like 30s", strings.ReplaceAll(f.Name, "-", "_"), f.Value)
	}
	*dst = d
	return nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loadNodeConfig reads the file (when given), applies flags and validates.
func loadNodeConfig(path string, apply func(*node.Config) error) (node.Config, error) {
	cfg := node.DefaultConfig()
	if path != "" {
		var err error
		if cfg, err = node.LoadConfig(path); err != nil {
			return cfg, err
		}
	}
	if err := apply(&cfg); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

func runNode(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso node", flag.ContinueOnError)
	path, apply := nodeFlags(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadNodeConfig(*path, apply)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	cfg.Version = versionString()
	n, err := node.Open(ctx, cfg, log, time.Now)
	if err != nil {
		return err
	}
	defer n.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("node serving", "addr", ln.Addr().String(), "version", versionString())
	return n.Serve(ctx, ln)
}

func runCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso check-config", flag.ContinueOnError)
	kind := fs.String("kind", "node", "node or central")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: xaso check-config [--kind node|central] FILE")
		return errUsage
	}
	switch *kind {
	case "node":
	case "central":
		cfg, err := central.LoadConfig(fs.Arg(0))
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: configuration of central member %s is valid\n", fs.Arg(0), cfg.ID)
		return nil
	default:
		return fmt.Errorf("kind: %q is not node or central", *kind)
	}
	cfg, err := node.LoadConfig(fs.Arg(0))
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: node configuration for commune %s is valid\n", fs.Arg(0), cfg.Commune)
	return nil
}

// runHashPassword reads a password (one line on stdin) and prints the hash
// a users file takes, so that no password is written down in clear.
func runHashPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read the password from stdin: %w", err)
	}
	h, err := node.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
