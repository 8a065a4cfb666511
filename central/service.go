package central

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/grpcerr"
	"github.com/xaso/xaso/pki"
)

// GetCluster reports the members, the leader and this member's indexes.
func (s *Server) GetCluster(ctx context.Context, _ *xasov1.GetClusterRequest) (*xasov1.GetClusterResponse, error) {
	servers, err := s.m.Servers()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "read configuration: %v", err)
	}
	apis := map[string]string{}
	if ms, err := s.fsm.Members(); err == nil {
		for _, m := range ms {
			apis[m.GetId()] = m.GetApiAddress()
		}
	}
	leader, _ := s.m.Leader()
	stats := s.m.Stats()
	resp := &xasov1.GetClusterResponse{LeaderId: leader, State: s.m.State(), Read: &xasov1.ReadInfo{AppliedIndex: s.fsm.AppliedIndex(), MemberId: s.m.ID()}}
	fmt.Sscan(stats["term"], &resp.Term)
	fmt.Sscan(stats["commit_index"], &resp.CommitIndex)
	for _, sv := range servers {
		resp.Members = append(resp.Members, &xasov1.ClusterMemberStatus{
			Id: string(sv.ID), RaftAddress: string(sv.Address), ApiAddress: apis[string(sv.ID)],
			Suffrage: sv.Suffrage.String(), Leader: string(sv.ID) == leader,
		})
	}
	return resp, nil
}

// AddClusterMember adds a voter through the leader.
func (s *Server) AddClusterMember(ctx context.Context, req *xasov1.AddClusterMemberRequest) (*xasov1.AddClusterMemberResponse, error) {
	var v dossier.Violations
	if !validName(req.GetId()) {
		v.Add("id", "1 to 64 letters, digits, '.', '-' or '_'")
	}
	if _, _, err := net.SplitHostPort(req.GetRaftAddress()); err != nil {
		v.Add("raft_address", "host:port of the new member's Raft transport")
	}
	if err := v.Err(); err != nil {
		return nil, grpcerr.BadRequest(v)
	}
	cl, fctx, err := s.toLeader(ctx)
	if err != nil {
		return nil, err
	}
	if cl != nil {
		return cl.AddClusterMember(fctx, req)
	}
	if err := s.m.Join(ctx, Peer{ID: req.GetId(), Addr: req.GetRaftAddress()}); err != nil {
		return nil, clusterErr("add member", err)
	}
	s.log.Info("member added", "id", req.GetId(), "raft", req.GetRaftAddress())
	return &xasov1.AddClusterMemberResponse{}, nil
}

// RemoveClusterMember removes a member through the leader.
func (s *Server) RemoveClusterMember(ctx context.Context, req *xasov1.RemoveClusterMemberRequest) (*xasov1.RemoveClusterMemberResponse, error) {
	servers, err := s.m.Servers()
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "read configuration: %v", err)
	}
	if !slices.ContainsFunc(servers, func(sv raft.Server) bool { return string(sv.ID) == req.GetId() }) {
		return nil, grpcerr.Field("id", fmt.Sprintf("%q is not a member of the cluster", req.GetId()))
	}
	cl, fctx, err := s.toLeader(ctx)
	if err != nil {
		return nil, err
	}
	if cl != nil {
		return cl.RemoveClusterMember(fctx, req)
	}
	if err := s.m.Remove(ctx, req.GetId()); err != nil {
		return nil, clusterErr("remove member", err)
	}
	s.log.Info("member removed", "id", req.GetId())
	return &xasov1.RemoveClusterMemberResponse{}, nil
}

