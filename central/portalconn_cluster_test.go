package central

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central/portalconn"
	"github.com/xaso/xaso/portal/standin"
	"github.com/xaso/xaso/sample"
)

// TestPortalConnectorOnTheLeaderRoutesEachFilingOnce: a connector runs on
// every member and pulls only on the leader; filings made at the portal
// stand-in reach their commune's feed on every member once (Decree
// 118/2025 art. 17(2)); when the leader is killed the new one pulls what
// was not acknowledged, and nothing is lost or doubled.
func TestPortalConnectorOnTheLeaderRoutesEachFilingOnce(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	prov := sample.SampleProvince()
	commune := prov.Communes[0].Code
	cmds := []*xasov1.CentralCommand{putCommune(commune, prov.Communes[0].Name)}
	for _, p := range sample.Procedures() {
		cmds = append(cmds, putProcedure(p, -1))
	}
	for _, cmd := range cmds {
		if r, err := c.write(ctx, cmd); err != nil || r.GetCode() != 0 {
			t.Fatalf("setup: %v, %v", r, err)
		}
	}
	const token = "connector-token-0123456789"
	si, err := standin.New(standin.Config{Dir: t.TempDir(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer si.Close()
	srv := httptest.NewServer(si)
	defer srv.Close()

	stops := map[string]context.CancelFunc{}
	done := make(chan struct{}, 3)
	for _, m := range c.running() {
		pc, err := portalconn.New(portalconn.Config{URL: srv.URL, Token: token, Province: prov.Code, Wait: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler)}, m)
		if err != nil {
			t.Fatal(err)
		}
		mctx, stop := context.WithCancel(ctx)
		stops[m.ID()] = stop
		go func() { pc.Run(mctx); done <- struct{}{} }()
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		for range stops {
			<-done
		}
	}()

	citizens := &standin.Citizens{URL: srv.URL, Communes: []string{commune}}
	var filed []string
	file := func(n int) {
		for range n {
			code, err := citizens.FileOne(ctx)
			if err != nil {
				t.Fatal(err)
			}
			filed = append(filed, code)
		}
	}
	routed := func(m *Member) map[string]int {
		items, _, err := m.FSM().FeedAfter(commune, 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, it := range items {
			if o := it.GetOnlineFiling(); o != nil {
				out[o.GetPortalCode()]++
			}
		}
		return out
	}
	file(3)
	first := c.leader()
	eventually(t, 30*time.Second, "the first filings routed", func() bool { return len(routed(first)) == 3 })
	stops[first.ID()]()
	c.stop(first.ID())
	file(3)
	eventually(t, 30*time.Second, "the filings after the leader died routed", func() bool { return len(routed(c.leader())) == 6 })
	for _, m := range c.running() {
		eventually(t, 10*time.Second, "member "+m.ID()+" caught up", func() bool { return len(routed(m)) == 6 })
		got := routed(m)
		for _, code := range filed {
			if got[code] != 1 {
				t.Errorf("member %s: %s routed %d times; want once", m.ID(), code, got[code])
			}
		}
	}
}
