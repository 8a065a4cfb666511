package central

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// Peer is one voter of the cluster.
type Peer struct {
	ID   string
	Addr string // Raft address, host:port
}

// MemberConfig configures one member of the central cluster.
type MemberConfig struct {
	ID string
	// RaftListen is the address the Raft transport listens on; RaftAdvertise
	// the one peers dial (default: RaftListen).
	RaftListen, RaftAdvertise string
	DataDir                   string
	// StateKey, 16, 24 or 32 bytes, encrypts the state at rest (AES);
	// without it the state is not encrypted (tests). Run sets it from
	// state_key_file.
	StateKey []byte
	// ServerTLS and ClientTLS authenticate members to each other (mutual TLS).
	ServerTLS, ClientTLS *tls.Config
	// Bootstrap is the voter list to start a new cluster with. It is used
	// only when this member has no Raft state yet: a restarted member never
	// bootstraps again. Members that join an existing cluster leave it empty.
	Bootstrap []Peer
	// Raft timing; zero values take defaults suited to a LAN.
	HeartbeatTimeout, ElectionTimeout time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries stay in the log after a snapshot.
	TrailingLogs uint64
	// SnapshotInterval is how often Raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// Dial, when set, opens the raw connection to a peer's Raft address,
	// under TLS (tests route it through a link that can be cut or slowed).
	Dial   func(addr string, timeout time.Duration) (net.Conn, error)
	Logger *slog.Logger
}

// Member is one running member of the central cluster. It owns Raft: no
// other code calls raft.Apply.
type Member struct {
	cfg       MemberConfig
	log       *slog.Logger
	raft      *raft.Raft
	fsm       *FSM
	logs      *raftboltdb.BoltStore
	transport *raft.NetworkTransport
	proposals chan *proposal
	stop      chan struct{}
	wg        sync.WaitGroup
	// leadership carries this member's gains (true) and losses of leadership.
	leadership    chan bool
	leaderChanges atomic.Uint64
	// commitSeconds, when set, is told how long each entry took to commit and apply.
	commitSeconds atomic.Pointer[func(float64)]
	closeOnce     sync.Once
}

// ErrNotLeader is returned for a write proposed to a member that is not
// the leader; nothing was submitted, so the write may be retried elsewhere.
var ErrNotLeader = errors.New("not the leader")

// ErrOutcomeUnknown is returned when leadership was lost after the write
// was submitted: it may or may not be committed by the next leader.
var ErrOutcomeUnknown = errors.New("leadership lost while the write was in flight; its outcome is unknown")

