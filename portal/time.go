package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// TimeLayout is the portal's time layout, yyyyMMddHHmmss.
const TimeLayout = "20060102150405"

// vietnam is Asia/Ho_Chi_Minh. Vietnam has kept UTC+7 without daylight
// saving since 1975, so a fixed zone gives the same wall clock as the tz
// database without depending on it being installed.
var vietnam = time.FixedZone("Asia/Ho_Chi_Minh", 7*3600)

// Vietnam returns the zone the portal's times are written in.
func Vietnam() *time.Location { return vietnam }

// Time is an instant written as yyyyMMddHHmmss in Asia/Ho_Chi_Minh. The zero
// Time is written as "" (an optional field left empty, as provincial
// systems send it).
type Time struct{ time.Time }

// ParseTime reads s strictly: exactly 14 digits forming a real date and
// time in Asia/Ho_Chi_Minh.
func ParseTime(s string) (Time, error) {
	if len(s) != len(TimeLayout) {
		return Time{}, fmt.Errorf("time %q: want 14 digits yyyyMMddHHmmss", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return Time{}, fmt.Errorf("time %q: want 14 digits yyyyMMddHHmmss", s)
		}
	}
	t, err := time.ParseInLocation(TimeLayout, s, vietnam)
	if err != nil {
		return Time{}, fmt.Errorf("time %q: not a real date and time: %w", s, err)
	}
	return Time{t}, nil
}

// String writes t as yyyyMMddHHmmss in Asia/Ho_Chi_Minh; "" when zero.
func (t Time) String() string {
	if t.IsZero() {
		return ""
	}
	return t.In(vietnam).Format(TimeLayout)
}

// MarshalJSON writes t as a JSON string, "" when zero.
func (t Time) MarshalJSON() ([]byte, error) { return json.Marshal(t.String()) }

// UnmarshalJSON reads a JSON string of 14 digits, or "" (or null) for the
// zero Time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time: want a string yyyyMMddHHmmss: %w", err)
	}
	if s == "" {
		*t = Time{}
		return nil
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}
