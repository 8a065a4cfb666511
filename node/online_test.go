package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

func onlineItem(seq uint64, commune, code string, filed time.Time) *xasov1.FeedItem {
	return &xasov1.FeedItem{Sequence: seq, CommuneCode: commune, Item: &xasov1.FeedItem_OnlineFiling{OnlineFiling: &xasov1.OnlineFiling{
		PortalCode: code, CommuneCode: commune, ProcedureCode: "1.001193", ApplicantName: "Lê Thị Mai", ApplicantIdNumber: "038190012345",
		FiledTime: timestamppb.New(filed)}}}
}

// TestOnlineFilingsQueueWithTheirLimits: an online filing from central's
// feed waits in the desk's queue once, with the 2-hour alert and the
// 8-working-hour limit of Decree 118/2025 art. 17(2), overdue once that
// limit has passed; a filing for another commune is not taken.
func TestOnlineFilingsQueueWithTheirLimits(t *testing.T) {
	ctx := context.Background()
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	cal := sample.Calendar()
	monday := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	friday := time.Date(2026, 11, 27, 16, 0, 0, 0, dossier.Zone)
	for _, it := range []*xasov1.FeedItem{
		onlineItem(1, testCommune, "DVC-A", friday),
		onlineItem(2, testCommune, "DVC-B", monday),
		onlineItem(3, testCommune, "DVC-A", monday), // the same portal code again: kept as it was
		onlineItem(4, "00004", "DVC-C", monday),     // another commune's
	} {
		if err := st.applyFeedItem(ctx, it, testCommune, monday); err != nil {
			t.Fatal(err)
		}
	}
	q, err := st.OnlineQueue(cal, monday.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 2 || q[0].Filing.GetPortalCode() != "DVC-B" || q[1].Filing.GetPortalCode() != "DVC-A" {
		t.Fatalf("queue = %v; want DVC-B then DVC-A", q)
	}
	b, a := q[0], q[1]
	if !b.AlertBy.Equal(monday.Add(2*time.Hour)) || !b.AcceptBy.Equal(cal.AddWorkingHours(monday, 8*time.Hour)) || b.Overdue {
		t.Errorf("art. 17(2): DVC-B limits = %+v", b)
	}
	if !a.Filed.Equal(friday) {
		t.Errorf("DVC-A was replaced by its copy: filed %v", a.Filed)
	}
	// art. 17(2)(c): 8 working hours from Friday afternoon end after the weekend.
	if wd := a.AcceptBy.In(dossier.Zone).Weekday(); wd == time.Saturday || wd == time.Sunday || a.AcceptBy.Sub(friday) < 48*time.Hour {
		t.Errorf("art. 17(2)(c): DVC-A filed Friday 16:00 due %v", a.AcceptBy)
	}
	later, err := st.OnlineQueue(cal, b.AcceptBy.Add(time.Minute))
	if err != nil || !later[0].Overdue || later[1].Overdue != later[1].AcceptBy.Before(b.AcceptBy.Add(time.Minute)) {
		t.Errorf("art. 17(2)(c): past DVC-B's limit: %+v, %v; want it overdue", later, err)
	}
}

// TestDeskQueueShowsOnlineFilings: the clerk's work queue lists the online
// filings waiting with the art. 17(2) limits, the one past its 8 working
// hours marked overdue.
func TestDeskQueueShowsOnlineFilings(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	now := n.clock.Now()
	for _, it := range []*xasov1.FeedItem{
		onlineItem(1, testCommune, "DVC-CU", now.AddDate(0, 0, -10)),
		onlineItem(2, testCommune, "DVC-MOI", now.Add(-time.Minute)),
	} {
		if err := n.Store().applyFeedItem(context.Background(), it, testCommune, now); err != nil {
			t.Fatal(err)
		}
	}
	d := newDesk(t, n)
	d.signIn("lan")
	st, _, body := d.get("/ban")
	if st != 200 || !strings.Contains(body, "Hồ sơ trực tuyến chờ tiếp nhận") || !strings.Contains(body, "DVC-CU") || !strings.Contains(body, "DVC-MOI") {
		t.Fatalf("queue: %d\n%s", st, body)
	}
	row := func(code string) string {
		i := strings.Index(body, "<td>"+code+"</td>")
		j := strings.LastIndex(body[:i], "<tr")
		return body[j : i+strings.Index(body[i:], "</tr>")]
	}
	if !strings.Contains(row("DVC-CU"), `class="overdue"`) || strings.Contains(row("DVC-MOI"), `class="overdue"`) {
		t.Errorf("art. 17(2)(c): overdue marks wrong:\n%s\n%s", row("DVC-CU"), row("DVC-MOI"))
	}
}
