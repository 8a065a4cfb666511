package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// What replication needs of the store: the outbox to send, the
// acknowledgements to keep, the feed from central to apply, and the
// node's identity.

// OutboxChanged returns a channel closed when the outbox next grows.
func (s *Store) OutboxChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// ReadOutbox returns consecutive outbox records from sequence from on, at
// most maxRecords and about maxBytes (always at least one when there is one).
func (s *Store) ReadOutbox(from int64, maxRecords, maxBytes int) ([]*xasov1.OutboxRecord, error) {
	var out []*xasov1.OutboxRecord
	err := s.view(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixOutbox), PrefetchValues: true, PrefetchSize: 100})
		defer it.Close()
		size := 0
		for it.Seek(outboxKey(from)); it.Valid() && len(out) < maxRecords; it.Next() {
			item := it.Item()
			if len(out) > 0 && size+int(item.ValueSize()) > maxBytes {
				break
			}
			rec := &xasov1.OutboxRecord{}
			if err := item.Value(func(v []byte) error { return proto.Unmarshal(v, rec) }); err != nil {
				return fmt.Errorf("decode outbox record %x: %w", item.Key(), err)
			}
			if rec.GetSequence() != from+int64(len(out)) {
				return fmt.Errorf("outbox record %d where %d was expected", rec.GetSequence(), from+int64(len(out)))
			}
			size += int(item.ValueSize())
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// Acknowledge records that central committed every record up to seq.
func (s *Store) Acknowledge(ctx context.Context, seq int64) error {
	last, acked := s.OutboxHead()
	if seq <= acked {
		return nil
	}
	if seq > last {
		return fmt.Errorf("acknowledgement of %d beyond the outbox's last sequence %d", seq, last)
	}
	_, err := s.write(ctx, func(*badger.Txn) (*effect, error) {
		eff := newEffect()
		eff.set([]byte(keyAcked), be64(uint64(seq)))
		return eff, nil
	})
	if err != nil {
		return fmt.Errorf("record acknowledgement: %w", err)
	}
	s.mu.Lock()
	s.acked = max(s.acked, seq)
	s.mu.Unlock()
	return nil
}

// RecordHash returns the hash of the outbox record at seq; the genesis
// hash at 0, before the first.
func (s *Store) RecordHash(seq int64) ([]byte, error) {
	if seq == 0 {
		return dossier.GenesisHash(), nil
	}
	rec := &xasov1.OutboxRecord{}
	if err := s.view(func(txn *badger.Txn) error { return getProto(txn, outboxKey(seq), rec) }); err != nil {
		return nil, fmt.Errorf("outbox record %d: %w", seq, err)
	}
	return rec.GetHash(), nil
}

// OldestPending returns the time of the oldest record (event or access
// entry) central has not acknowledged; zero when there is none.
func (s *Store) OldestPending() (time.Time, error) {
	_, acked := s.OutboxHead()
	recs, err := s.ReadOutbox(acked+1, 1, 1)
	if err != nil || len(recs) == 0 {
		return time.Time{}, err
	}
	if a := recs[0].GetAccess(); a != nil {
		return a.GetTime().AsTime(), nil
	}
	if sl := recs[0].GetSeal(); sl != nil {
		return sl.GetTime().AsTime(), nil
	}
	return recs[0].GetEvent().GetTime().AsTime(), nil
}

// Contact records that central answered at t.
func (s *Store) Contact(t time.Time) { s.lastContact.Store(t.UnixNano()) }

// FeedSequence is the last feed item applied.
func (s *Store) FeedSequence() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.feed
}

