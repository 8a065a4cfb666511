package central

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
)

func TestCodeFilterNeverForgetsAndRarelyInvents(t *testing.T) {
	f := codeFilter{complete: true}
	if f.mayHave("00004-260302-0001") {
		t.Fatal("an empty filter has something")
	}
	// Past the first layer's capacity, so that a second layer is in use.
	n := bloomFirst + bloomFirst/2
	for i := range n {
		f.add(fmt.Sprintf("A%d", i))
	}
	if len(f.layers) != 2 {
		t.Fatalf("%d layers after %d codes, want 2", len(f.layers), n)
	}
	for i := range n {
		if !f.mayHave(fmt.Sprintf("A%d", i)) {
			t.Fatalf("code %d added and then absent", i)
		}
	}
	const probes = 100_000
	fp := 0
	for i := range probes {
		if f.mayHave(fmt.Sprintf("B%d", i)) {
			fp++
		}
	}
	// Two layers at about 1 % each.
	if rate := float64(fp) / probes; rate > 0.03 {
		t.Fatalf("false positive rate %.4f, want under 0.03", rate)
	}
}

// TestCodeFilterFillsFromTheState: until the codes of the state are read,
// every code may be there; after, the state's codes and those added
// meanwhile are, and others are not (but for rare false positives).
func TestCodeFilterFillsFromTheState(t *testing.T) {
	f := openTestFSM(t)
	wb := f.db.NewWriteBatch()
	for i := range 10_000 {
		if err := wb.Set([]byte(fmt.Sprintf("%s00004-260302-%04d", prefixDossier, i)), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	codes := &codeFilter{}
	if !codes.mayHave("00008-260302-0001") {
		t.Fatal("a filter not filled yet says a code is absent")
	}
	codes.add("00008-260302-0001") // as apply does while the state is read
	n, err := codes.fill(t.Context(), f.db)
	if err != nil || n != 10_000 {
		t.Fatalf("filled %d codes, %v", n, err)
	}
	for i := range 10_000 {
		if !codes.mayHave(fmt.Sprintf("00004-260302-%04d", i)) {
			t.Fatalf("code %d of the state absent", i)
		}
	}
	if !codes.mayHave("00008-260302-0001") {
		t.Fatal("the code added during the fill is absent")
	}
	fp := 0
	for i := range 10_000 {
		if codes.mayHave(fmt.Sprintf("00025-260302-%04d", i)) {
			fp++
		}
	}
	if fp > 300 {
		t.Fatalf("%d of 10,000 absent codes may be there", fp)
	}
}

func TestCacheKeepsTwoGenerations(t *testing.T) {
	c := cache[int]{budget: 3}
	c.put("a", 1, 1)
	c.put("b", 2, 1)
	if v, ok := c.take("a"); !ok || v != 1 {
		t.Fatalf("take a = %d, %v", v, ok)
	}
	if _, ok := c.take("a"); ok {
		t.Fatal("a taken twice")
	}
	c.put("a", 10, 1)
	c.put("c", 3, 1) // fills the generation: a, b, c become the older one
	c.put("d", 4, 1)
	if v, ok := c.take("b"); !ok || v != 2 {
		t.Fatalf("take b from the older generation = %d, %v", v, ok)
	}
	c.put("b", 20, 1)
	c.put("e", 5, 1) // d, b, e become the older one; a and c are dropped
	for k, want := range map[string]int{"d": 4, "b": 20, "e": 5} {
		if v, ok := c.take(k); !ok || v != want {
			t.Fatalf("take %s = %d, %v; want %d", k, v, ok, want)
		}
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.take(k); ok {
			t.Fatalf("%s outlived two generations", k)
		}
	}
	// Putting a key again replaces it and counts it once.
	c = cache[int]{budget: 2}
	c.put("x", 1, 1)
	c.put("x", 2, 1)
	if c.used != 1 || len(c.old) != 0 {
		t.Fatalf("used %d, %d older entries after putting one key twice", c.used, len(c.old))
	}
}

// TestApplyCachesFollowTheState applies one history to two states: one
// straight through, the other with caches too small to hold anything for
// long, a restore of a newer snapshot over cached older dossiers, and a
// restart. Both must end identical.
func TestApplyCachesFollowTheState(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			communes := []string{"00004", "00008"}
			hist := map[string][]*xasov1.OutboxRecord{}
			for i, c := range communes {
				hist[c] = records(t, c, seed*10+uint64(i), 600)
			}
			next := map[string]int{}
			var entries [][]*xasov1.CentralCommand
			for len(entries) < 90 {
				c := communes[rng.IntN(2)]
				from := max(next[c]-rng.IntN(2), 0) // some resends
				to := min(from+1+rng.IntN(20), len(hist[c]))
				next[c] = max(next[c], to)
				cmds := []*xasov1.CentralCommand{appendEvents(c, hist[c][from:to]...)}
				if rng.IntN(8) == 0 {
					p := proto.Clone(sample.Procedures()[rng.IntN(len(sample.Procedures()))]).(*xasov1.Procedure)
					p.FeeVnd = int64(rng.IntN(100)) * 1000
					cmds = append(cmds, putProcedure(p, 0))
				}
				entries = append(entries, cmds)
			}
			clone := func(cmds []*xasov1.CentralCommand) []*xasov1.CentralCommand {
				out := make([]*xasov1.CentralCommand, len(cmds))
				for i, c := range cmds {
					out[i] = proto.Clone(c).(*xasov1.CentralCommand)
				}
				return out
			}

			ref := openTestFSM(t)
			a := &applier{f: ref}
			registerSample(t, a, communes...)
			for _, e := range entries[:60] {
				a.apply(t, clone(e)...)
			}
			snap := snapshotOf(t, ref)
			for _, e := range entries[60:] {
				a.apply(t, clone(e)...)
			}

			dir := t.TempDir()
			open := func() *FSM {
				f, err := OpenFSM(dir, quiet)
				if err != nil {
					t.Fatal(err)
				}
				f.hot.dossiers.budget, f.hot.aggs.budget = 2000, 3
				return f
			}
			f := open()
			b := &applier{f: f}
			registerSample(t, b, communes...)
			for _, e := range entries[:30] {
				b.apply(t, clone(e)...)
			}
			// Its caches hold dossiers as they were at entry 30; the snapshot has them at 60.
			if err := f.Restore(io.NopCloser(snap)); err != nil {
				t.Fatal(err)
			}
			b.index += 30
			for _, e := range entries[60:75] {
				b.apply(t, clone(e)...)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			f = open()
			defer f.Close()
			b.f = f
			for _, e := range entries[75:] {
				b.apply(t, clone(e)...)
			}
			if err := sameState(dump(t, ref), dump(t, f)); err != nil {
				t.Fatalf("the states differ: %v", err)
			}
		})
	}
}

// TestAggregateHelpersCoverEveryField sets each field of an aggregate in
// turn: sameCounts must see it and addAggregate must add it, so that a
// field added to Aggregate cannot be forgotten by either.
func TestAggregateHelpersCoverEveryField(t *testing.T) {
	fields := (&xasov1.Aggregate{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		a := &xasov1.Aggregate{}
		a.ProtoReflect().Set(fd, protoreflect.ValueOfInt64(3))
		if sameCounts(a, &xasov1.Aggregate{}) || isZero(a) {
			t.Errorf("sameCounts does not compare %s", fd.Name())
		}
		sum := &xasov1.Aggregate{}
		addAggregate(sum, a, 2)
		if got := sum.ProtoReflect().Get(fd).Int(); got != 6 {
			t.Errorf("addAggregate: %s = %d, want 6", fd.Name(), got)
		}
		if !sameCounts(a, proto.Clone(a).(*xasov1.Aggregate)) {
			t.Errorf("sameCounts: %s differs from itself", fd.Name())
		}
	}
}
