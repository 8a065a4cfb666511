// Package grpcerr turns the domain's errors into gRPC statuses, the way every
// xaso API reports them: malformed input is InvalidArgument with a
// google.rpc.BadRequest listing each wrong field; a workflow action the state
// does not allow is FailedPrecondition saying why; a role that may not act is
// PermissionDenied. grpc-gateway maps these to 400, 412/409 and 403.
//
// Handlers return grpcerr.From(err) and need not know which error it was.
package grpcerr

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/xaso/xaso/dossier"
)

// BadRequest returns an InvalidArgument status carrying v as field
// violations, each violation's code (dossier/codes.go) as its reason.
func BadRequest(v dossier.Violations) error {
	st := status.New(codes.InvalidArgument, v.Error())
	br := &errdetails.BadRequest{}
	for _, x := range v {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: x.Field, Description: x.Description, Reason: x.Code})
	}
	if ds, err := st.WithDetails(br); err == nil {
		st = ds
	}
	return st.Err()
}

// Field returns an InvalidArgument status for one wrong field.
func Field(field, description string) error {
	return BadRequest(dossier.Violations{{Field: field, Description: description}})
}

// From maps an error to a status: domain errors to their codes, context
// errors to Canceled or DeadlineExceeded, a status error to itself, and
// anything else to Internal with msg (the cause is for the log, not the caller).
func From(err error, notFound error, msg string) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var v dossier.Violations
	var te *dossier.TransitionError
	var re *dossier.RoleError
	var se *dossier.SuccessionError
	var oe *dossier.OwnerError
	switch {
	case errors.As(err, &v):
		return BadRequest(v)
	case errors.As(err, &te):
		st := status.New(codes.FailedPrecondition, te.Error())
		pf := &errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
			Type: "STATE", Subject: dossier.StateName(te.State), Description: te.Why,
		}}}
		if ds, derr := st.WithDetails(pf); derr == nil {
			st = ds
		}
		return st.Err()
	case errors.As(err, &re):
		return status.Error(codes.PermissionDenied, re.Error())
	case errors.As(err, &oe):
		return status.Error(codes.PermissionDenied, oe.Error())
	case errors.As(err, &se):
		// The desk shows the message as it is: where the citizen goes.
		return status.Error(codes.FailedPrecondition, se.Message())
	case notFound != nil && errors.Is(err, notFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Internal, msg)
}
