package faults

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// history records what the clerks were told was saved: for each dossier,
// the most events an acknowledged call left it with.
type history struct {
	mu    sync.Mutex
	acked map[string]int64
	calls int
}

func (h *history) ack(d *xasov1.Dossier) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if d.GetEventCount() > h.acked[d.GetCode()] {
		h.acked[d.GetCode()] = d.GetEventCount()
	}
}

// clerkAPI is a node's API as the simulated clerks use it, recording every
// acknowledged change.
type clerkAPI struct {
	api xasov1.NodeServiceClient
	h   *history
}

func (c clerkAPI) ListProcedures(ctx context.Context, r *xasov1.ListProceduresRequest) (*xasov1.ListProceduresResponse, error) {
	return c.api.ListProcedures(ctx, r)
}

func (c clerkAPI) ListDossiers(ctx context.Context, r *xasov1.ListDossiersRequest) (*xasov1.ListDossiersResponse, error) {
	return c.api.ListDossiers(ctx, r)
}

func (c clerkAPI) CreateDossier(ctx context.Context, r *xasov1.CreateDossierRequest) (*xasov1.CreateDossierResponse, error) {
	resp, err := c.api.CreateDossier(ctx, r, grpc.WaitForReady(false))
	if err == nil {
		c.h.ack(resp.GetDossier())
	}
	return resp, err
}

func (c clerkAPI) TransitionDossier(ctx context.Context, r *xasov1.TransitionDossierRequest) (*xasov1.TransitionDossierResponse, error) {
	resp, err := c.api.TransitionDossier(ctx, r)
	if err == nil {
		c.h.ack(resp.GetDossier())
	}
	return resp, err
}

