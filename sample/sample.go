// Package sample holds the data a new installation and the demo start from:
// the official Vietnamese working calendar for 2025 and 2026, a catalogue of
// real commune-level procedures, and a sample province with its communes:
// Thanh Hóa, with its 166 communes and wards of the 2025 reorganisation.
//
// The data are embedded files beside this one (JSON, and a TSV for the
// province); each call returns a fresh copy that the caller may change.
package sample

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

//go:embed calendar.json
var calendarJSON []byte

//go:embed procedures.json
var proceduresJSON []byte

//go:embed procedures-sources.json
var procedureSourcesJSON []byte

//go:embed province.tsv
var provinceTSV []byte

// ProvinceTSV returns the sample province's rows of the shared units list
// as embedded (the shape of units-2025.tsv), for loaders of unit history.
func ProvinceTSV() []byte { return append([]byte(nil), provinceTSV...) }

// CalendarJSON returns the working calendar as JSON (dossier.CalendarSpec).
func CalendarJSON() []byte { return append([]byte(nil), calendarJSON...) }

// Calendar returns the official working calendar for 2025 and 2026: public
// holidays (Labour Code 2019 art. 112), Tết and the Hùng Kings' day included,
// and the compensatory days off and worked that the government announced.
// Later years are computed (dossier.ComputedHolidays) and provisional.
func Calendar() *dossier.Calendar {
	cal, err := dossier.ParseCalendar(calendarJSON)
	if err != nil {
		panic(fmt.Sprintf("embedded calendar: %v", err)) // a build defect, caught by the package's tests
	}
	return cal
}

// Procedures returns the sample catalogue, each procedure at version 1.
func Procedures() []*xasov1.Procedure {
	var list xasov1.ListProceduresResponse
	if err := protojson.Unmarshal(proceduresJSON, &list); err != nil {
		panic(fmt.Sprintf("embedded procedures: %v", err)) // a build defect, caught by the package's tests
	}
	return list.GetProcedures()
}

// ProcedureSource says where the values of one catalogue entry were
// checked, and what could not be confirmed.
type ProcedureSource struct {
	// Code is the procedure's national code.
	Code string `json:"code"`
	// Source names what the code, name, time limit and fee were checked
	// against.
	Source string `json:"source"`
	// Unconfirmed says which values could not be confirmed; empty when all
	// were.
	Unconfirmed string `json:"unconfirmed,omitempty"`
}

// ProcedureSources returns, for each procedure of the sample catalogue, where
// its values were checked, and a note on how the whole was checked.
func ProcedureSources() (note string, sources []ProcedureSource) {
	var doc struct {
		Note    string            `json:"note"`
		Sources []ProcedureSource `json:"sources"`
	}
	if err := json.Unmarshal(procedureSourcesJSON, &doc); err != nil {
		panic(fmt.Sprintf("embedded procedure sources: %v", err)) // a build defect, caught by the package's tests
	}
	return doc.Note, doc.Sources
}

// Commune is one commune or ward of the sample province.
type Commune struct {
	// Code is the 5-digit administrative unit code (Decision 19/2025/QĐ-TTg).
	Code string
	// Name is the unit's name, "Xã …" or "Phường …".
	Name string
	// FormedFrom lists the units merged into this one on 2025-07-01 as
	// published, one entry each (an entry may qualify a unit, as in
	// "Phường Đông Sơn (thành phố Thanh Hóa)"); empty for a unit kept as it
	// was ("giữ nguyên").
	FormedFrom []string
}

// Province is the sample province.
type Province struct {
	// Code is the 2-digit province code.
	Code string
	Name string
	// Note says where the list comes from: the source lines of the data.
	Note string
	// Communes are all the province's communes and wards, DemoCommunes
	// first, then the others in the order of the official list.
	Communes []Commune
}

// DemoCommunes are the codes of the communes the demo starts first, in
// order (xaso demo starts the first --communes of Province.Communes):
// communes and wards whose digital one-stop desks the press wrote about.
var DemoCommunes = []string{
	"16174", // Xã Như Xuân
	"16186", // Xã Hóa Quỳ
	"15961", // Xã Hoằng Lộc: its youth union guiding residents through VNeID for their procedures (Báo Thanh Hóa, republished by vietnam.vn, "Cơ hội vàng cho quản trị địa phương", 2025)
	"15607", // Xã Bát Mọt: the border commune whose public administrative service centre the Prime Minister inspected on 14 Oct 2025 (Vietnam News Agency, vietnam.vnanet.vn, 15 Oct 2025)
	"14797", // Phường Hạc Thành: the province's most populous ward and its service centre (Nhân Dân, "Thanh Hoa focuses on completing digital infrastructure", July 2025; Báo Thanh Hóa, 21 Nov 2025)
}

// SampleProvince returns the sample province, Thanh Hóa (code 38).
func SampleProvince() Province {
	p, err := parseProvince(provinceTSV)
	if err != nil {
		panic(fmt.Sprintf("embedded province: %v", err)) // a build defect, caught by the package's tests
	}
	return p
}

// parseProvince reads the province TSV: "#" lines are the source notes;
// each other line is province code, province name, unit code, unit name
// and formed_from, tab-separated. The DemoCommunes are put first.
func parseProvince(data []byte) (Province, error) {
	var p Province
	var notes []string
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			if !strings.HasPrefix(rest, " province_code\t") {
				notes = append(notes, strings.TrimSpace(rest))
			}
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return Province{}, fmt.Errorf("line %d: %d fields, want 5", i+1, len(f))
		}
		if p.Code == "" {
			p.Code, p.Name = f[0], f[1]
		} else if f[0] != p.Code || f[1] != p.Name {
			return Province{}, fmt.Errorf("line %d: province %s %s in the list of %s %s", i+1, f[0], f[1], p.Code, p.Name)
		}
		p.Communes = append(p.Communes, Commune{Code: f[2], Name: f[3], FormedFrom: splitFormedFrom(f[4])})
	}
	p.Note = strings.Join(notes, " ")
	for i, code := range DemoCommunes {
		j := slices.IndexFunc(p.Communes, func(c Commune) bool { return c.Code == code })
		if j < i {
			return Province{}, fmt.Errorf("demo commune %s: not in the province's list", code)
		}
		c := p.Communes[j]
		copy(p.Communes[i+1:j+1], p.Communes[i:j])
		p.Communes[i] = c
	}
	return p, nil
}

// splitFormedFrom splits the published formed_from text at the commas
// outside parentheses; "giữ nguyên" (unchanged) gives none.
func splitFormedFrom(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "giữ nguyên") {
		return nil
	}
	var out []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '(':
			depth++
		case ')':
			depth = max(depth-1, 0)
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}