// TransferLeadership hands leadership to another voter.
func (s *Server) TransferLeadership(ctx context.Context, req *xasov1.TransferLeadershipRequest) (*xasov1.TransferLeadershipResponse, error) {
	cl, fctx, err := s.toLeader(ctx)
	if err != nil {
		return nil, err
	}
	if cl != nil {
		return cl.TransferLeadership(fctx, req)
	}
	if err := s.m.TransferLeadership(ctx); err != nil {
		return nil, clusterErr("transfer leadership", err)
	}
	id, _ := s.m.Leader()
	return &xasov1.TransferLeadershipResponse{LeaderId: id}, nil
}

// TakeSnapshot snapshots this member's state now.
func (s *Server) TakeSnapshot(ctx context.Context, _ *xasov1.TakeSnapshotRequest) (*xasov1.TakeSnapshotResponse, error) {
	index := s.fsm.AppliedIndex()
	if err := s.m.Snapshot(ctx); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, clusterErr("snapshot", err)
	}
	return &xasov1.TakeSnapshotResponse{Index: index}, nil
}

func clusterErr(what string, err error) error {
	switch {
	case errors.Is(err, ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return status.Errorf(codes.Unavailable, "%s: %v; retry", what, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return status.FromContextError(err).Err()
	}
	return status.Errorf(codes.FailedPrecondition, "%s: %v", what, err)
}

// ListCommunes returns the registry.
func (s *Server) ListCommunes(ctx context.Context, req *xasov1.ListCommunesRequest) (*xasov1.ListCommunesResponse, error) {
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	cs, err := s.fsm.Communes()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read communes: %v", err)
	}
	return &xasov1.ListCommunesResponse{Communes: cs, Read: info}, nil
}

// PutCommune registers or renames a commune.
func (s *Server) PutCommune(ctx context.Context, req *xasov1.PutCommuneRequest) (*xasov1.PutCommuneResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCommune() == nil {
		return nil, grpcerr.Field("commune", "required")
	}
	res, err := s.write(ctx, c, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCommune{PutCommune: &xasov1.PutCommuneCommand{Commune: req.GetCommune()}}})
	if err != nil {
		return nil, err
	}
	cm, err := s.fsm.Commune(req.GetCommune().GetCode())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read commune: %v", err)
	}
	return &xasov1.PutCommuneResponse{Commune: cm, Index: res.GetIndex()}, nil
}

// ListCatalogProcedures returns the catalogue, current versions.
func (s *Server) ListCatalogProcedures(ctx context.Context, req *xasov1.ListCatalogProceduresRequest) (*xasov1.ListCatalogProceduresResponse, error) {
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	ps, err := s.fsm.Procedures()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read catalogue: %v", err)
	}
	return &xasov1.ListCatalogProceduresResponse{Procedures: ps, Read: info}, nil
}

// GetCatalogProcedure returns one version of a procedure.
func (s *Server) GetCatalogProcedure(ctx context.Context, req *xasov1.GetCatalogProcedureRequest) (*xasov1.GetCatalogProcedureResponse, error) {
	if req.GetVersion() < 0 {
		return nil, grpcerr.Field("version", "0 for the current version, or a version number")
	}
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	p, err := s.fsm.ProcedureVersion(req.GetCode(), req.GetVersion())
	if errors.Is(err, errNotFound) {
		return nil, status.Errorf(codes.NotFound, "no procedure %q version %d", req.GetCode(), req.GetVersion())
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read procedure: %v", err)
	}
	return &xasov1.GetCatalogProcedureResponse{Procedure: p, Read: info}, nil
}

// CreateCatalogProcedure adds a procedure; its code must be new.
func (s *Server) CreateCatalogProcedure(ctx context.Context, req *xasov1.CreateCatalogProcedureRequest) (*xasov1.CreateCatalogProcedureResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	p, idx, err := s.putProcedure(ctx, c, req.GetProcedure(), -1)
	if err != nil {
		return nil, err
	}
	return &xasov1.CreateCatalogProcedureResponse{Procedure: p, Index: idx}, nil
}

