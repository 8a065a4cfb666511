package central

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// ErrNotFound is returned for a commune or procedure central does not hold.
var ErrNotFound = errNotFound

// Procedure returns the current version of a procedure.
func (f *FSM) Procedure(code string) (*xasov1.Procedure, error) {
	p := &xasov1.Procedure{}
	err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, []byte(prefixProcedure+code), p) })
	if err != nil {
		return nil, fmt.Errorf("procedure %s: %w", code, err)
	}
	return p, nil
}

// Procedures returns the current catalogue, by code.
func (f *FSM) Procedures() ([]*xasov1.Procedure, error) {
	return list(f, prefixProcedure, func() *xasov1.Procedure { return &xasov1.Procedure{} })
}

// Communes returns the registry, by code.
func (f *FSM) Communes() ([]*xasov1.Commune, error) {
	return list(f, prefixCommune, func() *xasov1.Commune { return &xasov1.Commune{} })
}

// Audit returns the audit records, oldest first.
func (f *FSM) Audit() ([]*xasov1.AuditRecord, error) {
	return list(f, prefixAudit, func() *xasov1.AuditRecord { return &xasov1.AuditRecord{} })
}

func list[M proto.Message](f *FSM, prefix string, mk func() M) (out []M, err error) {
	err = f.db.View(func(txn *badger.Txn) error {
		out, err = listTxn(txn, prefix, mk)
		return err
	})
	return out, err
}

// CalendarJSON returns the working calendar central holds, or ErrNotFound.
func (f *FSM) CalendarJSON() ([]byte, error) {
	var v []byte
	err := f.db.View(func(txn *badger.Txn) (err error) {
		v, err = getValue(txn, []byte(keyCalendar))
		return err
	})
	if errors.Is(err, errNotFound) {
		return nil, ErrNotFound
	}
	return v, err
}

// ProcedureVersion returns one version of a procedure; 0 is the current one.
func (f *FSM) ProcedureVersion(code string, version int32) (*xasov1.Procedure, error) {
	if version == 0 {
		return f.Procedure(code)
	}
	p := &xasov1.Procedure{}
	key := binary.BigEndian.AppendUint32([]byte(prefixProcVer+code+"/"), uint32(version))
	if err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, key, p) }); err != nil {
		return nil, fmt.Errorf("procedure %s version %d: %w", code, version, err)
	}
	return p, nil
}

// Dossier returns a dossier with its events, as the home node sent them.
func (f *FSM) Dossier(code string) (*xasov1.Dossier, error) {
	var d *xasov1.Dossier
	err := f.db.View(func(txn *badger.Txn) error {
		stored := &xasov1.StoredDossier{}
		if err := getProto(txn, []byte(prefixDossier+code), stored); err != nil {
			return err
		}
		evs, err := dossierEvents(txn, stored.GetEventRecords())
		d = stored.GetDossier()
		d.Events = evs
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dossier %s: %w", code, err)
	}
	return d, nil
}

// NodeStream returns central's high-water mark of a commune's events.
func (f *FSM) NodeStream(commune string) (*xasov1.NodeStream, error) {
	hw := &xasov1.NodeStream{}
	err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, []byte(prefixHighWater+commune), hw) })
	if errors.Is(err, errNotFound) {
		return &xasov1.NodeStream{CommuneCode: commune, LastHash: dossier.GenesisHash()}, nil
	}
	return hw, err
}

// Records returns a commune's outbox records from sequence from on, at most limit.
func (f *FSM) Records(commune string, from int64, limit int) ([]*xasov1.OutboxRecord, error) {
	var out []*xasov1.OutboxRecord
	prefix := []byte(prefixRecord + commune + "/")
	err := f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
		defer it.Close()
		for it.Seek(binary.BigEndian.AppendUint64(prefix, uint64(max(from, 0)))); it.Valid() && len(out) < limit; it.Next() {
			rec := &xasov1.OutboxRecord{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, rec) }); err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Commune returns one commune of the registry.
func (f *FSM) Commune(code string) (*xasov1.Commune, error) {
	c := &xasov1.Commune{}
	if err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, []byte(prefixCommune+code), c) }); err != nil {
		return nil, fmt.Errorf("commune %s: %w", code, err)
	}
	return c, nil
}

// TokenBySecretHash returns the operator token whose secret hashes to sum.
func (f *FSM) TokenBySecretHash(sum string) (*xasov1.OperatorToken, error) {
	t := &xasov1.OperatorToken{}
	err := f.db.View(func(txn *badger.Txn) error {
		name, err := getValue(txn, []byte(prefixTokenSecret+sum))
		if err != nil {
			return err
		}
		return getProto(txn, []byte(prefixToken+string(name)), t)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TokenIssued reports whether an operator token was ever made: from then
// on the bootstrap token is refused, even when every token was deleted.
func (f *FSM) TokenIssued() (issued bool, err error) {
	err = f.db.View(func(txn *badger.Txn) error {
		issued, err = tokenIssued(txn)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("read whether a token was made: %w", err)
	}
	return issued, nil
}

// tokenIssued reads the mark a token's making leaves, or, in a state from
// before the mark, whether any token exists.
func tokenIssued(txn *badger.Txn) (bool, error) {
	_, err := txn.Get([]byte(keyTokenIssued))
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, badger.ErrKeyNotFound):
		return false, err
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixToken)})
	defer it.Close()
	it.Rewind()
	return it.Valid(), nil
}

// Tokens returns the operator tokens, by name.
func (f *FSM) Tokens() ([]*xasov1.OperatorToken, error) {
	return list(f, prefixToken, func() *xasov1.OperatorToken { return &xasov1.OperatorToken{} })
}

