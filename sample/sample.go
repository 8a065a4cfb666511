// Package sample holds the data a new installation and the demo start from:
// the official Vietnamese working calendar for 2025 and 2026, a catalogue of
// real commune-level procedures, and a sample province with its communes.
//
// The data are embedded JSON files beside this one; each call returns a
// fresh copy that the caller may change.
package sample

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

//go:embed calendar.json
var calendarJSON []byte

//go:embed procedures.json
var proceduresJSON []byte

//go:embed province.json
var provinceJSON []byte

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

// Commune is one commune or ward of the sample province.
type Commune struct {
	// Code is the 5-digit administrative unit code.
	Code string `json:"code"`
	Name string `json:"name"`
}

// Province is the sample province.
type Province struct {
	Code     string    `json:"code"`
	Name     string    `json:"name"`
	Note     string    `json:"note"`
	Communes []Commune `json:"communes"`
}

// SampleProvince returns the sample province.
func SampleProvince() Province {
	var p Province
	if err := json.Unmarshal(provinceJSON, &p); err != nil {
		panic(fmt.Sprintf("embedded province: %v", err)) // a build defect, caught by the package's tests
	}
	return p
}