// UpdateCatalogProcedure makes a new version of a procedure.
func (s *Server) UpdateCatalogProcedure(ctx context.Context, req *xasov1.UpdateCatalogProcedureRequest) (*xasov1.UpdateCatalogProcedureResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetExpectedVersion() < 0 {
		return nil, grpcerr.Field("expected_version", "the version this update follows, or 0 for any")
	}
	if _, err := s.fsm.Procedure(req.GetProcedure().GetCode()); errors.Is(err, errNotFound) {
		return nil, status.Errorf(codes.NotFound, "no procedure %q: create it with POST /v1/procedures", req.GetProcedure().GetCode())
	}
	p, idx, err := s.putProcedure(ctx, c, req.GetProcedure(), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return &xasov1.UpdateCatalogProcedureResponse{Procedure: p, Index: idx}, nil
}

func (s *Server) putProcedure(ctx context.Context, c string, p *xasov1.Procedure, expected int32) (*xasov1.Procedure, uint64, error) {
	if p == nil {
		return nil, 0, grpcerr.Field("procedure", "required")
	}
	res, err := s.write(ctx, c, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutProcedure{PutProcedure: &xasov1.PutProcedureCommand{Procedure: p, ExpectedVersion: expected}}})
	if err != nil {
		return nil, 0, err
	}
	stored, err := s.fsm.ProcedureVersion(p.GetCode(), res.GetVersion())
	if err != nil {
		return nil, 0, status.Errorf(codes.Internal, "read procedure: %v", err)
	}
	return stored, res.GetIndex(), nil
}

// GetCalendar returns the working calendar.
func (s *Server) GetCalendar(ctx context.Context, req *xasov1.GetCalendarRequest) (*xasov1.GetCalendarResponse, error) {
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	js, err := s.fsm.CalendarJSON()
	if errors.Is(err, ErrNotFound) {
		return nil, status.Error(codes.NotFound, "no calendar yet: PUT /v1/calendar")
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read calendar: %v", err)
	}
	return &xasov1.GetCalendarResponse{CalendarJson: string(js), Read: info}, nil
}

// UpdateCalendar replaces the working calendar.
func (s *Server) UpdateCalendar(ctx context.Context, req *xasov1.UpdateCalendarRequest) (*xasov1.UpdateCalendarResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.write(ctx, c, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCalendar{PutCalendar: &xasov1.PutCalendarCommand{CalendarJson: req.GetCalendarJson()}}})
	if err != nil {
		return nil, err
	}
	return &xasov1.UpdateCalendarResponse{Index: res.GetIndex()}, nil
}

// GetProvinceDossier looks a dossier up by code, province-wide.
func (s *Server) GetProvinceDossier(ctx context.Context, req *xasov1.GetProvinceDossierRequest) (*xasov1.GetProvinceDossierResponse, error) {
	if _, err := dossier.ParseCode(req.GetCode()); err != nil {
		return nil, grpcerr.Field("code", err.Error())
	}
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	d, err := s.fsm.Dossier(req.GetCode())
	if errors.Is(err, errNotFound) {
		return nil, status.Errorf(codes.NotFound, "central holds no dossier %s (yet: its commune may not have synchronised)", req.GetCode())
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read dossier: %v", err)
	}
	return &xasov1.GetProvinceDossierResponse{Dossier: d, Read: info}, nil
}

// GetProvinceAttachment returns a file central holds in full.
func (s *Server) GetProvinceAttachment(ctx context.Context, req *xasov1.GetProvinceAttachmentRequest) (*xasov1.GetProvinceAttachmentResponse, error) {
	if !dossier.ValidSHA256(req.GetSha256()) {
		return nil, grpcerr.Field("sha256", "the SHA-256 of the file, in hex")
	}
	ref, content, err := s.fsm.Attachment(req.GetSha256())
	if errors.Is(err, errNotFound) {
		return nil, status.Errorf(codes.NotFound, "central does not hold all of file %s (yet: files follow their commune's events)", req.GetSha256())
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read file: %v", err)
	}
	return &xasov1.GetProvinceAttachmentResponse{Attachment: ref, Content: content}, nil
}

