// Package units models Vietnam's administrative units with their history:
// each unit version has validity dates, predecessors and successors, and
// each change (merger, renaming, split, boundary change) its legal basis.
//
// Under Decision 19/2025/QĐ-TTg (the list of administrative unit codes) a
// unit formed by a merger often keeps the code of one of its predecessors,
// so a code alone does not name a territory: a unit version is named by
// its code and the date it took effect (a Ref). Xã Hóa Quỳ, 16186, is two
// versions: the old commune until 2025-06-30 and, from 2025-07-01, the
// commune formed from it and old Xã Bình Lương (Resolution
// 1686/NQ-UBTVQH15 of the National Assembly Standing Committee on Thanh
// Hóa's commune-level units, 2025). Units retired before codes were
// recorded here (the published 2025 lists name the old units without
// codes) are known by province and name.
//
// The package is pure: it parses bytes given to it and answers questions
// on the registry it builds; it does no I/O.
package units

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/xaso/xaso/dossier"
)

// Kind is the kind of a commune-level unit, as its name begins.
type Kind string

// The kinds of units. Thị trấn and huyện are kinds of units before the
// reorganisation of 2025-07-01 (island districts became special zones).
const (
	KindCommune     Kind = "xã"
	KindWard        Kind = "phường"
	KindSpecialZone Kind = "đặc khu"
	KindTownship    Kind = "thị trấn"
	KindDistrict    Kind = "huyện"
	KindOther       Kind = ""
)

// kindPrefixes are the name prefixes giving a unit's kind, longest first.
var kindPrefixes = []struct {
	prefix string
	kind   Kind
}{
	{"thị trấn ", KindTownship}, {"đặc khu ", KindSpecialZone}, {"phường ", KindWard},
	{"huyện ", KindDistrict}, {"xã ", KindCommune},
}

// KindOfName returns the kind a unit's name says ("Xã Hóa Quỳ" is a xã);
// KindOther when the name has no known prefix.
func KindOfName(name string) Kind {
	l := strings.ToLower(name)
	for _, p := range kindPrefixes {
		if strings.HasPrefix(l, p.prefix) {
			return p.kind
		}
	}
	return KindOther
}

// Ref names one unit version: its code and the date it took effect. A unit
// known only by name (no code recorded) is named by Province and Name. A
// zero ValidFrom is "in force since before the registry's records".
type Ref struct {
	Code      string
	ValidFrom dossier.Date
	// Province is the 2-digit province code; with Name it names a unit
	// that has no Code.
	Province string
	Name     string
}

// Key is the identity of the unit version: code (or province/name) and
// validity start.
func (r Ref) Key() string { return r.ident() + "@" + dateString(r.ValidFrom) }

// ident is the unit's identity without the version: its code, or
// "province/name" for a unit known by name only.
func (r Ref) ident() string {
	if r.Code != "" {
		return r.Code
	}
	return r.Province + "/" + r.Name
}

// String is the Ref as people read it.
func (r Ref) String() string {
	if r.Code != "" {
		return r.Code + " from " + dateString(r.ValidFrom)
	}
	return r.Name + " (province " + r.Province + ") from " + dateString(r.ValidFrom)
}

func dateString(d dossier.Date) string {
	if d == (dossier.Date{}) {
		return "-"
	}
	if d.Year < 0 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > 31 {
		return d.String()
	}
	// As d.String, without fmt: keys are made often.
	b := make([]byte, 0, 10)
	b = appendDigits(b, d.Year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(d.Month), 2)
	b = append(b, '-')
	return string(appendDigits(b, d.Day, 2))
}

// appendDigits appends n in width digits, zero-padded.
func appendDigits(b []byte, n, width int) []byte {
	for i := width - 1; i >= 0; i-- {
		p := 1
		for range i {
			p *= 10
		}
		b = append(b, byte('0'+n/p%10))
	}
	return b
}

