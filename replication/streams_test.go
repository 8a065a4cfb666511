package replication

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// A node may hold StreamsPerNode streams of each kind, not more; another
// node, or another kind, is not concerned, and a closed stream frees its place.
func TestStreamsPerNodeAreBounded(t *testing.T) {
	s := &Service{cfg: ServiceConfig{StreamsPerNode: 2}, streams: map[streamKey]int{}}
	a := caller{node: &xasov1.EnrolledNode{NodeId: "node-a"}, commune: "00004"}
	b := caller{node: &xasov1.EnrolledNode{NodeId: "node-b"}, commune: "00008"}
	var releases []func()
	for range 2 {
		r, err := s.openStream(a, "push")
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, r)
	}
	if _, err := s.openStream(a, "push"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a third push stream: %v, want ResourceExhausted", err)
	}
	if _, err := s.openStream(a, "feed"); err != nil {
		t.Fatalf("a feed stream beside two push streams: %v", err)
	}
	if _, err := s.openStream(b, "push"); err != nil {
		t.Fatalf("another node's push stream: %v", err)
	}
	releases[0]()
	if _, err := s.openStream(a, "push"); err != nil {
		t.Fatalf("a push stream after one closed: %v", err)
	}
}
