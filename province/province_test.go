package province

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("XASO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func start(t *testing.T, opts Options) *Province {
	t.Helper()
	opts.Dir, opts.Fast, opts.Logger = t.TempDir(), true, testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, within, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// converged says whether central acknowledged every node's whole outbox.
func converged(t *testing.T, p *Province) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := p.Central().ListNodes(p.Operator(ctx), &xasov1.ListNodesRequest{})
	if err != nil {
		return false, err.Error()
	}
	acked := map[string]int64{}
	for _, n := range resp.GetNodes() {
		acked[n.GetNode().GetCommuneCode()] = n.GetAckedSequence()
	}
	for _, n := range p.Nodes() {
		nd := n.Node()
		if nd == nil {
			return false, n.Commune.Code + " is stopped"
		}
		last, nodeAcked := nd.Store().OutboxHead()
		if acked[n.Commune.Code] != last || nodeAcked != last {
			return false, n.Commune.Code + ": central " + itoa(acked[n.Commune.Code]) + ", node " + itoa(last) + " acked " + itoa(nodeAcked)
		}
	}
	return true, ""
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestNodesEnrollReplicateAndReceiveCatalogueChanges(t *testing.T) {
	p := start(t, Options{Communes: sample.SampleProvince().Communes[:3]})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var codes []string
	for i, n := range p.Nodes() {
		clerks := workload.New(n.Node().Server(), uint64(i+1), testLogger(t))
		for range 40 {
			if err := clerks.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := n.Node().Server().ListDossiers(ctx, &xasov1.ListDossiersRequest{PageSize: 1})
		if err != nil || len(resp.GetDossiers()) == 0 {
			t.Fatalf("dossiers of %s: %v", n.Commune.Code, err)
		}
		codes = append(codes, resp.GetDossiers()[0].GetCode())
	}
	eventually(t, 20*time.Second, "central holds every outbox", func() (bool, string) { return converged(t, p) })

	// Central has the dossiers as the nodes have them.
	for i, code := range codes {
		got, err := p.Central().GetProvinceDossier(p.Operator(ctx), &xasov1.GetProvinceDossierRequest{Code: code})
		if err != nil {
			t.Fatalf("look up %s at central: %v", code, err)
		}
		want, err := p.Nodes()[i].Node().Server().GetDossier(ctx, &xasov1.GetDossierRequest{Code: code})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetDossier().GetState() != want.GetDossier().GetState() || len(got.GetDossier().GetEvents()) != len(want.GetDossier().GetEvents()) {
			t.Errorf("%s: central %v with %d events, node %v with %d", code, got.GetDossier().GetState(), len(got.GetDossier().GetEvents()), want.GetDossier().GetState(), len(want.GetDossier().GetEvents()))
		}
	}

	// Each node's status says it is enrolled, connected and caught up.
	for _, n := range p.Nodes() {
		st, err := n.Node().Server().GetSyncStatus(ctx, &xasov1.GetSyncStatusRequest{})
		if err != nil || !st.GetEnrolled() || st.GetPendingEvents() != 0 || st.GetLastContactTime() == nil || st.GetBytesSent() == 0 {
			t.Errorf("sync status of %s: %v, %v", n.Commune.Code, st, err)
		}
	}

	// Both sides export the link's figures.
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for url, want := range map[string]string{
		p.Members()[0].URL + "/metrics": `xaso_central_node_acked_sequence{commune="` + p.Nodes()[0].Commune.Code,
		p.Nodes()[0].URL + "/metrics":   "xaso_node_sync_connected 1",
	} {
		resp, err := https.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), want) {
			t.Errorf("%s has no %s", url, want)
		}
	}

	// A catalogue change reaches every node within 5 s.
	proc := proto.Clone(sample.Procedures()[0]).(*xasov1.Procedure)
	proc.Name += " (sửa đổi 2026)"
	changed := time.Now()
	up, err := p.Central().UpdateCatalogProcedure(p.Operator(ctx), &xasov1.UpdateCatalogProcedureRequest{Procedure: proc})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range p.Nodes() {
		eventually(t, 5*time.Second-time.Since(changed), "the change at "+n.Commune.Code, func() (bool, string) {
			got, err := n.Node().Server().GetProcedure(ctx, &xasov1.GetProcedureRequest{Code: proc.GetCode()})
			if err != nil {
				return false, err.Error()
			}
			return got.GetProcedure().GetVersion() == up.GetProcedure().GetVersion() && got.GetProcedure().GetName() == proc.GetName(), got.GetProcedure().GetName()
		})
	}
	t.Logf("catalogue change at every node after %v", time.Since(changed))
}
