package central

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/replication"
)

// A node asks at enrollment for the names it answers to; the member signs
// those node_certificate_names allows, and never one of central's own
// (a member's id, its certificate's names, the members' addresses), even
// when the configured names would let it through.
func TestEnrollmentSignsOnlyTheNamesThePolicyAllows(t *testing.T) {
	c := newCluster(t, 3)
	m := c.leader()
	other := c.running()[0]
	if other == m {
		other = c.running()[1]
	}
	// A careless configuration: it names a member's id too.
	names, err := pki.ParseNamePolicy([]string{"xa.example", "10.31.0.0/16", other.ID()})
	if err != nil {
		t.Fatal(err)
	}
	names.Reserved = []string{"central.xa.example"} // this member's certificate's
	pair, err := c.ca.Issue(m.ID(), []string{"central.xa.example", "localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, _ := pki.APIServerConfig(pair, c.ca.CertPEM)
	peerTLS, _ := pki.ClientConfig(pair, c.ca.CertPEM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(ServerConfig{Member: m, APIAddress: ln.Addr().String(), TLS: srvTLS, PeerTLS: peerTLS,
		CAFingerprint: pki.Fingerprint(c.ca.Cert), CA: c.ca, NodeCertificateTTL: time.Hour, NodeNames: names,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ctx, ln); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	defer func() { cancel(); <-done }()

	secret, sum, err := pki.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	for _, cmd := range []*xasov1.CentralCommand{putCommune("00004", "Phường Ba Đình"), {Command: &xasov1.CentralCommand_IssueEnrollment{IssueEnrollment: &xasov1.IssueEnrollmentCommand{
		Token: &xasov1.EnrollmentToken{SecretSha256: sum, CommuneCode: "00004", ExpireTime: timestamppb.New(time.Now().Add(time.Hour))}}}}} {
		if res, err := c.write(wctx, cmd); err != nil || res.GetCode() != 0 {
			t.Fatalf("%v: %v %v", cmd, res, err)
		}
	}
	eventually(t, 15*time.Second, "the member's API address recorded", func() bool {
		ms, err := m.FSM().Members()
		return err == nil && slices.ContainsFunc(ms, func(x *xasov1.ClusterMember) bool { return x.GetId() == m.ID() })
	})

	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	token := pki.EnrollmentToken{Commune: "00004", CAFingerprint: pki.Fingerprint(c.ca.Cert), Secret: secret}.String()
	asked := []string{"xa-00004.xa.example", "central.xa.example", other.ID(), m.ID(), "elsewhere.example", "localhost", "10.31.4.10", "10.32.0.1", "127.0.0.1"}
	id, err := replication.Enroll(wctx, ln.Addr().String(), token, "00004", "node-00004", key, asked, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificate(id.GetCertificatePem())
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(cert.DNSNames, []string{"xa-00004.xa.example", "localhost"}) || !slices.Equal(ips, []string{"10.31.4.10", "127.0.0.1"}) {
		t.Fatalf("signed names %v %v", cert.DNSNames, ips)
	}
	if commune, ok := pki.NodeCommune(cert); !ok || commune != "00004" {
		t.Fatalf("commune %q %v", commune, ok)
	}

	// An API client certificate of the same CA, issued under a member's
	// name, does not pass for that member at the peer service.
	peerAs := func(certPEM []byte) context.Context {
		leaf, err := pki.ParseCertificate(certPEM)
		if err != nil {
			t.Fatal(err)
		}
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf}}}}})
	}
	api, err := c.ca.IssueAPIClient("00004", other.ID(), "leader", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.authorizePeer(peerAs(api.CertPEM)); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("an API client certificate named %s at the peer service: %v", other.ID(), err)
	}
	real, _ := c.ca.Issue(other.ID(), nil, nil, time.Hour, time.Now())
	if err := s.authorizePeer(peerAs(real.CertPEM)); err != nil {
		t.Fatalf("the member %s at the peer service: %v", other.ID(), err)
	}
}
