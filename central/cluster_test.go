package central

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/internal/freeport"
	"github.com/xaso/xaso/pki"
)

// testCluster is a cluster of members on loopback with real TCP and mutual TLS.
type testCluster struct {
	t       testing.TB
	mu      sync.Mutex // guards members
	ca      *pki.CA
	members map[string]*Member
	peers   []Peer
	dirs    map[string]string
	tuning  func(*MemberConfig)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func (c *testCluster) tlsFor(id string) (*tls.Config, *tls.Config) {
	c.t.Helper()
	pair, err := c.ca.Issue(id, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, 24*time.Hour, time.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	srv, err := pki.ServerConfig(pair, c.ca.CertPEM)
	if err != nil {
		c.t.Fatal(err)
	}
	cli, err := pki.ClientConfig(pair, c.ca.CertPEM)
	if err != nil {
		c.t.Fatal(err)
	}
	return srv, cli
}

// newCluster starts n members bootstrapped together and waits for a leader.
func newCluster(t testing.TB, n int, tuning ...func(*MemberConfig)) *testCluster {
	t.Helper()
	ca, err := pki.NewCA("xaso test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, ca: ca, members: map[string]*Member{}, dirs: map[string]string{}}
	c.tuning = func(cfg *MemberConfig) {
		for _, f := range tuning {
			f(cfg)
		}
	}
	for i := range n {
		c.peers = append(c.peers, Peer{ID: fmt.Sprintf("central-%d", i+1), Addr: freeAddr(t)})
	}
	for _, p := range c.peers {
		c.dirs[p.ID] = t.TempDir()
		c.start(p, c.peers)
	}
	t.Cleanup(func() {
		for _, m := range c.running() {
			m.Close()
		}
	})
	c.leader()
	return c
}

func (c *testCluster) start(p Peer, bootstrap []Peer) *Member {
	c.t.Helper()
	srv, cli := c.tlsFor(p.ID)
	cfg := MemberConfig{
		ID: p.ID, RaftListen: p.Addr, DataDir: c.dirs[p.ID], ServerTLS: srv, ClientTLS: cli, Bootstrap: bootstrap,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	c.tuning(&cfg)
	m, err := StartMember(cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", p.ID, err)
	}
	c.mu.Lock()
	c.members[p.ID] = m
	c.mu.Unlock()
	return m
}

// member returns a running member, nil when it is stopped.
func (c *testCluster) member(id string) *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id]
}

// running returns the running members.
func (c *testCluster) running() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Member
	for _, m := range c.members {
		out = append(out, m)
	}
	return out
}

// stop closes a member as a crash would leave it: its data stays.
func (c *testCluster) stop(id string) {
	c.t.Helper()
	c.mu.Lock()
	m := c.members[id]
	delete(c.members, id)
	c.mu.Unlock()
	if err := m.Close(); err != nil {
		c.t.Logf("close %s: %v", id, err)
	}
}

// leader waits (bounded) until the running members agree on a leader.
func (c *testCluster) leader() *Member {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.running() {
			if m.IsLeader() {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond) // polling for an election, bounded by the deadline
	}
	c.t.Fatal("no leader within 15 s")
	return nil
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
	}
}

func putCommune(code, name string) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCommune{PutCommune: &xasov1.PutCommuneCommand{Commune: &xasov1.Commune{Code: code, Name: name}}}}
}

// write proposes on whichever member leads, retrying through elections.
func (c *testCluster) write(ctx context.Context, cmd *xasov1.CentralCommand) (*xasov1.CommandResult, error) {
	for {
		l := c.leader()
		res, err := l.Propose(ctx, "operator", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), proto.Clone(cmd).(*xasov1.CentralCommand))
		if err == nil {
			return res[0], nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond) // back off before retrying through an election
	}
}

func TestLeaderKilledNewLeaderElectedWritesResumeNothingLost(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stopWriting := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopWriting:
					return
				default:
				}
				code := fmt.Sprintf("%d%04d", w+1, i)
				res, err := c.write(ctx, putCommune(code, "Xã "+code))
				if err != nil {
					return
				}
				if res.GetCode() == 0 {
					mu.Lock()
					acked = append(acked, code)
					mu.Unlock()
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	eventually(t, 10*time.Second, "writes before the kill", func() bool { return count() >= 100 })

	old := c.leader()
	killed := time.Now()
	c.stop(old.ID())
	var next *Member
	eventually(t, 10*time.Second, "a new leader", func() bool {
		for _, m := range c.running() {
			if m.IsLeader() {
				next = m
				return true
			}
		}
		return false
	})
	t.Logf("new leader %s after %v (election timeout 300 ms)", next.ID(), time.Since(killed).Round(time.Millisecond))
	atKill := count()
	eventually(t, 10*time.Second, "writes after the kill", func() bool { return count() >= atKill+100 })
	close(stopWriting)
	wg.Wait()

	// The killed member comes back and catches up; every acknowledged write is on every member.
	c.start(Peer{ID: old.ID(), Addr: c.addrOf(old.ID())}, nil)
	final := c.leader()
	if err := final.Barrier(ctx); err != nil {
		t.Fatal(err)
	}
	want := final.FSM().AppliedIndex()
	for _, m := range c.running() {
		if err := m.FSM().WaitApplied(ctx, want); err != nil {
			t.Fatalf("%s catching up: %v", m.ID(), err)
		}
		got, err := m.FSM().Communes()
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, cm := range got {
			have[cm.GetCode()] = true
		}
		for _, code := range acked {
			if !have[code] {
				t.Fatalf("%s lost acknowledged commune %s", m.ID(), code)
			}
		}
		t.Logf("%s holds %d communes, %d acknowledged", m.ID(), len(got), len(acked))
	}
}

