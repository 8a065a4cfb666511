package central

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// ReportQuery chooses the groups of a performance report.
type ReportQuery struct {
	// From and To are the first and last month of receipt, "200601".
	From, To string
	// Only these communes or procedures; all when empty.
	Communes, Procedures []string
	// The dimensions rows are grouped by; none gives one province row.
	ByMonth, ByCommune, ByProcedure bool
	// AsOf is when "overdue now" is counted.
	AsOf time.Time
	// Indicators adds each row's Decision 766 indicators and period view
	// (indicators.go); it reads the months before From too.
	Indicators bool
}

// maxReportMonths bounds a report's range.
const maxReportMonths = 120

// Months returns the months of the query's range, oldest first.
func (q ReportQuery) Months() ([]string, error) {
	from, err := time.Parse("200601", q.From)
	if err != nil {
		return nil, fmt.Errorf("from month %q: want YYYY-MM", q.From)
	}
	to, err := time.Parse("200601", q.To)
	if err != nil {
		return nil, fmt.Errorf("to month %q: want YYYY-MM", q.To)
	}
	var out []string
	for m := from; !m.After(to); m = m.AddDate(0, 1, 0) {
		if len(out) == maxReportMonths {
			return nil, fmt.Errorf("at most %d months in one report", maxReportMonths)
		}
		out = append(out, m.Format("200601"))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("from month %s is after to month %s", q.From, q.To)
	}
	return out, nil
}

