package portalconn_test

import (
	"fmt"
	"testing"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/central/portalconn"
	"github.com/xaso/xaso/portal"
)

func TestStatusOfEachState(t *testing.T) {
	for _, tc := range []struct {
		article string
		state   xasov1.State
		want    portal.Status
	}{
		{"art. 17(2)(b): received", xasov1.State_STATE_RECEIVED, 2},
		{"art. 17(2)(a): guided to complete (form 02)", xasov1.State_STATE_GUIDED, 3},
		{"art. 17(2)(a): refused at reception (form 03)", xasov1.State_STATE_REFUSED_AT_RECEPTION, 3},
		{"art. 18: processing", xasov1.State_STATE_IN_PROCESSING, 4},
		{"art. 19: waiting for the decision", xasov1.State_STATE_AWAITING_APPROVAL, 4},
		{"art. 19(5): supplements asked for", xasov1.State_STATE_AWAITING_SUPPLEMENT, 5},
		{"art. 19(5): closed without supplements", xasov1.State_STATE_CLOSED_UNSUPPLEMENTED, 8},
		{"art. 21(2): withdrawn", xasov1.State_STATE_WITHDRAWN, 7},
		{"art. 19: result decided", xasov1.State_STATE_RESULT_READY, 9},
		{"art. 20: refusal decided", xasov1.State_STATE_REFUSED, 9},
		{"art. 22: result returned", xasov1.State_STATE_RETURNED, 10},
		{"transferred to the competent commune: still processing", xasov1.State_STATE_TRANSFERRED, 4},
	} {
		if got, ok := portalconn.StatusOf(tc.state); !ok || got != tc.want {
			t.Errorf("%s: %v → %d, %v; want %d", tc.article, tc.state, got, ok, tc.want)
		}
	}
	if _, ok := portalconn.StatusOf(xasov1.State_STATE_UNSPECIFIED); ok {
		t.Error("an unspecified state is shown at the portal")
	}
}

// portalAccepts checks a dossier's messages as the portal stand-in takes
// them: each sync a status that may follow the last, none after a final
// one, no sync repeating the status.
func portalAccepts(msgs []portalconn.Message) error {
	last := portal.StatusFiled
	for i, m := range msgs {
		if m.Sync && (m.Status == last || !portal.CanFollow(last, m.Status)) {
			return fmt.Errorf("message %d: sync %d after %d", i, m.Status, last)
		}
		if !m.Sync && m.Status != last {
			return fmt.Errorf("message %d: progress under %d, the status being %d", i, m.Status, last)
		}
		last = m.Status
	}
	return nil
}

// walk is what a dossier's states send the portal, in order.
func walk(states ...xasov1.State) []portalconn.Message {
	var out []portalconn.Message
	last := portal.StatusFiled
	for _, s := range states {
		if m, ok := portalconn.MessageFor(last, s); ok {
			out = append(out, m)
			last = m.Status
		}
	}
	return out
}

func TestEveryWorkflowSendsWhatThePortalTakes(t *testing.T) {
	S := xasov1.State_STATE_RECEIVED
	for name, states := range map[string][]xasov1.State{
		"art. 17–22: received, processed, decided, returned": {S, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_AWAITING_APPROVAL, xasov1.State_STATE_RESULT_READY, xasov1.State_STATE_RETURNED},
		"art. 19(5): supplements, then decided":              {S, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_AWAITING_SUPPLEMENT, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_REFUSED, xasov1.State_STATE_RETURNED},
		"art. 19(5): supplements never came":                 {S, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_AWAITING_SUPPLEMENT, xasov1.State_STATE_CLOSED_UNSUPPLEMENTED, xasov1.State_STATE_RETURNED},
		"art. 17(2)(a): guided at reception":                 {xasov1.State_STATE_GUIDED},
		"art. 17(2)(a): refused at reception":                {xasov1.State_STATE_REFUSED_AT_RECEPTION},
		"art. 21(2): withdrawn while processed":              {S, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_WITHDRAWN},
		"transferred to the competent commune":               {S, xasov1.State_STATE_TRANSFERRED, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_RESULT_READY, xasov1.State_STATE_RETURNED},
	} {
		if err := portalAccepts(walk(states...)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var syncs []portal.Status
	for _, m := range walk(S, xasov1.State_STATE_IN_PROCESSING, xasov1.State_STATE_AWAITING_APPROVAL, xasov1.State_STATE_RESULT_READY, xasov1.State_STATE_RETURNED) {
		if m.Sync {
			syncs = append(syncs, m.Status)
		}
	}
	if fmt.Sprint(syncs) != "[2 4 9 10]" {
		t.Errorf("the statuses of a dossier processed and returned = %v; want [2 4 9 10]", syncs)
	}
}

// TestPortalCheckFires: the check above refuses what the portal refuses.
func TestPortalCheckFires(t *testing.T) {
	for _, bad := range [][]portalconn.Message{
		{{Status: 4, Sync: true}},                          // 1 → 4: not received first
		{{Status: 2, Sync: true}, {Status: 2, Sync: true}}, // the same status twice as a sync
		{{Status: 3, Sync: true}, {Status: 4, Sync: true}}, // after a final status
		{{Status: 2, Sync: true}, {Status: 4}},             // a progress step under another status
	} {
		if portalAccepts(bad) == nil {
			t.Errorf("%v passed the check", bad)
		}
	}
}