// Enrollment returns the enrollment token whose secret hashes to sum.
func (f *FSM) Enrollment(sum string) (*xasov1.EnrollmentToken, error) {
	t := &xasov1.EnrollmentToken{}
	if err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, []byte(prefixEnrollment+sum), t) }); err != nil {
		return nil, err
	}
	return t, nil
}

// Members returns what central knows of its members' API addresses.
func (f *FSM) Members() ([]*xasov1.ClusterMember, error) {
	return list(f, prefixMember, func() *xasov1.ClusterMember { return &xasov1.ClusterMember{} })
}

// AuditPage returns up to n audit records after the key after (exclusive;
// nil for the first page) and the key to continue after, nil at the end.
func (f *FSM) AuditPage(after []byte, n int) ([]*xasov1.AuditRecord, []byte, error) {
	var out []*xasov1.AuditRecord
	var last, next []byte
	err := f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixAudit), PrefetchValues: true})
		defer it.Close()
		start := []byte(prefixAudit)
		if len(after) > 0 {
			start = append(append([]byte(nil), after...), 0)
		}
		for it.Seek(start); it.Valid(); it.Next() {
			if len(out) == n {
				next = last
				return nil
			}
			r := &xasov1.AuditRecord{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, r) }); err != nil {
				return err
			}
			out, last = append(out, r), it.Item().KeyCopy(nil)
		}
		return nil
	})
	return out, next, err
}

// EnrolledNode returns an enrolled node, or ErrNotFound.
func (f *FSM) EnrolledNode(id string) (*xasov1.EnrolledNode, error) {
	n := &xasov1.EnrolledNode{}
	if err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, []byte(prefixNode+id), n) }); err != nil {
		return nil, fmt.Errorf("node %s: %w", id, err)
	}
	return n, nil
}

// EnrolledNodes returns every enrolled node, by node id.
func (f *FSM) EnrolledNodes() ([]*xasov1.EnrolledNode, error) {
	return list(f, prefixNode, func() *xasov1.EnrolledNode { return &xasov1.EnrolledNode{} })
}

// FeedAfter returns up to limit feed items after sequence after that are
// for commune (items for every commune, and those for this one), in order,
// and the last sequence it looked at.
func (f *FSM) FeedAfter(commune string, after uint64, limit int) ([]*xasov1.FeedItem, uint64, error) {
	var out []*xasov1.FeedItem
	last := after
	err := f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixFeed), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(feedKey(after + 1)); it.Valid() && len(out) < limit; it.Next() {
			item := &xasov1.FeedItem{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, item) }); err != nil {
				return fmt.Errorf("decode feed item %x: %w", it.Item().Key(), err)
			}
			last = item.GetSequence()
			if feedFor(item, commune) {
				out = append(out, item)
			}
		}
		return nil
	})
	return out, last, err
}

// feedFor says whether a feed item is for commune: addressed to it, or to
// every commune by an operator's command. An item from before the
// broadcast flag, with no commune, is for all unless it is a transfer
// (which a node's record made: never for all).
func feedFor(item *xasov1.FeedItem, commune string) bool {
	switch c := item.GetCommuneCode(); {
	case c != "":
		return c == commune
	case item.GetBroadcast():
		return true
	default:
		return item.GetTransfer() == nil
	}
}

// FeedHead is the last sequence of the feed (0 when it is empty).
func (f *FSM) FeedHead() (head uint64, err error) {
	err = f.db.View(func(txn *badger.Txn) error {
		head, err = readFeedHead(txn)
		return err
	})
	return head, err
}

// CommuneSettings returns a commune's sync settings (the zero settings when
// none were set).
func (f *FSM) CommuneSettings(commune string) (*xasov1.CommuneSettings, error) {
	set := &xasov1.CommuneSettings{}
	err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, []byte(prefixSettings+commune), set) })
	if errors.Is(err, errNotFound) {
		return set, nil
	}
	return set, err
}

// AccessRecords returns up to n entries of commune's access log, newest
// first, from before entry before (0: from the newest), those naming
// dossier code when it is set, and the entry to go on before (0 when
// nothing is left).
func (f *FSM) AccessRecords(commune, code string, before int64, n int) ([]*xasov1.AccessEntry, int64, error) {
	prefix := accessPrefix(commune)
	if code != "" {
		prefix = accessCodePrefix(commune, code)
	}
	start := append(bytes.Clone(prefix), 0xff)
	if before > 0 {
		start = binary.BigEndian.AppendUint64(bytes.Clone(prefix), uint64(before-1))
	}
	var out []*xasov1.AccessEntry
	var next int64
	err := f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: true, PrefetchSize: min(n, 100)})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(prefix)+8 {
				return fmt.Errorf("access log key %q of %d bytes", k, len(k))
			}
			seq := int64(binary.BigEndian.Uint64(k[len(prefix):]))
			if len(out) == n {
				next = seq + 1
				return nil
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 8 {
				return fmt.Errorf("access log key %q: a pointer of %d bytes", k, len(v))
			}
			rec := &xasov1.OutboxRecord{}
			if err := getProto(txn, binary.BigEndian.AppendUint64([]byte(prefixRecord+commune+"/"), binary.BigEndian.Uint64(v)), rec); err != nil {
				return fmt.Errorf("access entry %d of %s: %w", seq, commune, err)
			}
			if rec.GetAccess().GetSequence() != seq {
				return fmt.Errorf("access entry %d of %s: its record carries entry %d", seq, commune, rec.GetAccess().GetSequence())
			}
			out = append(out, rec.GetAccess())
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read the access log of %s: %w", commune, err)
	}
	return out, next, nil
}
