package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// idempotencyTTL is how long a create's request id is remembered.
const idempotencyTTL = 24 * time.Hour

// CreateInput is a dossier to receive, as the API takes it.
type CreateInput struct {
	RequestID     string
	ProcedureCode string
	Applicant     *xasov1.Applicant
	Channel       xasov1.Channel
	Components    []*xasov1.SubmittedComponent
	Attachments   []*xasov1.AttachmentRef
	Actor         string
	Role          dossier.Role
	Time          time.Time
	// Agency is the node's agency e-ID (Config.AgencyID); empty: legacy
	// codes (see codeAgency).
	Agency string
	// Outcome and Reason record a guidance or a refusal at reception
	// instead of taking the dossier in (dossier.ReceiveInput).
	Outcome dossier.State
	Reason  string
}

// Create receives a dossier: it numbers it, computes its due time and writes
// it with its indexes and its first event in one transaction. A second call
// with the same RequestID returns the dossier the first one made.
func (s *Store) Create(ctx context.Context, commune string, cal *dossier.Calendar, in CreateInput) (*dossier.Dossier, error) {
	if s.restoring.Load() {
		return nil, ErrRestoring
	}
	res, err := s.write(ctx, func(txn *badger.Txn) (*effect, error) {
		if in.RequestID != "" {
			code, err := getValue(txn, []byte(prefixIdem+in.RequestID))
			if err == nil {
				d := &dossier.Dossier{}
				if err := getProto(txn, dossierKey(string(code)), d); err != nil {
					return nil, fmt.Errorf("dossier %s of request %s: %w", code, in.RequestID, err)
				}
				return &effect{result: d}, nil
			}
			if !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		if err := checkSuccession(txn, commune, in.Time); err != nil {
			return nil, err
		}
		proc := &xasov1.Procedure{}
		err := getProto(txn, procedureKey(in.ProcedureCode), proc)
		if errors.Is(err, ErrNotFound) || in.ProcedureCode == "" {
			proc = nil
		} else if err != nil {
			return nil, err
		}
		// Number the dossier from its series' counter; a crash before
		// commit hands out no code, so none is ever reused.
		agency, shared, err := codeAgency(txn, commune, in.Agency, proc)
		if err != nil {
			return nil, err
		}
		pc := dossier.ParsedCode{Form: dossier.LegacyCode, Commune: commune, Date: dossier.DateOf(in.Time, dossier.Zone)}
		switch {
		case shared != "":
			pc.Form, pc.Agency, pc.Commune = dossier.SharedAgencyCode, agency, shared
		case agency != "":
			pc.Form, pc.Agency, pc.Commune = dossier.AgencyCode, agency, ""
		}
		counter := counterKey(pc)
		seq := int64(0)
		if v, err := getValue(txn, counter); err == nil && len(v) == 8 {
			seq = int64(be64Decode(v))
		}
		seq++
		if pc.Form != dossier.LegacyCode && seq > dossier.MaxAgencySeq {
			return nil, fmt.Errorf("series %s numbered %d dossiers today, the most its codes can", pc.Series(), seq-1)
		}
		pc.Seq = int(seq)
		code := pc.String()
		if _, err := txn.Get(dossierKey(code)); err == nil {
			// The counter is behind the dossiers stored: never reuse a code.
			return nil, fmt.Errorf("dossier code %s is taken although its counter says %d was the last: %w", code, seq-1, errCorrupt)
		}
		ev, err := dossier.ReceiveEvent(dossier.ReceiveInput{
			Code: code, CommuneCode: commune, Procedure: proc, Applicant: in.Applicant, Channel: in.Channel,
			Components: in.Components, Attachments: in.Attachments, Actor: in.Actor, Role: in.Role, Time: in.Time,
			Outcome: in.Outcome, Reason: in.Reason,
		}, cal)
		if err != nil {
			if proc == nil {
				if v, ok := err.(dossier.Violations); ok {
					for i := range v {
						if v[i].Field == "procedure_code" && in.ProcedureCode != "" {
							v[i].Description = fmt.Sprintf("no procedure %q in this node's catalogue", in.ProcedureCode)
						}
					}
				}
			}
			return nil, err
		}
		files := namedFiles(in.Attachments, in.Components)
		if err := attachmentsExist(txn, files); err != nil {
			return nil, err
		}
		if err := dossier.CheckOwn(nil, ev, commune, in.Time); err != nil {
			return nil, err
		}
		d := &dossier.Dossier{}
		dossier.Apply(d, ev)
		eff := newEffect()
		if err := queueUploads(txn, eff, files); err != nil {
			return nil, err
		}
		if err := writeDossier(eff, s, nil, d, ev); err != nil {
			return nil, err
		}
		eff.set(counter, be64(uint64(seq)))
		if in.RequestID != "" {
			eff.sets = append(eff.sets, entry{key: []byte(prefixIdem + in.RequestID), value: []byte(code), ttl: idempotencyTTL})
		}
		eff.result = d
		return eff, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*dossier.Dossier), nil
}

// counterKey is the key of the counter a code's sequence comes from: one
// per day for legacy codes (the key earlier versions kept), one per
// series for agency codes.
func counterKey(pc dossier.ParsedCode) []byte {
	if pc.Form == dossier.LegacyCode {
		return []byte(prefixDaySeq + dossier.CodeDayOf(pc.Date))
	}
	return []byte(prefixDaySeq + pc.Series())
}

// codeAgency says under which agency e-ID a new dossier of commune is
// numbered (dossier/code.go): the competent agency of its procedure when
// the procedure names one other than the node's, with the commune's code
// in the sequence (shared); else the node's own e-ID, once central's
// registry as it reached the node gives the commune that e-ID (so that
// central, which checks codes against its registry, takes them); else
// none, a legacy code.
func codeAgency(txn *badger.Txn, commune, own string, proc *xasov1.Procedure) (agency, shared string, err error) {
	if a := proc.GetCompetentAgencyId(); a != "" && a != own {
		return a, commune, nil
	}
	if own == "" {
		return "", "", nil
	}
	cm := &xasov1.Commune{}
	switch err := getProto(txn, []byte(prefixCommune+commune), cm); {
	case errors.Is(err, ErrNotFound):
		return "", "", nil
	case err != nil:
		return "", "", fmt.Errorf("read commune %s: %w", commune, err)
	}
	if cm.GetAgencyId() != own {
		return "", "", nil
	}
	return own, "", nil
}

// Transition applies one workflow action to the dossier code. When
// expectedEvents is not zero the dossier must have exactly that many events.
func (s *Store) Transition(ctx context.Context, cal *dossier.Calendar, code string, expectedEvents int64, cmd dossier.Command) (*dossier.Dossier, error) {
	if s.restoring.Load() {
		return nil, ErrRestoring
	}
	res, err := s.write(ctx, func(txn *badger.Txn) (*effect, error) {
		old := &dossier.Dossier{}
		if err := getProto(txn, dossierKey(code), old); err != nil {
			return nil, fmt.Errorf("dossier %s: %w", code, err)
		}
		if expectedEvents != 0 && expectedEvents != old.GetEventCount() {
			return nil, &StaleError{Code: code, Want: expectedEvents, Have: old.GetEventCount()}
		}
		if err := checkSealed(txn, old); err != nil {
			return nil, err
		}
		ev, err := dossier.Decide(old, cmd, cal)
		if err != nil {
			return nil, err
		}
		if err := dossier.CheckOwn(old, ev, old.GetCommuneCode(), cmd.Time); err != nil {
			return nil, err
		}
		if cmd.Action == dossier.Transfer {
			if err := checkCommune(txn, cmd.TransferCommune); err != nil {
				return nil, err
			}
		}
		files := namedFiles(cmd.Attachments, cmd.Components)
		if err := attachmentsExist(txn, files); err != nil {
			return nil, err
		}
		d := dossier.Clone(old)
		dossier.Apply(d, ev)
		eff := newEffect()
		if err := queueUploads(txn, eff, files); err != nil {
			return nil, err
		}
		if err := writeDossier(eff, s, old, d, ev); err != nil {
			return nil, err
		}
		eff.result = d
		return eff, nil
	})
	if err != nil {
		return nil, err
	}
	return res.(*dossier.Dossier), nil
}

// StaleError says that a dossier changed since the client last read it.
type StaleError struct {
	Code       string
	Want, Have int64
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("dossier %s has %d events, the request expected %d: it changed since it was read", e.Code, e.Have, e.Want)
}

// clockRuns reports whether the dossier belongs in the due-time index: open,
// and not waiting for the citizen's supplements (dossier.ClockRuns, the
// rule central's reports follow too).
func clockRuns(d *dossier.Dossier) bool { return dossier.ClockRuns(d) }

// writeDossier adds to eff the new dossier d (replacing old, nil for a new
// one), its event, its outbox record and the index changes between them.
func writeDossier(eff *effect, s *Store, old, d *dossier.Dossier, ev *dossier.Event) error {
	evb, err := proto.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event of %s: %w", d.GetCode(), err)
	}
	eff.set(eventKey(d.GetCode(), ev.GetSequence()), evb)
	eff.events = append(eff.events, outEvent{commune: d.GetCommuneCode(), code: d.GetCode(), event: ev})
	return writeDossierState(eff, s, old, d)
}

// writeDossierState adds to eff the dossier d (replacing old, nil for a
// new one) and the index and counter changes between them.
func writeDossierState(eff *effect, s *Store, old, d *dossier.Dossier) error {
	v, err := proto.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode dossier %s: %w", d.GetCode(), err)
	}
	code := d.GetCode()
	eff.set(dossierKey(code), v)

	if old == nil {
		eff.set(timeIndexKey(prefixByReceived, d.GetReceivedTime().AsTime(), code), nil)
		if id := d.GetApplicant().GetIdNumber(); id != "" {
			eff.set(cat([]byte(prefixByID), s.idHash(id), []byte("/"+code)), nil)
		}
	}
	if old == nil || old.GetState() != d.GetState() {
		if old != nil {
			eff.del(stateIndexKey(old.GetState(), code))
			eff.count(old.GetState(), -1)
		}
		eff.set(stateIndexKey(d.GetState(), code), nil)
		eff.count(d.GetState(), 1)
	}
	oldDue, newDue := clockRuns(old), clockRuns(d)
	if oldDue && (!newDue || !old.GetDueTime().AsTime().Equal(d.GetDueTime().AsTime())) {
		eff.del(timeIndexKey(prefixByDue, old.GetDueTime().AsTime(), code))
	}
	if newDue {
		eff.set(timeIndexKey(prefixByDue, d.GetDueTime().AsTime(), code), nil)
	}
	return nil
}

