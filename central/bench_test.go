package central

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
)

// BenchmarkEventsThroughCluster applies small dossier events through a
// three-member cluster on loopback (mutual TLS, fsync on every log append):
// 32 communes send batches of 50 events at once, as nodes do.
//
//	go test -run '^$' -bench EventsThroughCluster -benchtime 200000x ./central/
func BenchmarkEventsThroughCluster(b *testing.B) {
	const communes, batch = 32, 50
	c := newCluster(b, 3, func(cfg *MemberConfig) {
		// Production timing: the test clusters' 300 ms is too tight for two busy cores.
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = time.Second, time.Second
	})
	l := c.leader()
	ctx := context.Background()
	var setup []*xasov1.CentralCommand
	var codes []string
	for i := range communes {
		code := fmt.Sprintf("%05d", 100+i)
		codes = append(codes, code)
		setup = append(setup, putCommune(code, "Xã "+code))
	}
	for _, p := range sample.Procedures() {
		setup = append(setup, putProcedure(p, -1))
	}
	if _, err := l.Propose(ctx, "bench", testNow, setup...); err != nil {
		b.Fatal(err)
	}
	perCommune := b.N/communes + 1
	batches := encodedBatches(b, histories(b, codes, perCommune), batch)
	// A leader that loses its lease under this load (followers' state
	// writes stalling) is replaced; senders then resend to the new one, as
	// nodes do (what was applied comes back as duplicates).
	var leader atomic.Pointer[Member]
	leader.Store(l)
	var resent atomic.Int64
	send := func(code string, enc []byte) error {
		// Decoded on arrival, as the replication service does a node's batch.
		cmd := &xasov1.AppendEventsCommand{}
		if err := proto.Unmarshal(enc, cmd); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			m := leader.Load()
			res, err := m.Propose(ctx, "node-"+code, testEventsProposed, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_AppendEvents{AppendEvents: cmd}})
			switch {
			case err == nil && res[0].GetCode() == 0:
				return nil
			case err == nil:
				return fmt.Errorf("refused: %s", res[0].GetMessage())
			case time.Now().After(deadline):
				return err
			}
			resent.Add(1)
			for _, o := range c.running() {
				if o.IsLeader() {
					leader.CompareAndSwap(m, o)
				}
			}
			time.Sleep(20 * time.Millisecond) // polling for an election, bounded by the deadline
		}
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	var wg sync.WaitGroup
	for i, code := range codes {
		wg.Go(func() {
			for _, enc := range batches[i] {
				if err := send(code, enc); err != nil {
					b.Errorf("batch: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	el, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(communes*perCommune)/el.Seconds(), "events/s")
	// Processor time of the whole process (three members and the senders)
	// per event: steadier than the rate on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(communes*perCommune), "cpu-µs/event")
	b.ReportMetric(float64(resent.Load()), "resent-batches")
}

// histories makes n chained records for each commune, in parallel.
func histories(b *testing.B, communes []string, n int) [][]*xasov1.OutboxRecord {
	recs := make([][]*xasov1.OutboxRecord, len(communes))
	var wg sync.WaitGroup
	for i, code := range communes {
		wg.Go(func() { recs[i] = records(b, code, uint64(i), n) })
	}
	wg.Wait()
	return recs
}

// encodedBatches cuts each commune's records into AppendEvents commands
// of n records, held encoded: a benchmark that kept a million records as
// messages would make the collector scan them all, every cycle, in the
// same process as the members it measures.
func encodedBatches(b *testing.B, recs [][]*xasov1.OutboxRecord, n int) [][][]byte {
	out := make([][][]byte, len(recs))
	for i, rs := range recs {
		code := rs[0].GetCommuneCode()
		for from := 0; from < len(rs); from += n {
			enc, err := proto.Marshal(appendEvents(code, rs[from:min(from+n, len(rs))]...).GetAppendEvents())
			if err != nil {
				b.Fatal(err)
			}
			out[i] = append(out[i], enc)
		}
	}
	return out
}

// cpuTime is the processor time (user and system) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// provinceState fills an FSM's aggregates as 200 communes × 2,000
// procedures × 24 months of history would leave them (about ten million
// dossiers), with the roll-ups that apply keeps.
func provinceState(b *testing.B, f *FSM) (communes, procs, months []string) {
	for i := range 200 {
		communes = append(communes, fmt.Sprintf("%05d", 10000+i*5))
	}
	for i := range 2000 {
		procs = append(procs, fmt.Sprintf("1.%06d", 1000+i))
	}
	for m := range 24 {
		months = append(months, time.Date(2025, time.Month(1+m), 1, 0, 0, 0, 0, time.UTC).Format("200601"))
	}
	wb := f.db.NewWriteBatch()
	defer wb.Cancel()
	set := func(k string, a *xasov1.Aggregate) {
		if err := wb.Set([]byte(k), marshal(a)); err != nil {
			b.Fatal(err)
		}
	}
	one := func(c, p, m int) *xasov1.Aggregate {
		n := int64(1 + (c*7+p*3+m)%9)
		return &xasov1.Aggregate{Received: n, ReceivedOnline: n / 3, FinishedEarly: n / 2, FinishedOnTime: n / 4, FinishedLate: n - n/2 - n/4 - 1, Pending: 1,
			Returned: n / 2, VerySatisfied: n / 3, Satisfied: n / 4, DigitisedComponents: n / 2, DigitisedResults: n / 3}
	}
	for mi, m := range months {
		byProc := make([]*xasov1.Aggregate, len(procs))
		for i := range byProc {
			byProc[i] = &xasov1.Aggregate{}
		}
		total := &xasov1.Aggregate{}
		for ci, c := range communes {
			byCommune := &xasov1.Aggregate{}
			for pi, p := range procs {
				a := one(ci, pi, mi)
				set(levelPair+m+"/"+c+"/"+p, a)
				addAggregate(byCommune, a, 1)
				addAggregate(byProc[pi], a, 1)
			}
			set(levelCommune+m+"/"+c, byCommune)
			addAggregate(total, byCommune, 1)
		}
		for pi, p := range procs {
			set(levelProcedure+m+"/"+p, byProc[pi])
		}
		set(levelProvince+m, total)
	}
	for _, c := range communes {
		if err := wb.Set([]byte(prefixCommune+c), marshal(&xasov1.Commune{Code: c, Name: "Xã " + c})); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	// The by-year level, as a member builds it from the monthly rows.
	if err := f.ensureYearLevel(); err != nil {
		b.Fatal(err)
	}
	return communes, procs, months
}

// BenchmarkProvinceReport times report shapes over the aggregates of ten
// million dossiers. Set XASO_BENCH_PROVINCE=1 (it writes ~10 million keys).
//
//	XASO_BENCH_PROVINCE=1 go test -run '^$' -bench ProvinceReport -benchtime 200x -timeout 60m ./central/
func BenchmarkProvinceReport(b *testing.B) {
	if os.Getenv("XASO_BENCH_PROVINCE") == "" {
		b.Skip("set XASO_BENCH_PROVINCE=1: it builds 9.6 million aggregates")
	}
	f := openTestFSM(b)
	t0 := time.Now()
	communes, procs, months := provinceState(b, f)
	// A member that has run for a while holds its state compacted, not in fresh level-0 tables.
	if err := f.db.Flatten(2); err != nil {
		b.Fatal(err)
	}
	size, _ := f.Size()
	b.Logf("built %d aggregates in %v; state %d MB", len(communes)*len(procs)*len(months), time.Since(t0).Round(time.Second), size>>20)
	asOf := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	shapes := []struct {
		name string
		q    ReportQuery
	}{
		{"province-by-month", ReportQuery{ByMonth: true}},
		{"by-commune-by-month", ReportQuery{ByCommune: true, ByMonth: true}},
		{"by-procedure-24-months", ReportQuery{ByProcedure: true}},
		{"one-commune-by-procedure-by-month", ReportQuery{Communes: communes[17:18], ByProcedure: true, ByMonth: true}},
		{"one-procedure-by-commune", ReportQuery{Procedures: procs[42:43], ByCommune: true}},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			q := sh.q
			q.From, q.To, q.AsOf = months[0], months[len(months)-1], asOf
			lat := make([]time.Duration, 0, b.N)
			rows := 0
			for b.Loop() {
				s := time.Now()
				r, err := f.Report(q)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(s))
				rows = len(r)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(rows), "rows")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkSnapshotCatchUp times a new member joining a cluster whose state
// holds the province's aggregates: the leader streams a snapshot and the
// member restores it. Set XASO_BENCH_PROVINCE=1.
//
//	XASO_BENCH_PROVINCE=1 go test -run '^$' -bench SnapshotCatchUp -benchtime 1x -timeout 60m ./central/
func BenchmarkSnapshotCatchUp(b *testing.B) {
	if os.Getenv("XASO_BENCH_PROVINCE") == "" {
		b.Skip("set XASO_BENCH_PROVINCE=1: it builds 9.6 million aggregates")
	}
	c := newCluster(b, 1, func(cfg *MemberConfig) {
		cfg.TrailingLogs = 16
	})
	l := c.leader()
	ctx := context.Background()
	for i := range 100 { // entries the snapshot compacts away, so that the joiner needs it
		if _, err := l.Propose(ctx, "bench", testNow, putCommune(fmt.Sprintf("%05d", 90000+i), "Xã")); err != nil {
			b.Fatal(err)
		}
	}
	provinceState(b, l.FSM())
	// The aggregates were written beside Raft; one more entry and a snapshot carry them.
	if _, err := l.Propose(ctx, "bench", testNow, putCommune("99999", "Xã cuối")); err != nil {
		b.Fatal(err)
	}
	if err := l.Snapshot(ctx); err != nil {
		b.Fatal(err)
	}
	if err := l.FSM().db.Flatten(2); err != nil && err != badger.ErrNoRewrite {
		b.Log(err)
	}
	b.ResetTimer()
	for i := range b.N {
		p := Peer{ID: fmt.Sprintf("joiner-%d", i), Addr: freeAddr(b)}
		c.dirs[p.ID] = b.TempDir()
		start := time.Now()
		m := c.start(p, nil)
		if err := l.Join(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := m.FSM().WaitApplied(ctx, l.FSM().AppliedIndex()); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		if m.FSM().Restores() == 0 {
			b.Fatal("the joiner caught up without a snapshot")
		}
		b.ReportMetric(el.Seconds(), "catchup-s")
	}
}

// BenchmarkApplyEvents applies the events benchmark's entries to one
// member's state directly, without Raft: what each member spends on them.
//
//	go test -run '^$' -bench ApplyEvents -benchtime 300000x ./central/
func BenchmarkApplyEvents(b *testing.B) {
	const communes, batch, entriesPerApply = 32, 50, 8
	f := openTestFSM(b)
	a := &applier{f: f}
	var codes []string
	for i := range communes {
		codes = append(codes, fmt.Sprintf("%05d", 100+i))
	}
	registerSample(b, a, codes...)
	perCommune := b.N/communes + 1
	recs := histories(b, codes, perCommune)
	// Entries as the cluster makes them: one batch of one commune each, communes in turn.
	var logs []*raft.Log
	for from := 0; from < perCommune; from += batch {
		for i, code := range codes {
			cmd := appendEvents(code, recs[i][from:min(from+batch, perCommune)]...)
			cmd.Actor = "node-" + code
			logs = append(logs, a.entry(b, cmd))
		}
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	for i := 0; i < len(logs); i += entriesPerApply {
		for _, r := range f.ApplyBatch(logs[i:min(i+entriesPerApply, len(logs))]) {
			if res := r.([]*xasov1.CommandResult); res[0].GetCode() != 0 {
				b.Fatalf("entry: %v", res[0])
			}
		}
	}
	el, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(communes*perCommune)/el.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(communes*perCommune), "cpu-µs/event")
}
