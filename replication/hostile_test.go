package replication_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/province"
	"github.com/xaso/xaso/replication"
	"github.com/xaso/xaso/replication/linksim"
	"github.com/xaso/xaso/sample"
	"github.com/xaso/xaso/workload"
)

// A node's key can be stolen: the thief holds a real certificate of its
// commune and speaks the protocol as it likes. These tests run a real
// province (three central members, two honest nodes with clerks at work)
// and a hostile client enrolled for a third commune that sends everything
// it can think of, and check that central takes exactly what the honest
// nodes sent, keeps up with them, shows the operator the hostile
// commune's blocked chain, lets nothing of it reach the honest nodes, and
// ends its streams when it is revoked.
//
// The checks are functions of plain data (chainHead, holdings, statuses,
// metrics text, a stream's receive function), so that
// TestHostileChecksCanFail can show each of them failing on broken input.

// hostileSeed seeds the random mutations (XASO_HOSTILE_SEED replays a run).
func hostileSeed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("XASO_HOSTILE_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("XASO_HOSTILE_SEED: %v", err)
		}
	}
	t.Logf("hostile mutation seed %d (XASO_HOSTILE_SEED=%d replays it)", s, s)
	return s
}

// hostile is a client holding a real enrolled certificate of its commune.
// It keeps the commune's chain as central's answers say central holds it.
type hostile struct {
	t       *testing.T
	p       *province.Province
	commune string
	nodeID  string
	tc      *tls.Config
	conns   []*grpc.ClientConn // one for each member
	codec   *replication.Codec
	cal     *dossier.Calendar
	turn    int
	batch   uint64
	daySeq  int
	last    int64                      // the last sequence central holds
	head    []byte                     // and its hash
	access  int64                      // the last access entry central holds
	held    []*xasov1.OutboxRecord     // the records central took, in order
	model   map[string]*xasov1.Dossier // the dossiers they make, with their events
	tried   map[string]bool            // codes of dossiers written only in refused records
	outcome map[string]string          // what each attack got, for the log
	lock    sync.Mutex                 // guards outcome
}

// enrollHostile registers commune at central, issues a one-time token for
// it and enrolls a node with it, as a real node does; it returns the
// client holding the certificate central signed.
func enrollHostile(t *testing.T, p *province.Province, commune sample.Commune) *hostile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := p.Operator(ctx)
	if _, err := p.Central().PutCommune(op, &xasov1.PutCommuneRequest{Commune: &xasov1.Commune{Code: commune.Code, Name: commune.Name}}); err != nil {
		t.Fatal(err)
	}
	tok, err := p.Central().CreateEnrollmentToken(op, &xasov1.CreateEnrollmentTokenRequest{CommuneCode: commune.Code})
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewNodeKey()
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{t: t, p: p, commune: commune.Code, nodeID: "node-" + commune.Code, cal: sample.Calendar(), head: dossier.GenesisHash(),
		model: map[string]*xasov1.Dossier{}, tried: map[string]bool{}, outcome: map[string]string{}}
	// Through another member than the one that issued the token, as a
	// node may: it may not have applied the token yet, and the node tries
	// again.
	var id *xasov1.NodeIdentity
	eventually(t, 20*time.Second, "the hostile enrolls", func() (bool, string) {
		id, err = replication.Enroll(ctx, p.Members()[2].Config.APIListen, tok.GetToken(), commune.Code, h.nodeID, key, nil, nil)
		return err == nil, fmt.Sprint(err)
	})
	if h.tc, err = pki.ClientConfig(pki.Pair{CertPEM: id.GetCertificatePem(), KeyPEM: id.GetKeyPem()}, id.GetCaPem()); err != nil {
		t.Fatal(err)
	}
	h.tc.ServerName = "127.0.0.1"
	for _, m := range p.Members() {
		h.conns = append(h.conns, h.dial(m.Config.APIListen, nil))
	}
	if h.codec, err = replication.NewCodec(); err != nil {
		t.Fatal(err)
	}
	return h
}

// dial connects to a member with the hostile's certificate, over link
// when one is given.
func (h *hostile) dial(addr string, link *linksim.Link) *grpc.ClientConn {
	h.t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(h.tc.Clone())), grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64 << 20))}
	if link != nil {
		opts = append(opts, grpc.WithContextDialer(link.Dial))
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	return conn
}

// client is the replication service of the next member in turn.
func (h *hostile) client() xasov1.ReplicationServiceClient {
	h.turn++
	return xasov1.NewReplicationServiceClient(h.conns[h.turn%len(h.conns)])
}

// exchange opens a Push stream, reads central's mark, sends reqs and
// reads an answer for each.
func exchange(client xasov1.ReplicationServiceClient, reqs ...*xasov1.PushRequest) ([]*xasov1.PushResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := client.Push(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.Recv(); err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if err := s.Send(r); err != nil {
			break // the stream ended: Recv says why
		}
	}
	var out []*xasov1.PushResponse
	for range reqs {
		a, err := s.Recv()
		if err != nil {
			return out, err
		}
		out = append(out, a)
	}
	// Hang up and wait for central's end of the stream, as a node's syncer
	// does not: central keeps a node's newest few streams, and this one
	// must not count against the next.
	s.CloseSend()
	if _, err := s.Recv(); err != io.EOF {
		return out, fmt.Errorf("the stream's end: %v, want EOF", err)
	}
	return out, nil
}

// encode makes one batch of recs as a node sends it.
func (h *hostile) encode(recs ...*xasov1.OutboxRecord) *xasov1.PushRequest {
	h.t.Helper()
	h.batch++
	req := &xasov1.PushRequest{BatchId: h.batch, NodeLastSequence: h.last + int64(len(recs))}
	if err := h.codec.Encode(req, recs); err != nil {
		h.t.Fatal(err)
	}
	return req
}

// plain makes one uncompressed batch of recs.
func (h *hostile) plain(recs ...*xasov1.OutboxRecord) *xasov1.PushRequest {
	h.t.Helper()
	raw, err := proto.Marshal(&xasov1.RecordBatch{Records: recs})
	if err != nil {
		h.t.Fatal(err)
	}
	h.batch++
	return &xasov1.PushRequest{BatchId: h.batch, FirstSequence: recs[0].GetSequence(), Count: int32(len(recs)), Compression: xasov1.Compression_COMPRESSION_NONE, Records: raw}
}

// chain numbers recs after central's mark and chains them as an honest
// node would.
func (h *hostile) chain(recs ...*xasov1.OutboxRecord) []*xasov1.OutboxRecord {
	prev := h.head
	for i, r := range recs {
		r.Sequence, r.PrevHash = h.last+1+int64(i), prev
		r.Hash = recordHash(h.t, r)
		prev = r.GetHash()
	}
	return recs
}

func recordHash(t testing.TB, r *xasov1.OutboxRecord) []byte {
	sum, err := dossier.RecordHash(r)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// send pushes one batch of records to the next member and takes central's
// last answer as the chain's state: the records it acknowledged are held.
func (h *hostile) send(req *xasov1.PushRequest, recs []*xasov1.OutboxRecord) (*xasov1.PushResponse, error) {
	h.t.Helper()
	answers, err := exchange(h.client(), req)
	if err != nil || len(answers) == 0 {
		for _, r := range recs {
			h.wrote(r)
		}
		return nil, err
	}
	a := answers[len(answers)-1]
	for _, r := range recs {
		if r.GetSequence() > h.last && r.GetSequence() <= a.GetAckedSequence() {
			h.take(r)
		} else {
			h.wrote(r)
		}
	}
	if a.GetAckedSequence() < h.last {
		h.t.Fatalf("central's mark went back from %d to %d", h.last, a.GetAckedSequence())
	}
	h.last, h.head = a.GetAckedSequence(), a.GetAckedHash()
	return a, nil
}

// take folds a record central acknowledged into the model.
func (h *hostile) take(r *xasov1.OutboxRecord) {
	h.held = append(h.held, r)
	if a := r.GetAccess(); a != nil {
		h.access = a.GetSequence()
		return
	}
	d, ok := h.model[r.GetDossierCode()]
	if !ok {
		d = &xasov1.Dossier{}
		h.model[r.GetDossierCode()] = d
	}
	dossier.Apply(d, r.GetEvent())
	d.Events = append(d.Events, r.GetEvent())
	delete(h.tried, r.GetDossierCode())
}

// wrote notes the dossier code of a record central did not take (an
// access entry has none).
func (h *hostile) wrote(r *xasov1.OutboxRecord) {
	if _, ok := h.model[r.GetDossierCode()]; !ok && len(r.GetDossierCode()) < 100 && r.GetAccess() == nil {
		h.tried[r.GetDossierCode()] = true
	}
}

// unblock lifts the block of the hostile commune's chain, as an operator
// does. A leader lost while the write was in flight (Aborted: its outcome
// unknown) is asked again unless the chain is no longer blocked there.
func (h *hostile) unblock(seq int64) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		_, err := h.p.Central().UnblockCommuneChain(h.p.Operator(ctx), &xasov1.UnblockCommuneChainRequest{CommuneCode: h.commune, Sequence: seq})
		switch status.Code(err) {
		case codes.OK:
			return
		case codes.Unavailable:
		case codes.Aborted, codes.FailedPrecondition:
			// Aborted: the write may have gone through, or go through
			// yet (then a retry finds the chain not blocked).
			if blocked, rerr := h.blockedAt(ctx); rerr == nil && blocked != seq {
				return
			}
			if status.Code(err) == codes.FailedPrecondition {
				h.t.Fatalf("unblock %s at %d: %v", h.commune, seq, err)
			}
		default:
			h.t.Fatalf("unblock %s at %d: %v", h.commune, seq, err)
		}
		if ctx.Err() != nil {
			h.t.Fatalf("unblock %s at %d: %v", h.commune, seq, err)
		}
	}
}

// blockedAt is the sequence the hostile commune's chain is blocked at, as
// a linearizable read at central says (0: not blocked).
func (h *hostile) blockedAt(ctx context.Context) (int64, error) {
	resp, err := h.p.Central().ListNodes(h.p.Operator(ctx), &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		return 0, err
	}
	for _, n := range resp.GetNodes() {
		if n.GetNode().GetNodeId() == h.nodeID {
			return n.GetBlocked().GetSequence(), nil
		}
	}
	return 0, fmt.Errorf("node %s is not listed", h.nodeID)
}