// TestFaults runs the province in containers under a seeded schedule of
// faults and checks that nothing acknowledged is lost, doubled or invented
// (XASO_FAULTS=1; XASO_FAULT_SEED replays a schedule; XASO_FAULTS_SECONDS
// sets how long faults are driven, default 60; XASO_FAULT_NODES the number
// of communes, default 4; XASO_FAULTS_NONE=1 runs the same workload with
// no fault at all, to measure what the province carries when healthy).
func TestFaults(t *testing.T) {
	if os.Getenv("XASO_FAULTS") == "" {
		t.Skip("XASO_FAULTS=1 runs the container fault suite (make faults)")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("XASO_FAULT_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("XASO_FAULT_SEED: %v", err)
		}
	}
	seconds, nodes := 60, 4
	for name, v := range map[string]*int{"XASO_FAULTS_SECONDS": &seconds, "XASO_FAULT_NODES": &nodes} {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s: a whole number above 0, not %q", name, s)
			}
			*v = n
		}
	}
	if all := len(sample.SampleProvince().Communes); nodes > all {
		t.Fatalf("XASO_FAULT_NODES: the sample province has %d communes", all)
	}
	healthy := os.Getenv("XASO_FAULTS_NONE") != ""
	t.Logf("seed %d (XASO_FAULT_SEED=%d replays the schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0xfa175))
	ctx := context.Background()
	dir := t.TempDir()
	bin, proxy := filepath.Join(dir, "xaso"), filepath.Join(dir, "linkproxy")
	for out, pkg := range map[string]string{bin: "../cmd/xaso", proxy: "./linkproxy"} {
		build := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v: %s", pkg, err, msg)
		}
	}
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	c, err := Start(startCtx, Options{Dir: dir, Binary: bin, LinkProxy: proxy, Run: fmt.Sprintf("xf%d", seed%1_000_000), Communes: sample.SampleProvince().Communes[:nodes]})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	defer func() {
		if t.Failed() {
			keep(t, c, seed)
		}
	}()

	h := &history{acked: map[string]int64{}}
	wctx, stopClerks := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range c.Nodes() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clerks(wctx, c, i, h, seed)
		}()
	}

	ops := &operators{start: time.Now()}
	for cl := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops.run(wctx, c, cl, seed)
		}()
	}

	var schedule []string
	started := time.Now()
	end := started.Add(time.Duration(seconds) * time.Second)
	if healthy {
		time.Sleep(time.Until(end)) // the workload runs without faults this long
	}
	for time.Now().Before(end) {
		hold := time.Duration(1000+rng.IntN(4000)) * time.Millisecond
		switch f := rng.IntN(10); f {
		case 0:
			i := rng.IntN(len(c.Nodes()))
			schedule = append(schedule, fmt.Sprintf("cut %s %v", c.Nodes()[i], hold))
			must(t, c.Cut(ctx, i))
			time.Sleep(hold) // the commune stays cut this long
			must(t, c.Heal(ctx, i))
		case 1, 2:
			m := rng.IntN(3)
			if f == 1 {
				var err error
				if m, err = c.Leader(ctx); err != nil {
					t.Fatal(err)
				}
			}
			schedule = append(schedule, fmt.Sprintf("kill -9 %s %v", c.Members()[m], hold))
			must(t, c.Kill(ctx, c.Members()[m]))
			time.Sleep(hold) // the member stays down this long
			must(t, c.Start(ctx, c.Members()[m]))
		case 3:
			i := rng.IntN(len(c.Nodes()))
			schedule = append(schedule, fmt.Sprintf("kill -9 %s", c.Nodes()[i]))
			must(t, c.Kill(ctx, c.Nodes()[i]))
			must(t, c.Start(ctx, c.Nodes()[i]))
		case 4:
			m, err := c.Leader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			schedule = append(schedule, fmt.Sprintf("isolate leader %s %v", c.Members()[m], hold))
			must(t, c.Isolate(ctx, c.Members()[m]))
			time.Sleep(hold) // the old leader stays alone this long
			must(t, c.Rejoin(ctx, c.Members()[m]))
		case 5:
			if rng.IntN(3) != 0 {
				continue // rarer than the others
			}
			schedule = append(schedule, "docker restart everything")
			must(t, c.RestartAll(ctx))
		case 6:
			// Central split: one member alone (the minority), two together.
			m := rng.IntN(len(c.Members()))
			schedule = append(schedule, fmt.Sprintf("split %s from the others %v", c.Members()[m], hold))
			must(t, c.Isolate(ctx, c.Members()[m]))
			time.Sleep(hold) // the split lasts this long
			must(t, c.Rejoin(ctx, c.Members()[m]))
		case 7:
			i := rng.IntN(len(c.Nodes()))
			rate := []string{"64kbit", "256kbit", "1mbit"}[rng.IntN(3)]
			schedule = append(schedule, fmt.Sprintf("throttle %s to %s %v", c.Nodes()[i], rate, 2*hold))
			must(t, c.Throttle(ctx, i, rate))
			time.Sleep(2 * hold) // the cap lasts this long
			must(t, c.Throttle(ctx, i, ""))
		case 8:
			// A poor line: a long delay and lost segments, through the
			// node's link proxy.
			i := rng.IntN(len(c.Nodes()))
			delay := time.Duration(100+rng.IntN(500)) * time.Millisecond
			loss := []float64{0.01, 0.03, 0.1}[rng.IntN(3)]
			schedule = append(schedule, fmt.Sprintf("degrade %s to %v one way, %g lost, %v", c.Nodes()[i], delay, loss, 2*hold))
			must(t, c.Degrade(ctx, i, delay, loss))
			time.Sleep(2 * hold) // the poor line lasts this long
			must(t, c.Heal(ctx, i))
		case 9:
			// A half-open uplink: bytes stop, nobody is told.
			i := rng.IntN(len(c.Nodes()))
			schedule = append(schedule, fmt.Sprintf("half-open %s %v", c.Nodes()[i], hold))
			must(t, c.HalfOpen(ctx, i))
			time.Sleep(hold) // the spell lasts this long
			must(t, c.Heal(ctx, i))
		}
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond) // between faults
	}
	stopClerks()
	wg.Wait()
	window := time.Since(started).Seconds()
	calls := h.calls
	t.Logf("schedule: %v", schedule)
	takenDuring := eventsAtCentral(t, c)

	healed := time.Now()
	for i := range c.Nodes() {
		must(t, c.Heal(ctx, i))
	}
	converged := waitConverged(t, c, 3*time.Minute)
	convergedS := time.Since(healed).Seconds()
	made := eventsAtCentral(t, c) // all of them, once converged
	t.Logf("throughput: %d nodes, %.0f s of %s: clerks' calls acknowledged %.1f/s; events made at the nodes %.1f/s, taken by central during the run %.1f/s (%.0f%%); heal to convergence %.1f s",
		len(c.Nodes()), window, map[bool]string{true: "no faults", false: "faults"}[healthy], float64(calls)/window,
		float64(made)/window, float64(takenDuring)/window, 100*float64(takenDuring)/max(1, float64(made)), convergedS)
	lost, duplicated, phantom := check(t, c, h)
	lin, catalogueOps := ops.linearizable()
	t.Logf("%d catalogue writes and linearizable reads by operators", catalogueOps)
	yes := map[bool]string{true: "yes", false: "no"}
	// The summary, on a line of its own for `make faults` to print last.
	fmt.Printf("faults: seed=%d acknowledged=%d lost=%d duplicated=%d phantom=%d linearizable=%s converged_s=%.1f\n",
		seed, h.calls, lost, duplicated, phantom, yes[lin], convergedS)
	if !converged || lost+duplicated+phantom > 0 || !lin || catalogueOps < 20 {
		t.Fail()
	}
}

