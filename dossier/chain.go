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
// deterministic encoding of the event, then, for a record that carries an
// access entry, accessTag and the entry's deterministic encoding. Central
// recomputes it to verify the chain. An event record's hash is what it
// was before access entries existed; no event's encoding can end where an
// access entry's part begins (accessTag starts with a zero byte, which
// no encoded field does), so no record of one kind hashes as one of the
// other.
func RecordHash(rec *xasov1.OutboxRecord) ([]byte, error) {
	det := proto.MarshalOptions{Deterministic: true}
	ev, err := det.Marshal(rec.GetEvent())
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", rec.GetSequence(), err)
	}
	var acc []byte
	if rec.GetAccess() != nil {
		if acc, err = det.Marshal(rec.GetAccess()); err != nil {
			return nil, fmt.Errorf("encode access entry %d: %w", rec.GetSequence(), err)
		}
	}
	var seal []byte
	if rec.GetSeal() != nil {
		if seal, err = det.Marshal(rec.GetSeal()); err != nil {
			return nil, fmt.Errorf("encode seal %d: %w", rec.GetSequence(), err)
		}
	}
	return chainHash(rec, ev, acc, rec.GetAccess() != nil, seal, rec.GetSeal() != nil), nil
}

// accessTag separates an access entry's part of a record's hash from the
// event's.
const accessTag = "\x00access\x00"

// sealTag likewise separates a succession seal's part (a seal record has
// no event, whose part is then empty).
const sealTag = "\x00seal\x00"

// EncodeRecord returns a record's deterministic encoding and its
// RecordHash, encoding the event once: the event's encoding is a field of
// the record's. Central stores the one and checks the other.
func EncodeRecord(rec *xasov1.OutboxRecord) (enc, hash []byte, err error) {
	enc, err = proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("encode record %d: %w", rec.GetSequence(), err)
	}
	var ev, acc []byte // no event field: the empty encoding, as RecordHash has it
	hasAccess := false
	var seal []byte
	hasSeal := false
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
		if num == accessField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, nil, fmt.Errorf("record %d: its access entry's encoding: %w", rec.GetSequence(), protowire.ParseError(m))
			}
			acc, hasAccess, b = v, true, b[m:]
			continue
		}
		if num == sealField && typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, nil, fmt.Errorf("record %d: its seal's encoding: %w", rec.GetSequence(), protowire.ParseError(m))
			}
			seal, hasSeal, b = v, true, b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, nil, fmt.Errorf("record %d: its own encoding: %w", rec.GetSequence(), protowire.ParseError(m))
		}
		b = b[m:]
	}
	return enc, chainHash(rec, ev, acc, hasAccess, seal, hasSeal), nil
}

// OutboxRecord's field numbers of the event and of the access entry.
const (
	eventField  = 4
	accessField = 7
	sealField   = 15
)

func chainHash(rec *xasov1.OutboxRecord, ev, acc []byte, hasAccess bool, seal []byte, hasSeal bool) []byte {
	h := sha256.New()
	h.Write(rec.GetPrevHash())
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(rec.GetSequence())))
	h.Write([]byte(rec.GetCommuneCode() + "\x00" + rec.GetDossierCode() + "\x00"))
	h.Write(ev)
	if hasAccess {
		h.Write([]byte(accessTag))
		h.Write(acc)
	}
	if hasSeal {
		h.Write([]byte(sealTag))
		h.Write(seal)
	}
	return h.Sum(nil)
}

// GenesisHash is the prev_hash of a commune's first outbox record: 32 zero
// bytes. Node and central start their chains from it.
func GenesisHash() []byte { return make([]byte, sha256.Size) }
