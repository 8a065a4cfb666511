package replication_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/province"
	"github.com/xaso/xaso/replication"
	"github.com/xaso/xaso/replication/linksim"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

func testLogger() *slog.Logger {
	if os.Getenv("XASO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func startProvince(t *testing.T, communes int, links []*linksim.Link, mutate ...func(*province.Options)) *province.Province {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := province.Options{
		Dir: t.TempDir(), Communes: sample.SampleProvince().Communes[:communes], Fast: true, Logger: testLogger(),
		Link: func(i int) *linksim.Link {
			if i < len(links) {
				return links[i]
			}
			return nil
		},
	}
	for _, m := range mutate {
		m(&opts)
	}
	p, err := province.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close the province: %v", err)
		}
	})
	return p
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, within, state)
		}
		time.Sleep(25 * time.Millisecond) // polling, bounded by the deadline
	}
}

// headHash is the hash of a node's last outbox record.
func headHash(t testing.TB, n *node.Node) (int64, []byte) {
	last, _ := n.Store().OutboxHead()
	if last == 0 {
		return 0, nil
	}
	recs, err := n.Store().ReadOutbox(last, 1, 1<<20)
	if err != nil || len(recs) != 1 {
		t.Fatalf("read the outbox head: %v", err)
	}
	return last, recs[0].GetHash()
}

// converged says whether central holds exactly every node's outbox: the
// same last sequence and the same hash there (central verified the chain
// up to it, so the same hash means the same records).
func converged(t testing.TB, p *province.Province) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := p.Central().ListNodes(p.Operator(ctx), &xasov1.ListNodesRequest{})
	if err != nil {
		return false, err.Error()
	}
	at := map[string]*xasov1.NodeStatus{}
	for _, n := range resp.GetNodes() {
		at[n.GetNode().GetCommuneCode()] = n
	}
	for _, n := range p.Nodes() {
		nd := n.Node()
		if nd == nil {
			return false, n.Commune.Code + " is stopped"
		}
		last, hash := headHash(t, nd)
		_, acked := nd.Store().OutboxHead()
		c, ok := at[n.Commune.Code]
		if !ok {
			return false, n.Commune.Code + " is not enrolled yet"
		}
		if c.GetAckedSequence() != last || acked != last {
			return false, fmt.Sprintf("%s: node at %d (acked %d), central at %d", n.Commune.Code, last, acked, c.GetAckedSequence())
		}
		if last > 0 && !bytes.Equal(c.GetAckedHash(), hash) {
			return false, fmt.Sprintf("%s: central's hash at %d differs from the node's", n.Commune.Code, last)
		}
	}
	// Every dossier transferred has reached the commune it went to.
	transferred, err := node.ParseFilter("state = TRANSFERRED")
	if err != nil {
		return false, err.Error()
	}
	for _, n := range p.Nodes() {
		out, _, err := n.Node().Store().List(transferred, 1000, "", time.Now())
		if err != nil {
			return false, err.Error()
		}
		for _, d := range out {
			for _, m := range p.Nodes() {
				if m.Commune.Code != d.GetTransferCommuneCode() {
					continue
				}
				if _, err := m.Node().Store().Get(d.GetCode(), false); err != nil {
					return false, fmt.Sprintf("%s: not yet at %s", d.GetCode(), m.Commune.Code)
				}
			}
		}
	}
	return true, ""
}

// allDossiers lists every dossier a node holds, from its store: what a
// test looks at is no reader's read, and writes no access entry (which
// would move the node's chain under the test's feet).
func allDossiers(t testing.TB, n *node.Node) []*xasov1.Dossier {
	t.Helper()
	every, err := node.ParseFilter("")
	if err != nil {
		t.Fatal(err)
	}
	var out []*xasov1.Dossier
	token := ""
	for {
		ds, next, err := n.Store().List(every, 500, token, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ds...)
		if token = next; token == "" {
			return out
		}
	}
}

// fullDossier is a dossier with its events, from a node's store (see
// allDossiers).
func fullDossier(t testing.TB, n *node.Node, code string) *xasov1.Dossier {
	t.Helper()
	d, err := n.Store().Get(code, true)
	if err != nil {
		t.Fatalf("%s: %v", code, err)
	}
	return d
}

