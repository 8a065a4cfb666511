package central

import (
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// The indicators of Decision 766/QĐ-TTg (23/6/2022, "Bộ chỉ số chỉ đạo,
// điều hành và đánh giá chất lượng phục vụ người dân, doanh nghiệp trong
// thực hiện thủ tục hành chính, dịch vụ công theo thời gian thực trên môi
// trường điện tử"), in the five groups of Decree 118/2025 art. 32(1):
// publicity and transparency, progress and results, digitisation, online
// service, satisfaction. Each is a named function of a report row's counts
// whose doc comment gives its formula; docs/indicators.md lists them with
// what xaso cannot measure. The decision's full text (its points and
// thresholds) could not be read here: these are the ratios it is built
// on, as xaso's data reaches, not its scores.

// Ratio is an indicator's numerator over its denominator.
type Ratio struct{ Num, Den float64 }

// Value is Num / Den, 0 when the denominator is 0 (nothing to measure).
func (r Ratio) Value() float64 {
	if r.Den == 0 {
		return 0
	}
	return r.Num / r.Den
}

func ratio(n, d int64) Ratio { return Ratio{float64(n), float64(d)} }

// finished is the dossiers with a result or a refusal.
func finished(a *xasov1.Aggregate) int64 {
	return a.GetFinishedEarly() + a.GetFinishedOnTime() + a.GetFinishedLate()
}

// rated is the dossiers the citizen rated.
func rated(a *xasov1.Aggregate) int64 {
	return a.GetVerySatisfied() + a.GetSatisfied() + a.GetNotSatisfied()
}

// OnTimeRate (progress): (finished early + finished on time) / finished.
// A dossier that needed an apology is late whatever its new appointment:
// the original due date counts (dossier.Calendar.Timeliness; Decree
// 118/2025 art. 19(6)).
func OnTimeRate(a *xasov1.Aggregate) Ratio {
	return ratio(a.GetFinishedEarly()+a.GetFinishedOnTime(), finished(a))
}

// LateRate (progress): finished late / finished.
func LateRate(a *xasov1.Aggregate) Ratio { return ratio(a.GetFinishedLate(), finished(a)) }

// OverdueRate (progress): open dossiers past their due time now / pending.
// A dossier waiting for supplements is pending but never overdue (its
// clock stopped: Decree 118/2025 art. 19(5); dossier.ClockRuns).
func OverdueRate(a *xasov1.Aggregate, overdueNow int64) Ratio {
	return ratio(overdueNow, a.GetPending())
}

// AverageWorkingDays (progress): Σ working days from receipt to result /
// tracked finished dossiers (dossier.ProcessingWorkingDays); per procedure
// in a report by procedure.
func AverageWorkingDays(a *xasov1.Aggregate) Ratio { return ratio(a.GetWorkingDaysSum(), a.GetTimed()) }

// OnlineRate (online service): received online / received, all
// procedures.
func OnlineRate(a *xasov1.Aggregate) Ratio { return ratio(a.GetReceivedOnline(), a.GetReceived()) }

// OnlineRateFull (online service): received online / received, among the
// tracked dossiers of procedures offered fully online (toàn trình).
func OnlineRateFull(a *xasov1.Aggregate) Ratio {
	return ratio(a.GetLevelFullOnline(), a.GetLevelFull())
}

// OnlineRatePartial (online service): received online / received, among
// the tracked dossiers of procedures offered partly online (một phần).
func OnlineRatePartial(a *xasov1.Aggregate) Ratio {
	return ratio(a.GetLevelPartialOnline(), a.GetLevelPartial())
}

// OnlinePaymentRate (online service): fees paid online / fee-paying
// dossiers. xaso records no payment yet (Decree 118/2025 art. 24(1)(b)
// payments come with the QR payment work): the numerator is 0 and the
// indicator reported not measurable; the denominator is counted already.
func OnlinePaymentRate(a *xasov1.Aggregate) Ratio { return ratio(0, a.GetFeePaying()) }

// ComponentsDigitisedRate (digitisation): dossiers with a scan of at least
// one component / received, all dossiers (the older, looser count).
func ComponentsDigitisedRate(a *xasov1.Aggregate) Ratio {
	return ratio(a.GetDigitisedComponents(), a.GetReceived())
}

// AllComponentsDigitisedRate (digitisation): tracked dossiers with a scan
// of every component handed in / tracked dossiers received.
func AllComponentsDigitisedRate(a *xasov1.Aggregate) Ratio {
	return ratio(a.GetAllComponentsDigitised(), a.GetTracked())
}

// ResultsDigitisedRate (digitisation): finished dossiers whose result is
// kept as a file / finished dossiers.
func ResultsDigitisedRate(a *xasov1.Aggregate) Ratio {
	return ratio(a.GetDigitisedResults(), finished(a))
}

// SatisfactionRate (satisfaction): (very satisfied + satisfied) / rated.
func SatisfactionRate(a *xasov1.Aggregate) Ratio {
	return ratio(a.GetVerySatisfied()+a.GetSatisfied(), rated(a))
}

// SatisfactionAverage (satisfaction): (3 × very satisfied + 2 × satisfied
// + 1 × not satisfied) / rated: 1 to 3, 0 when nobody rated.
func SatisfactionAverage(a *xasov1.Aggregate) Ratio {
	return ratio(3*a.GetVerySatisfied()+2*a.GetSatisfied()+a.GetNotSatisfied(), rated(a))
}

// ContentSatisfactionRate (satisfaction, per content of Decree 118/2025
// art. 33(1)): citizens' ratings that rated content c very satisfied or
// satisfied / citizens' ratings that rated c (an optional content left out
// is in neither).
func ContentSatisfactionRate(a *xasov1.Aggregate, c xasov1.RatingContent) Ratio {
	rated, satisfied := contentCounts(a, c)
	if rated == nil {
		return Ratio{}
	}
	return ratio(*satisfied, *rated)
}

// contentNames are the contents of art. 33(1) as the report names them.
var contentNames = map[xasov1.RatingContent]string{
	xasov1.RatingContent_RATING_CONTENT_RETURN_TIME:        "thời gian trả kết quả",
	xasov1.RatingContent_RATING_CONTENT_AGENCIES_CONTACTED: "số cơ quan phải liên hệ",
	xasov1.RatingContent_RATING_CONTENT_CONTACTS_NEEDED:    "số lần phải liên hệ",
	xasov1.RatingContent_RATING_CONTENT_INFORMATION:        "thông tin thủ tục được công khai",
	xasov1.RatingContent_RATING_CONTENT_STAFF_CONDUCT:      "thái độ của cán bộ, công chức",
	xasov1.RatingContent_RATING_CONTENT_RESULT_AND_COST:    "kết quả và chi phí",
	xasov1.RatingContent_RATING_CONTENT_COMPLAINT_HANDLING: "giải trình phản ánh, kiến nghị",
	xasov1.RatingContent_RATING_CONTENT_ONLINE_SERVICE:     "dịch vụ công trực tuyến",
	xasov1.RatingContent_RATING_CONTENT_OTHER:              "nội dung khác",
}

// indicatorDef is one indicator as a report row carries it.
type indicatorDef struct {
	key, group, name, formula string
	of                        func(r *xasov1.PerformanceRow) Ratio
	// notMeasurable: why xaso cannot measure it; empty when it can.
	notMeasurable string
}

func counts(f func(*xasov1.Aggregate) Ratio) func(*xasov1.PerformanceRow) Ratio {
	return func(r *xasov1.PerformanceRow) Ratio { return f(r.GetCounts()) }
}

// outsideData is why the publicity indicators are not measured.
const outsideData = "rests on data outside the province's desk system (the National Public Service Portal and the national procedure database)"

// indicatorDefs lists the indicators in the order of docs/indicators.md.
func indicatorDefs() []indicatorDef {
	none := func(*xasov1.PerformanceRow) Ratio { return Ratio{} }
	defs := []indicatorDef{
		{key: "publicity.procedures_published", group: "publicity", name: "Thủ tục hành chính được công khai đầy đủ, đúng hạn",
			formula: "procedures published in full and on time / procedures", of: none, notMeasurable: outsideData},
		{key: "publicity.dossiers_synchronised", group: "publicity", name: "Hồ sơ được đồng bộ, công khai trên Cổng Dịch vụ công quốc gia",
			formula: "dossiers synchronised to the national portal / dossiers", of: none, notMeasurable: outsideData + "; xaso does not connect to the portal yet"},
		{key: "progress.on_time_rate", group: "progress", name: "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn",
			formula: "(finished early + finished on time) / finished", of: counts(OnTimeRate)},
		{key: "progress.late_rate", group: "progress", name: "Tỷ lệ hồ sơ giải quyết quá hạn",
			formula: "finished late / finished", of: counts(LateRate)},
		{key: "progress.overdue_rate", group: "progress", name: "Tỷ lệ hồ sơ đang giải quyết quá hạn",
			formula: "overdue now / pending", of: func(r *xasov1.PerformanceRow) Ratio { return OverdueRate(r.GetCounts(), r.GetOverdueNow()) }},
		{key: "progress.average_working_days", group: "progress", name: "Thời gian giải quyết trung bình (ngày làm việc)",
			formula: "working days from receipt to result, summed / tracked finished", of: counts(AverageWorkingDays)},
		{key: "digitisation.all_components_rate", group: "digitisation", name: "Tỷ lệ hồ sơ được số hóa toàn bộ thành phần",
			formula: "tracked dossiers with every component scanned / tracked received", of: counts(AllComponentsDigitisedRate)},
		{key: "digitisation.any_component_rate", group: "digitisation", name: "Tỷ lệ hồ sơ có thành phần được số hóa",
			formula: "dossiers with at least one component scanned / received", of: counts(ComponentsDigitisedRate)},
		{key: "digitisation.results_rate", group: "digitisation", name: "Tỷ lệ kết quả giải quyết được số hóa",
			formula: "finished with the result kept as a file / finished", of: counts(ResultsDigitisedRate)},
		{key: "online.rate", group: "online", name: "Tỷ lệ hồ sơ trực tuyến",
			formula: "received online / received", of: counts(OnlineRate)},
		{key: "online.full_rate", group: "online", name: "Tỷ lệ hồ sơ trực tuyến của thủ tục toàn trình",
			formula: "received online / received, tracked dossiers of fully online procedures", of: counts(OnlineRateFull)},
		{key: "online.partial_rate", group: "online", name: "Tỷ lệ hồ sơ trực tuyến của thủ tục một phần",
			formula: "received online / received, tracked dossiers of partly online procedures", of: counts(OnlineRatePartial)},
		{key: "online.payment_rate", group: "online", name: "Tỷ lệ hồ sơ thanh toán trực tuyến",
			formula: "fee-paying dossiers paid online / tracked fee-paying dossiers", of: counts(OnlinePaymentRate),
			notMeasurable: "xaso records no payment yet (only which dossiers owe a fee)"},
		{key: "satisfaction.rate", group: "satisfaction", name: "Tỷ lệ hài lòng",
			formula: "(very satisfied + satisfied) / rated", of: counts(SatisfactionRate)},
		{key: "satisfaction.average", group: "satisfaction", name: "Điểm hài lòng trung bình (1–3)",
			formula: "(3 × very satisfied + 2 × satisfied + 1 × not satisfied) / rated", of: counts(SatisfactionAverage)},
	}
	for _, c := range dossier.Contents {
		c := c.Content
		name := strings.ToLower(dossier.ContentName(c))
		defs = append(defs, indicatorDef{key: "satisfaction.content." + name, group: "satisfaction",
			name:    "Tỷ lệ hài lòng về " + contentNames[c] + " (Nghị định 118/2025 Điều 33(1))",
			formula: "citizens' ratings of this content very satisfied or satisfied / citizens' ratings of this content",
			of:      func(r *xasov1.PerformanceRow) Ratio { return ContentSatisfactionRate(r.GetCounts(), c) }})
	}
	return defs
}

// Indicators computes a report row's Decision 766 indicators.
func Indicators(r *xasov1.PerformanceRow) []*xasov1.IndicatorValue {
	defs := indicatorDefs()
	out := make([]*xasov1.IndicatorValue, 0, len(defs))
	for _, d := range defs {
		v := &xasov1.IndicatorValue{Key: d.key, Group: d.group, Name: d.name, Formula: d.formula,
			Measurable: d.notMeasurable == "", NotMeasurable: d.notMeasurable}
		rt := d.of(r)
		v.Numerator, v.Denominator = rt.Num, rt.Den
		if v.Measurable {
			v.Value = rt.Value()
		}
		out = append(out, v)
	}
	return out
}

// PeriodView is a row's period view from the counts of the months before
// its period (before) and of its period (in), tracked dossiers only:
//
//	carried over = Σ before (tracked − closed in month)
//	received     = Σ in tracked
//	resolved     = Σ in closed in month
//	pending end  = carried over + received − resolved
func PeriodView(before, in *xasov1.Aggregate) *xasov1.IndicatorPeriod {
	p := &xasov1.IndicatorPeriod{
		CarriedOver: before.GetTracked() - before.GetClosedInMonth(),
		Received:    in.GetTracked(),
		Resolved:    in.GetClosedInMonth(),
	}
	p.PendingEnd = p.CarriedOver + p.Received - p.Resolved
	return p
}

// addIndicators fills in rows' indicators and period views: the period of
// a row is its month in a report by month, else the report's months. What
// was carried over into the first month is read from every month before
// it that has aggregates.
func (f *FSM) addIndicators(q ReportQuery, rows []*xasov1.PerformanceRow) error {
	key := func(r *xasov1.PerformanceRow) group {
		return group{commune: r.GetCommuneCode(), procedure: r.GetProcedureCode()}
	}
	balance := map[group]*xasov1.Aggregate{}
	first, err := f.firstReportMonth()
	if err != nil {
		return err
	}
	if first != "" && first < q.From {
		before, err := monthBefore(q.From)
		if err != nil {
			return err
		}
		for from := first; from <= before; {
			to := monthAdd(from, maxReportMonths-1)
			if to > before {
				to = before
			}
			hq := q
			hq.From, hq.To, hq.ByMonth, hq.Indicators = from, to, false, false
			hist, err := f.Report(hq)
			if err != nil {
				return fmt.Errorf("months before the period: %w", err)
			}
			for _, h := range hist {
				b, ok := balance[key(h)]
				if !ok {
					b = &xasov1.Aggregate{}
					balance[key(h)] = b
				}
				addAggregate(b, h.GetCounts(), 1)
			}
			from = monthAdd(to, 1)
		}
	}
	// Rows come sorted by month: a by-month row's carried over is the
	// balance before it, which its own counts then move on.
	for _, r := range rows {
		b, ok := balance[key(r)]
		if !ok {
			b = &xasov1.Aggregate{}
			balance[key(r)] = b
		}
		r.Indicators = Indicators(r)
		r.Period = PeriodView(b, r.GetCounts())
		if q.ByMonth {
			addAggregate(b, r.GetCounts(), 1)
		}
	}
	return nil
}

// firstReportMonth is the oldest month with province aggregates
// ("200601"), "" when there is none.
func (f *FSM) firstReportMonth() (string, error) {
	var m string
	err := f.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(levelProvince)})
		defer it.Close()
		it.Rewind()
		if it.Valid() {
			m = strings.TrimPrefix(string(it.Item().Key()), levelProvince)
		}
		if _, err := time.Parse("200601", m); err != nil {
			m = "" // not a month: nothing to carry over from
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("oldest report month: %w", err)
	}
	return m, nil
}

// monthBefore is the month before m ("200601").
func monthBefore(m string) (string, error) {
	t, err := time.Parse("200601", m)
	if err != nil {
		return "", fmt.Errorf("month %q: want YYYYMM", m)
	}
	return t.AddDate(0, -1, 0).Format("200601"), nil
}

// monthAdd is n months after m ("200601"); m as it is when malformed.
func monthAdd(m string, n int) string {
	t, err := time.Parse("200601", m)
	if err != nil {
		return m
	}
	return t.AddDate(0, n, 0).Format("200601")
}
