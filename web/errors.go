package web

import (
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors are a form's errors: the API's field violations by field, shown
// next to each field, and what fits no field.
type Errors struct {
	Fields map[string]string
	Other  []string
}

// Field returns the error of a field, or of any field under it (field.x,
// field[i]), so that a form shows a list's errors next to the list.
func (e Errors) Field(name string) string {
	if m, ok := e.Fields[name]; ok {
		return m
	}
	for f, m := range e.Fields {
		if strings.HasPrefix(f, name+".") || strings.HasPrefix(f, name+"[") {
			return m
		}
	}
	return ""
}

// Any reports whether there is an error.
func (e Errors) Any() bool { return len(e.Fields) > 0 || len(e.Other) > 0 }

// Add records one error of a field the form shows.
func (e *Errors) Add(field, msg string) {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	e.Fields[field] = msg
}

// FormErrors reads an API error: each field violation goes to the field
// the form shows it on (shown lists the form's fields; a violation of a
// field not shown is listed with the others), any other status becomes one
// line of Other. It returns no errors for nil.
func FormErrors(err error, shown ...string) Errors {
	e := Errors{Fields: map[string]string{}}
	if err == nil {
		return e
	}
	st, ok := status.FromError(err)
	if !ok {
		e.Other = append(e.Other, err.Error())
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
			if owner := fieldOwner(v.GetField(), shown); owner != "" {
				if _, dup := e.Fields[owner]; !dup {
					e.Fields[owner] = v.GetDescription()
				}
				continue
			}
			e.Other = append(e.Other, v.GetField()+": "+v.GetDescription())
		}
	}
	if !found {
		msg := st.Message()
		if st.Code() == codes.Unavailable {
			msg = "unavailable: " + msg
		}
		e.Other = append(e.Other, msg)
	}
	return e
}

// fieldOwner returns the shown field that f is, or is under.
func fieldOwner(f string, shown []string) string {
	best := ""
	for _, s := range shown {
		if (f == s || strings.HasPrefix(f, s+".") || strings.HasPrefix(f, s+"[")) && len(s) > len(best) {
			best = s
		}
	}
	return best
}
