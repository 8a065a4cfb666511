package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// ErrRestoring is returned for a desk change while the node restores its
// commune's data from central (restore_from_central): a change made now
// would take a sequence central has already given to another event.
var ErrRestoring = errors.New("this node is restoring its commune's data from central; changes are refused until it is done (GET /v1/sync says restoring: false)")

// keyRestored marks a store that finished a restore from central.
const keyRestored = "m/restored"

// MustRestore says the node was asked to restore its commune's data from
// central before clerks change anything (a replaced machine) and has not
// finished yet.
func (s *Store) MustRestore() bool { return s.restoring.Load() }

// RequireRestore makes the store refuse desk changes until Restored,
// unless an earlier restore finished.
func (s *Store) RequireRestore() error {
	err := s.view(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(keyRestored))
		return err
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrKeyNotFound):
		s.restoring.Store(true)
		return nil
	default:
		return fmt.Errorf("read the restore mark: %w", err)
	}
}

// Restored records that the store holds what central held of the commune
// and lets clerks change dossiers again.
func (s *Store) Restored(ctx context.Context) error {
	if !s.restoring.Load() {
		return nil
	}
	last, _ := s.OutboxHead()
	if _, err := s.write(ctx, func(*badger.Txn) (*effect, error) {
		eff := newEffect()
		eff.set([]byte(keyRestored), be64(uint64(last)))
		return eff, nil
	}); err != nil {
		return fmt.Errorf("record the restore: %w", err)
	}
	s.restoring.Store(false)
	s.log.Info("restore from central finished; the desk may change dossiers", "outbox_last", last)
	return nil
}

// Restore applies records central holds of this node's commune, which
// must continue the store's outbox chain: each event is applied to its
// dossier as the node applied it first, each access entry goes back in the
// access log, and the outbox record it makes
// must be the one central sent, hash for hash; nothing is written
// otherwise. prior holds, for each ACCEPT_TRANSFER record, the dossier's
// events before it. The records are acknowledged, since central holds
// them.
func (s *Store) Restore(ctx context.Context, recs []*xasov1.OutboxRecord, prior map[string]*xasov1.EventList) error {
	if len(recs) == 0 {
		return nil
	}
	_, err := s.write(ctx, func(txn *badger.Txn) (*effect, error) {
		// Desk changes are refused while restoring, so the head read here
		// is the one the batch starts from; apply checks it (expect).
		s.mu.Lock()
		head := s.head
		s.mu.Unlock()
		eff := newEffect()
		// Dossiers as they stand at the start of the batch, and as the
		// batch leaves them.
		before := map[string]*dossier.Dossier{}
		after := map[string]*dossier.Dossier{}
		var order []string
		counters := map[string]int64{} // counter key → the last sequence restored
		for _, rec := range recs {
			oe := outEvent{commune: rec.GetCommuneCode(), code: rec.GetDossierCode(), event: rec.GetEvent(), access: rec.GetAccess(), seal: rec.GetSeal()}
			want, err := chainRecord(head, oe)
			if err != nil {
				return nil, err
			}
			if rec.GetSequence() != want.GetSequence() || !bytes.Equal(rec.GetPrevHash(), head.hash) || !bytes.Equal(rec.GetHash(), want.GetHash()) {
				return nil, fmt.Errorf("record %d from central does not continue this node's chain at %d: %w", rec.GetSequence(), head.seq, errCorrupt)
			}
			head = outboxHead{seq: want.GetSequence(), hash: want.GetHash()}
			if rec.GetAccess() != nil {
				// An entry of the access log, which comes back with its own
				// sequence (apply checks that it is the log's next).
				eff.events = append(eff.events, oe)
				continue
			}
			if rec.GetSeal() != nil {
				// The chain was sealed: the node stays sealed.
				eff.events = append(eff.events, oe)
				eff.set([]byte(keySealed), []byte(rec.GetSeal().GetTime().AsTime().UTC().Format(time.RFC3339)))
				continue
			}
			code, ev := rec.GetDossierCode(), rec.GetEvent()
			d, seen := after[code]
			if !seen {
				old := &dossier.Dossier{}
				switch err := getProto(txn, dossierKey(code), old); {
				case err == nil:
					before[code] = old
					d = dossier.Clone(old)
				case errors.Is(err, ErrNotFound):
					d = &dossier.Dossier{}
				default:
					return nil, err
				}
				order = append(order, code)
			}
			if ev.GetAction() == dossier.AcceptTransfer || (len(prior[code].GetEvents()) > 0 && d.GetEventCount()+1 < ev.GetSequence()) {
				// The history before this commune took the dossier, as
				// central holds it (transferred, or handed over by a
				// succession: then the history ends with the SUCCEED).
				d = &dossier.Dossier{}
				for _, pe := range prior[code].GetEvents() {
					v, err := proto.Marshal(pe)
					if err != nil {
						return nil, err
					}
					eff.set(eventKey(code, pe.GetSequence()), v)
					dossier.Apply(d, pe)
				}
			}
			if ev.GetSequence() != d.GetEventCount()+1 {
				return nil, fmt.Errorf("record %d: event %d of dossier %s follows %d events: %w", rec.GetSequence(), ev.GetSequence(), code, d.GetEventCount(), errCorrupt)
			}
			dossier.Apply(d, ev)
			after[code] = d
			v, err := proto.Marshal(ev)
			if err != nil {
				return nil, err
			}
			eff.set(eventKey(code, ev.GetSequence()), v)
			eff.events = append(eff.events, outEvent{commune: rec.GetCommuneCode(), code: code, event: ev})
			if ev.GetAction() == dossier.Receive {
				// A receipt in this commune's stream was numbered by this
				// commune's node, from the counter of its series (a code
				// naming a commune names this one: central checked it).
				if pc, err := dossier.ParseCode(code); err == nil && (pc.Commune == "" || pc.Commune == rec.GetCommuneCode()) {
					key := string(counterKey(pc))
					counters[key] = max(counters[key], int64(pc.Seq))
				}
			}
		}
		for _, code := range order {
			if err := writeDossierState(eff, s, before[code], after[code]); err != nil {
				return nil, err
			}
		}
		// The counters go past every code restored, so that no new
		// dossier takes one of them.
		for key, seq := range counters {
			if v, err := getValue(txn, []byte(key)); err == nil && len(v) == 8 && int64(be64Decode(v)) >= seq {
				continue
			}
			eff.set([]byte(key), be64(uint64(seq)))
		}
		eff.set([]byte(keyAcked), be64(uint64(head.seq)))
		eff.expect = &head
		return eff, nil
	})
	if err != nil {
		return fmt.Errorf("restore records %d to %d: %w", recs[0].GetSequence(), recs[len(recs)-1].GetSequence(), err)
	}
	s.mu.Lock()
	s.acked = max(s.acked, recs[len(recs)-1].GetSequence())
	s.mu.Unlock()
	return nil
}
