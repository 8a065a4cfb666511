package dossier_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// EncodeRecord must hash what RecordHash hashes, and encode what a
// deterministic Marshal encodes, for every kind of event a desk makes,
// for a record without an event and for one carrying fields this version
// does not know.
func TestEncodeRecordAgreesWithRecordHash(t *testing.T) {
	h := workload.NewHistory("00004", sample.Procedures(), sample.Calendar(), 7, time.Date(2026, 3, 2, 8, 0, 0, 0, dossier.Zone))
	var recs []*xasov1.OutboxRecord
	for range 500 {
		rec, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	bare := proto.Clone(recs[1]).(*xasov1.OutboxRecord)
	bare.Event = nil
	future := proto.Clone(recs[2]).(*xasov1.OutboxRecord)
	future.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 99, protowire.BytesType), "from a later version"))
	recs = append(recs, bare, future)
	actions := map[xasov1.Action]bool{}
	for _, rec := range recs {
		actions[rec.GetEvent().GetAction()] = true
		want, err := dossier.RecordHash(rec)
		if err != nil {
			t.Fatal(err)
		}
		wantEnc, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		enc, hash, err := dossier.EncodeRecord(rec)
		if err != nil {
			t.Fatalf("record %d: %v", rec.GetSequence(), err)
		}
		if !bytes.Equal(hash, want) {
			t.Errorf("record %d (%s): hash %x, RecordHash %x", rec.GetSequence(), rec.GetEvent().GetAction(), hash, want)
		}
		if !bytes.Equal(enc, wantEnc) {
			t.Errorf("record %d: encoding differs from a deterministic Marshal", rec.GetSequence())
		}
	}
	if len(actions) < 6 {
		t.Fatalf("the history made only actions %v: too few kinds of event to compare", actions)
	}
}

// TestSealRecordHash: a succession seal is part of its record's hash (a
// changed seal breaks the chain), EncodeRecord agrees with RecordHash, and
// ValidateRecord takes a seal record alone and refuses one with a dossier.
func TestSealRecordHash(t *testing.T) {
	now := time.Date(2026, 7, 1, 9, 0, 0, 0, dossier.Zone)
	rec := &xasov1.OutboxRecord{Sequence: 7, CommuneCode: "00004", PrevHash: dossier.GenesisHash(),
		Seal: &xasov1.SuccessionSeal{Time: timestamppb.New(now), SuccessorCode: "00008"}}
	h, err := dossier.RecordHash(rec)
	if err != nil {
		t.Fatal(err)
	}
	rec.Hash = h
	if _, enc, err := dossier.EncodeRecord(rec); err != nil || !bytes.Equal(enc, h) {
		t.Fatalf("EncodeRecord's hash differs from RecordHash's: %v", err)
	}
	if err := dossier.ValidateRecord(rec, "00004", now); err != nil {
		t.Fatal(err)
	}
	other := proto.Clone(rec).(*xasov1.OutboxRecord)
	other.Seal.SuccessorCode = "00010"
	if h2, _ := dossier.RecordHash(other); bytes.Equal(h2, h) {
		t.Error("the seal's successor is not in the hash")
	}
	bare := proto.Clone(rec).(*xasov1.OutboxRecord)
	bare.Seal = nil
	if h3, _ := dossier.RecordHash(bare); bytes.Equal(h3, h) {
		t.Error("a record without its seal hashes the same")
	}
	bad := proto.Clone(rec).(*xasov1.OutboxRecord)
	bad.DossierCode = "00004-260601-0001"
	bad.Seal.SuccessorCode = "8"
	if err := dossier.ValidateRecord(bad, "00004", now); err == nil || !strings.Contains(err.Error(), "seal.successor_code") || !strings.Contains(err.Error(), "seal:") && !strings.Contains(err.Error(), "seal ") {
		t.Errorf("a seal with a dossier and a bad successor: %v", err)
	}
}
