package central

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// applyEvents applies a node's outbox records in order (see
// AppendEventsCommand). Each record it takes is written at once, so that
// the next record of the same dossier sees it.
func applyEvents(st *stateTxn, index uint64, cmd *xasov1.CentralCommand, c *xasov1.AppendEventsCommand) *xasov1.CommandResult {
	var v dossier.Violations
	if !dossier.ValidCommuneCode(c.GetCommuneCode()) {
		v.Add("commune_code", "a 5-digit administrative unit code")
	}
	if !validName(c.GetNodeId()) {
		v.Add("node_id", "1 to 64 letters, digits, '.', '-' or '_'")
	}
	if len(v) > 0 {
		return invalid("", v)
	}
	if !st.getProto([]byte(prefixCommune+c.GetCommuneCode()), &xasov1.Commune{}) {
		return refused(codes.FailedPrecondition, "commune %s is not registered", c.GetCommuneCode())
	}
	// An enrolled node sends for its own commune only, and not once revoked
	// (checked here too, so that a revocation racing a batch wins).
	if n := (&xasov1.EnrolledNode{}); st.getProto([]byte(prefixNode+c.GetNodeId()), n) {
		switch {
		case n.GetCommuneCode() != c.GetCommuneCode():
			return refused(codes.PermissionDenied, "node %s is enrolled for commune %s, not %s", c.GetNodeId(), n.GetCommuneCode(), c.GetCommuneCode())
		case n.GetRevokeTime() != nil:
			return refused(codes.PermissionDenied, "node %s is revoked", c.GetNodeId())
		}
	}
	hwKey := []byte(prefixHighWater + c.GetCommuneCode())
	hw := &xasov1.NodeStream{}
	if !st.getProto(hwKey, hw) {
		hw.CommuneCode, hw.LastHash = c.GetCommuneCode(), dossier.GenesisHash()
	}
	res := &xasov1.CommandResult{}
	now := cmd.GetTime().AsTime()
	for i, rec := range c.GetRecords() {
		if st.full() && st.checkpoint != nil {
			// What the records so far wrote fills a transaction: commit it
			// with the mark they moved, and go on in a new one.
			st.setProto(hwKey, hw)
			st.checkpoint()
		}
		if hw.GetBlocked() != nil && rec.GetSequence() > hw.GetLastSequence() {
			// Blocked: nothing from the refused record on is taken until
			// an operator lifts the block.
			res.Code, res.Message = hw.GetBlocked().GetCode(), hw.GetBlocked().GetReason()
			break
		}
		if err := appendRecord(st, index, hw, rec, now); err != nil {
			if err.code == codes.AlreadyExists {
				res.Duplicates++
				continue
			}
			res.Code, res.Message = int32(err.code), fmt.Sprintf("records[%d] (sequence %d): %s", i, rec.GetSequence(), err.msg)
			if err.block && hw.GetBlocked() == nil {
				// Blocked where the chain stands: the next sequence central
				// expects (the refused record may claim any).
				hw.Blocked = &xasov1.ChainBlock{Sequence: hw.GetLastSequence() + 1, Code: int32(err.code), Reason: dossier.Short(err.msg, 2000), Time: cmd.GetTime(), NodeId: c.GetNodeId()}
			}
			break
		}
		res.Accepted++
	}
	if r := c.GetRefused(); r != nil && res.GetCode() == 0 && hw.GetBlocked() == nil && r.GetSequence() == hw.GetLastSequence()+1 {
		// The service refused the next record before proposing it.
		code := r.GetCode()
		if code <= 0 || code > int32(codes.Unauthenticated) {
			code = int32(codes.InvalidArgument)
		}
		hw.Blocked = &xasov1.ChainBlock{Sequence: r.GetSequence(), Code: code, Reason: dossier.Short(r.GetReason(), 2000), Time: cmd.GetTime(), NodeId: c.GetNodeId()}
		res.Code, res.Message = code, fmt.Sprintf("sequence %d: %s", r.GetSequence(), hw.Blocked.GetReason())
	}
	// Every batch is a contact, with records or without.
	hw.NodeId, hw.LastTime = c.GetNodeId(), cmd.GetTime()
	if c.GetNodeLastSequence() > 0 {
		hw.NodeLastSequence = c.GetNodeLastSequence()
	}
	st.setProto(hwKey, hw)
	res.NextSequence, res.LastHash, res.Blocked = hw.GetLastSequence()+1, hw.GetLastHash(), hw.GetBlocked()
	return res
}

// recordError is why a record was not taken; block says that it was
// refused for its content, which blocks the commune's chain (a gap or a
// duplicate does not).
type recordError struct {
	code  codes.Code
	msg   string
	block bool
}

func refuseRecord(c codes.Code, format string, args ...any) *recordError {
	return &recordError{code: c, msg: fmt.Sprintf(format, args...), block: true}
}

