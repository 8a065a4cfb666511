package node

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// prefixOnline keeps the online filings central routed to this commune,
// waiting for the desk: on/{portal code} → OnlineFiling.
const prefixOnline = "on/"

// Time limits on an online filing (Decree 118/2025 art. 17(2)).
const (
	// OnlineAlert: within 2 hours of the portal's acknowledgement to the
	// citizen, the system tells the desk's clerk (art. 17(2)).
	OnlineAlert = 2 * time.Hour
	// OnlineAcceptLimit: the desk tells the citizen that the dossier is
	// received, or what to complete, within 8 working hours (art. 17(2)(c)).
	OnlineAcceptLimit = 8 * time.Hour
)

// OnlineWaiting is an online filing waiting for the desk, with its limits.
type OnlineWaiting struct {
	Filing *xasov1.OnlineFiling
	// Filed is when the citizen filed it on the portal.
	Filed time.Time
	// AlertBy is when the desk must have been told (art. 17(2)).
	AlertBy time.Time
	// AcceptBy is when the desk must have received it or asked for
	// completion: 8 working hours after filing (art. 17(2)(c)).
	AcceptBy time.Time
	// Overdue says AcceptBy has passed.
	Overdue bool
}

// putOnlineFiling keeps an online filing from central's feed for this
// commune's desk; one not addressed to commune is skipped (a node takes
// only what is addressed to it), one already kept is kept as it was.
func (s *Store) putOnlineFiling(txn *badger.Txn, eff *effect, item *xasov1.FeedItem, f *xasov1.OnlineFiling, commune string) error {
	if item.GetCommuneCode() != commune || f.GetCommuneCode() != commune {
		s.log.Warn("feed: skipped an online filing not addressed to this commune", "feed_sequence", item.GetSequence(),
			"item_commune", item.GetCommuneCode(), "portal_code", f.GetPortalCode(), "to", f.GetCommuneCode())
		return nil
	}
	if f.GetPortalCode() == "" || f.GetFiledTime() == nil {
		return fmt.Errorf("online filing from central: no portal code or filing time")
	}
	key := []byte(prefixOnline + f.GetPortalCode())
	if _, err := txn.Get(key); err == nil {
		return nil
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("online filing %s: %w", f.GetPortalCode(), err)
	}
	v, err := proto.Marshal(f)
	if err != nil {
		return err
	}
	eff.set(key, v)
	return nil
}

// OnlineQueue lists the online filings waiting for the desk, oldest
// first, with their limits on cal at now.
func (s *Store) OnlineQueue(cal *dossier.Calendar, now time.Time) ([]OnlineWaiting, error) {
	var out []OnlineWaiting
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixOnline)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			f := &xasov1.OnlineFiling{}
			if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, f) }); err != nil {
				return fmt.Errorf("online filing %s: %w", it.Item().Key(), err)
			}
			filed := f.GetFiledTime().AsTime()
			w := OnlineWaiting{Filing: f, Filed: filed, AlertBy: filed.Add(OnlineAlert), AcceptBy: cal.AddWorkingHours(filed, OnlineAcceptLimit)}
			w.Overdue = now.After(w.AcceptBy)
			out = append(out, w)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Filed.Before(out[j].Filed) })
	return out, err
}

// onlineRow is an online filing as the desk's queue shows it: no personal
// data (the applicant is read when the clerk opens the filing).
type onlineRow struct {
	Code, Procedure          string
	Filed, AlertBy, AcceptBy time.Time
	Overdue                  bool
	Files                    int
}

// onlineRows lists the online filings waiting, for the desk's queue.
func (p *pages) onlineRows(cal *dossier.Calendar, now time.Time) ([]onlineRow, error) {
	q, err := p.n.store.OnlineQueue(cal, now)
	if err != nil {
		return nil, err
	}
	out := make([]onlineRow, 0, len(q))
	for _, w := range q {
		name := w.Filing.GetProcedureCode()
		if pr, err := p.n.store.Procedure(name); err == nil {
			name = pr.GetName()
		}
		out = append(out, onlineRow{Code: w.Filing.GetPortalCode(), Procedure: name, Filed: w.Filed, AlertBy: w.AlertBy,
			AcceptBy: w.AcceptBy, Overdue: w.Overdue, Files: len(w.Filing.GetFiles())})
	}
	return out, nil
}
