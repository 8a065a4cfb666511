package standin

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/portal"
	"github.com/xaso/xaso/sample"
)

// scanTypes are the kinds of scan a citizen may file, by sniffed type.
var scanTypes = map[string]string{"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"statusName": func(s portal.Status) string { return s.Name() },
}).Parse(`
{{define "head"}}<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.}} — Cổng Dịch vụ công (bản mô phỏng)</title>
<style>body{font-family:sans-serif;max-width:46rem;margin:1rem auto;padding:0 1rem}label{display:block;margin-top:.8rem}.loi{color:#b00020}.ghichu{background:#fff4d6;padding:.5rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}</style>
</head><body><p class="ghichu">Đây là <strong>bản mô phỏng</strong> Cổng Dịch vụ công quốc gia để chạy thử xã số; không phải cổng thật, hồ sơ nộp ở đây không có giá trị pháp lý.</p>{{end}}

{{define "home"}}{{template "head" "Nộp hồ sơ trực tuyến"}}
<h1>Nộp hồ sơ trực tuyến — {{.Province}}</h1>
<form method="get" action="/nop-ho-so">
<label for="xa">Xã, phường nhận hồ sơ</label>
<select id="xa" name="xa">{{range .Communes}}<option value="{{.Code}}"{{if eq .Code $.Xa}} selected{{end}}>{{.Name}} ({{.Code}})</option>{{end}}</select>
{{with index .Errors "xa"}}<span class="loi">{{.}}</span>{{end}}
<label for="tthc">Thủ tục hành chính</label>
<select id="tthc" name="tthc">{{range .Procedures}}<option value="{{.GetCode}}"{{if eq .GetCode $.Tthc}} selected{{end}}>{{.GetName}} ({{.GetCode}})</option>{{end}}</select>
{{with index .Errors "tthc"}}<span class="loi">{{.}}</span>{{end}}
<p><button type="submit">Tiếp tục</button></p>
</form>
<h2>Tra cứu hồ sơ</h2>
<form method="get" action="/tra-cuu"><label for="ma">Mã hồ sơ</label><input id="ma" name="ma" maxlength="64"> <button type="submit">Tra cứu</button></form>
</body></html>{{end}}

{{define "form"}}{{template "head" "Nộp hồ sơ"}}
<h1>{{.Procedure.GetName}}</h1>
<p>Nơi nhận: {{.Commune.Name}} ({{.Commune.Code}}). Mã thủ tục {{.Procedure.GetCode}}.</p>
{{with index .Errors ""}}<p class="loi">{{.}}</p>{{end}}
<form method="post" action="/nop-ho-so" enctype="multipart/form-data">
<input type="hidden" name="xa" value="{{.Commune.Code}}"><input type="hidden" name="tthc" value="{{.Procedure.GetCode}}">
<label for="ho_ten">Họ và tên người nộp</label><input id="ho_ten" name="ho_ten" maxlength="200" required value="{{.HoTen}}">
{{with index .Errors "ho_ten"}}<span class="loi">{{.}}</span>{{end}}
<label for="so_dinh_danh">Số định danh cá nhân (12 chữ số)</label><input id="so_dinh_danh" name="so_dinh_danh" inputmode="numeric" maxlength="12" required value="{{.SoDinhDanh}}">
{{with index .Errors "so_dinh_danh"}}<span class="loi">{{.}}</span>{{end}}
<label for="so_dien_thoai">Số điện thoại</label><input id="so_dien_thoai" name="so_dien_thoai" inputmode="tel" maxlength="10" value="{{.SoDienThoai}}">
{{with index .Errors "so_dien_thoai"}}<span class="loi">{{.}}</span>{{end}}
<h2>Thành phần hồ sơ (bản quét PDF, JPEG hoặc PNG, mỗi tệp tối đa 5 MB)</h2>
{{range .Procedure.GetComponents}}<label for="tp_{{.GetCode}}">{{.GetName}}{{if .GetRequired}} (bắt buộc){{end}}</label>
<input type="file" id="tp_{{.GetCode}}" name="tp_{{.GetCode}}" accept="application/pdf,image/jpeg,image/png"{{if .GetRequired}} required{{end}}>
{{with index $.Errors (printf "tp_%s" .GetCode)}}<span class="loi">{{.}}</span>{{end}}
{{end}}
<p><button type="submit">Nộp hồ sơ</button></p>
</form></body></html>{{end}}

{{define "dossier"}}{{template "head" "Hồ sơ"}}
<h1>Hồ sơ {{.D.MaHoSo}}</h1>
<p>{{.D.TenTTHC}} ({{.D.MaTTHC}}) — nơi nhận {{.D.TenXa}}. Nộp lúc {{.D.NgayNopHoSo}}.</p>
<p>Trạng thái hiện tại: <strong>{{statusName .Status}}</strong></p>
<h2>Các trạng thái cổng đã nhận</h2>
{{if .Statuses}}<table><tr><th>Thời điểm nhận</th><th>Trạng thái</th></tr>
{{range .Statuses}}<tr><td>{{.NhanLuc}}</td><td>{{.TrangThaiHoSo}} — {{.TenTrangThai}}</td></tr>{{end}}</table>
{{else}}<p>Chưa có: hồ sơ đang chờ xã tiếp nhận.</p>{{end}}
{{if .Progress}}<h2>Tiến độ xử lý</h2><table><tr><th>Thời điểm</th><th>Người xử lý</th><th>Nội dung</th><th>Trạng thái</th></tr>
{{range .Progress}}<tr><td>{{.ThoiDiemXuLy}}</td><td>{{.NguoiXuLy}}{{with .ChucDanh}}, {{.}}{{end}}</td><td>{{.NoiDungXuLy}}</td><td>{{statusName .TrangThai}}</td></tr>{{end}}</table>{{end}}
<p><a href="/">Nộp hồ sơ khác</a></p></body></html>{{end}}

{{define "notfound"}}{{template "head" "Không tìm thấy"}}<h1>Không tìm thấy hồ sơ</h1><p class="loi">{{.}}</p><p><a href="/">Trang chủ</a></p></body></html>{{end}}
`))

