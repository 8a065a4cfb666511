package portalconn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/central/portalconn"
	"github.com/xaso/xaso/portal/standin"
	"github.com/xaso/xaso/sample"
)

const testToken = "connector-token-0123456789"

// fsmProposer commits commands on a central state machine as a leader
// would, one log entry a call. loseAnswers makes that many calls apply
// their command and answer an error, as a proposal whose answer was lost.
type fsmProposer struct {
	mu          sync.Mutex
	f           *central.FSM
	index       uint64
	loseAnswers int
}

func (p *fsmProposer) IsLeader() bool { return true }

func (p *fsmProposer) Propose(_ context.Context, actor string, now time.Time, cmds ...*xasov1.CentralCommand) ([]*xasov1.CommandResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cmds {
		c.Actor = actor
		c.Time = timestamppb.New(now)
	}
	data, err := proto.Marshal(&xasov1.CentralCommandBatch{Format: 1, Commands: cmds})
	if err != nil {
		return nil, err
	}
	p.index++
	res, _ := p.f.Apply(&raft.Log{Index: p.index, Term: 1, Type: raft.LogCommand, Data: data}).([]*xasov1.CommandResult)
	if p.loseAnswers > 0 {
		p.loseAnswers--
		return nil, errors.New("outcome unknown (test)")
	}
	return res, nil
}

// syncBuffer is a log sink read while the connector writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// onlineFilings are the portal codes of the online filings in communes'
// feeds, in feed order.
func onlineFilings(t *testing.T, f *central.FSM, communes ...string) []string {
	t.Helper()
	var out []string
	for _, c := range communes {
		items, _, err := f.FeedAfter(c, 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if o := it.GetOnlineFiling(); o != nil {
				if o.GetCommuneCode() != c || it.GetCommuneCode() != c {
					t.Fatalf("filing %s for %s in the feed of %s", o.GetPortalCode(), o.GetCommuneCode(), c)
				}
				out = append(out, o.GetPortalCode())
			}
		}
	}
	return out
}

// exactlyOnce says how got differs from each of want exactly once.
func exactlyOnce(got, want []string) error {
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	var errs []error
	for _, w := range want {
		if seen[w] != 1 {
			errs = append(errs, fmt.Errorf("%s routed %d times", w, seen[w]))
		}
		delete(seen, w)
	}
	for g, n := range seen {
		errs = append(errs, fmt.Errorf("%s routed %d times, never filed", g, n))
	}
	return errors.Join(errs...)
}

