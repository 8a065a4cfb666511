package dossier

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// RecordHash is the hash that chains outbox records: SHA-256 over the
// previous hash, the sequence, the commune, the dossier code and the
// deterministic encoding of the event. Central recomputes it to verify the chain.
func RecordHash(rec *xasov1.OutboxRecord) ([]byte, error) {
	ev, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec.GetEvent())
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", rec.GetSequence(), err)
	}
	return chainHash(rec, ev), nil
}

// EncodeRecord returns a record's deterministic encoding and its
// RecordHash, encoding the event once: the event's encoding is a field of
// the record's. Central stores the one and checks the other.
func EncodeRecord(rec *xasov1.OutboxRecord) (enc, hash []byte, err error) {
	enc, err = proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("encode record %d: %w", rec.GetSequence(), err)
	}
	var ev []byte // no event field: the empty encoding, as RecordHash has it
	for b := enc; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, fmt.Errorf("record %d: its own encoding: %w", rec.GetSequence(), protowire.ParseError(n))
		}
		b = b[n:]
		if num == eventField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, nil, fmt.Errorf("record %d: its event's encoding: %w", rec.GetSequence(), protowire.ParseError(m))
			}
			ev, b = v, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, nil, fmt.Errorf("record %d: its own encoding: %w", rec.GetSequence(), protowire.ParseError(m))
		}
		b = b[m:]
	}
	return enc, chainHash(rec, ev), nil
}

// eventField is OutboxRecord's field number of the event.
const eventField = 4

func chainHash(rec *xasov1.OutboxRecord, ev []byte) []byte {
	h := sha256.New()
	h.Write(rec.GetPrevHash())
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(rec.GetSequence())))
	h.Write([]byte(rec.GetCommuneCode() + "\x00" + rec.GetDossierCode() + "\x00"))
	h.Write(ev)
	return h.Sum(nil)
}

// GenesisHash is the prev_hash of a commune's first outbox record: 32 zero
// bytes. Node and central start their chains from it.
func GenesisHash() []byte { return make([]byte, sha256.Size) }
