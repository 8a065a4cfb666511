package replication_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/replication"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// scriptedNode is a node's store reduced to what the syncer needs, holding
// an outbox the test writes by hand: it lets a test send what no honest
// node's desk would write.
type scriptedNode struct {
	mu       sync.Mutex
	recs     []*xasov1.OutboxRecord
	acked    int64
	id       *xasov1.NodeIdentity
	changed  chan struct{}
	contacts int
	// reads are the from sequences of ReadOutbox, in order.
	reads []int64
	// wrongHashAt, when not 0, is a sequence whose hash the node reports
	// wrongly (its store differs from what it sent).
	wrongHashAt int64
}

func newScriptedNode(recs []*xasov1.OutboxRecord) *scriptedNode {
	return &scriptedNode{recs: recs, changed: make(chan struct{})}
}

func (s *scriptedNode) OutboxHead() (int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.recs)), s.acked
}

func (s *scriptedNode) OutboxChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *scriptedNode) ReadOutbox(from int64, maxRecords, _ int) ([]*xasov1.OutboxRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, from)
	if from < 1 || from > int64(len(s.recs)) {
		return nil, nil
	}
	end := min(int64(len(s.recs)), from-1+int64(maxRecords))
	return s.recs[from-1 : end], nil
}

func (s *scriptedNode) Acknowledge(_ context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked = max(s.acked, seq)
	return nil
}

func (s *scriptedNode) RecordHash(seq int64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case seq == 0:
		return dossier.GenesisHash(), nil
	case seq > int64(len(s.recs)):
		return nil, fmt.Errorf("no record %d", seq)
	case seq == s.wrongHashAt:
		return make([]byte, 32), nil
	}
	return s.recs[seq-1].GetHash(), nil
}

func (s *scriptedNode) FeedSequence() uint64                                    { return 0 }
func (s *scriptedNode) ApplyFeed(context.Context, []*xasov1.FeedItem) error     { return nil }
func (s *scriptedNode) NextUpload() (uint64, *xasov1.AttachmentManifest, error) { return 0, nil, nil }
func (s *scriptedNode) Chunk([]byte) ([]byte, error)                            { return nil, errors.New("no files") }
func (s *scriptedNode) Uploaded(context.Context, uint64) error                  { return nil }
func (s *scriptedNode) MustRestore() bool                                       { return false }
func (s *scriptedNode) Restored(context.Context) error                          { return nil }
func (s *scriptedNode) Restore(context.Context, []*xasov1.OutboxRecord, map[string]*xasov1.EventList) error {
	return errors.New("not a replaced machine")
}

func (s *scriptedNode) Identity() (*xasov1.NodeIdentity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, nil
}

func (s *scriptedNode) SaveIdentity(_ context.Context, id *xasov1.NodeIdentity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id = id
	return nil
}

func (s *scriptedNode) Contact(time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.contacts++
}

// replace swaps the records from seq on (a replaced machine's new chain)
// and wakes the syncer.
func (s *scriptedNode) replace(seq int64, recs []*xasov1.OutboxRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs[:seq-1:seq-1], recs...)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *scriptedNode) state() (contacts int, reads []int64, acked int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.contacts, append([]int64(nil), s.reads...), s.acked
}

// rechain sets the hashes of recs so that they chain on prev.
func rechain(t *testing.T, prev []byte, recs []*xasov1.OutboxRecord) {
	t.Helper()
	for _, r := range recs {
		r.PrevHash = prev
		h, err := dossier.RecordHash(r)
		if err != nil {
			t.Fatal(err)
		}
		r.Hash, prev = h, h
	}
}

