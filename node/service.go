package node

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/replication"
)

// Limits on what one request may carry.
const (
	defaultPageSize = 50
	maxPageSize     = 500
	maxComponents   = 100
	maxAttachments  = 100
	maxRequestIDLen = 128
)

// service implements xasov1.NodeServiceServer over a Store.
type service struct {
	xasov1.UnimplementedNodeServiceServer
	store   *Store
	commune string
	// agency is the node's agency e-ID (Config.AgencyID).
	agency   string
	calendar func() *dossier.Calendar
	now      func() time.Time
	maxFile  int64
	metrics  *metrics
	log      *slog.Logger
	// users are the desk's officials: an assignee must be one (desklists.go).
	users *users
	// sync reports the replication link; ok is false without a central.
	sync func() (replication.Status, bool)
	// limits are the sync settings in force.
	limits func() *xasov1.CommuneSettings
	// checking is held while a store check runs: one at a time, since
	// each reads the whole store.
	checking sync.Mutex
}

func (s *service) fail(ctx context.Context, err error, what string) error {
	var stale *StaleError
	if errors.As(err, &stale) {
		return status.Error(codes.Aborted, stale.Error())
	}
	if errors.Is(err, ErrClosed) {
		return status.Error(codes.Unavailable, "the node is shutting down")
	}
	if errors.Is(err, ErrRestoring) {
		return status.Error(codes.Unavailable, err.Error())
	}
	st := grpcerr.From(err, ErrNotFound, what+" failed")
	if status.Code(st) == codes.Internal {
		s.log.ErrorContext(ctx, what, "err", err)
	}
	return st
}

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, grpcerr.Field("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	case n > maxPageSize:
		return maxPageSize, nil
	}
	return int(n), nil
}

// ListProcedures lists the catalogue, a page at a time.
func (s *service) ListProcedures(ctx context.Context, req *xasov1.ListProceduresRequest) (*xasov1.ListProceduresResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_ListProcedures_FullMethodName)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	offset := 0
	if t := req.GetPageToken(); t != "" {
		if offset, err = strconv.Atoi(t); err != nil || offset < 0 {
			return nil, grpcerr.Field("page_token", "not a token this API gave")
		}
	}
	procs, err := s.store.Procedures(req.GetField(), req.GetQuery())
	if err != nil {
		return nil, s.fail(ctx, err, "list procedures")
	}
	resp := &xasov1.ListProceduresResponse{}
	if offset < len(procs) {
		end := min(offset+size, len(procs))
		resp.Procedures = procs[offset:end]
		if end < len(procs) {
			resp.NextPageToken = strconv.Itoa(end)
		}
	}
	return resp, nil
}

// GetProcedure returns one procedure.
func (s *service) GetProcedure(ctx context.Context, req *xasov1.GetProcedureRequest) (*xasov1.GetProcedureResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_GetProcedure_FullMethodName)
	if err != nil {
		return nil, err
	}
	if req.GetCode() == "" {
		return nil, grpcerr.Field("code", "the procedure code is required")
	}
	p, err := s.store.Procedure(req.GetCode())
	if err != nil {
		return nil, s.fail(ctx, err, "get procedure")
	}
	return &xasov1.GetProcedureResponse{Procedure: p}, nil
}

// CreateDossier receives a dossier.
func (s *service) CreateDossier(ctx context.Context, req *xasov1.CreateDossierRequest) (*xasov1.CreateDossierResponse, error) {
	who, err := caller(ctx, xasov1.NodeService_CreateDossier_FullMethodName)
	if err != nil {
		return nil, err
	}
	rid := req.GetRequestId()
	if rid == "" {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get("idempotency-key"); len(v) > 0 {
				rid = v[0]
			}
		}
	}
	var v dossier.Violations
	if len(rid) > maxRequestIDLen || strings.ContainsAny(rid, "\x00/") {
		v.Add("request_id", "at most 128 bytes, no '/'")
	}
	if len(req.GetComponents()) > maxComponents {
		v.Add("components", "at most 100")
	}
	if len(req.GetAttachments()) > maxAttachments {
		v.Add("attachments", "at most 100")
	}
	if err := v.Err(); err != nil {
		return nil, grpcerr.BadRequest(v)
	}
	d, err := s.store.Create(ctx, s.commune, s.calendar(), CreateInput{
		RequestID: rid, ProcedureCode: req.GetProcedureCode(), Applicant: req.GetApplicant(), Channel: req.GetChannel(),
		Components: req.GetComponents(), Attachments: req.GetAttachments(), Actor: who.Name, Role: who.Role, Time: s.now(),
		Outcome: req.GetOutcome(), Reason: req.GetReason(), Agency: s.agency,
	})
	if err != nil {
		return nil, s.fail(ctx, err, "create dossier")
	}
	s.metrics.transition(dossier.Receive)
	full, err := s.store.Get(d.GetCode(), true)
	if err != nil {
		return nil, s.fail(ctx, err, "read new dossier")
	}
	return &xasov1.CreateDossierResponse{Dossier: full}, nil
}

