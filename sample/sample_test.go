package sample

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

func TestEmbeddedDataIsValid(t *testing.T) {
	cal := Calendar()
	if got := len(cal.Spec().Days); got < 20 {
		t.Fatalf("calendar lists %d days, want the 2025 and 2026 holidays", got)
	}
	procs := Procedures()
	if len(procs) < 20 {
		t.Fatalf("catalogue has %d procedures, want at least 20", len(procs))
	}
	seen := map[string]bool{}
	for _, p := range procs {
		if err := dossier.ValidateProcedure(p); err != nil {
			t.Errorf("procedure %s: %v", p.GetCode(), err)
		}
		if seen[p.GetCode()] {
			t.Errorf("procedure %s listed twice", p.GetCode())
		}
		seen[p.GetCode()] = true
	}
}

// Every catalogue entry says where its values were checked, and no source
// names a procedure the catalogue lacks.
func TestEveryProcedureHasASource(t *testing.T) {
	note, sources := ProcedureSources()
	if !strings.Contains(note, "Thanh Hóa") {
		t.Errorf("note %q does not say how the catalogue was checked for Thanh Hóa", note)
	}
	if err := checkSources(Procedures(), sources); err != nil {
		t.Error(err)
	}
	// The check fires on a missing, an empty and a stray source.
	if checkSources(Procedures(), sources[1:]) == nil {
		t.Error("a procedure without a source passed")
	}
	empty := slices.Clone(sources)
	empty[0].Source = " "
	if checkSources(Procedures(), empty) == nil {
		t.Error("an empty source passed")
	}
	if checkSources(Procedures(), append(slices.Clone(sources), ProcedureSource{Code: "9.999999", Source: "x"})) == nil {
		t.Error("a source of no procedure passed")
	}
}

// The codes the catalogue once had wrong carry the procedures the national
// portal gives them (sources in procedures-sources.json).
func TestProcedureCodesAsPublished(t *testing.T) {
	names := map[string]string{}
	for _, p := range Procedures() {
		names[p.GetCode()] = p.GetName()
	}
	for _, tc := range []struct{ code, name string }{
		{"1.004222", "Đăng ký thường trú"},              // Ministry of Public Security, Số hồ sơ TTHC 1.004222
		{"1.004194", "Đăng ký tạm trú"},                 // swapped with 1.004222 before
		{"1.010041", "Xác nhận thông tin về cư trú"},    // not 1.003185
		{"1.004884", "Đăng ký lại khai sinh"},           // 1.004746 is đăng ký lại kết hôn
		{"2.001019", "Chứng thực di chúc"},              // 2.000913 is sửa đổi, hủy bỏ giao dịch
		{"1.001612", "Đăng ký thành lập hộ kinh doanh"}, // not 2.000575
		{"1.001776", "Thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng hàng tháng"},
		{"1.001731", "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội"}, // 1.001776 is the monthly allowance
		{"1.001653", "Đổi, cấp lại Giấy xác nhận khuyết tật"},
	} {
		if got, ok := names[tc.code]; !ok || got != tc.name {
			t.Errorf("%s: %q, want %q", tc.code, got, tc.name)
		}
	}
	for _, gone := range []string{"1.004746", "2.000913", "1.003185", "2.000575", "2.000286", "1.012756"} {
		if name, ok := names[gone]; ok {
			t.Errorf("%s %q: that code belongs to another procedure", gone, name)
		}
	}
}

func checkSources(procs []*xasov1.Procedure, sources []ProcedureSource) error {
	by := map[string]ProcedureSource{}
	for _, s := range sources {
		if _, dup := by[s.Code]; dup {
			return fmt.Errorf("source of %s listed twice", s.Code)
		}
		by[s.Code] = s
	}
	for _, p := range procs {
		s, ok := by[p.GetCode()]
		if !ok || strings.TrimSpace(s.Source) == "" {
			return fmt.Errorf("procedure %s %q: no source", p.GetCode(), p.GetName())
		}
		delete(by, p.GetCode())
	}
	for code := range by {
		return fmt.Errorf("source of %s, which the catalogue lacks", code)
	}
	return nil
}

