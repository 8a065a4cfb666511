package central

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// Each indicator of Decision 766/QĐ-TTg (docs/indicators.md) as its
// formula says, and 0 on a zero denominator.
func TestIndicatorFormulas(t *testing.T) {
	a := &xasov1.Aggregate{
		Received: 10, ReceivedOnline: 4, FinishedEarly: 2, FinishedOnTime: 3, FinishedLate: 1, Pending: 4,
		VerySatisfied: 2, Satisfied: 1, NotSatisfied: 1, DigitisedComponents: 6, DigitisedResults: 3,
		Tracked: 8, Timed: 5, WorkingDaysSum: 12, LevelFull: 5, LevelFullOnline: 3, LevelPartial: 2, LevelPartialOnline: 1,
		AllComponentsDigitised: 2, SomeComponentsDigitised: 5, FinishedTracked: 5, FinishedTrackedDigitised: 2, FeePaying: 4,
		CitizenRatings: 4, RatedStaffConduct: 4, SatisfiedStaffConduct: 3, RatedOnlineService: 1,
	}
	zero := &xasov1.Aggregate{}
	for _, c := range []struct {
		name      string // the indicator, and where its group comes from
		got, none Ratio
		num, den  float64
	}{
		{"on time (progress, Decree 118/2025 art. 32(1)(b))", OnTimeRate(a), OnTimeRate(zero), 5, 6},
		{"late (progress, art. 32(1)(b); an apologised dossier is late, art. 19(6))", LateRate(a), LateRate(zero), 1, 6},
		{"overdue now (progress, art. 32(1)(b); a paused one never, art. 19(5))", OverdueRate(a, 1), OverdueRate(zero, 0), 1, 4},
		{"average working days (progress, art. 32(1)(b))", AverageWorkingDays(a), AverageWorkingDays(zero), 12, 5},
		{"online share (online service, art. 32(1)(d))", OnlineRate(a), OnlineRate(zero), 4, 10},
		{"online share, fully online procedures (art. 32(1)(d))", OnlineRateFull(a), OnlineRateFull(zero), 3, 5},
		{"online share, partly online procedures (art. 32(1)(d))", OnlineRatePartial(a), OnlineRatePartial(zero), 1, 2},
		{"online payment (art. 32(1)(d), art. 24(1)(b)): not recorded", OnlinePaymentRate(a), OnlinePaymentRate(zero), 0, 4},
		{"components, at least one scanned (digitisation, art. 32(1)(c))", ComponentsDigitisedRate(a), ComponentsDigitisedRate(zero), 6, 10},
		{"components, every one scanned (digitisation, art. 32(1)(c))", AllComponentsDigitisedRate(a), AllComponentsDigitisedRate(zero), 2, 8},
		{"results digitised (digitisation, art. 32(1)(c))", ResultsDigitisedRate(a), ResultsDigitisedRate(zero), 3, 6},
		{"satisfied (satisfaction, art. 32(1)(đ), 33)", SatisfactionRate(a), SatisfactionRate(zero), 3, 4},
		{"average rating (satisfaction, art. 32(1)(đ), 33)", SatisfactionAverage(a), SatisfactionAverage(zero), 9, 4},
		{"staff conduct (art. 33(1)(đ))", ContentSatisfactionRate(a, xasov1.RatingContent_RATING_CONTENT_STAFF_CONDUCT), ContentSatisfactionRate(zero, xasov1.RatingContent_RATING_CONTENT_STAFF_CONDUCT), 3, 4},
		{"online service, optional (art. 33(1)(h))", ContentSatisfactionRate(a, xasov1.RatingContent_RATING_CONTENT_ONLINE_SERVICE), ContentSatisfactionRate(zero, xasov1.RatingContent_RATING_CONTENT_ONLINE_SERVICE), 0, 1},
	} {
		if c.got.Num != c.num || c.got.Den != c.den || c.got.Value() != c.num/c.den {
			t.Errorf("%s: %v = %v, want %v/%v", c.name, c.got, c.got.Value(), c.num, c.den)
		}
		if c.none.Value() != 0 || math.IsNaN(c.none.Value()) {
			t.Errorf("%s on nothing: %v, want 0", c.name, c.none.Value())
		}
	}
	// The period view: carried over, received, resolved, pending at the end.
	p := PeriodView(&xasov1.Aggregate{Tracked: 7, ClosedInMonth: 3}, &xasov1.Aggregate{Tracked: 5, ClosedInMonth: 6})
	if p.GetCarriedOver() != 4 || p.GetReceived() != 5 || p.GetResolved() != 6 || p.GetPendingEnd() != 3 {
		t.Errorf("period view %v", p)
	}
	if p := PeriodView(nil, nil); p.GetPendingEnd() != 0 || p.GetCarriedOver() != 0 {
		t.Errorf("period view of nothing %v", p)
	}
	// A row carries every indicator; the ones xaso cannot measure say why
	// and show no number.
	vals := Indicators(&xasov1.PerformanceRow{Counts: a, OverdueNow: 1})
	if len(vals) != len(indicatorDefs()) {
		t.Fatalf("%d indicators", len(vals))
	}
	groups := map[string]bool{}
	for _, v := range vals {
		groups[v.GetGroup()] = true
		if v.GetMeasurable() == (v.GetNotMeasurable() != "") || !v.GetMeasurable() && v.GetValue() != 0 {
			t.Errorf("%s: measurable %v, %q, value %v", v.GetKey(), v.GetMeasurable(), v.GetNotMeasurable(), v.GetValue())
		}
		if v.GetName() == "" || v.GetFormula() == "" {
			t.Errorf("%s without name or formula", v.GetKey())
		}
	}
	for _, c := range dossier.Contents {
		key := "satisfaction.content." + strings.ToLower(dossier.ContentName(c.Content))
		if !slices.ContainsFunc(vals, func(v *xasov1.IndicatorValue) bool { return v.GetKey() == key }) {
			t.Errorf("no indicator %s for art. 33(1)(%s)", key, c.Point)
		}
	}
	if len(groups) != 5 {
		t.Errorf("groups %v, want the five of Decree 118/2025 art. 32(1)", groups)
	}
}