// receipt is a valid RECEIVE of a new dossier of the hostile commune.
func (h *hostile) receipt() *xasov1.OutboxRecord {
	h.t.Helper()
	h.daySeq++
	now := time.Now()
	code := dossier.FormatCode(h.commune, now, h.daySeq)
	proc := sample.Procedures()[0]
	ev, err := dossier.ReceiveEvent(dossier.ReceiveInput{Code: code, CommuneCode: h.commune, Procedure: proc,
		Applicant: &xasov1.Applicant{FullName: "Nguyễn Văn An"}, Channel: xasov1.Channel_CHANNEL_IN_PERSON,
		Components: paperComponents(proc), Actor: "motcua.x", Role: dossier.Clerk, Time: now}, h.cal)
	if err != nil {
		h.t.Fatal(err)
	}
	return &xasov1.OutboxRecord{CommuneCode: h.commune, DossierCode: code, Event: ev}
}

// registerAgency gives commune an agency e-ID at central, as an operator
// does, and returns it.
func (h *hostile) registerAgency(commune string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op := h.p.Operator(ctx)
	list, err := h.p.Central().ListCommunes(op, &xasov1.ListCommunesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range list.GetCommunes() {
		if c.GetCode() == commune {
			c.AgencyId = "000.00." + commune[3:] + ".H56"
			if _, err := h.p.Central().PutCommune(op, &xasov1.PutCommuneRequest{Commune: c}); err != nil {
				h.t.Fatalf("register the e-ID of %s: %v", commune, err)
			}
			return c.GetAgencyId()
		}
	}
	h.t.Fatalf("commune %s is not registered", commune)
	return ""
}

// accessRead is a valid access entry of the hostile commune: the next of
// its log as central holds it, a read of codes.
func (h *hostile) accessRead(codes ...string) *xasov1.OutboxRecord {
	return &xasov1.OutboxRecord{CommuneCode: h.commune, Access: &xasov1.AccessEntry{Sequence: h.access + 1, Time: timestamppb.Now(), Name: "motcua.x",
		Role: dossier.Clerk, Via: "session", ClientAddress: "198.51.100.7", Kind: dossier.AccessList, DossierCodes: codes, Count: int32(len(codes))}}
}

// step is a valid event on a dossier central holds of the hostile commune.
func (h *hostile) step(code string, cmd dossier.Command) *xasov1.OutboxRecord {
	h.t.Helper()
	cmd.Time = time.Now()
	ev, err := dossier.Decide(h.model[code], cmd, h.cal)
	if err != nil {
		h.t.Fatalf("%s on %s: %v", dossier.ActionName(cmd.Action), code, err)
	}
	return &xasov1.OutboxRecord{CommuneCode: h.commune, DossierCode: code, Event: ev}
}

// honestly sends valid records, which central must take.
func (h *hostile) honestly(recs ...*xasov1.OutboxRecord) {
	h.t.Helper()
	before := h.last
	a, err := h.send(h.encode(h.chain(recs...)...), recs)
	if err != nil || a.GetBlocked() != nil || h.last != before+int64(len(recs)) {
		h.t.Fatalf("valid records of %s refused: %v, %v", h.commune, a, err)
	}
}

// note keeps what an attack got, for the log.
func (h *hostile) note(name, what string) {
	h.lock.Lock()
	defer h.lock.Unlock()
	h.outcome[name] = what
}

// refusedRecord sends recs (chained unless already chained by the caller)
// and expects central to take the records before the last and block the
// chain at the last with one of codes; it then lifts the block, unless
// keep.
func (h *hostile) refusedRecord(name string, req *xasov1.PushRequest, recs []*xasov1.OutboxRecord, keep bool, want ...codes.Code) {
	h.t.Helper()
	before := h.last
	a, err := h.send(req, recs)
	b := a.GetBlocked()
	blockedAt := before + int64(len(recs))
	if err != nil || b == nil || b.GetSequence() != blockedAt || !slices.Contains(want, codes.Code(b.GetCode())) || b.GetReason() == "" || h.last != blockedAt-1 {
		h.t.Errorf("%s: answer %v, %v; want the records before the last taken and a block at %d for %v", name, a, err, blockedAt, want)
		return
	}
	h.note(name, fmt.Sprintf("blocked at %d, %v: %s", b.GetSequence(), codes.Code(b.GetCode()), dossier.Short(b.GetReason(), 140)))
	if !keep {
		h.unblock(b.GetSequence())
	}
}

// refusedStream sends req and expects the stream to end with code, the
// chain unchanged.
func (h *hostile) refusedStream(name string, req *xasov1.PushRequest, want codes.Code) {
	h.t.Helper()
	before := h.last
	_, err := exchange(h.client(), req)
	if status.Code(err) != want {
		h.t.Errorf("%s: %v; want %v", name, err, want)
		return
	}
	if h.last != before {
		h.t.Errorf("%s: the chain moved from %d to %d", name, before, h.last)
	}
	h.note(name, fmt.Sprintf("stream ended %v: %s", status.Code(err), dossier.Short(status.Convert(err).Message(), 140)))
}

func newEvent(d *xasov1.Dossier, action xasov1.Action, role xasov1.Role, state xasov1.State) *xasov1.Event {
	return &xasov1.Event{Sequence: d.GetEventCount() + 1, Action: action, Actor: "x.1", Role: role, Time: timestamppb.Now(),
		State: state, Assignee: d.GetAssignee(), DueTime: d.GetDueTime()}
}

// attack sends every attack of the suite but the parallel ones, in turn,
// each on the hostile chain as central holds it; honest is a finished
// dossier of an honest commune, as central holds it.
func (h *hostile) attack(honest *xasov1.Dossier) {
	honestCommune := honest.GetCommuneCode()
	t := h.t
	// The hostile commune's own dossiers, as a real node would write them:
	// one RECEIVED, one AWAITING_APPROVAL.
	received, awaiting := h.receipt(), h.receipt()
	h.honestly(received, awaiting)
	h.honestly(h.step(awaiting.GetDossierCode(), dossier.Command{Action: dossier.Assign, Actor: "motcua.x", Role: dossier.Clerk, Assignee: "tuphap.x"}))
	h.honestly(h.step(awaiting.GetDossierCode(), dossier.Command{Action: dossier.Submit, Actor: "tuphap.x", Role: dossier.Officer}))
	rd, ad := h.model[received.GetDossierCode()], h.model[awaiting.GetDossierCode()]
	if ad.GetState() != dossier.AwaitingApproval {
		t.Fatalf("the hostile's dossier is %v", ad.GetState())
	}
	one := func(name string, change func(r *xasov1.OutboxRecord), want ...codes.Code) {
		t.Helper()
		r := h.receipt()
		change(r)
		h.chain(r)
		h.refusedRecord(name, h.encode(r), []*xasov1.OutboxRecord{r}, false, want...)
	}
	on := func(d *xasov1.Dossier, ev *xasov1.Event) func(r *xasov1.OutboxRecord) {
		return func(r *xasov1.OutboxRecord) { r.DossierCode, r.Event = d.GetCode(), ev }
	}

	// Records refused for their size or form (by the replication service).
	one("oversized record (70,000-byte address)", func(r *xasov1.OutboxRecord) { r.Event.Receipt.Applicant.Address = strings.Repeat("ấp ", 70_000/4) }, codes.InvalidArgument)
	one("70,000-byte dossier code", func(r *xasov1.OutboxRecord) { r.DossierCode = strings.Repeat("0", 70_000) }, codes.InvalidArgument)
	one("70,000-byte procedure code", func(r *xasov1.OutboxRecord) { r.Event.Receipt.ProcedureCode = strings.Repeat("P", 70_000) }, codes.InvalidArgument)
	one("wrong commune (an honest one's record)", func(r *xasov1.OutboxRecord) { r.CommuneCode = honestCommune }, codes.InvalidArgument)
	one("unknown action", func(r *xasov1.OutboxRecord) { r.Event.Action = 99 }, codes.InvalidArgument)
	one("unknown role", func(r *xasov1.OutboxRecord) { r.Event.Role = 7 }, codes.InvalidArgument)
	one("unknown state", func(r *xasov1.OutboxRecord) { r.Event.State = -2 }, codes.InvalidArgument)
	one("unknown channel", func(r *xasov1.OutboxRecord) { r.Event.Receipt.Channel = 1000 }, codes.InvalidArgument)
	one("far-future time", func(r *xasov1.OutboxRecord) { r.Event.Time = timestamppb.New(time.Now().AddDate(3, 0, 0)) }, codes.InvalidArgument)
	one("time before 2015", func(r *xasov1.OutboxRecord) {
		r.Event.Time = timestamppb.New(time.Date(2014, 12, 31, 0, 0, 0, 0, time.UTC))
	}, codes.InvalidArgument)
	one("101 attachments", func(r *xasov1.OutboxRecord) {
		for i := range 101 {
			r.Event.Attachments = append(r.Event.Attachments, &xasov1.AttachmentRef{Sha256: fmt.Sprintf("%064x", i), Filename: "a.pdf", SizeBytes: 1})
		}
	}, codes.InvalidArgument)
	// Records that break the chain.
	r := h.chain(h.receipt())[0]
	r.PrevHash = bytes.Repeat([]byte{7}, 32)
	r.Hash = recordHash(t, r)
	h.refusedRecord("wrong chain (prev_hash)", h.encode(r), []*xasov1.OutboxRecord{r}, false, codes.DataLoss)
	r = h.chain(h.receipt())[0]
	r.Hash = bytes.Repeat([]byte{9}, 32)
	h.refusedRecord("wrong hash", h.encode(r), []*xasov1.OutboxRecord{r}, false, codes.DataLoss)
	// A forged copy of a record central holds: a duplicate is dropped only
	// when it is the very record, so this one blocks the chain where it
	// stands (at the next sequence central expects).
	forged := proto.Clone(h.held[0]).(*xasov1.OutboxRecord)
	forged.Event.Actor = "someone.else"
	forged.Hash = recordHash(t, forged)
	next := int64(len(h.held)) + 1
	if a, err := h.send(h.encode(forged), nil); err != nil || a.GetBlocked().GetSequence() != next || codes.Code(a.GetBlocked().GetCode()) != codes.DataLoss {
		t.Errorf("a forged copy of record %d: %v, %v; want a block at %d for DataLoss", forged.GetSequence(), a, err, next)
	} else {
		h.note("forged copy of a record central holds", fmt.Sprintf("blocked at %d, %v", a.GetBlocked().GetSequence(), codes.DataLoss))
		h.unblock(next)
	}
	// Events the workflow refuses (re-decided at central).
	one("APPROVE by a CLERK", on(ad, func() *xasov1.Event {
		ev := newEvent(ad, dossier.Approve, dossier.Clerk, dossier.ResultReady)
		ev.Timeliness = dossier.OnTime
		return ev
	}()), codes.PermissionDenied)
	one("APPROVE of a RECEIVED dossier", on(rd, func() *xasov1.Event {
		ev := newEvent(rd, dossier.Approve, dossier.Leader, dossier.ResultReady)
		ev.Timeliness = dossier.OnTime
		return ev
	}()), codes.FailedPrecondition)
	one("two RECEIVEs of one code", func(r *xasov1.OutboxRecord) {
		r.DossierCode, r.Event = rd.GetCode(), proto.Clone(h.model[rd.GetCode()].GetEvents()[0]).(*xasov1.Event)
		r.Event.Sequence = rd.GetEventCount() + 1
	}, codes.FailedPrecondition)
	one("two RECEIVEs of one code, both event 1", func(r *xasov1.OutboxRecord) {
		r.DossierCode, r.Event = rd.GetCode(), proto.Clone(h.model[rd.GetCode()].GetEvents()[0]).(*xasov1.Event)
	}, codes.InvalidArgument)
	one("receipt under an honest commune's code", func(r *xasov1.OutboxRecord) {
		code := dossier.FormatCode(honestCommune, time.Now(), 9000+h.daySeq)
		r.DossierCode, r.Event.Receipt.Code = code, code
	}, codes.PermissionDenied)
	one("receipt in an honest commune's name", func(r *xasov1.OutboxRecord) { r.Event.Receipt.CommuneCode = honestCommune }, codes.PermissionDenied)
	// Decree 118/2025 art. 28: codes under agency e-IDs. Central gives the
	// honest commune and the hostile one each an e-ID; the hostile may
	// issue codes under its own, never under the honest one's, nor under
	// a competent agency with the honest commune in the sequence.
	honestAgency, hostileAgency := h.registerAgency(honestCommune), h.registerAgency(h.commune)
	own := h.receipt()
	own.DossierCode = dossier.FormatAgencyCode(hostileAgency, "", time.Now(), h.daySeq)
	own.Event.Receipt.Code = own.DossierCode
	h.honestly(own)
	one("receipt under an honest commune's agency e-ID", func(r *xasov1.OutboxRecord) {
		code := dossier.FormatAgencyCode(honestAgency, "", time.Now(), h.daySeq)
		r.DossierCode, r.Event.Receipt.Code = code, code
	}, codes.PermissionDenied)
	one("receipt under an agency with an honest commune in the sequence", func(r *xasov1.OutboxRecord) {
		code := dossier.FormatAgencyCode("000.00.00.H99", honestCommune, time.Now(), h.daySeq)
		r.DossierCode, r.Event.Receipt.Code = code, code
	}, codes.PermissionDenied)
	one("receipt under an agency the procedure does not name", func(r *xasov1.OutboxRecord) {
		code := dossier.FormatAgencyCode("000.00.00.H99", h.commune, time.Now(), h.daySeq)
		r.DossierCode, r.Event.Receipt.Code = code, code
	}, codes.PermissionDenied)
	one("event on an honest commune's dossier", on(honest, func() *xasov1.Event {
		ev := newEvent(honest, dossier.Withdraw, dossier.Clerk, dossier.Withdrawn)
		ev.Reason = "rút hồ sơ"
		return ev
	}()), codes.PermissionDenied)
	one("TRANSFER of an honest commune's dossier to the hostile", on(honest, func() *xasov1.Event {
		ev := newEvent(honest, dossier.Transfer, dossier.Clerk, dossier.Transferred)
		ev.TransferCommuneCode = h.commune
		return ev
	}()), codes.PermissionDenied)
	one("ACCEPT_TRANSFER of an honest commune's dossier", on(honest, func() *xasov1.Event {
		ev := newEvent(honest, dossier.AcceptTransfer, dossier.Clerk, dossier.Received)
		ev.Actor, ev.TransferCommuneCode = "node:"+h.commune, h.commune
		return ev
	}()), codes.FailedPrecondition)
	transfer := func(to string) *xasov1.Event {
		ev := newEvent(rd, dossier.Transfer, dossier.Clerk, dossier.Transferred)
		ev.TransferCommuneCode = to
		return ev
	}
	one("TRANSFER to \"\"", on(rd, transfer("")), codes.InvalidArgument)
	one("TRANSFER to 99999 (not registered)", on(rd, transfer("99999")), codes.FailedPrecondition)
	one("TRANSFER to itself", on(rd, transfer(h.commune)), codes.InvalidArgument)

	// Citizens' ratings (Decree 118/2025 art. 33): central re-decides them
	// as it does every event. The hostile's own dossier, returned and
	// rated once, honestly; then what a stolen node might try.
	h.honestly(h.step(awaiting.GetDossierCode(), dossier.Command{Action: dossier.Approve, Actor: "chutich.x", Role: dossier.Leader}))
	h.honestly(h.step(awaiting.GetDossierCode(), dossier.Command{Action: dossier.Return, Actor: "motcua.x", Role: dossier.Clerk}))
	rate := func(d *xasov1.Dossier) *xasov1.Event {
		ev := newEvent(d, dossier.Rate, dossier.Citizen, d.GetState())
		ev.Actor, ev.Rating = dossier.CitizenActor, workload.CitizenRating(rand.New(rand.NewPCG(3, 4)))
		return ev
	}
	ad = h.model[awaiting.GetDossierCode()]
	one("RATE by the CLERK", on(ad, func() *xasov1.Event { ev := rate(ad); ev.Role = dossier.Clerk; return ev }()), codes.PermissionDenied)
	h.honestly(h.step(awaiting.GetDossierCode(), dossier.RateCommand(workload.CitizenRating(rand.New(rand.NewPCG(1, 2))), time.Time{})))
	if ad = h.model[awaiting.GetDossierCode()]; ad.GetRating() == nil {
		t.Fatalf("the hostile's rated dossier: %v", ad)
	}
	one("RATE of an honest commune's dossier", on(honest, rate(honest)), codes.PermissionDenied)
	one("a second RATE of a dossier", on(ad, rate(ad)), codes.FailedPrecondition)
	one("RATE of a dossier still being handled", on(rd, rate(rd)), codes.FailedPrecondition)
	one("RATE with a 5,000-byte comment", on(ad, func() *xasov1.Event {
		ev := rate(ad)
		ev.Rating.Comment = strings.Repeat("x", 5000)
		return ev
	}()), codes.InvalidArgument)

	// Access entries: honest ones are taken (one naming an honest
	// commune's dossier too: a transfer shows a commune another's); a
	// forged one blocks the chain as an event does.
	first, second := h.accessRead(rd.GetCode()), h.accessRead(ad.GetCode(), honest.GetCode())
	second.Access.Sequence++ // the log's next but one, sent with the next
	h.honestly(first, second)
	h.honestly(h.receipt(), h.accessRead(rd.GetCode()))
	if h.access != 3 {
		t.Fatalf("central holds %d access entries of the hostile, 3 were sent", h.access)
	}
	access := func(name string, change func(r *xasov1.OutboxRecord), want ...codes.Code) {
		t.Helper()
		r := h.accessRead(rd.GetCode())
		change(r)
		h.chain(r)
		h.refusedRecord(name, h.encode(r), []*xasov1.OutboxRecord{r}, false, want...)
	}
	access("access entry of an honest commune", func(r *xasov1.OutboxRecord) { r.CommuneCode = honestCommune }, codes.InvalidArgument)
	access("access entry 70,000 bytes long", func(r *xasov1.OutboxRecord) { r.Access.Filter = strings.Repeat("lọc ", 70_000/5) }, codes.InvalidArgument)
	access("access entry naming 600 dossiers", func(r *xasov1.OutboxRecord) {
		r.Access.DossierCodes = nil
		for i := range 600 {
			r.Access.DossierCodes = append(r.Access.DossierCodes, dossier.FormatCode(h.commune, time.Now(), i+1))
		}
		r.Access.Count = 600
	}, codes.InvalidArgument)
	access("access entry a week ahead", func(r *xasov1.OutboxRecord) { r.Access.Time = timestamppb.New(time.Now().AddDate(0, 0, 7)) }, codes.InvalidArgument)
	access("access entry in 2014", func(r *xasov1.OutboxRecord) {
		r.Access.Time = timestamppb.New(time.Date(2014, 12, 31, 0, 0, 0, 0, time.UTC))
	}, codes.InvalidArgument)
	access("access entry skipping one of the log", func(r *xasov1.OutboxRecord) { r.Access.Sequence++ }, codes.InvalidArgument)
	access("access entry again (the log's last)", func(r *xasov1.OutboxRecord) { r.Access.Sequence-- }, codes.InvalidArgument)
	access("access entry with an event", func(r *xasov1.OutboxRecord) { r.Event = h.receipt().GetEvent() }, codes.InvalidArgument)
	access("access entry of an unknown kind", func(r *xasov1.OutboxRecord) { r.Access.Kind = 42 }, codes.InvalidArgument)
	access("access entry with a line break in the name", func(r *xasov1.OutboxRecord) { r.Access.Name = "motcua.x\nchutich" }, codes.InvalidArgument)
	r = h.chain(h.accessRead(rd.GetCode()))[0]
	r.Access.Name = "someone.else" // after hashing
	h.refusedRecord("access entry changed after hashing", h.encode(r), []*xasov1.OutboxRecord{r}, false, codes.DataLoss)

	// Batches central cannot read: the stream ends, the chain stays.
	ok := h.encode(h.chain(h.receipt())...)
	garbage := proto.Clone(ok).(*xasov1.PushRequest)
	garbage.Records = []byte("not zstd at all, not a batch of records")
	h.refusedStream("undecodable batch", garbage, codes.InvalidArgument)
	truncated := proto.Clone(ok).(*xasov1.PushRequest)
	truncated.Records = truncated.Records[:len(truncated.Records)/2]
	h.refusedStream("truncated batch", truncated, codes.InvalidArgument)
	miscount := proto.Clone(ok).(*xasov1.PushRequest)
	miscount.Count = 5
	h.refusedStream("batch announcing 5 records, holding 1", miscount, codes.InvalidArgument)
	misnumbered := proto.Clone(ok).(*xasov1.PushRequest)
	misnumbered.FirstSequence += 3
	h.refusedStream("batch numbered from another sequence", misnumbered, codes.InvalidArgument)
	unknown := proto.Clone(ok).(*xasov1.PushRequest)
	unknown.Compression = 42
	h.refusedStream("unknown compression", unknown, codes.InvalidArgument)
	dict := proto.Clone(ok).(*xasov1.PushRequest)
	dict.DictionaryId = 99
	h.refusedStream("unknown dictionary", dict, codes.InvalidArgument)
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	bomb := &xasov1.PushRequest{BatchId: 1, FirstSequence: h.last + 1, Count: 1, Compression: xasov1.Compression_COMPRESSION_ZSTD,
		Records: enc.EncodeAll(make([]byte, 16<<20), nil)}
	enc.Close()
	h.refusedStream(fmt.Sprintf("zstd bomb (%d bytes, 16 MiB decoded)", len(bomb.GetRecords())), bomb, codes.InvalidArgument)
	over := &xasov1.PushRequest{BatchId: 2, FirstSequence: h.last + 1, Count: 1, Compression: xasov1.Compression_COMPRESSION_NONE, Records: bytes.Repeat([]byte{0x0a, 0x00}, 1300<<10)}
	h.refusedStream("batch over 2 MiB decoded", over, codes.InvalidArgument)
	h.refusedStream("17 MiB message", &xasov1.PushRequest{BatchId: 3, Records: make([]byte, 17<<20)}, codes.ResourceExhausted)

	// A huge batch: 1,000 valid records and a refused one at its end. The
	// valid ones are taken, the chain blocks at the last.
	var huge []*xasov1.OutboxRecord
	for range 1000 {
		huge = append(huge, h.receipt())
	}
	bad := h.receipt()
	bad.Event.Time = timestamppb.New(time.Now().AddDate(0, 0, 3))
	huge = h.chain(append(huge, bad)...)
	h.refusedRecord("huge batch: 1,000 valid records and a future one", h.encode(huge...), huge, false, codes.InvalidArgument)
}

// mutate changes one thing of a record at random (the chain made whole
// again, unless the change is to the chain), the way a fuzzer would.
func mutate(rng *rand.Rand, r *xasov1.OutboxRecord, honestCommune, honestCode string) (string, bool) {
	ev := r.GetEvent()
	str := func() string {
		n := []int{0, 1, 40, 41, 64, 65, 128, 129, 200, 201, 255, 256, 2000, 2001, 70_000}[rng.IntN(15)]
		return strings.Repeat([]string{"a", "7", "\x00", "\n", "ệ", " ", "-", "/"}[rng.IntN(8)], n)
	}
	when := func() *timestamppb.Timestamp {
		return []*timestamppb.Timestamp{nil, {}, timestamppb.New(time.Date(2014, 12, 31, 0, 0, 0, 0, time.UTC)), timestamppb.New(time.Now().Add(23 * time.Hour)),
			timestamppb.New(time.Now().Add(25 * time.Hour)), timestamppb.New(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)), {Seconds: 1 << 40}, {Nanos: -1},
			timestamppb.New(time.Date(2015, 1, 2, 0, 0, 0, 0, time.UTC))}[rng.IntN(9)]
	}
	enum := func() int32 { return []int32{-1, 0, 1, 2, 5, 14, 15, 99, 1 << 30}[rng.IntN(9)] }
	switch op := rng.IntN(25); op {
	case 0:
		r.DossierCode = str()
		return "dossier_code: a string", true
	case 1:
		r.DossierCode = honestCode
		return "dossier_code: an honest commune's", true
	case 2:
		r.CommuneCode = []string{honestCommune, "", "99999", "abcde"}[rng.IntN(4)]
		return "commune_code", true
	case 3:
		r.PrevHash = []byte{1, 2, 3}
		return "prev_hash: 3 bytes", true
	case 4:
		r.Hash = bytes.Repeat([]byte{4}, 32)
		return "hash: another", false
	case 5:
		ev.Action = xasov1.Action(enum())
		return "action", true
	case 6:
		ev.Role = xasov1.Role(enum())
		return "role", true
	case 7:
		ev.State = xasov1.State(enum())
		return "state", true
	case 8:
		ev.Time = when()
		return "time", true
	case 9:
		ev.Actor = str()
		return "actor", true
	case 10:
		ev.Reason = str()
		return "reason", true
	case 11:
		ev.Assignee = str()
		return "assignee", true
	case 12:
		ev.TransferCommuneCode = []string{"", "99999", honestCommune, r.GetCommuneCode(), "1"}[rng.IntN(5)]
		return "transfer_commune_code", true
	case 13:
		ev.Sequence = []int64{-1, 0, 2, 3, 10_001, 1 << 40}[rng.IntN(6)]
		return "event sequence", true
	case 14:
		if rng.IntN(2) == 0 {
			ev.DueTime = when()
		} else {
			ev.AppointmentTime = when()
		}
		return "due or appointment time", true
	case 15:
		ev.Satisfaction, ev.Timeliness = xasov1.Satisfaction(enum()), xasov1.Timeliness(enum())
		return "satisfaction, timeliness", true
	case 16:
		n := []int{1, 100, 101, 500}[rng.IntN(4)]
		ev.Components = nil
		for i := range n {
			ev.Components = append(ev.Components, &xasov1.SubmittedComponent{Code: fmt.Sprint("C", i), AttachmentSha256: []string{fmt.Sprintf("%064x", i)}})
		}
		return fmt.Sprintf("%d components", n), true
	case 17:
		ev.Attachments = append(ev.Attachments, &xasov1.AttachmentRef{Sha256: []string{"x", strings.Repeat("F", 64), fmt.Sprintf("%064x", 1)}[rng.IntN(3)],
			Filename: str(), SizeBytes: []int64{-1, 0, 1, dossier.MaxFileBytes + 1}[rng.IntN(4)]})
		return "an attachment", true
	case 18:
		if ev.GetReceipt() == nil {
			ev.Receipt = &xasov1.Receipt{}
		}
		rc := ev.Receipt
		switch rng.IntN(6) {
		case 0:
			rc.Code = dossier.FormatCode(honestCommune, time.Now(), 1+rng.IntN(9000))
		case 1:
			rc.CommuneCode = honestCommune
		case 2:
			rc.ProcedureCode = str()
		case 3:
			rc.Channel = xasov1.Channel(enum())
		case 4:
			rc.ProcessingDays = enum()
		default:
			rc.Applicant = &xasov1.Applicant{FullName: str(), IdNumber: str()}
		}
		return "receipt field", true
	case 19:
		r.Event = nil
		return "no event", true
	case 20:
		raw := protowire.AppendTag(nil, protowire.Number(100+rng.IntN(1000)), protowire.BytesType)
		ev.ProtoReflect().SetUnknown(protowire.AppendBytes(raw, []byte(str())))
		return "unknown field", true
	case 21:
		ev.Receipt = nil
		return "no receipt", true
	case 22:
		ev.Action, ev.State = dossier.Transfer, dossier.Transferred
		ev.TransferCommuneCode = []string{"", "99999"}[rng.IntN(2)]
		return "a TRANSFER nowhere", true
	case 23:
		// A citizen's rating: on this record's event (a receipt or a step on
		// a dossier being handled, never rateable), or carried by it.
		rating := workload.CitizenRating(rng)
		if rng.IntN(2) == 0 {
			rating.Comment = str()
		}
		ev.Rating = rating
		if rng.IntN(2) == 0 {
			ev.Action, ev.Role, ev.Actor, ev.Receipt = dossier.Rate, dossier.Citizen, dossier.CitizenActor, nil
			return "a RATE", true
		}
		return "a rating on another action", true
	default:
		r.Sequence += []int64{-1, 1, 5}[rng.IntN(3)]
		return "record sequence", false
	}
}

