package dossier_test

import (
	"testing"
	"time"

	"github.com/xaso/xaso/dossier"
)

func TestUploadWindowRunsInVietnamTimeAndMayCrossMidnight(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 11, 25, h, m, 0, 0, dossier.Zone) }
	for _, c := range []struct {
		window string
		at     time.Time
		in     bool
	}{
		{"22:00-06:00", at(23, 0), true},
		{"22:00-06:00", at(5, 59), true},
		{"22:00-06:00", at(6, 0), false},
		{"22:00-06:00", at(12, 0), false},
		{"12:00-13:30", at(12, 45), true},
		{"12:00-13:30", at(13, 30), false},
		{"22:00-06:00", time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC), true}, // 23:00 in Hà Nội
	} {
		in, err := dossier.ParseDailyWindow(c.window)
		if err != nil {
			t.Fatal(err)
		}
		if got := in(c.at); got != c.in {
			t.Errorf("%s at %v: %v, want %v", c.window, c.at, got, c.in)
		}
	}
	if w, err := dossier.ParseDailyWindow(""); w != nil || err != nil {
		t.Error("an empty window is not always")
	}
	for _, bad := range []string{"22:00", "25:00-06:00", "22-06", "06:00-06:00"} {
		if _, err := dossier.ParseDailyWindow(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