// Report computes a performance report from the aggregates: it reads the
// rows of the level the grouping needs (commune × procedure, commune,
// procedure or province) for each month, so it costs the groups it
// returns, plus the dossiers overdue now.
func (f *FSM) Report(q ReportQuery) ([]*xasov1.PerformanceRow, error) {
	months, err := q.Months()
	if err != nil {
		return nil, err
	}
	// A code asked for twice is read once.
	q.Communes, q.Procedures = sortedSet(q.Communes), sortedSet(q.Procedures)
	byC := q.ByCommune || len(q.Communes) > 0
	byP := q.ByProcedure || len(q.Procedures) > 0
	wantC, wantP := set(q.Communes), set(q.Procedures)
	rs := newRowSet(q, months)
	// When every aggregate read is a row of its own (a report by month at
	// the level it reads, or filtered to one code), rows are made straight
	// from the rows read, with no look-up by group.
	rs.distinct = q.ByMonth && (byC == q.ByCommune || len(q.Communes) == 1) && (byP == q.ByProcedure || len(q.Procedures) == 1)
	row := rs.row
	err = f.db.View(func(txn *badger.Txn) error {
		// One iterator per aggregate level, sought to each month: opening an
		// iterator costs far more than reading a row.
		its := map[string]*badger.Iterator{}
		defer func() {
			for _, it := range its {
				it.Close()
			}
		}()
		scanAggregates := func(prefix string, parse func(rest string) group, wantP map[string]bool, row func(group) *xasov1.PerformanceRow) error {
			level := prefix[:strings.Index(prefix[len(prefixAggregate):], "/")+len(prefixAggregate)+1]
			it, ok := its[level]
			if !ok {
				it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte(level)}) // values are small and inline: prefetching them costs more than it saves
				its[level] = it
			}
			return scanLevel(it, prefix, parse, wantP, row)
		}
		communes := q.Communes
		if byP && byC && len(communes) == 0 && len(q.Procedures) > 0 {
			// Every commune for a few procedures: point reads per registered commune.
			all, err := listTxn(txn, prefixCommune, func() *xasov1.Commune { return &xasov1.Commune{} })
			if err != nil {
				return err
			}
			for _, c := range all {
				communes = append(communes, c.GetCode())
			}
		}
		// By procedure over whole years (no month, no commune): one row per
		// procedure and year instead of twelve.
		monthly := months
		if byP && !byC && !q.ByMonth {
			var years []string
			years, monthly = wholeYears(months)
			for _, y := range years {
				var err error
				if len(q.Procedures) > 0 {
					for _, p := range q.Procedures {
						if err = pointAggregate(txn, levelProcedureYear+y+"/"+p, group{y + "01", "", p}, row); err != nil {
							return err
						}
					}
				} else {
					err = scanAggregates(levelProcedureYear+y+"/", func(rest string) group { return group{y + "01", "", rest} }, nil, row)
				}
				if err != nil {
					return err
				}
			}
		}
		for _, m := range monthly {
			var err error
			switch {
			case byC && byP && len(communes) > 0 && len(q.Procedures) > 0:
				for _, c := range communes {
					for _, p := range q.Procedures {
						err = pointAggregate(txn, levelPair+m+"/"+c+"/"+p, group{m, c, p}, row)
						if err != nil {
							return err
						}
					}
				}
			case byC && byP && len(communes) > 0:
				for _, c := range communes {
					if err = scanAggregates(levelPair+m+"/"+c+"/", func(rest string) group { return group{m, c, rest} }, wantP, row); err != nil {
						return err
					}
				}
			case byC && byP:
				err = scanAggregates(levelPair+m+"/", func(rest string) group {
					c, p, _ := strings.Cut(rest, "/")
					return group{m, c, p}
				}, wantP, row)
			case byC && len(communes) > 0:
				for _, c := range communes {
					if err = pointAggregate(txn, levelCommune+m+"/"+c, group{m, c, ""}, row); err != nil {
						return err
					}
				}
			case byC:
				err = scanAggregates(levelCommune+m+"/", func(rest string) group { return group{m, rest, ""} }, nil, row)
			case byP && len(q.Procedures) > 0:
				for _, p := range q.Procedures {
					if err = pointAggregate(txn, levelProcedure+m+"/"+p, group{m, "", p}, row); err != nil {
						return err
					}
				}
			case byP:
				err = scanAggregates(levelProcedure+m+"/", func(rest string) group { return group{m, "", rest} }, nil, row)
			default:
				err = pointAggregate(txn, levelProvince+m, group{m, "", ""}, row)
			}
			if err != nil {
				return err
			}
		}
		if err := countOverdue(txn, q, months, wantC, wantP, rs.find); err != nil {
			return err
		}
		return nameRows(txn, rs.order)
	})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	order := rs.order
	for _, r := range order {
		finishRow(r)
	}
	// Levels are read in key order, so the rows mostly come sorted.
	if !slices.IsSortedFunc(order, compareRows) {
		slices.SortFunc(order, compareRows)
	}
	if q.Indicators {
		if err := f.addIndicators(q, order); err != nil {
			return nil, fmt.Errorf("report indicators: %w", err)
		}
	}
	return order, nil
}

// compareRows orders rows by month, commune and procedure.
func compareRows(a, b *xasov1.PerformanceRow) int {
	if a.Month != b.Month {
		return strings.Compare(a.Month, b.Month)
	}
	if a.CommuneCode != b.CommuneCode {
		return strings.Compare(a.CommuneCode, b.CommuneCode)
	}
	return strings.Compare(a.ProcedureCode, b.ProcedureCode)
}

// wholeYears splits a run of months ("200601", oldest first) into the
// years it covers whole and the months left over.
func wholeYears(months []string) (years, rest []string) {
	for i := 0; i < len(months); {
		if strings.HasSuffix(months[i], "01") && i+11 < len(months) && months[i+11] == months[i][:4]+"12" {
			years = append(years, months[i][:4])
			i += 12
			continue
		}
		rest = append(rest, months[i])
		i++
	}
	return years, rest
}

// rowSet collects a report's rows in the order they are made.
type rowSet struct {
	q      ReportQuery
	labels map[string]string // "202607" → "2026-07"
	// distinct: every group given to row is new (see Report); byGroup is
	// then built only if find needs it.
	distinct bool
	byGroup  map[group]*xasov1.PerformanceRow
	order    []*xasov1.PerformanceRow
	// Rows and their counts are allocated a block at a time: a report can
	// make tens of thousands.
	freeRows []xasov1.PerformanceRow
	freeAggs []xasov1.Aggregate
}

