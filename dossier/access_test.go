package dossier_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// accessRecord is an honest access record of commune 00004: a list of
// three dossiers read by a clerk at the desk.
func accessRecord(at time.Time) *xasov1.OutboxRecord {
	rec := &xasov1.OutboxRecord{Sequence: 7, CommuneCode: "00004", PrevHash: bytes.Repeat([]byte{1}, 32), Access: &xasov1.AccessEntry{
		Sequence: 3, Time: timestamppb.New(at), Name: "lan", Role: dossier.Clerk, Via: "session", ClientAddress: "192.0.2.7",
		Kind: dossier.AccessList, DossierCodes: []string{"00004-260302-0001", "00004-260302-0002", "00082-260301-0005"},
		Filter: "state = RECEIVED", Count: 3,
	}}
	rec.Hash, _ = dossier.RecordHash(rec)
	return rec
}

// An event record hashes as it did before access entries existed, and an
// access record's hash covers its entry: EncodeRecord agrees with
// RecordHash on both.
func TestAccessRecordsChainLikeEvents(t *testing.T) {
	recs, _ := honest(t, "00004", 5, 50)
	for _, rec := range recs {
		ev, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec.GetEvent())
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		h.Write(rec.GetPrevHash())
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(rec.GetSequence())))
		h.Write([]byte(rec.GetCommuneCode() + "\x00" + rec.GetDossierCode() + "\x00"))
		h.Write(ev)
		if got, _ := dossier.RecordHash(rec); !bytes.Equal(got, h.Sum(nil)) || !bytes.Equal(got, rec.GetHash()) {
			t.Fatalf("record %d: the hash of an event record changed", rec.GetSequence())
		}
	}
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, dossier.Zone)
	rec := accessRecord(now)
	_, hash, err := dossier.EncodeRecord(rec)
	if err != nil || !bytes.Equal(hash, rec.GetHash()) {
		t.Fatalf("EncodeRecord of an access record: %x, %v; RecordHash %x", hash, err, rec.GetHash())
	}
	for name, change := range map[string]func(a *xasov1.AccessEntry){
		"name":     func(a *xasov1.AccessEntry) { a.Name = "minh" },
		"codes":    func(a *xasov1.AccessEntry) { a.DossierCodes = a.DossierCodes[1:] },
		"address":  func(a *xasov1.AccessEntry) { a.ClientAddress = "192.0.2.8" },
		"sequence": func(a *xasov1.AccessEntry) { a.Sequence++ },
	} {
		other := proto.Clone(rec).(*xasov1.OutboxRecord)
		change(other.Access)
		if h, _ := dossier.RecordHash(other); bytes.Equal(h, rec.GetHash()) {
			t.Errorf("the hash does not cover the entry's %s", name)
		}
	}
	// An empty entry still counts: a record with one differs from one without.
	bare := proto.Clone(rec).(*xasov1.OutboxRecord)
	bare.Access = &xasov1.AccessEntry{}
	none := proto.Clone(rec).(*xasov1.OutboxRecord)
	none.Access = nil
	hb, _ := dossier.RecordHash(bare)
	hn, _ := dossier.RecordHash(none)
	_, eb, _ := dossier.EncodeRecord(bare)
	if bytes.Equal(hb, hn) || !bytes.Equal(hb, eb) {
		t.Error("an empty access entry hashes as no entry, or EncodeRecord disagrees")
	}
}

