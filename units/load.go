package units

import (
	"fmt"
	"slices"
	"strings"

	"github.com/xaso/xaso/dossier"
)

// Reorganisation2025 is the day the 2025 reorganisation of commune-level
// units took effect, and with it Decision 19/2025/QĐ-TTg's codes.
var Reorganisation2025 = dossier.Date{Year: 2025, Month: 7, Day: 1}

// Unchanged is the formed_from text of a unit kept as it was.
const Unchanged = "giữ nguyên"

// Bases gives the legal basis of each province's 2025 reorganisation, by
// province code; a province not in it gets a basis naming the data only.
type Bases map[string]LegalBasis

// KnownBases are the resolutions this package has checked: Resolution
// 1686/NQ-UBTVQH15 of the National Assembly Standing Committee arranged
// Thanh Hóa's commune-level units in 2025 (its full text was published by
// Báo Thanh Hóa on 17 June 2025; the day it was adopted was not checked,
// so Date is left unknown).
var KnownBases = Bases{
	"38": {Resolution: "1686/NQ-UBTVQH15",
		Note: "Nghị quyết của Ủy ban Thường vụ Quốc hội về việc sắp xếp các đơn vị hành chính cấp xã của tỉnh Thanh Hóa năm 2025; mã số theo Quyết định 19/2025/QĐ-TTg"},
}

// LoadTSV reads the shape of the shared list units-2025.tsv: "#" lines
// are notes; every other line is province_code, province_name, unit_code,
// unit_name and formed_from, tab-separated. Each row becomes a unit
// version in force from 2025-07-01 (or, kept "giữ nguyên", the one
// version it has been since before); its formed_from names the units it was
// formed from, which become unit versions that ended on 2025-06-30, known
// by province and name (the list gives them no code). A unit whose
// formed_from is "giữ nguyên" continues unchanged: no change is recorded
// and its version has no start date. A predecessor bearing the new unit's own name is
// taken as the same code continuing with a larger territory (Decision
// 19/2025/QĐ-TTg lets a merged unit keep a predecessor's code), as Xã Hóa
// Quỳ 16186 did. Each row with predecessors is one change, its basis from
// bases by province (KnownBases when bases is nil).
func LoadTSV(data []byte, bases Bases) ([]Unit, []Change, error) {
	if bases == nil {
		bases = KnownBases
	}
	var us []Unit
	var changes []Change
	old := map[string]bool{} // keys of the old versions already made
	addOld := func(ref Ref, name string) {
		if old[ref.Key()] {
			return
		}
		old[ref.Key()] = true
		us = append(us, Unit{Code: ref.Code, Name: name, Kind: KindOfName(name), Province: ref.Province, ValidTo: Reorganisation2025})
	}
	type row struct {
		line                 int
		prov, provName, code string
		name, from           string
		preds                []string
	}
	var rows []row
	// continuing maps "province/name" of an old unit to the code of the
	// new unit of the same name formed from it: that code continues.
	continuing := map[string]string{}
	for i, line := range strings.Split(strings.TrimRight(string(data), "\r\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, nil, fmt.Errorf("line %d: %d fields, want 5", i+1, len(f))
		}
		r := row{line: i + 1, prov: strings.TrimSpace(f[0]), provName: strings.TrimSpace(f[1]), code: strings.TrimSpace(f[2]), name: strings.TrimSpace(f[3]), from: strings.TrimSpace(f[4])}
		switch {
		case len(r.prov) != 2 || !isDigits(r.prov):
			return nil, nil, fmt.Errorf("line %d: province code %q is not 2 digits", r.line, r.prov)
		case !dossier.ValidCommuneCode(r.code):
			return nil, nil, fmt.Errorf("line %d: unit code %q is not 5 digits", r.line, r.code)
		case r.name == "":
			return nil, nil, fmt.Errorf("line %d: unit %s has no name", r.line, r.code)
		}
		if !strings.EqualFold(r.from, Unchanged) {
			r.preds = PredecessorNames(r.from)
			if len(r.preds) == 0 {
				return nil, nil, fmt.Errorf("line %d: unit %s %s: no unit named in formed_from %q", r.line, r.code, r.name, r.from)
			}
			for _, n := range r.preds {
				if strings.EqualFold(n, r.name) {
					continuing[r.prov+"/"+strings.ToLower(n)] = r.code
				}
			}
		}
		rows = append(rows, r)
	}
	usedBy := map[string]int{} // how many new units name each old one
	for _, r := range rows {
		u := Unit{Code: r.code, Name: r.name, Kind: KindOfName(r.name), Province: r.prov, ValidFrom: Reorganisation2025, FormedFrom: r.from}
		if r.preds == nil {
			// Kept as it was ("giữ nguyên"): one version, in force since
			// before the reorganisation; no change to record.
			u.ValidFrom = dossier.Date{}
			us = append(us, u)
			continue
		}
		us = append(us, u)
		basis, ok := bases[r.prov]
		if !ok {
			basis = LegalBasis{Note: "theo dữ liệu đã công bố (" + r.provName + "); mã số theo Quyết định 19/2025/QĐ-TTg"}
		}
		var before []Ref
		for _, n := range r.preds {
			ref := Ref{Province: r.prov, Name: n}
			if code, ok := continuing[r.prov+"/"+strings.ToLower(n)]; ok {
				ref = Ref{Code: code} // the code continues, its territory grows
			}
			addOld(ref, n)
			usedBy[ref.Key()]++
			before = appendRefs(before, []Ref{ref})
		}
		changes = append(changes, Change{Effective: Reorganisation2025, Basis: basis, Before: before, After: []Ref{u.Ref()}})
	}
	for i := range changes {
		c := &changes[i]
		if c.Kind != "" {
			continue
		}
		switch {
		case len(c.Before) > 1:
			c.Kind = ChangeMerger
		case usedBy[c.Before[0].Key()] > 1:
			c.Kind = ChangeSplit
		default:
			c.Kind = ChangeRenaming
		}
	}
	return us, changes, nil
}