// homeData fills the home page.
type homeData struct {
	Province   string
	Communes   []sample.Commune
	Procedures []*xasov1.Procedure
	Xa, Tthc   string
	Errors     map[string]string
}

// formData fills the filing form.
type formData struct {
	Commune                        sample.Commune
	Procedure                      *xasov1.Procedure
	HoTen, SoDinhDanh, SoDienThoai string
	Errors                         map[string]string
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("portal stand-in: rendering page", "page", name, "err", err)
	}
}

func (s *Server) home(xa, tthc string, errs map[string]string) homeData {
	return homeData{Province: s.cfg.Province.Name, Communes: s.cfg.Province.Communes, Procedures: s.procList, Xa: xa, Tthc: tthc, Errors: errs}
}

func (s *Server) homePage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "home", s.home("", "", nil))
}

// choice resolves the commune and procedure chosen, or says what is wrong.
func (s *Server) choice(xa, tthc string) (sample.Commune, *xasov1.Procedure, map[string]string) {
	errs := map[string]string{}
	c, ok := s.communes[xa]
	if !ok {
		errs["xa"] = "Xã, phường không thuộc " + s.cfg.Province.Name + "."
	}
	p, ok := s.procs[tthc]
	switch {
	case !ok:
		errs["tthc"] = "Không có thủ tục này trong danh mục."
	case !online(p):
		errs["tthc"] = "Thủ tục này không nộp trực tuyến: hãy nộp trực tiếp tại Bộ phận Một cửa."
	}
	if len(errs) > 0 {
		return c, nil, errs
	}
	return c, p, nil
}

func (s *Server) filingForm(w http.ResponseWriter, r *http.Request) {
	xa, tthc := r.URL.Query().Get("xa"), r.URL.Query().Get("tthc")
	c, p, errs := s.choice(xa, tthc)
	if errs != nil {
		s.log.Warn("portal stand-in: refused", "path", r.URL.Path, "reason", "unknown commune or procedure", "xa", xa, "tthc", tthc)
		s.render(w, http.StatusBadRequest, "home", s.home(xa, tthc, errs))
		return
	}
	s.render(w, http.StatusOK, "form", formData{Commune: c, Procedure: p, Errors: map[string]string{}})
}

