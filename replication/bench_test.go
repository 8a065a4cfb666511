package replication_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/province"
	"github.com/xaso/xaso/replication/linksim"
	"github.com/xaso/xaso/workload"
)

// fill runs clerks on a node until its outbox holds n more events.
func fill(b *testing.B, n *node.Node, events int64, seed uint64) {
	b.Helper()
	start, _ := n.Store().OutboxHead()
	c := workload.New(workload.InProcess(n.Server(), node.ActAs), seed, testLogger())
	for {
		last, _ := n.Store().OutboxHead()
		if last-start >= events {
			return
		}
		if err := c.Step(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// floorBytes is the zstd-compressed protobuf of the records alone: what no
// protocol can beat.
func floorBytes(b *testing.B, n *node.Node, from, to int64) int {
	recs, err := n.Store().ReadOutbox(from, int(to-from+1), 1<<30)
	if err != nil || int64(len(recs)) != to-from+1 {
		b.Fatalf("read outbox: %d records, %v", len(recs), err)
	}
	raw, err := proto.Marshal(&xasov1.RecordBatch{Records: recs})
	if err != nil {
		b.Fatal(err)
	}
	enc, _ := zstd.NewWriter(nil)
	return len(enc.EncodeAll(raw, nil))
}

// waitConverged waits until central holds every node's outbox and says
// how long that took.
func waitConverged(b *testing.B, p *province.Province, within time.Duration) time.Duration {
	start := time.Now()
	for {
		ok, why := converged(b, p)
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			b.Fatalf("not converged within %v: %s", within, why)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded
	}
}

func benchProvince(b *testing.B, link *linksim.Link) *province.Province {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := province.Start(ctx, province.Options{Dir: b.TempDir(), Communes: nil, Link: func(i int) *linksim.Link {
		if i == 0 {
			return link
		}
		return nil
	}, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// BenchmarkBytesPerEvent measures what replication puts on the wire (both
// directions: TLS, HTTP/2, batches, acknowledgements, heartbeats) per
// event, against the floor, for a backlog sent after a cut and for events
// sent one by one as clerks make them.
func BenchmarkBytesPerEvent(b *testing.B) {
	link := linksim.New(linksim.Profile{})
	p := benchProvince(b, link)
	n := p.Nodes()[0].Node()
	waitConverged(b, p, 30*time.Second)
	for range b.N {
		// A backlog: 3,000 events made while the link is down.
		link.Cut()
		from, _ := n.Store().OutboxHead()
		fill(b, n, 3000, 1)
		to, _ := n.Store().OutboxHead()
		before := link.Delivered()
		link.Heal()
		waitConverged(b, p, 60*time.Second)
		wire := link.Delivered() - before
		floor := floorBytes(b, n, from+1, to)
		events := float64(to - from)
		b.ReportMetric(float64(wire)/events, "wire-B/event")
		b.ReportMetric(float64(floor)/events, "floor-B/event")
		b.ReportMetric(float64(wire)/float64(floor), "backlog-x-floor")

		// Live: events sent as they are made, a few at a time.
		from = to
		before = link.Delivered()
		c := workload.New(workload.InProcess(n.Server(), node.ActAs), 2, testLogger())
		for range 300 {
			if err := c.Step(context.Background()); err != nil {
				b.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // clerks' pace: each event leaves before the next
		}
		waitConverged(b, p, 60*time.Second)
		to, _ = n.Store().OutboxHead()
		b.ReportMetric(float64(link.Delivered()-before)/float64(floorBytes(b, n, from+1, to)), "live-x-floor")
	}
}

// BenchmarkBacklogOverWeakLink: three days of a busy commune (450
// dossiers, ~3,600 events) made offline, then a 256 kbit/s link with a
// 600 ms round trip: time until central holds every event, then the
// goodput of a 2 MB scan against the link's capacity, then a 1 MB scan cut
// in the middle (chunks sent against the file's chunks). It takes a few
// minutes: XASO_BENCH_WEAK=1 runs it.
func BenchmarkBacklogOverWeakLink(b *testing.B) {
	if os.Getenv("XASO_BENCH_WEAK") == "" {
		b.Skip("XASO_BENCH_WEAK=1 runs this benchmark (minutes)")
	}
	const capacity = 256_000 / 8 // bytes a second
	link := linksim.New(linksim.Profile{Delay: 300 * time.Millisecond, BytesPerSecond: capacity})
	p := benchProvince(b, link)
	nd := p.Nodes()[0]
	n := nd.Node()
	waitConverged(b, p, 120*time.Second)
	for range b.N {
		link.Cut()
		fill(b, n, 3600, 3)
		scan := func(size int) string {
			content := make([]byte, size)
			rand.Read(content) // scans are compressed already: random bytes are fair
			copy(content, "%PDF-1.4\n")
			att, err := n.Server().CreateAttachment(reader(context.Background()), &xasov1.CreateAttachmentRequest{Filename: "scan.pdf", ContentType: "application/pdf", Content: content})
			if err != nil {
				b.Fatal(err)
			}
			receiveWithScan(b, n.Server(), att.GetAttachment().GetSha256())
			return att.GetAttachment().GetSha256()
		}
		scan(2 << 20)
		link.Heal()
		meta := waitConverged(b, p, 10*time.Minute)
		b.ReportMetric(meta.Seconds(), "metadata-s")

		pending := func() int64 {
			st, _ := n.Server().GetSyncStatus(reader(context.Background()), &xasov1.GetSyncStatusRequest{})
			return st.GetPendingAttachments()
		}
		// Goodput while the scan goes: from its first chunk to central's
		// answer to its last.
		st0, _ := n.SyncStatus()
		for {
			if st, _ := n.SyncStatus(); st.ChunksSent > st0.ChunksSent {
				break
			}
			time.Sleep(10 * time.Millisecond) // polling
		}
		start := time.Now()
		for pending() > 0 {
			time.Sleep(20 * time.Millisecond) // polling; the upload takes about a minute
		}
		b.ReportMetric(float64(2<<20)/time.Since(start).Seconds()/capacity*100, "scan-%-of-link")

		// A cut in the middle of a 1 MB scan (4 chunks).
		st0, _ = n.SyncStatus()
		scan(1 << 20)
		for {
			st, _ := n.SyncStatus()
			if st.ChunksSent-st0.ChunksSent >= 2 {
				break
			}
			time.Sleep(50 * time.Millisecond) // polling
		}
		time.Sleep(3 * time.Second) // into the third chunk
		link.Cut()
		time.Sleep(2 * time.Second) // the cut lasts
		link.Heal()
		for pending() > 0 {
			time.Sleep(100 * time.Millisecond) // polling
		}
		st1, _ := n.SyncStatus()
		b.ReportMetric(float64(st1.ChunksSent-st0.ChunksSent-4), "chunks-resent")
	}
}
