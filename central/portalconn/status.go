package portalconn

import (
	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/portal"
)

// statusOfState is the portal status (1–10) each workflow state is shown
// as, with the article of Decree 118/2025 that makes it. A state absent
// here changes nothing at the portal.
var statusOfState = map[xasov1.State]portal.Status{
	// Art. 17(2)(b): complete and correct, received with a receipt.
	xasov1.State_STATE_RECEIVED: portal.StatusReceived,
	// Art. 17(2)(a): incomplete or not this body's to decide: not
	// received, with the written guidance (form 02) or refusal (form 03).
	xasov1.State_STATE_GUIDED:               portal.StatusNotReceived,
	xasov1.State_STATE_REFUSED_AT_RECEPTION: portal.StatusNotReceived,
	// Art. 18, 19: handled by the competent officer, up to the decision.
	xasov1.State_STATE_IN_PROCESSING:     portal.StatusProcessing,
	xasov1.State_STATE_AWAITING_APPROVAL: portal.StatusProcessing,
	// A dossier handed to the competent commune is still being processed.
	xasov1.State_STATE_TRANSFERRED: portal.StatusProcessing,
	// Art. 19(5): the citizen is asked in writing for supplements.
	xasov1.State_STATE_AWAITING_SUPPLEMENT: portal.StatusSupplement,
	// Art. 19, 20: the result, or the written refusal to grant it, is
	// decided and waits at the desk.
	xasov1.State_STATE_RESULT_READY: portal.StatusResolved,
	xasov1.State_STATE_REFUSED:      portal.StatusResolved,
	// Art. 22: the result is handed back.
	xasov1.State_STATE_RETURNED: portal.StatusResultReturned,
	// Art. 21(2): the citizen withdrew the dossier before the decision.
	xasov1.State_STATE_WITHDRAWN: portal.StatusWithdrawn,
	// Art. 19(5): the supplements did not come in time; processing stopped.
	xasov1.State_STATE_CLOSED_UNSUPPLEMENTED: portal.StatusStopped,
}

// StatusOf is the portal status a dossier in state st is shown as, and
// false for a state the portal is not told of.
func StatusOf(st xasov1.State) (portal.Status, bool) {
	s, ok := statusOfState[st]
	return s, ok
}

// Message is what one event of an online dossier sends the portal: a
// dossier sync when the status changes, else a progress step under the
// current status.
type Message struct {
	Status portal.Status
	// Sync: a dossier sync (DongBoHoSoMC); else a progress step
	// (CapNhatTienDoHoSoMC).
	Sync bool
}

// MessageFor says what an event that leaves the dossier in state after
// sends the portal, the last status sent being last (portal.StatusFiled
// before the first). ok is false when the event sends nothing: a state the
// portal is not told of, or anything after a final status.
func MessageFor(last portal.Status, after xasov1.State) (m Message, ok bool) {
	s, known := StatusOf(after)
	if !known || last.Final() {
		return Message{}, false
	}
	if s == last {
		return Message{Status: s}, true
	}
	return Message{Status: s, Sync: true}, true
}
