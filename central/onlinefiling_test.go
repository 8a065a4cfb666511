package central

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

func testOnlineFiling(code, commune, procedure string) *xasov1.OnlineFiling {
	return &xasov1.OnlineFiling{
		PortalCode: code, PortalSequence: 1, CommuneCode: commune, ProcedureCode: procedure,
		ApplicantName: "Nguyễn Văn An", ApplicantIdNumber: "001203004005", ApplicantPhone: "0912345678", ApplicantKind: "1",
		FiledTime: timestamppb.New(testNow),
		Files: []*xasov1.OnlineFilingFile{{ComponentCode: "TP1", ComponentName: "Tờ khai", FileName: "to-khai.pdf",
			ContentType: "application/pdf", Size: 1234, Sha256: strings.Repeat("ab", 32), PortalFileId: "f1"}},
	}
}

func putOnlineFiling(f *xasov1.OnlineFiling) *xasov1.CentralCommand {
	return &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutOnlineFiling{PutOnlineFiling: &xasov1.PutOnlineFilingCommand{Filing: f}}}
}

// TestOnlineFilingIsRoutedOnceToItsCommune: an online dossier reaches its
// commune's feed once (Decree 118/2025 art. 17(2): the portal forwards it
// to the one-stop desk), the same portal code again is a no-op, and a
// filing for an unknown commune, a procedure outside the catalogue or not
// open online, or out of bounds is refused and routes nothing.
func TestOnlineFilingIsRoutedOnceToItsCommune(t *testing.T) {
	a := &applier{f: openTestFSM(t)}
	registerSample(t, a, "00004", "00005")
	head, err := a.f.FeedHead()
	if err != nil {
		t.Fatal(err)
	}
	good := testOnlineFiling("DVC-00004-260302-000001", "00004", "1.001193")
	if r := a.apply(t, putOnlineFiling(good))[0]; r.GetCode() != 0 {
		t.Fatalf("a good filing refused: %s", r.GetMessage())
	}
	// The same again (a retry, a new leader): applied, routes nothing.
	if r := a.apply(t, putOnlineFiling(proto.Clone(good).(*xasov1.OnlineFiling)))[0]; r.GetCode() != 0 || r.GetMessage() != "already routed" {
		t.Fatalf("the same filing again = %v", r)
	}
	mod := func(f func(*xasov1.OnlineFiling)) *xasov1.OnlineFiling {
		c := proto.Clone(good).(*xasov1.OnlineFiling)
		c.PortalCode = "DVC-00004-260302-000002"
		f(c)
		return c
	}
	for _, tc := range []struct {
		name, field string
		filing      *xasov1.OnlineFiling
	}{
		{"art. 17(2): a commune not registered", "filing.commune_code", mod(func(f *xasov1.OnlineFiling) { f.CommuneCode = "99999" })},
		{"art. 17(2): a procedure outside the catalogue", "filing.procedure_code", mod(func(f *xasov1.OnlineFiling) { f.ProcedureCode = "9.999999" })},
		{"art. 17(2): a procedure not open to online filing", "filing.procedure_code", mod(func(f *xasov1.OnlineFiling) { f.ProcedureCode = "2.000815" })},
		{"a bad portal code", "filing.portal_code", mod(func(f *xasov1.OnlineFiling) { f.PortalCode = "DVC/../x" })},
		{"a bad identification number", "filing.applicant.id_number", mod(func(f *xasov1.OnlineFiling) { f.ApplicantIdNumber = "12" })},
		{"no applicant name", "filing.applicant.full_name", mod(func(f *xasov1.OnlineFiling) { f.ApplicantName = " " })},
		{"no filing time", "filing.filed_time", mod(func(f *xasov1.OnlineFiling) { f.FiledTime = nil })},
		{"an oversized scan", "filing.files[0].size", mod(func(f *xasov1.OnlineFiling) { f.Files[0].Size = MaxOnlineFileSize + 1 })},
		{"a bad hash", "filing.files[0].sha256", mod(func(f *xasov1.OnlineFiling) { f.Files[0].Sha256 = "zz" })},
		{"too many scans", "filing.files", mod(func(f *xasov1.OnlineFiling) {
			for len(f.Files) <= MaxOnlineFiles {
				f.Files = append(f.Files, f.Files[0])
			}
		})},
	} {
		r := a.apply(t, putOnlineFiling(tc.filing))[0]
		found := false
		for _, v := range r.GetViolations() {
			found = found || v.GetField() == tc.field
		}
		if r.GetCode() != int32(codes.InvalidArgument) || !found {
			t.Errorf("%s: %v; want InvalidArgument on %s", tc.name, r, tc.field)
		}
	}
	items, _, err := a.f.FeedAfter("00004", head, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || !proto.Equal(items[0].GetOnlineFiling(), good) || items[0].GetCommuneCode() != "00004" {
		t.Fatalf("commune 00004's feed after the filings = %v; want the good filing once", items)
	}
	if other, _, err := a.f.FeedAfter("00005", head, 100); err != nil || len(other) != 0 {
		t.Fatalf("another commune's feed = %v, %v; want nothing", other, err)
	}
}