func newRowSet(q ReportQuery, months []string) *rowSet {
	rs := &rowSet{q: q, labels: make(map[string]string, len(months))}
	for _, m := range months {
		rs.labels[m] = monthLabel(m)
	}
	return rs
}

// out is the row a group of the level read counts in.
func (rs *rowSet) out(g group) group {
	var o group
	if rs.q.ByMonth {
		o.month = g.month
	}
	if rs.q.ByCommune {
		o.commune = g.commune
	}
	if rs.q.ByProcedure {
		o.procedure = g.procedure
	}
	return o
}

func (rs *rowSet) make(o group) *xasov1.PerformanceRow {
	label, ok := rs.labels[o.month]
	if !ok {
		label = monthLabel(o.month)
	}
	if len(rs.freeRows) == 0 {
		n := min(max(len(rs.order), 16), 1024)
		rs.freeRows, rs.freeAggs = make([]xasov1.PerformanceRow, n), make([]xasov1.Aggregate, n)
	}
	r := &rs.freeRows[0]
	r.Month, r.CommuneCode, r.ProcedureCode, r.Counts = label, o.commune, o.procedure, &rs.freeAggs[0]
	rs.freeRows, rs.freeAggs = rs.freeRows[1:], rs.freeAggs[1:]
	rs.order = append(rs.order, r)
	if rs.byGroup != nil {
		rs.byGroup[o] = r
	}
	return r
}

// row is the row group g counts in, made when it is not there yet.
func (rs *rowSet) row(g group) *xasov1.PerformanceRow {
	if rs.distinct && rs.byGroup == nil {
		return rs.make(rs.out(g))
	}
	return rs.find(g)
}

// find is like row, through a look-up by group.
func (rs *rowSet) find(g group) *xasov1.PerformanceRow {
	if rs.byGroup == nil {
		rs.byGroup = make(map[group]*xasov1.PerformanceRow, len(rs.order))
		for _, r := range rs.order {
			rs.byGroup[group{strings.ReplaceAll(r.Month, "-", ""), r.CommuneCode, r.ProcedureCode}] = r
		}
	}
	o := rs.out(g)
	if r, ok := rs.byGroup[o]; ok {
		return r
	}
	return rs.make(o)
}

// sortedSet returns xs sorted, each once.
func sortedSet(xs []string) []string {
	if len(xs) == 0 {
		return nil
	}
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

func set(xs []string) map[string]bool {
	if len(xs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// monthLabel turns "202607" into "2026-07".
func monthLabel(m string) string {
	if len(m) != 6 {
		return m
	}
	return m[:4] + "-" + m[4:]
}

func pointAggregate(txn *badger.Txn, key string, g group, row func(group) *xasov1.PerformanceRow) error {
	a := &xasov1.Aggregate{}
	err := getProto(txn, []byte(key), a)
	if err == errNotFound {
		return nil
	}
	if err != nil {
		return err
	}
	addAggregate(row(g).Counts, a, 1)
	return nil
}

// scanLevel reads the aggregates under prefix with it, an iterator over their level.
func scanLevel(it *badger.Iterator, prefix string, parse func(rest string) group, wantP map[string]bool, row func(group) *xasov1.PerformanceRow) error {
	a := &xasov1.Aggregate{}
	for it.Seek([]byte(prefix)); it.ValidForPrefix([]byte(prefix)); it.Next() {
		g := parse(string(it.Item().Key()[len(prefix):]))
		if wantP != nil && !wantP[g.procedure] {
			continue
		}
		if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, a) }); err != nil {
			return err
		}
		addAggregate(row(g).Counts, a, 1)
	}
	return nil
}