// reportQuery checks a report request and turns it into a query.
func (s *Server) reportQuery(req *xasov1.GetPerformanceReportRequest) (ReportQuery, error) {
	var v dossier.Violations
	month := func(field, m string) string {
		t, err := time.Parse("2006-01", m)
		if err != nil {
			v.Add(field, "a month as YYYY-MM")
			return ""
		}
		return t.Format("200601")
	}
	q := ReportQuery{From: month("from_month", req.GetFromMonth()), To: month("to_month", req.GetToMonth()),
		Communes: req.GetCommuneCodes(), Procedures: req.GetProcedureCodes(), AsOf: s.now(), Indicators: req.GetIndicators()}
	if req.GetAsOfTime() != nil {
		q.AsOf = req.GetAsOfTime().AsTime()
	}
	for i, g := range req.GetGroupBy() {
		switch g {
		case "commune":
			q.ByCommune = true
		case "procedure":
			q.ByProcedure = true
		case "month":
			q.ByMonth = true
		default:
			v.Add(fmt.Sprintf("group_by[%d]", i), "commune, procedure or month")
		}
	}
	for i, c := range q.Communes {
		if !dossier.ValidCommuneCode(c) {
			v.Add(fmt.Sprintf("commune_codes[%d]", i), "a 5-digit administrative unit code")
		}
	}
	if len(q.Communes)*max(len(q.Procedures), 1) > 100000 {
		v.Add("procedure_codes", "at most 100,000 commune × procedure pairs in one report")
	}
	if len(v) == 0 {
		if _, err := q.Months(); err != nil {
			v.Add("to_month", err.Error())
		}
	}
	return q, v.Err()
}

// GetPerformanceReport computes a report from the aggregates.
func (s *Server) GetPerformanceReport(ctx context.Context, req *xasov1.GetPerformanceReportRequest) (*xasov1.GetPerformanceReportResponse, error) {
	q, err := s.reportQuery(req)
	if err != nil {
		return nil, grpcerr.From(err, nil, "")
	}
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	rows, err := s.fsm.Report(q)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	return &xasov1.GetPerformanceReportResponse{Rows: rows, Read: info}, nil
}

// ListAuditRecords pages through every write, oldest first.
func (s *Server) ListAuditRecords(ctx context.Context, req *xasov1.ListAuditRecordsRequest) (*xasov1.ListAuditRecordsResponse, error) {
	size := int(req.GetPageSize())
	if size < 0 || size > 1000 {
		return nil, grpcerr.Field("page_size", "0 to 1000 (default 100)")
	}
	if size == 0 {
		size = 100
	}
	after, err := base64.RawURLEncoding.DecodeString(req.GetPageToken())
	if err != nil || len(after) > 0 && len(after) != len(prefixAudit)+12 {
		return nil, grpcerr.Field("page_token", "not a token this API gave")
	}
	recs, next, err := s.fsm.AuditPage(after, size)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read audit: %v", err)
	}
	for _, r := range recs {
		redactSecrets(r.GetCommand())
	}
	return &xasov1.ListAuditRecordsResponse{Records: recs, NextPageToken: base64.RawURLEncoding.EncodeToString(next)}, nil
}

