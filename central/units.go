package central

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/units"
)

// Bounds on a commune's unit history, so that one record stays small.
const (
	maxUnitVersions     = 32
	maxUnitPredecessors = 256
	maxUnitText         = 4000
)

// unitIndex is the registry of administrative units built from the
// communes' histories (Commune.unit_versions), with the stored version of
// each unit to answer with.
type unitIndex struct {
	reg    *units.Registry
	stored map[string]*xasov1.UnitVersion // by units.Ref.Key
}

// buildUnits makes the registry of the communes' histories: each stored
// version is a unit, each with predecessors begins a change, and the
// predecessors known only by province and name are units that ended the
// day the version began. A commune without a history is one version in
// force since before the records. The error says what does not hold.
func buildUnits(cs []*xasov1.Commune) (*unitIndex, error) {
	idx := &unitIndex{stored: map[string]*xasov1.UnitVersion{}}
	var us []units.Unit
	var changes []units.Change
	named := map[string]bool{}
	for _, cm := range cs {
		if len(cm.GetUnitVersions()) == 0 {
			us = append(us, units.Unit{Code: cm.GetCode(), Name: cm.GetName(), Kind: units.KindOfName(cm.GetName())})
			continue
		}
		for _, v := range cm.GetUnitVersions() {
			u, err := unitFromProto(v)
			if err != nil {
				return nil, fmt.Errorf("commune %s: %w", cm.GetCode(), err)
			}
			us = append(us, u)
			idx.stored[u.Ref().Key()] = v
			if len(v.GetPredecessors()) == 0 {
				continue
			}
			c := units.Change{Kind: units.ChangeKind(v.GetChangeKind()), Effective: u.ValidFrom, After: []units.Ref{u.Ref()}}
			if b := v.GetBasis(); b != nil {
				d, _ := parseUnitDate(b.GetDate()) // checked when put
				c.Basis = units.LegalBasis{Resolution: b.GetResolution(), Date: d, Note: b.GetNote()}
			}
			for _, p := range v.GetPredecessors() {
				ref, err := refFromProto(p)
				if err != nil {
					return nil, fmt.Errorf("commune %s: %w", cm.GetCode(), err)
				}
				c.Before = append(c.Before, ref)
				if ref.Code == "" && !named[ref.Key()] {
					named[ref.Key()] = true
					us = append(us, units.Unit{Name: ref.Name, Province: ref.Province, Kind: units.KindOfName(ref.Name), ValidFrom: ref.ValidFrom, ValidTo: u.ValidFrom})
				}
			}
			changes = append(changes, c)
		}
	}
	reg, err := units.New(us, changes)
	if err != nil {
		return nil, err
	}
	idx.reg = reg
	return idx, nil
}

// parseUnitDate reads YYYY-MM-DD, "" being the zero date.
func parseUnitDate(s string) (dossier.Date, error) {
	if s == "" {
		return dossier.Date{}, nil
	}
	return dossier.ParseDate(s)
}

func formatUnitDate(d dossier.Date) string {
	if d == (dossier.Date{}) {
		return ""
	}
	return d.String()
}

func unitFromProto(v *xasov1.UnitVersion) (units.Unit, error) {
	from, err := parseUnitDate(v.GetValidFrom())
	if err != nil {
		return units.Unit{}, err
	}
	to, err := parseUnitDate(v.GetValidTo())
	if err != nil {
		return units.Unit{}, err
	}
	return units.Unit{Code: v.GetCode(), Name: v.GetName(), Kind: units.Kind(v.GetKind()), Province: v.GetProvince(),
		ValidFrom: from, ValidTo: to, FormedFrom: v.GetFormedFrom()}, nil
}

func refFromProto(r *xasov1.UnitRef) (units.Ref, error) {
	d, err := parseUnitDate(r.GetValidFrom())
	if err != nil {
		return units.Ref{}, err
	}
	if r.GetCode() != "" {
		return units.Ref{Code: r.GetCode(), ValidFrom: d}, nil
	}
	return units.Ref{Province: r.GetProvince(), Name: r.GetName(), ValidFrom: d}, nil
}

func refToProto(r units.Ref) *xasov1.UnitRef {
	return &xasov1.UnitRef{Code: r.Code, ValidFrom: formatUnitDate(r.ValidFrom), Province: r.Province, Name: r.Name}
}

// toProto answers with unit u: its stored version (or, for a unit with
// none, what the registry knows), predecessors and successors from the
// registry.
func (idx *unitIndex) toProto(u units.Unit) *xasov1.UnitVersion {
	var v *xasov1.UnitVersion
	if s := idx.stored[u.Ref().Key()]; s != nil {
		v = proto.Clone(s).(*xasov1.UnitVersion)
	} else {
		v = &xasov1.UnitVersion{Code: u.Code, Name: u.Name, Kind: string(u.Kind), Province: u.Province,
			ValidFrom: formatUnitDate(u.ValidFrom), ValidTo: formatUnitDate(u.ValidTo)}
	}
	v.Predecessors, v.Successors = nil, nil
	for _, p := range u.Predecessors {
		v.Predecessors = append(v.Predecessors, refToProto(p))
	}
	for _, s := range u.Successors {
		v.Successors = append(v.Successors, refToProto(s))
	}
	return v
}