// appendRecord takes one record if it is exactly the next of the stream,
// chains on, and is an event the workflow allows or the next entry of the
// commune's access log; it advances hw. now is the proposer's time, the
// bound of the event's (or the entry's).
func appendRecord(st *stateTxn, index uint64, hw *xasov1.NodeStream, rec *xasov1.OutboxRecord, now time.Time) *recordError {
	seq := rec.GetSequence()
	switch {
	case rec.GetCommuneCode() != hw.GetCommuneCode():
		return refuseRecord(codes.PermissionDenied, "belongs to commune %q, not %q", dossier.Short(rec.GetCommuneCode(), 40), hw.GetCommuneCode())
	case seq <= 0:
		return refuseRecord(codes.InvalidArgument, "sequences start at 1")
	case seq <= hw.GetLastSequence():
		// A duplicate is dropped only when it is the very record central
		// holds: its content must hash to the hash central chained on.
		held := &xasov1.OutboxRecord{}
		recKey := binary.BigEndian.AppendUint64([]byte(prefixRecord+hw.GetCommuneCode()+"/"), uint64(seq))
		if st.getProto(recKey, held) {
			if h, err := dossier.RecordHash(rec); err != nil || !bytes.Equal(h, held.GetHash()) || !bytes.Equal(rec.GetHash(), held.GetHash()) {
				return refuseRecord(codes.DataLoss, "differs from the record central holds for this sequence")
			}
		}
		return &recordError{code: codes.AlreadyExists}
	case seq != hw.GetLastSequence()+1:
		return &recordError{code: codes.FailedPrecondition, msg: fmt.Sprintf("leaves a gap: send from sequence %d", hw.GetLastSequence()+1)}
	}
	// One encoding of the record gives its size, its hash and what is stored.
	enc, h, err := dossier.EncodeRecord(rec)
	if err != nil {
		return refuseRecord(codes.InvalidArgument, "cannot be encoded: %v", err)
	}
	if err := dossier.ValidateSizedRecord(rec, len(enc), hw.GetCommuneCode(), now); err != nil {
		return refuseRecord(codes.InvalidArgument, "%v", err)
	}
	if !bytes.Equal(rec.GetPrevHash(), hw.GetLastHash()) {
		return refuseRecord(codes.DataLoss, "does not chain on the previous record's hash")
	}
	if !bytes.Equal(h, rec.GetHash()) {
		return refuseRecord(codes.DataLoss, "its hash does not match its content")
	}
	// A commune in a succession: nothing after its seal, no receipt from
	// the effective time (see succession.go).
	var ss *xasov1.SuccessionState
	if s := (&xasov1.SuccessionState{}); st.getProto(successionKey(hw.GetCommuneCode()), s) {
		ss = s
	}
	if e := checkSuccession(ss, rec, now.UnixNano()); e != nil {
		return e
	}
	if rec.GetSeal() != nil {
		if e := applySeal(st, index, ss, rec, now); e != nil {
			return e
		}
	} else if a := rec.GetAccess(); a != nil {
		if e := applyAccess(st, hw, rec); e != nil {
			return e
		}
		hw.LastAccessSequence = a.GetSequence()
	} else if e := applyDossierEvent(st, index, rec); e != nil {
		return e
	}
	st.set(binary.BigEndian.AppendUint64([]byte(prefixRecord+hw.GetCommuneCode()+"/"), uint64(seq)), enc)
	hw.LastSequence, hw.LastHash = seq, rec.GetHash()
	return nil
}

// applyAccess takes an access entry of the commune's node (checked by
// ValidateSizedRecord): it must be the next of the commune's access log,
// which central indexes by entry and by each dossier it names, pointing
// at the record that carries it. It does not move hw.
func applyAccess(st *stateTxn, hw *xasov1.NodeStream, rec *xasov1.OutboxRecord) *recordError {
	a := rec.GetAccess()
	if want := hw.GetLastAccessSequence() + 1; a.GetSequence() != want {
		return refuseRecord(codes.InvalidArgument, "access entry %d where the commune's access log has %d next", a.GetSequence(), want)
	}
	ptr := be64(uint64(rec.GetSequence()))
	st.set(accessKey(hw.GetCommuneCode(), a.GetSequence()), ptr)
	for _, code := range a.GetDossierCodes() {
		st.set(accessCodeKey(hw.GetCommuneCode(), code, a.GetSequence()), ptr)
	}
	return nil
}

func accessPrefix(commune string) []byte { return []byte(prefixAccess + commune + "/") }

func accessKey(commune string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(accessPrefix(commune), uint64(seq))
}

func accessCodePrefix(commune, code string) []byte {
	return []byte(prefixAccessCode + commune + "/" + code + "/")
}

func accessCodeKey(commune, code string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(accessCodePrefix(commune, code), uint64(seq))
}

