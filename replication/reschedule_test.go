package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/sample"
)

// TestPublishedCalendarReschedulesEndToEnd: central publishes a calendar
// without this year's official days (they are computed), a dossier is
// received on it, provisional; central then publishes the year with one
// more day off inside the dossier's period. The node moves the due time
// with a RESCHEDULE, which central takes: it holds the same due time,
// the one its calendar computes.
func TestPublishedCalendarReschedulesEndToEnd(t *testing.T) {
	p := startProvince(t, 1, nil)
	n := p.Nodes()[0]
	ctx := context.Background()
	now := time.Now()
	year := now.In(dossier.Zone).Year()
	publish := func(spec dossier.CalendarSpec) (*dossier.Calendar, uint64) {
		t.Helper()
		js, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		cal, err := dossier.ParseCalendar(js)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Central().UpdateCalendar(p.Operator(ctx), &xasov1.UpdateCalendarRequest{CalendarJson: string(js)})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the calendar at the node", func() (bool, string) {
			got, _ := json.Marshal(n.Node().Calendar().Spec())
			want, _ := json.Marshal(cal.Spec())
			return string(got) == string(want), "an older calendar"
		})
		return cal, res.GetIndex()
	}

	// This year computed: the sample's days of other years only.
	computed := sample.Calendar().Spec()
	computed.OfficialYears = nil
	days := computed.Days
	computed.Days = nil
	for _, d := range days {
		if dd, _ := dossier.ParseDate(d.Date); dd.Year < year {
			computed.Days = append(computed.Days, d)
			computed.OfficialYears = append(computed.OfficialYears, dd.Year)
		}
	}
	computed.OfficialYears = uniq(computed.OfficialYears)
	cal, _ := publish(computed)

	var proc *xasov1.Procedure
	for _, pr := range sample.Procedures() {
		if pr.GetProcessingDays() >= 3 {
			proc = pr
			break
		}
	}
	created, err := n.Node().Server().CreateDossier(node.ActAs(ctx, "motcua.1", xasov1.Role_ROLE_CLERK), &xasov1.CreateDossierRequest{
		ProcedureCode: proc.GetCode(), Channel: xasov1.Channel_CHANNEL_IN_PERSON,
		Applicant: &xasov1.Applicant{FullName: "Lò Văn Páo"}, Components: paperComponents(proc),
	})
	if err != nil {
		t.Fatal(err)
	}
	d := created.GetDossier()
	if !dossier.DueProvisional(d, cal) {
		t.Fatalf("due %v on a calendar without %d official is not provisional", d.GetDueTime().AsTime(), year)
	}

	// The year published, with a weekday inside the dossier's period off.
	official := cal.Spec()
	official.OfficialYears = append(official.OfficialYears, year)
	for _, h := range dossier.ComputedHolidays(year) {
		official.Days = append(official.Days, dossier.CalendarDay{Date: h.Date.String(), Kind: dossier.Holiday, Name: h.Name})
	}
	start := cal.StartDay(d.GetReceivedTime().AsTime())
	off := cal.NextWorkingDay(start)
	for off.Weekday() == time.Saturday || off.Weekday() == time.Sunday {
		off = cal.NextWorkingDay(off)
	}
	if off.Year != year {
		t.Skipf("the dossier's period leaves %d", year)
	}
	official.Days = append(official.Days, dossier.CalendarDay{Date: off.String(), Kind: dossier.Holiday, Name: "Nghỉ (thử)"})
	newCal, index := publish(official)
	want := newCal.DueFor(d.GetReceivedTime().AsTime(), dossier.ProcessingTimeOf(proc))
	if want.Equal(d.GetDueTime().AsTime()) {
		t.Fatalf("the published year does not move the due time %v", want)
	}

	eventually(t, 20*time.Second, "central holds the moved due time", func() (bool, string) {
		if ok, state := converged(t, p); !ok {
			return false, state
		}
		at, err := p.Central().GetProvinceDossier(p.Records(ctx), &xasov1.GetProvinceDossierRequest{Code: d.GetCode()})
		if err != nil {
			return false, err.Error()
		}
		got := at.GetDossier()
		return got.GetDueTime().AsTime().Equal(want) && got.GetCalendarIndex() == index, fmt.Sprintf("due %v, calendar %d", got.GetDueTime().AsTime(), got.GetCalendarIndex())
	})
	at := fullDossier(t, n.Node(), d.GetCode())
	last := at.GetEvents()[len(at.GetEvents())-1]
	if last.GetAction() != dossier.Reschedule || !last.GetDueTime().AsTime().Equal(want) || last.GetCalendarIndex() != index {
		t.Errorf("the node's last event %v", last)
	}
	checkProvince(t, p)
}

func uniq(xs []int) []int {
	var out []int
	seen := map[int]bool{}
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
