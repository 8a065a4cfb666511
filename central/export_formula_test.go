package central

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// formulaNames are text cells a spreadsheet would read as formulas.
var formulaNames = []string{`=HYPERLINK("http://x","y")`, "+1+2", "-3+4", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"}

// A CSV export's text cells that start with '=', '+', '-', '@', a tab or a
// carriage return come out with a leading quote; its numbers (negative
// ones included) come out unchanged.
func TestCSVExportNeutralisesFormulas(t *testing.T) {
	var rows []*xasov1.PerformanceRow
	for _, name := range formulaNames {
		rows = append(rows, &xasov1.PerformanceRow{
			Month: "2026-01", CommuneCode: "09619", CommuneName: name, ProcedureCode: name, ProcedureName: "Khai sinh",
			Counts: &xasov1.Aggregate{Received: 12}, OverdueNow: 3, OnTimeRate: 0.75,
		})
	}
	tb := reportTable(rows)
	tb.rows = append(tb.rows, []any{"2026-02", "09619", "xã Tả Van", "1.001", "Khai sinh", int64(-5), -0.5})
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	if err := cw.WriteAll(tb.strings()); err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(&buf)
	cr.FieldsPerRecord = -1
	got, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range formulaNames {
		line := got[i+1]
		if line[2] != "'"+name || line[3] != "'"+name {
			t.Errorf("name %q came out as %q and %q, want it behind a quote", name, line[2], line[3])
		}
		if line[1] != "09619" || line[4] != "Khai sinh" {
			t.Errorf("plain text changed: %q", line)
		}
		if line[5] != "12" || line[11] != "3" || line[14] != "0.7500" {
			t.Errorf("numbers changed: received %q, overdue %q, on-time rate %q", line[5], line[11], line[14])
		}
	}
	last := got[len(got)-1]
	if last[5] != "-5" || last[6] != "-0.5000" {
		t.Errorf("negative numbers came out as %q and %q, want -5 and -0.5000", last[5], last[6])
	}
	if got[0][0] != "month" {
		t.Errorf("header: %q", got[0])
	}
}

// The XLSX export writes text as inline strings, never as formulas, and
// numbers as numbers.
func TestXLSXExportWritesTextAsText(t *testing.T) {
	tb := table{header: []string{"name", "count"}}
	for _, name := range formulaNames {
		tb.rows = append(tb.rows, []any{name, int64(-5)})
	}
	var buf bytes.Buffer
	if err := writeXLSX(&buf, "Performance", tb); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var sheet string
	for _, f := range zr.File {
		if f.Name == "xl/worksheets/sheet1.xml" {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			sheet = string(b)
		}
	}
	if sheet == "" {
		t.Fatal("no sheet")
	}
	if strings.Contains(sheet, "<f>") || strings.Contains(sheet, "<f ") {
		t.Fatalf("the sheet has a formula:\n%s", sheet)
	}
	for i := range formulaNames {
		n := strconv.Itoa(i + 2)
		cells := regexp.MustCompile(`<c r="A` + n + `" t="inlineStr"><is><t>[^<]*</t></is></c><c r="B` + n + `"><v>-5</v></c>`)
		if !cells.MatchString(sheet) {
			t.Errorf("row %d is not an inline string and a number:\n%s", i+2, sheet)
		}
	}
}
