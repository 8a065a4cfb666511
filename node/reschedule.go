package node

import (
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	"github.com/xaso/xaso/dossier"
)

// openStates are the states whose dossiers' legal clock concerns the
// commune (dossier.IsOpen).
var openStates = []dossier.State{dossier.Received, dossier.InProcessing, dossier.AwaitingSupplement, dossier.AwaitingApproval}

// reschedule adds to eff, with the calendar central published at Raft
// index index, a RESCHEDULE event for each open dossier whose due time was
// provisional under the calendar the node had (oldJSON) and falls on
// another time on the new one (dossier.RescheduleEvent), so that the
// dossier's log says why its due time moved. A dossier whose due time was
// already computed on this calendar or a later one is left alone (the feed
// may come again). It writes nothing while the node restores from central:
// the events would take sequences central gave already, and central's
// dossiers carry their own RESCHEDULE events. A dossier that cannot be
// rescheduled is logged and skipped, not allowed to stop the feed. It
// returns how many dossiers moved.
func (s *Store) reschedule(txn *badger.Txn, eff *effect, oldJSON []byte, cal *dossier.Calendar, index uint64, commune string, now time.Time) (int, error) {
	if s.restoring.Load() || index == 0 || oldJSON == nil {
		return 0, nil
	}
	old, err := dossier.ParseCalendar(oldJSON)
	if err != nil {
		return 0, fmt.Errorf("the calendar in force: %w", err)
	}
	var codes []string
	for _, st := range openStates {
		prefix := cat([]byte(prefixByState), []byte{byte(st), '/'})
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		for it.Rewind(); it.Valid(); it.Next() {
			codes = append(codes, string(it.Item().KeyCopy(nil)[len(prefix):]))
		}
		it.Close()
	}
	moved := 0
	for _, code := range codes {
		d := &dossier.Dossier{}
		if err := getProto(txn, dossierKey(code), d); err != nil {
			return moved, fmt.Errorf("dossier %s: %w", code, err)
		}
		if d.GetCommuneCode() != commune || d.GetCalendarIndex() >= index || !dossier.DueProvisional(d, old) {
			continue
		}
		evs, err := readEvents(txn, code)
		if err != nil {
			return moved, err
		}
		ev, err := dossier.RescheduleEvent(d, evs, cal, index, now)
		if err == nil && ev != nil {
			if err = dossier.CheckOwn(d, ev, commune, now); err == nil {
				err = dossier.CheckReschedule(evs, ev, cal)
			}
		}
		if err != nil {
			s.log.Error("calendar from central: the due time of a dossier cannot be recomputed; it keeps the provisional one",
				"dossier", code, "calendar_index", index, "err", err)
			continue
		}
		if ev == nil {
			continue
		}
		next := proto.Clone(d).(*dossier.Dossier)
		dossier.Apply(next, ev)
		if err := writeDossier(eff, s, d, next, ev); err != nil {
			return moved, err
		}
		s.log.Info("calendar from central: due time recomputed", "dossier", code, "calendar_index", index,
			"from", d.GetDueTime().AsTime(), "to", next.GetDueTime().AsTime())
		moved++
	}
	return moved, nil
}
