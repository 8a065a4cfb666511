package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// The access log: every read of personal data at the node (a dossier, a
// list, a file, a receipt) with who read it, when and from where. An
// entry is an outbox record like an event, numbered in the log's own
// dense sequence besides, so that it is chained, sent to central and
// acknowledged as events are; the log's keys (keys.go) point at those
// records. Nothing deletes an entry.

// setAccessKeys writes the access log's keys of entry a, carried by the
// outbox record at seq: the log's own key and the index keys of each
// dossier it names and of its reader.
func setAccessKeys(txn *badger.Txn, a *xasov1.AccessEntry, seq int64) error {
	ptr := be64(uint64(seq))
	if err := txn.Set(accessKey(a.GetSequence()), ptr); err != nil {
		return err
	}
	for _, code := range a.GetDossierCodes() {
		if err := txn.Set(accessCodeKey(code, a.GetSequence()), ptr); err != nil {
			return err
		}
	}
	return txn.Set(accessNameKey(a.GetName(), a.GetSequence()), ptr)
}

// RecordAccess appends an access entry to the log (and, chained, to the
// outbox for central) and returns once it is durable. The entry is
// checked as central will check it (dossier.CheckOwnAccess): a caller
// bounds what it records (see boundAccess). Reads are refused while the
// node restores from central, as changes are: an entry written then
// would take a sequence central has given to another record.
func (s *Store) RecordAccess(ctx context.Context, commune string, a *xasov1.AccessEntry, now time.Time) error {
	if s.restoring.Load() {
		return ErrRestoring
	}
	if err := dossier.CheckOwnAccess(a, now); err != nil {
		// Not the reader's input but the node's own entry: an internal error.
		return fmt.Errorf("record access: the entry is not one central takes: %v", err)
	}
	_, err := s.write(ctx, func(*badger.Txn) (*effect, error) {
		eff := newEffect()
		eff.events = append(eff.events, outEvent{commune: commune, access: a})
		return eff, nil
	})
	if err != nil {
		return fmt.Errorf("record access: %w", err)
	}
	return nil
}

// AccessHead is the access log's last sequence.
func (s *Store) AccessHead() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.access
}

// AccessFilter chooses access log entries: those naming a dossier, those
// of a reader, or both; every entry when empty.
type AccessFilter struct {
	DossierCode string
	// Name is the reader's name; ByName says to filter on it (an empty
	// name is the entries whose reader the node could not tell).
	Name   string
	ByName bool
}

// AccessLog returns up to n entries matching f, newest first, from
// before sequence before (0: from the newest), and the sequence to go on
// before (0 when nothing is left). It reads the index f chooses; a page
// may come back short when both a dossier and a reader are asked for, as
// the work of one page is bounded.
func (s *Store) AccessLog(f AccessFilter, n int, before int64) ([]*xasov1.AccessEntry, int64, error) {
	var prefix []byte
	switch {
	case f.DossierCode != "":
		prefix = accessCodePrefix(f.DossierCode)
	case f.ByName:
		prefix = accessNamePrefix(f.Name)
	default:
		prefix = []byte(prefixAccess)
	}
	start := append(bytes.Clone(prefix), 0xff)
	if before > 0 {
		start = cat(prefix, be64(uint64(before-1)))
	}
	var out []*xasov1.AccessEntry
	var next int64
	budget := 20*n + 1000
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: true, PrefetchSize: min(n, 100)})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("access log key %q: %w", k, errCorrupt)
			}
			seq := int64(binary.BigEndian.Uint64(k[len(prefix):]))
			if before > 0 && seq >= before {
				continue
			}
			if len(out) == n || budget == 0 {
				next = seq + 1
				return nil
			}
			budget--
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 8 {
				return fmt.Errorf("access log key %q: a pointer of %d bytes: %w", k, len(v), errCorrupt)
			}
			rec := &xasov1.OutboxRecord{}
			if err := getProto(txn, outboxKey(int64(binary.BigEndian.Uint64(v))), rec); err != nil {
				return fmt.Errorf("access entry %d: %w", seq, err)
			}
			a := rec.GetAccess()
			if a.GetSequence() != seq {
				return fmt.Errorf("access entry %d: its outbox record carries entry %d: %w", seq, a.GetSequence(), errCorrupt)
			}
			if f.ByName && a.GetName() != f.Name {
				continue
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read the access log: %w", err)
	}
	return out, next, nil
}

// accessKeys is what Check reads of the access log: its head and how
// many keys each of its prefixes holds.
type accessKeys struct {
	head                int64
	log, byCode, byName int64
}

// countAccessKeys counts the access log's keys in txn.
func countAccessKeys(txn *badger.Txn) (accessKeys, error) {
	var c accessKeys
	switch v, err := getValue(txn, []byte(keyAccessHead)); {
	case err == nil && len(v) == 8:
		c.head = int64(binary.BigEndian.Uint64(v))
	case err == nil:
		return c, fmt.Errorf("access log head: %d bytes: %w", len(v), errCorrupt)
	case !errors.Is(err, ErrNotFound):
		return c, err
	}
	for _, p := range []struct {
		prefix string
		n      *int64
	}{{prefixAccess, &c.log}, {prefixAccessCode, &c.byCode}, {prefixAccessName, &c.byName}} {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(p.prefix)})
		for it.Rewind(); it.Valid(); it.Next() {
			*p.n++
		}
		it.Close()
	}
	return c, nil
}
