package dossier

// The codes of violations (Violation.Code): stable names the API sends as
// a field violation's reason and the pages translate (web/messages.go,
// "violation.<code>"), so that no page shows a developer's English text.
const (
	// CodeRequired: the field must be given.
	CodeRequired = "REQUIRED"
	// CodeReasonRequired: the action or outcome must state its reason.
	CodeReasonRequired = "REASON_REQUIRED"
	// CodeAssigneeRequired: the action names who takes the dossier.
	CodeAssigneeRequired = "ASSIGNEE_REQUIRED"
	// CodeComponentMissing: a required component was not handed in.
	CodeComponentMissing = "COMPONENT_MISSING"
	// CodeNotAssignable: the assignee is no user of the commune with a
	// role that takes the dossier.
	CodeNotAssignable = "NOT_ASSIGNABLE"
	// CodeCommuneNotRegistered: the commune is not registered in the
	// province.
	CodeCommuneNotRegistered = "COMMUNE_NOT_REGISTERED"
	// CodeInvalidCode: not a dossier code.
	CodeInvalidCode = "INVALID_CODE"
)
