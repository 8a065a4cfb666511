package replication_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/replication/linksim"
	"github.com/xaso/xaso/sample"
)

// TestAccessLogReachesCentral: reads of personal data at a node — by
// officials in three roles, one while the link to central is cut, one
// after the node restarted — reach central in the commune's access log,
// each as the node recorded it (who, when, what, from where), which a
// province operator reads back newest first, a page at a time and by
// dossier. The other commune's log holds only its own reads.
func TestAccessLogReachesCentral(t *testing.T) {
	link := linksim.New(linksim.Profile{Delay: 10 * time.Millisecond})
	p := startProvince(t, 2, []*linksim.Link{link})
	n := p.Nodes()[0]
	eventually(t, 30*time.Second, "the nodes enroll and sync", func() (bool, string) { return converged(t, p) })
	ctx := context.Background()
	as := func(name string, role dossier.Role, addr string) context.Context {
		return node.WithPrincipal(ctx, node.Principal{Name: name, Role: role, Via: node.ViaSession, Addr: addr})
	}
	var codes []string
	for range 2 {
		d, err := n.Node().Server().CreateDossier(as("lan", dossier.Clerk, "192.0.2.10"), &xasov1.CreateDossierRequest{
			ProcedureCode: sample.Procedures()[0].GetCode(), Channel: xasov1.Channel_CHANNEL_IN_PERSON,
			Applicant: &xasov1.Applicant{FullName: "Lò Văn Páo", IdNumber: "011090001234"}, Components: paperComponents(sample.Procedures()[0]),
		})
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, d.GetDossier().GetCode())
	}
	read := func(who context.Context, code string) {
		t.Helper()
		if _, err := n.Node().Server().GetDossier(who, &xasov1.GetDossierRequest{Code: code}); err != nil {
			t.Fatal(err)
		}
	}
	read(as("lan", dossier.Clerk, "192.0.2.10"), codes[0])
	if _, err := n.Node().Server().ListDossiers(as("lan", dossier.Clerk, "192.0.2.10"), &xasov1.ListDossiersRequest{Filter: "applicant_id_number = 011090001234"}); err != nil {
		t.Fatal(err)
	}
	link.Cut()
	read(as("minh", dossier.Officer, "192.0.2.11"), codes[1])
	if err := p.StopNode(0); err != nil {
		t.Fatal(err)
	}
	if err := p.StartNode(0); err != nil {
		t.Fatal(err)
	}
	read(as("hoa", dossier.Leader, "192.0.2.12"), codes[0])
	if last, acked := n.Node().Store().OutboxHead(); last <= acked {
		t.Fatalf("nothing waits for central while the link is cut: last %d, acked %d", last, acked)
	}
	link.Heal()
	eventually(t, 30*time.Second, "the node's chain at central", func() (bool, string) { return converged(t, p) })

	atNode, _, err := n.Node().Store().AccessLog(node.AccessFilter{}, 100, 0)
	if err != nil || len(atNode) != 4 {
		t.Fatalf("the node's access log: %d entries, %v", len(atNode), err)
	}
	op := p.Records(ctx) // personal data: the records role
	linear := xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE
	all, err := p.Central().ListAccessRecords(op, &xasov1.ListAccessRecordsRequest{CommuneCode: n.Commune.Code, Consistency: linear})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.GetEntries()) != len(atNode) || all.GetNextPageToken() != "" {
		t.Fatalf("central holds %d entries of %s, the node %d", len(all.GetEntries()), n.Commune.Code, len(atNode))
	}
	for i, e := range all.GetEntries() {
		if !proto.Equal(e, atNode[i]) {
			t.Errorf("entry %d at central: %v; at the node: %v", i, e, atNode[i])
		}
	}
	want := []struct {
		name string
		role dossier.Role
		addr string
		kind dossier.AccessKind
	}{{"hoa", dossier.Leader, "192.0.2.12", dossier.AccessRead}, {"minh", dossier.Officer, "192.0.2.11", dossier.AccessRead},
		{"lan", dossier.Clerk, "192.0.2.10", dossier.AccessSearch}, {"lan", dossier.Clerk, "192.0.2.10", dossier.AccessRead}}
	for i, w := range want {
		e := all.GetEntries()[i]
		if e.GetSequence() != int64(4-i) || e.GetName() != w.name || e.GetRole() != w.role || e.GetClientAddress() != w.addr || e.GetKind() != w.kind ||
			e.GetVia() != "session" || time.Since(e.GetTime().AsTime()) > time.Minute {
			t.Errorf("entry %d at central: %v; want %+v", i, e, w)
		}
	}
	// A page at a time, and by dossier.
	var pages []int64
	token := ""
	for range 5 {
		r, err := p.Central().ListAccessRecords(op, &xasov1.ListAccessRecordsRequest{CommuneCode: n.Commune.Code, PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range r.GetEntries() {
			pages = append(pages, e.GetSequence())
		}
		if token = r.GetNextPageToken(); token == "" {
			break
		}
	}
	if !slices.Equal(pages, []int64{4, 3, 2, 1}) {
		t.Errorf("pages of 3: %v", pages)
	}
	byCode, err := p.Central().ListAccessRecords(op, &xasov1.ListAccessRecordsRequest{CommuneCode: n.Commune.Code, DossierCode: codes[1]})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for _, e := range byCode.GetEntries() {
		seqs = append(seqs, fmt.Sprintf("%d %s", e.GetSequence(), e.GetName()))
	}
	if !slices.Equal(seqs, []string{"3 minh", "2 lan"}) { // minh's read, lan's search that listed both
		t.Errorf("the reads of %s at central: %v", codes[1], seqs)
	}
	other, err := p.Central().ListAccessRecords(op, &xasov1.ListAccessRecordsRequest{CommuneCode: p.Nodes()[1].Commune.Code})
	if err != nil || len(other.GetEntries()) != 0 {
		t.Errorf("the other commune's log: %v, %v", other.GetEntries(), err)
	}
	checkProvince(t, p)
}