// desk sends a province's events to an FSM as the communes' nodes would:
// decided with the package dossier, chained per commune.
type desk struct {
	t     *testing.T
	a     *applier
	cal   *dossier.Calendar
	procs map[string]*xasov1.Procedure
	ds    map[string]*xasov1.Dossier
	seq   map[string]int64
	prev  map[string][]byte
	n     int
}

func newDesk(t *testing.T, communes ...string) *desk {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, communes...)
	k := &desk{t: t, a: a, cal: sample.Calendar(), procs: map[string]*xasov1.Procedure{}, ds: map[string]*xasov1.Dossier{}, seq: map[string]int64{}, prev: map[string][]byte{}}
	for _, p := range sample.Procedures() {
		k.procs[p.GetCode()] = p
	}
	return k
}

func (k *desk) send(commune, code string, ev *xasov1.Event) {
	k.t.Helper()
	prev := k.prev[commune]
	if prev == nil {
		prev = dossier.GenesisHash()
	}
	rec := chainFrom(k.t, k.seq[commune], prev, &xasov1.OutboxRecord{CommuneCode: commune, DossierCode: code, Event: ev})[0]
	if r := k.a.apply(k.t, appendEvents(commune, rec))[0]; r.GetCode() != 0 {
		k.t.Fatalf("%s %s: %s", code, dossier.ActionName(ev.GetAction()), r.GetMessage())
	}
	k.seq[commune], k.prev[commune] = rec.GetSequence(), rec.GetHash()
	d := k.ds[code]
	if d == nil {
		d = &xasov1.Dossier{}
		k.ds[code] = d
	}
	dossier.Apply(d, ev)
}

