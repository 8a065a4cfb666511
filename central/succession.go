package central

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
)

// A succession (communes merged into a successor, Resolution
// 190/2025/QH15) at central, in three steps:
//
//  1. An operator declares it (DeclareSuccessionCommand): kept per
//     predecessor under prefixSuccession, and broadcast down the feed.
//  2. From the effective time central refuses a predecessor's receipts
//     (dossier.CheckSuccessionReceipt); everything else it sends is
//     taken as before, so that nothing its node did offline is lost.
//  3. The predecessor's node, once its outbox is drained after the
//     effective time, writes a seal record, its last. Applying it,
//     central hands each unfinished dossier of the commune to the
//     successor by a SUCCEED event central makes (dossier.SucceedEvent:
//     state, due time, pause and holder unchanged, the legal basis as
//     reason), and puts each, with its events, in the successor's feed.
//     Nothing from the predecessor is taken after its seal.
//
// Every dossier has one owner at every moment: the predecessor until its
// seal is applied, the successor from then on (central refuses the
// predecessor's events by ownership, dossier.CheckEvent). Codes never
// change: a dossier is found by its code at central as before.
const (
	// prefixSuccession + predecessor code: its SuccessionState.
	prefixSuccession = "sc/"
	// prefixSucceeded + successor + "/" + dossier code: dossiers a
	// commune got by succession (its own stream carries no event of
	// them), so that its own later seal hands them on too.
	prefixSucceeded = "sd/"
	// keySucceedSequence is the last sequence of the stream of central's
	// SUCCEED events, stored as records under prefixRecord+succeedStream.
	keySucceedSequence = "m/succeed-seq"
	// succeedStream names that stream in StoredDossier.event_records
	// pointers; five bytes like a commune code, never a valid one.
	succeedStream = "succ."
)

func successionKey(commune string) []byte { return []byte(prefixSuccession + commune) }

// applyDeclareSuccession checks and stores a succession: the form
// (dossier.ValidateSuccession, at the proposer's time), every commune
// registered, no predecessor already in a succession (a commune ceases
// once), and a successor that has not ceased (which also rules out
// cycles: a commune named as successor must not be a predecessor).
func applyDeclareSuccession(st *stateTxn, cmd *xasov1.CentralCommand, c *xasov1.DeclareSuccessionCommand, w *writes) *xasov1.CommandResult {
	var s *xasov1.Succession
	if c.GetSuccession() != nil {
		s = proto.Clone(c.GetSuccession()).(*xasov1.Succession)
	}
	if err := dossier.ValidateSuccession(s, cmd.GetTime().AsTime()); err != nil {
		if v, ok := err.(dossier.Violations); ok {
			return invalid("", v)
		}
		return refused(codes.InvalidArgument, "%v", err)
	}
	for _, code := range append(slices.Clone(s.GetPredecessorCodes()), s.GetSuccessorCode()) {
		if !st.getProto([]byte(prefixCommune+code), &xasov1.Commune{}) {
			return refused(codes.FailedPrecondition, "commune %s is not registered", code)
		}
	}
	for _, p := range s.GetPredecessorCodes() {
		if old := (&xasov1.SuccessionState{}); st.getProto(successionKey(p), old) {
			return refused(codes.AlreadyExists, "commune %s already ceases in favour of %s (%s)", p, old.GetSuccession().GetSuccessorCode(), old.GetSuccession().GetBasis())
		}
	}
	if st.has(successionKey(s.GetSuccessorCode())) {
		return refused(codes.FailedPrecondition, "commune %s ceases itself: it cannot succeed", s.GetSuccessorCode())
	}
	s.DeclareTime = cmd.GetTime()
	for _, p := range s.GetPredecessorCodes() {
		w.set(successionKey(p), &xasov1.SuccessionState{Succession: s})
	}
	w.feed(st, &xasov1.FeedItem{Broadcast: true, Item: &xasov1.FeedItem_Succession{Succession: s}})
	return &xasov1.CommandResult{}
}