// checkProvince checks, once converged, that every node's chain verifies,
// that central's dossiers are the nodes' (no event lost or doubled), and
// that the province report equals the report computed from the nodes'
// own dossiers.
func checkProvince(t *testing.T, p *province.Province) {
	t.Helper()
	ctx := p.Records(context.Background())
	// One linearizable read brings the member answering up to date; the
	// reads after it are local and reflect at least that.
	if _, err := p.Central().ListNodes(ctx, &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE}); err != nil {
		t.Fatal(err)
	}
	// Each dossier once: a transferred one counts where it went.
	owners := map[string]*xasov1.Dossier{}
	holder := map[string]*node.Node{}
	transferred := 0
	for _, n := range p.Nodes() {
		nd := n.Node()
		if err := nd.Store().Verify(); err != nil {
			t.Errorf("%s: %v", n.Commune.Code, err)
		}
		for _, d := range allDossiers(t, nd) {
			if d.GetState() == dossier.Transferred {
				transferred++
				if _, ok := owners[d.GetCode()]; ok {
					continue
				}
			}
			owners[d.GetCode()], holder[d.GetCode()] = d, nd
		}
	}
	var ds []*xasov1.Dossier
	for code, d := range owners {
		ds = append(ds, d)
		if d.GetState() == dossier.Transferred {
			t.Errorf("%s: transferred to %s, which does not hold it", code, d.GetTransferCommuneCode())
		}
		full := fullDossier(t, holder[code], code)
		got, err := p.Central().GetProvinceDossier(ctx, &xasov1.GetProvinceDossierRequest{Code: code})
		if err != nil {
			t.Fatalf("%s at central: %v", code, err)
		}
		if got.GetDossier().GetCommuneCode() != d.GetCommuneCode() || len(got.GetDossier().GetEvents()) != len(full.GetEvents()) || got.GetDossier().GetState() != d.GetState() {
			t.Fatalf("%s: central has it at %s with %d events (%v), the owner %s with %d (%v)", code, got.GetDossier().GetCommuneCode(), len(got.GetDossier().GetEvents()),
				got.GetDossier().GetState(), d.GetCommuneCode(), len(full.GetEvents()), d.GetState())
		}
	}
	t.Logf("%d dossiers transferred between communes, each with one owner", transferred)
	asOf := time.Now()
	rep, err := p.Central().GetPerformanceReport(ctx, &xasov1.GetPerformanceReportRequest{
		FromMonth: "2020-01", ToMonth: "2029-12", GroupBy: []string{"month", "commune", "procedure"}, AsOfTime: timestamp(asOf),
		Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := central.ReportFromDossiers(ds, asOf)
	if len(rep.GetRows()) != len(want) {
		t.Fatalf("report: %d rows, the nodes' dossiers make %d", len(rep.GetRows()), len(want))
	}
	for i, r := range rep.GetRows() {
		w := want[i]
		if r.GetMonth() != w.GetMonth() || r.GetCommuneCode() != w.GetCommuneCode() || r.GetProcedureCode() != w.GetProcedureCode() ||
			!proto.Equal(r.GetCounts(), w.GetCounts()) || r.GetOverdueNow() != w.GetOverdueNow() {
			t.Fatalf("report row %d: %v, the nodes' dossiers make %v", i, r, w)
		}
	}
	t.Logf("%d dossiers, %d report rows agree", len(ds), len(want))
}

func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("XASO_FAULT_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("XASO_FAULT_SEED: %v", err)
		}
	}
	t.Logf("fault schedule seed %d (XASO_FAULT_SEED=%d replays it)", s, s)
	return s
}

// clerks runs simulated clerks on every running node until ctx ends.
func clerks(ctx context.Context, p *province.Province, pause time.Duration, seed uint64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, n := range p.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *workload.Clerks
			var current *node.Node
			restarts := 0
			for ctx.Err() == nil {
				nd := n.Node()
				if nd == nil { // restarting
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if nd != current {
					restarts++
					current, c = nd, workload.New(workload.InProcess(nd.Server(), node.ActAs), seed+uint64(i)*7919+uint64(restarts), slog.New(slog.DiscardHandler))
					for _, m := range p.Nodes() {
						if m != n {
							c.TransferTo = append(c.TransferTo, m.Commune.Code)
						}
					}
				}
				_ = c.Step(ctx) // a step refused while the node stops is fine: clerks retry
				time.Sleep(pause)
			}
		}()
	}
	return &wg
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// TestRandomFaultsLoseNothing runs clerks on four nodes while a seeded
// schedule cuts, slows and half-opens their links, restarts nodes and
// stops central members (the leader among them) one at a time. After
// healing, central holds exactly every node's outbox and the province
// report equals the one computed from the nodes' own dossiers.
func TestRandomFaultsLoseNothing(t *testing.T) {
	s := seed(t)
	rng := rand.New(rand.NewPCG(s, s^0xfa017))
	links := []*linksim.Link{
		linksim.New(linksim.Profile{}),
		linksim.New(linksim.Profile{Delay: 30 * time.Millisecond, BytesPerSecond: 64 << 10}),
		linksim.New(linksim.Profile{Delay: 5 * time.Millisecond}),
		linksim.New(linksim.Profile{Delay: 10 * time.Millisecond, BytesPerSecond: 256 << 10}),
	}
	p := startProvince(t, len(links), links)
	ctx, stop := context.WithCancel(context.Background())
	wg := clerks(ctx, p, 3*time.Millisecond, s)

	var schedule []string
	end := time.Now().Add(8 * time.Second)
	for time.Now().Before(end) {
		i := rng.IntN(len(links))
		l, n := links[i], p.Nodes()[i]
		hold := time.Duration(200+rng.IntN(1500)) * time.Millisecond
		switch f := rng.IntN(6); f {
		case 0:
			schedule = append(schedule, fmt.Sprintf("cut %s %v", n.Commune.Code, hold))
			l.Cut()
			time.Sleep(hold) // the fault lasts this long
			l.Heal()
		case 1:
			schedule = append(schedule, fmt.Sprintf("half-open %s %v", n.Commune.Code, hold+time.Second))
			l.HalfOpen()
			time.Sleep(hold + time.Second) // long enough for keepalives to notice
			l.Heal()
		case 2:
			prof := linksim.Profile{Delay: time.Duration(rng.IntN(150)) * time.Millisecond, BytesPerSecond: int64(16<<10 + rng.IntN(256<<10))}
			schedule = append(schedule, fmt.Sprintf("slow %s %+v", n.Commune.Code, prof))
			l.SetProfile(prof)
		case 3:
			schedule = append(schedule, fmt.Sprintf("restart node %s", n.Commune.Code))
			if err := p.StopNode(i); err != nil {
				t.Fatal(err)
			}
			if err := p.StartNode(i); err != nil {
				t.Fatal(err)
			}
		default:
			m := rng.IntN(3)
			if f == 4 { // the leader
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				id, err := p.WaitLeader(wctx)
				cancel()
				if err != nil {
					t.Fatal(err)
				}
				fmt.Sscanf(id, "central-%d", &m)
				m--
			}
			schedule = append(schedule, fmt.Sprintf("stop member %d for %v", m+1, hold))
			if err := p.StopMember(m); err != nil {
				t.Fatal(err)
			}
			time.Sleep(hold) // the member is down this long
			if err := p.StartMember(m); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond) // between faults
	}
	stop()
	wg.Wait()
	for _, l := range links {
		l.Heal()
		l.SetProfile(linksim.Profile{})
	}
	t.Logf("schedule: %v", schedule)
	healed := time.Now()
	eventually(t, 60*time.Second, "central holds every node's outbox", func() (bool, string) { return converged(t, p) })
	t.Logf("converged %v after healing", time.Since(healed).Round(time.Millisecond))
	checkProvince(t, p)
}