// namedFile is a file a dossier's change names, and the request field
// that names it.
type namedFile struct{ field, sha string }

// namedFiles lists the files a change names: its attachments, then its
// components' scans.
func namedFiles(atts []*xasov1.AttachmentRef, comps []*xasov1.SubmittedComponent) []namedFile {
	var out []namedFile
	for i, a := range atts {
		out = append(out, namedFile{fmt.Sprintf("attachments[%d].sha256", i), a.GetSha256()})
	}
	for i, c := range comps {
		for j, h := range c.GetAttachmentSha256() {
			out = append(out, namedFile{fmt.Sprintf("components[%d].attachment_sha256[%d]", i, j), h})
		}
	}
	return out
}

// attachmentsExist checks that every file named is stored.
func attachmentsExist(txn *badger.Txn, files []namedFile) error {
	var v dossier.Violations
	for _, f := range files {
		if !dossier.ValidSHA256(f.sha) {
			continue // the domain names malformed hashes
		}
		if _, err := txn.Get(attachmentKey(f.sha)); err != nil {
			v.Add(f.field, fmt.Sprintf("no attachment %s is stored: upload it first", f.sha))
		}
	}
	return v.Err()
}

// queueUploads puts the files a dossier's change names in the upload
// queue, each the first time a change names it (f/{sha256} marks it).
func queueUploads(txn *badger.Txn, eff *effect, files []namedFile) error {
	for _, f := range files {
		if slices.Contains(eff.uploads, f.sha) {
			continue
		}
		switch _, err := txn.Get(uploadMarkKey(f.sha)); {
		case err == nil:
			continue // queued by an earlier change
		case !errors.Is(err, badger.ErrKeyNotFound):
			return fmt.Errorf("upload mark of %s: %w", f.sha, err)
		}
		eff.set(uploadMarkKey(f.sha), nil)
		eff.uploads = append(eff.uploads, f.sha)
	}
	return nil
}

// Get returns the dossier code, with its events when withEvents is set.
func (s *Store) Get(code string, withEvents bool) (*dossier.Dossier, error) {
	d := &dossier.Dossier{}
	err := s.view(func(txn *badger.Txn) error {
		if err := getProto(txn, dossierKey(code), d); err != nil {
			return err
		}
		if withEvents {
			evs, err := readEvents(txn, code)
			d.Events = evs
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dossier %s: %w", code, err)
	}
	return d, nil
}

func readEvents(txn *badger.Txn, code string) ([]*dossier.Event, error) {
	var evs []*dossier.Event
	prefix := eventPrefix(code)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		ev := &dossier.Event{}
		if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, ev) }); err != nil {
			return nil, fmt.Errorf("decode event of %s: %w", code, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func be64Decode(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}