// applyDossierEvent folds one event into the dossier central holds and
// moves the dossier's contribution between report aggregates. A commune
// writes only to dossiers it owns: those it received, and those
// transferred to it once it accepted them. A transfer puts the dossier,
// with its events, in the feed of the commune it goes to.
func applyDossierEvent(st *stateTxn, index uint64, rec *xasov1.OutboxRecord) *recordError {
	ev := rec.GetEvent()
	stored, exists := st.dossier(rec.GetDossierCode())
	d := stored.GetDossier()
	var held *xasov1.Dossier
	if exists {
		held = d
	} else {
		d = &xasov1.Dossier{}
	}
	// The same rules the node decided with (package dossier), again.
	if err := dossier.CheckEvent(held, ev, rec.GetCommuneCode()); err != nil {
		return refuseRecord(checkCode(err), "dossier %s: %v", rec.GetDossierCode(), err)
	}
	if err := checkReceiptCatalogue(st, ev); err != nil {
		return err
	}
	if ev.GetAction() == dossier.Reschedule {
		if e := checkReschedule(st, stored, ev); e != nil {
			return refuseRecord(checkCode(e), "dossier %s: %v", rec.GetDossierCode(), e)
		}
	}
	if !exists {
		if e := checkCodeIssuer(st, rec); e != nil {
			return e
		}
	}
	if ev.GetAction() == dossier.Transfer && !st.getProto([]byte(prefixCommune+ev.GetTransferCommuneCode()), &xasov1.Commune{}) {
		return refuseRecord(codes.FailedPrecondition, "dossier %s: commune %s it is transferred to is not registered", rec.GetDossierCode(), ev.GetTransferCommuneCode())
	}
	var before *contribution
	if exists {
		before = contributionOf(d)
	}
	dossier.Apply(d, ev)
	// The event's record: which commune's stream, which sequence in it.
	stored.Dossier = d
	stored.EventRecords = append(stored.EventRecords, binary.BigEndian.AppendUint64([]byte(rec.GetCommuneCode()), uint64(rec.GetSequence())))
	// What one record makes central write is bounded, so that it fits a
	// transaction (and a node's feed) whatever the node sends: refused
	// here, before anything is written (d came from apply's cache, which
	// no longer holds it, and is dropped).
	enc := marshal(stored)
	if len(enc) > maxStoredDossierBytes {
		return refuseRecord(codes.ResourceExhausted, "dossier %s would take %d bytes at central; at most %d (its components and files)", rec.GetDossierCode(), len(enc), maxStoredDossierBytes)
	}
	var transfer *xasov1.FeedItem
	if ev.GetAction() == dossier.Transfer {
		out := proto.Clone(d).(*xasov1.Dossier)
		evs, err := dossierEvents(st.txn, stored.GetEventRecords()[:len(stored.GetEventRecords())-1])
		if err != nil {
			// The state's own records cannot be read: the disk, not the input.
			panic(fmt.Sprintf("central state: read events of %s: %v", d.GetCode(), err))
		}
		out.Events = append(evs, ev)
		// Addressed to the one commune it names (checked registered and
		// not the sender above), never to all.
		transfer = &xasov1.FeedItem{CommuneCode: ev.GetTransferCommuneCode(), Item: &xasov1.FeedItem_Transfer{Transfer: out}}
		if n := proto.Size(transfer); n > maxTransferBytes {
			return refuseRecord(codes.ResourceExhausted, "dossier %s with its events takes %d bytes; a transfer carries at most %d", rec.GetDossierCode(), n, maxTransferBytes)
		}
	}
	after := contributionOf(d)
	moveContribution(st, before, after)

	moved := before != nil && before.group != after.group
	// before.indexed, not before.due: older versions indexed a dossier
	// waiting for supplements too, and its key must go when it moves on.
	if before != nil && before.indexed != 0 && (after.due != before.indexed || moved) {
		st.del(dueKey(before.indexed, d.GetCode()))
	}
	if after.due != 0 && (before == nil || after.due != before.due || moved) {
		st.set(dueKey(after.due, d.GetCode()), []byte(after.group.String()))
	}
	st.putDossier(rec.GetDossierCode(), stored, enc, !exists)
	if transfer != nil {
		appendFeed(st, index, transfer)
	}
	return nil
}