// eventsAtCentral is the number of events central holds, all communes
// together.
func eventsAtCentral(t *testing.T, c *Cluster) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nodes, err := Central(ctx, c, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.ListNodesResponse, error) {
		return api.ListNodes(ctx, &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, st := range nodes.GetNodes() {
		n += st.GetAckedSequence()
	}
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// clerks acts on the i-th node until ctx ends, dialling it again after
// every failure (a killed node may come back at another address).
func clerks(ctx context.Context, c *Cluster, i int, h *history, seed uint64) {
	for restarts := uint64(0); ctx.Err() == nil; restarts++ {
		api, closeConn, err := c.NodeAPI(ctx, i)
		if err != nil {
			time.Sleep(200 * time.Millisecond) // the node is restarting
			continue
		}
		w := workload.New(clerkAPI{api: api, h: h}, seed+uint64(i)*7919+restarts, slog.New(slog.DiscardHandler))
		for _, cm := range c.Communes() {
			if cm.Code != c.Communes()[i].Code {
				w.TransferTo = append(w.TransferTo, cm.Code)
			}
		}
		for ctx.Err() == nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := w.Step(sctx)
			cancel()
			if err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // a clerk's pace
		}
		closeConn()
	}
}

// waitConverged waits until central acknowledged every node's outbox and
// every transfer reached the commune it was sent to (which then wrote its
// ACCEPT_TRANSFER event, so the outboxes are compared again after it).
func waitConverged(t *testing.T, c *Cluster, within time.Duration) bool {
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, why := converged(c)
		if ok {
			return true
		}
		last = why
		time.Sleep(500 * time.Millisecond) // polling, bounded by the deadline
	}
	t.Errorf("not converged within %v: %s", within, last)
	return false
}

func converged(c *Cluster) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if ok, why := synced(ctx, c); !ok {
		return false, why
	}
	return transfersTaken(ctx, c)
}

// synced reports whether central acknowledged every node's outbox. It
// reads no dossier at the nodes: a read of personal data is an access
// entry in the node's outbox.
func synced(ctx context.Context, c *Cluster) (bool, string) {
	nodes, err := Central(ctx, c, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.ListNodesResponse, error) {
		return api.ListNodes(ctx, &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	})
	if err != nil {
		return false, err.Error()
	}
	held := map[string]int64{}
	for _, n := range nodes.GetNodes() {
		held[n.GetNode().GetCommuneCode()] = n.GetAckedSequence()
	}
	for i, cm := range c.Communes() {
		api, closeConn, err := c.NodeAPI(ctx, i)
		if err != nil {
			return false, err.Error()
		}
		st, err := api.GetSyncStatus(ctx, &xasov1.GetSyncStatusRequest{})
		closeConn()
		if err != nil {
			return false, err.Error()
		}
		if st.GetPendingEvents() != 0 || held[cm.Code] != st.GetLastSequence() {
			return false, fmt.Sprintf("%s: node at %d (acked %d), central at %d", cm.Code, st.GetLastSequence(), st.GetAckedSequence(), held[cm.Code])
		}
	}
	return true, ""
}

