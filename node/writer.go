package node

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// A change reads what it needs from txn (which already holds the writes of
// the changes committed before it in the same batch), checks it, and returns
// the effect to write. It must not write to txn itself: a change that fails
// leaves nothing behind.
type change func(txn *badger.Txn) (*effect, error)

// effect is what one change writes once its checks passed.
type effect struct {
	sets    []entry
	dels    [][]byte
	events  []outEvent              // appended to the outbox, in order
	counts  map[dossier.State]int64 // deltas of the per-state counters
	uploads []string                // files to queue for upload to central, in order
	// expect, when set, is the outbox head the events must reach (a
	// restore checks the chain it rebuilds against central's).
	expect *outboxHead
	result any
}

type entry struct {
	key, value []byte
	ttl        time.Duration
}

// outEvent is what one outbox record carries: an event of dossier code, or
// an access entry (the store numbers it in the access log when its
// sequence is 0; a restored one keeps its own, which must be the next).
type outEvent struct {
	commune, code string
	event         *xasov1.Event
	access        *xasov1.AccessEntry
	// seal closes the chain of a commune that ceased (Store.Seal).
	seal *xasov1.SuccessionSeal
}

func (e *effect) set(k []byte, v []byte)         { e.sets = append(e.sets, entry{key: k, value: v}) }
func (e *effect) del(k []byte)                   { e.dels = append(e.dels, k) }
func (e *effect) count(s dossier.State, d int64) { e.counts[s] += d }
func newEffect() *effect                         { return &effect{counts: map[dossier.State]int64{}} }

type writeReq struct {
	fn   change
	done chan writeResult
}

type writeResult struct {
	result any
	err    error
}

const (
	maxBatchChanges = 512
	maxTxnBytes     = 1 << 20 // well under Badger's limit for a 16 MiB memtable
)

// write hands fn to the writer and waits until it is durable or refused.
func (s *Store) write(ctx context.Context, fn change) (any, error) {
	req := &writeReq{fn: fn, done: make(chan writeResult, 1)}
	select {
	case s.reqs <- req:
	case <-s.stop:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-req.done:
		return r.result, r.err
	case <-s.stopped:
		select {
		case r := <-req.done:
			return r.result, r.err
		default:
			return nil, ErrClosed
		}
	case <-ctx.Done():
		// The change may still commit; a retry with the same request id finds it.
		return nil, ctx.Err()
	}
}

