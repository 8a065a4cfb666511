package central

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/xaso/xaso/central/portalconn"
	"github.com/xaso/xaso/pki"
)

// Run runs one member as its configuration says until ctx ends: Raft on
// raft_listen, the API on api_listen.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	t, err := cfg.tls()
	if err != nil {
		return err
	}
	raftServer, err := t.configs()
	if err != nil {
		return err
	}
	peers, _ := cfg.Peers()
	key, err := cfg.stateKey(log)
	if err != nil {
		return err
	}
	m, err := StartMember(MemberConfig{
		ID: cfg.ID, RaftListen: cfg.RaftListen, RaftAdvertise: cfg.RaftAdvertise, DataDir: cfg.DataDir, StateKey: key,
		ServerTLS: raftServer.server, ClientTLS: raftServer.client, Bootstrap: peers,
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		SnapshotThreshold: cfg.SnapshotThreshold, TrailingLogs: cfg.TrailingLogs, SnapshotInterval: cfg.SnapshotInterval, Logger: log,
	})
	if err != nil {
		return cfg.wrongStateKey(err)
	}
	defer m.Close()
	ln, err := net.Listen("tcp", cfg.APIListen)
	if err != nil {
		return fmt.Errorf("api_listen: %w", err)
	}
	adv := cfg.APIAdvertise
	if adv == "" {
		adv = ln.Addr().String()
	}
	var sum string
	if cfg.BootstrapTokenFile != "" {
		if sum, err = cfg.bootstrapTokenSum(); err != nil {
			return fmt.Errorf("bootstrap_token_file: %w", err)
		}
	}
	names, err := pki.ParseNamePolicy(cfg.NodeCertificateNames)
	if err != nil {
		return fmt.Errorf("node_certificate_names%w", err)
	}
	names.Reserved = t.names
	s, err := NewServer(ServerConfig{Member: m, APIAddress: adv, TLS: raftServer.api, PeerTLS: raftServer.client,
		BootstrapTokenSHA256: sum, CAFingerprint: t.caFP, CA: t.ca, NodeCertificateTTL: cfg.NodeCertificateTTL, NodeNames: names,
		MaxConnections: cfg.MaxConnections, GRPCReflection: cfg.GRPCReflection, Version: cfg.Version, Logger: log})
	if err != nil {
		return err
	}
	if cfg.PortalURL != "" {
		tok, err := cfg.portalToken()
		if err != nil {
			return err
		}
		pc, err := portalconn.New(portalconn.Config{URL: cfg.PortalURL, Token: tok, Province: cfg.PortalProvince, Logger: log}, m)
		if err != nil {
			return err
		}
		s.metrics.reg.MustRegister(pc.Collectors()...)
		go pc.Run(ctx)
		log.Info("portal connector on", "portal", cfg.PortalURL, "province", cfg.PortalProvince)
	}
	log.Info("central member serving", "id", cfg.ID, "raft", m.transport.LocalAddr(), "api", ln.Addr().String())
	return s.Serve(ctx, ln)
}