// transfersTaken reports whether every dossier a node transferred is held,
// with more events, by the commune it went to.
func transfersTaken(ctx context.Context, c *Cluster) (bool, string) {
	index := map[string]int{}
	for i, cm := range c.Communes() {
		index[cm.Code] = i
	}
	for i, cm := range c.Communes() {
		api, closeConn, err := c.NodeAPI(ctx, i)
		if err != nil {
			return false, err.Error()
		}
		var sent []*xasov1.Dossier
		for token := ""; ; {
			r, err := api.ListDossiers(ctx, &xasov1.ListDossiersRequest{Filter: "state = TRANSFERRED", PageSize: 500, PageToken: token})
			if err != nil {
				closeConn()
				return false, err.Error()
			}
			sent = append(sent, r.GetDossiers()...)
			if token = r.GetNextPageToken(); token == "" {
				break
			}
		}
		closeConn()
		for _, d := range sent {
			to, ok := index[d.GetTransferCommuneCode()]
			if !ok {
				continue // a commune outside the test: nobody takes it
			}
			dst, closeDst, err := c.NodeAPI(ctx, to)
			if err != nil {
				return false, err.Error()
			}
			got, err := dst.GetDossier(ctx, &xasov1.GetDossierRequest{Code: d.GetCode()})
			closeDst()
			if err != nil || got.GetDossier().GetEventCount() <= d.GetEventCount() {
				return false, fmt.Sprintf("%s: transferred by %s, not yet taken by %s (%v)", d.GetCode(), cm.Code, d.GetTransferCommuneCode(), err)
			}
		}
	}
	return true, ""
}