func (c *testCluster) addrOf(id string) string {
	for _, p := range c.peers {
		if p.ID == id {
			return p.Addr
		}
	}
	c.t.Fatalf("no peer %s", id)
	return ""
}

func TestMemberDownForManyWritesCatchesUpFromASnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *MemberConfig) {
		cfg.SnapshotThreshold, cfg.TrailingLogs = 64, 16
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var follower string
	for _, m := range c.running() {
		if !m.IsLeader() {
			follower = m.ID()
			break
		}
	}
	c.stop(follower)
	for i := range 600 {
		code := fmt.Sprintf("%05d", 10000+i)
		if res, err := c.write(ctx, putCommune(code, "Xã "+code)); err != nil || res.GetCode() != 0 {
			t.Fatalf("write %d: %v %v", i, res, err)
		}
	}
	l := c.leader()
	if err := l.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	// The log the follower would need is gone: only a snapshot can bring it back.
	first, err := l.logs.FirstIndex()
	if err != nil || first <= 1 {
		t.Fatalf("leader's log starts at %d (%v): not compacted", first, err)
	}
	m := c.start(Peer{ID: follower, Addr: c.addrOf(follower)}, nil)
	if err := m.FSM().WaitApplied(ctx, l.FSM().AppliedIndex()); err != nil {
		t.Fatalf("follower catching up: %v", err)
	}
	if m.FSM().Restores() == 0 {
		t.Fatalf("follower caught up without installing a snapshot: %v", m.Stats())
	}
	got, _ := m.FSM().Communes()
	if len(got) != 600 {
		t.Fatalf("follower holds %d communes, want 600", len(got))
	}
	if err := sameState(withoutAudit(dump(t, l.FSM())), withoutAudit(dump(t, m.FSM()))); err != nil {
		// Audit keys are identical too, but the leader may have applied more since.
		t.Fatalf("follower's state differs from the leader's: %v", err)
	}
}

func TestRemovedMemberIsRefused(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := c.leader()
	var gone *Member
	for _, m := range c.running() {
		if m != l {
			gone = m
			break
		}
	}
	if err := l.Remove(ctx, gone.ID()); err != nil {
		t.Fatal(err)
	}
	before := gone.FSM().AppliedIndex()
	for i := range 20 {
		code := fmt.Sprintf("%05d", 20000+i)
		if res, err := c.write(ctx, putCommune(code, "Xã "+code)); err != nil || res.GetCode() != 0 {
			t.Fatalf("write after removal: %v %v", res, err)
		}
	}
	// The removed member gets nothing more, cannot lead, and its writes are refused.
	if _, err := gone.Propose(ctx, "operator", time.Now(), putCommune("29999", "Xã Z")); err == nil {
		t.Fatal("the removed member took a write")
	}
	servers, err := c.leader().Servers()
	if err != nil || len(servers) != 2 {
		t.Fatalf("configuration after removal: %v %v", servers, err)
	}
	if got := gone.FSM().AppliedIndex(); got > before+1 {
		t.Fatalf("the removed member applied up to %d after removal at %d", got, before)
	}
	// Restarted, it still stays out: the two left keep the leadership.
	c.stop(gone.ID())
	c.start(Peer{ID: gone.ID(), Addr: c.addrOf(gone.ID())}, c.peers)
	for i := range 10 {
		code := fmt.Sprintf("%05d", 21000+i)
		if res, err := c.write(ctx, putCommune(code, "Xã "+code)); err != nil || res.GetCode() != 0 {
			t.Fatalf("write after restart: %v %v", res, err)
		}
	}
	if c.member(gone.ID()).IsLeader() {
		t.Fatal("the removed member leads")
	}
}

func TestMemberWithAForeignCertificateIsRefused(t *testing.T) {
	c := newCluster(t, 3)
	other, err := pki.NewCA("someone else", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := other.Issue("intruder", []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour, time.Now())
	cli, _ := pki.ClientConfig(pair, other.CertPEM)
	cli.InsecureSkipVerify = true // the intruder trusts anyone; the members must not trust it
	conn, err := tls.Dial("tcp", c.peers[0].Addr, cli)
	if err == nil {
		// TLS 1.3 reports a refused client certificate on the first read.
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a member accepted a connection from a certificate of another CA")
	}
}