// checkSuccession is what a succession decides of a commune's record
// before its content is applied: nothing after the commune's seal, a seal
// only as the succession allows (checkSeal), and no receipt from the
// effective time on. ss is the commune's succession state (nil: none).
func checkSuccession(ss *xasov1.SuccessionState, rec *xasov1.OutboxRecord, now int64) *recordError {
	if ss == nil {
		if rec.GetSeal() != nil {
			return refuseRecord(codes.FailedPrecondition, "a seal from commune %s, which ceases in no succession", rec.GetCommuneCode())
		}
		return nil
	}
	if n := ss.GetSealedSequence(); n > 0 && rec.GetAccess() != nil {
		// A read of personal data on the predecessor's machine after its
		// seal is still logged: the access log writes to no dossier.
		return nil
	} else if n > 0 {
		return refuseRecord(codes.PermissionDenied, "commune %s sealed its chain at sequence %d: nothing is taken after it", rec.GetCommuneCode(), n)
	}
	s := ss.GetSuccession()
	if seal := rec.GetSeal(); seal != nil {
		eff := s.GetEffectiveTime().AsTime()
		switch {
		case seal.GetSuccessorCode() != s.GetSuccessorCode():
			return refuseRecord(codes.InvalidArgument, "the seal names successor %s; the succession %s", seal.GetSuccessorCode(), s.GetSuccessorCode())
		case seal.GetTime().AsTime().Before(eff) || now < eff.UnixNano():
			return refuseRecord(codes.FailedPrecondition, "a seal before the succession's effective time %s", eff.UTC().Format("2006-01-02T15:04:05Z"))
		}
		return nil
	}
	if ev := rec.GetEvent(); ev.GetReceipt() != nil {
		if err := dossier.CheckSuccessionReceipt(s, rec.GetCommuneCode(), "", ev.GetTime().AsTime()); err != nil {
			return refuseRecord(codes.FailedPrecondition, "dossier %s: %v", rec.GetDossierCode(), err)
		}
	}
	return nil
}

// applySeal hands every unfinished dossier of the sealing commune to its
// successor and marks the commune sealed at rec's sequence. index is the
// Raft entry's, now the proposer's time (the hand-over's).
func applySeal(st *stateTxn, index uint64, ss *xasov1.SuccessionState, rec *xasov1.OutboxRecord, now time.Time) *recordError {
	commune, s := rec.GetCommuneCode(), ss.GetSuccession()
	owned, err := ownedCodes(st, commune)
	if err != nil {
		// The state's own records cannot be read: the disk, not the input.
		panic(fmt.Sprintf("central state: dossiers of %s: %v", commune, err))
	}
	var n int64
	for _, code := range owned {
		stored, ok := st.dossier(code)
		if !ok {
			continue
		}
		d := stored.GetDossier()
		if d.GetCommuneCode() != commune || !dossier.HandedOver(d.GetState()) {
			// Left as it is (st.dossier took it from the cache; the
			// transaction holds it).
			continue
		}
		handOver(st, index, stored, s, now)
		n++
	}
	ss.SealedSequence, ss.HandedOver = rec.GetSequence(), n
	st.setProto(successionKey(commune), ss)
	return nil
}

