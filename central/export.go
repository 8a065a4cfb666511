package central

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// exportReport serves GET /v1/reports/performance:export?format=csv|xlsx
// with the same query parameters as the report.
func (s *Server) exportReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	q.Del("format")
	ctx := metadata.NewOutgoingContext(r.Context(), metadata.Pairs("authorization", r.Header.Get("Authorization")))
	s.writeExport(w, ctx, q, format)
}

// writeExport writes the report that q asks for (the report's query
// parameters) as CSV or XLSX, for the caller in ctx: the report is read
// through s.local, with the access check of GetPerformanceReport.
func (s *Server) writeExport(w http.ResponseWriter, ctx context.Context, q url.Values, format string) {
	if format != "csv" && format != "xlsx" {
		httpError(w, http.StatusBadRequest, "format: csv or xlsx")
		return
	}
	req := &xasov1.GetPerformanceReportRequest{}
	if err := runtime.PopulateQueryParameters(req, q, utilities.NewDoubleArray(nil)); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	resp, err := s.local.GetPerformanceReport(ctx, req)
	if err != nil {
		st := status.Convert(err)
		httpError(w, runtime.HTTPStatusFromCode(st.Code()), st.Message())
		return
	}
	name := fmt.Sprintf("xaso-performance-%s-%s", req.GetFromMonth(), req.GetToMonth())
	table := reportTable(resp.GetRows())
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		io.WriteString(w, "\ufeff") // a BOM, so that spreadsheets read the Vietnamese names as UTF-8
		cw := csv.NewWriter(w)
		cw.WriteAll(table.strings())
	case "xlsx":
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.xlsx"`)
		if err := writeXLSX(w, "Performance", table); err != nil {
			s.log.Warn("write xlsx", "err", err)
		}
	}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"message": msg})
}

// table is a header and rows of cells; a cell is a string or a number.
type table struct {
	header []string
	rows   [][]any
}

// strings lays t out for CSV: text cells neutralised (csvText), numbers
// as the export writes them, which stay numbers in a spreadsheet.
func (t table) strings() [][]string {
	header := make([]string, len(t.header))
	for i, h := range t.header {
		header[i] = csvText(h)
	}
	out := [][]string{header}
	for _, r := range t.rows {
		line := make([]string, len(r))
		for i, c := range r {
			switch v := c.(type) {
			case string:
				line[i] = csvText(v)
			case int64:
				line[i] = strconv.FormatInt(v, 10)
			case float64:
				line[i] = strconv.FormatFloat(v, 'f', 4, 64)
			}
		}
		out = append(out, line)
	}
	return out
}

