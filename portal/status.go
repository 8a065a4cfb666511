package portal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Status is a dossier's status in the portal's catalogue (TrangThaiHoSo,
// TrangThai), as provincial systems use it.
type Status int

// The portal's status catalogue.
const (
	StatusFiled          Status = 1  // Mới đăng ký: filed online, not yet looked at
	StatusReceived       Status = 2  // Được tiếp nhận (Decree 118/2025 art. 17(2)(b))
	StatusNotReceived    Status = 3  // Không được tiếp nhận (art. 17(2)(a))
	StatusProcessing     Status = 4  // Đang xử lý
	StatusSupplement     Status = 5  // Yêu cầu bổ sung giấy tờ (art. 17(2)(c), 19(5))
	StatusFinancial      Status = 6  // Yêu cầu thực hiện nghĩa vụ tài chính (art. 24)
	StatusWithdrawn      Status = 7  // Công dân yêu cầu rút hồ sơ (art. 21(2))
	StatusStopped        Status = 8  // Dừng xử lý (art. 21)
	StatusResolved       Status = 9  // Đã xử lý xong
	StatusResultReturned Status = 10 // Đã trả kết quả (art. 22)
)

var statusNames = map[Status]string{
	StatusFiled:          "Mới đăng ký",
	StatusReceived:       "Được tiếp nhận",
	StatusNotReceived:    "Không được tiếp nhận",
	StatusProcessing:     "Đang xử lý",
	StatusSupplement:     "Yêu cầu bổ sung giấy tờ",
	StatusFinancial:      "Yêu cầu thực hiện nghĩa vụ tài chính",
	StatusWithdrawn:      "Công dân yêu cầu rút hồ sơ",
	StatusStopped:        "Dừng xử lý",
	StatusResolved:       "Đã xử lý xong",
	StatusResultReturned: "Đã trả kết quả",
}

// Valid reports whether s is in the catalogue.
func (s Status) Valid() bool { _, ok := statusNames[s]; return ok }

// Name is the status's Vietnamese name, or "" outside the catalogue.
func (s Status) Name() string { return statusNames[s] }

// Final reports whether nothing may follow s: not received, withdrawn,
// stopped, result returned.
func (s Status) Final() bool {
	switch s {
	case StatusNotReceived, StatusWithdrawn, StatusStopped, StatusResultReturned:
		return true
	}
	return false
}

// next lists what the portal accepts after each status. Withdrawal is
// open until a decision (art. 21(2)): not after resolved. Re-sending the
// current status (an update of other fields, "isUpdating") is accepted for
// every status that is not final. The graph is the stand-in's reading of
// the decree; the portal's own rules are in its specification.
var next = map[Status][]Status{
	StatusFiled:      {StatusReceived, StatusNotReceived, StatusWithdrawn},
	StatusReceived:   {StatusProcessing, StatusSupplement, StatusFinancial, StatusWithdrawn, StatusStopped, StatusResolved},
	StatusProcessing: {StatusSupplement, StatusFinancial, StatusWithdrawn, StatusStopped, StatusResolved},
	StatusSupplement: {StatusProcessing, StatusFinancial, StatusWithdrawn, StatusStopped, StatusResolved},
	StatusFinancial:  {StatusProcessing, StatusSupplement, StatusWithdrawn, StatusStopped, StatusResolved},
	StatusResolved:   {StatusResultReturned},
}

// CanFollow reports whether the portal accepts status to after from.
func CanFollow(from, to Status) bool {
	if !from.Valid() || !to.Valid() || from.Final() {
		return false
	}
	if from == to {
		return true
	}
	for _, s := range next[from] {
		if s == to {
			return true
		}
	}
	return false
}

// MarshalJSON writes s as a string of digits, as provincial systems send it.
func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(strconv.Itoa(int(s))) }

// UnmarshalJSON reads a status sent as a number or as a string of digits;
// whether it is in the catalogue is Validate's concern.
func (s *Status) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("status: %w", err)
		}
		b = []byte(str)
	}
	if len(b) == 0 || len(b) > 3 {
		return fmt.Errorf("status %q: want a number from 1 to 10", b)
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("status %q: want a number from 1 to 10", b)
	}
	*s = Status(n)
	return nil
}