// checkUnitVersions checks the form of a commune's history as put: each
// version of the commune's code, named, dated, its references well formed.
// How the versions fit together is the registry's check (putCommuneUnits).
func checkUnitVersions(cm *xasov1.Commune) dossier.Violations {
	var v dossier.Violations
	if len(cm.GetUnitVersions()) > maxUnitVersions {
		v.Add("unit_versions", fmt.Sprintf("at most %d versions", maxUnitVersions))
		return v
	}
	kinds := []units.Kind{units.KindCommune, units.KindWard, units.KindSpecialZone, units.KindTownship, units.KindDistrict}
	changeKinds := []units.ChangeKind{units.ChangeMerger, units.ChangeRenaming, units.ChangeSplit, units.ChangeBoundary}
	for i, u := range cm.GetUnitVersions() {
		f := fmt.Sprintf("unit_versions[%d].", i)
		if u.GetCode() != cm.GetCode() {
			v.Add(f+"code", fmt.Sprintf("a version of commune %s has its code", cm.GetCode()))
		}
		if !goodText(u.GetName(), 200) || u.GetName() == "" {
			v.Add(f+"name", "the name is required, at most 200 bytes of UTF-8")
		}
		if u.GetKind() != "" && !slices.Contains(kinds, units.Kind(u.GetKind())) {
			v.Add(f+"kind", "xã, phường, đặc khu, thị trấn or huyện")
		}
		if p := u.GetProvince(); p != "" && !provinceCode(p) {
			v.Add(f+"province", "a 2-digit province code")
		}
		for _, d := range []struct{ field, value string }{{"valid_from", u.GetValidFrom()}, {"valid_to", u.GetValidTo()}, {"basis.date", u.GetBasis().GetDate()}} {
			if _, err := parseUnitDate(d.value); err != nil {
				v.Add(f+d.field, "a date YYYY-MM-DD")
			}
		}
		if u.GetChangeKind() != "" && !slices.Contains(changeKinds, units.ChangeKind(u.GetChangeKind())) {
			v.Add(f+"change_kind", "merger, renaming, split or boundary")
		}
		if len(u.GetPredecessors()) > 0 && u.GetValidFrom() == "" {
			v.Add(f+"valid_from", "a version formed from others begins on the change's date")
		}
		if !goodText(u.GetFormedFrom(), maxUnitText) || !goodText(u.GetBasis().GetResolution(), 200) || !goodText(u.GetBasis().GetNote(), maxUnitText) {
			v.Add(f+"formed_from", fmt.Sprintf("texts are UTF-8, at most %d bytes", maxUnitText))
		}
		if len(u.GetPredecessors()) > maxUnitPredecessors {
			v.Add(f+"predecessors", fmt.Sprintf("at most %d", maxUnitPredecessors))
			continue
		}
		for j, p := range u.GetPredecessors() {
			pf := fmt.Sprintf("%spredecessors[%d].", f, j)
			switch {
			case p.GetCode() != "" && !dossier.ValidCommuneCode(p.GetCode()):
				v.Add(pf+"code", "a 5-digit administrative unit code")
			case p.GetCode() == "" && (!provinceCode(p.GetProvince()) || p.GetName() == "" || !goodText(p.GetName(), 200)):
				v.Add(pf+"name", "a unit without a code is named by its 2-digit province code and its name")
			}
			if _, err := parseUnitDate(p.GetValidFrom()); err != nil {
				v.Add(pf+"valid_from", "a date YYYY-MM-DD")
			}
		}
	}
	return v
}

func goodText(s string, n int) bool { return len(s) <= n && utf8.ValidString(s) }

func provinceCode(s string) bool {
	return len(s) == 2 && strings.Trim(s, "0123456789") == ""
}

// putCommuneUnits settles the history of a commune being put: none keeps
// the one registered; a new one must be well formed and fit with every
// other commune's history (no two versions of a code at once, references
// resolving, successors beginning on the change's day, no cycles).
func putCommuneUnits(st *stateTxn, cm *xasov1.Commune) *xasov1.CommandResult {
	old := &xasov1.Commune{}
	st.getProto([]byte(prefixCommune+cm.GetCode()), old)
	if len(cm.GetUnitVersions()) == 0 {
		cm.UnitVersions = old.GetUnitVersions()
		return nil
	}
	if v := checkUnitVersions(cm); len(v) > 0 {
		return invalid("commune", v)
	}
	for _, u := range cm.UnitVersions {
		u.Successors = nil // derived on reads
	}
	all, err := listTxn(st.txn, prefixCommune, func() *xasov1.Commune { return &xasov1.Commune{} })
	if err != nil {
		// The state's own records cannot be read: the disk, not the input.
		panic(fmt.Sprintf("central state: read communes: %v", err))
	}
	all = slices.DeleteFunc(all, func(o *xasov1.Commune) bool { return o.GetCode() == cm.GetCode() })
	if _, err := buildUnits(append(all, cm)); err != nil {
		return invalid("commune", violation("unit_versions", err.Error()))
	}
	return nil
}

