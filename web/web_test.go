package web

import (
	"strings"
	"testing"
)

// A blocked sync says so on the desk's badge, whatever the link does, and
// looks like a link down.
func TestSyncBadgeSaysWhenTheProvinceStoppedTakingData(t *testing.T) {
	for _, lang := range []Lang{Vietnamese, English} {
		blocked := Sync{Connected: true, Blocked: 12, PendingEvents: 3}
		if got := blocked.Label(lang); !strings.HasPrefix(got, Message(lang, "sync.blocked")) || !strings.Contains(got, "3") {
			t.Errorf("%v: blocked badge %q", lang, got)
		}
		if blocked.Class() != "sync-off" {
			t.Errorf("blocked badge style %q, want sync-off", blocked.Class())
		}
		ok := Sync{Connected: true, PendingEvents: 3}
		if got := ok.Label(lang); strings.Contains(got, Message(lang, "sync.blocked")) || ok.Class() != "sync-ok" {
			t.Errorf("%v: a sync that is not blocked shows %q (%s)", lang, got, ok.Class())
		}
	}
}
