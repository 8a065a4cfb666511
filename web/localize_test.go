package web

import (
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func withDetails(t *testing.T, st *status.Status, d ...*errdetails.BadRequest) error {
	t.Helper()
	for _, x := range d {
		var err error
		if st, err = st.WithDetails(x); err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

// TestLocalErrors: the API's errors on a page in its language — a coded
// field violation translated next to its field, an uncoded one as a
// general Vietnamese message (its English only on English pages), and the
// statuses that are no field's by their code.
func TestLocalErrors(t *testing.T) {
	bad := withDetails(t, status.New(codes.InvalidArgument, "invalid request"), &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: "applicant.full_name", Description: "the applicant's full name is required", Reason: "REQUIRED"},
		{Field: "reason", Description: "WITHDRAW needs a written reason"},
	}})
	vi := LocalErrors(Vietnamese, bad, "applicant.full_name", "reason")
	if got := vi.Field("applicant.full_name"); got != Message(Vietnamese, "violation.REQUIRED") {
		t.Errorf("full name: %q", got)
	}
	if got := vi.Field("reason"); got != Message(Vietnamese, "violation.INVALID") {
		t.Errorf("reason: %q", got)
	}
	if got := LocalErrors(English, bad, "reason").Field("reason"); got != "WITHDRAW needs a written reason" {
		t.Errorf("reason in English: %q", got)
	}
	state := status.New(codes.FailedPrecondition, "cannot TRANSFER a dossier in state IN_PROCESSING: it needs RECEIVED")
	state, _ = state.WithDetails(&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{Type: "STATE", Subject: "IN_PROCESSING"}}})
	for _, c := range []struct {
		err  error
		want string
	}{
		{state.Err(), "trạng thái " + Message(Vietnamese, "state.IN_PROCESSING")},
		{status.Error(codes.Aborted, "dossier x has 2 events, the request expected 1"), "vừa được người khác cập nhật"},
		{status.Error(codes.PermissionDenied, "role CLERK may not APPROVE"), "Vai trò"},
		{status.Error(codes.Internal, "boom"), "Có lỗi"},
	} {
		e := LocalErrors(Vietnamese, c.err)
		if len(e.Other) != 1 || !strings.Contains(e.Other[0], c.want) {
			t.Errorf("%v: %q, want %q in it", c.err, e.Other, c.want)
		}
	}
}