func checkCode(code string) error {
	if _, err := dossier.ParseCode(code); err != nil {
		return grpcerr.Field("code", err.Error())
	}
	return nil
}

// GetDossier returns one dossier with its events, and records the read.
func (s *service) GetDossier(ctx context.Context, req *xasov1.GetDossierRequest) (*xasov1.GetDossierResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_GetDossier_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := checkCode(req.GetCode()); err != nil {
		return nil, err
	}
	d, err := s.store.Get(req.GetCode(), true)
	if err != nil {
		return nil, s.fail(ctx, err, "get dossier")
	}
	if err := s.logRead(ctx, read{kind: dossier.AccessRead, codes: []string{d.GetCode()}, count: 1}); err != nil {
		return nil, s.fail(ctx, err, "record the read")
	}
	return &xasov1.GetDossierResponse{Dossier: d}, nil
}

// ListDossiers lists dossiers matching a filter, and records the list (a
// search when the filter names a citizen's identity number).
func (s *service) ListDossiers(ctx context.Context, req *xasov1.ListDossiersRequest) (*xasov1.ListDossiersResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_ListDossiers_FullMethodName)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	f, err := ParseFilter(req.GetFilter())
	if err != nil {
		return nil, grpcerr.Field("filter", err.Error())
	}
	ds, next, err := s.store.List(f, size, req.GetPageToken(), s.now())
	if errors.Is(err, ErrBadPageToken) {
		return nil, grpcerr.Field("page_token", err.Error())
	}
	if err != nil {
		return nil, s.fail(ctx, err, "list dossiers")
	}
	rd := read{kind: dossier.AccessList, count: len(ds), filter: req.GetFilter()}
	if f.idNumber != "" {
		rd.kind = dossier.AccessSearch // one citizen's dossiers
	}
	for _, d := range ds {
		rd.codes = append(rd.codes, d.GetCode())
	}
	if err := s.logRead(ctx, rd); err != nil {
		return nil, s.fail(ctx, err, "record the list")
	}
	return &xasov1.ListDossiersResponse{Dossiers: ds, NextPageToken: next}, nil
}

// TransitionDossier applies one workflow action.
func (s *service) TransitionDossier(ctx context.Context, req *xasov1.TransitionDossierRequest) (*xasov1.TransitionDossierResponse, error) {
	who, err := caller(ctx, xasov1.NodeService_TransitionDossier_FullMethodName)
	if err != nil {
		return nil, err
	}
	if err := checkCode(req.GetCode()); err != nil {
		return nil, err
	}
	if len(req.GetComponents()) > maxComponents || len(req.GetAttachments()) > maxAttachments {
		return nil, grpcerr.Field("components", "at most 100 components and 100 attachments")
	}
	if req.GetExpectedEventCount() < 0 {
		return nil, grpcerr.Field("expected_event_count", "must not be negative")
	}
	cmd := dossier.Command{
		Action: req.GetAction(), Actor: who.Name, Role: who.Role, Time: s.now(), Reason: req.GetReason(),
		Assignee: req.GetAssignee(), Components: req.GetComponents(), Attachments: req.GetAttachments(),
		TransferCommune: req.GetTransferCommuneCode(),
	}
	if req.GetAppointmentTime() != nil {
		if err := req.GetAppointmentTime().CheckValid(); err != nil {
			return nil, grpcerr.Field("appointment_time", err.Error())
		}
		cmd.Appointment = req.GetAppointmentTime().AsTime()
	}
	// The citizens rate the service themselves, on the look-up page or the
	// desk device (Decree 118/2025 art. 31(1)(b)(c), 33): staff neither
	// type a level at return nor rate over the API.
	//lint:ignore SA1019 the deprecated field is read to refuse it
	if req.GetSatisfaction() != xasov1.Satisfaction_SATISFACTION_UNSPECIFIED {
		return nil, grpcerr.Field("satisfaction", "no longer taken: the citizen rates the service on the look-up page or the desk device")
	}
	if req.GetAction() == dossier.Rate {
		return nil, grpcerr.Field("action", "the citizen rates on the look-up page or the desk device, not staff over the API")
	}
	// At the desk the assignee is chosen from the commune's users; a hand-made
	// form naming anyone else is refused. API clients (tokens, certificates)
	// and the node's own process name officials the users file may not list
	// (the workload's, an integration's), so they are not held to it yet.
	if who.Via == ViaSession {
		if err := checkAssignee(s.users, cmd.Action, cmd.Assignee); err != nil {
			return nil, s.fail(ctx, err, "check assignee")
		}
	}
	d, err := s.store.Transition(ctx, s.calendar(), req.GetCode(), req.GetExpectedEventCount(), cmd)
	if err != nil {
		return nil, s.fail(ctx, err, "transition dossier")
	}
	s.metrics.transition(cmd.Action)
	return &xasov1.TransitionDossierResponse{Dossier: d}, nil
}