func scan(name string) string {
	s := sha256.Sum256([]byte(name))
	return hex.EncodeToString(s[:])
}

// receive takes in a dossier of proc; scanned components have a scan,
// the others are on paper.
func (k *desk) receive(commune, proc string, ch xasov1.Channel, at time.Time, scanned ...string) string {
	k.t.Helper()
	k.n++
	code := dossier.FormatCode(commune, at, k.n)
	p := k.procs[proc]
	var comps []*xasov1.SubmittedComponent
	for _, c := range p.GetComponents() {
		sc := &xasov1.SubmittedComponent{Code: c.GetCode(), Paper: true}
		for _, s := range scanned {
			if s == c.GetCode() {
				sc.Paper, sc.AttachmentSha256 = false, []string{scan(code + s)}
			}
		}
		comps = append(comps, sc)
	}
	ev, err := dossier.ReceiveEvent(dossier.ReceiveInput{Code: code, CommuneCode: commune, Procedure: p,
		Applicant: &xasov1.Applicant{FullName: "Nguyễn Văn An", IdNumber: "001234567890", Phone: "0912345678"},
		Channel:   ch, Components: comps, Actor: "motcua.1", Role: dossier.Clerk, Time: at}, k.cal)
	if err != nil {
		k.t.Fatal(err)
	}
	k.send(commune, code, ev)
	return code
}

// do decides cmd on a dossier and sends it for commune.
func (k *desk) do(commune, code string, cmd dossier.Command) {
	k.t.Helper()
	ev, err := dossier.Decide(k.ds[code], cmd, k.cal)
	if err != nil {
		k.t.Fatalf("%s %s: %v", code, dossier.ActionName(cmd.Action), err)
	}
	k.send(commune, code, ev)
}

// approve takes a received dossier through to its result at t.
func (k *desk) approve(commune, code string, t time.Time, result bool) {
	k.do(commune, code, dossier.Command{Action: dossier.Assign, Actor: "motcua.1", Role: dossier.Clerk, Time: t.Add(-2 * time.Hour), Assignee: "canbo.1"})
	k.do(commune, code, dossier.Command{Action: dossier.Submit, Actor: "canbo.1", Role: dossier.Officer, Time: t.Add(-time.Hour)})
	cmd := dossier.Command{Action: dossier.Approve, Actor: "lanhdao.1", Role: dossier.Leader, Time: t}
	if result {
		cmd.Attachments = []*xasov1.AttachmentRef{{Sha256: scan(code + "KQ"), Filename: "ketqua.pdf", ContentType: "application/pdf", SizeBytes: 10, Result: true}}
	}
	k.do(commune, code, cmd)
}

func day(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, dossier.Zone) }