// handOver applies the SUCCEED event to one stored dossier: stored as a
// record of central's own stream, folded in, counted in the reports
// where the dossier now belongs, indexed as the successor's, and put in
// the successor's feed with all its events.
func handOver(st *stateTxn, index uint64, stored *xasov1.StoredDossier, s *xasov1.Succession, now time.Time) {
	d := stored.GetDossier()
	ev, err := dossier.SucceedEvent(d, s.GetSuccessorCode(), s.GetBasis(), now)
	if err != nil {
		panic(fmt.Sprintf("central state: hand over %s: %v", d.GetCode(), err)) // HandedOver was checked
	}
	var seq uint64
	if v, err := getValue(st.txn, []byte(keySucceedSequence)); err == nil && len(v) == 8 {
		seq = binary.BigEndian.Uint64(v)
	}
	seq++
	st.set([]byte(keySucceedSequence), be64(seq))
	st.setProto(append([]byte(prefixRecord+succeedStream+"/"), be64(seq)...),
		&xasov1.OutboxRecord{Sequence: int64(seq), CommuneCode: s.GetSuccessorCode(), DossierCode: d.GetCode(), Event: ev})

	before := contributionOf(d)
	dossier.Apply(d, ev)
	after := contributionOf(d)
	moveContribution(st, before, after)
	if before.indexed != 0 && (after.due != before.indexed || before.group != after.group) {
		st.del(dueKey(before.indexed, d.GetCode()))
	}
	if after.due != 0 && (after.due != before.due || before.group != after.group) {
		st.set(dueKey(after.due, d.GetCode()), []byte(after.group.String()))
	}
	stored.EventRecords = append(stored.EventRecords, binary.BigEndian.AppendUint64([]byte(succeedStream), seq))
	st.putDossier(d.GetCode(), stored, marshal(stored), false)
	st.set([]byte(prefixSucceeded+s.GetSuccessorCode()+"/"+d.GetCode()), nil)

	out := proto.Clone(d).(*xasov1.Dossier)
	evs, err := dossierEvents(st.txn, stored.GetEventRecords())
	if err != nil {
		panic(fmt.Sprintf("central state: read events of %s: %v", d.GetCode(), err))
	}
	out.Events = evs
	appendFeed(st, index, &xasov1.FeedItem{CommuneCode: s.GetSuccessorCode(), Item: &xasov1.FeedItem_Succeeded{Succeeded: out}})
}

// ownedCodes lists, once each, the codes of every dossier commune may
// own: those its own stream wrote to (receipts, accepted transfers) and
// those it got by succession.
func ownedCodes(st *stateTxn, commune string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	add := func(code string) {
		if code != "" && !seen[code] {
			seen[code] = true
			out = append(out, code)
		}
	}
	prefix := []byte(prefixRecord + commune + "/")
	it := st.txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true})
	for it.Rewind(); it.Valid(); it.Next() {
		rec := &xasov1.OutboxRecord{}
		if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, rec) }); err != nil {
			it.Close()
			return nil, fmt.Errorf("record %x: %w", it.Item().Key(), err)
		}
		if rec.GetEvent() != nil {
			add(rec.GetDossierCode())
		}
	}
	it.Close()
	prefix = []byte(prefixSucceeded + commune + "/")
	it = st.txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		add(string(it.Item().Key()[len(prefix):]))
	}
	return out, nil
}

// Succession returns the succession commune ceases in, with whether and
// where it sealed (nil when it ceases in none).
func (f *FSM) Succession(commune string) (*xasov1.SuccessionState, error) {
	ss := &xasov1.SuccessionState{}
	err := f.db.View(func(txn *badger.Txn) error { return getProto(txn, successionKey(commune), ss) })
	switch {
	case err == nil:
		return ss, nil
	case errors.Is(err, errNotFound):
		return nil, nil
	}
	return nil, fmt.Errorf("succession of %s: %w", commune, err)
}

// DeclareSuccession declares a succession (an operator's): checked in
// form here with the request's field names, then by the FSM against the
// registry (applyDeclareSuccession).
func (s *Server) DeclareSuccession(ctx context.Context, req *xasov1.DeclareSuccessionRequest) (*xasov1.DeclareSuccessionResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := dossier.ValidateSuccession(req.GetSuccession(), time.Now()); err != nil {
		return nil, grpcerr.From(err, nil, "check succession")
	}
	cmd := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_DeclareSuccession{DeclareSuccession: &xasov1.DeclareSuccessionCommand{Succession: req.GetSuccession()}}}
	if _, err := s.write(ctx, c, cmd); err != nil {
		return nil, err
	}
	ss, err := s.fsm.Succession(req.GetSuccession().GetPredecessorCodes()[0])
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read succession: %v", err)
	}
	return &xasov1.DeclareSuccessionResponse{Succession: ss.GetSuccession()}, nil
}