// The embedded province is Thanh Hóa with its 166 communes and wards, as
// the list of Decision 19/2025/QĐ-TTg codes has them.
func TestSampleProvinceIsThanhHoa(t *testing.T) {
	prov := SampleProvince()
	if prov.Code != "38" || prov.Name != "Tỉnh Thanh Hóa" {
		t.Errorf("province %s %s, want 38 Tỉnh Thanh Hóa", prov.Code, prov.Name)
	}
	if !strings.Contains(prov.Note, "Source:") || !strings.Contains(prov.Note, "19/2025/QĐ-TTg") {
		t.Errorf("note %q lacks the source line", prov.Note)
	}
	if err := checkProvince(prov); err != nil {
		t.Error(err)
	}
	for i, code := range DemoCommunes {
		if got := prov.Communes[i].Code; got != code {
			t.Errorf("commune %d is %s, want the demo's %s", i, got, code)
		}
	}
	for _, want := range []Commune{{Code: "16174", Name: "Xã Như Xuân"}, {Code: "16186", Name: "Xã Hóa Quỳ"}, {Code: "15961", Name: "Xã Hoằng Lộc"}} {
		if c := prov.Communes[slices.IndexFunc(prov.Communes, func(c Commune) bool { return c.Code == want.Code })]; c.Name != want.Name {
			t.Errorf("commune %s is %q, want %q", want.Code, c.Name, want.Name)
		}
	}
	// formed_from is kept: split at commas outside parentheses, empty for
	// a unit kept as it was.
	byCode := map[string]Commune{}
	for _, c := range prov.Communes {
		byCode[c.Code] = c
	}
	if got, want := byCode["16174"].FormedFrom, []string{"Thị trấn Yên Cát", "Xã Tân Bình"}; !slices.Equal(got, want) {
		t.Errorf("Như Xuân formed from %q, want %q", got, want)
	}
	if got := byCode["14812"].FormedFrom; len(got) != 4 || got[2] != "Phường Ba Đình (thị xã Bỉm Sơn)" {
		t.Errorf("Bỉm Sơn formed from %q, want 4 units, the third qualified", got)
	}
	if got := byCode["15607"].FormedFrom; got != nil {
		t.Errorf("Bát Mọt (giữ nguyên) formed from %q, want none", got)
	}

	// The check fires on a broken list.
	for name, mutate := range map[string]func(p *Province){
		"165 units":      func(p *Province) { p.Communes = p.Communes[1:] },
		"duplicate code": func(p *Province) { p.Communes[1].Code = p.Communes[0].Code },
		"4-digit code":   func(p *Province) { p.Communes[0].Code = "1617" },
		"other province": func(p *Province) { p.Code = "01" },
		"not Xã/Phường":  func(p *Province) { p.Communes[0].Name = "Thị trấn Như Xuân" },
	} {
		broken := SampleProvince()
		mutate(&broken)
		if checkProvince(broken) == nil {
			t.Errorf("%s: passed the check", name)
		}
	}
	// A row of another province, or a demo commune missing, is refused.
	foreign := string(provinceTSV) + "01\tThành phố Hà Nội\t00004\tPhường Ba Đình\tgiữ nguyên\n"
	if _, err := parseProvince([]byte(foreign)); err == nil {
		t.Error("a row of province 01 was taken into province 38")
	}
	noDemo := strings.Replace(string(provinceTSV), "\t16186\t", "\t16999\t", 1)
	if _, err := parseProvince([]byte(noDemo)); err == nil {
		t.Error("a list without the demo's Hóa Quỳ was taken")
	}
}