// checkReceiptCatalogue checks the online level and fee a receipt records
// (the Decision 766 indicators count them) against the catalogue version
// it names, when central holds that version: a node cannot move its
// dossiers between online levels or fee-paying and free. A version central
// does not hold (a node started on its embedded catalogue before central
// published one) is not checked. A receipt without a level comes from a
// node older than the indicators and is not tracked.
func checkReceiptCatalogue(st *stateTxn, ev *xasov1.Event) *recordError {
	rc := ev.GetReceipt()
	if rc == nil || ev.GetOnlineLevel() == xasov1.OnlineLevel_ONLINE_LEVEL_UNSPECIFIED {
		return nil
	}
	p := &xasov1.Procedure{}
	key := binary.BigEndian.AppendUint32([]byte(prefixProcVer+rc.GetProcedureCode()+"/"), uint32(rc.GetProcedureVersion()))
	if st.getProto(key, p) && (p.GetOnlineLevel() != ev.GetOnlineLevel() || p.GetFeeVnd() != ev.GetFeeVnd()) {
		return refuseRecord(codes.InvalidArgument, "dossier %s: online level %s and fee %d are not those of procedure %s version %d (%s, %d)",
			rc.GetCode(), ev.GetOnlineLevel(), ev.GetFeeVnd(), rc.GetProcedureCode(), rc.GetProcedureVersion(), p.GetOnlineLevel(), p.GetFeeVnd())
	}
	return nil
}

// checkCodeIssuer checks the code of a dossier a commune receives against
// central's registry (dossier.CheckCodeIssuer): the commune's agency e-ID,
// and the competent agency of the procedure version the receipt names.
// Every receipt has passed CheckEvent, so its code parses.
func checkCodeIssuer(st *stateTxn, rec *xasov1.OutboxRecord) *recordError {
	rc := rec.GetEvent().GetReceipt()
	cm := &xasov1.Commune{}
	st.getProto([]byte(prefixCommune+rec.GetCommuneCode()), cm)
	p := &xasov1.Procedure{}
	st.getProto(binary.BigEndian.AppendUint32([]byte(prefixProcVer+rc.GetProcedureCode()+"/"), uint32(rc.GetProcedureVersion())), p)
	agencies := cm.GetFormerAgencyIds()
	if cm.GetAgencyId() != "" {
		agencies = append(slices.Clone(agencies), cm.GetAgencyId())
	}
	if err := dossier.CheckCodeIssuer(rc.GetCode(), rec.GetCommuneCode(), agencies, p.GetCompetentAgencyId()); err != nil {
		return refuseRecord(checkCode(err), "dossier %s: %v", dossier.Short(rec.GetDossierCode(), 40), err)
	}
	return nil
}

// checkReschedule re-decides a RESCHEDULE on the calendar central
// published at the event's calendar_index, with the dossier's events:
// the node may move a due time only to what that calendar computes.
// CheckEvent checked already that the index is not older than the one the
// dossier was last rescheduled on.
func checkReschedule(st *stateTxn, stored *xasov1.StoredDossier, ev *xasov1.Event) error {
	var cal *dossier.Calendar
	js, err := getValue(st.txn, calendarKey(ev.GetCalendarIndex()))
	switch {
	case err == nil:
		if cal, err = dossier.ParseCalendar(js); err != nil {
			// It was checked when it was put: the disk, not the input.
			panic(fmt.Sprintf("central state: calendar of index %d: %v", ev.GetCalendarIndex(), err))
		}
	case !errors.Is(err, errNotFound):
		panic(fmt.Sprintf("central state: read calendar of index %d: %v", ev.GetCalendarIndex(), err))
	}
	evs, err := dossierEvents(st.txn, stored.GetEventRecords())
	if err != nil {
		panic(fmt.Sprintf("central state: read events of %s: %v", stored.GetDossier().GetCode(), err))
	}
	return dossier.CheckReschedule(evs, ev, cal)
}

// Bounds on what one record makes central write: its dossier as stored
// (with its components and files), and a transfer's feed item (the dossier
// with its events). An honest dossier takes a few kilobytes; the node
// checks its own against half of maxStoredDossierBytes (dossier.CheckOwn).
const (
	maxStoredDossierBytes = dossier.MaxDossierBytes
	maxTransferBytes      = 2 << 20
)

// dossier reads the dossier with code (empty, false when there is none),
// from apply's cache when it is there. The caller owns what it gets and
// writes it back with putDossier.
func (st *stateTxn) dossier(code string) (*xasov1.StoredDossier, bool) {
	if d, ok := st.hot.dossiers.take(code); ok {
		return d, true
	}
	stored := &xasov1.StoredDossier{}
	if !st.hot.codes.mayHave(code) {
		return stored, false
	}
	return stored, st.getProto([]byte(prefixDossier+code), stored)
}

// putDossier writes a dossier d, encoded as v, and keeps it for the next
// event; created says it is new to the state.
func (st *stateTxn) putDossier(code string, d *xasov1.StoredDossier, v []byte, created bool) {
	st.set([]byte(prefixDossier+code), v)
	st.hot.dossiers.put(code, d, len(v))
	if created {
		st.hot.codes.add(code)
	}
}