// Unit is one version of an administrative unit: a code (or a name, for a
// unit known by name only) with its name, kind and territory over a span
// of time.
type Unit struct {
	Code     string
	Name     string
	Kind     Kind
	Province string
	// ValidFrom is the first day in force; zero for "since before the
	// registry's records".
	ValidFrom dossier.Date
	// ValidTo is the first day no longer in force; zero while in force.
	ValidTo dossier.Date
	// Predecessors and Successors are the unit versions this one was
	// formed from and those it went into, filled by New from the changes.
	Predecessors []Ref
	Successors   []Ref
	// FormedFrom is the published text the unit was formed from, kept
	// verbatim ("giữ nguyên" for a unit kept unchanged); empty if unknown.
	FormedFrom string
}

// Ref returns the unit version's reference.
func (u Unit) Ref() Ref {
	if u.Code != "" {
		return Ref{Code: u.Code, ValidFrom: u.ValidFrom}
	}
	return Ref{Province: u.Province, Name: u.Name, ValidFrom: u.ValidFrom}
}

// InForce reports whether the unit version is in force on day d.
func (u Unit) InForce(d dossier.Date) bool {
	if u.ValidFrom != (dossier.Date{}) && d.Before(u.ValidFrom) {
		return false
	}
	return u.ValidTo == (dossier.Date{}) || d.Before(u.ValidTo)
}

// ChangeKind is the kind of a change to units.
type ChangeKind string

// The kinds of changes.
const (
	// ChangeMerger: several units became one (its code may be one of
	// theirs, continuing with a larger territory).
	ChangeMerger ChangeKind = "merger"
	// ChangeRenaming: one unit, same territory, new name (or kind).
	ChangeRenaming ChangeKind = "renaming"
	// ChangeSplit: one unit went into several.
	ChangeSplit ChangeKind = "split"
	// ChangeBoundary: territory moved between units that go on.
	ChangeBoundary ChangeKind = "boundary"
)

// LegalBasis is the act a change rests on.
type LegalBasis struct {
	// Resolution is the act's number, as "1686/NQ-UBTVQH15".
	Resolution string
	// Date is the date the act was adopted (zero if not known).
	Date dossier.Date
	// Note says what else is known of the basis (e.g. where the data
	// comes from when the act is not named).
	Note string
}

// Change is one change of units on an effective date: the unit versions
// Before ended the day before Effective and those After began on it.
type Change struct {
	Kind      ChangeKind
	Effective dossier.Date
	Basis     LegalBasis
	Before    []Ref
	After     []Ref
}

// Registry is a validated set of unit versions and the changes linking
// them. It is read-only once built, safe for concurrent use.
type Registry struct {
	byKey   map[string]*Unit
	byIdent map[string][]*Unit // versions of one code (or name), by ValidFrom
	order   []*Unit            // by key, made once by New (see sorted)
	changes []Change
}

// New builds a Registry: the units' Predecessors and Successors are set
// from the changes (links already on a unit are kept), then the whole is
// validated; the error lists every problem found.
func New(us []Unit, changes []Change) (*Registry, error) {
	r := &Registry{byKey: make(map[string]*Unit, len(us)), byIdent: make(map[string][]*Unit, len(us))}
	var errs []error
	for i := range us {
		u := us[i]
		u.Predecessors = slices.Clone(u.Predecessors)
		u.Successors = slices.Clone(u.Successors)
		k := u.Ref().Key()
		if _, dup := r.byKey[k]; dup {
			errs = append(errs, fmt.Errorf("unit %s: listed twice", u.Ref()))
			continue
		}
		r.byKey[k] = &u
		r.byIdent[u.Ref().ident()] = append(r.byIdent[u.Ref().ident()], &u)
	}
	for _, vs := range r.byIdent {
		slices.SortFunc(vs, func(a, b *Unit) int { return compareDates(a.ValidFrom, b.ValidFrom) })
	}
	r.changes = slices.Clone(changes)
	for _, c := range r.changes {
		for _, b := range c.Before {
			if u := r.byKey[b.Key()]; u != nil {
				u.Successors = appendRefs(u.Successors, c.After)
			}
		}
		for _, a := range c.After {
			if u := r.byKey[a.Key()]; u != nil {
				u.Predecessors = appendRefs(u.Predecessors, c.Before)
			}
		}
	}
	errs = append(errs, r.validate()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("units registry: %w", errors.Join(errs...))
	}
	return r, nil
}

