package dossier

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// Succeed is the action by which central hands a predecessor commune's
// unfinished dossier to its successor (SucceedEvent).
const Succeed = xasov1.Action_ACTION_SUCCEED

// MaxSuccessionBasisRunes bounds the legal basis a succession names.
const MaxSuccessionBasisRunes = 500

// MaxSuccessionPredecessors bounds how many communes one succession merges.
const MaxSuccessionPredecessors = 16

// Succession is a reorganisation of communes as central stores it.
type Succession = xasov1.Succession

// ValidateSuccession checks a declaration in form, at now (the proposer's
// time): predecessors are distinct commune codes other than the
// successor's, the effective time is not in the past, and the legal basis
// is given and bounded. Whether the communes are registered, and that no
// commune is in two successions, the caller holding the registry checks.
func ValidateSuccession(s *Succession, now time.Time) error {
	var v Violations
	if s == nil {
		v.Add("succession", "required")
		return v
	}
	preds := s.GetPredecessorCodes()
	switch {
	case len(preds) == 0:
		v.Add("succession.predecessor_codes", "at least one commune that ceases")
	case len(preds) > MaxSuccessionPredecessors:
		v.Add("succession.predecessor_codes", fmt.Sprintf("at most %d communes", MaxSuccessionPredecessors))
	}
	for i, p := range preds {
		f := fmt.Sprintf("succession.predecessor_codes[%d]", i)
		switch {
		case !ValidCommuneCode(p):
			v.Add(f, "a 5-digit administrative unit code")
		case p == s.GetSuccessorCode():
			v.Add(f, "the successor cannot succeed itself")
		case slices.Index(preds, p) != i:
			v.Add(f, "named twice")
		}
	}
	if !ValidCommuneCode(s.GetSuccessorCode()) {
		v.Add("succession.successor_code", "a 5-digit administrative unit code")
	}
	switch t := s.GetEffectiveTime(); {
	case t == nil || !t.IsValid():
		v.Add("succession.effective_time", "required")
	case t.AsTime().Before(now.Add(-time.Minute)):
		// A minute of slack for the clocks of the operator and the leader.
		v.Add("succession.effective_time", "now or later: a succession is not declared after the fact")
	}
	switch b := strings.TrimSpace(s.GetBasis()); {
	case b == "":
		v.Add("succession.basis", "the act that decides it (e.g. a resolution of the Standing Committee)")
	case !utf8.ValidString(b) || utf8.RuneCountInString(b) > MaxSuccessionBasisRunes || strings.ContainsFunc(b, unicode.IsControl):
		v.Add("succession.basis", fmt.Sprintf("at most %d characters of printable text", MaxSuccessionBasisRunes))
	}
	return v.Err()
}

// SuccessionError says that a commune that ceased to exist was asked to
// take a new dossier: its desk sends the citizen to the successor's
// centre. Message is what the desk shows, in Vietnamese.
type SuccessionError struct {
	Commune, Successor, SuccessorName, Basis string
	Effective                                time.Time
}

func (e *SuccessionError) Error() string {
	return fmt.Sprintf("commune %s ceased at %s (%s): new dossiers go to commune %s", e.Commune, e.Effective.In(Zone).Format(time.RFC3339), e.Basis, e.Successor)
}

// Message is the desk's Vietnamese text for the citizen and the clerk.
func (e *SuccessionError) Message() string {
	name := e.SuccessorName
	if name == "" {
		name = "đơn vị hành chính mã " + e.Successor
	}
	return fmt.Sprintf("Từ %s, theo %s, đơn vị này không tiếp nhận hồ sơ mới. Đề nghị công dân nộp hồ sơ tại Trung tâm phục vụ hành chính công của %s.",
		e.Effective.In(Zone).Format("15:04 02/01/2006"), e.Basis, name)
}

// CheckSuccessionReceipt refuses a receipt at commune at time t when s
// (the succession commune is a predecessor of, or nil) is in effect:
// from its effective time a predecessor takes no new dossier, so that
// every dossier has one owner, the successor, which must not ask again
// for papers filed nor repeat steps done (Resolution 190/2025/QH15).
// Everything else a predecessor does keeps flowing until it seals.
func CheckSuccessionReceipt(s *Succession, commune, successorName string, t time.Time) error {
	if s == nil || !slices.Contains(s.GetPredecessorCodes(), commune) || t.Before(s.GetEffectiveTime().AsTime()) {
		return nil
	}
	return &SuccessionError{Commune: commune, Successor: s.GetSuccessorCode(), SuccessorName: successorName, Basis: s.GetBasis(), Effective: s.GetEffectiveTime().AsTime()}
}

// HandedOver reports whether a predecessor's dossier in state s goes to
// the successor: every dossier still to be worked on or returned
// (processing, awaiting a supplement or approval, result or refusal
// ready). A dossier transferred to another commune is that commune's to
// take; finished, withdrawn, closed and turned-away dossiers stay where
// they are, readable at central by their unchanged codes.
func HandedOver(s State) bool {
	return IsOpen(s) || s == ResultReady || s == Refused
}

// SucceedEvent is the event with which central hands d to successor at
// t, naming the legal basis: the dossier becomes the successor's with its
// state, due time, pause and holder as they were — the successor goes on
// where the predecessor stopped and repeats no step (Resolution
// 190/2025/QH15). Actor "system": no person acts.
func SucceedEvent(d *Dossier, successor, basis string, t time.Time) (*Event, error) {
	if !HandedOver(d.GetState()) {
		return nil, &TransitionError{Action: Succeed, State: d.GetState(), Why: "only an unfinished dossier is handed to the successor"}
	}
	if d.GetCommuneCode() == successor {
		return nil, fmt.Errorf("dossier %s is commune %s's already", d.GetCode(), successor)
	}
	return &Event{
		Sequence: d.GetEventCount() + 1, Action: Succeed, Actor: "system", Time: timestamppb.New(t),
		State: d.GetState(), Assignee: d.GetAssignee(), DueTime: d.GetDueTime(),
		Reason: basis, TransferCommuneCode: successor,
	}, nil
}