// dossierEvents reads a dossier's events from the records they came in
// (pointers {commune:5}{sequence:8}, as StoredDossier keeps them).
func dossierEvents(txn *badger.Txn, pointers [][]byte) ([]*xasov1.Event, error) {
	out := make([]*xasov1.Event, 0, len(pointers))
	for _, ptr := range pointers {
		if len(ptr) != 5+8 {
			return nil, fmt.Errorf("event record pointer of %d bytes", len(ptr))
		}
		rec := &xasov1.OutboxRecord{}
		if err := getProto(txn, append([]byte(prefixRecord+string(ptr[:5])+"/"), ptr[5:]...), rec); err != nil {
			return nil, fmt.Errorf("event record %s/%x: %w", ptr[:5], ptr[5:], err)
		}
		out = append(out, rec.GetEvent())
	}
	return out, nil
}

func dueKey(due int64, code string) []byte {
	return append(binary.BigEndian.AppendUint64([]byte(prefixDue), uint64(due)), code...)
}

// group is one report group: month of receipt ("200601"), commune and procedure.
type group struct{ month, commune, procedure string }

// checkCode is the status code of a refusal by dossier.CheckEvent.
func checkCode(err error) codes.Code {
	var te *dossier.TransitionError
	var re *dossier.RoleError
	var oe *dossier.OwnerError
	switch {
	case errors.As(err, &te):
		return codes.FailedPrecondition
	case errors.As(err, &re), errors.As(err, &oe):
		return codes.PermissionDenied
	default:
		return codes.InvalidArgument
	}
}

func (g group) String() string { return g.month + "/" + g.commune + "/" + g.procedure }

// Aggregates are kept at five levels, each under its own prefix so that a
// report scans only the level it needs:
//
//	g/cp/{month}/{commune}/{procedure}
//	g/c/{month}/{commune}
//	g/p/{month}/{procedure}
//	g/t/{month}
//	g/py/{year}/{procedure}    a year by procedure: reports over whole years
const (
	levelPair          = prefixAggregate + "cp/"
	levelCommune       = prefixAggregate + "c/"
	levelProcedure     = prefixAggregate + "p/"
	levelProvince      = prefixAggregate + "t/"
	levelProcedureYear = prefixAggregate + "py/"
)

// keys are the aggregate rows a dossier of group g counts in.
func (g group) keys() [5]string {
	return [5]string{
		levelPair + g.month + "/" + g.commune + "/" + g.procedure,
		levelCommune + g.month + "/" + g.commune,
		levelProcedure + g.month + "/" + g.procedure,
		levelProvince + g.month,
		levelProcedureYear + g.month[:4] + "/" + g.procedure,
	}
}

// contribution is what one dossier adds to its group.
type contribution struct {
	group group
	agg   *xasov1.Aggregate
	// closed is what a tracked dossier that stopped being pending adds to
	// the group of the month it closed (Aggregate.closed_in_month); nil
	// while pending, and for dossiers not tracked.
	closed *closedPart
	due    int64 // unix seconds of the due time while the clock runs (dossier.ClockRuns); 0 otherwise
	// indexed is the due time under which a due-index key may exist: due,
	// or, for a dossier waiting for supplements, the due time older
	// versions indexed it under (they counted it overdue).
	indexed int64
}

// closedPart is a tracked dossier's count in the month it closed.
type closedPart struct {
	group group
	agg   *xasov1.Aggregate
}

// reportCommune is the commune a dossier counts in: the one whose desk
// received it, even after a transfer (the result goes back to it: Decree
// 118/2025 art. 20(1)(b)); the owner for dossiers received before the
// receiving commune was kept.
func reportCommune(d *xasov1.Dossier) string {
	if c := d.GetReceivedCommuneCode(); c != "" {
		return c
	}
	return d.GetCommuneCode()
}

// tracked reports whether d carries the data of the Decision 766
// indicators (docs/indicators.md): received by a node that records the
// procedure's online level (every catalogue entry has one) and the
// processing time, and since central keeps the receiving commune. Only
// tracked dossiers count in Aggregate 40 and up; whether a dossier is
// tracked never changes, so its old and new contributions always agree.
func tracked(d *xasov1.Dossier) bool {
	return d.GetReceivedCommuneCode() != "" && d.GetOnlineLevel() != xasov1.OnlineLevel_ONLINE_LEVEL_UNSPECIFIED
}