// mutateAccess changes one field of an access entry at random.
func mutateAccess(rng *rand.Rand, a *xasov1.AccessEntry, honestCode string) string {
	str := func() string {
		n := []int{0, 1, 32, 33, 128, 129, 1000, 1001, 70_000}[rng.IntN(9)]
		return strings.Repeat([]string{"a", "\x00", "\n", "ệ", " ", "/"}[rng.IntN(6)], n)
	}
	switch rng.IntN(11) {
	case 0:
		a.Sequence += []int64{-1, 1, 5, -a.GetSequence()}[rng.IntN(4)]
		return "access sequence"
	case 1:
		a.Time = []*timestamppb.Timestamp{nil, {}, timestamppb.New(time.Now().Add(25 * time.Hour)), timestamppb.New(time.Now().Add(23 * time.Hour)), {Nanos: -1}}[rng.IntN(5)]
		return "access time"
	case 2:
		a.Name = str()
		return "access name"
	case 3:
		a.Role = xasov1.Role([]int32{-1, 0, 3, 4, 99}[rng.IntN(5)])
		return "access role"
	case 4:
		a.Via = str()
		return "access via"
	case 5:
		a.ClientAddress = str()
		return "access address"
	case 6:
		a.Kind = xasov1.AccessKind([]int32{-1, 0, 1, 5, 7, 1 << 20}[rng.IntN(6)])
		return "access kind"
	case 7:
		a.DossierCodes = append(a.DossierCodes, []string{honestCode, "x", str()}[rng.IntN(3)])
		a.Count = int32(len(a.GetDossierCodes()))
		return "access dossier codes"
	case 8:
		a.Filter = str()
		return "access filter"
	case 9:
		a.AttachmentSha256 = []string{strings.Repeat("a", 64), "x", ""}[rng.IntN(3)]
		return "access file"
	default:
		a.Count = []int32{-1, 0, 1_000_001, 7}[rng.IntN(4)]
		return "access count"
	}
}

