package dossier

import (
	"fmt"
	"strings"
	"time"
)

// ParseDailyWindow reads a daily window "HH:MM-HH:MM" in Vietnam time (it may
// run past midnight) and returns whether a time falls in it; "" is always.
func ParseDailyWindow(s string) (func(time.Time) bool, error) {
	if s == "" {
		return nil, nil
	}
	from, to, ok := strings.Cut(s, "-")
	a, errA := time.Parse("15:04", strings.TrimSpace(from))
	b, errB := time.Parse("15:04", strings.TrimSpace(to))
	if !ok || errA != nil || errB != nil || a.Equal(b) {
		return nil, fmt.Errorf("%q is not a window like 22:00-06:00", s)
	}
	start, end := a.Hour()*60+a.Minute(), b.Hour()*60+b.Minute()
	return func(t time.Time) bool {
		lt := t.In(Zone)
		m := lt.Hour()*60 + lt.Minute()
		if start < end {
			return m >= start && m < end
		}
		return m >= start || m < end
	}, nil
}
