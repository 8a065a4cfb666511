// Package node is the commune node: it receives citizens' dossiers at the
// desk, moves them through the one-stop-shop workflow against the legal
// clock, and keeps every change in a local Badger store together with an
// outbox of events for central. It serves gRPC and REST (grpc-gateway) on
// one port, with Prometheus metrics and health checks, and needs nothing
// outside the commune to do so: central can be unreachable for days.
//
// A node is opened from a Config and served on a listener:
//
//	n, err := node.Open(ctx, cfg, logger, time.Now)
//	defer n.Close()
//	err = n.Serve(ctx, ln)
//
// The package owns the node's on-disk layout (keys.go) and its API; the
// workflow rules belong to package dossier, not here.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/replication"
	"github.com/xaso/xaso/sample"
)

// Node is one running commune node.
type Node struct {
	cfg      Config
	log      *slog.Logger
	store    *Store
	svc      *service
	metrics  *metrics
	calendar atomic.Pointer[dossier.Calendar]
	ready    atomic.Bool
	now      func() time.Time
	// syncer replicates to central; nil when no central is configured.
	syncer *replication.Syncer
	// limits are the sync settings in force: the file's, until central
	// sends the commune's.
	limits atomic.Pointer[xasov1.CommuneSettings]
	// users are the desk's officials (users_file), with their sign-in limiter.
	users *users
	// auth finds who makes each call of the API.
	auth *authenticator
	// tls is what the node serves TLS with; nil with plain_http.
	tls *nodeTLS
}

// Open opens the node's store, seeding the catalogue and the calendar on
// first start. now is the node's clock (time.Now outside tests).
func Open(ctx context.Context, cfg Config, log *slog.Logger, now func() time.Time) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := openStore(cfg, log)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, store: st, now: now, users: &users{path: cfg.UsersFile}}
	if cfg.RestoreFromCentral {
		if err := st.RequireRestore(); err != nil {
			st.Close()
			return nil, err
		}
	}
	if err := n.seed(ctx); err != nil {
		st.Close()
		return nil, err
	}
	n.limits.Store(&xasov1.CommuneSettings{SyncBandwidthKbit: cfg.SyncBandwidthKbit, SyncUploadWindow: cfg.SyncUploadWindow})
	if set, err := st.Settings(); err != nil {
		st.Close()
		return nil, fmt.Errorf("read sync settings: %w", err)
	} else if set != nil {
		n.limits.Store(set) // central's settings replace the file's
	}
	if len(cfg.Central) > 0 {
		lim := n.limits.Load()
		sc := replication.Config{
			Central: cfg.Central, NodeID: cfg.nodeID(), Commune: cfg.Commune, Names: cfg.HostNames(), Dial: cfg.SyncDial,
			BandwidthBytes: lim.GetSyncBandwidthKbit() * 1000 / 8, Heartbeat: cfg.SyncHeartbeat, Keepalive: cfg.SyncKeepalive,
			Logger: log.With("part", "sync"),
		}
		if sc.UploadWindow, err = dossier.ParseDailyWindow(lim.GetSyncUploadWindow()); err != nil {
			st.Close()
			return nil, fmt.Errorf("sync_upload_window: %w", err)
		}
		if f := cfg.EnrollmentTokenFile; f != "" {
			sc.EnrollmentToken = func() (string, error) {
				b, err := os.ReadFile(f)
				return string(b), err
			}
		}
		if n.syncer, err = replication.NewSyncer(syncLocal{Store: st, n: n}, sc); err != nil {
			st.Close()
			return nil, err
		}
	}
	if !cfg.PlainHTTP {
		if n.tls, err = newNodeTLS(ctx, cfg, st, log.With("part", "tls")); err != nil {
			st.Close()
			return nil, err
		}
	}
	n.metrics = newMetrics(st, now, n.SyncStatus, buildInfo{version: cfg.version(), commune: cfg.Commune, nodeID: cfg.nodeID()})
	n.svc = &service{
		store: st, commune: cfg.Commune, agency: cfg.AgencyID, calendar: n.calendar.Load, now: now,
		maxFile: cfg.MaxAttachmentBytes, metrics: n.metrics, log: log, sync: n.SyncStatus, limits: n.limits.Load,
		users: n.users,
	}
	n.auth = newAuthenticator(n)
	if n.tls != nil {
		n.auth.cert = n.certPrincipal
	}
	last, _ := st.OutboxHead()
	log.Info("node open", "commune", cfg.Commune, "data_dir", cfg.DataDir, "outbox_last", last, "encrypted", st.Encrypted())
	if cfg.AgencyID == "" {
		log.Info("agency_id is not set: dossier codes keep the legacy form {commune}-{yymmdd}-{nnnn}", "commune", cfg.Commune)
	} else {
		log.Info("dossier codes begin with the agency e-ID once central's registry gives it to this commune; legacy codes until then", "agency_id", cfg.AgencyID)
	}
	return n, nil
}