// ListAccessRecords pages through a commune's access log (who read which
// dossiers' personal data at its node), newest first, as the node sent it.
func (s *Server) ListAccessRecords(ctx context.Context, req *xasov1.ListAccessRecordsRequest) (*xasov1.ListAccessRecordsResponse, error) {
	// The access table lets the personal-data role alone call it.
	var v dossier.Violations
	if !dossier.ValidCommuneCode(req.GetCommuneCode()) {
		v.Add("commune_code", "a 5-digit administrative unit code")
	}
	if c := req.GetDossierCode(); c != "" {
		if _, err := dossier.ParseCode(c); err != nil {
			v.Add("dossier_code", err.Error())
		}
	}
	size := int(req.GetPageSize())
	if size < 0 || size > 1000 {
		v.Add("page_size", "0 to 1000 (default 100)")
	}
	if size == 0 {
		size = 100
	}
	var before int64
	if t := req.GetPageToken(); t != "" {
		var err error
		if before, err = strconv.ParseInt(t, 10, 64); err != nil || before < 1 {
			v.Add("page_token", "not a token this API gave")
		}
	}
	if len(v) > 0 {
		return nil, grpcerr.BadRequest(v)
	}
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	entries, next, err := s.fsm.AccessRecords(req.GetCommuneCode(), req.GetDossierCode(), before, size)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	resp := &xasov1.ListAccessRecordsResponse{Entries: entries, Read: info}
	if next > 0 {
		resp.NextPageToken = strconv.FormatInt(next, 10)
	}
	return resp, nil
}

// redactSecrets blanks secret hashes in an audit record shown to operators.
func redactSecrets(c *xasov1.CentralCommand) {
	if t := c.GetPutOperatorToken().GetToken(); t != nil {
		t.SecretSha256 = ""
	}
	if t := c.GetIssueEnrollment().GetToken(); t != nil {
		t.SecretSha256 = ""
	}
	if u := c.GetUseEnrollment(); u != nil {
		u.SecretSha256 = ""
	}
}

// CreateOperatorToken issues a token; its secret is returned this once,
// unless the request carried it. Made with the bootstrap token, it is the
// first token, an OPERATOR's, and the last thing the bootstrap token does.
func (s *Server) CreateOperatorToken(ctx context.Context, req *xasov1.CreateOperatorTokenRequest) (*xasov1.CreateOperatorTokenResponse, error) {
	c, ok := callerFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "a write without an authenticated caller")
	}
	var v dossier.Violations
	switch req.GetRole() {
	case xasov1.OperatorRole_OPERATOR_ROLE_VIEWER, xasov1.OperatorRole_OPERATOR_ROLE_RECORDS, xasov1.OperatorRole_OPERATOR_ROLE_OPERATOR:
	default:
		v.Add("role", "OPERATOR_ROLE_VIEWER, OPERATOR_ROLE_RECORDS or OPERATOR_ROLE_OPERATOR")
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	if req.GetTtlSeconds() == 0 {
		ttl = DefaultOperatorTokenTTL
	}
	if req.GetTtlSeconds() < 0 || req.GetTtlSeconds() > int64(MaxOperatorTokenTTL/time.Second) || ttl < time.Minute {
		v.Add("ttl_seconds", fmt.Sprintf("60 seconds to %d days (default %d days)", MaxOperatorTokenTTL/(24*time.Hour), DefaultOperatorTokenTTL/(24*time.Hour)))
	}
	secret := req.GetSecret()
	switch {
	case secret == "":
		random, _, err := pki.NewSecret()
		if err != nil {
			return nil, status.Errorf(codes.Internal, "make a secret: %v", err)
		}
		secret = OperatorTokenPrefix + random // the prefix tells a leaked operator token apart in logs and scanners
	case !ValidOperatorSecret(secret):
		v.Add("secret", fmt.Sprintf("%q and 43 to 197 letters, digits, '-' or '_' (32 random bytes in base64url)", OperatorTokenPrefix))
	case s.cfg.BootstrapTokenSHA256 != "" && pki.SecretSum(secret) == s.cfg.BootstrapTokenSHA256:
		v.Add("secret", "the bootstrap token's; make a new one")
	}
	if len(v) > 0 {
		return nil, grpcerr.BadRequest(v)
	}
	sum := pki.SecretSum(secret)
	tok := &xasov1.OperatorToken{Name: req.GetName(), Role: req.GetRole(), SecretSha256: sum, ExpireTime: timestamppb.New(s.now().Add(ttl))}
	cmd := &xasov1.PutOperatorTokenCommand{Token: tok, First: c.bootstrap}
	if _, err := s.write(ctx, c.name, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutOperatorToken{PutOperatorToken: cmd}}); err != nil {
		return nil, renameFields(err, "token.", "")
	}
	stored, err := s.fsm.TokenBySecretHash(sum)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read token: %v", err)
	}
	stored.SecretSha256 = ""
	resp := &xasov1.CreateOperatorTokenResponse{Token: stored}
	if req.GetSecret() == "" {
		resp.Secret = secret
	}
	if c.bootstrap {
		s.log.Info("the first operator token was made with the bootstrap token, which is refused from now on", "token", tok.GetName(), "from", c.addr)
	}
	return resp, nil
}