// applyFeedItem applies one item of central's feed for commune (this
// node's) with its checkpoint, in one transaction. Items at or below the
// checkpoint are skipped (a feed resent after a cut), and so is a transfer
// that does not name this commune both as the item's and as the dossier's
// destination: a node takes only what is addressed to it.
func (s *Store) applyFeedItem(ctx context.Context, item *xasov1.FeedItem, commune string, now time.Time) error {
	// The feed's sequence is the province's: items for other communes are
	// not sent here, so the sequence rises with gaps.
	if item.GetSequence() <= s.FeedSequence() {
		return nil
	}
	_, err := s.write(ctx, func(txn *badger.Txn) (*effect, error) {
		eff := newEffect()
		switch it := item.GetItem().(type) {
		case *xasov1.FeedItem_Procedure:
			p := it.Procedure
			if err := dossier.ValidateProcedure(p); err != nil {
				return nil, fmt.Errorf("procedure %s from central: %w", p.GetCode(), err)
			}
			v, err := proto.Marshal(p)
			if err != nil {
				return nil, err
			}
			// Central's catalogue is the authority: its version replaces
			// the one the node started with, even at the same number.
			cur := &xasov1.Procedure{}
			if err := getProto(txn, procedureKey(p.GetCode()), cur); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			if p.GetVersion() >= cur.GetVersion() {
				eff.set(procedureKey(p.GetCode()), v)
			}
			eff.set(procVersionKey(p.GetCode(), p.GetVersion()), v)
		case *xasov1.FeedItem_Transfer:
			if item.GetCommuneCode() != commune || it.Transfer.GetTransferCommuneCode() != commune {
				s.log.Warn("feed: skipped a transfer not addressed to this commune", "feed_sequence", item.GetSequence(),
					"item_commune", item.GetCommuneCode(), "dossier", it.Transfer.GetCode(), "to", it.Transfer.GetTransferCommuneCode())
				break
			}
			if err := s.acceptTransfer(txn, eff, it.Transfer, commune, now); err != nil {
				return nil, err
			}
		case *xasov1.FeedItem_Succeeded:
			if item.GetCommuneCode() != commune || it.Succeeded.GetCommuneCode() != commune {
				s.log.Warn("feed: skipped a succeeded dossier not addressed to this commune", "feed_sequence", item.GetSequence(),
					"item_commune", item.GetCommuneCode(), "dossier", it.Succeeded.GetCode(), "owner", it.Succeeded.GetCommuneCode())
				break
			}
			if err := s.takeSucceeded(txn, eff, it.Succeeded, commune); err != nil {
				return nil, err
			}
		case *xasov1.FeedItem_Succession:
			// Only the succession this commune ceases in concerns its
			// node: from its effective time the desk takes no receipt.
			if slices.Contains(it.Succession.GetPredecessorCodes(), commune) {
				v, err := proto.Marshal(it.Succession)
				if err != nil {
					return nil, err
				}
				eff.set([]byte(keySuccession), v)
			}
		case *xasov1.FeedItem_Settings:
			v, err := proto.Marshal(it.Settings)
			if err != nil {
				return nil, err
			}
			eff.set([]byte(keySettings), v)
		case *xasov1.FeedItem_Commune:
			if !dossier.ValidCommuneCode(it.Commune.GetCode()) {
				return nil, fmt.Errorf("commune %q from central: not a 5-digit code", it.Commune.GetCode())
			}
			if a := it.Commune.GetAgencyId(); a != "" && !dossier.ValidAgencyID(a) {
				return nil, fmt.Errorf("commune %s from central: %w", it.Commune.GetCode(), dossier.CheckAgencyID(a))
			}
			v, err := proto.Marshal(it.Commune)
			if err != nil {
				return nil, err
			}
			eff.set([]byte(prefixCommune+it.Commune.GetCode()), v)
		case *xasov1.FeedItem_CalendarJson:
			cal, err := dossier.ParseCalendar([]byte(it.CalendarJson))
			if err != nil {
				return nil, fmt.Errorf("calendar from central: %w", err)
			}
			// Provisional due times move to the published year's, each
			// with its event (reschedule.go), with the calendar at once.
			oldJSON, err := getValue(txn, []byte(keyCalendar))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("calendar in force: %w", err)
			}
			if _, err := s.reschedule(txn, eff, oldJSON, cal, item.GetRaftIndex(), commune, now); err != nil {
				return nil, fmt.Errorf("calendar from central: %w", err)
			}
			eff.set([]byte(keyCalendar), []byte(it.CalendarJson))
		case *xasov1.FeedItem_OnlineFiling:
			if err := s.putOnlineFiling(txn, eff, item, it.OnlineFiling, commune); err != nil {
				return nil, err
			}
		default:
			// An item this version does not know: skip it, keep the order.
		}
		eff.set([]byte(keyFeed), binary.BigEndian.AppendUint64(nil, item.GetSequence()))
		return eff, nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.feed = item.GetSequence()
	s.mu.Unlock()
	return nil
}

// Identity returns the node's enrollment: nil before it first tried, a key
// alone while it is enrolling, then the key with its certificate and the CA.
func (s *Store) Identity() (*xasov1.NodeIdentity, error) {
	id := &xasov1.NodeIdentity{}
	err := s.view(func(txn *badger.Txn) error { return getProto(txn, []byte(keyIdentity), id) })
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	return id, nil
}

// SaveIdentity keeps the node's enrollment (in the store, encrypted at rest
// with it when a key is configured).
func (s *Store) SaveIdentity(ctx context.Context, id *xasov1.NodeIdentity) error {
	v, err := proto.Marshal(id)
	if err != nil {
		return err
	}
	_, err = s.write(ctx, func(*badger.Txn) (*effect, error) {
		eff := newEffect()
		eff.set([]byte(keyIdentity), v)
		return eff, nil
	})
	return err
}

// NextUpload returns the first file of the upload queue central does not
// hold in full yet, with its queue position; nil when there is none.
func (s *Store) NextUpload() (uint64, *xasov1.AttachmentManifest, error) {
	s.mu.Lock()
	pos, head := s.uploaded+1, s.uploads
	s.mu.Unlock()
	if pos > head {
		return 0, nil, nil
	}
	man := &xasov1.AttachmentManifest{}
	err := s.view(func(txn *badger.Txn) error {
		sha, err := getValue(txn, uploadKey(pos))
		if err != nil {
			return fmt.Errorf("upload queue at %d: %w", pos, err)
		}
		return getProto(txn, attachmentKey(string(sha)), man)
	})
	if err != nil {
		return 0, nil, err
	}
	return pos, man, nil
}

// Chunk returns a stored chunk by its hash.
func (s *Store) Chunk(sum []byte) ([]byte, error) {
	var v []byte
	err := s.view(func(txn *badger.Txn) (err error) {
		v, err = getValue(txn, chunkKey(sum))
		return err
	})
	return v, err
}

// Uploaded records that central holds the file at queue position pos.
func (s *Store) Uploaded(ctx context.Context, pos uint64) error {
	_, err := s.write(ctx, func(*badger.Txn) (*effect, error) {
		eff := newEffect()
		eff.set([]byte(keyUploaded), be64(pos))
		return eff, nil
	})
	if err != nil {
		return fmt.Errorf("record upload: %w", err)
	}
	s.mu.Lock()
	s.uploaded = max(s.uploaded, pos)
	s.mu.Unlock()
	return nil
}

// PendingUploadCount is how many files central does not hold in full yet,
// from the positions the store keeps in memory.
func (s *Store) PendingUploadCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(s.uploads - s.uploaded)
}