func contributionOf(d *xasov1.Dossier) *contribution {
	c := &contribution{
		group: group{dossier.ReportMonth(d.GetReceivedTime().AsTime()), reportCommune(d), d.GetProcedureCode()},
		agg:   &xasov1.Aggregate{Received: 1},
	}
	a := c.agg
	switch d.GetState() {
	case dossier.Guided, dossier.RefusedAtReception:
		// Not received (Decree 118/2025 art. 17(1)(c)): counted apart, for
		// the evaluation of how often citizens must come back (art. 33(1)(c)).
		a.Received = 0
		if d.GetState() == dossier.Guided {
			a.Guided = 1
		} else {
			a.RefusedAtReception = 1
		}
		addRating(a, d.GetRating())
		return c
	}
	defer func() {
		if tracked(d) {
			c.addIndicatorCounts(d)
		}
	}()
	if d.GetChannel() == xasov1.Channel_CHANNEL_ONLINE {
		a.ReceivedOnline = 1
	}
	switch {
	case d.GetState() == xasov1.State_STATE_WITHDRAWN:
		a.Withdrawn = 1
	case d.GetState() == dossier.ClosedUnsupplemented:
		a.ClosedUnsupplemented = 1
	case d.GetFinishedTime() != nil:
		switch d.GetTimeliness() {
		case xasov1.Timeliness_TIMELINESS_EARLY:
			a.FinishedEarly = 1
		case xasov1.Timeliness_TIMELINESS_LATE:
			a.FinishedLate = 1
		default:
			a.FinishedOnTime = 1
		}
	default:
		a.Pending = 1
		if d.GetDueTime() != nil {
			c.indexed = d.GetDueTime().AsTime().Unix()
		}
		// A dossier waiting for supplements is never overdue (its time
		// counts anew when they come: Decree 118/2025 art. 19(5)); the
		// node's overdue filter asks the same dossier.ClockRuns.
		if dossier.ClockRuns(d) {
			c.due = c.indexed
		}
	}
	if d.GetState() == xasov1.State_STATE_RETURNED {
		a.Returned = 1
	}
	// The level a clerk typed at return (legacy) or the citizen's own
	// rating: a dossier has one or the other (dossier.Rateable).
	countLevel(a, d.GetSatisfaction())
	addRating(a, d.GetRating())
	for _, at := range d.GetAttachments() {
		if at.GetResult() {
			a.DigitisedResults = 1
		} else {
			a.DigitisedComponents = 1
		}
	}
	for _, sc := range d.GetComponents() {
		if len(sc.GetAttachmentSha256()) > 0 {
			a.DigitisedComponents = 1
		}
	}
	return c
}

// addIndicatorCounts adds a tracked received dossier's Decision 766 counts
// (Aggregate 40 and up; formulas in indicators.go).
func (c *contribution) addIndicatorCounts(d *xasov1.Dossier) {
	a := c.agg
	a.Tracked = 1
	online := int64(0)
	if d.GetChannel() == xasov1.Channel_CHANNEL_ONLINE {
		online = 1
	}
	switch d.GetOnlineLevel() {
	case xasov1.OnlineLevel_ONLINE_LEVEL_FULL:
		a.LevelFull, a.LevelFullOnline = 1, online
	case xasov1.OnlineLevel_ONLINE_LEVEL_PARTIAL:
		a.LevelPartial, a.LevelPartialOnline = 1, online
	}
	if d.GetFeeVnd() > 0 {
		a.FeePaying = 1
	}
	// Every component handed in has a scan (and there is one at least).
	scanned := 0
	for _, sc := range d.GetComponents() {
		if len(sc.GetAttachmentSha256()) > 0 {
			scanned++
		}
	}
	if scanned > 0 || a.DigitisedComponents > 0 {
		a.SomeComponentsDigitised = 1
	}
	if scanned > 0 && scanned == len(d.GetComponents()) {
		a.AllComponentsDigitised = 1
	}
	var closedAt time.Time
	switch {
	case d.GetFinishedTime() != nil && a.GetWithdrawn() == 0 && a.GetClosedUnsupplemented() == 0:
		a.FinishedTracked, a.FinishedTrackedDigitised = 1, a.DigitisedResults
		a.Timed, a.WorkingDaysSum = 1, int64(d.GetWorkingDays())
		closedAt = d.GetFinishedTime().AsTime()
	case a.GetWithdrawn() == 1, a.GetClosedUnsupplemented() == 1:
		// Final: nothing follows a withdrawal or a closing, so the last
		// update is when it happened.
		closedAt = d.GetUpdateTime().AsTime()
	default:
		return
	}
	ca := &xasov1.Aggregate{ClosedInMonth: 1}
	if a.FinishedTracked == 1 {
		ca.FinishedInMonth = 1
	}
	c.closed = &closedPart{group: group{dossier.ReportMonth(closedAt), c.group.commune, c.group.procedure}, agg: ca}
}

// countLevel counts one dossier at level s in the satisfaction indicators.
func countLevel(a *xasov1.Aggregate, s xasov1.Satisfaction) {
	switch s {
	case xasov1.Satisfaction_SATISFACTION_VERY_SATISFIED:
		a.VerySatisfied = 1
	case xasov1.Satisfaction_SATISFACTION_SATISFIED:
		a.Satisfied = 1
	case xasov1.Satisfaction_SATISFACTION_NOT_SATISFIED:
		a.NotSatisfied = 1
	}
}

