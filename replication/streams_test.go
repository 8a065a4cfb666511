package replication

import (
	"context"
	"errors"
	"testing"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// A node keeps at most StreamsPerNode streams of each kind: one more ends
// its oldest (left from a link that broke silently); another node, or
// another kind, is not concerned, and a released stream frees its place.
func TestANodesNewestStreamsAreKept(t *testing.T) {
	s := &Service{cfg: ServiceConfig{StreamsPerNode: 2}, streams: map[streamKey][]*openStream{}}
	a := caller{node: &xasov1.EnrolledNode{NodeId: "node-a"}, commune: "00004"}
	b := caller{node: &xasov1.EnrolledNode{NodeId: "node-b"}, commune: "00008"}
	open := func(who caller, kind string) (context.Context, func()) {
		ctx, end := context.WithCancelCause(context.Background())
		return ctx, s.register(who, kind, end)
	}
	first, _ := open(a, "push")
	second, releaseSecond := open(a, "push")
	feed, _ := open(a, "feed")
	other, _ := open(b, "push")
	if first.Err() != nil || second.Err() != nil || feed.Err() != nil || other.Err() != nil {
		t.Fatal("a stream within the bound was ended")
	}
	third, _ := open(a, "push")
	if !errors.Is(context.Cause(first), errReplaced) {
		t.Fatalf("the oldest push stream: %v, want it ended as replaced", context.Cause(first))
	}
	if second.Err() != nil || third.Err() != nil || feed.Err() != nil || other.Err() != nil {
		t.Fatal("a stream other than the oldest push stream of node-a was ended")
	}
	if n := len(s.streams[streamKey{"node-a", "push"}]); n != 2 {
		t.Fatalf("%d push streams of node-a counted, want 2", n)
	}
	releaseSecond()
	fourth, _ := open(a, "push")
	if third.Err() != nil || fourth.Err() != nil {
		t.Fatal("a stream was ended although a place was free")
	}
}
