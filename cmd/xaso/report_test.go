package main

import (
	"bytes"
	"strings"
	"testing"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
)

// `xaso admin report indicators` prints each row's period view and its
// indicators: rates as percentages with their counts, averages as numbers,
// and what cannot be measured as such.
func TestPrintIndicators(t *testing.T) {
	r := &xasov1.PerformanceRow{Month: "2026-03", CommuneCode: "00004", CommuneName: "Phường Ba Đình",
		Counts: &xasov1.Aggregate{Received: 4, FinishedEarly: 1, FinishedOnTime: 2, FinishedLate: 1, Timed: 4, WorkingDaysSum: 10},
		Period: &xasov1.IndicatorPeriod{CarriedOver: 3, Received: 4, Resolved: 5, PendingEnd: 2}}
	r.Indicators = central.Indicators(r)
	var out bytes.Buffer
	if err := printIndicators(&out, []*xasov1.PerformanceRow{r}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"== 2026-03 · 00004 Phường Ba Đình", "Kỳ trước chuyển qua 3", "Còn tồn cuối kỳ 2",
		"Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn", "75.0%", "3 / 4", "2.50", "chưa đo được"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
}