// rawPush is a node's push stream driven by hand.
type rawPush struct {
	t      *testing.T
	stream xasov1.ReplicationService_PushClient
	codec  *replication.Codec
	id     uint64
}

func (r *rawPush) send(recs []*xasov1.OutboxRecord) {
	r.t.Helper()
	r.id++
	req := &xasov1.PushRequest{BatchId: r.id}
	if err := r.codec.Encode(req, recs); err != nil {
		r.t.Fatal(err)
	}
	if err := r.stream.Send(req); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawPush) answer() (*xasov1.PushResponse, error) { return r.stream.Recv() }

// TestDuplicateReorderedAndTamperedDeliveryIsExactlyOnce sends a node's
// records by hand, out of order, twice, overlapping and tampered with:
// central takes each exactly once, in order, and refuses what breaks the
// chain; the node, restarted, continues from what central holds.
func TestDuplicateReorderedAndTamperedDeliveryIsExactlyOnce(t *testing.T) {
	link := linksim.New(linksim.Profile{})
	p := startProvince(t, 1, []*linksim.Link{link})
	n := p.Nodes()[0]
	eventually(t, 20*time.Second, "the node enrolls", func() (bool, string) {
		id, err := n.Node().Store().Identity()
		return len(id.GetCertificatePem()) > 0, fmt.Sprint(err)
	})
	link.Cut()
	c := workload.New(workload.InProcess(n.Node().Server(), node.ActAs), 3, slog.New(slog.DiscardHandler))
	for range 40 {
		if err := c.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.StopNode(0); err != nil {
		t.Fatal(err)
	}
	st, err := node.OpenStore(node.StoreOptions{Dir: n.Config.DataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.Identity()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := st.ReadOutbox(1, 20, 1<<30)
	st.Close()
	if err != nil || len(recs) != 20 {
		t.Fatalf("outbox: %d records, %v", len(recs), err)
	}

	tc, err := pki.ClientConfig(pki.Pair{CertPEM: id.GetCertificatePem(), KeyPEM: id.GetKeyPem()}, id.GetCaPem())
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName = "127.0.0.1"
	conn, err := grpc.NewClient("passthrough:///"+p.Members()[1].Config.APIListen, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	codec, err := replication.NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	open := func() *rawPush {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		s, err := xasov1.NewReplicationServiceClient(conn).Push(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return &rawPush{t: t, stream: s, codec: codec}
	}
	expect := func(r *rawPush, acked, next int64, accepted, dups int32) {
		t.Helper()
		a, err := r.answer()
		if err != nil {
			t.Fatal(err)
		}
		if a.GetAckedSequence() != acked || a.GetNextSequence() != next || a.GetAccepted() != accepted || a.GetDuplicates() != dups {
			t.Fatalf("answer %v; want acked %d next %d accepted %d duplicates %d", a, acked, next, accepted, dups)
		}
	}
	r := open()
	expect(r, 0, 1, 0, 0) // central's mark first
	r.send(recs[10:20])   // ahead of the mark: a gap, nothing taken
	expect(r, 0, 1, 0, 0)
	r.send(recs[0:10])
	expect(r, 10, 11, 10, 0)
	r.send(recs[0:10]) // again: all duplicates
	expect(r, 10, 11, 0, 10)
	r.send(recs[4:15]) // overlapping
	expect(r, 15, 16, 5, 6)

	// A tampered record is refused for its content: not a gap to resend,
	// a block of the commune's chain that the answer names.
	forged := proto.Clone(recs[15]).(*xasov1.OutboxRecord)
	forged.Event.Actor = "someone.else"
	r.send([]*xasov1.OutboxRecord{forged})
	if a, err := r.answer(); err != nil || a.GetBlocked().GetSequence() != 16 || codes.Code(a.GetBlocked().GetCode()) != codes.DataLoss || a.GetAckedSequence() != 15 {
		t.Fatalf("a tampered record: %v, %v; want a block at 16 for DataLoss", a, err)
	}
	// A new stream hears of the block first. The member answering is a
	// follower: its mark may lag the leader's for a moment (the node would
	// resend what it lacks, as duplicates).
	r = open()
	if a, err := r.answer(); err != nil || a.GetAckedSequence() < 10 || a.GetAckedSequence() > 15 || a.GetNextSequence() != a.GetAckedSequence()+1 {
		t.Fatalf("central's mark on a new stream: %v, %v; want 10 to 15", a, err)
	}
	// A forged copy of a record central holds is refused too, and the
	// first block stays.
	forged = proto.Clone(recs[3]).(*xasov1.OutboxRecord)
	forged.Event.Actor = "someone.else"
	r.send([]*xasov1.OutboxRecord{forged})
	if a, err := r.answer(); err != nil || a.GetBlocked().GetSequence() != 16 || a.GetDuplicates() != 0 {
		t.Fatalf("a forged duplicate: %v, %v; want the block at 16", a, err)
	}
	// The operator resolves it (the forger's certificate is this node's
	// own here: the node is honest, its store intact) and lifts the block.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.Central().UnblockCommuneChain(p.Operator(ctx), &xasov1.UnblockCommuneChainRequest{CommuneCode: p.Nodes()[0].Commune.Code, Sequence: 15}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("unblock at the wrong sequence: %v", err)
	}
	if _, err := p.Central().UnblockCommuneChain(p.Operator(ctx), &xasov1.UnblockCommuneChainRequest{CommuneCode: p.Nodes()[0].Commune.Code, Sequence: 16}); err != nil {
		t.Fatal(err)
	}

	// The node, back with its link, continues from central's mark.
	link.Heal()
	if err := p.StartNode(0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the node catches up", func() (bool, string) { return converged(t, p) })
	checkProvince(t, p)
}

// TestRevokedNodeIsRefused revokes a node: its streams end and central
// takes nothing more from it, while the node keeps serving its clerks.
func TestRevokedNodeIsRefused(t *testing.T) {
	p := startProvince(t, 1, nil)
	n := p.Nodes()[0]
	ctx := p.Operator(context.Background())
	c := workload.New(workload.InProcess(n.Node().Server(), node.ActAs), 5, slog.New(slog.DiscardHandler))
	step := func(k int) {
		for range k {
			if err := c.Step(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	step(10)
	eventually(t, 20*time.Second, "central holds the outbox", func() (bool, string) { return converged(t, p) })
	if _, err := p.Central().RevokeNode(ctx, &xasov1.RevokeNodeRequest{NodeId: "nobody"}); status.Code(err) != codes.NotFound {
		t.Fatalf("revoking an unknown node: %v", err)
	}
	if _, err := p.Central().RevokeNode(ctx, &xasov1.RevokeNodeRequest{NodeId: "node-" + n.Commune.Code}); err != nil {
		t.Fatal(err)
	}
	before, _ := n.Node().Store().OutboxHead()
	step(10)
	eventually(t, 20*time.Second, "the node is told", func() (bool, string) {
		st, err := n.Node().Server().GetSyncStatus(reader(context.Background()), &xasov1.GetSyncStatusRequest{})
		return err == nil && !st.GetConnected() && strings.Contains(st.GetLastError(), "revoked"), fmt.Sprint(st, err)
	})
	nodes, err := p.Central().ListNodes(ctx, &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		t.Fatal(err)
	}
	if got := nodes.GetNodes()[0]; got.GetAckedSequence() != before || got.GetNode().GetRevokeTime() == nil {
		t.Fatalf("central after revocation: %v; want acked %d and a revoke time", got, before)
	}
}

// TestOfflineNodeServesThenCatchesUpAndLosesNothingAcrossRestarts cuts a
// node off: its clerks keep working, it restarts while cut, and once the
// link is back central gets everything. Restarted after acknowledgement,
// it resends nothing central already holds and loses nothing.
func TestOfflineNodeServesThenCatchesUpAndLosesNothingAcrossRestarts(t *testing.T) {
	link := linksim.New(linksim.Profile{Delay: 20 * time.Millisecond, BytesPerSecond: 512 << 10})
	p := startProvince(t, 2, []*linksim.Link{link})
	n := p.Nodes()[0]
	eventually(t, 20*time.Second, "the node enrolls and syncs", func() (bool, string) { return converged(t, p) })
	link.Cut()
	work := func(k int, seed uint64) {
		c := workload.New(workload.InProcess(n.Node().Server(), node.ActAs), seed, slog.New(slog.DiscardHandler))
		for range k {
			if err := c.Step(context.Background()); err != nil {
				t.Fatalf("the clerks while the link is down: %v", err)
			}
		}
	}
	work(400, 11)
	if err := p.StopNode(0); err != nil {
		t.Fatal(err)
	}
	if err := p.StartNode(0); err != nil {
		t.Fatal(err)
	}
	work(400, 12)
	st, err := n.Node().Server().GetSyncStatus(reader(context.Background()), &xasov1.GetSyncStatusRequest{})
	if err != nil || st.GetConnected() || st.GetPendingEvents() < 800 || st.GetPendingBytes() == 0 || st.GetLagSeconds() <= 0 {
		t.Fatalf("sync status while cut: %v, %v", st, err)
	}
	link.Heal()
	eventually(t, 60*time.Second, "the node catches up", func() (bool, string) { return converged(t, p) })

	// Restarted after the acknowledgement: the acknowledgement was kept.
	last, _ := n.Node().Store().OutboxHead()
	if err := p.StopNode(0); err != nil {
		t.Fatal(err)
	}
	if err := p.StartNode(0); err != nil {
		t.Fatal(err)
	}
	if l, acked := n.Node().Store().OutboxHead(); l != last || acked != last {
		t.Fatalf("after a restart: last %d acked %d, want both %d", l, acked, last)
	}
	work(50, 13)
	eventually(t, 20*time.Second, "the node syncs again", func() (bool, string) { return converged(t, p) })
	checkProvince(t, p)
}

// TestFilesFollowTheirEventsAndResumeAfterACut sends a 2.5 MB scan over a
// capped link, cuts the link in the middle of the file and heals it: the
// file reaches central whole, resending at most the chunk that was in
// flight.
func TestFilesFollowTheirEventsAndResumeAfterACut(t *testing.T) {
	link := linksim.New(linksim.Profile{Delay: 5 * time.Millisecond, BytesPerSecond: 1 << 20})
	p := startProvince(t, 1, []*linksim.Link{link})
	n := p.Nodes()[0]
	eventually(t, 20*time.Second, "the node enrolls and syncs", func() (bool, string) { return converged(t, p) })

	content := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("scan of a birth certificate, page 1 of 1\n"), 62_000)...)
	chunks := (len(content) + dossier.ChunkSize - 1) / dossier.ChunkSize
	att, err := n.Node().Server().CreateAttachment(reader(context.Background()), &xasov1.CreateAttachmentRequest{Filename: "giay-chung-sinh.pdf", ContentType: "application/pdf", Content: content})
	if err != nil {
		t.Fatal(err)
	}
	sha := att.GetAttachment().GetSha256()
	receiveWithScan(t, n.Node().Server(), sha)
	sent := func() int64 {
		st, _ := n.Node().Server().GetSyncStatus(reader(context.Background()), &xasov1.GetSyncStatusRequest{})
		return st.GetPendingAttachments()
	}
	eventually(t, 30*time.Second, "a few chunks sent", func() (bool, string) {
		c := chunksSent(t, n.Node())
		return c >= 3, fmt.Sprint(c, " chunks")
	})
	link.Cut()
	before := chunksSent(t, n.Node())
	if sent() != 1 {
		t.Fatalf("pending files while cut: %d, want 1", sent())
	}
	link.Heal()
	eventually(t, 60*time.Second, "the file at central", func() (bool, string) {
		return sent() == 0, fmt.Sprint(sent(), " pending")
	})
	total := chunksSent(t, n.Node())
	t.Logf("%d chunks for a %d-chunk file; cut after %d", total, chunks, before)
	if total > int64(chunks)+1 {
		t.Errorf("%d chunks sent for a %d-chunk file: more than one resent", total, chunks)
	}
	// The member asked may apply the last chunk a moment after the one the
	// node talked to.
	eventually(t, 10*time.Second, "the file whole at central", func() (bool, string) {
		got, err := p.Central().GetProvinceAttachment(p.Records(context.Background()), &xasov1.GetProvinceAttachmentRequest{Sha256: sha})
		return err == nil && bytes.Equal(got.GetContent(), content) && got.GetAttachment().GetFilename() == "giay-chung-sinh.pdf", fmt.Sprint(len(got.GetContent()), " bytes, ", err)
	})
}

// receiveWithScan receives a birth registration whose declaration is the
// stored file sha: what sends a file to central.
func receiveWithScan(t testing.TB, api xasov1.NodeServiceServer, sha string) {
	t.Helper()
	_, err := api.CreateDossier(node.ActAs(context.Background(), "motcua.1", xasov1.Role_ROLE_CLERK), &xasov1.CreateDossierRequest{
		ProcedureCode: "1.001193",
		Applicant:     &xasov1.Applicant{FullName: "Hà Thị Lan", IdNumber: "001190012345", Phone: "0912345678"},
		Channel:       xasov1.Channel_CHANNEL_IN_PERSON,
		Components:    []*xasov1.SubmittedComponent{{Code: "TK", AttachmentSha256: []string{sha}}, {Code: "GCS", Paper: true}},
	})
	if err != nil {
		t.Fatalf("receive a dossier with scan %s: %v", sha, err)
	}
}

func chunksSent(t *testing.T, n *node.Node) int64 {
	st, ok := n.SyncStatus()
	if !ok {
		t.Fatal("the node has no syncer")
	}
	return st.ChunksSent
}

// TestTransferToAnotherCommuneEndToEnd: a desk receives a dossier another
// commune is competent for and transfers it; the other commune's node gets
// it from central's feed, takes it and finishes it; central ends with one
// owner, and the first commune can no longer act on it.
func TestTransferToAnotherCommuneEndToEnd(t *testing.T) {
	p := startProvince(t, 2, nil)
	a, b := p.Nodes()[0], p.Nodes()[1]
	ctx := context.Background()
	clerk := node.ActAs(ctx, "motcua.1", xasov1.Role_ROLE_CLERK)
	created, err := a.Node().Server().CreateDossier(clerk, &xasov1.CreateDossierRequest{
		ProcedureCode: sample.Procedures()[0].GetCode(), Channel: xasov1.Channel_CHANNEL_IN_PERSON,
		Applicant:  &xasov1.Applicant{FullName: "Lò Văn Páo", IdNumber: "011090001234"},
		Components: paperComponents(sample.Procedures()[0]),
	})
	if err != nil {
		t.Fatal(err)
	}
	code := created.GetDossier().GetCode()
	transfer := &xasov1.TransitionDossierRequest{Code: code, Action: xasov1.Action_ACTION_TRANSFER}
	for _, bad := range []string{"", "9", a.Commune.Code} {
		transfer.TransferCommuneCode = bad
		if _, err := a.Node().Server().TransitionDossier(clerk, transfer); status.Code(err) != codes.InvalidArgument {
			t.Errorf("transfer to %q: %v, want InvalidArgument", bad, err)
		}
	}
	transfer.TransferCommuneCode = b.Commune.Code
	if _, err := a.Node().Server().TransitionDossier(clerk, transfer); err != nil {
		t.Fatal(err)
	}
	var got *xasov1.Dossier
	eventually(t, 20*time.Second, "the dossier at "+b.Commune.Code, func() (bool, string) {
		r, err := b.Node().Server().GetDossier(reader(ctx), &xasov1.GetDossierRequest{Code: code})
		got = r.GetDossier()
		return err == nil, fmt.Sprint(err)
	})
	if got.GetCommuneCode() != b.Commune.Code || got.GetState() != xasov1.State_STATE_RECEIVED || len(got.GetEvents()) != 3 {
		t.Fatalf("at %s: %v", b.Commune.Code, got)
	}
	// The new owner works on it; the first commune cannot.
	steps := []struct {
		actor string
		role  xasov1.Role
		req   *xasov1.TransitionDossierRequest
	}{
		{"motcua.2", xasov1.Role_ROLE_CLERK, &xasov1.TransitionDossierRequest{Action: xasov1.Action_ACTION_ASSIGN, Assignee: "tuphap.2"}},
		{"tuphap.2", xasov1.Role_ROLE_OFFICER, &xasov1.TransitionDossierRequest{Action: xasov1.Action_ACTION_SUBMIT}},
		{"chutich.2", xasov1.Role_ROLE_LEADER, &xasov1.TransitionDossierRequest{Action: xasov1.Action_ACTION_APPROVE}},
		{"motcua.2", xasov1.Role_ROLE_CLERK, &xasov1.TransitionDossierRequest{Action: xasov1.Action_ACTION_RETURN}},
	}
	for _, step := range steps {
		s := step.req
		s.Code = code
		if _, err := b.Node().Server().TransitionDossier(node.ActAs(ctx, step.actor, step.role), s); err != nil {
			t.Fatalf("%v at %s: %v", s.GetAction(), b.Commune.Code, err)
		}
	}
	if _, err := a.Node().Server().TransitionDossier(clerk, &xasov1.TransitionDossierRequest{Code: code, Action: xasov1.Action_ACTION_ASSIGN, Assignee: "x"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("the first commune acts on a dossier it transferred: %v", err)
	}
	// The citizen rates where the dossier was finished (Decree 118/2025
	// art. 33); not where it was transferred from.
	rating := &xasov1.Rating{Channel: xasov1.RatingChannel_RATING_CHANNEL_LOOKUP, Comment: "Nhanh gọn."}
	for _, c := range dossier.Contents {
		rating.Scores = append(rating.Scores, &xasov1.RatingScore{Content: c.Content, Level: dossier.VerySatisfied})
	}
	rating.Scores[4].Level = dossier.NotSatisfied // (đ) the staff's conduct
	if _, err := a.Node().Rate(ctx, code, rating); err == nil {
		t.Fatal("the commune that transferred the dossier recorded a rating of it")
	}
	if _, err := b.Node().Rate(ctx, code, rating); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "central holds every outbox", func() (bool, string) { return converged(t, p) })
	at, err := p.Central().GetProvinceDossier(p.Records(ctx), &xasov1.GetProvinceDossierRequest{Code: code})
	if err != nil || at.GetDossier().GetCommuneCode() != b.Commune.Code || at.GetDossier().GetState() != xasov1.State_STATE_RETURNED || len(at.GetDossier().GetEvents()) != 8 ||
		!proto.Equal(at.GetDossier().GetRating(), rating) {
		t.Fatalf("at central: %v, %v", at.GetDossier(), err)
	}
	// The rating feeds the satisfaction indicators and the per-content
	// counts, at the commune that received the dossier: receipts stay with
	// the unit that received them (Decree 118/2025 art. 20(1)(b)).
	rep, err := p.Central().GetPerformanceReport(p.Records(ctx), &xasov1.GetPerformanceReportRequest{
		FromMonth: "2020-01", ToMonth: "2029-12", GroupBy: []string{"commune"}, Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE,
	})
	if err != nil {
		t.Fatal(err)
	}
	var counts *xasov1.Aggregate
	for _, r := range rep.GetRows() {
		if r.GetCommuneCode() == a.Commune.Code {
			counts = r.GetCounts()
		}
	}
	if counts.GetCitizenRatings() != 1 || counts.GetVerySatisfied() != 1 || counts.GetSatisfied()+counts.GetNotSatisfied() != 0 ||
		counts.GetRatedStaffConduct() != 1 || counts.GetSatisfiedStaffConduct() != 0 || counts.GetRatedReturnTime() != 1 || counts.GetSatisfiedReturnTime() != 1 {
		t.Fatalf("%s's counts at central: %v", a.Commune.Code, counts)
	}
	checkProvince(t, p)
}

// paperComponents hands in every required component of a procedure on paper.
func paperComponents(p *xasov1.Procedure) []*xasov1.SubmittedComponent {
	var out []*xasov1.SubmittedComponent
	for _, c := range p.GetComponents() {
		if c.GetRequired() {
			out = append(out, &xasov1.SubmittedComponent{Code: c.GetCode(), Paper: true})
		}
	}
	return out
}

func TestNodesEnrollReplicateAndReceiveCatalogueChanges(t *testing.T) {
	p := startProvince(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var codes []string
	for i, n := range p.Nodes() {
		clerks := workload.New(workload.InProcess(n.Node().Server(), node.ActAs), uint64(i+1), testLogger())
		for range 40 {
			if err := clerks.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := n.Node().Server().ListDossiers(reader(ctx), &xasov1.ListDossiersRequest{PageSize: 1})
		if err != nil || len(resp.GetDossiers()) == 0 {
			t.Fatalf("dossiers of %s: %v", n.Commune.Code, err)
		}
		codes = append(codes, resp.GetDossiers()[0].GetCode())
	}
	eventually(t, 20*time.Second, "central holds every outbox", func() (bool, string) { return converged(t, p) })

	// Central has the dossiers as the nodes have them.
	for i, code := range codes {
		got, err := p.Central().GetProvinceDossier(p.Records(ctx), &xasov1.GetProvinceDossierRequest{Code: code})
		if err != nil {
			t.Fatalf("look up %s at central: %v", code, err)
		}
		want := fullDossier(t, p.Nodes()[i].Node(), code)
		if got.GetDossier().GetState() != want.GetState() || len(got.GetDossier().GetEvents()) != len(want.GetEvents()) {
			t.Errorf("%s: central %v with %d events, node %v with %d", code, got.GetDossier().GetState(), len(got.GetDossier().GetEvents()), want.GetState(), len(want.GetEvents()))
		}
	}

	// Each node's status says it is enrolled, connected and caught up.
	for _, n := range p.Nodes() {
		st, err := n.Node().Server().GetSyncStatus(reader(ctx), &xasov1.GetSyncStatusRequest{})
		if err != nil || !st.GetEnrolled() || st.GetPendingEvents() != 0 || st.GetLastContactTime() == nil || st.GetBytesSent() == 0 {
			t.Errorf("sync status of %s: %v, %v", n.Commune.Code, st, err)
		}
	}

	// Both sides export the link's figures.
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for url, want := range map[string]string{
		p.Members()[0].URL + "/metrics": `xaso_central_node_acked_sequence{commune="` + p.Nodes()[0].Commune.Code,
		p.Nodes()[0].URL + "/metrics":   "xaso_node_sync_connected 1",
	} {
		resp, err := https.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s has no %s", url, want)
		}
	}

	// A catalogue change reaches every node within 5 s.
	proc := proto.Clone(sample.Procedures()[0]).(*xasov1.Procedure)
	proc.Name += " (sửa đổi 2026)"
	changed := time.Now()
	up, err := p.Central().UpdateCatalogProcedure(p.Operator(ctx), &xasov1.UpdateCatalogProcedureRequest{Procedure: proc})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Nodes() {
		eventually(t, 5*time.Second-time.Since(changed), "the change at "+n.Commune.Code, func() (bool, string) {
			got, err := n.Node().Server().GetProcedure(reader(ctx), &xasov1.GetProcedureRequest{Code: proc.GetCode()})
			if err != nil {
				return false, err.Error()
			}
			return got.GetProcedure().GetVersion() == up.GetProcedure().GetVersion() && got.GetProcedure().GetName() == proc.GetName(), got.GetProcedure().GetName()
		})
	}
	t.Logf("catalogue change at every node after %v", time.Since(changed))
}

// TestCommuneSettingsReachTheNode: operators set a commune's bandwidth cap
// and upload window at central; the node takes them from the feed, keeps
// them across a restart, and bad settings change nothing.
func TestCommuneSettingsReachTheNode(t *testing.T) {
	p := startProvince(t, 2, nil)
	n := p.Nodes()[0]
	ctx := p.Operator(context.Background())
	for name, req := range map[string]*xasov1.UpdateCommuneSettingsRequest{
		"settings.sync_bandwidth_kbit": {CommuneCode: n.Commune.Code, Settings: &xasov1.CommuneSettings{SyncBandwidthKbit: -1}},
		"settings.sync_upload_window":  {CommuneCode: n.Commune.Code, Settings: &xasov1.CommuneSettings{SyncUploadWindow: "25:00-06:00"}},
		"commune_code":                 {CommuneCode: "99999", Settings: &xasov1.CommuneSettings{}},
	} {
		_, err := p.Central().UpdateCommuneSettings(ctx, req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(fmt.Sprint(status.Convert(err).Details()), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	want := &xasov1.CommuneSettings{SyncBandwidthKbit: 512, SyncUploadWindow: "22:00-06:00"}
	if _, err := p.Central().UpdateCommuneSettings(ctx, &xasov1.UpdateCommuneSettingsRequest{CommuneCode: n.Commune.Code, Settings: want}); err != nil {
		t.Fatal(err)
	}
	inForce := func(nd *node.Node) (bool, string) {
		st, err := nd.Server().GetSyncStatus(reader(context.Background()), &xasov1.GetSyncStatusRequest{})
		return err == nil && st.GetSyncBandwidthKbit() == 512 && st.GetSyncUploadWindow() == "22:00-06:00", fmt.Sprint(st, err)
	}
	eventually(t, 5*time.Second, "the settings at the node", func() (bool, string) { return inForce(n.Node()) })
	if ok, _ := inForce(p.Nodes()[1].Node()); ok {
		t.Error("another commune's node took the settings")
	}
	if err := p.StopNode(0); err != nil {
		t.Fatal(err)
	}
	if err := p.StartNode(0); err != nil {
		t.Fatal(err)
	}
	if ok, st := inForce(n.Node()); !ok {
		t.Fatalf("after a restart: %s", st)
	}
}

// TestReplacedNodeRestoresFromCentral: a commune's machine dies after
// clerks worked on it (transfers both ways among them); a new machine,
// enrolled with a new token and told to restore, refuses desk changes until
// it holds what central held — the same dossiers, the same hash chain —
// and then goes on from there: its new dossiers take fresh codes and reach
// central, and the feed replayed from the start changes nothing.
func TestReplacedNodeRestoresFromCentral(t *testing.T) {
	link := linksim.New(linksim.Profile{})
	// The communes number under agency e-IDs once central's registry
	// reaches them (legacy codes before): the restored machine goes on
	// after the codes of both forms it gets back.
	agency := func(commune string) string { return "000.00." + commune + ".H56" }
	p := startProvince(t, 2, []*linksim.Link{link}, func(o *province.Options) { o.AgencyID = agency })
	ctx, stop := context.WithCancel(context.Background())
	wg := clerks(ctx, p, 5*time.Millisecond, seed(t))
	old := p.Nodes()[0]
	eventually(t, 60*time.Second, "work with transfers both ways, codes under the agency e-ID", func() (bool, string) {
		var in, out, agencyCodes int
		for _, d := range allDossiers(t, old.Node()) {
			if d.GetState() == dossier.Transferred {
				out++
			}
			own := strings.HasPrefix(d.GetCode(), old.Commune.Code+"-") || strings.HasPrefix(d.GetCode(), agency(old.Commune.Code)+"-")
			if !own && d.GetState() != dossier.Transferred {
				in++ // numbered at another commune, here now
			}
			if strings.HasPrefix(d.GetCode(), agency(old.Commune.Code)+"-") {
				agencyCodes++
			}
		}
		last, _ := old.Node().Store().OutboxHead()
		return in > 0 && out > 0 && agencyCodes > 0 && last > 300, fmt.Sprintf("%d in, %d out, %d under the e-ID, %d events", in, out, agencyCodes, last)
	})
	stop()
	wg.Wait()
	eventually(t, 30*time.Second, "convergence", func() (bool, string) { return converged(t, p) })
	before := map[string]*xasov1.Dossier{}
	for _, d := range allDossiers(t, old.Node()) {
		before[d.GetCode()] = fullDossier(t, old.Node(), d.GetCode())
	}
	lastBefore, hashBefore := headHash(t, old.Node())

	// The machine dies with its disk; the new one has a new token.
	if err := p.StopNode(0); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(old.Config.DataDir); err != nil {
		t.Fatal(err)
	}
	tok, err := p.Central().CreateEnrollmentToken(p.Operator(context.Background()), &xasov1.CreateEnrollmentTokenRequest{CommuneCode: old.Commune.Code})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old.Config.EnrollmentTokenFile, []byte(tok.GetToken()), 0o600); err != nil {
		t.Fatal(err)
	}
	old.Config.RestoreFromCentral = true
	link.Cut() // it starts before it can reach central
	if err := p.StartNode(0); err != nil {
		t.Fatal(err)
	}
	n := old.Node()
	_, err = n.Server().CreateDossier(node.ActAs(context.Background(), "motcua.1", xasov1.Role_ROLE_CLERK), &xasov1.CreateDossierRequest{ProcedureCode: sample.Procedures()[0].GetCode(),
		Applicant: &xasov1.Applicant{FullName: "Lò Văn Páo"}, Channel: xasov1.Channel_CHANNEL_IN_PERSON,
		Components: paperComponents(sample.Procedures()[0])})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "restoring") {
		t.Fatalf("a desk change before the restore: %v", err)
	}
	link.Heal()
	eventually(t, 30*time.Second, "the restore", func() (bool, string) {
		st, err := n.Server().GetSyncStatus(reader(context.Background()), &xasov1.GetSyncStatusRequest{})
		return err == nil && !st.GetRestoring() && st.GetEnrolled(), fmt.Sprint(st, err)
	})
	if last, hash := headHash(t, n); last != lastBefore || !bytes.Equal(hash, hashBefore) {
		t.Fatalf("restored chain ends at %d %x, the old one at %d %x", last, hash, lastBefore, hashBefore)
	}
	if err := n.Store().Verify(); err != nil {
		t.Fatal(err)
	}
	after := allDossiers(t, n)
	if len(after) != len(before) {
		t.Fatalf("%d dossiers restored, the old machine had %d", len(after), len(before))
	}
	for _, d := range after {
		if full := fullDossier(t, n, d.GetCode()); !proto.Equal(full, before[d.GetCode()]) {
			t.Fatalf("%s restored as %v, it was %v", d.GetCode(), full, before[d.GetCode()])
		}
	}

	// Work goes on from there, and reaches central; the feed caught up.
	ctx, stop = context.WithCancel(context.Background())
	wg = clerks(ctx, p, 5*time.Millisecond, seed(t)+1)
	eventually(t, 30*time.Second, "new work on the new machine", func() (bool, string) {
		last, _ := n.Store().OutboxHead()
		return last > lastBefore+50, fmt.Sprint(last)
	})
	stop()
	wg.Wait()
	eventually(t, 30*time.Second, "convergence after the restore", func() (bool, string) { return converged(t, p) })
	checkProvince(t, p)
	st, err := n.Server().GetSyncStatus(reader(context.Background()), &xasov1.GetSyncStatusRequest{})
	if err != nil || st.GetLastError() != "" {
		t.Errorf("sync after the restore: %v %v", st, err)
	}
}

// reader is ctx in which a test reads a node's service as its leader.
func reader(ctx context.Context) context.Context {
	return node.ActAs(ctx, "chutich", xasov1.Role_ROLE_LEADER)
}
