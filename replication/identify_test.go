package replication

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/pki"
)

// registry is a member's registry of nodes as seen before and after it
// catches up with the cluster.
type registry struct {
	Central       // the rest is not called
	before, after *xasov1.EnrolledNode
	catchUpErr    error
	catchUps      int
	unbounded     bool // a catch-up was asked to wait without a deadline
}

func (r *registry) EnrolledNode(string) (*xasov1.EnrolledNode, error) {
	n := r.before
	if r.catchUps > 0 {
		n = r.after
	}
	if n == nil {
		return nil, errors.New("not found")
	}
	return n, nil
}

func (r *registry) CatchUp(ctx context.Context) error {
	r.catchUps++
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > catchUpWait {
		r.unbounded = true
	}
	return r.catchUpErr
}

// A member that has not applied a node's enrollment yet (the node enrolled
// through another member a moment ago) catches up before it judges the
// node, waiting a bounded time; what the cluster's latest state refuses
// stays refused, and a node the member knows costs no round through the log.
func TestIdentifyCatchesUpBeforeRefusing(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.NodeRequest(key, "node-00004", nil)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ca.SignNode(csr, "00004", "node-00004", pki.NamePolicy{}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf := signed.Cert
	fp := sha256.Sum256(leaf.Raw)
	enrolled := &xasov1.EnrolledNode{NodeId: "node-00004", CommuneCode: "00004", CertificateSha256: hex.EncodeToString(fp[:])}
	revoked := &xasov1.EnrolledNode{NodeId: "node-00004", CommuneCode: "00004", CertificateSha256: enrolled.GetCertificateSha256(), RevokeTime: timestamppb.New(now)}
	otherCert := &xasov1.EnrolledNode{NodeId: "node-00004", CommuneCode: "00004", CertificateSha256: "00"}
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}})
	for _, tc := range []struct {
		name          string
		before, after *xasov1.EnrolledNode
		catchUpErr    error
		want          codes.Code
		catchUps      int
	}{
		{"known to the member", enrolled, enrolled, nil, codes.OK, 0},
		{"enrolled through another member a moment ago", nil, enrolled, nil, codes.OK, 1},
		{"enrolled again through another member", otherCert, enrolled, nil, codes.OK, 1},
		{"not enrolled anywhere", nil, nil, nil, codes.PermissionDenied, 1},
		{"revoked", revoked, revoked, nil, codes.PermissionDenied, 1},
		{"the cluster cannot be asked", nil, enrolled, errors.New("no leader"), codes.Unavailable, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &registry{before: tc.before, after: tc.after, catchUpErr: tc.catchUpErr}
			s, err := NewService(ServiceConfig{Central: r})
			if err != nil {
				t.Fatal(err)
			}
			who, err := s.identify(ctx)
			if got := status.Code(err); got != tc.want {
				t.Fatalf("identify: %v, want %v", err, tc.want)
			}
			if r.catchUps != tc.catchUps {
				t.Fatalf("caught up %d times, want %d", r.catchUps, tc.catchUps)
			}
			if r.unbounded {
				t.Fatal("the catch-up could wait for ever (a leaderless cluster would hold the node's call)")
			}
			if err == nil && who.commune != "00004" {
				t.Fatalf("caller of commune %q", who.commune)
			}
		})
	}
}
