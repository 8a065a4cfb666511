package central

import (
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// calendarJSON is the sample calendar with 2027 official: its computed
// holidays and (hypothetically) Monday 4 January 2027 off as well.
func calendar2027JSON(t *testing.T) (string, *dossier.Calendar) {
	t.Helper()
	spec := sample.Calendar().Spec()
	spec.OfficialYears = append(append([]int(nil), spec.OfficialYears...), 2027)
	for _, h := range dossier.ComputedHolidays(2027) {
		spec.Days = append(spec.Days, dossier.CalendarDay{Date: h.Date.String(), Kind: dossier.Holiday, Name: h.Name})
	}
	spec.Days = append(spec.Days, dossier.CalendarDay{Date: "2027-01-04", Kind: dossier.Holiday, Name: "Nghỉ hoán đổi (thử)"})
	js, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := dossier.ParseCalendar(js)
	if err != nil {
		t.Fatal(err)
	}
	return string(js), cal
}

// chain is a commune's outbox as a test writes it.
type chain struct {
	commune string
	seq     int64
	prev    []byte
}

func (c *chain) record(t *testing.T, code string, ev *xasov1.Event) *xasov1.OutboxRecord {
	t.Helper()
	if c.prev == nil {
		c.prev = dossier.GenesisHash()
	}
	rec := &xasov1.OutboxRecord{Sequence: c.seq + 1, CommuneCode: c.commune, DossierCode: code, Event: ev, PrevHash: c.prev}
	h, err := dossier.RecordHash(rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.Hash = h
	return rec
}

func (c *chain) took(rec *xasov1.OutboxRecord) { c.seq, c.prev = rec.GetSequence(), rec.GetHash() }

// A node moves a provisional due time when central publishes the year: the
// RESCHEDULE is taken only with the due time the published calendar makes.
func TestCentralTakesARescheduleOnlyOnItsCalendar(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004")
	old := sample.Calendar()
	if r := a.apply(t, putCalendar(string(sample.CalendarJSON())))[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	oldIndex := a.index
	c := &chain{commune: "00004"}
	const code = "00004-261228-0001"
	var proc *xasov1.Procedure
	for _, p := range sample.Procedures() {
		if p.GetProcessingDays() == 5 && len(p.GetComponents()) > 0 {
			proc = p
			break
		}
	}
	var comps []*xasov1.SubmittedComponent
	for _, cp := range proc.GetComponents() {
		comps = append(comps, &xasov1.SubmittedComponent{Code: cp.GetCode(), Paper: true})
	}
	received := time.Date(2026, 12, 28, 9, 0, 0, 0, dossier.Zone)
	rec, err := dossier.ReceiveEvent(dossier.ReceiveInput{
		Code: code, CommuneCode: "00004", Procedure: proc, Components: comps,
		Applicant: &xasov1.Applicant{FullName: "Nguyễn Văn An"}, Channel: xasov1.Channel_CHANNEL_IN_PERSON,
		Actor: "clerk", Role: dossier.Clerk, Time: received,
	}, old)
	if err != nil {
		t.Fatal(err)
	}
	r0 := c.record(t, code, rec)
	if r := a.apply(t, appendEvents("00004", r0))[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	c.took(r0)
	d := dossier.Fold([]*xasov1.Event{rec})

	js, cal := calendar2027JSON(t)
	if r := a.apply(t, putCalendar(js))[0]; r.GetCode() != 0 {
		t.Fatal(r.GetMessage())
	}
	newIndex := a.index
	now := received.Add(time.Hour)
	ev, err := dossier.RescheduleEvent(d, []*xasov1.Event{rec}, cal, newIndex, now)
	if err != nil || ev == nil {
		t.Fatalf("RescheduleEvent = %v, %v", ev, err)
	}

	refused := func(name string, bad *xasov1.Event) {
		t.Helper()
		r := a.apply(t, appendEvents("00004", c.record(t, code, bad)))[0]
		if codes.Code(r.GetCode()) != codes.InvalidArgument || r.GetBlocked() == nil {
			t.Errorf("%s: %v", name, r)
		}
		if hw, _ := a.f.NodeStream("00004"); hw.GetLastSequence() != c.seq {
			t.Fatalf("%s: the stream moved to %d", name, hw.GetLastSequence())
		}
		if r := a.apply(t, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{CommuneCode: "00004", Sequence: c.seq + 1}}})[0]; r.GetCode() != 0 {
			t.Fatal(r.GetMessage())
		}
	}
	// A due time a week later than the calendar makes.
	late := cloneEvent(ev)
	late.DueTime = timestamppb.New(ev.GetDueTime().AsTime().AddDate(0, 0, 7))
	refused("a week later", late)
	// The right due time on a calendar that does not make it (the old one).
	stale := cloneEvent(ev)
	stale.CalendarIndex = oldIndex
	refused("on the old calendar", stale)
	// An index where central put no calendar.
	none := cloneEvent(ev)
	none.CalendarIndex = newIndex + 1000
	refused("no such calendar", none)

	r1 := c.record(t, code, ev)
	if r := a.apply(t, appendEvents("00004", r1))[0]; r.GetCode() != 0 {
		t.Fatalf("the honest RESCHEDULE: %s", r.GetMessage())
	}
	got, err := a.f.Dossier(code)
	if err != nil {
		t.Fatal(err)
	}
	if !got.GetDueTime().AsTime().Equal(ev.GetDueTime().AsTime()) || got.GetCalendarIndex() != newIndex || got.GetEventCount() != 2 {
		t.Errorf("central holds due %v, calendar %d, %d events", got.GetDueTime().AsTime(), got.GetCalendarIndex(), got.GetEventCount())
	}
	if !got.GetDueTime().AsTime().Equal(time.Date(2027, 1, 6, 17, 0, 0, 0, dossier.Zone)) {
		t.Errorf("due %v, want 6 Jan 2027 17:00", got.GetDueTime().AsTime())
	}
}

func cloneEvent(ev *xasov1.Event) *xasov1.Event { return proto.Clone(ev).(*xasov1.Event) }