// fileDossier takes a citizen's filing: multipart, bounded, each required
// component with a scan, the applicant's identification number checked.
func (s *Server) fileDossier(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxFiling)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		var mbe *http.MaxBytesError
		msg := "Biểu mẫu gửi lên không đọc được; hãy nộp lại."
		if errors.As(err, &mbe) {
			msg = fmt.Sprintf("Hồ sơ quá lớn: tổng các tệp tối đa %d MB.", MaxFiling>>20)
		}
		s.log.Warn("portal stand-in: refused", "path", r.URL.Path, "reason", "unreadable filing", "err", err)
		s.render(w, http.StatusBadRequest, "notfound", msg)
		return
	}
	defer r.MultipartForm.RemoveAll()
	xa, tthc := r.FormValue("xa"), r.FormValue("tthc")
	c, p, errs := s.choice(xa, tthc)
	if errs != nil {
		s.log.Warn("portal stand-in: refused", "path", r.URL.Path, "reason", "unknown commune or procedure", "xa", xa, "tthc", tthc)
		s.render(w, http.StatusBadRequest, "home", s.home(xa, tthc, errs))
		return
	}
	fd := formData{Commune: c, Procedure: p, Errors: map[string]string{},
		HoTen: strings.TrimSpace(r.FormValue("ho_ten")), SoDinhDanh: strings.TrimSpace(r.FormValue("so_dinh_danh")), SoDienThoai: strings.TrimSpace(r.FormValue("so_dien_thoai"))}
	switch {
	case fd.HoTen == "":
		fd.Errors["ho_ten"] = "Hãy nhập họ và tên."
	case !utf8.ValidString(fd.HoTen) || utf8.RuneCountInString(fd.HoTen) > 200 || strings.ContainsFunc(fd.HoTen, func(r rune) bool { return r < ' ' }):
		fd.Errors["ho_ten"] = "Họ và tên không hợp lệ (tối đa 200 ký tự)."
	}
	if !allDigits(fd.SoDinhDanh, 12) {
		fd.Errors["so_dinh_danh"] = "Số định danh cá nhân gồm đúng 12 chữ số."
	}
	if fd.SoDienThoai != "" && (!allDigits(fd.SoDienThoai, 10) || fd.SoDienThoai[0] != '0') {
		fd.Errors["so_dien_thoai"] = "Số điện thoại gồm 10 chữ số, bắt đầu bằng 0."
	}
	type scan struct {
		comp *xasov1.Component
		fh   *multipart.FileHeader
		kind string
	}
	var scans []scan
	for _, comp := range p.GetComponents() {
		key := "tp_" + comp.GetCode()
		fhs := r.MultipartForm.File[key]
		if len(fhs) == 0 || fhs[0].Size == 0 {
			if comp.GetRequired() {
				fd.Errors[key] = "Thành phần bắt buộc: hãy đính kèm bản quét."
			}
			continue
		}
		fh := fhs[0]
		if fh.Size > MaxScan {
			fd.Errors[key] = fmt.Sprintf("Tệp quá lớn: tối đa %d MB.", MaxScan>>20)
			continue
		}
		kind, err := sniff(fh)
		if err != nil {
			fd.Errors[key] = "Chỉ nhận bản quét PDF, JPEG hoặc PNG."
			continue
		}
		scans = append(scans, scan{comp: comp, fh: fh, kind: kind})
	}
	if len(fd.Errors) > 0 {
		s.log.Warn("portal stand-in: refused", "path", r.URL.Path, "reason", "invalid filing", "fields", fd.Errors)
		s.render(w, http.StatusBadRequest, "form", fd)
		return
	}

	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	now := s.cfg.Now()
	seq := s.store.seq + 1
	code := fmt.Sprintf("DVC-%s-%s-%06d", c.Code, now.In(portal.Vietnam()).Format("060102"), seq)
	d := Dossier{Seq: seq, MaHoSo: code, MaTTHC: p.GetCode(), TenTTHC: p.GetName(), ChuHoSo: fd.HoTen, LoaiDoiTuong: "1",
		SoDinhDanh: fd.SoDinhDanh, SoDienThoai: fd.SoDienThoai, MaTinh: s.cfg.Province.Code, MaXa: c.Code, TenXa: c.Name,
		NgayNopHoSo: portal.Time{Time: now}, TaiLieuNop: []File{}}
	for i, sc := range scans {
		id := code + "~" + strconv.Itoa(i+1)
		sum, err := s.keepScan(id, sc.fh)
		if err != nil {
			s.log.Error("portal stand-in: keeping a scan", "code", code, "err", err)
			s.render(w, http.StatusInternalServerError, "notfound", "Không lưu được hồ sơ; hãy nộp lại sau.")
			return
		}
		d.TaiLieuNop = append(d.TaiLieuNop, File{
			Document: portal.Document{TepDinhKemId: id, TenTepDinhKem: safeName(sc.fh.Filename, sc.comp.GetCode()),
				MaThanhPhanHoSo: sc.comp.GetCode(), DuongDanTaiTepTin: "/v1/files/" + url.PathEscape(id)},
			TenThanhPhan: sc.comp.GetName(), LoaiTep: sc.kind, KichThuoc: sc.fh.Size, SHA256: sum,
		})
	}
	if err := s.store.append(record{Kind: "filed", At: now, Code: code, Dossier: &d}); err != nil {
		s.log.Error("portal stand-in: keeping a filing", "code", code, "err", err)
		s.render(w, http.StatusInternalServerError, "notfound", "Không lưu được hồ sơ; hãy nộp lại sau.")
		return
	}
	close(s.store.filed)
	s.store.filed = make(chan struct{})
	s.log.Info("portal stand-in: dossier filed", "code", code, "commune", c.Code, "procedure", p.GetCode())
	http.Redirect(w, r, "/ho-so/"+url.PathEscape(code), http.StatusSeeOther)
}