// PendingUploads returns the files central does not hold yet and their bytes.
func (s *Store) PendingUploads() (files, bytes int64, err error) {
	s.mu.Lock()
	from, head := s.uploaded+1, s.uploads
	s.mu.Unlock()
	err = s.view(func(txn *badger.Txn) error {
		for pos := from; pos <= head; pos++ {
			sha, err := getValue(txn, uploadKey(pos))
			if err != nil {
				return err
			}
			man := &xasov1.AttachmentManifest{}
			if err := getProto(txn, attachmentKey(string(sha)), man); err != nil {
				return err
			}
			files++
			bytes += man.GetAttachment().GetSizeBytes()
		}
		return nil
	})
	return files, bytes, err
}

// acceptTransfer takes a dossier another commune transferred to this one:
// its history as central holds it, then this node's ACCEPT_TRANSFER event,
// which goes to the outbox like any change.
func (s *Store) acceptTransfer(txn *badger.Txn, eff *effect, in *xasov1.Dossier, commune string, now time.Time) error {
	code := in.GetCode()
	old := &dossier.Dossier{}
	switch err := getProto(txn, dossierKey(code), old); {
	case errors.Is(err, ErrNotFound):
		old = nil
	case err != nil:
		return fmt.Errorf("transfer of dossier %s: %w", code, err)
	case old.GetEventCount() > in.GetEventCount():
		// Taken already: its ACCEPT_TRANSFER follows these events (the
		// feed is replayed from the start after a restore from central).
		return nil
	case old.GetState() != dossier.Transferred || old.GetEventCount() >= in.GetEventCount():
		return fmt.Errorf("transfer of dossier %s: this node holds it already", code)
	}
	// Otherwise it is new here, or it comes back after this commune
	// transferred it away.
	if int64(len(in.GetEvents())) != in.GetEventCount() {
		return fmt.Errorf("transfer of dossier %s: %d events for an event count of %d", code, len(in.GetEvents()), in.GetEventCount())
	}
	for _, ev := range in.GetEvents() {
		v, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		eff.set(eventKey(code, ev.GetSequence()), v)
	}
	d := dossier.Clone(in)
	d.Events = nil
	ev, err := dossier.AcceptTransferEvent(d, commune, now)
	if err != nil {
		return fmt.Errorf("transfer of dossier %s: %w", code, err)
	}
	if err := dossier.CheckOwn(d, ev, commune, now); err != nil {
		return fmt.Errorf("transfer of dossier %s: %w", code, err)
	}
	dossier.Apply(d, ev)
	return writeDossier(eff, s, old, d, ev)
}