// csvText keeps a text cell from being read as a formula by a spreadsheet
// that opens the CSV: a cell that starts with '=', '+', '-', '@', a tab or
// a carriage return gets a leading single quote (OWASP's advice on CSV
// injection), so that a commune or procedure name such as
// =HYPERLINK("http://…","…") shows as the text it is. Only text cells
// pass here: the counts and rates are written from numbers and stay
// numbers (none is negative, and a number is never a formula anyway).
func csvText(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// reportTable lays a report out as operators read it. The columns after
// closed_unsupplemented are the Decision 766 indicators' counts and values
// (docs/indicators.md gives each formula); a report asked with its
// indicators adds the period view.
func reportTable(rows []*xasov1.PerformanceRow) table {
	t := table{header: []string{
		"month", "commune_code", "commune_name", "procedure_code", "procedure_name",
		"received", "received_online", "finished_early", "finished_on_time", "finished_late", "pending", "overdue_now", "withdrawn", "returned",
		"on_time_rate", "online_rate", "satisfaction_rate", "satisfaction_average", "digitised_components_rate", "digitised_results_rate",
		"guided", "refused_at_reception", "closed_unsupplemented",
		"tracked", "late_rate", "overdue_rate", "timed", "working_days_sum", "average_working_days",
		"level_full", "level_full_online", "online_full_rate", "level_partial", "level_partial_online", "online_partial_rate",
		"all_components_digitised", "all_components_digitised_rate", "fee_paying", "closed_in_month", "finished_in_month",
	}}
	// The citizens' ratings, per content of Decree 118/2025 art. 33(1).
	t.header = append(t.header, "citizen_ratings")
	for _, c := range dossier.Contents {
		name := strings.ToLower(dossier.ContentName(c.Content))
		t.header = append(t.header, "rated_"+name, "satisfied_"+name, "satisfaction_"+name+"_rate")
	}
	period := slices.ContainsFunc(rows, func(r *xasov1.PerformanceRow) bool { return r.GetPeriod() != nil })
	if period {
		t.header = append(t.header, "carried_over", "received_in_period", "resolved_in_period", "pending_at_end")
	}
	for _, r := range rows {
		a := r.GetCounts()
		row := []any{
			r.GetMonth(), r.GetCommuneCode(), r.GetCommuneName(), r.GetProcedureCode(), r.GetProcedureName(),
			a.GetReceived(), a.GetReceivedOnline(), a.GetFinishedEarly(), a.GetFinishedOnTime(), a.GetFinishedLate(), a.GetPending(), r.GetOverdueNow(), a.GetWithdrawn(), a.GetReturned(),
			r.GetOnTimeRate(), r.GetOnlineRate(), r.GetSatisfactionRate(), r.GetSatisfactionAverage(), r.GetDigitisedComponentsRate(), r.GetDigitisedResultsRate(),
			a.GetGuided(), a.GetRefusedAtReception(), a.GetClosedUnsupplemented(),
			a.GetTracked(), LateRate(a).Value(), OverdueRate(a, r.GetOverdueNow()).Value(), a.GetTimed(), a.GetWorkingDaysSum(), AverageWorkingDays(a).Value(),
			a.GetLevelFull(), a.GetLevelFullOnline(), OnlineRateFull(a).Value(), a.GetLevelPartial(), a.GetLevelPartialOnline(), OnlineRatePartial(a).Value(),
			a.GetAllComponentsDigitised(), AllComponentsDigitisedRate(a).Value(), a.GetFeePaying(), a.GetClosedInMonth(), a.GetFinishedInMonth(),
		}
		row = append(row, a.GetCitizenRatings())
		for _, c := range dossier.Contents {
			rated, satisfied := contentCounts(a, c.Content)
			row = append(row, *rated, *satisfied, ContentSatisfactionRate(a, c.Content).Value())
		}
		if period {
			p := r.GetPeriod()
			row = append(row, p.GetCarriedOver(), p.GetReceived(), p.GetResolved(), p.GetPendingEnd())
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// writeXLSX writes a one-sheet Office Open XML workbook: strings inline,
// numbers as numbers, so that spreadsheets sum and chart them directly.
// A text cell is an inline string (t="inlineStr"), never a formula (the
// sheet has no <f> element), so a name that starts with '=' stays text
// and needs no quote here.
func writeXLSX(w io.Writer, sheet string, t table) error {
	z := zip.NewWriter(w)
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="` + xmlEscape(sheet) + `" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
	}
	for _, f := range files {
		fw, err := z.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(fw, f.body); err != nil {
			return err
		}
	}
	fw, err := z.CreateHeader(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate, Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	row := func(n int, cells []any) {
		fmt.Fprintf(&b, `<row r="%d">`, n)
		for i, c := range cells {
			ref := column(i) + strconv.Itoa(n)
			switch v := c.(type) {
			case string:
				fmt.Fprintf(&b, `<c r="%s" t="inlineStr"><is><t>%s</t></is></c>`, ref, xmlEscape(v))
			case int64:
				fmt.Fprintf(&b, `<c r="%s"><v>%d</v></c>`, ref, v)
			case float64:
				fmt.Fprintf(&b, `<c r="%s"><v>%s</v></c>`, ref, strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		b.WriteString(`</row>`)
		if b.Len() > 1<<20 {
			io.WriteString(fw, b.String())
			b.Reset()
		}
	}
	header := make([]any, len(t.header))
	for i, h := range t.header {
		header[i] = h
	}
	row(1, header)
	for i, r := range t.rows {
		row(i+2, r)
	}
	b.WriteString(`</sheetData></worksheet>`)
	if _, err := io.WriteString(fw, b.String()); err != nil {
		return err
	}
	return z.Close()
}

// column is a spreadsheet column name: A … Z, AA …
func column(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('A'+(i-1)%26)) + name
	}
	return name
}

func xmlEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
				continue // not allowed in XML 1.0
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
