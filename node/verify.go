package node

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// Verify reads the whole store and checks its invariants: the outbox is
// dense from 1 to its head and its hash chain holds; every outbox record is
// the stored event it names; every dossier is the fold of its events; every
// index entry points at a dossier that agrees with it and every dossier has
// its entries; the per-state counters match. It returns every problem found
// (at most 20), or nil.
func (s *Store) Verify() error {
	var problems []string
	bad := func(f string, a ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(f, a...))
		}
	}
	err := s.view(func(txn *badger.Txn) error {
		// Outbox: dense, chained, and each record the stored event.
		head, _ := s.OutboxHead()
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixOutbox), PrefetchValues: true})
		want := int64(1)
		prev := dossier.GenesisHash()
		events := map[string]int{}
		for it.Rewind(); it.Valid(); it.Next() {
			rec := &xasov1.OutboxRecord{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, rec) }); err != nil {
				it.Close()
				return fmt.Errorf("decode outbox record: %w", err)
			}
			if rec.GetSequence() != want {
				bad("outbox: record %d where %d was due", rec.GetSequence(), want)
				want = rec.GetSequence()
			}
			if h, err := dossier.RecordHash(rec); err != nil || !bytes.Equal(h, rec.GetHash()) || !bytes.Equal(rec.GetPrevHash(), prev) {
				bad("outbox: hash chain broken at %d", rec.GetSequence())
			}
			prev = rec.GetHash()
			stored := &xasov1.Event{}
			if err := getProto(txn, eventKey(rec.GetDossierCode(), rec.GetEvent().GetSequence()), stored); err != nil || !proto.Equal(stored, rec.GetEvent()) {
				bad("outbox %d: event %d of %s is not the stored one (%v)", rec.GetSequence(), rec.GetEvent().GetSequence(), rec.GetDossierCode(), err)
			}
			events[rec.GetDossierCode()]++
			want++
		}
		it.Close()
		if want-1 != head {
			bad("outbox: last record %d, head says %d", want-1, head)
		}

		// Dossiers: fold, events in the outbox, index entries present.
		counts := map[dossier.State]int64{}
		codes := map[string]*dossier.Dossier{}
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixDossier), PrefetchValues: true})
		for it.Rewind(); it.Valid(); it.Next() {
			d := &dossier.Dossier{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, d) }); err != nil {
				it.Close()
				return fmt.Errorf("decode dossier: %w", err)
			}
			codes[d.GetCode()] = d
			counts[d.GetState()]++
		}
		it.Close()
		for code, d := range codes {
			evs, err := readEvents(txn, code)
			if err != nil {
				return err
			}
			if f := dossier.Fold(evs); !proto.Equal(f, d) {
				bad("dossier %s is not the fold of its %d events", code, len(evs))
			}
			// A dossier transferred here came with the events before its
			// (last) ACCEPT_TRANSFER; this node's outbox holds the rest.
			own := len(evs)
			for i, ev := range evs {
				if ev.GetAction() == dossier.AcceptTransfer {
					own = len(evs) - i
				}
			}
			if events[code] != own {
				bad("dossier %s has %d events of this node, the outbox %d", code, own, events[code])
			}
			need := [][]byte{stateIndexKey(d.GetState(), code), timeIndexKey(prefixByReceived, d.GetReceivedTime().AsTime(), code)}
			if clockRuns(d) {
				need = append(need, timeIndexKey(prefixByDue, d.GetDueTime().AsTime(), code))
			}
			if id := d.GetApplicant().GetIdNumber(); id != "" {
				need = append(need, cat([]byte(prefixByID), s.idHash(id), []byte("/"+code)))
			}
			for _, k := range need {
				if _, err := txn.Get(k); err != nil {
					bad("dossier %s: index entry %q missing", code, k[:4])
				}
			}
		}

		// Index entries: each points at a dossier that agrees.
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte("x/")})
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			d, ok := codes[codeFromIndexKey(k)]
			switch {
			case !ok:
				bad("index entry %q points at no dossier", k)
			case strings.HasPrefix(string(k), prefixByState) && !bytes.Equal(k, stateIndexKey(d.GetState(), d.GetCode())):
				bad("state index entry of %s is stale", d.GetCode())
			case strings.HasPrefix(string(k), prefixByDue) && (!clockRuns(d) || !bytes.Equal(k, timeIndexKey(prefixByDue, d.GetDueTime().AsTime(), d.GetCode()))):
				bad("due index entry of %s is stale", d.GetCode())
			}
		}
		it.Close()
		have := s.Counts()
		for n := range xasov1.State_name {
			st := dossier.State(n)
			if counts[st] != have[st] {
				n := have[st]
				bad("counter of %s is %d, the store holds %d", dossier.StateName(st), n, counts[st])
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if len(problems) > 0 {
		return errors.New("verify: " + strings.Join(problems, "; "))
	}
	return nil
}
