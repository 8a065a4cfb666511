package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// StoreCheck is what Check found in one consistent view of the store.
type StoreCheck struct {
	// LastSequence and HeadHash are the outbox head as the store records it.
	LastSequence int64
	HeadHash     []byte
	// Records and Dossiers are how many were read.
	Records, Dossiers int64
	// Problems are the broken invariants (at most 20); none when sound.
	Problems []string
}

// Verify is Check, with the problems found as the error.
func (s *Store) Verify() error {
	c, err := s.Check()
	if err != nil {
		return err
	}
	if len(c.Problems) > 0 {
		return errors.New("verify: " + strings.Join(c.Problems, "; "))
	}
	return nil
}

// Check reads the whole store in one transaction, so that it may run while
// clerks work, and checks its invariants: the outbox is dense from 1 to its
// head and its hash chain holds; every outbox record is the stored event it
// names, or an access entry that is the access log's next (dense from 1 to
// its head) with its log and index keys, and the log holds no other keys; every dossier is the fold of its events; every index entry points
// at a dossier that agrees with it and every dossier has its entries; the
// per-state counters match. The error is only for a store it cannot read.
func (s *Store) Check() (StoreCheck, error) {
	var c StoreCheck
	bad := func(f string, a ...any) {
		if len(c.Problems) < 20 {
			c.Problems = append(c.Problems, fmt.Sprintf(f, a...))
		}
	}
	err := s.view(func(txn *badger.Txn) error {
		// Outbox: dense, chained, and each record the stored event.
		var head int64
		c.HeadHash = dossier.GenesisHash()
		switch v, err := getValue(txn, []byte(keyHead)); {
		case err == nil && len(v) == 8+sha256.Size:
			head, c.HeadHash = int64(binary.BigEndian.Uint64(v)), v[8:]
		case err == nil:
			bad("outbox head: %d bytes, want %d", len(v), 8+sha256.Size)
		case !errors.Is(err, ErrNotFound):
			return fmt.Errorf("read outbox head: %w", err)
		}
		c.LastSequence = head
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixOutbox), PrefetchValues: true})
		want := int64(1)
		var wantAccess, accessEntries, accessCodes int64
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
			c.Records++
			if a := rec.GetAccess(); a != nil {
				// An access entry: the log's next, with its keys.
				wantAccess++
				if a.GetSequence() != wantAccess {
					bad("access log: entry %d where %d was due (outbox %d)", a.GetSequence(), wantAccess, rec.GetSequence())
					wantAccess = a.GetSequence()
				}
				keys := [][]byte{accessKey(a.GetSequence()), accessNameKey(a.GetName(), a.GetSequence())}
				for _, code := range a.GetDossierCodes() {
					keys = append(keys, accessCodeKey(code, a.GetSequence()))
				}
				for _, k := range keys {
					if v, err := getValue(txn, k); err != nil || len(v) != 8 || int64(binary.BigEndian.Uint64(v)) != rec.GetSequence() {
						bad("access entry %d: key %q does not point at outbox %d (%v)", a.GetSequence(), k[:min(len(k), 3)], rec.GetSequence(), err)
					}
				}
				accessEntries++
				accessCodes += int64(len(a.GetDossierCodes()))
				want++
				continue
			}
			if rec.GetSeal() != nil {
				want++
				continue
			}
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
		if head > 0 && !bytes.Equal(prev, c.HeadHash) {
			bad("outbox: the head's hash is not the last record's")
		}
		// The access log: its head is the last entry of the outbox, and it
		// holds the keys of those entries and no others.
		ak, err := countAccessKeys(txn)
		switch {
		case err != nil:
			bad("access log: %v", err)
		case ak.head != wantAccess:
			bad("access log: head says %d, the outbox's last entry is %d", ak.head, wantAccess)
		case ak.log != accessEntries || ak.byName != accessEntries || ak.byCode != accessCodes:
			bad("access log: %d entries, %d by reader, %d by dossier; the outbox carries %d entries naming %d dossiers",
				ak.log, ak.byName, ak.byCode, accessEntries, accessCodes)
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
			c.Dossiers++
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
			// One handed here by a succession came with every event up to
			// central's SUCCEED, which is in no node's outbox.
			own := len(evs)
			for i, ev := range evs {
				switch ev.GetAction() {
				case dossier.AcceptTransfer:
					own = len(evs) - i
				case dossier.Succeed:
					own = len(evs) - i - 1
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
		for n := range xasov1.State_name {
			st := dossier.State(n)
			var have int64
			if v, err := getValue(txn, countKey(st)); err == nil && len(v) == 8 {
				have = int64(binary.BigEndian.Uint64(v))
			}
			if counts[st] != have {
				bad("counter of %s is %d, the store holds %d", dossier.StateName(st), have, counts[st])
			}
		}
		return nil
	})
	if err != nil {
		return StoreCheck{}, fmt.Errorf("check store: %w", err)
	}
	return c, nil
}