// appendRefs adds the refs not already in to.
func appendRefs(to, refs []Ref) []Ref {
	for _, x := range refs {
		if !slices.ContainsFunc(to, func(y Ref) bool { return y.Key() == x.Key() }) {
			to = append(to, x)
		}
	}
	return to
}

// compareDates orders dates, zero (unknown start) first.
func compareDates(a, b dossier.Date) int {
	return cmp.Or(cmp.Compare(a.Year, b.Year), cmp.Compare(a.Month, b.Month), cmp.Compare(a.Day, b.Day))
}

// validate checks the registry: each unit well formed, no two versions of
// one code in force on the same day, every reference resolving, a
// change's units ending and beginning on its effective date, no cycles.
func (r *Registry) validate() []error {
	var errs []error
	for _, u := range r.sorted() {
		switch {
		case u.Code == "" && (u.Name == "" || u.Province == ""):
			errs = append(errs, fmt.Errorf("unit %q: no code, and no name and province to know it by", u.Name))
		case u.Code != "" && !dossier.ValidCommuneCode(u.Code):
			errs = append(errs, fmt.Errorf("unit %s: code %q is not 5 digits", u.Name, u.Code))
		case u.ValidTo != (dossier.Date{}) && !u.ValidFrom.Before(u.ValidTo):
			errs = append(errs, fmt.Errorf("unit %s: ends %s, not after it begins", u.Ref(), u.ValidTo))
		}
		for _, p := range u.Predecessors {
			if r.byKey[p.Key()] == nil {
				errs = append(errs, fmt.Errorf("unit %s: predecessor %s is not in the registry", u.Ref(), p))
			}
		}
		for _, s := range u.Successors {
			t := r.byKey[s.Key()]
			switch {
			case t == nil:
				errs = append(errs, fmt.Errorf("unit %s: successor %s is not in the registry", u.Ref(), s))
			case u.ValidTo == (dossier.Date{}):
				errs = append(errs, fmt.Errorf("unit %s: has successor %s but is still in force", u.Ref(), s))
			case t.ValidFrom != u.ValidTo:
				errs = append(errs, fmt.Errorf("unit %s: ends %s but its successor %s begins %s", u.Ref(), u.ValidTo, s, dateString(t.ValidFrom)))
			}
		}
	}
	ids := make([]string, 0, len(r.byIdent))
	for id := range r.byIdent {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		vs := r.byIdent[id]
		for i := 1; i < len(vs); i++ {
			prev := vs[i-1]
			if prev.ValidTo == (dossier.Date{}) || vs[i].ValidFrom.Before(prev.ValidTo) {
				errs = append(errs, fmt.Errorf("code %s: version from %s overlaps the one from %s", id, dateString(vs[i].ValidFrom), dateString(prev.ValidFrom)))
			}
		}
	}
	for i, c := range r.changes {
		if len(c.Before) == 0 || len(c.After) == 0 {
			errs = append(errs, fmt.Errorf("change %d (%s, %s): needs units before and after", i+1, c.Kind, c.Effective))
		}
		for _, b := range c.Before {
			if u := r.byKey[b.Key()]; u == nil {
				errs = append(errs, fmt.Errorf("change %d: unit before %s is not in the registry", i+1, b))
			} else if u.ValidTo != c.Effective {
				errs = append(errs, fmt.Errorf("change %d: unit before %s ends %s, not on the change's date %s", i+1, b, dateString(u.ValidTo), c.Effective))
			}
		}
		for _, a := range c.After {
			if u := r.byKey[a.Key()]; u == nil {
				errs = append(errs, fmt.Errorf("change %d: unit after %s is not in the registry", i+1, a))
			} else if u.ValidFrom != c.Effective {
				errs = append(errs, fmt.Errorf("change %d: unit after %s begins %s, not on the change's date %s", i+1, a, dateString(u.ValidFrom), c.Effective))
			}
		}
	}
	if cyc := r.cycle(); cyc != "" {
		errs = append(errs, fmt.Errorf("successions go round: %s", cyc))
	}
	return errs
}