// ListOperatorTokens lists the tokens without their secrets, each marked
// expired when it is.
func (s *Server) ListOperatorTokens(ctx context.Context, _ *xasov1.ListOperatorTokensRequest) (*xasov1.ListOperatorTokensResponse, error) {
	ts, err := s.fsm.Tokens()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read tokens: %v", err)
	}
	now := s.now()
	for _, t := range ts {
		t.SecretSha256 = ""
		if t.GetExpireTime() == nil {
			t.ExpireTime = timestamppb.New(tokenExpiry(t))
		}
		t.Expired = !now.Before(tokenExpiry(t))
	}
	return &xasov1.ListOperatorTokensResponse{Tokens: ts}, nil
}

// DeleteOperatorToken revokes a token.
func (s *Server) DeleteOperatorToken(ctx context.Context, req *xasov1.DeleteOperatorTokenRequest) (*xasov1.DeleteOperatorTokenResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.write(ctx, c, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_DeleteOperatorToken{DeleteOperatorToken: &xasov1.DeleteOperatorTokenCommand{Name: req.GetName()}}}); err != nil {
		return nil, err
	}
	return &xasov1.DeleteOperatorTokenResponse{}, nil
}

// Enrollment tokens live a week unless asked otherwise, a month at most.
const (
	defaultEnrollmentTTL = 7 * 24 * time.Hour
	maxEnrollmentTTL     = 30 * 24 * time.Hour
)

// CreateEnrollmentToken issues a one-time token for a commune's node.
func (s *Server) CreateEnrollmentToken(ctx context.Context, req *xasov1.CreateEnrollmentTokenRequest) (*xasov1.CreateEnrollmentTokenResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	if ttl == 0 {
		ttl = defaultEnrollmentTTL
	}
	if ttl < time.Minute || ttl > maxEnrollmentTTL {
		return nil, grpcerr.Field("ttl_seconds", "60 seconds to 30 days (default 7 days)")
	}
	secret, sum, err := pki.NewSecret()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%v", err)
	}
	expire := timestamppb.New(s.now().Add(ttl))
	cmd := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_IssueEnrollment{IssueEnrollment: &xasov1.IssueEnrollmentCommand{Token: &xasov1.EnrollmentToken{
		CommuneCode: req.GetCommuneCode(), SecretSha256: sum, ExpireTime: expire}}}}
	if _, err := s.write(ctx, c, cmd); err != nil {
		return nil, renameFields(err, "token.", "")
	}
	tok := pki.EnrollmentToken{Commune: req.GetCommuneCode(), CAFingerprint: s.cfg.CAFingerprint, Secret: secret}
	return &xasov1.CreateEnrollmentTokenResponse{Token: tok.String(), ExpireTime: expire}, nil
}

// renameFields rewrites the field paths of a bad-request status, from the
// command's names (prefix from) to the request's (prefix to).
func renameFields(err error, from, to string) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	var v dossier.Violations
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				v = append(v, dossier.Violation{Field: to + strings.TrimPrefix(fv.GetField(), from), Description: fv.GetDescription()})
			}
		}
	}
	if len(v) == 0 {
		return err
	}
	return grpcerr.BadRequest(v)
}