// keepScan copies a scan into the store and returns its SHA-256.
func (s *Server) keepScan(id string, fh *multipart.FileHeader) (string, error) {
	f, err := fh.Open()
	if err != nil {
		return "", fmt.Errorf("opening upload: %w", err)
	}
	defer f.Close()
	h := newHashReader(io.LimitReader(f, MaxScan))
	if err := s.store.writeFile(id, h); err != nil {
		return "", err
	}
	return h.sum(), nil
}

// sniff returns the scan's type from its first bytes.
func sniff(fh *multipart.FileHeader) (string, error) {
	f, err := fh.Open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	kind := http.DetectContentType(head[:n])
	if _, ok := scanTypes[kind]; !ok {
		return "", fmt.Errorf("scan of type %s", kind)
	}
	return kind, nil
}

// safeName keeps a file name printable and short; the component code when
// nothing is left.
func safeName(name, fallback string) string {
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == '/' || r == '\\' || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	if strings.TrimSpace(name) == "" {
		return fallback
	}
	return name
}

func allDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dossierData fills a dossier's page.
type dossierData struct {
	D        Dossier
	Status   portal.Status
	Statuses []StatusEntry
	Progress []portal.Progress
}

func (s *Server) dossierPage(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	s.store.mu.Lock()
	st := s.store.byCode[code]
	var data dossierData
	if st != nil {
		data = dossierData{D: st.d, Status: st.status, Statuses: append([]StatusEntry{}, st.statuses...), Progress: append([]portal.Progress{}, st.progress...)}
	}
	s.store.mu.Unlock()
	if st == nil {
		s.render(w, http.StatusNotFound, "notfound", "Không có hồ sơ mang mã này.")
		return
	}
	s.render(w, http.StatusOK, "dossier", data)
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.URL.Query().Get("ma"))
	if code == "" || len(code) > portal.MaxCodeLen {
		s.render(w, http.StatusBadRequest, "notfound", "Hãy nhập mã hồ sơ.")
		return
	}
	http.Redirect(w, r, "/ho-so/"+url.PathEscape(code), http.StatusSeeOther)
}
