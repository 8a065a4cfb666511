package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// readEntry is an access entry of a read of code by name at t.
func readEntry(name, code string, t time.Time) *xasov1.AccessEntry {
	return &xasov1.AccessEntry{Time: timestamppb.New(t), Name: name, Role: dossier.Clerk, Via: string(ViaSession),
		ClientAddress: "192.0.2.1", Kind: dossier.AccessRead, DossierCodes: []string{code}, Count: 1}
}

// sequences are the sequences of entries, in order.
func sequences(entries []*xasov1.AccessEntry) []int64 {
	var out []int64
	for _, e := range entries {
		out = append(out, e.GetSequence())
	}
	return out
}

// The access log numbers its entries 1, 2, 3 … as they are written, even
// when they are written together with dossier changes by many callers at
// once; each entry is an outbox record of its own; it is read newest first,
// a page at a time, all of it, by dossier or by reader; the store's check
// finds it whole.
func TestAccessLogIsDenseChainedAndReadNewestFirst(t *testing.T) {
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	d1, d2 := createOne(t, st, "Một", at), createOne(t, st, "Hai", at)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, name := d1.GetCode(), "lan"
			if i%2 == 1 {
				code, name = d2.GetCode(), "minh"
			}
			if err := st.RecordAccess(ctx, testCommune, readEntry(name, code, at), at); err != nil {
				t.Error(err)
			}
			if i%10 == 0 {
				createOne(t, st, fmt.Sprint("Thêm ", i), at)
			}
		}()
	}
	wg.Wait()
	if got := st.AccessHead(); got != 40 {
		t.Fatalf("access head %d, want 40", got)
	}
	last, _ := st.OutboxHead()
	recs, err := st.ReadOutbox(1, 1000, 1<<30)
	if err != nil || int64(len(recs)) != last {
		t.Fatalf("outbox: %d records of %d: %v", len(recs), last, err)
	}
	var inOutbox []int64
	for _, r := range recs {
		if r.GetAccess() != nil {
			if r.GetEvent() != nil || r.GetDossierCode() != "" {
				t.Fatalf("outbox %d carries an access entry and an event or a dossier code", r.GetSequence())
			}
			inOutbox = append(inOutbox, r.GetAccess().GetSequence())
		}
	}
	if len(inOutbox) != 40 || inOutbox[0] != 1 || inOutbox[39] != 40 {
		t.Fatalf("the outbox carries entries %v", inOutbox)
	}
	for i := range inOutbox {
		if inOutbox[i] != int64(i+1) {
			t.Fatalf("the outbox carries entries out of order: %v", inOutbox)
		}
	}

	// All of it, newest first, 7 at a time.
	var all []*xasov1.AccessEntry
	before := int64(0)
	for pages := 0; ; pages++ {
		page, next, err := st.AccessLog(AccessFilter{}, 7, before)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == 0 {
			break
		}
		if pages > 10 || next != page[len(page)-1].GetSequence() {
			t.Fatalf("page %d ends at %d, goes on before %d", pages, page[len(page)-1].GetSequence(), next)
		}
		before = next
	}
	if seqs := sequences(all); len(seqs) != 40 || seqs[0] != 40 || seqs[39] != 1 {
		t.Fatalf("the whole log read back: %v", seqs)
	}
	byCode, _, err := st.AccessLog(AccessFilter{DossierCode: d2.GetCode()}, 100, 0)
	if err != nil || len(byCode) != 20 {
		t.Fatalf("entries naming %s: %d, %v", d2.GetCode(), len(byCode), err)
	}
	for _, e := range byCode {
		if e.GetDossierCodes()[0] != d2.GetCode() || e.GetName() != "minh" {
			t.Fatalf("an entry of %v by %s among those of %s", e.GetDossierCodes(), e.GetName(), d2.GetCode())
		}
	}
	byName, next, err := st.AccessLog(AccessFilter{Name: "lan", ByName: true}, 5, 0)
	if err != nil || len(byName) != 5 || next == 0 || byName[0].GetName() != "lan" {
		t.Fatalf("entries of lan: %v, next %d, %v", sequences(byName), next, err)
	}
	if none, _, err := st.AccessLog(AccessFilter{DossierCode: d1.GetCode(), Name: "minh", ByName: true}, 10, 0); err != nil || len(none) != 0 {
		t.Fatalf("minh's reads of %s: %v, %v", d1.GetCode(), sequences(none), err)
	}
	if err := st.Verify(); err != nil {
		t.Fatal(err)
	}

	// A restart keeps the log's head: the next entry is 41.
	dir := st.db.Opts().Dir
	st.Close()
	st2, err := OpenStore(StoreOptions{Dir: dir, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if err := st2.RecordAccess(ctx, testCommune, readEntry("lan", d1.GetCode(), at), at); err != nil {
		t.Fatal(err)
	}
	if page, _, _ := st2.AccessLog(AccessFilter{}, 1, 0); len(page) != 1 || page[0].GetSequence() != 41 {
		t.Fatalf("after a restart the next entry is %v", sequences(page))
	}
	if err := st2.Verify(); err != nil {
		t.Fatal(err)
	}
}

// The store writes only entries central would take: one that is not is an
// error and writes nothing.
func TestAccessEntriesAreCheckedBeforeTheyAreWritten(t *testing.T) {
	st := openSeeded(t, t.TempDir(), nil)
	defer st.Close()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	bad := readEntry("lan", "not a code", at)
	if err := st.RecordAccess(context.Background(), testCommune, bad, at); err == nil {
		t.Fatal("an entry naming no dossier code was written")
	}
	if last, _ := st.OutboxHead(); last != 0 || st.AccessHead() != 0 {
		t.Fatalf("a refused entry wrote: outbox %d, access log %d", last, st.AccessHead())
	}
}

// The store's check notices a hole in the access log, a missing index key
// and a stray one: the log is append-only, and what is taken out of it
// shows.
func TestStoreCheckNoticesAccessLogTampering(t *testing.T) {
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	for _, c := range []struct {
		name, want string
		tamper     func(txn *badger.Txn, code string) error
	}{
		{"an entry's key deleted", "does not point at", func(txn *badger.Txn, _ string) error { return txn.Delete(accessKey(2)) }},
		{"a dossier's index key deleted", "does not point at", func(txn *badger.Txn, code string) error { return txn.Delete(accessCodeKey(code, 3)) }},
		{"an entry pointing elsewhere", "does not point at", func(txn *badger.Txn, _ string) error { return txn.Set(accessKey(2), be64(1)) }},
		{"a stray index key", "the outbox carries", func(txn *badger.Txn, _ string) error {
			return txn.Set(accessNameKey("ai đó", 9), be64(1))
		}},
		{"the head moved back", "head says", func(txn *badger.Txn, _ string) error { return txn.Set([]byte(keyAccessHead), be64(2)) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := openSeeded(t, t.TempDir(), nil)
			defer st.Close()
			d := createOne(t, st, "Một", at)
			for range 4 {
				if err := st.RecordAccess(context.Background(), testCommune, readEntry("lan", d.GetCode(), at), at); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Verify(); err != nil {
				t.Fatal(err)
			}
			if err := st.db.Update(func(txn *badger.Txn) error { return c.tamper(txn, d.GetCode()) }); err != nil {
				t.Fatal(err)
			}
			chk, err := st.Check()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(chk.Problems, "; "), c.want) {
				t.Fatalf("problems %q, want one saying %q", chk.Problems, c.want)
			}
		})
	}
}

// A machine restored from central gets its access log back, entry for
// entry, and goes on numbering after it.
func TestRestoreBringsTheAccessLogBack(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, dossier.Zone)
	old := openSeeded(t, t.TempDir(), nil)
	defer old.Close()
	d := createOne(t, old, "Một", at)
	for i := range 3 {
		if err := old.RecordAccess(ctx, testCommune, readEntry(fmt.Sprint("cb", i), d.GetCode(), at), at); err != nil {
			t.Fatal(err)
		}
	}
	createOne(t, old, "Hai", at)
	recs, err := old.ReadOutbox(1, 100, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	fresh := openSeeded(t, t.TempDir(), nil)
	defer fresh.Close()
	if err := fresh.Restore(ctx, recs, nil); err != nil {
		t.Fatal(err)
	}
	want, _, _ := old.AccessLog(AccessFilter{}, 10, 0)
	got, _, err := fresh.AccessLog(AccessFilter{}, 10, 0)
	if err != nil || len(got) != len(want) {
		t.Fatalf("restored log: %d entries of %d: %v", len(got), len(want), err)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("restored entry %d: %v, want %v", i, got[i], want[i])
		}
	}
	if err := fresh.Verify(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.RecordAccess(ctx, testCommune, readEntry("lan", d.GetCode(), at), at); err != nil || fresh.AccessHead() != 4 {
		t.Fatalf("the next entry after a restore: head %d, %v", fresh.AccessHead(), err)
	}
	// A restore that skips an entry of the log is refused whole.
	other := openSeeded(t, t.TempDir(), nil)
	defer other.Close()
	forged := proto.Clone(recs[2]).(*xasov1.OutboxRecord)
	forged.Access.Sequence = 5
	if forged.Hash, err = dossier.RecordHash(forged); err != nil {
		t.Fatal(err)
	}
	if err := other.Restore(ctx, append(recs[:2:2], forged), nil); err == nil || !strings.Contains(err.Error(), "access entry 5 where 2 is next") {
		t.Fatalf("a restore with an entry out of the log's order: %v", err)
	}
	if last, _ := other.OutboxHead(); last != 0 {
		t.Fatalf("a refused restore wrote %d records", last)
	}
}