// The aggregates an FSM keeps as it applies events give the indicators and
// the period view; a transferred dossier counts at the commune that
// received it; a dossier waiting for supplements is never overdue, at
// central as at the node.
func TestIndicatorsFromAppliedEvents(t *testing.T) {
	const a, b = "00004", "00008"
	const full, partial = "1.004222", "1.001022" // fully / partly online, both with a fee, 3 working days
	k := newDesk(t, a, b)
	online, inPerson := xasov1.Channel_CHANNEL_ONLINE, xasov1.Channel_CHANNEL_IN_PERSON

	// February, in commune a.
	d1 := k.receive(a, full, online, day(2, 2, 9), "CT01", "CSH") // every component scanned
	k.approve(a, d1, day(2, 4, 10), true)                         // 2 working days, result kept as a file
	k.do(a, d1, dossier.Command{Action: dossier.Return, Actor: "motcua.1", Role: dossier.Clerk, Time: day(3, 2, 8)})
	// The citizen rates every content of art. 33(1) very satisfied.
	rating := &xasov1.Rating{Channel: xasov1.RatingChannel_RATING_CHANNEL_LOOKUP}
	for _, c := range dossier.Contents {
		rating.Scores = append(rating.Scores, &xasov1.RatingScore{Content: c.Content, Level: xasov1.Satisfaction_SATISFACTION_VERY_SATISFIED})
	}
	k.do(a, d1, dossier.RateCommand(rating, day(3, 2, 9)))
	d2 := k.receive(a, partial, inPerson, day(2, 3, 9), "TK") // one of two scanned
	k.do(a, d2, dossier.Command{Action: dossier.Assign, Actor: "motcua.1", Role: dossier.Clerk, Time: day(2, 3, 10), Assignee: "canbo.1"})
	k.do(a, d2, dossier.Command{Action: dossier.RequestSupplement, Actor: "canbo.1", Role: dossier.Officer, Time: day(2, 3, 11), Reason: "Thiếu bản chính chứng cứ"})
	d3 := k.receive(a, partial, inPerson, day(2, 5, 9))
	d4 := k.receive(a, full, inPerson, day(2, 6, 9))
	k.do(a, d4, dossier.Command{Action: dossier.Transfer, Actor: "motcua.1", Role: dossier.Clerk, Time: day(2, 6, 10), TransferCommune: b})
	acc, err := dossier.AcceptTransferEvent(k.ds[d4], b, day(2, 9, 8))
	if err != nil {
		t.Fatal(err)
	}
	k.send(b, d4, acc)
	d5 := k.receive(a, full, inPerson, day(2, 26, 9))
	// March: d3 withdrawn, d4 finished at b.
	k.do(a, d3, dossier.Command{Action: dossier.Withdraw, Actor: "motcua.1", Role: dossier.Clerk, Time: day(3, 2, 9), Reason: "Công dân xin rút"})
	k.approve(b, d4, day(3, 3, 10), false)

	asOf := day(3, 30, 12)
	rows, err := k.a.f.Report(ReportQuery{From: "202602", To: "202603", ByMonth: true, ByCommune: true, ByProcedure: true, AsOf: asOf})
	if err != nil {
		t.Fatal(err)
	}
	got := map[group]*xasov1.PerformanceRow{}
	for _, r := range rows {
		if r.GetCommuneCode() != a {
			t.Errorf("a row for commune %s: a transferred dossier counts where it was received (Decree 118/2025 art. 20(1)(b)): %v", r.GetCommuneCode(), r)
		}
		got[group{r.GetMonth(), r.GetCommuneCode(), r.GetProcedureCode()}] = r
	}
	want := map[group]*xasov1.Aggregate{
		{"2026-02", a, full}: {Received: 3, ReceivedOnline: 1, FinishedEarly: 1, FinishedOnTime: 0, FinishedLate: 0, Pending: 1, Returned: 1, VerySatisfied: 1, CitizenRatings: 1,
			RatedReturnTime: 1, SatisfiedReturnTime: 1, RatedAgenciesContacted: 1, SatisfiedAgenciesContacted: 1, RatedContactsNeeded: 1, SatisfiedContactsNeeded: 1,
			RatedInformation: 1, SatisfiedInformation: 1, RatedStaffConduct: 1, SatisfiedStaffConduct: 1, RatedResultAndCost: 1, SatisfiedResultAndCost: 1,
			RatedComplaintHandling: 1, SatisfiedComplaintHandling: 1, RatedOnlineService: 1, SatisfiedOnlineService: 1, RatedOther: 1, SatisfiedOther: 1,
			DigitisedComponents: 1, DigitisedResults: 1, Tracked: 3, Timed: 2, LevelFull: 3, LevelFullOnline: 1,
			AllComponentsDigitised: 1, SomeComponentsDigitised: 1, FinishedTracked: 2, FinishedTrackedDigitised: 1, FeePaying: 3, ClosedInMonth: 1, FinishedInMonth: 1},
		{"2026-02", a, partial}: {Received: 2, Pending: 1, Withdrawn: 1, DigitisedComponents: 1, Tracked: 2, LevelPartial: 2, SomeComponentsDigitised: 1, FeePaying: 2},
		{"2026-03", a, full}:    {ClosedInMonth: 1, FinishedInMonth: 1},
		{"2026-03", a, partial}: {ClosedInMonth: 1},
	}
	// d4: received Friday 6/2 (clock from Monday 9/2), result on 3/3 with
	// the Tết holidays between; d1: 2 working days.
	d4days := int64(k.ds[d4].GetWorkingDays())
	if d4days <= 3 || k.ds[d4].GetTimeliness() != dossier.Late {
		t.Fatalf("d4: %d working days, %v", d4days, k.ds[d4].GetTimeliness())
	}
	want[group{"2026-02", a, full}].FinishedLate = 1
	want[group{"2026-02", a, full}].WorkingDaysSum = 2 + d4days
	if len(got) != len(want) {
		t.Errorf("%d rows, want %d: %v", len(got), len(want), rows)
	}
	for g, w := range want {
		if r := got[g]; r == nil || !proto.Equal(r.GetCounts(), w) {
			t.Errorf("%v: %v\nwant %v", g, r.GetCounts(), w)
		}
	}
	// Overdue now: d5 (its clock runs, due 3/3); d2 waits for supplements
	// and is never overdue; the node asks the same dossier.OverdueAt.
	var overdue int64
	for _, r := range rows {
		overdue += r.GetOverdueNow()
	}
	if overdue != 1 || !dossier.OverdueAt(k.ds[d5], asOf) || dossier.OverdueAt(k.ds[d2], asOf) {
		t.Errorf("overdue now %d; node: d5 %v, d2 %v", overdue, dossier.OverdueAt(k.ds[d5], asOf), dossier.OverdueAt(k.ds[d2], asOf))
	}

	// The period view, by month and over the two months, and for March
	// alone (carried over from February).
	period := func(q ReportQuery) []*xasov1.IndicatorPeriod {
		t.Helper()
		q.AsOf, q.Indicators = asOf, true
		rows, err := k.a.f.Report(q)
		if err != nil {
			t.Fatal(err)
		}
		var out []*xasov1.IndicatorPeriod
		for _, r := range rows {
			if len(r.GetIndicators()) != len(indicatorDefs()) {
				t.Fatalf("row %v without its indicators", r)
			}
			out = append(out, r.GetPeriod())
		}
		return out
	}
	p := func(c, r, s, e int64) *xasov1.IndicatorPeriod {
		return &xasov1.IndicatorPeriod{CarriedOver: c, Received: r, Resolved: s, PendingEnd: e}
	}
	for _, c := range []struct {
		name string
		q    ReportQuery
		want []*xasov1.IndicatorPeriod
	}{
		{"by month", ReportQuery{From: "202602", To: "202603", ByMonth: true}, []*xasov1.IndicatorPeriod{p(0, 5, 1, 4), p(4, 0, 2, 2)}},
		{"February and March", ReportQuery{From: "202602", To: "202603"}, []*xasov1.IndicatorPeriod{p(0, 5, 3, 2)}},
		{"March", ReportQuery{From: "202603", To: "202603", ByCommune: true}, []*xasov1.IndicatorPeriod{p(4, 0, 2, 2)}},
		{"April", ReportQuery{From: "202604", To: "202604"}, nil}, // no row: nothing happened
		{"by procedure, by month", ReportQuery{From: "202602", To: "202603", ByMonth: true, ByProcedure: true},
			[]*xasov1.IndicatorPeriod{p(0, 2, 0, 2), p(0, 3, 1, 2), p(2, 0, 1, 1), p(2, 0, 1, 1)}}, // partly online (1.001022) first
	} {
		got := period(c.q)
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if !proto.Equal(got[i], c.want[i]) {
				t.Errorf("%s row %d: %v, want %v", c.name, i, got[i], c.want[i])
			}
		}
	}
	// The province row's indicators for February and March.
	prov, err := k.a.f.Report(ReportQuery{From: "202602", To: "202603", AsOf: asOf, Indicators: true})
	if err != nil || len(prov) != 1 {
		t.Fatalf("province: %v %v", prov, err)
	}
	vals := map[string]*xasov1.IndicatorValue{}
	for _, v := range prov[0].GetIndicators() {
		vals[v.GetKey()] = v
	}
	for key, w := range map[string][2]float64{
		"progress.on_time_rate":            {1, 2},
		"progress.late_rate":               {1, 2},
		"progress.overdue_rate":            {1, 2},
		"progress.average_working_days":    {float64(2 + d4days), 2},
		"online.rate":                      {1, 5},
		"online.full_rate":                 {1, 3},
		"online.partial_rate":              {0, 2},
		"digitisation.all_components_rate": {1, 5},
		"digitisation.any_component_rate":  {2, 5},
		"digitisation.results_rate":        {1, 2},
		"satisfaction.rate":                {1, 1},
		"satisfaction.average":             {3, 1},
		"online.payment_rate":              {0, 5},
		"publicity.procedures_published":   {0, 0},
		"publicity.dossiers_synchronised":  {0, 0},
	} {
		v := vals[key]
		if v == nil || v.GetNumerator() != w[0] || v.GetDenominator() != w[1] {
			t.Errorf("%s: %v, want %v/%v", key, v, w[0], w[1])
		}
	}
	if vals["online.payment_rate"].GetMeasurable() || vals["publicity.procedures_published"].GetMeasurable() || !vals["progress.on_time_rate"].GetMeasurable() {
		t.Error("what xaso cannot measure is reported measurable, or the other way round")
	}
}