// cycle returns a unit on a cycle of successions, or "".
func (r *Registry) cycle() string {
	const (
		visiting = 1
		done     = 2
	)
	state := make(map[string]int, len(r.byKey))
	var visit func(k string) string
	visit = func(k string) string {
		switch state[k] {
		case visiting:
			return k
		case done:
			return ""
		}
		state[k] = visiting
		if u := r.byKey[k]; u != nil {
			for _, s := range u.Successors {
				if c := visit(s.Key()); c != "" {
					return c
				}
			}
		}
		state[k] = done
		return ""
	}
	for _, u := range r.sorted() {
		if c := visit(u.Ref().Key()); c != "" {
			return c
		}
	}
	return ""
}

// sorted returns the unit versions by key, for stable output.
func (r *Registry) sorted() []*Unit {
	if r.order == nil {
		keys := make([]string, 0, len(r.byKey))
		for k := range r.byKey {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		r.order = make([]*Unit, len(keys))
		for i, k := range keys {
			r.order[i] = r.byKey[k]
		}
	}
	return r.order
}

// Units returns every unit version, ordered by code (or name) and start.
func (r *Registry) Units() []Unit {
	us := r.sorted()
	out := make([]Unit, len(us))
	for i, u := range us {
		out[i] = clone(u)
	}
	return out
}

// Changes returns the changes, as given.
func (r *Registry) Changes() []Change { return slices.Clone(r.changes) }

func clone(u *Unit) Unit {
	c := *u
	c.Predecessors = slices.Clone(u.Predecessors)
	c.Successors = slices.Clone(u.Successors)
	return c
}

// Get returns the unit version ref names.
func (r *Registry) Get(ref Ref) (Unit, bool) {
	u := r.byKey[ref.Key()]
	if u == nil {
		return Unit{}, false
	}
	return clone(u), true
}

// At returns the version of the unit coded code in force on day d.
func (r *Registry) At(code string, d dossier.Date) (Unit, bool) {
	for _, u := range r.byIdent[code] {
		if u.InForce(d) {
			return clone(u), true
		}
	}
	return Unit{}, false
}

// History returns the versions of the unit coded code, oldest first.
func (r *Registry) History(code string) []Unit {
	vs := r.byIdent[code]
	out := make([]Unit, len(vs))
	for i, u := range vs {
		out[i] = clone(u)
	}
	return out
}

// Predecessors returns the unit versions ref was formed from.
func (r *Registry) Predecessors(ref Ref) ([]Unit, error) {
	u := r.byKey[ref.Key()]
	if u == nil {
		return nil, fmt.Errorf("unit %s is not in the registry", ref)
	}
	out := make([]Unit, 0, len(u.Predecessors))
	for _, p := range u.Predecessors {
		out = append(out, clone(r.byKey[p.Key()]))
	}
	return out, nil
}

// SuccessorsAt returns the unit versions in force on day d that carry on
// ref's territory, following chains of changes: ref itself if still in
// force, else its successors in force on d, else theirs, and so on. None
// if d is before ref began.
func (r *Registry) SuccessorsAt(ref Ref, d dossier.Date) ([]Unit, error) {
	u := r.byKey[ref.Key()]
	if u == nil {
		return nil, fmt.Errorf("unit %s is not in the registry", ref)
	}
	var out []Unit
	seen := map[string]bool{}
	var walk func(u *Unit)
	walk = func(u *Unit) {
		k := u.Ref().Key()
		if seen[k] {
			return
		}
		seen[k] = true
		if u.InForce(d) {
			out = append(out, clone(u))
			return
		}
		if u.ValidTo == (dossier.Date{}) || d.Before(u.ValidTo) {
			return // not yet in force on d
		}
		for _, s := range u.Successors {
			if t := r.byKey[s.Key()]; t != nil {
				walk(t)
			}
		}
	}
	walk(u)
	return out, nil
}