// mutations sends n valid records of the hostile commune, each changed at
// random: central takes each or refuses it (blocking the chain, which is
// then lifted), and answers in step with the chain.
func (h *hostile) mutations(seed uint64, n int, honest *xasov1.Dossier) {
	honestCommune, honestCode := honest.GetCommuneCode(), honest.GetCode()
	t := h.t
	rng := rand.New(rand.NewPCG(seed, 0x4057))
	counts := map[string]int{}
	for i := range n {
		var r *xasov1.OutboxRecord
		if rng.IntN(4) == 0 {
			// An access entry, changed in one of its fields.
			r = h.accessRead(h.openReceived())
			if r.Access.DossierCodes[0] == "" {
				r.Access.DossierCodes, r.Access.Count = nil, 0
			}
			h.chain(r)
			what := mutateAccess(rng, r.Access, honestCode)
			r.Hash = recordHash(t, r)
			before := h.last
			a, err := h.send(h.encode(r), []*xasov1.OutboxRecord{r})
			switch {
			case err != nil:
				t.Errorf("mutation %d (%s): the stream ended: %v", i, what, err)
				return
			case a.GetBlocked() != nil:
				counts["access entry refused, blocked"]++
				h.unblock(a.GetBlocked().GetSequence())
			case h.last == before+1:
				counts["access entry taken"]++
			default:
				t.Errorf("mutation %d (%s): the chain moved from %d to %d, not blocked", i, what, before, h.last)
			}
			continue
		}
		if open := h.openReceived(); open != "" && rng.IntN(3) == 0 {
			r = h.step(open, []dossier.Command{{Action: dossier.Assign, Actor: "motcua.x", Role: dossier.Clerk, Assignee: "tuphap.x"},
				{Action: dossier.Withdraw, Actor: "motcua.x", Role: dossier.Clerk, Reason: "công dân rút"}}[rng.IntN(2)])
		} else {
			r = h.receipt()
		}
		h.chain(r)
		what, rechain := mutate(rng, r, honestCommune, honestCode)
		if rechain && r.GetEvent() != nil {
			r.Hash = recordHash(t, r)
		}
		before := h.last
		req := h.encode(r)
		if r.GetSequence() != before+1 {
			req = h.plain(r) // numbered as the record says
		}
		a, err := h.send(req, []*xasov1.OutboxRecord{r})
		switch {
		case err != nil:
			t.Errorf("mutation %d (%s): the stream ended: %v", i, what, err)
			return
		case a.GetBlocked() != nil:
			counts["refused, blocked"]++
			if h.last != before {
				t.Errorf("mutation %d (%s): blocked at %d, yet the chain moved from %d to %d", i, what, a.GetBlocked().GetSequence(), before, h.last)
			}
			h.unblock(a.GetBlocked().GetSequence())
		case h.last == before+1:
			counts["taken"]++
		case h.last == before:
			counts["not taken, not blocked (a gap, or not the next record)"]++
			if r.GetSequence() == before+1 {
				t.Errorf("mutation %d (%s): the next record neither taken nor blocking: %v", i, what, a)
			}
		default:
			t.Errorf("mutation %d (%s): the chain moved from %d to %d for one record", i, what, before, h.last)
		}
	}
	h.note(fmt.Sprintf("%d random mutations", n), fmt.Sprint(counts))
}

