package central

import (
	"fmt"
	"hash/maphash"
	"log/slog"
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
// lacks, or only may have, is read from the store. Only apply uses it, on
// Raft's FSM goroutine, so it takes no lock.
type hotState struct {
	dossiers cache[*xasov1.StoredDossier]
	aggs     cache[*xasov1.Aggregate]
	codes    codeFilter
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
	}
}

// load forgets everything and reads the dossier codes of the state in db.
func (h *hotState) load(db *badger.DB, log *slog.Logger) error {
	*h = *newHotState()
	start := time.Now()
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixDossier)}) // keys only
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			h.codes.add(string(it.Item().Key()[len(prefixDossier):]))
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the dossier codes: %w", err)
	}
	if n > 0 {
		log.Info("read the dossier codes", "dossiers", n, "seconds", time.Since(start).Seconds())
	}
	return nil
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
	seed   maphash.Seed
	layers []bloomLayer
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

// mayHave is false only when s was never added.
func (f *codeFilter) mayHave(s string) bool {
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
