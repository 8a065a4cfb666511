package portal

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DossierSync is the dossier sync message (DongBoHoSoMC): a dossier's
// record as the province's system tells the portal about it, sent at each
// change of status. Field names are the provincial systems' own.
type DossierSync struct {
	// MaHoSo is the dossier's code.
	MaHoSo string `json:"MaHoSo"`
	// MaTTHC is the procedure's code in the national procedure database.
	MaTTHC string `json:"MaTTHC"`
	// TenTTHC is the procedure's name.
	TenTTHC string `json:"TenTTHC"`
	// ChuHoSo is the applicant's name.
	ChuHoSo string `json:"ChuHoSo"`
	// LoaiDoiTuong is "1" for a citizen, "2" for an organisation.
	LoaiDoiTuong string `json:"LoaiDoiTuong"`
	// MaDoiTuong is the applicant's identifier on the portal (optional).
	MaDoiTuong string `json:"MaDoiTuong"`
	// NgayTiepNhan is when the dossier was received.
	NgayTiepNhan Time `json:"NgayTiepNhan"`
	// NgayHenTra is the due date written on the receipt.
	NgayHenTra Time `json:"NgayHenTra"`
	// TrangThaiHoSo is the dossier's status.
	TrangThaiHoSo Status `json:"TrangThaiHoSo"`
	// HinhThuc is how the result is returned: "0" at the desk, "1" by post.
	HinhThuc string `json:"HinhThuc"`
	// DonViXuLy names the unit handling the dossier.
	DonViXuLy string `json:"DonViXuLy"`
	// TaiLieuNop lists the documents filed.
	TaiLieuNop []Document `json:"TaiLieuNop"`
	// DanhSachLePhi lists the fees and charges.
	DanhSachLePhi []Fee `json:"DanhSachLePhi"`
	// DanhSachHoSoBoSung lists the supplement requests.
	DanhSachHoSoBoSung []Supplement `json:"DanhSachHoSoBoSung"`
	// DanhSachGiayToKetQua lists the result documents.
	DanhSachGiayToKetQua []Result `json:"DanhSachGiayToKetQua"`
}

// Document is one document filed with a dossier (an item of TaiLieuNop).
type Document struct {
	TepDinhKemId      string `json:"TepDinhKemId"`
	TenTepDinhKem     string `json:"TenTepDinhKem"`
	MaThanhPhanHoSo   string `json:"MaThanhPhanHoSo"`
	DuongDanTaiTepTin string `json:"DuongDanTaiTepTin"`
}

// Fee is one fee or charge (an item of DanhSachLePhi); amounts are strings
// of digits in đồng, as provincial systems send them.
type Fee struct {
	TenPhiLePhi  string `json:"TenPhiLePhi"`
	MaPhiLePhi   string `json:"MaPhiLePhi"`
	HinhThucThu  string `json:"HinhThucThu"`
	Gia          string `json:"Gia"`
	LoaiPhiLePhi string `json:"LoaiPhiLePhi"`
}

// Supplement is one supplement request (an item of DanhSachHoSoBoSung).
type Supplement struct {
	HoSoBoSungId      string `json:"HoSoBoSungId"`
	NguoiYeuCauBoSung string `json:"NguoiYeuCauBoSung"`
	NoiDungBoSung     string `json:"NoiDungBoSung"`
	NgayBoSung        Time   `json:"NgayBoSung"`
	NgayHenTraTruoc   Time   `json:"NgayHenTraTruoc"`
	NgayHenTraMoi     Time   `json:"NgayHenTraMoi"`
}

// Result is one result document (an item of DanhSachGiayToKetQua).
type Result struct {
	TenGiayTo            string `json:"TenGiayTo"`
	MaThanhPhanHoSo      string `json:"MaThanhPhanHoSo"`
	GiayToId             string `json:"GiayToId"`
	DuongDanTepTinKetQua string `json:"DuongDanTepTinKetQua"`
}