// StartMember opens the member's state and log and joins Raft.
func StartMember(cfg MemberConfig) (*Member, error) {
	if cfg.RaftAdvertise == "" {
		cfg.RaftAdvertise = cfg.RaftListen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("member", cfg.ID)
	for _, d := range []string{"raft", "state", "snapshots"} {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("data dir: %w", err)
		}
	}
	fsm, err := OpenState(StateOptions{Dir: stateDir(cfg.DataDir), Key: cfg.StateKey, Logger: log})
	if err != nil {
		return nil, err
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclogLevel(log), Output: slogWriter{log}, DisableTime: true})
	logs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft", "raft.db")})
	if err != nil {
		fsm.Close()
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	closeLog := logs.Close
	// Recent entries served from memory: replication to followers reads them back.
	cached, err := raft.NewLogCache(1024, logs)
	if err != nil {
		closeLog()
		fsm.Close()
		return nil, fmt.Errorf("open raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.DataDir, "snapshots"), 2, hlog)
	if err != nil {
		closeLog()
		fsm.Close()
		return nil, fmt.Errorf("open snapshots: %w", err)
	}
	stream, err := newTLSStream(cfg.RaftListen, cfg.RaftAdvertise, cfg.ServerTLS, cfg.ClientTLS, cfg.Dial)
	if err != nil {
		closeLog()
		fsm.Close()
		return nil, err
	}
	transport := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog,
	})

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.BatchApplyCh = true
	notify := make(chan bool, 16)
	rc.NotifyCh = notify
	rc.MaxAppendEntries = 256
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = cfg.HeartbeatTimeout
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	fail := func(err error) (*Member, error) {
		transport.Close()
		closeLog()
		fsm.Close()
		return nil, err
	}
	existing, err := raft.HasExistingState(cached, logs, snaps)
	if err != nil {
		return fail(fmt.Errorf("read raft state: %w", err))
	}
	if !existing && len(cfg.Bootstrap) > 0 {
		var servers []raft.Server
		for _, p := range cfg.Bootstrap {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		if err := raft.BootstrapCluster(rc, cached, logs, snaps, transport, raft.Configuration{Servers: servers}); err != nil {
			return fail(fmt.Errorf("bootstrap: %w", err))
		}
		log.Info("bootstrapped a new cluster", "voters", len(servers))
	}
	r, err := raft.NewRaft(rc, fsm, cached, logs, snaps, transport)
	if err != nil {
		return fail(fmt.Errorf("start raft: %w", err))
	}
	m := &Member{cfg: cfg, log: log, raft: r, fsm: fsm, logs: logs, transport: transport,
		proposals: make(chan *proposal, 4096), stop: make(chan struct{}), leadership: make(chan bool, 16)}
	m.wg.Add(2)
	go m.propose()
	go m.watchLeadership(notify)
	return m, nil
}

// Close leaves Raft (without leaving the cluster) and closes the state.
func (m *Member) Close() error {
	var errs []error
	m.closeOnce.Do(func() {
		close(m.stop)
		// Shutting Raft down first fails the futures still pending, so the
		// proposer's waiters end at once.
		errs = append(errs, m.raft.Shutdown().Error())
		m.wg.Wait()
		errs = append(errs, m.transport.Close(), m.logs.Close(), m.fsm.Close())
	})
	return errors.Join(errs...)
}

// watchLeadership counts this member's leadership changes and passes them on.
func (m *Member) watchLeadership(notify <-chan bool) {
	defer m.wg.Done()
	for {
		select {
		case isLeader := <-notify:
			m.leaderChanges.Add(1)
			m.log.Info("leadership changed", "leader", isLeader)
			select {
			case m.leadership <- isLeader:
			default: // nobody listening; the count is kept
			}
		case <-m.stop:
			return
		}
	}
}

// Leadership reports this member's gains (true) and losses (false) of leadership.
func (m *Member) Leadership() <-chan bool { return m.leadership }

// LeaderChanges counts the times this member gained or lost leadership.
func (m *Member) LeaderChanges() uint64 { return m.leaderChanges.Load() }

// ID is the member's Raft ID.
func (m *Member) ID() string { return m.cfg.ID }

// FSM returns the member's state machine.
func (m *Member) FSM() *FSM { return m.fsm }

// IsLeader reports whether this member leads now.
func (m *Member) IsLeader() bool { return m.raft.State() == raft.Leader }

// Leader returns the leader's ID and Raft address, empty when unknown.
func (m *Member) Leader() (id, addr string) {
	a, i := m.raft.LeaderWithID()
	return string(i), string(a)
}

// State is the member's Raft state (Leader, Follower, Candidate, Shutdown).
func (m *Member) State() string { return m.raft.State().String() }

// Stats are Raft's own figures (term, indexes, …).
func (m *Member) Stats() map[string]string { return m.raft.Stats() }

// Servers returns the cluster's configuration.
func (m *Member) Servers() ([]raft.Server, error) {
	f := m.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// Join adds a voter; only the leader can.
func (m *Member) Join(ctx context.Context, p Peer) error {
	return waitFuture(ctx, m.raft.AddVoter(raft.ServerID(p.ID), raft.ServerAddress(p.Addr), 0, 0))
}

// Remove removes a member; only the leader can.
func (m *Member) Remove(ctx context.Context, id string) error {
	return waitFuture(ctx, m.raft.RemoveServer(raft.ServerID(id), 0, 0))
}

// TransferLeadership hands leadership to another voter.
func (m *Member) TransferLeadership(ctx context.Context) error {
	return waitFuture(ctx, m.raft.LeadershipTransfer())
}

// Snapshot takes a snapshot now.
func (m *Member) Snapshot(ctx context.Context) error { return waitFuture(ctx, m.raft.Snapshot()) }

// Barrier waits until every entry committed before it is applied here. On
// the leader that makes the next local read linearizable.
func (m *Member) Barrier(ctx context.Context) error { return waitFuture(ctx, m.raft.Barrier(0)) }

func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if errors.Is(err, raft.ErrNotLeader) {
			return ErrNotLeader
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// proposal is one caller's commands waiting to ride a log entry.
type proposal struct {
	cmds    []*xasov1.CentralCommand
	results chan proposalResult
}

type proposalResult struct {
	results []*xasov1.CommandResult
	err     error
}

const (
	maxEntryCommands = 1024
	maxEntryBytes    = 512 << 10
	maxInFlight      = 16
)

// Propose stamps the commands with actor and now and commits them through
// Raft on this member, which must be the leader. It returns one result per
// command once the entry carrying them is applied here. Commands of many
// callers share log entries, and several entries are in flight at once.
func (m *Member) Propose(ctx context.Context, actor string, now time.Time, cmds ...*xasov1.CentralCommand) ([]*xasov1.CommandResult, error) {
	if !m.IsLeader() {
		return nil, ErrNotLeader
	}
	for _, c := range cmds {
		c.Actor, c.Time = actor, timestamppb.New(now)
	}
	p := &proposal{cmds: cmds, results: make(chan proposalResult, 1)}
	select {
	case m.proposals <- p:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-m.stop:
		return nil, raft.ErrRaftShutdown
	}
	select {
	case r := <-p.results:
		return r.results, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-m.stop:
		return nil, fmt.Errorf("member shutting down, outcome unknown: %w", raft.ErrRaftShutdown)
	}
}

// propose is the goroutine that packs waiting proposals into log entries.
func (m *Member) propose() {
	defer m.wg.Done()
	inflight := make(chan struct{}, maxInFlight)
	var waiters sync.WaitGroup
	defer waiters.Wait()
	for {
		var batch []*proposal
		select {
		case p := <-m.proposals:
			batch = append(batch, p)
		case <-m.stop:
			return
		}
		n, size := len(batch[0].cmds), proto.Size(&xasov1.CentralCommandBatch{Commands: batch[0].cmds})
	fill:
		for n < maxEntryCommands && size < maxEntryBytes {
			select {
			case p := <-m.proposals:
				batch = append(batch, p)
				n += len(p.cmds)
				size += proto.Size(&xasov1.CentralCommandBatch{Commands: p.cmds})
			default:
				break fill
			}
		}
		entry := &xasov1.CentralCommandBatch{Format: batchFormat}
		for _, p := range batch {
			entry.Commands = append(entry.Commands, p.cmds...)
		}
		data, err := proto.Marshal(entry)
		if err != nil {
			for _, p := range batch {
				p.results <- proposalResult{err: fmt.Errorf("encode entry: %w", err)}
			}
			continue
		}
		select {
		case inflight <- struct{}{}:
		case <-m.stop:
			for _, p := range batch {
				p.results <- proposalResult{err: raft.ErrRaftShutdown}
			}
			return
		}
		submitted := time.Now()
		f := m.raft.Apply(data, 30*time.Second)
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			defer func() { <-inflight }()
			err := m.wait(f)
			if obs := m.commitSeconds.Load(); err == nil && obs != nil {
				(*obs)(time.Since(submitted).Seconds())
			}
			if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
				err = fmt.Errorf("%w (%v)", ErrOutcomeUnknown, err)
			}
			var results []*xasov1.CommandResult
			if err == nil {
				results, _ = f.Response().([]*xasov1.CommandResult)
				if len(results) != len(entry.Commands) {
					err = fmt.Errorf("entry %d answered %d results for %d commands", f.Index(), len(results), len(entry.Commands))
				}
			}
			off := 0
			for _, p := range batch {
				if err != nil {
					p.results <- proposalResult{err: err}
					continue
				}
				p.results <- proposalResult{results: results[off : off+len(p.cmds)]}
				off += len(p.cmds)
			}
		}()
	}
}

// wait waits for an entry's future. Raft answers every future it takes
// off its queue, but one still queued when Raft shuts down is never
// answered: on Close the wait ends with the outcome unknown (the entry may
// still commit on the other members). The goroutine left waiting on such
// a future ends with the process.
func (m *Member) wait(f raft.ApplyFuture) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-m.stop:
		select {
		case err := <-done:
			return err
		case <-time.After(time.Second):
			return fmt.Errorf("%w (%v)", ErrOutcomeUnknown, raft.ErrRaftShutdown)
		}
	}
}