// checkProvince checks the Thanh Hóa list: province 38 (parseProvince
// refuses a row of another province), 166 units, unique 5-digit codes,
// names that start with Xã or Phường.
func checkProvince(prov Province) error {
	if prov.Code != "38" {
		return fmt.Errorf("province %s, want 38", prov.Code)
	}
	if len(prov.Communes) != 166 {
		return fmt.Errorf("%d communes and wards, want 166", len(prov.Communes))
	}
	codes := map[string]bool{}
	for _, c := range prov.Communes {
		if !dossier.ValidCommuneCode(c.Code) || codes[c.Code] {
			return fmt.Errorf("commune %s %s: code must be 5 digits and unique", c.Code, c.Name)
		}
		codes[c.Code] = true
		if !strings.HasPrefix(c.Name, "Xã ") && !strings.HasPrefix(c.Name, "Phường ") {
			return fmt.Errorf("commune %s %q: name must start with Xã or Phường", c.Code, c.Name)
		}
	}
	return nil
}

// sharedUnits is the national list the embedded rows are copied from; it
// lies outside the repository, beside the working copies.
var sharedUnits = filepath.Join("..", "..", "shared", "data", "units-2025.tsv")

// The embedded rows are province 38's rows of the shared national list,
// unchanged and in order, with its source lines.
func TestProvinceMatchesTheSharedList(t *testing.T) {
	shared, err := os.ReadFile(sharedUnits)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is absent (it lies outside the repository)", sharedUnits)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := sameRows(shared, provinceTSV); err != nil {
		t.Error(err)
	}
	// The comparison fires on a changed row.
	changed := strings.Replace(string(provinceTSV), "Xã Như Xuân", "Xã Như Xuân Mới", 1)
	if sameRows(shared, []byte(changed)) == nil {
		t.Error("a renamed unit passed the comparison")
	}
}

// sameRows compares province 38's rows of the shared list, and its source
// lines, with the embedded file.
func sameRows(shared, embedded []byte) error {
	var want, got, head []string
	for _, line := range strings.Split(string(shared), "\n") {
		if strings.HasPrefix(line, "#") {
			head = append(head, line)
		} else if strings.HasPrefix(line, "38\t") {
			want = append(want, line)
		}
	}
	emb := string(embedded)
	for _, h := range head {
		if !strings.Contains(emb, h+"\n") {
			return fmt.Errorf("the embedded file lacks the source line %q", h)
		}
	}
	for _, line := range strings.Split(emb, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			got = append(got, line)
		}
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d rows embedded, the shared list has %d for province 38", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("row %d: embedded %q, shared %q", i+1, got[i], want[i])
		}
	}
	return nil
}

// Every public holiday of the law (Labour Code 2019 art. 112(1), 24/11 from
// 2026) that falls on a weekday is off in each official year: a holiday
// missing from the embedded list, as 24 Nov 2026 once was, fails here.
func TestOfficialYearsHaveTheLawsHolidays(t *testing.T) {
	if err := checkHolidays(Calendar()); err != nil {
		t.Error(err)
	}
	// The check fires on a calendar without Culture Day.
	broken, err := dossier.ParseCalendar([]byte(`{"official_years":[2026],"days":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	if checkHolidays(broken) == nil {
		t.Error("a 2026 calendar listing no holiday passed the check")
	}
}

func checkHolidays(cal *dossier.Calendar) error {
	for _, y := range cal.OfficialYears() {
		for _, d := range dossier.ComputedHolidays(y) {
			if cal.IsWorkingDay(d.Date) && !movedByNotice[d.Date.String()] {
				return fmt.Errorf("official %d: %s (%s) is a working day", y, d.Date, d.Name)
			}
		}
	}
	return nil
}

// movedByNotice are days the computation gives off that the government
// placed elsewhere: Tết Ất Tỵ's day in lieu for Saturday 1 Feb 2025 was
// given as Monday 27 Jan, swapped with Saturday 8 Feb.
var movedByNotice = map[string]bool{"2025-02-03": true}
