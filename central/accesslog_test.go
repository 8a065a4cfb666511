package central

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// chainFrom numbers recs after sequence last of hash prev and chains them
// as a node does.
func chainFrom(t testing.TB, last int64, prev []byte, recs ...*xasov1.OutboxRecord) []*xasov1.OutboxRecord {
	t.Helper()
	for _, r := range recs {
		last++
		r.Sequence, r.PrevHash = last, prev
		h, err := dossier.RecordHash(r)
		if err != nil {
			t.Fatal(err)
		}
		r.Hash, prev = h, h
	}
	return recs
}

func accessRec(commune string, a *xasov1.AccessEntry) *xasov1.OutboxRecord {
	return &xasov1.OutboxRecord{CommuneCode: commune, Access: a}
}

func entrySeqs(es []*xasov1.AccessEntry) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.GetSequence())
	}
	return out
}

// A commune's access entries come in its chain between its events: central
// takes each once, in the log's order, indexes it by dossier, reads it
// back newest first a page at a time, and a snapshot carries it. Another
// commune, whose node sends no access entries (an older version), goes on
// as before.
func TestAccessEntriesAreTakenIndexedAndSnapshotted(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004", "00008")
	evs := records(t, "00004", 1, 10)
	var received []string // the dossiers of the history, as it received them
	for _, r := range evs {
		if r.GetEvent().GetAction() == dossier.Receive {
			received = append(received, r.GetDossierCode())
		}
	}
	if len(received) < 3 {
		t.Fatalf("the history receives %d dossiers", len(received))
	}
	c0, c1 := received[0], received[1]
	mixed := slices.Concat(evs[:5], []*xasov1.OutboxRecord{accessRec("00004", honestAccess(1, c0))}, evs[5:],
		[]*xasov1.OutboxRecord{accessRec("00004", honestAccess(2, c0, c1)), accessRec("00004", honestAccess(3, c1))})
	mixed = chainFrom(t, 0, dossier.GenesisHash(), mixed...)
	if r := a.apply(t, appendEvents("00004", mixed...))[0]; r.GetCode() != 0 || r.GetAccepted() != 13 {
		t.Fatalf("events and access entries: %v", r)
	}
	other := records(t, "00008", 2, 5)
	if r := a.apply(t, appendEvents("00008", other...))[0]; r.GetCode() != 0 || r.GetAccepted() != 5 {
		t.Fatalf("a commune that sends no access entries: %v", r)
	}
	// Sent again (a node that did not hear the answer): duplicates, dropped.
	if r := a.apply(t, appendEvents("00004", mixed[9:]...))[0]; r.GetCode() != 0 || r.GetDuplicates() != 4 || r.GetAccepted() != 0 {
		t.Fatalf("the same records again: %v", r)
	}
	hw, err := a.f.NodeStream("00004")
	if err != nil || hw.GetLastAccessSequence() != 3 || hw.GetLastSequence() != 13 {
		t.Fatalf("high-water mark %v, %v", hw, err)
	}
	check := func(f *FSM) {
		t.Helper()
		for _, c := range []struct {
			code string
			want []int64
		}{{"", []int64{3, 2, 1}}, {c0, []int64{2, 1}}, {c1, []int64{3, 2}}, {received[2], nil}} {
			got, next, err := f.AccessRecords("00004", c.code, 0, 10)
			if err != nil || !slices.Equal(entrySeqs(got), c.want) || next != 0 {
				t.Errorf("entries naming %q: %v, next %d, %v; want %v", c.code, entrySeqs(got), next, err, c.want)
			}
		}
		var pages []int64
		before := int64(0)
		for range 5 {
			got, next, err := f.AccessRecords("00004", "", before, 1)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, entrySeqs(got)...)
			if before = next; next == 0 {
				break
			}
		}
		if !slices.Equal(pages, []int64{3, 2, 1}) {
			t.Errorf("a page at a time: %v", pages)
		}
		if got, _, err := f.AccessRecords("00008", "", 0, 10); err != nil || len(got) != 0 {
			t.Errorf("the other commune's log: %v, %v", entrySeqs(got), err)
		}
		got, _, _ := f.AccessRecords("00004", "", 0, 1)
		if len(got) != 1 || !proto.Equal(got[0], mixed[12].GetAccess()) {
			t.Errorf("the newest entry as read: %v, as sent: %v", got, mixed[12].GetAccess())
		}
	}
	check(a.f)
	// The node's Restore gets them back in its chain.
	recs, err := a.f.Records("00004", 1, 100)
	if err != nil || len(recs) != 13 || !bytes.Equal(recs[5].GetHash(), mixed[5].GetHash()) || recs[5].GetAccess() == nil {
		t.Fatalf("the commune's records: %d, %v", len(recs), err)
	}
	// A snapshot carries the log and its indexes.
	snap := snapshotOf(t, a.f)
	dst := openTestFSM(t)
	if err := dst.Restore(io.NopCloser(snap)); err != nil {
		t.Fatal(err)
	}
	if err := sameState(dump(t, a.f), dump(t, dst)); err != nil {
		t.Fatal(err)
	}
	check(dst)
}