// ListNodes lists the enrolled nodes with how far their events reached.
func (s *Server) ListNodes(ctx context.Context, req *xasov1.ListNodesRequest) (*xasov1.ListNodesResponse, error) {
	info, err := s.read(ctx, req.GetConsistency())
	if err != nil {
		return nil, err
	}
	nodes, err := s.fsm.EnrolledNodes()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read nodes: %v", err)
	}
	resp := &xasov1.ListNodesResponse{Read: info}
	for _, n := range nodes {
		hw, err := s.fsm.NodeStream(n.GetCommuneCode())
		if err != nil {
			return nil, status.Errorf(codes.Internal, "read stream of %s: %v", n.GetCommuneCode(), err)
		}
		st := &xasov1.NodeStatus{Node: n, AckedSequence: hw.GetLastSequence(), NodeLastSequence: hw.GetNodeLastSequence(), AckedHash: hw.GetLastHash(), Blocked: hw.GetBlocked()}
		if hw.GetNodeId() == n.GetNodeId() {
			st.LastContactTime = hw.GetLastTime()
			st.LagEvents = max(0, hw.GetNodeLastSequence()-hw.GetLastSequence())
		}
		resp.Nodes = append(resp.Nodes, st)
	}
	return resp, nil
}

// RevokeNode refuses a node from now on.
func (s *Server) RevokeNode(ctx context.Context, req *xasov1.RevokeNodeRequest) (*xasov1.RevokeNodeResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	if !validName(req.GetNodeId()) {
		return nil, grpcerr.Field("node_id", "1 to 64 letters, digits, '.', '-' or '_'")
	}
	if _, err := s.write(ctx, c, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_RevokeNode{RevokeNode: &xasov1.RevokeNodeCommand{NodeId: req.GetNodeId()}}}); err != nil {
		return nil, err
	}
	return &xasov1.RevokeNodeResponse{}, nil
}

// UnblockCommuneChain lifts the block of a commune's chain at the record
// central refused, once the cause is dealt with (docs/deploy.md).
func (s *Server) UnblockCommuneChain(ctx context.Context, req *xasov1.UnblockCommuneChainRequest) (*xasov1.UnblockCommuneChainResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	var v dossier.Violations
	if !dossier.ValidCommuneCode(req.GetCommuneCode()) {
		v.Add("commune_code", "a 5-digit administrative unit code")
	}
	if req.GetSequence() < 1 {
		v.Add("sequence", "the sequence the chain is blocked at (ListNodes shows it)")
	}
	if len(v) > 0 {
		return nil, grpcerr.BadRequest(v)
	}
	cmd := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_UnblockChain{UnblockChain: &xasov1.UnblockChainCommand{
		CommuneCode: req.GetCommuneCode(), Sequence: req.GetSequence()}}}
	if _, err := s.write(ctx, c, cmd); err != nil {
		return nil, err
	}
	return &xasov1.UnblockCommuneChainResponse{}, nil
}

// UpdateCommuneSettings sets how a commune's node syncs.
func (s *Server) UpdateCommuneSettings(ctx context.Context, req *xasov1.UpdateCommuneSettingsRequest) (*xasov1.UpdateCommuneSettingsResponse, error) {
	c, err := actor(ctx)
	if err != nil {
		return nil, err
	}
	cmd := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutCommuneSettings{PutCommuneSettings: &xasov1.PutCommuneSettingsCommand{
		CommuneCode: req.GetCommuneCode(), Settings: req.GetSettings()}}}
	if _, err := s.write(ctx, c, cmd); err != nil {
		return nil, err
	}
	set, err := s.fsm.CommuneSettings(req.GetCommuneCode())
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read settings: %v", err)
	}
	return &xasov1.UpdateCommuneSettingsResponse{Settings: set}, nil
}
