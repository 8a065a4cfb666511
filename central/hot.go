package central

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// hotState is what apply keeps in memory to spare itself reads of the
// store: the dossiers and report aggregates it wrote last, and a filter of
// every dossier code the state holds, so that a receipt need not look for
// its new code through every level of the store. It is derived from the
// state — built when the state is opened or restored, then changed only by
// apply, which writes through it — and it never decides anything: what it
// lacks, or only may have, is read from the store. The caches are used on
// Raft's FSM goroutine only; the filter is also filled by a reader of the
// state started by load.
type hotState struct {
	dossiers cache[*xasov1.StoredDossier]
	aggs     cache[*xasov1.Aggregate]
	codes    *codeFilter
	// stop ends load's reader and waits for it.
	stop func()
}

// Budgets of the hot caches, per generation (see cache): dossiers by their
// encoded size, aggregates by count (each is a few dozen bytes).
const (
	hotDossierBytes = 16 << 20
	hotAggregates   = 1 << 16
)

func newHotState() *hotState {
	return &hotState{
		dossiers: cache[*xasov1.StoredDossier]{budget: hotDossierBytes},
		aggs:     cache[*xasov1.Aggregate]{budget: hotAggregates},
		codes:    &codeFilter{}, // incomplete: every code may exist until load has read them
		stop:     func() {},
	}
}

// reset forgets everything and stops load's reader.
func (h *hotState) reset() {
	h.stop()
	*h = *newHotState()
}

// load forgets everything and starts reading the dossier codes of the
// state in db into the filter, in the background (about 1.2 s a million
// codes): until it is done the filter answers "may have" for
// every code, and apply adds the codes it creates meanwhile itself.
func (h *hotState) load(db *badger.DB, log *slog.Logger) {
	h.reset()
	codes := &codeFilter{}
	h.codes = codes
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		start := time.Now()
		n, err := codes.fill(ctx, db)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			// The filter stays incomplete: apply reads every code from the store.
			log.Error("read the dossier codes", "err", err)
		case n > 0:
			log.Info("read the dossier codes", "dossiers", n, "seconds", time.Since(start).Seconds())
		}
	}()
}

// cache is a bounded map that apply writes through. A value taken out is
// the taker's until it is put back (apply changes it in place and then
// writes it). It keeps two generations: when the newer one reaches its
// budget the older one is dropped and the newer takes its place, so what
// was used lately stays and memory stays under twice the budget.
type cache[V any] struct {
	cur, old map[string]cached[V]
	used     int // of cur's budget
	budget   int
}

type cached[V any] struct {
	v    V
	cost int
}

// take removes the value under k and returns it.
func (c *cache[V]) take(k string) (V, bool) {
	if e, ok := c.cur[k]; ok {
		delete(c.cur, k)
		c.used -= e.cost
		return e.v, true
	}
	if e, ok := c.old[k]; ok {
		delete(c.old, k)
		return e.v, true
	}
	var zero V
	return zero, false
}

// put keeps v under k; cost counts against the budget.
func (c *cache[V]) put(k string, v V, cost int) {
	if c.cur == nil {
		c.cur = map[string]cached[V]{}
	}
	if e, ok := c.cur[k]; ok {
		c.used -= e.cost
	}
	delete(c.old, k)
	c.cur[k] = cached[V]{v, cost}
	c.used += cost
	if c.used >= c.budget {
		c.old, c.cur, c.used = c.cur, map[string]cached[V]{}, 0
	}
}

// codeFilter is a scalable Bloom filter of strings: it answers "absent"
// or "may be present", never a false "absent". It grows by layers of
// twice the capacity of the last, each at about 1 % false positives.
type codeFilter struct {
	mu sync.Mutex
	// complete: every code of the state is in; until then mayHave is true.
	complete bool
	seed     maphash.Seed
	layers   []bloomLayer
}

// fill adds the dossier codes of the state in db, then marks the filter complete.
func (f *codeFilter) fill(ctx context.Context, db *badger.DB) (int, error) {
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixDossier)}) // keys only
		defer it.Close()
		var batch []string
		flush := func() {
			f.mu.Lock()
			for _, c := range batch {
				f.addLocked(c)
			}
			f.mu.Unlock()
			n += len(batch)
			batch = batch[:0]
		}
		for it.Rewind(); it.Valid(); it.Next() {
			batch = append(batch, string(it.Item().Key()[len(prefixDossier):]))
			if len(batch) == 4096 {
				if err := ctx.Err(); err != nil {
					return err
				}
				flush()
			}
		}
		flush()
		return nil
	})
	if err != nil {
		return n, err
	}
	f.mu.Lock()
	f.complete = true
	f.mu.Unlock()
	return n, nil
}

type bloomLayer struct {
	bits     []uint64
	n, limit int
}

const (
	bloomFirst   = 1 << 20 // strings in the first layer
	bloomBitsPer = 10
	bloomHashes  = 7
)

func (f *codeFilter) add(s string) {
	f.mu.Lock()
	f.addLocked(s)
	f.mu.Unlock()
}

func (f *codeFilter) addLocked(s string) {
	if len(f.layers) == 0 {
		f.seed = maphash.MakeSeed()
	}
	if len(f.layers) == 0 || f.layers[len(f.layers)-1].n >= f.layers[len(f.layers)-1].limit {
		limit := bloomFirst << len(f.layers)
		f.layers = append(f.layers, bloomLayer{bits: make([]uint64, limit*bloomBitsPer/64), limit: limit})
	}
	l := &f.layers[len(f.layers)-1]
	h := maphash.String(f.seed, s)
	m := uint64(len(l.bits) * 64)
	for i := range uint64(bloomHashes) {
		b := (h + i*(h>>32|1)) % m
		l.bits[b/64] |= 1 << (b % 64)
	}
	l.n++
}

// mayHave is false only when s was never added and the filter is complete.
func (f *codeFilter) mayHave(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.complete {
		return true
	}
	if len(f.layers) == 0 {
		return false
	}
	h := maphash.String(f.seed, s)
	for li := range f.layers {
		l := &f.layers[li]
		m := uint64(len(l.bits) * 64)
		in := true
		for i := range uint64(bloomHashes) {
			b := (h + i*(h>>32|1)) % m
			if l.bits[b/64]&(1<<(b%64)) == 0 {
				in = false
				break
			}
		}
		if in {
			return true
		}
	}
	return false
}
