package replication

import (
	_ "embed"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// eventsDict is a zstd dictionary trained on outbox records of the sample
// catalogue's workload (see TestDictionaryIsFresh, which rebuilds it with
// -update-dict). Small batches — a node sending a few events at a time —
// compress to a fraction of their size with it; large ones barely need it.
//
//go:embed events.zdict
var eventsDict []byte

// dictID names eventsDict on the wire. A new dictionary takes a new ID and
// the old one stays decodable until every node has moved on.
const dictID = 1

// dictBelow is the encoded size under which a batch uses the dictionary.
const dictBelow = 64 << 10

// maxBatchBytes bounds a decoded batch: a batch is refused beyond it, so
// that a small compressed message cannot expand without bound, and so that
// the command it becomes fits one state transaction at central (a node's
// batches are 256 KiB).
const maxBatchBytes = 2 << 20

// Codec encodes batches of outbox records for the wire and decodes them.
// It is safe for concurrent use.
type Codec struct {
	plain, dict *zstd.Encoder
	dec         *zstd.Decoder
}

// NewCodec makes a codec with the events dictionary.
func NewCodec() (*Codec, error) {
	plain, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	dict, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithEncoderDict(eventsDict))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder with the events dictionary: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDicts(eventsDict), zstd.WithDecoderMaxMemory(maxBatchBytes), zstd.WithDecoderConcurrency(0))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Codec{plain: plain, dict: dict, dec: dec}, nil
}

// Encode fills req's records, compression and dictionary from recs.
func (c *Codec) Encode(req *xasov1.PushRequest, recs []*xasov1.OutboxRecord) error {
	raw, err := proto.Marshal(&xasov1.RecordBatch{Records: recs})
	if err != nil {
		return fmt.Errorf("encode records: %w", err)
	}
	req.Compression = xasov1.Compression_COMPRESSION_ZSTD
	if len(raw) < dictBelow {
		req.DictionaryId, req.Records = dictID, c.dict.EncodeAll(raw, nil)
	} else {
		req.DictionaryId, req.Records = 0, c.plain.EncodeAll(raw, nil)
	}
	req.Count = int32(len(recs))
	if len(recs) > 0 {
		req.FirstSequence = recs[0].GetSequence()
	}
	return nil
}

// ErrBadBatch is wrapped by every refusal of Decode.
var ErrBadBatch = errors.New("bad batch")

// Decode returns the records of req, checking that they are the count
// announced, in consecutive sequence from first_sequence.
func (c *Codec) Decode(req *xasov1.PushRequest) ([]*xasov1.OutboxRecord, error) {
	var raw []byte
	switch req.GetCompression() {
	case xasov1.Compression_COMPRESSION_NONE:
		raw = req.GetRecords()
	case xasov1.Compression_COMPRESSION_ZSTD:
		if id := req.GetDictionaryId(); id != 0 && id != dictID {
			return nil, fmt.Errorf("%w: unknown dictionary %d", ErrBadBatch, id)
		}
		var err error
		if raw, err = c.dec.DecodeAll(req.GetRecords(), nil); err != nil {
			return nil, fmt.Errorf("%w: decompress: %v", ErrBadBatch, err)
		}
	default:
		return nil, fmt.Errorf("%w: unknown compression %v", ErrBadBatch, req.GetCompression())
	}
	if len(raw) > maxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes decoded, more than %d", ErrBadBatch, len(raw), maxBatchBytes)
	}
	var b xasov1.RecordBatch
	if err := proto.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("%w: decode records: %v", ErrBadBatch, err)
	}
	recs := b.GetRecords()
	if int(req.GetCount()) != len(recs) {
		return nil, fmt.Errorf("%w: %d records, the batch says %d", ErrBadBatch, len(recs), req.GetCount())
	}
	for i, r := range recs {
		if r.GetSequence() != req.GetFirstSequence()+int64(i) {
			return nil, fmt.Errorf("%w: record %d has sequence %d, want %d", ErrBadBatch, i, r.GetSequence(), req.GetFirstSequence()+int64(i))
		}
	}
	return recs, nil
}