// LoadRegistry is LoadTSV then New.
func LoadRegistry(data []byte, bases Bases) (*Registry, error) {
	us, cs, err := LoadTSV(data, bases)
	if err != nil {
		return nil, fmt.Errorf("loading units: %w", err)
	}
	return New(us, cs)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// PredecessorNames reads the names of the units in a published
// formed_from text, each once, in order. The text is free prose: it is
// split at commas outside parentheses and at " và "; remarks in
// parentheses on what part was taken ("phần còn lại sau khi sáp nhập …")
// are dropped, other parentheses (which tell two units of one name apart,
// as "(quận Đống Đa)") kept; words on area and population are dropped; a
// bare name in a list ("các phường Cửa Nam, Điện Biên") takes the kind of
// the name before it. Nothing for "giữ nguyên".
func PredecessorNames(formedFrom string) []string {
	s := strings.TrimSpace(formedFrom)
	if s == "" || strings.EqualFold(s, Unchanged) {
		return nil
	}
	var out []string
	lastKind := ""
	for _, piece := range splitOutside(s, ',') {
		for _, part := range strings.Split(piece, " và ") {
			n, k := unitName(part, lastKind)
			if n == "" {
				continue
			}
			lastKind = k
			if !slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, n) }) {
				out = append(out, n)
			}
		}
	}
	return out
}

// splitOutside splits s at sep outside parentheses.
func splitOutside(s string, sep rune) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + len(string(sep))
			}
		}
	}
	return append(out, s[start:])
}

// typeWords are the words naming a unit's kind in the published texts,
// as written at the start of a name.
var typeWords = []string{"Thị trấn", "Đặc khu", "Phường", "Huyện", "Thôn", "Xóm", "Xã"}

// unitName reads one unit's name out of a piece of formed_from text and
// the kind word it begins with; "" if the piece names no unit.
func unitName(part, lastKind string) (name, kind string) {
	p := strings.Join(strings.Fields(dropRemarks(part)), " ")
	// Cut to the last kind word that is followed by a capitalised name:
	// "quy mô dân số của các phường Phường Cửa Nam" -> "Phường Cửa Nam".
	l := strings.ToLower(p)
	best := -1
	for _, w := range typeWords {
		lw := strings.ToLower(w) + " "
		for off := 0; ; {
			j := strings.Index(l[off:], lw)
			if j < 0 {
				break
			}
			at := off + j
			rest := p[at+len(lw):]
			if (at == 0 || p[at-1] == ' ') && startsUpper(rest) && !isKindWord(rest) && at > best {
				best, kind = at, w
			}
			off = at + len(lw)
		}
	}
	if best >= 0 {
		rest := strings.TrimSpace(p[best+len(kind)+1:])
		rest = trimTrailing(rest)
		if rest == "" {
			return "", ""
		}
		return kind + " " + rest, kind
	}
	// No kind word: a bare capitalised name in a list takes the kind
	// before it; anything else (words on area, population) names no unit.
	p = trimTrailing(p)
	if p == "" || !startsUpper(p) || strings.HasPrefix(strings.ToLower(p), "một phần") || strings.HasPrefix(strings.ToLower(p), "toàn bộ") || strings.HasPrefix(strings.ToLower(p), "sắp xếp") {
		return "", ""
	}
	if lastKind == "" {
		return p, ""
	}
	return lastKind + " " + p, lastKind
}

// dropRemarks removes the parenthesised remarks on what part of a unit
// was taken, keeping parentheses that qualify a name.
func dropRemarks(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '(')
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		depth, j := 0, -1
		for k, r := range s[i:] {
			if r == '(' {
				depth++
			} else if r == ')' {
				depth--
				if depth == 0 {
					j = i + k
					break
				}
			}
		}
		if j < 0 {
			b.WriteString(s[:i])
			return b.String()
		}
		inner := strings.ToLower(strings.TrimSpace(s[i+1 : j]))
		b.WriteString(s[:i])
		if !strings.HasPrefix(inner, "phần") && !strings.Contains(inner, "sáp nhập") && !strings.Contains(inner, "sắp xếp") {
			b.WriteString(s[i : j+1])
		}
		s = s[j+1:]
	}
}

// trimTrailing cuts trailing words that are not part of a name ("… sau
// khi sắp xếp", "… phần còn lại …").
func trimTrailing(s string) string {
	l := strings.ToLower(s)
	for _, w := range []string{" sau khi ", " phần còn lại", " và phần", " một phần", " (phần"} {
		if i := strings.Index(l, w); i >= 0 {
			s, l = s[:i], l[:i]
		}
	}
	return strings.TrimSpace(s)
}

func startsUpper(s string) bool {
	for _, r := range s {
		return strings.ToUpper(string(r)) == string(r) && strings.ToLower(string(r)) != string(r) || r >= '0' && r <= '9'
	}
	return false
}

func isKindWord(s string) bool {
	for _, w := range typeWords {
		if strings.HasPrefix(s, w+" ") {
			return true
		}
	}
	return false
}
