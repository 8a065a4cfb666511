package central

import (
	"testing"

	"google.golang.org/grpc/codes"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

func putCommuneWithAgency(code, agency string) *xasov1.CentralCommand {
	c := putCommune(code, "Xã "+code)
	c.GetPutCommune().Commune.AgencyId = agency
	return c
}

// The registry gives an agency e-ID to one commune at most, so that codes
// issued under it are unique without coordination (Decree 118/2025 art.
// 28); a PutCommune without one keeps the one registered.
func TestCommuneAgencyIDIsUnique(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004", "00008")
	if r := a.apply(t, putCommuneWithAgency("00004", "000.00.04.H56"))[0]; r.GetCode() != 0 {
		t.Fatalf("register an e-ID: %v", r)
	}
	if r := a.apply(t, putCommuneWithAgency("00008", "000.00.04.H56"))[0]; codes.Code(r.GetCode()) != codes.AlreadyExists {
		t.Errorf("another commune's e-ID taken: %v", r)
	}
	if r := a.apply(t, putCommuneWithAgency("00008", "000.00.04.h56"))[0]; codes.Code(r.GetCode()) != codes.InvalidArgument || r.GetViolations()[0].GetField() != "commune.agency_id" {
		t.Errorf("a malformed e-ID taken: %v", r)
	}
	// Renaming without the e-ID keeps it; registering it again is no clash.
	if r := a.apply(t, putCommuneWithAgency("00004", "000.00.04.H56"), putCommune("00004", "Xã mới")); r[0].GetCode() != 0 || r[1].GetCode() != 0 {
		t.Fatalf("register again, rename: %v", r)
	}
	if c, err := f.Commune("00004"); err != nil || c.GetAgencyId() != "000.00.04.H56" || c.GetName() != "Xã mới" {
		t.Errorf("after a rename: %v, %v", c, err)
	}
	// A changed e-ID is kept as a former one, which no other commune may
	// take: codes were issued under it.
	if r := a.apply(t, putCommuneWithAgency("00004", "000.00.44.H56"))[0]; r.GetCode() != 0 {
		t.Fatalf("change the e-ID: %v", r)
	}
	if c, _ := f.Commune("00004"); c.GetAgencyId() != "000.00.44.H56" || len(c.GetFormerAgencyIds()) != 1 || c.GetFormerAgencyIds()[0] != "000.00.04.H56" {
		t.Errorf("after a change: %v", c)
	}
	if r := a.apply(t, putCommuneWithAgency("00008", "000.00.04.H56"))[0]; codes.Code(r.GetCode()) != codes.AlreadyExists {
		t.Errorf("another commune's former e-ID taken: %v", r)
	}
	forged := putCommuneWithAgency("00008", "000.00.08.H56")
	forged.GetPutCommune().Commune.FormerAgencyIds = []string{"000.00.44.H56"}
	if r := a.apply(t, forged)[0]; r.GetCode() != 0 {
		t.Fatalf("register 00008: %v", r)
	}
	if c, _ := f.Commune("00008"); len(c.GetFormerAgencyIds()) != 0 {
		t.Errorf("a request set former e-IDs: %v", c)
	}
}

// Central refuses a receipt whose code is under another commune's e-ID
// or under one the commune has none of, and takes one under its own e-ID
// and legacy codes of its own; it refuses a second RECEIVE of a code.
func TestReceiptCodesUnderAgencyIDs(t *testing.T) {
	f := openTestFSM(t)
	a := &applier{f: f}
	registerSample(t, a, "00004", "00008")
	if r := a.apply(t, putCommuneWithAgency("00004", "000.00.04.H56"), putCommuneWithAgency("00008", "000.00.08.H56")); r[0].GetCode() != 0 || r[1].GetCode() != 0 {
		t.Fatalf("register e-IDs: %v", r)
	}
	recs := records(t, "00004", 1, 40)
	// The first receipt of the history, recoded and chained again.
	var first int
	for i, r := range recs {
		if r.GetEvent().GetAction() == dossier.Receive {
			first = i
			break
		}
	}
	if r := a.apply(t, appendEvents("00004", recs[:first]...))[0]; r.GetCode() != 0 {
		t.Fatalf("records before the first receipt: %v", r)
	}
	recode := func(code string) *xasov1.OutboxRecord {
		r := recs[first]
		r.DossierCode, r.Event.Receipt.Code = code, code
		h, err := dossier.RecordHash(r)
		if err != nil {
			t.Fatal(err)
		}
		r.Hash = h
		return r
	}
	at := recs[first].GetEvent().GetTime().AsTime()
	for _, c := range []struct {
		name, code string
		want       codes.Code
	}{
		{"another commune's e-ID", dossier.FormatAgencyCode("000.00.08.H56", "", at, 1), codes.PermissionDenied},
		{"an e-ID nobody holds", dossier.FormatAgencyCode("000.00.09.H56", "", at, 1), codes.PermissionDenied},
		{"another commune's legacy code", dossier.FormatCode("00008", at, 1), codes.PermissionDenied},
		{"a competent agency no procedure names", dossier.FormatAgencyCode("000.00.00.H56", "00004", at, 1), codes.PermissionDenied},
	} {
		if r := a.apply(t, appendEvents("00004", recode(c.code)))[0]; codes.Code(r.GetCode()) != c.want {
			t.Errorf("%s (%s): %v, want %v", c.name, c.code, r, c.want)
		}
		// Lift the block the refusal left, as an operator does.
		un := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{CommuneCode: "00004", Sequence: recs[first].GetSequence()}}}
		if r := a.apply(t, un)[0]; r.GetCode() != 0 {
			t.Fatalf("unblock: %v", r)
		}
	}
	if r := a.apply(t, appendEvents("00004", recode(dossier.FormatAgencyCode("000.00.04.H56", "", at, 1))))[0]; r.GetCode() != 0 || r.GetAccepted() != 1 {
		t.Fatalf("a code under the commune's own e-ID: %v", r)
	}
	if _, err := f.Dossier(dossier.FormatAgencyCode("000.00.04.H56", "", at, 1)); err != nil {
		t.Errorf("the dossier: %v", err)
	}
}
