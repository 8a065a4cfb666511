package dossier

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

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
	h := sha256.New()
	h.Write(rec.GetPrevHash())
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(rec.GetSequence())))
	h.Write([]byte(rec.GetCommuneCode() + "\x00" + rec.GetDossierCode() + "\x00"))
	h.Write(ev)
	return h.Sum(nil), nil
}

// GenesisHash is the prev_hash of a commune's first outbox record: 32 zero
// bytes. Node and central start their chains from it.
func GenesisHash() []byte { return make([]byte, sha256.Size) }