// openReceived is a dossier of the hostile commune central holds RECEIVED.
func (h *hostile) openReceived() string {
	var open []string
	for code, d := range h.model {
		if d.GetState() == dossier.Received {
			open = append(open, code)
		}
	}
	slices.Sort(open)
	if len(open) == 0 {
		return ""
	}
	return open[0]
}

// parallelStreams prepares many streams (bounded: conns connections of
// per streams each), each to send a batch of the records dup, which
// central holds; run opens them at once.
func (h *hostile) parallelStreams(conns, per int, dup []*xasov1.OutboxRecord) *parallelStreams {
	ps := &parallelStreams{dup: len(dup)}
	for c := range conns {
		conn := h.dial(h.p.Members()[c%len(h.p.Members())].Config.APIListen, nil)
		for range per {
			ps.conns, ps.reqs = append(ps.conns, conn), append(ps.reqs, h.encode(dup...))
		}
	}
	return ps
}

type parallelStreams struct {
	conns []*grpc.ClientConn
	reqs  []*xasov1.PushRequest
	dup   int
	done  atomic.Int32 // streams answered or ended by central
	alive atomic.Int32 // streams answered and not ended by central since
}

// settled is how many streams were answered or ended so far.
func (ps *parallelStreams) settled() int { return int(ps.done.Load()) }

// open is how many answered streams central has not ended.
func (ps *parallelStreams) open() int { return int(ps.alive.Load()) }

// run opens the streams at once; each sends its batch and expects it
// answered as duplicates — or the stream ended as Aborted, central keeping
// a node's newest streams only — and stays open until release is closed
// or central ends it. It returns how many were answered and how many ended
// before their answer, and the first other error.
func (ps *parallelStreams) run(release <-chan struct{}) (answered, replaced int, err error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make(chan error, len(ps.reqs))
	for i, req := range ps.reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := xasov1.NewReplicationServiceClient(ps.conns[i]).Push(ctx)
			if err == nil {
				_, err = s.Recv()
			}
			if err == nil {
				if err = s.Send(req); err == io.EOF {
					_, err = s.Recv() // central ended the stream: its status says why
				}
			}
			var a *xasov1.PushResponse
			if err == nil {
				a, err = s.Recv()
			}
			if err == nil && (a.GetDuplicates() != int32(ps.dup) || a.GetAccepted() != 0) {
				err = fmt.Errorf("a batch of %d records central holds: %v", ps.dup, a)
			}
			mu.Lock()
			switch {
			case err == nil:
				answered++
				ps.alive.Add(1)
			case status.Code(err) == codes.Aborted:
				replaced++
			}
			mu.Unlock()
			ps.done.Add(1)
			if err != nil {
				if status.Code(err) != codes.Aborted {
					errs <- err
				}
				return
			}
			ended := make(chan error, 1)
			go func() { _, err := s.Recv(); ended <- err }()
			select {
			case err := <-ended: // central ended it for a newer one
				ps.alive.Add(-1)
				if status.Code(err) != codes.Aborted {
					errs <- fmt.Errorf("an idle stream ended: %v, want Aborted", err)
				}
			case <-release: // held open, idle, until now
				s.CloseSend()
			}
		}()
	}
	wg.Wait()
	close(errs)
	return answered, replaced, <-errs
}

// slow prepares a batch of records central holds, uncompressed, on a
// link of 8 KiB/s (seconds for the batch); the function it returns sends
// it and returns central's answer.
func (h *hostile) slow(dup []*xasov1.OutboxRecord) func() (*xasov1.PushResponse, time.Duration, error) {
	link := linksim.New(linksim.Profile{BytesPerSecond: 8 << 10})
	conn := h.dial(h.p.Members()[0].Config.APIListen, link)
	req := h.plain(dup...)
	return func() (*xasov1.PushResponse, time.Duration, error) { return sendSlow(conn, req) }
}

func sendSlow(conn *grpc.ClientConn, req *xasov1.PushRequest) (*xasov1.PushResponse, time.Duration, error) {
	start := time.Now()
	answers, err := exchange(xasov1.NewReplicationServiceClient(conn), req)
	if err != nil {
		return nil, time.Since(start), err
	}
	return answers[0], time.Since(start), nil
}

// Checks, on plain data.

// chainHead is the last record of a commune's chain.
type chainHead struct {
	seq  int64
	hash []byte
}

// holdings is what one side holds: each commune's chain head, and every
// dossier with its events.
type holdings struct {
	heads    map[string]chainHead
	dossiers map[string]*xasov1.Dossier
}