// addRating counts a citizen's rating (nil: none): its overall level in
// the satisfaction indicators (dossier.OverallLevel), and each content of
// Decree 118/2025 art. 33(1) it gave a level.
func addRating(a *xasov1.Aggregate, r *xasov1.Rating) {
	if r == nil {
		return
	}
	a.CitizenRatings = 1
	countLevel(a, dossier.OverallLevel(r))
	for _, s := range r.GetScores() {
		rated, satisfied := contentCounts(a, s.GetContent())
		if rated == nil {
			continue
		}
		*rated = 1
		if l := s.GetLevel(); l == dossier.VerySatisfied || l == dossier.Satisfied {
			*satisfied = 1
		}
	}
}

// contentCounts are the aggregate's two counts of content c (nil for a
// content it does not know).
func contentCounts(a *xasov1.Aggregate, c xasov1.RatingContent) (rated, satisfied *int64) {
	switch c {
	case xasov1.RatingContent_RATING_CONTENT_RETURN_TIME:
		return &a.RatedReturnTime, &a.SatisfiedReturnTime
	case xasov1.RatingContent_RATING_CONTENT_AGENCIES_CONTACTED:
		return &a.RatedAgenciesContacted, &a.SatisfiedAgenciesContacted
	case xasov1.RatingContent_RATING_CONTENT_CONTACTS_NEEDED:
		return &a.RatedContactsNeeded, &a.SatisfiedContactsNeeded
	case xasov1.RatingContent_RATING_CONTENT_INFORMATION:
		return &a.RatedInformation, &a.SatisfiedInformation
	case xasov1.RatingContent_RATING_CONTENT_STAFF_CONDUCT:
		return &a.RatedStaffConduct, &a.SatisfiedStaffConduct
	case xasov1.RatingContent_RATING_CONTENT_RESULT_AND_COST:
		return &a.RatedResultAndCost, &a.SatisfiedResultAndCost
	case xasov1.RatingContent_RATING_CONTENT_COMPLAINT_HANDLING:
		return &a.RatedComplaintHandling, &a.SatisfiedComplaintHandling
	case xasov1.RatingContent_RATING_CONTENT_ONLINE_SERVICE:
		return &a.RatedOnlineService, &a.SatisfiedOnlineService
	case xasov1.RatingContent_RATING_CONTENT_OTHER:
		return &a.RatedOther, &a.SatisfiedOther
	}
	return nil, nil
}

// moveContribution takes a dossier's old contribution out of the
// aggregates and puts its new one in, in the transaction's sums (written
// at commit by flushAggregates). Most events (assign, submit …) change
// neither.
func moveContribution(st *stateTxn, before, after *contribution) {
	if before != nil && before.group == after.group && sameCounts(before.agg, after.agg) && sameClosed(before.closed, after.closed) {
		return
	}
	addTo := func(g group, b *xasov1.Aggregate, sign int64) {
		for _, k := range g.keys() {
			a, ok := st.aggs[k]
			if !ok {
				a = &xasov1.Aggregate{}
				st.aggs[k] = a
			}
			addAggregate(a, b, sign)
		}
	}
	add := func(c *contribution, sign int64) {
		if c == nil {
			return
		}
		addTo(c.group, c.agg, sign)
		if c.closed != nil {
			addTo(c.closed.group, c.closed.agg, sign)
		}
	}
	add(before, -1)
	add(after, 1)
}

// sameClosed reports whether two closed parts count the same.
func sameClosed(a, b *closedPart) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.group == b.group && sameCounts(a.agg, b.agg)
}