// TestARefusedRecordBlocksItsChainUntilAnOperatorLiftsIt: a node whose
// record central refuses for its content (a leader's approval taken by a
// clerk, rightly chained) hears why, stops sending from it, and shows it;
// central shows it to the operator; once the node's chain is mended (a
// replaced machine) and the operator lifts the block, the rest goes
// through. A node whose own chain differs from central's stops too.
func TestARefusedRecordBlocksItsChainUntilAnOperatorLiftsIt(t *testing.T) {
	p := startProvince(t, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	op := p.Operator(ctx)
	const commune = "00091"
	if _, err := p.Central().PutCommune(op, &xasov1.PutCommuneRequest{Commune: &xasov1.Commune{Code: commune, Name: "Xã thử"}}); err != nil {
		t.Fatal(err)
	}
	tok, err := p.Central().CreateEnrollmentToken(op, &xasov1.CreateEnrollmentTokenRequest{CommuneCode: commune})
	if err != nil {
		t.Fatal(err)
	}

	// An honest history, in the past, with one record made wrong at bad.
	h := workload.NewHistory(commune, sample.Procedures(), sample.Calendar(), 11, time.Now().AddDate(0, -2, 0))
	var recs []*xasov1.OutboxRecord
	for range 60 {
		r, err := h.Next()
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	var bad int64
	for _, r := range recs[10:] {
		if r.GetEvent().GetAction() == dossier.Assign {
			bad = r.GetSequence()
			break
		}
	}
	if bad == 0 {
		t.Fatal("no assignment after the tenth record")
	}
	good := make([]*xasov1.OutboxRecord, len(recs))
	for i, r := range recs {
		good[i] = proto.Clone(r).(*xasov1.OutboxRecord)
	}
	recs[bad-1].Event.Role = dossier.Leader // an ASSIGN is the desk's: refused
	rechain(t, recs[bad-2].GetHash(), recs[bad-1:])
	sn := newScriptedNode(recs)

	var addrs []string
	for _, m := range p.Members() {
		addrs = append(addrs, m.Config.APIListen)
	}
	run := func() (*replication.Syncer, func()) {
		s, err := replication.NewSyncer(sn, replication.Config{
			Central: addrs, NodeID: "node-" + commune, Commune: commune,
			EnrollmentToken: func() (string, error) { return tok.GetToken(), nil },
			Heartbeat:       100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, Logger: testLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { s.Run(sctx); close(done) }()
		return s, func() { stop(); <-done }
	}
	s, stop := run()

	eventually(t, 30*time.Second, "the node hears that its record was refused", func() (bool, string) {
		st := s.Status()
		return st.Blocked != nil && st.Blocked.Sequence == bad && st.Blocked.Code == codes.PermissionDenied, fmt.Sprint(st.Blocked)
	})
	_, _, acked := sn.state()
	if acked != bad-1 {
		t.Fatalf("acknowledged %d, want %d: everything before the refused record", acked, bad-1)
	}
	// Blocked, the node sends nothing from the refused record on: three
	// more answers (heartbeats) come and no read reaches it again.
	contacts, reads, _ := sn.state()
	readsAtBlock := len(reads)
	eventually(t, 10*time.Second, "heartbeats while blocked", func() (bool, string) {
		c, _, _ := sn.state()
		return c >= contacts+3, fmt.Sprint(c)
	})
	_, reads, _ = sn.state()
	for _, from := range reads[readsAtBlock:] {
		if from >= bad {
			t.Fatalf("the blocked node read its outbox from %d again (reads %v)", from, reads[readsAtBlock:])
		}
	}
	// The operator sees it, with the reason.
	nodes, err := p.Central().ListNodes(op, &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		t.Fatal(err)
	}
	var blocked *xasov1.ChainBlock
	for _, n := range nodes.GetNodes() {
		if n.GetNode().GetCommuneCode() == commune {
			blocked = n.GetBlocked()
		} else if n.GetBlocked() != nil {
			t.Fatalf("commune %s is blocked too: %v", n.GetNode().GetCommuneCode(), n.GetBlocked())
		}
	}
	if blocked.GetSequence() != bad || blocked.GetReason() == "" || blocked.GetNodeId() != "node-"+commune {
		t.Fatalf("ListNodes shows %v for %s, want a block at %d with its reason", blocked, commune, bad)
	}

	// The machine is replaced (its chain from the refused record on is the
	// honest one) and the operator lifts the block: the rest goes through.
	sn.replace(bad, good[bad-1:])
	if _, err := p.Central().UnblockCommuneChain(op, &xasov1.UnblockCommuneChainRequest{CommuneCode: commune, Sequence: bad}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "central takes the rest", func() (bool, string) {
		_, _, acked := sn.state()
		return acked == int64(len(good)) && s.Status().Blocked == nil, fmt.Sprint(acked, s.Status().Blocked)
	})
	stop()

	// A node whose store says another hash than central holds for a record
	// both have takes nothing as acknowledged and says why.
	sn.mu.Lock()
	sn.wrongHashAt, sn.acked = int64(len(good)), int64(len(good))-5
	sn.mu.Unlock()
	s, stop = run()
	defer stop()
	eventually(t, 30*time.Second, "the node sees that central's chain differs", func() (bool, string) {
		st := s.Status()
		return st.Blocked != nil && st.Blocked.Code == codes.DataLoss && st.Blocked.Sequence == int64(len(good)), fmt.Sprint(st.Blocked, st.LastError)
	})
	if _, _, acked := sn.state(); acked != int64(len(good))-5 {
		t.Fatalf("acknowledged %d after the hashes differed, want %d", acked, len(good)-5)
	}
}