// checkCentralHoldsExactly: central holds exactly what the nodes sent —
// each commune's chain to the same record, each dossier with the same
// events (looked up by every code sent or tried), no dossier no node sent,
// and a province report equal to the one the sent dossiers make.
func checkCentralHoldsExactly(sent, atCentral holdings, report []*xasov1.PerformanceRow, asOf time.Time) error {
	var errs []error
	for c, h := range sent.heads {
		got, ok := atCentral.heads[c]
		if !ok || got.seq != h.seq || (h.seq > 0 && !bytes.Equal(got.hash, h.hash)) {
			errs = append(errs, fmt.Errorf("commune %s: central's chain ends at %d (%x), the node's at %d (%x)", c, got.seq, got.hash, h.seq, h.hash))
		}
	}
	var ds []*xasov1.Dossier
	for code, d := range sent.dossiers {
		ds = append(ds, d)
		got, ok := atCentral.dossiers[code]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not at central", code))
			continue
		}
		if got.GetCommuneCode() != d.GetCommuneCode() || got.GetState() != d.GetState() || len(got.GetEvents()) != len(d.GetEvents()) {
			errs = append(errs, fmt.Errorf("%s: central has it at %s, %v, %d events; sent at %s, %v, %d events", code, got.GetCommuneCode(), got.GetState(),
				len(got.GetEvents()), d.GetCommuneCode(), d.GetState(), len(d.GetEvents())))
			continue
		}
		for i := range d.GetEvents() {
			if !proto.Equal(got.GetEvents()[i], d.GetEvents()[i]) {
				errs = append(errs, fmt.Errorf("%s: event %d differs", code, i+1))
				break
			}
		}
	}
	for code := range atCentral.dossiers {
		if _, ok := sent.dossiers[code]; !ok {
			errs = append(errs, fmt.Errorf("%s: at central, sent by no node", code))
		}
	}
	want := central.ReportFromDossiers(ds, asOf)
	if len(report) != len(want) {
		errs = append(errs, fmt.Errorf("report: %d rows, the dossiers sent make %d", len(report), len(want)))
	} else {
		for i, r := range report {
			w := want[i]
			if r.GetMonth() != w.GetMonth() || r.GetCommuneCode() != w.GetCommuneCode() || r.GetProcedureCode() != w.GetProcedureCode() ||
				!proto.Equal(r.GetCounts(), w.GetCounts()) || r.GetOverdueNow() != w.GetOverdueNow() {
				errs = append(errs, fmt.Errorf("report row %d: %v, the dossiers sent make %v", i, r, w))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// checkCaughtUp: central's status of each honest commune says it holds
// the node's whole chain (lag 0, acknowledged up to the node's head).
func checkCaughtUp(statuses []*xasov1.NodeStatus, nodes map[string]chainHead) error {
	var errs []error
	for c, h := range nodes {
		i := slices.IndexFunc(statuses, func(s *xasov1.NodeStatus) bool { return s.GetNode().GetCommuneCode() == c })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s: no status at central", c))
			continue
		}
		s := statuses[i]
		if s.GetLagEvents() != 0 || s.GetAckedSequence() != h.seq || s.GetNodeLastSequence() > h.seq {
			errs = append(errs, fmt.Errorf("%s: lag %d, central at %d (node reported %d), the node at %d", c, s.GetLagEvents(), s.GetAckedSequence(), s.GetNodeLastSequence(), h.seq))
		}
	}
	return errors.Join(errs...)
}

var blockedMetric = regexp.MustCompile(`(?m)^xaso_central_chain_blocked_sequence\{([^}]*)\} (\S+)$`)

// checkBlockedVisible: the operator sees the hostile commune's chain
// blocked, with a reason, in ListNodes and in a member's metrics; no
// honest commune's chain is blocked.
func checkBlockedVisible(statuses []*xasov1.NodeStatus, hostile string, honest []string, metrics string) error {
	var errs []error
	var block *xasov1.ChainBlock
	for _, s := range statuses {
		c := s.GetNode().GetCommuneCode()
		switch {
		case c == hostile:
			block = s.GetBlocked()
		case slices.Contains(honest, c) && s.GetBlocked() != nil:
			errs = append(errs, fmt.Errorf("honest commune %s is blocked: %v", c, s.GetBlocked()))
		}
	}
	if block == nil || block.GetSequence() < 1 || strings.TrimSpace(block.GetReason()) == "" || block.GetCode() == 0 || block.GetTime() == nil {
		errs = append(errs, fmt.Errorf("the hostile commune %s's status shows no block with a reason: %v", hostile, block))
	}
	seen := map[string]float64{}
	for _, m := range blockedMetric.FindAllStringSubmatch(metrics, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("metric %q: %v", m[0], err))
			continue
		}
		for _, l := range strings.Split(m[1], ",") {
			if c, ok := strings.CutPrefix(l, `commune="`); ok {
				seen[strings.TrimSuffix(c, `"`)] = v
			}
		}
	}
	if v, ok := seen[hostile]; !ok || v <= 0 || (block != nil && v != float64(block.GetSequence())) {
		errs = append(errs, fmt.Errorf("xaso_central_chain_blocked_sequence of %s is %v (present %v), its status says %d", hostile, v, ok, block.GetSequence()))
	}
	for _, c := range honest {
		if seen[c] != 0 {
			errs = append(errs, fmt.Errorf("xaso_central_chain_blocked_sequence of honest %s is %v", c, seen[c]))
		}
	}
	return errors.Join(errs...)
}

// checkNothingFrom: no dossier of commune (numbered by it, or held by it)
// is at any of the nodes.
func checkNothingFrom(commune string, atNodes map[string][]*xasov1.Dossier) error {
	var errs []error
	for at, ds := range atNodes {
		for _, d := range ds {
			pc, err := dossier.ParseCode(d.GetCode())
			if err != nil || pc.Commune == commune || d.GetCommuneCode() == commune || d.GetTransferCommuneCode() == commune {
				errs = append(errs, fmt.Errorf("node %s holds %s (commune %s, transferred to %q) from the hostile commune %s", at, d.GetCode(), d.GetCommuneCode(), d.GetTransferCommuneCode(), commune))
			}
		}
	}
	return errors.Join(errs...)
}

// checkFeedItems: every feed item a commune's stream carried was for all
// communes or for it.
func checkFeedItems(commune string, items []*xasov1.FeedItem) error {
	for _, it := range items {
		if !it.GetBroadcast() && it.GetCommuneCode() != commune {
			return fmt.Errorf("feed item %d for commune %s reached %s", it.GetSequence(), it.GetCommuneCode(), commune)
		}
	}
	return nil
}

// checkMembersUp: every member answered.
func checkMembersUp(answers map[string]error) error {
	var errs []error
	for m, err := range answers {
		if err != nil {
			errs = append(errs, fmt.Errorf("member %s: %w", m, err))
		}
	}
	if len(answers) == 0 {
		errs = append(errs, errors.New("no member asked"))
	}
	return errors.Join(errs...)
}

// checkStreamEnds: the stream recv reads ends within the time given, refused
// with PermissionDenied; the items it carried meanwhile go to items.
func checkStreamEnds(recv func() error, within time.Duration) error {
	done := make(chan error, 1)
	go func() {
		for {
			if err := recv(); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if status.Code(err) != codes.PermissionDenied {
			return fmt.Errorf("the stream ended with %v, not PermissionDenied", err)
		}
		return nil
	case <-time.After(within):
		return fmt.Errorf("the stream is still open after %v", within)
	}
}

// Gathering the data the checks take, from the running province.

// nodeHoldings is what the honest nodes hold: their chain heads, every
// dossier once (a transferred one where it went) with its events, and the
// dossiers each node lists.
func nodeHoldings(t *testing.T, p *province.Province) (holdings, map[string][]*xasov1.Dossier) {
	t.Helper()
	out := holdings{heads: map[string]chainHead{}, dossiers: map[string]*xasov1.Dossier{}}
	listed := map[string][]*xasov1.Dossier{}
	for _, n := range p.Nodes() {
		nd := n.Node()
		last, hash := headHash(t, nd)
		out.heads[n.Commune.Code] = chainHead{last, hash}
		listed[n.Commune.Code] = allDossiers(t, nd)
		for _, d := range listed[n.Commune.Code] {
			if prev, ok := out.dossiers[d.GetCode()]; ok && d.GetState() == dossier.Transferred && prev.GetState() != dossier.Transferred {
				continue // the owner's copy is in already
			}
			out.dossiers[d.GetCode()] = fullDossier(t, nd, d.GetCode())
		}
	}
	return out, listed
}

// centralHoldings reads what central holds of the given communes and codes.
func centralHoldings(t *testing.T, p *province.Province, communes []string, asked map[string]bool) (holdings, []*xasov1.NodeStatus) {
	t.Helper()
	ctx := p.Records(context.Background())
	nodes, err := p.Central().ListNodes(ctx, &xasov1.ListNodesRequest{Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE})
	if err != nil {
		t.Fatal(err)
	}
	out := holdings{heads: map[string]chainHead{}, dossiers: map[string]*xasov1.Dossier{}}
	for _, s := range nodes.GetNodes() {
		if slices.Contains(communes, s.GetNode().GetCommuneCode()) {
			out.heads[s.GetNode().GetCommuneCode()] = chainHead{s.GetAckedSequence(), s.GetAckedHash()}
		}
	}
	for code := range asked {
		if _, err := dossier.ParseCode(code); err != nil {
			continue // not a code central can be asked about
		}
		got, err := p.Central().GetProvinceDossier(ctx, &xasov1.GetProvinceDossierRequest{Code: code})
		switch status.Code(err) {
		case codes.OK:
			out.dossiers[code] = got.GetDossier()
		case codes.NotFound:
		default:
			t.Fatalf("%s at central: %v", code, err)
		}
	}
	return out, nodes.GetNodes()
}

// reportRows is central's province report by month, commune and procedure,
// from 2015 (the earliest time central takes) to a year ahead, asked ten
// years at a time (the most one report covers).
func reportRows(t *testing.T, p *province.Province, asOf time.Time) []*xasov1.PerformanceRow {
	t.Helper()
	var rows []*xasov1.PerformanceRow
	end := time.Now().AddDate(1, 0, 0)
	for from := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC); !from.After(end); from = from.AddDate(10, 0, 0) {
		rep, err := p.Central().GetPerformanceReport(p.Operator(context.Background()), &xasov1.GetPerformanceReportRequest{
			FromMonth: from.Format("2006-01"), ToMonth: from.AddDate(10, -1, 0).Format("2006-01"), GroupBy: []string{"month", "commune", "procedure"},
			AsOfTime: timestamppb.New(asOf), Consistency: xasov1.ReadConsistency_READ_CONSISTENCY_LINEARIZABLE,
		})
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rep.GetRows()...)
	}
	return rows
}

// ackedOf is the last sequence central holds of each commune.
func ackedOf(t *testing.T, p *province.Province, communes []string) map[string]int64 {
	t.Helper()
	resp, err := p.Central().ListNodes(p.Operator(context.Background()), &xasov1.ListNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, s := range resp.GetNodes() {
		if slices.Contains(communes, s.GetNode().GetCommuneCode()) {
			out[s.GetNode().GetCommuneCode()] = s.GetAckedSequence()
		}
	}
	return out
}

// membersAnswer asks each member, on its own address, for the cluster.
func membersAnswer(t *testing.T, p *province.Province) map[string]error {
	t.Helper()
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	out := map[string]error{}
	for _, m := range p.Members() {
		conn, err := grpc.NewClient("passthrough:///"+m.Config.APIListen, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})))
		if err != nil {
			out[m.Config.ID] = err
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = xasov1.NewCentralServiceClient(conn).GetCluster(p.Operator(ctx), &xasov1.GetClusterRequest{})
		cancel()
		conn.Close()
		out[m.Config.ID] = err
	}
	return out
}