// A receipt whose online level or fee is not its catalogue version's is
// refused: a node cannot move its dossiers between online levels or from
// fee-paying to free (the Decision 766 indicators count them).
func TestReceiptLevelAndFeeAreTheCatalogues(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(ev *xasov1.Event)
		ok     bool
	}{
		{"as the catalogue says", func(*xasov1.Event) {}, true},
		{"from a node older than the indicators (no level)", func(ev *xasov1.Event) { ev.OnlineLevel, ev.FeeVnd = 0, 0 }, true},
		{"another online level", func(ev *xasov1.Event) { ev.OnlineLevel = xasov1.OnlineLevel_ONLINE_LEVEL_FULL }, false},
		{"no fee for a procedure with one", func(ev *xasov1.Event) { ev.FeeVnd = 0 }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			k := newDesk(t, "00004")
			p := k.procs["1.001022"] // partly online, 15,000 đồng
			ev, err := dossier.ReceiveEvent(dossier.ReceiveInput{Code: "00004-260302-0001", CommuneCode: "00004", Procedure: p,
				Applicant: &xasov1.Applicant{FullName: "Nguyễn Văn An", IdNumber: "001234567890", Phone: "0912345678"},
				Channel:   xasov1.Channel_CHANNEL_IN_PERSON, Components: []*xasov1.SubmittedComponent{{Code: "TK", Paper: true}, {Code: "CC", Paper: true}},
				Actor: "motcua.1", Role: dossier.Clerk, Time: day(3, 2, 9)}, k.cal)
			if err != nil {
				t.Fatal(err)
			}
			c.change(ev)
			rec := chainFrom(t, 0, dossier.GenesisHash(), &xasov1.OutboxRecord{CommuneCode: "00004", DossierCode: "00004-260302-0001", Event: ev})[0]
			r := k.a.apply(t, appendEvents("00004", rec))[0]
			if c.ok != (r.GetCode() == 0) {
				t.Fatalf("%v", r)
			}
			if !c.ok {
				if codes.Code(r.GetCode()) != codes.InvalidArgument {
					t.Fatalf("refused with %v", r)
				}
				if _, err := k.a.f.Dossier("00004-260302-0001"); err == nil {
					t.Fatal("the dossier was stored")
				}
			}
		})
	}
}