// countOverdue counts the open dossiers due before q.AsOf into their rows.
func countOverdue(txn *badger.Txn, q ReportQuery, months []string, wantC, wantP map[string]bool, row func(group) *xasov1.PerformanceRow) error {
	first, last := months[0], months[len(months)-1]
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixDue), PrefetchValues: true, PrefetchSize: 512})
	defer it.Close()
	end := binary.BigEndian.AppendUint64([]byte(prefixDue), uint64(q.AsOf.Unix()))
	for it.Rewind(); it.Valid() && string(it.Item().Key()) < string(end); it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			return err
		}
		parts := strings.SplitN(string(v), "/", 3)
		if len(parts) != 3 {
			continue
		}
		g := group{parts[0], parts[1], parts[2]}
		if g.month < first || g.month > last || wantC != nil && !wantC[g.commune] || wantP != nil && !wantP[g.procedure] {
			continue
		}
		row(g).OverdueNow++
	}
	return nil
}

// nameRows fills in commune and procedure names.
func nameRows(txn *badger.Txn, rows []*xasov1.PerformanceRow) error {
	communes, procs := map[string]string{}, map[string]string{}
	for _, r := range rows {
		if c := r.CommuneCode; c != "" {
			name, ok := communes[c]
			if !ok {
				m := &xasov1.Commune{}
				if err := getProto(txn, []byte(prefixCommune+c), m); err != nil && err != errNotFound {
					return err
				}
				name = m.GetName()
				communes[c] = name
			}
			r.CommuneName = name
		}
		if p := r.ProcedureCode; p != "" {
			name, ok := procs[p]
			if !ok {
				m := &xasov1.Procedure{}
				if err := getProto(txn, []byte(prefixProcedure+p), m); err != nil && err != errNotFound {
					return err
				}
				name = m.GetName()
				procs[p] = name
			}
			r.ProcedureName = name
		}
	}
	return nil
}

// finishRow computes a row's rates from its counts, with the functions of
// the Decision 766 indicators (indicators.go), which the dashboard shows.
func finishRow(r *xasov1.PerformanceRow) {
	a := r.GetCounts()
	r.OnTimeRate = OnTimeRate(a).Value()
	r.OnlineRate = OnlineRate(a).Value()
	r.SatisfactionRate = SatisfactionRate(a).Value()
	r.SatisfactionAverage = SatisfactionAverage(a).Value()
	r.DigitisedComponentsRate = ComponentsDigitisedRate(a).Value()
	r.DigitisedResultsRate = ResultsDigitisedRate(a).Value()
}

func listTxn[M proto.Message](txn *badger.Txn, prefix string, mk func() M) ([]M, error) {
	var out []M
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix), PrefetchValues: true})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		m := mk()
		if err := it.Item().Value(func(v []byte) error { return proto.Unmarshal(v, m) }); err != nil {
			return nil, fmt.Errorf("decode %q: %w", it.Item().Key(), err)
		}
		out = append(out, m)
	}
	return out, nil
}

// ReportFromDossiers counts dossiers the way the report's aggregates do,
// one row per month × commune × procedure (sorted as Report sorts them),
// with no names. It is the reference a replicated report is checked
// against: the same dossiers, counted from their final state at once
// rather than event by event as central applies them.
func ReportFromDossiers(ds []*xasov1.Dossier, asOf time.Time) []*xasov1.PerformanceRow {
	rows := map[group]*xasov1.PerformanceRow{}
	row := func(g group) *xasov1.PerformanceRow {
		r, ok := rows[g]
		if !ok {
			r = &xasov1.PerformanceRow{Month: monthLabel(g.month), CommuneCode: g.commune, ProcedureCode: g.procedure, Counts: &xasov1.Aggregate{}}
			rows[g] = r
		}
		return r
	}
	for _, d := range ds {
		c := contributionOf(d)
		r := row(c.group)
		addAggregate(r.Counts, c.agg, 1)
		if c.due != 0 && c.due < asOf.Unix() {
			r.OverdueNow++
		}
		if c.closed != nil {
			addAggregate(row(c.closed.group).Counts, c.closed.agg, 1)
		}
	}
	out := make([]*xasov1.PerformanceRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, r)
	}
	slices.SortFunc(out, compareRows)
	return out
}