// takeSucceeded takes a dossier central handed to this commune as the
// successor of its commune that ceased (a succession): the dossier with its
// events as central holds them, the last central's SUCCEED. It keeps its
// code, state, due time, pause and holder, and is worked on here at once;
// nothing goes to the outbox (central made the event).
func (s *Store) takeSucceeded(txn *badger.Txn, eff *effect, in *xasov1.Dossier, commune string) error {
	code := in.GetCode()
	evs := in.GetEvents()
	if n := len(evs); int64(n) != in.GetEventCount() || n == 0 || evs[n-1].GetAction() != dossier.Succeed || evs[n-1].GetTransferCommuneCode() != commune {
		return fmt.Errorf("succeeded dossier %s: its events do not end with its hand-over to commune %s", code, commune)
	}
	d := dossier.Fold(evs)
	if d.GetCode() != code || d.GetCommuneCode() != commune || d.GetState() != in.GetState() {
		return fmt.Errorf("succeeded dossier %s: its events do not make it", code)
	}
	old := &dossier.Dossier{}
	switch err := getProto(txn, dossierKey(code), old); {
	case errors.Is(err, ErrNotFound):
		old = nil
	case err != nil:
		return fmt.Errorf("succeeded dossier %s: %w", code, err)
	case old.GetEventCount() >= in.GetEventCount():
		// Taken already (the feed is replayed after a restore from central).
		return nil
	}
	for _, ev := range evs {
		v, err := proto.Marshal(ev)
		if err != nil {
			return err
		}
		eff.set(eventKey(code, ev.GetSequence()), v)
	}
	return writeDossierState(eff, s, old, d)
}

// checkSuccession refuses a receipt at t when the commune ceased by then
// (dossier.CheckSuccessionReceipt), naming the successor's centre as
// central's registry gives it.
func checkSuccession(txn *badger.Txn, commune string, t time.Time) error {
	sc := &xasov1.Succession{}
	switch err := getProto(txn, []byte(keySuccession), sc); {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("succession: %w", err)
	}
	name := ""
	cm := &xasov1.Commune{}
	if err := getProto(txn, []byte(prefixCommune+sc.GetSuccessorCode()), cm); err == nil {
		name = cm.GetName()
	}
	return dossier.CheckSuccessionReceipt(sc, commune, name, t)
}

// checkCommune says whether commune is registered in the province, as the
// communes central sent say; every commune is taken while central has sent
// none (a node that never synced, or a central from before they were sent).
func checkCommune(txn *badger.Txn, commune string) error {
	if _, err := txn.Get([]byte(prefixCommune + commune)); err == nil {
		return nil
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixCommune)})
	defer it.Close()
	if it.Rewind(); !it.Valid() {
		return nil
	}
	return dossier.Violations{{Field: "transfer_commune_code", Code: dossier.CodeCommuneNotRegistered,
		Description: fmt.Sprintf("commune %s is not registered in the province", commune)}}
}

// Settings returns the sync settings central sent, or nil when it sent none.
func (s *Store) Settings() (*xasov1.CommuneSettings, error) {
	set := &xasov1.CommuneSettings{}
	err := s.view(func(txn *badger.Txn) error { return getProto(txn, []byte(keySettings), set) })
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return set, err
}