// An honest access entry passes central's checks; each way one can be
// wrong is refused, naming the field, without echoing the input.
func TestCentralChecksAccessEntries(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, dossier.Zone)
	if err := dossier.ValidateRecord(accessRecord(now), "00004", now); err != nil {
		t.Fatalf("an honest access record: %v", err)
	}
	if err := dossier.CheckOwnAccess(accessRecord(now).GetAccess(), now); err != nil {
		t.Fatalf("the node's own check of an honest entry: %v", err)
	}
	many := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("00004-260302-%04d", i+1))
		}
		return out
	}
	cases := []struct {
		name, field string
		change      func(r *xasov1.OutboxRecord)
	}{
		{"another commune's record", "commune_code", func(r *xasov1.OutboxRecord) { r.CommuneCode = "00008" }},
		{"both an event and an entry", "access", func(r *xasov1.OutboxRecord) { r.Event = &xasov1.Event{} }},
		{"a dossier code on the record", "dossier_code", func(r *xasov1.OutboxRecord) { r.DossierCode = "00004-260302-0001" }},
		{"sequence 0", "access.sequence", func(r *xasov1.OutboxRecord) { r.Access.Sequence = 0 }},
		{"no time", "access.time", func(r *xasov1.OutboxRecord) { r.Access.Time = nil }},
		{"a time in 2099", "access.time", func(r *xasov1.OutboxRecord) {
			r.Access.Time = timestamppb.New(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{"a time before 2015", "access.time", func(r *xasov1.OutboxRecord) { r.Access.Time = timestamppb.New(time.Unix(0, 0)) }},
		{"an invalid time", "access.time", func(r *xasov1.OutboxRecord) { r.Access.Time = &timestamppb.Timestamp{Nanos: -1} }},
		{"a 129-byte name", "access.name", func(r *xasov1.OutboxRecord) { r.Access.Name = strings.Repeat("n", 129) }},
		{"a line break in the name", "access.name", func(r *xasov1.OutboxRecord) { r.Access.Name = "lan\nminh" }},
		{"an unknown role", "access.role", func(r *xasov1.OutboxRecord) { r.Access.Role = 9 }},
		{"a via with a space", "access.via", func(r *xasov1.OutboxRecord) { r.Access.Via = "a session" }},
		{"a 33-byte via", "access.via", func(r *xasov1.OutboxRecord) { r.Access.Via = strings.Repeat("v", 33) }},
		{"a 129-byte address", "access.client_address", func(r *xasov1.OutboxRecord) { r.Access.ClientAddress = strings.Repeat("1", 129) }},
		{"a control character in the address", "access.client_address", func(r *xasov1.OutboxRecord) { r.Access.ClientAddress = "1.2.3.4\x00" }},
		{"no kind", "access.kind", func(r *xasov1.OutboxRecord) { r.Access.Kind = 0 }},
		{"an unknown kind", "access.kind", func(r *xasov1.OutboxRecord) { r.Access.Kind = 99 }},
		{"501 dossiers", "access.dossier_codes", func(r *xasov1.OutboxRecord) { r.Access.DossierCodes, r.Access.Count = many(501), 501 }},
		{"not a dossier code", "access.dossier_codes[1]", func(r *xasov1.OutboxRecord) { r.Access.DossierCodes[1] = "x" }},
		{"a dossier named twice", "access.dossier_codes[2]", func(r *xasov1.OutboxRecord) { r.Access.DossierCodes[2] = r.Access.DossierCodes[0] }},
		{"a 1,001-byte filter", "access.filter", func(r *xasov1.OutboxRecord) { r.Access.Filter = strings.Repeat("f", 1001) }},
		{"a control character in the filter", "access.filter", func(r *xasov1.OutboxRecord) { r.Access.Filter = "state\x01" }},
		{"fewer dossiers counted than named", "access.count", func(r *xasov1.OutboxRecord) { r.Access.Count = 2 }},
		{"a count over a million", "access.count", func(r *xasov1.OutboxRecord) { r.Access.Count = 1_000_001 }},
		{"a negative count", "access.count", func(r *xasov1.OutboxRecord) { r.Access.Count = -1 }},
		{"a file on a list", "access.attachment_sha256", func(r *xasov1.OutboxRecord) { r.Access.AttachmentSha256 = strings.Repeat("a", 64) }},
		{"a download without its file", "access.attachment_sha256", func(r *xasov1.OutboxRecord) { r.Access.Kind = dossier.AccessDownload }},
		{"a read of three dossiers", "access.dossier_codes", func(r *xasov1.OutboxRecord) { r.Access.Kind = dossier.AccessRead }},
		{"a receipt of none", "access.dossier_codes", func(r *xasov1.OutboxRecord) {
			r.Access.Kind, r.Access.DossierCodes, r.Access.Count = dossier.AccessReceipt, nil, 0
		}},
		{"an oversized record", "record", func(r *xasov1.OutboxRecord) { r.Access.Filter = strings.Repeat("lọc ", 20_000) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := accessRecord(now)
			c.change(rec)
			err := dossier.ValidateRecord(rec, "00004", now)
			var v dossier.Violations
			if !errors.As(err, &v) {
				t.Fatalf("got %T %v", err, err)
			}
			fields := map[string]bool{}
			for _, x := range v {
				fields[x.Field] = true
			}
			if !fields[c.field] {
				t.Fatalf("refused for %v, not %s", err, c.field)
			}
			if len(err.Error()) > 4000 {
				t.Fatalf("the refusal echoes the input: %d bytes", len(err.Error()))
			}
			if rec.GetAccess() != nil && rec.GetEvent() == nil && rec.GetCommuneCode() == "00004" && rec.GetDossierCode() == "" && !strings.HasPrefix(c.field, "access.sequence") {
				// The node refuses to write what central refuses.
				if err := dossier.CheckOwnAccess(rec.GetAccess(), now); err == nil {
					t.Fatal("the node's own check took it")
				}
			}
		})
	}
}

// A download names its file; each kind has its name.
func TestAccessKinds(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, dossier.Zone)
	rec := accessRecord(now)
	rec.Access.Kind, rec.Access.DossierCodes, rec.Access.Filter, rec.Access.Count = dossier.AccessDownload, nil, "", 0
	rec.Access.AttachmentSha256 = strings.Repeat("ab", 32)
	if err := dossier.ValidateRecord(rec, "00004", now); err != nil {
		t.Fatalf("a download: %v", err)
	}
	for k, want := range map[dossier.AccessKind]string{dossier.AccessRead: "READ", dossier.AccessReceipt: "RECEIPT", 42: "42"} {
		if got := dossier.AccessKindName(k); got != want {
			t.Errorf("AccessKindName(%d) = %q, want %q", k, got, want)
		}
	}
}