// tlsStream is a raft.StreamLayer over mutual TLS.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
	dial      func(addr string, timeout time.Duration) (net.Conn, error)
}

func newTLSStream(listen, advertise string, server, client *tls.Config, dial func(string, time.Duration) (net.Conn, error)) (*tlsStream, error) {
	if server == nil || client == nil {
		return nil, errors.New("raft transport: TLS configuration required")
	}
	ln, err := tls.Listen("tcp", listen, server)
	if err != nil {
		return nil, fmt.Errorf("raft transport: listen %s: %w", listen, err)
	}
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil || adv.IP == nil || adv.IP.IsUnspecified() {
		adv = ln.Addr().(*net.TCPAddr)
	}
	if dial == nil {
		dial = func(addr string, timeout time.Duration) (net.Conn, error) {
			return net.DialTimeout("tcp", addr, timeout)
		}
	}
	return &tlsStream{Listener: ln, advertise: adv, client: client, dial: dial}, nil
}

// Dial opens a TLS connection to a peer (raft.StreamLayer).
func (s *tlsStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	raw, err := s.dial(string(addr), timeout)
	if err != nil {
		return nil, err
	}
	cfg := s.client.Clone()
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(string(addr))
		cfg.ServerName = host
	}
	conn := tls.Client(raw, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return conn, nil
}

// Addr is the address peers dial (raft.StreamLayer).
func (s *tlsStream) Addr() net.Addr { return s.advertise }

// hclogLevel is the hclog level matching the lowest level log writes
// (log_level), so that Raft's own logs follow it.
func hclogLevel(log *slog.Logger) hclog.Level {
	ctx := context.Background()
	switch {
	case log.Enabled(ctx, slog.LevelDebug):
		return hclog.Debug
	case log.Enabled(ctx, slog.LevelInfo):
		return hclog.Info
	case log.Enabled(ctx, slog.LevelWarn):
		return hclog.Warn
	default:
		return hclog.Error
	}
}

// slogWriter carries Raft's hclog lines into slog, each at its own level
// (hclog writes "[DEBUG] raft: …", "[INFO]  raft: …").
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := string(trimNL(p))
	level := slog.LevelWarn
	for _, l := range []struct {
		tag   string
		level slog.Level
	}{{"[TRACE]", slog.LevelDebug}, {"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERROR]", slog.LevelError}} {
		if rest, ok := strings.CutPrefix(line, l.tag); ok {
			line, level = strings.TrimSpace(rest), l.level
			break
		}
	}
	w.l.Log(context.Background(), level, line)
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = slogWriter{}