// writer is the single goroutine that commits changes, many per transaction.
func (s *Store) writer() {
	defer close(s.stopped)
	for {
		var batch []*writeReq
		select {
		case r := <-s.reqs:
			batch = append(batch, r)
		case <-s.stop:
			for {
				select {
				case r := <-s.reqs:
					r.done <- writeResult{err: ErrClosed}
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatchChanges {
			select {
			case r := <-s.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
	}
}

// txnState is the writer's view of a transaction under construction.
type txnState struct {
	txn     *badger.Txn
	head    outboxHead
	access  int64  // last access log sequence
	uploads uint64 // last upload queue position
	counts  map[dossier.State]int64
	bytes   int
	waiting []pendingAnswer
}

type pendingAnswer struct {
	req    *writeReq
	result any
}

func (s *Store) newTxn() *txnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := make(map[dossier.State]int64, len(s.counts))
	for k, v := range s.counts {
		counts[k] = v
	}
	return &txnState{txn: s.db.NewTransaction(true), head: s.head, access: s.access, uploads: s.uploads, counts: counts}
}

func (s *Store) commitBatch(batch []*writeReq) {
	ts := s.newTxn()
	for _, r := range batch {
		eff, err := r.fn(ts.txn)
		if err != nil {
			r.done <- writeResult{err: err}
			continue
		}
		size := effectSize(eff)
		if ts.bytes > 0 && ts.bytes+size > maxTxnBytes {
			s.finish(ts)
			ts = s.newTxn()
			// fn read from the previous transaction, now committed: what it
			// read is still what the new one sees, as nothing else writes.
		}
		if err := s.apply(ts, eff); err != nil {
			ts.txn.Discard()
			s.fail(ts, fmt.Errorf("write change: %w", err))
			r.done <- writeResult{err: fmt.Errorf("write change: %w", err)}
			ts = s.newTxn()
			continue
		}
		ts.bytes += size
		ts.waiting = append(ts.waiting, pendingAnswer{req: r, result: eff.result})
	}
	s.finish(ts)
}

// finish commits ts, publishes its head and counters and answers its changes.
func (s *Store) finish(ts *txnState) {
	if len(ts.waiting) == 0 {
		ts.txn.Discard()
		return
	}
	if err := ts.txn.Commit(); err != nil {
		s.log.Error("commit changes", "changes", len(ts.waiting), "err", err)
		s.fail(ts, fmt.Errorf("commit: %w", err))
		return
	}
	s.mu.Lock()
	if ts.head.seq != s.head.seq {
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.head = ts.head
	s.access = ts.access
	s.uploads = ts.uploads
	s.counts = ts.counts
	s.mu.Unlock()
	for _, w := range ts.waiting {
		w.req.done <- writeResult{result: w.result}
	}
}

func (s *Store) fail(ts *txnState, err error) {
	for _, w := range ts.waiting {
		w.req.done <- writeResult{err: err}
	}
	ts.waiting = nil
}

// apply writes one effect into the transaction: its keys, its outbox records
// chained by hash (an access entry with its access log keys), the new
// outbox head and the counters.
func (s *Store) apply(ts *txnState, eff *effect) error {
	for _, e := range eff.sets {
		be := badger.NewEntry(e.key, e.value)
		if e.ttl > 0 {
			be = be.WithTTL(e.ttl)
		}
		if err := ts.txn.SetEntry(be); err != nil {
			return err
		}
	}
	for _, k := range eff.dels {
		if err := ts.txn.Delete(k); err != nil {
			return err
		}
	}
	accessBefore := ts.access
	for _, oe := range eff.events {
		if oe.access != nil {
			a := proto.Clone(oe.access).(*xasov1.AccessEntry)
			switch a.GetSequence() {
			case 0:
				a.Sequence = ts.access + 1
			case ts.access + 1:
			default:
				return fmt.Errorf("access entry %d where %d is next: %w", a.GetSequence(), ts.access+1, errCorrupt)
			}
			oe.access = a
		}
		rec, err := chainRecord(ts.head, oe)
		if err != nil {
			return err
		}
		v, err := proto.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode outbox record: %w", err)
		}
		if err := ts.txn.Set(outboxKey(rec.GetSequence()), v); err != nil {
			return err
		}
		ts.head = outboxHead{seq: rec.GetSequence(), hash: rec.GetHash()}
		if a := rec.GetAccess(); a != nil {
			if err := setAccessKeys(ts.txn, a, rec.GetSequence()); err != nil {
				return err
			}
			ts.access = a.GetSequence()
		}
	}
	if ts.access != accessBefore {
		if err := ts.txn.Set([]byte(keyAccessHead), be64(uint64(ts.access))); err != nil {
			return err
		}
	}
	if eff.expect != nil && (ts.head.seq != eff.expect.seq || !bytes.Equal(ts.head.hash, eff.expect.hash)) {
		return fmt.Errorf("the outbox reached %d, not %d as expected: %w", ts.head.seq, eff.expect.seq, errCorrupt)
	}
	if len(eff.events) > 0 {
		if err := ts.txn.Set([]byte(keyHead), cat(be64(uint64(ts.head.seq)), ts.head.hash)); err != nil {
			return err
		}
	}
	for _, sha := range eff.uploads {
		ts.uploads++
		if err := ts.txn.Set(uploadKey(ts.uploads), []byte(sha)); err != nil {
			return err
		}
	}
	if len(eff.uploads) > 0 {
		if err := ts.txn.Set([]byte(keyUploadHead), be64(ts.uploads)); err != nil {
			return err
		}
	}
	for st, d := range eff.counts {
		if d == 0 {
			continue
		}
		ts.counts[st] += d
		if err := ts.txn.Set(countKey(st), be64(uint64(ts.counts[st]))); err != nil {
			return err
		}
	}
	return nil
}

// chainRecord makes the outbox record that follows head.
func chainRecord(head outboxHead, oe outEvent) (*xasov1.OutboxRecord, error) {
	rec := &xasov1.OutboxRecord{
		Sequence:    head.seq + 1,
		CommuneCode: oe.commune,
		DossierCode: oe.code,
		Event:       oe.event,
		Access:      oe.access,
		Seal:        oe.seal,
		PrevHash:    head.hash,
	}
	h, err := dossier.RecordHash(rec)
	if err != nil {
		return nil, err
	}
	rec.Hash = h
	return rec, nil
}

func effectSize(e *effect) int {
	n := 0
	for _, s := range e.sets {
		n += len(s.key) + len(s.value) + 32
	}
	for _, d := range e.dels {
		n += len(d) + 32
	}
	for _, oe := range e.events {
		n += 2*proto.Size(oe.event) + 128
		if a := oe.access; a != nil {
			// The record, its access log key and its index keys.
			n += proto.Size(a) + 64*(2+len(a.GetDossierCodes()))
		}
	}
	return n
}