// flushAggregates adds the transaction's aggregate changes to the stored
// aggregates, in key order (the state must not depend on map order).
func (st *stateTxn) flushAggregates() {
	keys := make([]string, 0, len(st.aggs))
	for k, d := range st.aggs {
		if !isZero(d) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, g := range keys {
		cur, ok := st.hot.aggs.take(g)
		if !ok {
			cur = &xasov1.Aggregate{}
			st.getProto([]byte(g), cur)
		}
		addAggregate(cur, st.aggs[g], 1)
		if isZero(cur) {
			// Its last dossier moved to another commune's group.
			st.del([]byte(g))
			continue
		}
		st.setProto([]byte(g), cur)
		st.hot.aggs.put(g, cur, 1)
	}
	clear(st.aggs)
}

// addAggregate adds k × b to a, field by field.
func addAggregate(a, b *xasov1.Aggregate, k int64) {
	a.Received += k * b.GetReceived()
	a.ReceivedOnline += k * b.GetReceivedOnline()
	a.FinishedEarly += k * b.GetFinishedEarly()
	a.FinishedOnTime += k * b.GetFinishedOnTime()
	a.FinishedLate += k * b.GetFinishedLate()
	a.Pending += k * b.GetPending()
	a.Withdrawn += k * b.GetWithdrawn()
	a.Returned += k * b.GetReturned()
	a.VerySatisfied += k * b.GetVerySatisfied()
	a.Satisfied += k * b.GetSatisfied()
	a.NotSatisfied += k * b.GetNotSatisfied()
	a.DigitisedComponents += k * b.GetDigitisedComponents()
	a.DigitisedResults += k * b.GetDigitisedResults()
	a.Guided += k * b.GetGuided()
	a.RefusedAtReception += k * b.GetRefusedAtReception()
	a.ClosedUnsupplemented += k * b.GetClosedUnsupplemented()
	a.Tracked += k * b.GetTracked()
	a.Timed += k * b.GetTimed()
	a.WorkingDaysSum += k * b.GetWorkingDaysSum()
	a.LevelFull += k * b.GetLevelFull()
	a.LevelFullOnline += k * b.GetLevelFullOnline()
	a.LevelPartial += k * b.GetLevelPartial()
	a.LevelPartialOnline += k * b.GetLevelPartialOnline()
	a.AllComponentsDigitised += k * b.GetAllComponentsDigitised()
	a.SomeComponentsDigitised += k * b.GetSomeComponentsDigitised()
	a.FinishedTracked += k * b.GetFinishedTracked()
	a.FinishedTrackedDigitised += k * b.GetFinishedTrackedDigitised()
	a.FeePaying += k * b.GetFeePaying()
	a.ClosedInMonth += k * b.GetClosedInMonth()
	a.FinishedInMonth += k * b.GetFinishedInMonth()
	a.CitizenRatings += k * b.GetCitizenRatings()
	for _, c := range dossier.Contents {
		ar, as := contentCounts(a, c.Content)
		br, bs := contentCounts(b, c.Content)
		*ar += k * *br
		*as += k * *bs
	}
}

// sameCounts is proto.Equal for aggregates, without reflection: apply asks
// it for every event. (TestAggregateHelpersCoverEveryField keeps it and
// addAggregate complete.)
func sameCounts(a, b *xasov1.Aggregate) bool {
	return a.GetReceived() == b.GetReceived() &&
		a.GetReceivedOnline() == b.GetReceivedOnline() &&
		a.GetFinishedEarly() == b.GetFinishedEarly() &&
		a.GetFinishedOnTime() == b.GetFinishedOnTime() &&
		a.GetFinishedLate() == b.GetFinishedLate() &&
		a.GetPending() == b.GetPending() &&
		a.GetWithdrawn() == b.GetWithdrawn() &&
		a.GetReturned() == b.GetReturned() &&
		a.GetVerySatisfied() == b.GetVerySatisfied() &&
		a.GetSatisfied() == b.GetSatisfied() &&
		a.GetNotSatisfied() == b.GetNotSatisfied() &&
		a.GetDigitisedComponents() == b.GetDigitisedComponents() &&
		a.GetDigitisedResults() == b.GetDigitisedResults() &&
		a.GetGuided() == b.GetGuided() &&
		a.GetRefusedAtReception() == b.GetRefusedAtReception() &&
		a.GetClosedUnsupplemented() == b.GetClosedUnsupplemented() &&
		a.GetTracked() == b.GetTracked() &&
		a.GetTimed() == b.GetTimed() &&
		a.GetWorkingDaysSum() == b.GetWorkingDaysSum() &&
		a.GetLevelFull() == b.GetLevelFull() &&
		a.GetLevelFullOnline() == b.GetLevelFullOnline() &&
		a.GetLevelPartial() == b.GetLevelPartial() &&
		a.GetLevelPartialOnline() == b.GetLevelPartialOnline() &&
		a.GetAllComponentsDigitised() == b.GetAllComponentsDigitised() &&
		a.GetSomeComponentsDigitised() == b.GetSomeComponentsDigitised() &&
		a.GetFinishedTracked() == b.GetFinishedTracked() &&
		a.GetFinishedTrackedDigitised() == b.GetFinishedTrackedDigitised() &&
		a.GetFeePaying() == b.GetFeePaying() &&
		a.GetClosedInMonth() == b.GetClosedInMonth() &&
		a.GetFinishedInMonth() == b.GetFinishedInMonth() &&
		a.GetCitizenRatings() == b.GetCitizenRatings() &&
		sameContentCounts(a, b)
}

// sameContentCounts compares the per-content rating counts.
func sameContentCounts(a, b *xasov1.Aggregate) bool {
	for _, c := range dossier.Contents {
		ar, as := contentCounts(a, c.Content)
		br, bs := contentCounts(b, c.Content)
		if *ar != *br || *as != *bs {
			return false
		}
	}
	return true
}

var zeroCounts = &xasov1.Aggregate{}

func isZero(a *xasov1.Aggregate) bool { return sameCounts(a, zeroCounts) }