// Progress is one processing step (CapNhatTienDoHoSoMC).
type Progress struct {
	MaHoSo                 string `json:"MaHoSo"`
	NguoiXuLy              string `json:"NguoiXuLy"`
	ChucDanh               string `json:"ChucDanh"`
	ThoiDiemXuLy           Time   `json:"ThoiDiemXuLy"`
	PhongBanXuLy           string `json:"PhongBanXuLy"`
	NoiDungXuLy            string `json:"NoiDungXuLy"`
	TrangThai              Status `json:"TrangThai"`
	NgayBatDau             Time   `json:"NgayBatDau"`
	NgayKetThucTheoQuyDinh Time   `json:"NgayKetThucTheoQuyDinh"`
}

// FieldError is one refused field: its path in the message and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// Errors are the refused fields of a message.
type Errors []FieldError

// Error lists the refused fields with their reasons.
func (e Errors) Error() string {
	parts := make([]string, len(e))
	for i, f := range e {
		parts[i] = f.Field + ": " + f.Reason
	}
	return strings.Join(parts, "; ")
}

// Bounds of the messages; the portal's own are in its specification.
const (
	MaxCodeLen = 64
	MaxNameLen = 500
	MaxTextLen = 2000
	MaxListLen = 100
	MaxURLLen  = 1000
)

type checker struct{ errs Errors }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// text checks a free text: valid UTF-8, no control characters, at most max
// runes, present when required.
func (c *checker) text(field, v string, max int, required bool) {
	switch {
	case v == "" && required:
		c.add(field, "required")
	case !utf8.ValidString(v):
		c.add(field, "not valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		c.add(field, "longer than %d characters", max)
	case strings.IndexFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\n' }) >= 0:
		c.add(field, "contains a control character")
	}
}

// code checks an identifier: letters, digits, '.', '-', '_', at most
// MaxCodeLen.
func (c *checker) code(field, v string, required bool) {
	switch {
	case v == "":
		if required {
			c.add(field, "required")
		}
		return
	case len(v) > MaxCodeLen:
		c.add(field, "longer than %d characters", MaxCodeLen)
		return
	}
	for _, r := range v {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '.' || r == '-' || r == '_') {
			c.add(field, "only letters, digits, '.', '-' and '_' are allowed")
			return
		}
	}
}

func (c *checker) oneOf(field, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	c.add(field, "must be one of %s", strings.Join(allowed, ", "))
}

func (c *checker) list(field string, n int) bool {
	if n > MaxListLen {
		c.add(field, "more than %d items", MaxListLen)
		return false
	}
	return true
}

func (c *checker) order(field string, from, to Time, fromName string) {
	if !from.IsZero() && !to.IsZero() && to.Before(from.Time) {
		c.add(field, "before %s", fromName)
	}
}

func (c *checker) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

// receivedStatuses are the statuses of a dossier the province has received.
func received(s Status) bool {
	return s != StatusFiled && s != StatusNotReceived && s.Valid()
}