func TestExactlyOnceCheckFires(t *testing.T) {
	if err := exactlyOnce([]string{"a", "b"}, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	for _, got := range [][]string{{"a", "b", "a"}, {"a"}, {"a", "b", "c"}} {
		if exactlyOnce(got, []string{"a", "b"}) == nil {
			t.Errorf("exactlyOnce(%v) found nothing wrong", got)
		}
	}
}

// TestFilingsReachTheirCommuneOnceThroughCutsAndLostAnswers: dossiers
// filed at the portal stand-in reach their commune's feed exactly once
// (Decree 118/2025 art. 17(2)) and are acknowledged, through a cut of the
// portal link and a proposal whose answer was lost; a filing for a
// commune central does not know is refused with a logged reason, left at
// the portal, and stops nothing.
func TestFilingsReachTheirCommuneOnceThroughCutsAndLostAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prov := sample.SampleProvince()
	known, unknown := prov.Communes[0].Code, prov.Communes[1].Code

	f, err := central.OpenFSM(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := &fsmProposer{f: f, loseAnswers: 1}
	setup := []*xasov1.CentralCommand{{Command: &xasov1.CentralCommand_PutCommune{PutCommune: &xasov1.PutCommuneCommand{Commune: &xasov1.Commune{Code: known, Name: prov.Communes[0].Name}}}}}
	for _, pr := range sample.Procedures() {
		setup = append(setup, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutProcedure{PutProcedure: &xasov1.PutProcedureCommand{Procedure: pr, ExpectedVersion: -1}}})
	}
	saved := p.loseAnswers
	p.loseAnswers = 0
	res, err := p.Propose(ctx, "operator.test", time.Now(), setup...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.GetCode() != 0 {
			t.Fatalf("setup %d: %s", i, r.GetMessage())
		}
	}
	p.loseAnswers = saved

	si, err := standin.New(standin.Config{Dir: t.TempDir(), Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer si.Close()
	var down, corrupt atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() && strings.HasPrefix(r.URL.Path, "/v1/") {
			http.Error(w, "portal unreachable (test)", http.StatusServiceUnavailable)
			return
		}
		if corrupt.Load() && strings.HasPrefix(r.URL.Path, "/v1/files/") {
			w.Write([]byte("%PDF-1.4 not the scan listed"))
			return
		}
		si.ServeHTTP(w, r)
	}))
	defer srv.Close()

	logs := &syncBuffer{}
	c, err := portalconn.New(portalconn.Config{URL: srv.URL, Token: testToken, Province: prov.Code, Wait: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, p)
	if err != nil {
		t.Fatal(err)
	}
	citizens := &standin.Citizens{URL: srv.URL, Communes: []string{known}}
	var want []string
	file := func(n int, cit *standin.Citizens) {
		for range n {
			code, err := cit.FileOne(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if cit == citizens {
				want = append(want, code)
			}
		}
	}
	file(3, citizens)
	bad, err := (&standin.Citizens{URL: srv.URL, Communes: []string{unknown}}).FileOne(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx) }()
	defer func() { stop(); <-done }()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stats %+v; log:\n%s", what, c.Stats(), logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the first filings", func() bool { return len(onlineFilings(t, f, known)) >= 3 })
	// The portal link is cut; citizens keep filing; the link comes back.
	down.Store(true)
	waitFor("a failed pull", func() bool { return c.Stats().Errors >= 2 })
	file(2, citizens)
	down.Store(false)
	waitFor("the filings after the cut", func() bool { return len(onlineFilings(t, f, known)) >= 5 && c.Stats().Routed >= 5 })

	if err := exactlyOnce(onlineFilings(t, f, known), want); err != nil {
		t.Fatalf("filings in the feed: %v", err)
	}
	// Every scan of every filing routed is held at central, checked.
	items, _, err := f.FeedAfter(known, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		for _, file := range it.GetOnlineFiling().GetFiles() {
			if ref, data, err := f.Attachment(file.GetSha256()); err != nil || int64(len(data)) != file.GetSize() || ref.GetComponentCode() != file.GetComponentCode() {
				t.Errorf("scan %s of %s at central: %v, %d bytes, %v", file.GetSha256(), it.GetOnlineFiling().GetPortalCode(), ref, len(data), err)
			}
		}
	}
	// A scan that is not what the listing says refuses its filing.
	corrupt.Store(true)
	refusedBefore := c.Stats().Refused
	badScan, err := citizens.FileOne(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor("the filing with a bad scan refused", func() bool { return c.Stats().Refused > refusedBefore })
	corrupt.Store(false)
	if !strings.Contains(logs.String(), badScan) || !strings.Contains(logs.String(), "not the") {
		t.Errorf("the refusal of %s's scan is not logged with its reason:\n%s", badScan, logs.String())
	}
	if err := exactlyOnce(onlineFilings(t, f, known), want); err != nil {
		t.Fatalf("filings in the feed after a bad scan: %v", err)
	}
	if !strings.Contains(logs.String(), "portal filing refused") || !strings.Contains(logs.String(), bad) || !strings.Contains(logs.String(), "is not registered") {
		t.Errorf("the refusal of %s is not logged with its reason:\n%s", bad, logs.String())
	}
	if st := c.Stats(); st.Refused < 1 || !st.OldestWaiting.IsZero() {
		t.Errorf("stats = %+v", st)
	}
	// The portal lists only the refused filing still: the others were
	// acknowledged once committed.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/province/"+prov.Code+"/dossiers", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l struct{ Dossiers []portalconn.Filing }
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	if len(l.Dossiers) != 2 || l.Dossiers[0].MaHoSo != bad || l.Dossiers[1].MaHoSo != badScan {
		t.Errorf("the portal still lists %d filings; want only %s and %s", len(l.Dossiers), bad, badScan)
	}
}