// seed loads the calendar (storing the configured or embedded one on first
// start) and stores the catalogue when the node has none.
func (n *Node) seed(ctx context.Context) error {
	calJSON, err := n.store.CalendarJSON()
	if errors.Is(err, ErrNotFound) {
		calJSON = sample.CalendarJSON()
		if n.cfg.CalendarFile != "" {
			if calJSON, err = os.ReadFile(n.cfg.CalendarFile); err != nil {
				return fmt.Errorf("calendar_file: %w", err)
			}
		}
		if err = n.store.PutCalendarJSON(ctx, calJSON); err != nil {
			return fmt.Errorf("store calendar: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("load calendar: %w", err)
	}
	cal, err := dossier.ParseCalendar(calJSON)
	if err != nil {
		return fmt.Errorf("stored calendar: %w", err)
	}
	n.calendar.Store(cal)

	procs := sample.Procedures()
	if n.cfg.CatalogueFile != "" {
		data, err := os.ReadFile(n.cfg.CatalogueFile)
		if err != nil {
			return fmt.Errorf("catalogue_file: %w", err)
		}
		var list xasov1.ListProceduresResponse
		if err := protojson.Unmarshal(data, &list); err != nil {
			return fmt.Errorf("catalogue_file: %w", err)
		}
		procs = list.GetProcedures()
	}
	return n.store.SeedCatalogue(ctx, procs)
}

// syncLocal is the node as replication sees it: the store, with feed
// items that also take effect in the running node (a new calendar).
type syncLocal struct {
	*Store
	n *Node
}

// ApplyFeed applies central's items in order, each with its checkpoint.
func (l syncLocal) ApplyFeed(ctx context.Context, items []*xasov1.FeedItem) error {
	for _, it := range items {
		if err := l.applyFeedItem(ctx, it, l.n.cfg.Commune, l.n.now()); err != nil {
			return err
		}
		if cj := it.GetCalendarJson(); cj != "" {
			cal, err := dossier.ParseCalendar([]byte(cj))
			if err != nil {
				return err
			}
			l.n.calendar.Store(cal)
		}
		if set := it.GetSettings(); set != nil {
			window, err := dossier.ParseDailyWindow(set.GetSyncUploadWindow())
			if err != nil {
				return fmt.Errorf("settings from central: %w", err)
			}
			l.n.limits.Store(set)
			l.n.syncer.SetLimits(set.GetSyncBandwidthKbit()*1000/8, window)
			l.n.log.Info("sync settings from central", "bandwidth_kbit", set.GetSyncBandwidthKbit(), "upload_window", set.GetSyncUploadWindow())
		}
	}
	return nil
}

// SyncStatus is the replication link's status; ok is false when the node
// has no central configured.
func (n *Node) SyncStatus() (st replication.Status, ok bool) {
	if n.syncer == nil {
		return st, false
	}
	return n.syncer.Status(), true
}

// Store returns the node's store.
func (n *Node) Store() *Store { return n.store }

// Calendar returns the working calendar in force.
func (n *Node) Calendar() *dossier.Calendar { return n.calendar.Load() }

// Server returns the node's API implementation, for in-process clients.
func (n *Node) Server() xasov1.NodeServiceServer { return n.svc }

// Close closes the store; call it after Serve returned.
func (n *Node) Close() error { return n.store.Close() }