// metricsText is a member's /metrics page.
func metricsText(t *testing.T, p *province.Province, member int) (string, error) {
	t.Helper()
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		return "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	https := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := https.Get(p.Members()[member].URL + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// TestHostileNodeCannotHurtTheProvince: two honest nodes work with their
// clerks while a client holding a real enrolled certificate of a third
// commune sends every attack; afterwards every member is up, the honest
// nodes are caught up within seconds, central holds exactly what they
// sent (and what of the hostile's it took, nothing more), the hostile
// commune's chain is blocked where the operator sees it, nothing of it
// reached the honest nodes, and its streams end when it is revoked.
func TestHostileNodeCannotHurtTheProvince(t *testing.T) {
	start := time.Now()
	p := startProvince(t, 2, nil)
	honest := []string{p.Nodes()[0].Commune.Code, p.Nodes()[1].Commune.Code}
	h := enrollHostile(t, p, sample.SampleProvince().Communes[2])
	eventually(t, 30*time.Second, "the honest nodes enroll", func() (bool, string) { return converged(t, p) })
	t.Logf("province up, hostile %s enrolled: %v", h.commune, time.Since(start).Round(time.Millisecond))

	seed := hostileSeed(t)
	ctx, stopClerks := context.WithCancel(context.Background())
	wg := clerks(ctx, p, 10*time.Millisecond, seed)
	defer func() { stopClerks(); wg.Wait() }()

	// A finished dossier of an honest commune, as central holds it, for
	// the attacks on honest dossiers.
	var honestDossier *xasov1.Dossier
	eventually(t, 60*time.Second, "a finished honest dossier at central", func() (bool, string) {
		for _, d := range allDossiers(t, p.Nodes()[0].Node()) {
			if d.GetState() != dossier.Returned && d.GetState() != dossier.Withdrawn || d.GetCommuneCode() != honest[0] {
				continue
			}
			got, err := p.Central().GetProvinceDossier(p.Records(context.Background()), &xasov1.GetProvinceDossierRequest{Code: d.GetCode()})
			if err == nil && got.GetDossier().GetEventCount() == d.GetEventCount() {
				honestDossier = got.GetDossier()
				return true, ""
			}
		}
		return false, "none yet"
	})
	// The hostile's feed streams, held open until it is revoked.
	type feed struct {
		stream xasov1.ReplicationService_FeedClient
		items  []*xasov1.FeedItem
	}
	var feeds []*feed
	for i := range 6 {
		fctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		s, err := xasov1.NewReplicationServiceClient(h.conns[i%len(h.conns)]).Feed(fctx, &xasov1.FeedRequest{})
		if err != nil {
			t.Fatal(err)
		}
		first, err := s.Recv()
		if err != nil {
			t.Fatalf("the hostile's feed: %v", err)
		}
		feeds = append(feeds, &feed{stream: s, items: first.GetItems()})
	}

	ackedBefore := ackedOf(t, p, honest)
	attacked := time.Now()
	h.attack(honestDossier)
	t.Logf("sequential attacks: %v", time.Since(attacked).Round(time.Millisecond))

	// 50 streams at once (10 connections × 5, over the three members),
	// each sending a batch central holds and staying open: central keeps a
	// node's newest few a member and ends the older ones as Aborted, and
	// stays up.
	streams := h.parallelStreams(10, 5, h.held[:3])
	release := make(chan struct{})
	type parallelResult struct {
		answered, replaced int
		err                error
	}
	parallelDone := make(chan parallelResult, 1)
	go func() {
		a, b, err := streams.run(release)
		parallelDone <- parallelResult{a, b, err}
	}()
	eventually(t, 30*time.Second, "the 50 streams answered or ended, at most 4 a member left open", func() (bool, string) {
		up := membersAnswer(t, p)
		return checkMembersUp(up) == nil && streams.settled() == len(streams.reqs) && streams.open() <= 3*4,
			fmt.Sprintf("%d settled, %d open, members %v", streams.settled(), streams.open(), up)
	})
	open := streams.open()
	close(release)
	par := <-parallelDone
	if par.err != nil || par.answered == 0 || par.answered+par.replaced != 50 {
		t.Errorf("50 parallel streams: %d answered, %d ended before their answer, %v", par.answered, par.replaced, par.err)
	}
	h.note("50 parallel streams held open", fmt.Sprintf("%d answered, %d ended before their answer, %d left open", par.answered, par.replaced, open))

	// A slow batch over an 8 KiB/s link, while the random mutations go on.
	type slowResult struct {
		a   *xasov1.PushResponse
		d   time.Duration
		err error
	}
	slowDone := make(chan slowResult, 1)
	slowBatch := h.held[len(h.held)-100:]
	slow := h.slow(slowBatch)
	go func() {
		a, d, err := slow()
		slowDone <- slowResult{a, d, err}
	}()
	mutated := time.Now()
	h.mutations(seed^0x6d757461, 30, honestDossier)
	t.Logf("random mutations: %v", time.Since(mutated).Round(time.Millisecond))
	s := <-slowDone
	if s.err != nil || s.a.GetDuplicates() != int32(len(slowBatch)) || s.a.GetAccepted() != 0 {
		t.Errorf("the slow batch of %d records central holds: %v, %v", len(slowBatch), s.a, s.err)
	}
	h.note("slow batch (100 records at 8 KiB/s)", fmt.Sprintf("%d duplicates after %v", s.a.GetDuplicates(), s.d.Round(time.Millisecond)))

	// It ends on a record refused for its content: the block stays.
	final := h.chain(h.receipt())[0]
	final.Event.Actor = "changed.after.hashing"
	h.refusedRecord("final tampered record (the block stays)", h.encode(final), []*xasov1.OutboxRecord{final}, true, codes.DataLoss)
	attacksTook := time.Since(attacked)
	for _, name := range slices.Sorted(maps.Keys(h.outcome)) {
		t.Logf("attack %-55s %s", name, h.outcome[name])
	}
	t.Logf("attacks done in %v; hostile chain at %d, %d of its dossiers taken", attacksTook.Round(time.Millisecond), h.last, len(h.model))

	if err := checkMembersUp(membersAnswer(t, p)); err != nil {
		t.Fatal(err)
	}
	// The honest nodes' records kept reaching central meanwhile.
	eventually(t, 10*time.Second, "the honest nodes' records reach central during the attacks", func() (bool, string) {
		after := ackedOf(t, p, honest)
		for _, c := range honest {
			if after[c] <= ackedBefore[c] {
				return false, fmt.Sprintf("%s: central at %d, %d before the attacks", c, after[c], ackedBefore[c])
			}
		}
		return true, ""
	})
	stopClerks()
	wg.Wait()
	stopped := time.Now()
	eventually(t, 20*time.Second, "the honest nodes caught up", func() (bool, string) {
		if ok, why := converged(t, p); !ok {
			return false, why
		}
		heads := map[string]chainHead{}
		for _, n := range p.Nodes() {
			last, hash := headHash(t, n.Node())
			heads[n.Commune.Code] = chainHead{last, hash}
		}
		resp, err := p.Central().ListNodes(p.Operator(context.Background()), &xasov1.ListNodesRequest{})
		if err != nil {
			return false, err.Error()
		}
		if err := checkCaughtUp(resp.GetNodes(), heads); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	t.Logf("honest nodes caught up %v after the clerks stopped", time.Since(stopped).Round(time.Millisecond))

	sent, listed := nodeHoldings(t, p)
	asked := map[string]bool{}
	for code, d := range h.model {
		sent.dossiers[code] = d
	}
	sent.heads[h.commune] = chainHead{h.last, h.head}
	for code := range sent.dossiers {
		asked[code] = true
	}
	for code := range h.tried {
		asked[code] = true
	}
	asOf := time.Now()
	atCentral, statuses := centralHoldings(t, p, append(slices.Clone(honest), h.commune), asked)
	if err := checkCentralHoldsExactly(sent, atCentral, reportRows(t, p, asOf), asOf); err != nil {
		t.Errorf("central does not hold exactly what was sent: %v", err)
	}
	t.Logf("central holds exactly the %d dossiers sent (%d of them the hostile's); %d codes it refused are not there", len(sent.dossiers), len(h.model), len(h.tried))
	if err := checkNothingFrom(h.commune, listed); err != nil {
		t.Error(err)
	}
	var metrics string
	eventually(t, 10*time.Second, "the block in a member's metrics", func() (bool, string) {
		var err error
		if metrics, err = metricsText(t, p, 1); err != nil {
			return false, err.Error()
		}
		return checkBlockedVisible(statuses, h.commune, honest, metrics) == nil, "not yet"
	})
	if err := checkBlockedVisible(statuses, h.commune, honest, metrics); err != nil {
		t.Error(err)
	}

	// An idle Push stream on each member, open when the node is revoked.
	var pushes []xasov1.ReplicationService_PushClient
	for _, conn := range h.conns {
		pctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		s, err := xasov1.NewReplicationServiceClient(conn).Push(pctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Recv(); err != nil {
			t.Fatalf("the hostile's idle push stream: %v", err)
		}
		pushes = append(pushes, s)
	}

	// Revoked, the hostile's open streams end within seconds, and it is
	// refused from then on.
	if _, err := p.Central().RevokeNode(p.Operator(context.Background()), &xasov1.RevokeNodeRequest{NodeId: h.nodeID}); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	var feedWG sync.WaitGroup
	for i, f := range feeds {
		feedWG.Add(1)
		go func() {
			defer feedWG.Done()
			var mu sync.Mutex
			err := checkStreamEnds(func() error {
				r, err := f.stream.Recv()
				mu.Lock()
				f.items = append(f.items, r.GetItems()...)
				mu.Unlock()
				return err
			}, 10*time.Second)
			if err != nil {
				t.Errorf("the hostile's feed stream %d after revocation: %v", i, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if err := checkFeedItems(h.commune, f.items); err != nil {
				t.Error(err)
			}
		}()
	}
	for i, ps := range pushes {
		feedWG.Add(1)
		go func() {
			defer feedWG.Done()
			if err := checkStreamEnds(func() error { _, err := ps.Recv(); return err }, 10*time.Second); err != nil {
				t.Errorf("the hostile's idle push stream %d after revocation: %v", i, err)
			}
		}()
	}
	feedWG.Wait()
	t.Logf("the hostile's %d feed and %d idle push streams ended %v after the revocation", len(feeds), len(pushes), time.Since(revoked).Round(time.Millisecond))
	if _, err := exchange(h.client()); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a push after revocation: %v, want PermissionDenied", err)
	}
	if err := checkMembersUp(membersAnswer(t, p)); err != nil {
		t.Error(err)
	}
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}

// TestHostileChecksCanFail gives each check of the hostile suite broken
// data and expects it to say so (and the same data, unbroken, to pass).
func TestHostileChecksCanFail(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, dossier.Zone)
	receive := func(code, commune string) *xasov1.Dossier {
		ev := &xasov1.Event{Sequence: 1, Action: dossier.Receive, Actor: "motcua.1", Role: dossier.Clerk, Time: timestamppb.New(at), State: dossier.Received,
			DueTime: timestamppb.New(at.AddDate(0, 0, 7)),
			Receipt: &xasov1.Receipt{Code: code, CommuneCode: commune, ProcedureCode: "1.001193", Channel: xasov1.Channel_CHANNEL_IN_PERSON}}
		d := dossier.Fold([]*xasov1.Event{ev})
		d.Events = []*xasov1.Event{ev}
		return d
	}
	const a, b, x = "00004", "00008", "00025"
	sentData := func() holdings {
		return holdings{
			heads:    map[string]chainHead{a: {3, bytes.Repeat([]byte{1}, 32)}, b: {1, bytes.Repeat([]byte{2}, 32)}},
			dossiers: map[string]*xasov1.Dossier{"00004-260302-0001": receive("00004-260302-0001", a), "00008-260302-0001": receive("00008-260302-0001", b)},
		}
	}
	clone := func(h holdings) holdings {
		out := holdings{heads: map[string]chainHead{}, dossiers: map[string]*xasov1.Dossier{}}
		for k, v := range h.heads {
			out.heads[k] = v
		}
		for k, v := range h.dossiers {
			out.dossiers[k] = proto.Clone(v).(*xasov1.Dossier)
		}
		return out
	}
	report := func(h holdings) []*xasov1.PerformanceRow {
		var ds []*xasov1.Dossier
		for _, d := range h.dossiers {
			ds = append(ds, d)
		}
		return central.ReportFromDossiers(ds, at)
	}

	t.Run("central holds exactly what was sent", func(t *testing.T) {
		sent := sentData()
		if err := checkCentralHoldsExactly(sent, clone(sent), report(sent), at); err != nil {
			t.Fatalf("the same data: %v", err)
		}
		forged := clone(sent)
		forged.dossiers["00004-260302-0002"] = receive("00004-260302-0002", a) // an extra forged dossier
		cases := map[string]struct {
			central holdings
			report  []*xasov1.PerformanceRow
		}{
			"an extra forged dossier at central":  {forged, report(forged)},
			"an extra dossier in the report only": {clone(sent), report(forged)},
			"a dossier missing at central":        {func() holdings { c := clone(sent); delete(c.dossiers, "00008-260302-0001"); return c }(), report(sent)},
			"an event changed":                    {func() holdings { c := clone(sent); c.dossiers["00004-260302-0001"].Events[0].Actor = "x"; return c }(), report(sent)},
			"an event more": {func() holdings {
				c := clone(sent)
				d := c.dossiers["00004-260302-0001"]
				d.Events = append(d.Events, d.Events[0])
				return c
			}(), report(sent)},
			"a chain head behind":            {func() holdings { c := clone(sent); c.heads[a] = chainHead{2, c.heads[a].hash}; return c }(), report(sent)},
			"a chain head with another hash": {func() holdings { c := clone(sent); c.heads[a] = chainHead{3, bytes.Repeat([]byte{9}, 32)}; return c }(), report(sent)},
			"a commune's chain missing":      {func() holdings { c := clone(sent); delete(c.heads, b); return c }(), report(sent)},
			"a dossier at another commune":   {func() holdings { c := clone(sent); c.dossiers["00008-260302-0001"].CommuneCode = a; return c }(), report(sent)},
			"a report row with other counts": {clone(sent), func() []*xasov1.PerformanceRow { r := report(sent); r[0].Counts.Received++; return r }()},
		}
		for name, c := range cases {
			if err := checkCentralHoldsExactly(sent, c.central, c.report, at); err == nil {
				t.Errorf("%s: not seen", name)
			}
		}
	})

	status := func(commune string, acked, nodeLast, lag int64, block *xasov1.ChainBlock) *xasov1.NodeStatus {
		return &xasov1.NodeStatus{Node: &xasov1.EnrolledNode{NodeId: "node-" + commune, CommuneCode: commune}, AckedSequence: acked, NodeLastSequence: nodeLast, LagEvents: lag, Blocked: block}
	}
	t.Run("lag", func(t *testing.T) {
		nodes := map[string]chainHead{a: {10, nil}, b: {5, nil}}
		if err := checkCaughtUp([]*xasov1.NodeStatus{status(a, 10, 10, 0, nil), status(b, 5, 5, 0, nil)}, nodes); err != nil {
			t.Fatalf("caught up: %v", err)
		}
		for name, st := range map[string][]*xasov1.NodeStatus{
			"lag > 0":                  {status(a, 10, 10, 0, nil), status(b, 3, 5, 2, nil)},
			"central behind the node":  {status(a, 9, 9, 0, nil), status(b, 5, 5, 0, nil)},
			"a commune without status": {status(a, 10, 10, 0, nil)},
		} {
			if err := checkCaughtUp(st, nodes); err == nil {
				t.Errorf("%s: not seen", name)
			}
		}
	})

	t.Run("the block visible", func(t *testing.T) {
		block := &xasov1.ChainBlock{Sequence: 7, Code: int32(codes.DataLoss), Reason: "does not chain on the previous record's hash", Time: timestamppb.New(at), NodeId: "node-" + x}
		metrics := func(v string) string {
			return "# HELP xaso_central_chain_blocked_sequence …\n" +
				`xaso_central_chain_blocked_sequence{commune="00004",node="node-00004"} 0` + "\n" +
				`xaso_central_chain_blocked_sequence{commune="00025",node="node-00025"} ` + v + "\n"
		}
		good := []*xasov1.NodeStatus{status(a, 10, 10, 0, nil), status(x, 6, 9, 3, block)}
		if err := checkBlockedVisible(good, x, []string{a}, metrics("7")); err != nil {
			t.Fatalf("blocked and visible: %v", err)
		}
		cases := map[string]struct {
			st      []*xasov1.NodeStatus
			metrics string
		}{
			"a status without a block":       {[]*xasov1.NodeStatus{status(a, 10, 10, 0, nil), status(x, 6, 9, 3, nil)}, metrics("7")},
			"a block without a reason":       {[]*xasov1.NodeStatus{status(a, 10, 10, 0, nil), status(x, 6, 9, 3, &xasov1.ChainBlock{Sequence: 7, Code: 15})}, metrics("7")},
			"no status of the hostile":       {[]*xasov1.NodeStatus{status(a, 10, 10, 0, nil)}, metrics("7")},
			"an honest commune blocked":      {[]*xasov1.NodeStatus{status(a, 10, 10, 0, block), status(x, 6, 9, 3, block)}, metrics("7")},
			"the metric at 0":                {good, metrics("0")},
			"the metric at another sequence": {good, metrics("8")},
			"no metric":                      {good, ""},
		}
		for name, c := range cases {
			if err := checkBlockedVisible(c.st, x, []string{a}, c.metrics); err == nil {
				t.Errorf("%s: not seen", name)
			}
		}
	})

	t.Run("nothing from the hostile commune at the nodes", func(t *testing.T) {
		clean := map[string][]*xasov1.Dossier{a: {receive("00004-260302-0001", a)}, b: {receive("00004-260302-0002", b)}}
		if err := checkNothingFrom(x, clean); err != nil {
			t.Fatalf("clean: %v", err)
		}
		for name, atNodes := range map[string]map[string][]*xasov1.Dossier{
			"numbered by the hostile":     {a: {receive("00025-260302-0001", a)}},
			"held by the hostile":         {b: {receive("00008-260302-0003", x)}},
			"transferred to the hostile":  {a: {func() *xasov1.Dossier { d := receive("00004-260302-0004", a); d.TransferCommuneCode = x; return d }()}},
			"with a code that is no code": {a: {receive("bogus", a)}},
		} {
			if err := checkNothingFrom(x, atNodes); err == nil {
				t.Errorf("%s: not seen", name)
			}
		}
		if err := checkFeedItems(x, []*xasov1.FeedItem{{Broadcast: true}, {CommuneCode: x}}); err != nil {
			t.Fatalf("its own feed: %v", err)
		}
		if err := checkFeedItems(x, []*xasov1.FeedItem{{Broadcast: true}, {CommuneCode: a}}); err == nil {
			t.Error("another commune's feed item: not seen")
		}
	})

	t.Run("members up", func(t *testing.T) {
		if err := checkMembersUp(map[string]error{"central-1": nil, "central-2": nil}); err != nil {
			t.Fatal(err)
		}
		if err := checkMembersUp(map[string]error{"central-1": nil, "central-2": errors.New("connection refused")}); err == nil {
			t.Error("a member down: not seen")
		}
		if err := checkMembersUp(nil); err == nil {
			t.Error("no member asked: not seen")
		}
	})

	t.Run("the revoked stream ends", func(t *testing.T) {
		ended := func(err error) func() error { return func() error { return err } }
		if err := checkStreamEnds(ended(statusErr(codes.PermissionDenied)), time.Second); err != nil {
			t.Fatalf("ended as revoked: %v", err)
		}
		open := make(chan struct{})
		t.Cleanup(func() { close(open) })
		for name, recv := range map[string]func() error{
			"a stream that stays open":         func() error { <-open; return io.EOF },
			"a stream that ends otherwise":     ended(statusErr(codes.Unavailable)),
			"a stream that ends without error": ended(io.EOF),
		} {
			if err := checkStreamEnds(recv, 300*time.Millisecond); err == nil {
				t.Errorf("%s: not seen", name)
			}
		}
	})
}

func statusErr(c codes.Code) error { return status.Error(c, c.String()) }
