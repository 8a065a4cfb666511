package web

// messages holds every text of the pages: Vietnamese, then English.
var messages = map[string][2]string{
	"site.node":                 {"Trung tâm Phục vụ hành chính công xã", "Commune Public Administrative Service Centre"},
	"lang.switch":               {"English", "Tiếng Việt"},
	"lookup.title":              {"Tra cứu hồ sơ", "Look up a dossier"},
	"lookup.intro":              {"Nhập mã hồ sơ in trên giấy tiếp nhận (hoặc quét mã QR) để biết hồ sơ đang ở đâu và ngày hẹn trả kết quả.", "Enter the dossier code printed on your receipt (or scan its QR code) to see where your dossier is and when its result is due."},
	"lookup.code":               {"Mã hồ sơ", "Dossier code"},
	"lookup.code.hint":          {"Ví dụ: 09619-261123-0001", "For example: 09619-261123-0001"},
	"lookup.submit":             {"Tra cứu", "Look up"},
	"lookup.bad":                {"Mã hồ sơ có dạng XXXXX-YYMMDD-NNNN: mã xã, ngày tiếp nhận, số thứ tự.", "A dossier code reads XXXXX-YYMMDD-NNNN: commune, day of receipt, number."},
	"lookup.notfound":           {"Không tìm thấy hồ sơ có mã này tại xã. Hãy kiểm tra lại mã trên giấy tiếp nhận.", "This commune holds no dossier with that code. Check the code on your receipt."},
	"lookup.procedure":          {"Thủ tục", "Procedure"},
	"lookup.received":           {"Ngày tiếp nhận", "Received on"},
	"lookup.due":                {"Ngày hẹn trả kết quả", "Result due on"},
	"lookup.state":              {"Tình trạng", "Status"},
	"lookup.finished":           {"Ngày có kết quả", "Result on"},
	"lookup.returned":           {"Ngày trả kết quả", "Result returned on"},
	"lookup.ontime":             {"Đúng hạn", "On time"},
	"lookup.early":              {"Trước hạn", "Early"},
	"lookup.late":               {"Quá hạn", "Late"},
	"lookup.overdue":            {"Hồ sơ đã quá ngày hẹn. Trung tâm sẽ liên hệ để xin lỗi và hẹn lại.", "The dossier is past its due date. The centre will contact you to apologise and set a new date."},
	"lookup.history":            {"Các bước đã qua", "Steps so far"},
	"lookup.when":               {"Thời gian", "When"},
	"lookup.step":               {"Bước", "Step"},
	"lookup.privacy":            {"Trang này chỉ hiện những gì giấy tiếp nhận đã ghi; không có thông tin cá nhân.", "This page shows only what the receipt shows; no personal data."},
	"state.RECEIVED":            {"Đã tiếp nhận", "Received"},
	"state.IN_PROCESSING":       {"Đang giải quyết", "Being processed"},
	"state.AWAITING_SUPPLEMENT": {"Chờ công dân bổ sung giấy tờ", "Waiting for documents from the applicant"},
	"state.AWAITING_APPROVAL":   {"Chờ lãnh đạo phê duyệt", "Waiting for approval"},
	"state.RESULT_READY":        {"Đã có kết quả, mời đến nhận", "Result ready: please collect it"},
	"state.RETURNED":            {"Đã trả kết quả", "Result returned"},
	"state.REFUSED":             {"Từ chối giải quyết", "Refused"},
	"state.WITHDRAWN":           {"Công dân đã rút hồ sơ", "Withdrawn by the applicant"},
	"state.TRANSFERRED":         {"Đã chuyển đến xã có thẩm quyền", "Transferred to the competent commune"},
	"action.RECEIVE":            {"Tiếp nhận hồ sơ", "Dossier received"},
	"action.ASSIGN":             {"Phân công xử lý", "Assigned for processing"},
	"action.FORWARD":            {"Chuyển xử lý", "Passed on for processing"},
	"action.REQUEST_SUPPLEMENT": {"Yêu cầu bổ sung giấy tờ", "Documents requested from the applicant"},
	"action.RECEIVE_SUPPLEMENT": {"Nhận giấy tờ bổ sung", "Documents received from the applicant"},
	"action.SUBMIT":             {"Trình phê duyệt", "Submitted for approval"},
	"action.SEND_BACK":          {"Trả lại để xử lý tiếp", "Sent back for more work"},
	"action.APPROVE":            {"Phê duyệt, có kết quả", "Approved: result ready"},
	"action.REFUSE":             {"Từ chối giải quyết", "Refused"},
	"action.RETURN":             {"Trả kết quả", "Result returned"},
	"action.WITHDRAW":           {"Rút hồ sơ", "Withdrawn"},
	"action.APOLOGIZE":          {"Xin lỗi và hẹn lại ngày trả", "Apology and a new due date"},
	"action.TRANSFER":           {"Chuyển đến xã có thẩm quyền", "Transferred to the competent commune"},
	"action.ACCEPT_TRANSFER":    {"Nhận hồ sơ chuyển đến", "Taken over from another commune"},
}

// Message is the text of key in lang; the key itself when there is none,
// so that a missing text shows instead of an empty place.
func Message(lang Lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if lang == English {
		return m[1]
	}
	return m[0]
}
