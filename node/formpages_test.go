package node

import (
	"net/http"
	"strings"
	"testing"
)

// TestFormPages: each form page answers for a dossier it applies to, and
// 404s, saying why in Vietnamese, for one it does not apply to, for a
// dossier the commune does not hold and for a form that does not exist;
// a caller without a session is sent to sign in. The dossier page links
// the forms that apply and lists the missing components.
func TestFormPages(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t); c.CommuneName = "xã Tả Van" })
	create := func(body map[string]any) string {
		t.Helper()
		code, resp := n.call(t, "POST", "/v1/dossiers", body)
		if code != 200 {
			t.Fatalf("create: %d %v", code, resp)
		}
		return resp["dossier"].(map[string]any)["code"].(string)
	}
	transition := func(dc string, body map[string]any) {
		t.Helper()
		if code, resp := n.call(t, "POST", "/v1/dossiers/"+dc+":transition", body); code != 200 {
			t.Fatalf("%v: %d %v", body["action"], code, resp)
		}
	}
	// A birth registration (same day) the citizen stops.
	stopped := create(birthRequest())
	transition(stopped, map[string]any{"action": "ACTION_WITHDRAW", "role": "ROLE_CLERK", "reason": "Gia đình xin rút để bổ sung giấy tờ"})
	// An incomplete one, guided at the desk.
	g := birthRequest()
	g["components"] = []any{map[string]any{"code": "TK", "paper": true}}
	g["outcome"] = "STATE_GUIDED"
	g["reason"] = "Chưa có giấy chứng sinh"
	guided := create(g)
	// A marriage registration (5 working days) with an apology, then refused by the leader.
	m := birthRequest()
	m["procedure_code"] = "1.000894"
	m["components"] = []any{map[string]any{"code": "TK", "paper": true}}
	late := create(m)
	transition(late, map[string]any{"action": "ACTION_ASSIGN", "role": "ROLE_CLERK", "assignee": "minh"})
	transition(late, map[string]any{"action": "ACTION_APOLOGIZE", "role": "ROLE_OFFICER", "reason": "Chờ xác minh nơi cư trú", "appointment_time": "2026-12-04T10:00:00Z"})
	transition(late, map[string]any{"action": "ACTION_REFUSE", "role": "ROLE_LEADER", "reason": "Không đủ điều kiện kết hôn"})

	d := newDesk(t, n)
	if st, loc, _ := d.get("/ban/ho-so/" + stopped + "/mau/05"); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/dang-nhap") {
		t.Fatalf("a form without a session: %d %s", st, loc)
	}
	if st, loc, _ := d.get("/ban/so-theo-doi"); st != http.StatusSeeOther || !strings.HasPrefix(loc, "/dang-nhap") {
		t.Fatalf("the book without a session: %d %s", st, loc)
	}
	d.signIn("lan")
	head := []string{"UBND XÃ TẢ VAN", "TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG<br>XÃ TẢ VAN", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Tả Van, ngày 23 tháng 11 năm 2026"}
	for _, c := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/ban/ho-so/" + stopped + "/phieu", 200, []string{"Mẫu số 01", "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", "trong ngày"}},
		{"/ban/ho-so/" + stopped + "/mau/05", 200, []string{"Mẫu số 05", "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ", stopped, "Hà Thị Lan", "Gia đình xin rút để bổ sung giấy tờ", "Điều 21", "NGƯỜI TIẾP NHẬN YÊU CẦU</strong><br><em>(Ký và ghi rõ họ tên)</em><br><br><br>motcua.1"}},
		{"/ban/ho-so/" + stopped + "/mau/06", 200, []string{"Mẫu số 06", "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", "trong ngày", "Dừng thực hiện thủ tục", "09:00 23/11/2026"}},
		{"/ban/ho-so/" + stopped + "/mau/04", 404, []string{"Không có mẫu số 04", "không có văn bản xin lỗi"}},
		{"/ban/ho-so/" + stopped + "/mau/02", 404, []string{"Không có mẫu số 02"}},
		{"/ban/ho-so/" + stopped + "/mau/03", 404, []string{"Không có mẫu số 03"}},
		{"/ban/ho-so/" + guided + "/mau/02", 200, []string{"Mẫu số 02", "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "Giấy chứng sinh", "Chưa có giấy chứng sinh", "NGƯỜI HƯỚNG DẪN"}},
		{"/ban/ho-so/" + guided + "/phieu", 404, []string{"Không có mẫu số 01", "không được tiếp nhận"}},
		{"/ban/ho-so/" + guided + "/mau/05", 404, []string{"Không có mẫu số 05"}},
		{"/ban/ho-so/" + late + "/mau/04", 200, []string{"Mẫu số 04", "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT", "Chờ xác minh nơi cư trú", "17 giờ 00 phút, ngày 04/12/2026", "tuphap.1"}},
		{"/ban/ho-so/" + late + "/mau/03", 200, []string{"Mẫu số 03", "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ", "Không đủ điều kiện kết hôn", "chutich"}},
		{"/ban/ho-so/" + late + "/mau/06", 200, []string{"05 ngày làm việc", "<td>Người minh</td>", "Xin lỗi và hẹn lại ngày trả", "Hẹn lại: 04/12/2026."}},
		{"/ban/ho-so/09619-261123-0999/mau/06", 404, []string{"Không tìm thấy hồ sơ", `href="/ban"`}},
		{"/ban/ho-so/" + stopped + "/mau/09", 404, []string{"Không có mẫu số"}},
		{"/ban/ho-so/" + stopped + "/mau/01", 303, nil},
		{"/ban/so-theo-doi?tu=2026-11-23&den=2026-11-23", 200, []string{"Mẫu số 07", "SỔ THEO DÕI HỒ SƠ", "Từ ngày 23/11/2026 đến ngày 23/11/2026", stopped, guided, late, "Công dân đã rút hồ sơ", "04/12/2026"}},
		{"/ban/so-theo-doi", 200, []string{"Từ ngày 01/11/2026 đến ngày 23/11/2026", stopped}},
		{"/ban/so-theo-doi?tu=2026-11-01&den=2026-11-22", 200, []string{"Không có hồ sơ nào được tiếp nhận trong kỳ"}},
		{"/ban/so-theo-doi?tu=23/11/2026", 400, []string{`id="tu-error"`, "Ngày không hợp lệ", `aria-invalid="true"`}},
		{"/ban/so-theo-doi?tu=2026-11-24&den=2026-11-23", 400, []string{`id="den-error"`, "Ngày cuối kỳ"}},
	} {
		st, _, body := d.get(c.path)
		if st != c.status {
			t.Errorf("%s: %d, want %d\n%s", c.path, st, c.status, body)
			continue
		}
		want := c.want
		if st == 200 && !strings.Contains(c.path, "/phieu") {
			want = append(want, head...)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", c.path, w)
			}
		}
	}
	if _, _, body := d.get("/ban/so-theo-doi?tu=2026-11-01&den=2026-11-22"); strings.Contains(body, stopped) {
		t.Error("the book lists a dossier received after its period")
	}

	// The dossier pages link the forms that apply, and list what is missing.
	_, _, body := d.get("/ban/ho-so/" + guided)
	for _, w := range []string{`href="/ban/ho-so/` + guided + `/mau/02"`, `href="/ban/ho-so/` + guided + `/mau/06"`, "Thành phần hồ sơ bắt buộc còn thiếu", "<li>Giấy chứng sinh</li>"} {
		if !strings.Contains(body, w) {
			t.Errorf("the guided dossier's page lacks %q", w)
		}
	}
	if strings.Contains(body, `/phieu"`) || strings.Contains(body, "/mau/05") {
		t.Error("the guided dossier's page links a receipt or a stop notice")
	}
	_, _, body = d.get("/ban/ho-so/" + late)
	for _, w := range []string{"/phieu", "/mau/03", "/mau/04", "/mau/06"} {
		if !strings.Contains(body, `href="/ban/ho-so/`+late+w+`"`) {
			t.Errorf("the refused dossier's page does not link %s", w)
		}
	}
	if strings.Contains(body, "/mau/02") || strings.Contains(body, "/mau/05") || strings.Contains(body, "còn thiếu") {
		t.Error("the refused dossier's page links forms that do not apply, or lists missing components")
	}
}
