package portal

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time // UTC; zero: refused
	}{
		{"20251201083000", time.Date(2025, 12, 1, 1, 30, 0, 0, time.UTC)},
		{"20250101000000", time.Date(2024, 12, 31, 17, 0, 0, 0, time.UTC)},
		{"2025120108300", time.Time{}},   // 13 digits
		{"202512010830000", time.Time{}}, // 15 digits
		{"2025-12-01T083", time.Time{}},  // not digits
		{"20251301083000", time.Time{}},  // month 13
		{"20250230083000", time.Time{}},  // 30 February
		{"20251201250000", time.Time{}},  // hour 25
		{"+2025120108300", time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if tt.want.IsZero() {
			if err == nil {
				t.Errorf("ParseTime(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("ParseTime(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestTimeJSON(t *testing.T) {
	var v struct{ A, B, C Time }
	if err := json.Unmarshal([]byte(`{"A":"20251201083000","B":"","C":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A.String() != "20251201083000" || !v.B.IsZero() || !v.C.IsZero() {
		t.Fatalf("got %+v", v)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"A":"20251201083000","B":"","C":""}` {
		t.Fatalf("marshal: %s", b)
	}
	// A UTC instant is written in Vietnam's wall clock.
	b, _ = json.Marshal(Time{time.Date(2025, 12, 1, 17, 0, 0, 0, time.UTC)})
	if string(b) != `"20251202000000"` {
		t.Fatalf("marshal UTC: %s", b)
	}
	for _, bad := range []string{`20251201083000`, `"2025"`, `{}`, `"2025-12-01 08:30"`} {
		var x Time
		if err := json.Unmarshal([]byte(bad), &x); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}

func TestStatusCatalogue(t *testing.T) {
	for s := Status(1); s <= 10; s++ {
		if !s.Valid() || s.Name() == "" {
			t.Errorf("status %d: not in the catalogue", s)
		}
	}
	for _, s := range []Status{0, 11, -1} {
		if s.Valid() || s.Name() != "" {
			t.Errorf("status %d: in the catalogue", s)
		}
	}
	var s Status
	for in, want := range map[string]Status{`4`: 4, `"10"`: 10, `" 9"`: -1, `"x"`: -1, `1.5`: -1, `"1000"`: -1, `true`: -1} {
		err := json.Unmarshal([]byte(in), &s)
		if want < 0 {
			if err == nil {
				t.Errorf("Unmarshal(%s) accepted: %d", in, s)
			}
		} else if err != nil || s != want {
			t.Errorf("Unmarshal(%s) = %d, %v", in, s, err)
		}
	}
	if b, _ := json.Marshal(StatusResolved); string(b) != `"9"` {
		t.Errorf("Marshal(9) = %s", b)
	}
}

func TestCanFollow(t *testing.T) {
	tests := []struct {
		rule     string
		from, to Status
		want     bool
	}{
		{"art. 17(2)(b): an online dossier is received", StatusFiled, StatusReceived, true},
		{"art. 17(2)(a): or refused", StatusFiled, StatusNotReceived, true},
		{"art. 21(2): withdrawn before reception", StatusFiled, StatusWithdrawn, true},
		{"art. 17(2): not processed before it is received", StatusFiled, StatusProcessing, false},
		{"art. 17(2): not resolved before it is received", StatusFiled, StatusResolved, false},
		{"art. 19: received, then processed", StatusReceived, StatusProcessing, true},
		{"art. 19(5): supplement asked while processing", StatusProcessing, StatusSupplement, true},
		{"art. 19(5): processing resumes after supplements", StatusSupplement, StatusProcessing, true},
		{"art. 24: financial obligation, then resolved", StatusFinancial, StatusResolved, true},
		{"art. 21: stopped while processing", StatusProcessing, StatusStopped, true},
		{"art. 21(2): withdrawal only before the decision", StatusResolved, StatusWithdrawn, false},
		{"art. 22: resolved, then result returned", StatusResolved, StatusResultReturned, true},
		{"art. 22: not returned before resolved", StatusProcessing, StatusResultReturned, false},
		{"an update of the same status", StatusProcessing, StatusProcessing, true},
		{"art. 17(2)(a): not received is final", StatusNotReceived, StatusReceived, false},
		{"art. 21: stopped is final", StatusStopped, StatusProcessing, false},
		{"art. 21(2): withdrawn is final, even re-sent", StatusWithdrawn, StatusWithdrawn, false},
		{"art. 22: result returned is final", StatusResultReturned, StatusProcessing, false},
		{"outside the catalogue", StatusProcessing, 11, false},
		{"back to filed", StatusReceived, StatusFiled, false},
	}
	for _, tt := range tests {
		if got := CanFollow(tt.from, tt.to); got != tt.want {
			t.Errorf("%s: CanFollow(%d, %d) = %v, want %v", tt.rule, tt.from, tt.to, got, tt.want)
		}
	}
}

func goodSync() DossierSync {
	at, _ := ParseTime("20251201083000")
	due, _ := ParseTime("20251205170000")
	return DossierSync{
		MaHoSo: "000.00.16174.H56-251201-0001", MaTTHC: "1.001193", TenTTHC: "Đăng ký khai sinh",
		ChuHoSo: "Nguyễn Văn A", LoaiDoiTuong: "1", NgayTiepNhan: at, NgayHenTra: due,
		TrangThaiHoSo: StatusReceived, HinhThuc: "0", DonViXuLy: "UBND Xã Như Xuân",
		TaiLieuNop:    []Document{{TenTepDinhKem: "to-khai.pdf", MaThanhPhanHoSo: "TK"}},
		DanhSachLePhi: []Fee{{TenPhiLePhi: "Lệ phí", Gia: "8000"}},
	}
}

func TestDossierSyncValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*DossierSync)
		field string // "" : valid
	}{
		{"valid", func(*DossierSync) {}, ""},
		{"MaHoSo required", func(m *DossierSync) { m.MaHoSo = "" }, "MaHoSo"},
		{"MaHoSo charset", func(m *DossierSync) { m.MaHoSo = "a/b" }, "MaHoSo"},
		{"MaHoSo length", func(m *DossierSync) { m.MaHoSo = strings.Repeat("1", MaxCodeLen+1) }, "MaHoSo"},
		{"MaTTHC required", func(m *DossierSync) { m.MaTTHC = "" }, "MaTTHC"},
		{"TenTTHC required", func(m *DossierSync) { m.TenTTHC = "" }, "TenTTHC"},
		{"ChuHoSo control", func(m *DossierSync) { m.ChuHoSo = "a\x00b" }, "ChuHoSo"},
		{"ChuHoSo UTF-8", func(m *DossierSync) { m.ChuHoSo = "\xff" }, "ChuHoSo"},
		{"LoaiDoiTuong", func(m *DossierSync) { m.LoaiDoiTuong = "3" }, "LoaiDoiTuong"},
		{"status catalogue", func(m *DossierSync) { m.TrangThaiHoSo = 11 }, "TrangThaiHoSo"},
		{"art. 17(3): received needs NgayTiepNhan", func(m *DossierSync) { m.NgayTiepNhan = Time{} }, "NgayTiepNhan"},
		{"NgayHenTra before NgayTiepNhan", func(m *DossierSync) { m.NgayHenTra = Time{m.NgayTiepNhan.Add(-time.Hour)} }, "NgayHenTra"},
		{"HinhThuc", func(m *DossierSync) { m.HinhThuc = "" }, "HinhThuc"},
		{"DonViXuLy required", func(m *DossierSync) { m.DonViXuLy = "" }, "DonViXuLy"},
		{"TaiLieuNop name", func(m *DossierSync) { m.TaiLieuNop[0].TenTepDinhKem = "" }, "TaiLieuNop[0].TenTepDinhKem"},
		{"TaiLieuNop bound", func(m *DossierSync) { m.TaiLieuNop = make([]Document, MaxListLen+1) }, "TaiLieuNop"},
		{"fee amount", func(m *DossierSync) { m.DanhSachLePhi[0].Gia = "8.000" }, "DanhSachLePhi[0].Gia"},
		{"supplement date", func(m *DossierSync) {
			m.DanhSachHoSoBoSung = []Supplement{{NoiDungBoSung: "Bổ sung giấy chứng sinh"}}
		}, "DanhSachHoSoBoSung[0].NgayBoSung"},
		{"art. 22: results only when resolved", func(m *DossierSync) {
			m.DanhSachGiayToKetQua = []Result{{TenGiayTo: "Giấy khai sinh"}}
		}, "DanhSachGiayToKetQua"},
	}
	for _, tt := range tests {
		m := goodSync()
		tt.edit(&m)
		err := m.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		var errs Errors
		if !errors.As(err, &errs) || !hasField(errs, tt.field) {
			t.Errorf("%s: got %v, want a refusal of %s", tt.name, err, tt.field)
		}
	}
}

func TestProgressValidate(t *testing.T) {
	at, _ := ParseTime("20251201090000")
	good := Progress{MaHoSo: "X-1", NguoiXuLy: "Lê Thị B", ThoiDiemXuLy: at, TrangThai: StatusProcessing, NgayBatDau: at, NgayKetThucTheoQuyDinh: Time{at.Add(48 * time.Hour)}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		edit  func(*Progress)
	}{
		{"MaHoSo", func(p *Progress) { p.MaHoSo = "" }},
		{"NguoiXuLy", func(p *Progress) { p.NguoiXuLy = "" }},
		{"ThoiDiemXuLy", func(p *Progress) { p.ThoiDiemXuLy = Time{} }},
		{"TrangThai", func(p *Progress) { p.TrangThai = 0 }},
		{"NoiDungXuLy", func(p *Progress) { p.NoiDungXuLy = strings.Repeat("x", MaxTextLen+1) }},
		{"NgayKetThucTheoQuyDinh", func(p *Progress) { p.NgayKetThucTheoQuyDinh = Time{at.Add(-time.Hour)} }},
	}
	for _, tt := range tests {
		p := good
		tt.edit(&p)
		var errs Errors
		if err := p.Validate(); !errors.As(err, &errs) || !hasField(errs, tt.field) {
			t.Errorf("%s: got %v", tt.field, err)
		}
	}
}

func hasField(errs Errors, field string) bool {
	for _, e := range errs {
		if e.Field == field {
			return true
		}
	}
	return false
}
