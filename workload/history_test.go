package workload

import (
	"testing"
	"time"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// A desk's history runs for long: its open dossiers stay within the
// backlog, and it goes on receiving new ones and finishing old ones.
func TestHistoryKeepsItsBacklog(t *testing.T) {
	h := NewHistory("00004", sample.Procedures(), sample.Calendar(), 3, time.Date(2026, 3, 2, 8, 0, 0, 0, dossier.Zone))
	const n = 20000
	receipts, reached := 0, false
	for i := range n {
		rec, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		if len(h.open) > backlog {
			t.Fatalf("record %d: %d dossiers open, more than the backlog of %d", i+1, len(h.open), backlog)
		}
		reached = reached || len(h.open) == backlog
		if i >= n-2000 && rec.GetEvent().GetReceipt() != nil {
			receipts++
		}
	}
	if !reached {
		t.Fatalf("the history never reached its backlog of %d in %d records: the bound went untested", backlog, n)
	}
	if receipts < 200 {
		t.Fatalf("%d receipts in the last 2,000 records: the desk stopped receiving", receipts)
	}
}
