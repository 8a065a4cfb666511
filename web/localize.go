package web

import (
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// LocalErrors reads an API error as FormErrors does, in the page's
// language: a field violation by its reason (the domain's code,
// dossier/codes.go: "violation.<reason>"), any other status by its gRPC
// code (a state that does not allow the action, a role that may not take
// it, a page older than the dossier, …). On a Vietnamese page no English
// text of the API shows: what has no translation gets a general message.
// English pages keep the API's own description where there is no text.
func LocalErrors(lang Lang, err error, shown ...string) Errors {
	e := Errors{Fields: map[string]string{}}
	if err == nil {
		return e
	}
	st, ok := status.FromError(err)
	if !ok {
		e.Other = append(e.Other, localOther(lang, codes.Unknown, "", err.Error()))
		return e
	}
	found := false
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			found = true
			msg := violationText(lang, v)
			if owner := fieldOwner(v.GetField(), shown); owner != "" {
				if _, dup := e.Fields[owner]; !dup {
					e.Fields[owner] = msg
				}
				continue
			}
			e.Other = append(e.Other, msg)
		}
	}
	if !found {
		state := ""
		for _, d := range st.Details() {
			if pf, ok := d.(*errdetails.PreconditionFailure); ok {
				for _, v := range pf.GetViolations() {
					if v.GetType() == "STATE" {
						state = v.GetSubject()
					}
				}
			}
		}
		e.Other = append(e.Other, localOther(lang, st.Code(), state, st.Message()))
	}
	return e
}

// violationText is a field violation in lang.
func violationText(lang Lang, v *errdetails.BadRequest_FieldViolation) string {
	if r := v.GetReason(); r != "" {
		if m, ok := lookup(lang, "violation."+r); ok {
			return m
		}
	}
	if lang == English {
		return v.GetDescription()
	}
	return Message(lang, "violation.INVALID")
}

// localOther is an error that is no field's, by its gRPC code.
func localOther(lang Lang, c codes.Code, state, msg string) string {
	switch c {
	case codes.FailedPrecondition:
		if state != "" {
			return Message(lang, "error.state") + " " + Message(lang, "state."+state) + "."
		}
		return Message(lang, "error.precondition")
	case codes.PermissionDenied:
		return Message(lang, "error.role")
	case codes.Aborted:
		return Message(lang, "error.stale")
	case codes.NotFound:
		return Message(lang, "error.notfound")
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return Message(lang, "error.unavailable")
	case codes.ResourceExhausted:
		return Message(lang, "error.toolarge")
	}
	if lang == English && msg != "" {
		return msg
	}
	return Message(lang, "error.other")
}

// lookup is the text of key in lang, and whether there is one.
func lookup(lang Lang, key string) (string, bool) {
	if _, ok := messages[key]; !ok {
		return "", false
	}
	return Message(lang, key), true
}