// check compares what the clerks were told, what the nodes hold and what
// central holds.
func check(t *testing.T, c *Cluster, h *history) (lost, duplicated, phantom int) {
	ctx := context.Background()
	owners := map[string]*xasov1.Dossier{}
	events := map[string]int64{}
	stores := make([]*xasov1.CheckStoreResponse, len(c.Nodes()))
	for i := range c.Communes() {
		api, closeConn, err := c.NodeAPI(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		token := ""
		for {
			r, err := api.ListDossiers(ctx, &xasov1.ListDossiersRequest{PageSize: 500, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range r.GetDossiers() {
				if prev, ok := owners[d.GetCode()]; ok && prev.GetState() != xasov1.State_STATE_TRANSFERRED {
					continue
				}
				owners[d.GetCode()], events[d.GetCode()] = d, d.GetEventCount()
			}
			if token = r.GetNextPageToken(); token == "" {
				break
			}
		}
		closeConn()
	}
	// Those lists were reads of personal data, which the nodes logged and
	// send on: the chains are compared once central holds them.
	isSynced := func() (bool, string) {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		return synced(sctx, c)
	}
	deadline := time.Now().Add(time.Minute)
	for ok, why := isSynced(); !ok; ok, why = isSynced() {
		if time.Now().After(deadline) {
			t.Fatalf("the access entries of the last reads did not reach central within a minute: %s", why)
		}
		time.Sleep(200 * time.Millisecond) // polling, bounded by the deadline
	}
	for i, cm := range c.Communes() {
		api, closeConn, err := c.NodeAPI(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if stores[i], err = api.CheckStore(ctx, &xasov1.CheckStoreRequest{}); err != nil {
			t.Errorf("%s: check store: %v", cm.Code, err)
		}
		closeConn()
	}
	// One linearizable read brings the member that answers up to date (the
	// first member that is up answers every call below); the look-ups
	// after it are local.
	nodes, err := Central(ctx, c, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.ListNodesResponse, error) {
		return api.ListNodes(ctx, &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	})
	if err != nil {
		t.Fatal(err)
	}
	// Every node's store is sound and its chain is the one central holds:
	// central verified each link as it applied it, so equal heads mean
	// equal chains.
	heads := map[string]*xasov1.NodeStatus{}
	for _, n := range nodes.GetNodes() {
		heads[n.GetNode().GetCommuneCode()] = n
	}
	for i, cm := range c.Communes() {
		chk := stores[i]
		switch at := heads[cm.Code]; {
		case chk == nil:
			// its error is reported above
		case !chk.GetOk():
			t.Errorf("%s: store check: %v", cm.Code, chk.GetProblems())
		case at.GetAckedSequence() != chk.GetLastSequence() || !bytes.Equal(at.GetAckedHash(), chk.GetHeadHash()):
			t.Errorf("%s: node's chain ends at %d %x, central's at %d %x", cm.Code, chk.GetLastSequence(), chk.GetHeadHash(), at.GetAckedSequence(), at.GetAckedHash())
		}
	}
	for code, d := range owners {
		if d.GetState() == xasov1.State_STATE_TRANSFERRED {
			t.Errorf("%s: transferred to %s, which does not hold it", code, d.GetTransferCommuneCode())
			lost++
		}
	}
	for code, want := range h.acked {
		d, err := Central(ctx, c, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.GetProvinceDossierResponse, error) {
			return api.GetProvinceDossier(ctx, &xasov1.GetProvinceDossierRequest{Code: code})
		})
		switch {
		case err != nil:
			t.Errorf("%s: acknowledged with %d events, not at central: %v", code, want, err)
			lost++
		case int64(len(d.GetDossier().GetEvents())) < want:
			t.Errorf("%s: acknowledged with %d events, central holds %d", code, want, len(d.GetDossier().GetEvents()))
			lost++
		case int64(len(d.GetDossier().GetEvents())) > events[code]:
			t.Errorf("%s: central holds %d events, its owner %d", code, len(d.GetDossier().GetEvents()), events[code])
			duplicated++
		}
	}
	// Every dossier central reports was made at a node.
	asOf := time.Now()
	rep, err := Central(ctx, c, func(ctx context.Context, api xasov1.CentralServiceClient) (*xasov1.GetPerformanceReportResponse, error) {
		return api.GetPerformanceReport(ctx, &xasov1.GetPerformanceReportRequest{FromMonth: "2020-01", ToMonth: "2029-12",
			GroupBy: []string{"month", "commune", "procedure"}, AsOfTime: timestamppb.New(asOf), Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	})
	if err != nil {
		t.Fatal(err)
	}
	var ds []*xasov1.Dossier
	for _, d := range owners {
		ds = append(ds, d)
	}
	want := central.ReportFromDossiers(ds, asOf)
	var atCentral, atNodes int64
	for _, r := range rep.GetRows() {
		atCentral += r.GetCounts().GetReceived()
	}
	for _, r := range want {
		atNodes += r.GetCounts().GetReceived()
	}
	if atCentral > atNodes {
		phantom = int(atCentral - atNodes)
	}
	if len(rep.GetRows()) != len(want) || atCentral != atNodes {
		t.Errorf("report: %d rows and %d dossiers at central, the nodes' dossiers make %d rows and %d", len(rep.GetRows()), atCentral, len(want), atNodes)
	}
	return lost, duplicated, phantom
}

// keep saves the containers' logs and the seed for a failing run.
func keep(t *testing.T, c *Cluster, seed uint64) {
	dir := filepath.Join("..", "faults-out", strconv.FormatUint(seed, 10))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Log(err)
		return
	}
	for _, n := range append(append(append([]string{}, c.Members()...), c.Nodes()...), c.Links()...) {
		os.WriteFile(filepath.Join(dir, n+".log"), c.Logs(context.Background(), n), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "seed"), []byte(strconv.FormatUint(seed, 10)+"\n"), 0o644)
	t.Logf("logs and seed kept in %s", dir)
}
