package replication

import (
	"bytes"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/dict"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

var updateDict = flag.Bool("update-dict", false, "rebuild events.zdict from the sample workload")

var testStart = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// history makes n chained records of a commune.
func history(t testing.TB, commune string, seed uint64, n int) []*xasov1.OutboxRecord {
	t.Helper()
	h := workload.NewHistory(commune, sample.Procedures(), sample.Calendar(), seed, testStart)
	out := make([]*xasov1.OutboxRecord, n)
	for i := range out {
		r, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = r
	}
	return out
}

// trainingSamples are batches of one to eight records from several
// communes' sample workloads.
func trainingSamples(t testing.TB) [][]byte {
	var out [][]byte
	for c, commune := range []string{"00004", "00008", "00025", "09619", "10105", "27280"} {
		recs := history(t, commune, uint64(100+c), 800)
		for i := 0; i < len(recs); {
			n := 1 + i%8
			if i+n > len(recs) {
				break
			}
			b, err := proto.Marshal(&xasov1.RecordBatch{Records: recs[i : i+n]})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
			i += n
		}
	}
	return out
}

// TestDictionaryIsFresh rebuilds the dictionary with -update-dict; without
// it, it checks that the committed one is a zstd dictionary with our ID.
func TestDictionaryIsFresh(t *testing.T) {
	if *updateDict {
		d, err := dict.BuildZstdDict(trainingSamples(t), dict.Options{MaxDictSize: 32 << 10, HashBytes: 6, ZstdDictID: dictID})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("events.zdict", d, 0o644); err != nil {
			t.Fatal(err)
		}
		eventsDict = d
	}
	if len(eventsDict) < 8 || !bytes.Equal(eventsDict[:4], []byte{0x37, 0xa4, 0x30, 0xec}) || eventsDict[4] != dictID {
		t.Fatalf("events.zdict is not a zstd dictionary with ID %d; run go test ./replication -run TestDictionaryIsFresh -update-dict", dictID)
	}
}

func TestCodecRoundTripsAndRefusesWhatIsNotABatch(t *testing.T) {
	c, err := NewCodec()
	if err != nil {
		t.Fatal(err)
	}
	recs := history(t, "31234", 7, 600)
	for _, n := range []int{1, 5, 50, 600} {
		req := &xasov1.PushRequest{}
		if err := c.Encode(req, recs[:n]); err != nil {
			t.Fatal(err)
		}
		got, err := c.Decode(req)
		if err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if len(got) != n || !proto.Equal(got[n-1], recs[n-1]) {
			t.Fatalf("%d records: decoded %d", n, len(got))
		}
	}
	good := &xasov1.PushRequest{}
	if err := c.Encode(good, recs[:3]); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(r *xasov1.PushRequest){
		"garbage":             func(r *xasov1.PushRequest) { r.Records = []byte("not zstd") },
		"unknown dictionary":  func(r *xasov1.PushRequest) { r.DictionaryId = 99 },
		"unknown compression": func(r *xasov1.PushRequest) { r.Compression = 7 },
		"wrong count":         func(r *xasov1.PushRequest) { r.Count = 2 },
		"wrong first":         func(r *xasov1.PushRequest) { r.FirstSequence = 2 },
		"no compression, garbage": func(r *xasov1.PushRequest) {
			r.Compression, r.Records = xasov1.Compression_COMPRESSION_NONE, []byte{0xff, 0xff}
		},
	} {
		r := proto.Clone(good).(*xasov1.PushRequest)
		mutate(r)
		if _, err := c.Decode(r); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	c, err := NewCodec()
	if err != nil {
		f.Fatal(err)
	}
	req := &xasov1.PushRequest{}
	if err := c.Encode(req, history(f, "31234", 3, 4)); err != nil {
		f.Fatal(err)
	}
	f.Add(req.GetRecords(), int64(1), int32(4), uint32(1))
	f.Fuzz(func(t *testing.T, payload []byte, first int64, count int32, dict uint32) {
		r := &xasov1.PushRequest{Records: payload, FirstSequence: first, Count: count, DictionaryId: dict, Compression: xasov1.Compression_COMPRESSION_ZSTD}
		recs, err := c.Decode(r)
		if err == nil && len(recs) != int(count) {
			t.Fatalf("decoded %d records, count %d", len(recs), count)
		}
	})
}