// CreateAttachment stores a file.
func (s *service) CreateAttachment(ctx context.Context, req *xasov1.CreateAttachmentRequest) (*xasov1.CreateAttachmentResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_CreateAttachment_FullMethodName)
	if err != nil {
		return nil, err
	}
	ref, err := s.store.PutAttachment(req.GetFilename(), req.GetContentType(), req.GetContent(), s.maxFile)
	if err != nil {
		return nil, s.fail(ctx, err, "store attachment")
	}
	return &xasov1.CreateAttachmentResponse{Attachment: ref}, nil
}

// GetAttachment returns a stored file, and records the download.
func (s *service) GetAttachment(ctx context.Context, req *xasov1.GetAttachmentRequest) (*xasov1.GetAttachmentResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_GetAttachment_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !dossier.ValidSHA256(req.GetSha256()) {
		return nil, grpcerr.Field("sha256", "not a lower-case hex SHA-256")
	}
	ref, content, err := s.store.Attachment(req.GetSha256())
	if err != nil {
		return nil, s.fail(ctx, err, "get attachment")
	}
	if err := s.logRead(ctx, read{kind: dossier.AccessDownload, sha256: req.GetSha256()}); err != nil {
		return nil, s.fail(ctx, err, "record the download")
	}
	return &xasov1.GetAttachmentResponse{Attachment: ref, Content: content}, nil
}

// GetSyncStatus says how far the outbox reached central.
func (s *service) GetSyncStatus(ctx context.Context, _ *xasov1.GetSyncStatusRequest) (*xasov1.GetSyncStatusResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_GetSyncStatus_FullMethodName)
	if err != nil {
		return nil, err
	}
	last, acked := s.store.OutboxHead()
	resp := &xasov1.GetSyncStatusResponse{LastSequence: last, AckedSequence: acked, PendingEvents: last - acked}
	pending, err := s.store.OutboxBytes(acked + 1)
	if err != nil {
		return nil, s.fail(ctx, err, "sync status")
	}
	resp.PendingBytes = pending
	if t := s.store.LastContact(); !t.IsZero() {
		resp.LastContactTime = timestamppb.New(t)
	}
	if oldest, err := s.store.OldestPending(); err == nil && !oldest.IsZero() {
		resp.LagSeconds = max(0, s.now().Sub(oldest).Seconds())
	}
	resp.FeedSequence = s.store.FeedSequence()
	resp.Restoring = s.store.MustRestore()
	if files, size, err := s.store.PendingUploads(); err == nil {
		resp.PendingAttachments, resp.PendingAttachmentBytes = files, size
	}
	lim := s.limits()
	resp.SyncBandwidthKbit, resp.SyncUploadWindow = lim.GetSyncBandwidthKbit(), lim.GetSyncUploadWindow()
	if st, ok := s.sync(); ok {
		resp.Connected, resp.Enrolled, resp.BytesSent, resp.Retries, resp.LastError = st.Connected, st.Enrolled, st.BytesSent, st.Retries, st.LastError
		if b := st.Blocked; b != nil {
			resp.Blocked = &xasov1.SyncBlock{Sequence: b.Sequence, Code: b.Code.String(), Reason: b.Reason, Time: timestamppb.New(b.Time)}
		}
	}
	return resp, nil
}

// CheckStore checks the whole store; one check runs at a time.
func (s *service) CheckStore(ctx context.Context, _ *xasov1.CheckStoreRequest) (*xasov1.CheckStoreResponse, error) {
	_, err := caller(ctx, xasov1.NodeService_CheckStore_FullMethodName)
	if err != nil {
		return nil, err
	}
	if !s.checking.TryLock() {
		return nil, status.Error(codes.ResourceExhausted, "a store check is running; retry when it ends")
	}
	defer s.checking.Unlock()
	c, err := s.store.Check()
	if err != nil {
		return nil, s.fail(ctx, err, "check store")
	}
	if len(c.Problems) > 0 {
		s.log.ErrorContext(ctx, "store check found problems", "problems", c.Problems)
	}
	return &xasov1.CheckStoreResponse{Ok: len(c.Problems) == 0, Problems: c.Problems, LastSequence: c.LastSequence,
		HeadHash: c.HeadHash, Records: c.Records, Dossiers: c.Dossiers}, nil
}