// Validate checks a dossier sync on its own (required fields, bounds,
// dates in order); whether its status may follow the dossier's last one is
// CanFollow's. The error is Errors.
func (m *DossierSync) Validate() error {
	var c checker
	c.code("MaHoSo", m.MaHoSo, true)
	c.code("MaTTHC", m.MaTTHC, true)
	c.text("TenTTHC", m.TenTTHC, MaxNameLen, true)
	c.text("ChuHoSo", m.ChuHoSo, MaxNameLen, false)
	c.oneOf("LoaiDoiTuong", m.LoaiDoiTuong, "1", "2")
	c.code("MaDoiTuong", m.MaDoiTuong, false)
	if !m.TrangThaiHoSo.Valid() {
		c.add("TrangThaiHoSo", "%d is not in the catalogue 1 to 10", m.TrangThaiHoSo)
	}
	if received(m.TrangThaiHoSo) && m.TrangThaiHoSo != StatusWithdrawn && m.NgayTiepNhan.IsZero() {
		c.add("NgayTiepNhan", "required once the dossier is received")
	}
	c.order("NgayHenTra", m.NgayTiepNhan, m.NgayHenTra, "NgayTiepNhan")
	c.oneOf("HinhThuc", m.HinhThuc, "0", "1")
	c.text("DonViXuLy", m.DonViXuLy, MaxNameLen, true)
	if c.list("TaiLieuNop", len(m.TaiLieuNop)) {
		for i, d := range m.TaiLieuNop {
			p := fmt.Sprintf("TaiLieuNop[%d].", i)
			c.code(p+"TepDinhKemId", d.TepDinhKemId, false)
			c.text(p+"TenTepDinhKem", d.TenTepDinhKem, MaxNameLen, true)
			c.code(p+"MaThanhPhanHoSo", d.MaThanhPhanHoSo, false)
			c.text(p+"DuongDanTaiTepTin", d.DuongDanTaiTepTin, MaxURLLen, false)
		}
	}
	if c.list("DanhSachLePhi", len(m.DanhSachLePhi)) {
		for i, f := range m.DanhSachLePhi {
			p := fmt.Sprintf("DanhSachLePhi[%d].", i)
			c.text(p+"TenPhiLePhi", f.TenPhiLePhi, MaxNameLen, true)
			c.code(p+"MaPhiLePhi", f.MaPhiLePhi, false)
			c.text(p+"HinhThucThu", f.HinhThucThu, 8, false)
			c.digits(p+"Gia", f.Gia)
			c.text(p+"LoaiPhiLePhi", f.LoaiPhiLePhi, 8, false)
		}
	}
	if c.list("DanhSachHoSoBoSung", len(m.DanhSachHoSoBoSung)) {
		for i, s := range m.DanhSachHoSoBoSung {
			p := fmt.Sprintf("DanhSachHoSoBoSung[%d].", i)
			c.code(p+"HoSoBoSungId", s.HoSoBoSungId, false)
			c.text(p+"NguoiYeuCauBoSung", s.NguoiYeuCauBoSung, MaxNameLen, false)
			c.text(p+"NoiDungBoSung", s.NoiDungBoSung, MaxTextLen, true)
			if s.NgayBoSung.IsZero() {
				c.add(p+"NgayBoSung", "required")
			}
			c.order(p+"NgayHenTraMoi", s.NgayHenTraTruoc, s.NgayHenTraMoi, "NgayHenTraTruoc")
		}
	}
	if c.list("DanhSachGiayToKetQua", len(m.DanhSachGiayToKetQua)) {
		if len(m.DanhSachGiayToKetQua) > 0 && m.TrangThaiHoSo != StatusResolved && m.TrangThaiHoSo != StatusResultReturned {
			c.add("DanhSachGiayToKetQua", "result documents come only with status 9 or 10")
		}
		for i, r := range m.DanhSachGiayToKetQua {
			p := fmt.Sprintf("DanhSachGiayToKetQua[%d].", i)
			c.text(p+"TenGiayTo", r.TenGiayTo, MaxNameLen, true)
			c.code(p+"MaThanhPhanHoSo", r.MaThanhPhanHoSo, false)
			c.code(p+"GiayToId", r.GiayToId, false)
			c.text(p+"DuongDanTepTinKetQua", r.DuongDanTepTinKetQua, MaxURLLen, false)
		}
	}
	return c.result()
}

// digits checks an amount: digits only, at most 15 of them.
func (c *checker) digits(field, v string) {
	if v == "" || len(v) > 15 || strings.Trim(v, "0123456789") != "" {
		c.add(field, "want an amount in đồng: 1 to 15 digits")
	}
}

// Validate checks a progress step on its own. The error is Errors.
func (p *Progress) Validate() error {
	var c checker
	c.code("MaHoSo", p.MaHoSo, true)
	c.text("NguoiXuLy", p.NguoiXuLy, MaxNameLen, true)
	c.text("ChucDanh", p.ChucDanh, MaxNameLen, false)
	if p.ThoiDiemXuLy.IsZero() {
		c.add("ThoiDiemXuLy", "required")
	}
	c.text("PhongBanXuLy", p.PhongBanXuLy, MaxNameLen, false)
	c.text("NoiDungXuLy", p.NoiDungXuLy, MaxTextLen, false)
	if !p.TrangThai.Valid() {
		c.add("TrangThai", "%d is not in the catalogue 1 to 10", p.TrangThai)
	}
	c.order("NgayKetThucTheoQuyDinh", p.NgayBatDau, p.NgayKetThucTheoQuyDinh, "NgayBatDau")
	return c.result()
}
