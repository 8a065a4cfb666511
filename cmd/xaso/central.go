package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xaso/xaso/central"
)

// centralFlags defines one flag per config key of `xaso central` and
// returns a function applying those given over cfg.
func centralFlags(fs *flag.FlagSet) (configPath *string, apply func(*central.Config) error) {
	configPath = fs.String("config", "", "YAML configuration file; the flags below override its keys")
	d := central.DefaultConfig()
	fs.String("id", "", "id: this member's Raft ID, the common name of its certificate (required)")
	fs.String("data-dir", d.DataDir, "data_dir: Raft log, snapshots and state")
	fs.String("state-key-file", "", "state_key_file: AES key (16/24/32 bytes, raw or hex, mode 0600) encrypting the state (default: {data_dir}.key, made for a new state)")
	fs.String("raft-listen", d.RaftListen, "raft_listen: address of the Raft transport (mutual TLS)")
	fs.String("raft-advertise", "", "raft_advertise: Raft address the other members dial (default: raft_listen)")
	fs.String("api-listen", d.APIListen, "api_listen: address of gRPC, REST and metrics (TLS)")
	fs.String("api-advertise", "", "api_advertise: API address the other members reach (default: api_listen)")
	fs.String("bootstrap", "", "bootstrap: voters of a new cluster, id=host:port,… (only used without Raft state)")
	fs.String("ca-file", "", "ca_file: the province CA certificate (PEM)")
	fs.String("cert-file", "", "cert_file: this member's certificate (PEM)")
	fs.String("key-file", "", "key_file: this member's key (PEM)")
	fs.String("ca-key-file", "", "ca_key_file: the province CA key (PEM), to sign node certificates at enrollment (optional)")
	fs.String("node-certificate-ttl", d.NodeCertificateTTL.String(), "node_certificate_ttl: life of a node certificate signed at enrollment")
	fs.String("node-certificate-names", "", "node_certificate_names: DNS domains and IP networks (CIDR) node certificates may name, comma-separated (loopback always; central's own names never)")
	fs.String("bootstrap-token-file", "", "bootstrap_token_file: a token that makes the first operator token, refused once one exists")
	fs.String("heartbeat-timeout", d.HeartbeatTimeout.String(), "heartbeat_timeout: Raft heartbeat timeout")
	fs.String("election-timeout", d.ElectionTimeout.String(), "election_timeout: Raft election timeout")
	fs.String("snapshot-threshold", strconv.FormatUint(d.SnapshotThreshold, 10), "snapshot_threshold: new entries that trigger a snapshot")
	fs.String("snapshot-interval", d.SnapshotInterval.String(), "snapshot_interval: how often Raft looks whether snapshot_threshold entries have come")
	fs.String("grpc-reflection", "false", "grpc_reflection: serve gRPC server reflection (grpcurl list/describe without the .proto files)")
	fs.String("trailing-logs", strconv.FormatUint(d.TrailingLogs, 10), "trailing_logs: entries kept after a snapshot")
	fs.String("max-connections", strconv.Itoa(d.MaxConnections), "max_connections: API connections served at once (a connected node holds one); one more waits")
	fs.String("log-level", d.LogLevel, "log_level: debug, info, warn or error")
	fs.String("portal-url", "", "portal_url: the national portal's address for the portal connector (off when empty)")
	fs.String("portal-token-file", "", "portal_token_file: the connector's bearer token at the portal (mode 0600)")
	fs.String("portal-province", "", "portal_province: the province's unit code at the portal")
	apply = func(cfg *central.Config) error {
		var err error
		duration := func(f *flag.Flag, dst *time.Duration) {
			if e := durationFlag(f, dst); e != nil {
				err = e
			}
		}
		count := func(f *flag.Flag, dst *uint64) {
			n, perr := strconv.ParseUint(f.Value.String(), 10, 64)
			if perr != nil {
				err = fmt.Errorf("%s: %q is not a number", strings.ReplaceAll(f.Name, "-", "_"), f.Value)
			}
			*dst = n
		}
		fs.Visit(func(f *flag.Flag) {
			if err != nil {
				return
			}
			v := f.Value.String()
			switch f.Name {
			case "id":
				cfg.ID = v
			case "data-dir":
				cfg.DataDir = v
			case "state-key-file":
				cfg.StateKeyFile = v
			case "raft-listen":
				cfg.RaftListen = v
			case "raft-advertise":
				cfg.RaftAdvertise = v
			case "api-listen":
				cfg.APIListen = v
			case "api-advertise":
				cfg.APIAdvertise = v
			case "bootstrap":
				cfg.Bootstrap = splitList(v)
			case "ca-file":
				cfg.CAFile = v
			case "cert-file":
				cfg.CertFile = v
			case "key-file":
				cfg.KeyFile = v
			case "ca-key-file":
				cfg.CAKeyFile = v
			case "node-certificate-ttl":
				duration(f, &cfg.NodeCertificateTTL)
			case "node-certificate-names":
				cfg.NodeCertificateNames = splitList(v)
			case "bootstrap-token-file":
				cfg.BootstrapTokenFile = v
			case "heartbeat-timeout":
				duration(f, &cfg.HeartbeatTimeout)
			case "election-timeout":
				duration(f, &cfg.ElectionTimeout)
			case "snapshot-threshold":
				count(f, &cfg.SnapshotThreshold)
			case "trailing-logs":
				count(f, &cfg.TrailingLogs)
			case "snapshot-interval":
				duration(f, &cfg.SnapshotInterval)
			case "grpc-reflection":
				b, perr := strconv.ParseBool(v)
				if perr != nil {
					err = fmt.Errorf("grpc_reflection: %q is not true or false", v)
				}
				cfg.GRPCReflection = b
			case "max-connections":
				n, perr := strconv.Atoi(v)
				if perr != nil {
					err = fmt.Errorf("max_connections: %q is not a number", v)
				}
				cfg.MaxConnections = n
			case "log-level":
				cfg.LogLevel = v
			case "portal-url":
				cfg.PortalURL = v
			case "portal-token-file":
				cfg.PortalTokenFile = v
			case "portal-province":
				cfg.PortalProvince = v
			}
		})
		return err
	}
	return configPath, apply
}

func runCentral(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("xaso central", flag.ContinueOnError)
	path, apply := centralFlags(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := central.DefaultConfig()
	if *path != "" {
		var err error
		if cfg, err = central.LoadConfig(*path); err != nil {
			return err
		}
	}
	if err := apply(&cfg); err != nil {
		return err
	}
	cfg.Version = versionString()
	return central.Run(ctx, cfg, newLogger(stderr, cfg.LogLevel).With("version", versionString()))
}