// units builds the registry of the communes' histories as stored.
func (f *FSM) units() (*unitIndex, error) {
	cs, err := f.Communes()
	if err != nil {
		return nil, err
	}
	return buildUnits(cs)
}

// UnitAt returns the unit a code names on a day, or the units carrying
// on its territory then.
func (s *Server) UnitAt(ctx context.Context, req *xasov1.UnitAtRequest) (*xasov1.UnitAtResponse, error) {
	var fv dossier.Violations
	if !dossier.ValidCommuneCode(req.GetCode()) {
		fv.Add("code", "a 5-digit administrative unit code")
	}
	at := dossier.DateOf(s.now(), dossier.Zone)
	if req.GetAt() != "" {
		d, err := dossier.ParseDate(req.GetAt())
		if err != nil {
			fv.Add("at", "a date YYYY-MM-DD")
		}
		at = d
	}
	if len(fv) > 0 {
		return nil, grpcerr.BadRequest(fv)
	}
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	idx, err := s.fsm.units()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read units: %v", err)
	}
	resp, err := idx.at(req.GetCode(), at)
	if err != nil {
		return nil, err
	}
	resp.Read = info
	return resp, nil
}

// at answers UnitAt from the registry: the version of code in force on
// the day, or the versions carrying on its territory then.
func (idx *unitIndex) at(code string, at dossier.Date) (*xasov1.UnitAtResponse, error) {
	resp := &xasov1.UnitAtResponse{}
	if u, ok := idx.reg.At(code, at); ok {
		resp.Unit = idx.toProto(u)
		return resp, nil
	}
	h := idx.reg.History(code)
	if len(h) == 0 {
		return nil, status.Errorf(codes.NotFound, "no administrative unit has code %s", code)
	}
	// The latest version begun by the day: it ended before it.
	i := len(h) - 1
	for i >= 0 && at.Before(h[i].ValidFrom) {
		i--
	}
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "the unit coded %s is not in force on %s", code, at)
	}
	succ, err := idx.reg.SuccessorsAt(h[i].Ref(), at)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "successors of %s: %v", h[i].Ref(), err)
	}
	if len(succ) == 0 {
		return nil, status.Errorf(codes.NotFound, "the unit coded %s is not in force on %s", code, at)
	}
	for _, u := range succ {
		resp.Successors = append(resp.Successors, idx.toProto(u))
	}
	return resp, nil
}

// UnitHistory returns the versions of the unit a code names.
func (s *Server) UnitHistory(ctx context.Context, req *xasov1.UnitHistoryRequest) (*xasov1.UnitHistoryResponse, error) {
	if !dossier.ValidCommuneCode(req.GetCode()) {
		return nil, grpcerr.Field("code", "a 5-digit administrative unit code")
	}
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	idx, err := s.fsm.units()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read units: %v", err)
	}
	h := idx.reg.History(req.GetCode())
	if len(h) == 0 {
		return nil, status.Errorf(codes.NotFound, "no administrative unit has code %s", req.GetCode())
	}
	resp := &xasov1.UnitHistoryResponse{Read: info}
	for _, u := range h {
		resp.Versions = append(resp.Versions, idx.toProto(u))
	}
	return resp, nil
}

// CommunesFromUnitsTSV reads a list in the shape of units-2025.tsv (see
// units.LoadTSV) and returns one commune record per code, named as its
// latest version and carrying its history, ready to put. The units known
// only by name ride as predecessors.
func CommunesFromUnitsTSV(data []byte) ([]*xasov1.Commune, error) {
	reg, err := units.LoadRegistry(data, nil)
	if err != nil {
		return nil, err
	}
	formedBy := map[string]units.Change{}
	for _, c := range reg.Changes() {
		for _, a := range c.After {
			formedBy[a.Key()] = c
		}
	}
	var out []*xasov1.Commune
	byCode := map[string]*xasov1.Commune{}
	for _, u := range reg.Units() { // by code, then start
		if u.Code == "" {
			continue
		}
		cm := byCode[u.Code]
		if cm == nil {
			cm = &xasov1.Commune{Code: u.Code}
			byCode[u.Code] = cm
			out = append(out, cm)
		}
		cm.Name = u.Name
		v := &xasov1.UnitVersion{Code: u.Code, Name: u.Name, Kind: string(u.Kind), Province: u.Province,
			ValidFrom: formatUnitDate(u.ValidFrom), ValidTo: formatUnitDate(u.ValidTo), FormedFrom: u.FormedFrom}
		if c, ok := formedBy[u.Ref().Key()]; ok {
			v.ChangeKind = string(c.Kind)
			v.Basis = &xasov1.UnitLegalBasis{Resolution: c.Basis.Resolution, Date: formatUnitDate(c.Basis.Date), Note: c.Basis.Note}
			for _, p := range c.Before {
				v.Predecessors = append(v.Predecessors, refToProto(p))
			}
		}
		cm.UnitVersions = append(cm.UnitVersions, v)
	}
	return out, nil
}
