package units

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

func day(t testing.TB, s string) dossier.Date {
	t.Helper()
	d, err := dossier.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sampleRegistry loads the sample province, Thanh Hóa, through LoadTSV.
func sampleRegistry(t testing.TB, extra []Unit, extraChanges []Change, edit func(us []Unit)) *Registry {
	t.Helper()
	us, cs, err := LoadTSV(sample.ProvinceTSV(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(us)
	}
	r, err := New(append(us, extra...), append(cs, extraChanges...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(us []Unit) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Ref().String() + " " + u.Name
	}
	return out
}

func inForce(r *Registry, d dossier.Date) []Unit {
	var out []Unit
	for _, u := range r.Units() {
		if u.Code != "" && u.InForce(d) {
			out = append(out, u)
		}
	}
	return out
}

// TestSampleProvinceLoads loads the embedded Thanh Hóa list: 166 units in
// force on 2025-07-01, the day Resolution 1686/NQ-UBTVQH15's arrangement
// and Decision 19/2025/QĐ-TTg's codes took effect.
func TestSampleProvinceLoads(t *testing.T) {
	r := sampleRegistry(t, nil, nil, nil)
	if got := len(inForce(r, Reorganisation2025)); got != 166 {
		t.Fatalf("%d units in force on 2025-07-01, want 166", got)
	}
	if got := len(sample.SampleProvince().Communes); got != 166 {
		t.Fatalf("sample province has %d communes, want 166", got)
	}
	for _, c := range sample.SampleProvince().Communes {
		u, ok := r.At(c.Code, Reorganisation2025)
		if !ok || u.Name != c.Name {
			t.Errorf("%s %s: registry has %+v", c.Code, c.Name, u)
		}
		if len(c.FormedFrom) > 0 && len(u.Predecessors) == 0 {
			t.Errorf("%s %s: formed from %q but no predecessors", c.Code, c.Name, c.FormedFrom)
		}
	}
	for _, c := range r.Changes() {
		if c.Basis.Resolution != "1686/NQ-UBTVQH15" {
			t.Fatalf("change %+v: basis %+v, want Resolution 1686/NQ-UBTVQH15", c.After, c.Basis)
		}
	}
}

// TestSharedListLoads loads the whole shared list: 3,321 units in force
// from 2025-07-01 (Decision 19/2025/QĐ-TTg codes), Thanh Hóa's 166.
func TestSharedListLoads(t *testing.T) {
	data, err := os.ReadFile("../../shared/data/units-2025.tsv")
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("the shared units list is not here")
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := LoadRegistry(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := inForce(r, Reorganisation2025)
	if len(now) != 3321 {
		t.Fatalf("%d units in force on 2025-07-01, want 3321", len(now))
	}
	provinces := map[string]int{}
	for _, u := range now {
		provinces[u.Province]++
	}
	if len(provinces) != 34 || provinces["38"] != 166 {
		t.Fatalf("%d provinces (want 34), Thanh Hóa %d units (want 166)", len(provinces), provinces["38"])
	}
}

// TestHistory asks the registry of Thanh Hóa (Resolution
// 1686/NQ-UBTVQH15, codes of Decision 19/2025/QĐ-TTg) plus an invented
// 2026 change, for the chain case.
func TestHistory(t *testing.T) {
	d2026 := day(t, "2026-07-01")
	// Invented for the test: on 2026-07-01 Xã Hóa Quỳ (16186) merges into
	// Xã Như Xuân, whose code 16174 continues; 16186 ends.
	chain := Change{Kind: ChangeMerger, Effective: d2026, Basis: LegalBasis{Resolution: "9999/NQ-UBTVQH15 (test)"},
		Before: []Ref{{Code: "16186", ValidFrom: Reorganisation2025}, {Code: "16174", ValidFrom: Reorganisation2025}},
		After:  []Ref{{Code: "16174", ValidFrom: d2026}}}
	r := sampleRegistry(t, []Unit{{Code: "16174", Name: "Xã Như Xuân", Kind: KindCommune, Province: "38", ValidFrom: d2026}}, []Change{chain},
		func(us []Unit) {
			for i := range us {
				if (us[i].Code == "16186" || us[i].Code == "16174") && us[i].ValidFrom == Reorganisation2025 {
					us[i].ValidTo = d2026
				}
			}
		})
	binhLuong := Ref{Province: "38", Name: "Xã Bình Lương"}
	hoaQuy2025 := Ref{Code: "16186", ValidFrom: Reorganisation2025}

	at := []struct {
		name, code, day string
		want            string // unit's Ref and name, "" for none
	}{
		{"Decision 19/2025: old Xã Hóa Quỳ, before the merger", "16186", "2025-06-30", "16186 from - Xã Hóa Quỳ"},
		{"Res. 1686/NQ-UBTVQH15: Hóa Quỳ formed from Bình Lương and Hóa Quỳ, code continues", "16186", "2025-07-01", "16186 from 2025-07-01 Xã Hóa Quỳ"},
		{"test change 2026: code 16186 ends", "16186", "2026-07-01", ""},
		{"test change 2026: code 16174 continues, territory grows", "16174", "2026-07-01", "16174 from 2026-07-01 Xã Như Xuân"},
		{"unchanged unit (giữ nguyên): one version throughout", "14848", "2020-01-01", "14848 from - Xã Tam Chung"},
		{"unknown code", "99999", "2025-07-01", ""},
	}
	for _, c := range at {
		t.Run("At/"+c.name, func(t *testing.T) {
			u, ok := r.At(c.code, day(t, c.day))
			got := ""
			if ok {
				got = u.Ref().String() + " " + u.Name
			}
			if got != c.want {
				t.Fatalf("At(%s, %s) = %q, want %q", c.code, c.day, got, c.want)
			}
		})
	}

	if h := names(r.History("16186")); strings.Join(h, "; ") != "16186 from - Xã Hóa Quỳ; 16186 from 2025-07-01 Xã Hóa Quỳ" {
		t.Errorf("History(16186) = %q", h)
	}
	if h := r.History("16186"); h[1].ValidTo != d2026 {
		t.Errorf("16186's 2025 version ends %v, want %v", h[1].ValidTo, d2026)
	}

	preds, err := r.Predecessors(hoaQuy2025)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(preds), "; "); got != "Xã Bình Lương (province 38) from - Xã Bình Lương; 16186 from - Xã Hóa Quỳ" {
		t.Errorf("Predecessors(16186 from 2025-07-01) = %s", got)
	}

	succ := []struct {
		name string
		ref  Ref
		day  string
		want string
	}{
		{"Res. 1686: old Bình Lương, a unit that ends, goes into 16186", binhLuong, "2025-07-01", "16186 from 2025-07-01 Xã Hóa Quỳ"},
		{"before the merger the old unit is its own successor", binhLuong, "2025-06-30", "Xã Bình Lương (province 38) from - Xã Bình Lương"},
		{"chain of two changes: Bình Lương → Hóa Quỳ → Như Xuân", binhLuong, "2026-07-01", "16174 from 2026-07-01 Xã Như Xuân"},
		{"a version not yet in force has no successor in force", Ref{Code: "16174", ValidFrom: d2026}, "2025-12-31", ""},
	}
	for _, c := range succ {
		t.Run("SuccessorsAt/"+c.name, func(t *testing.T) {
			us, err := r.SuccessorsAt(c.ref, day(t, c.day))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(names(us), "; "); got != c.want {
				t.Fatalf("SuccessorsAt(%s, %s) = %q, want %q", c.ref, c.day, got, c.want)
			}
		})
	}
	if _, err := r.SuccessorsAt(Ref{Code: "99999"}, d2026); err == nil {
		t.Error("SuccessorsAt of an unknown unit: no error")
	}
}

// TestSplitFollowsEveryPart: an old unit whose parts went to several new
// units (Resolution 1656/NQ-UBTVQH15, Hà Nội: old Phường Kim Mã went to
// Ba Đình, Ngọc Hà and Giảng Võ) has them all as successors.
func TestSplitFollowsEveryPart(t *testing.T) {
	data := "01\tThành phố Hà Nội\t00004\tPhường Ba Đình\tPhường Quán Thánh, một phần diện tích TN, quy mô dân số của các phường Kim Mã, Ngọc Hà\n" +
		"01\tThành phố Hà Nội\t00008\tPhường Ngọc Hà\tPhường Kim Mã, Phường Ngọc Hà (phần còn lại sau khi sáp nhập vào phường Ba Đình)\n" +
		"01\tThành phố Hà Nội\t00025\tPhường Giảng Võ\tPhường Giảng Võ và Phường Cát Linh, Phường Kim Mã (phần còn lại sau khi sáp nhập vào phường Ba Đình, phường Ngọc Hà)\n"
	r, err := LoadRegistry([]byte(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	us, err := r.SuccessorsAt(Ref{Province: "01", Name: "Phường Kim Mã"}, Reorganisation2025)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(us), "; "); got != "00004 from 2025-07-01 Phường Ba Đình; 00008 from 2025-07-01 Phường Ngọc Hà; 00025 from 2025-07-01 Phường Giảng Võ" {
		t.Errorf("successors of old Kim Mã: %s", got)
	}
	// Old Ngọc Hà is the code 00008 continuing, also where Ba Đình names it.
	us, err = r.SuccessorsAt(Ref{Code: "00008"}, Reorganisation2025)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(us), "; "); got != "00004 from 2025-07-01 Phường Ba Đình; 00008 from 2025-07-01 Phường Ngọc Hà" {
		t.Errorf("successors of old Ngọc Hà: %s", got)
	}
	for _, c := range r.Changes() {
		if c.Kind != ChangeMerger || c.Basis.Resolution != "" || !strings.Contains(c.Basis.Note, "19/2025/QĐ-TTg") {
			t.Errorf("change %v: kind %s, basis %+v", c.After, c.Kind, c.Basis)
		}
	}
}

func TestPredecessorNames(t *testing.T) {
	cases := []struct{ in, want string }{
		{"giữ nguyên", ""},
		{"Xã Bình Lương, Xã Hóa Quỳ", "Xã Bình Lương|Xã Hóa Quỳ"},
		{"Phường Bưởi và Phường Phú Thượng, Phường Xuân La", "Phường Bưởi|Phường Phú Thượng|Phường Xuân La"},
		{"Phường Quán Thánh, một phần diện tích TN, quy mô dân số của các phường Cửa Nam, Điện Biên", "Phường Quán Thánh|Phường Cửa Nam|Phường Điện Biên"},
		{"Phường Quang Trung (quận Đống Đa) (phần còn lại sau khi sáp nhập vào phường Đống Đa)", "Phường Quang Trung (quận Đống Đa)"},
		{"Toàn bộ  diện tích TN, quy mô dân số của các phường Phường Giảng Võ và Phường Cát Linh", "Phường Giảng Võ|Phường Cát Linh"},
		{"phần còn lại của phường Cửa Đông, Đồng Xuân sau khi sắp Xếp", "Phường Cửa Đông|Phường Đồng Xuân"},
		{"Huyện Bạch Long Vĩ", "Huyện Bạch Long Vĩ"},
		{"Thị trấn Diên Khánh, Xã Diên An", "Thị trấn Diên Khánh|Xã Diên An"},
	}
	for _, c := range cases {
		if got := strings.Join(PredecessorNames(c.in), "|"); got != c.want {
			t.Errorf("PredecessorNames(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLoadTSVRefusesBadRows(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"four fields", "38\tTỉnh Thanh Hóa\t16186\tXã Hóa Quỳ\n", "4 fields"},
		{"bad unit code", "38\tTỉnh Thanh Hóa\t1618\tXã Hóa Quỳ\tgiữ nguyên\n", "not 5 digits"},
		{"bad province code", "3\tTỉnh Thanh Hóa\t16186\tXã Hóa Quỳ\tgiữ nguyên\n", "not 2 digits"},
		{"no name", "38\tTỉnh Thanh Hóa\t16186\t\tgiữ nguyên\n", "no name"},
		{"nothing named", "38\tTỉnh Thanh Hóa\t16186\tXã Hóa Quỳ\tmột phần diện tích\n", "no unit named"},
		{"code twice", "38\tTỉnh Thanh Hóa\t16186\tXã Hóa Quỳ\tgiữ nguyên\n38\tTỉnh Thanh Hóa\t16186\tXã Hóa Quỳ\tgiữ nguyên\n", "listed twice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadRegistry([]byte(c.data), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// TestValidateFires shows each check of New firing on broken input.
func TestValidateFires(t *testing.T) {
	d1, d2, d3 := day(t, "2025-07-01"), day(t, "2026-07-01"), day(t, "2027-01-01")
	a := Unit{Code: "16186", Name: "Xã Hóa Quỳ", Province: "38", ValidFrom: d1, ValidTo: d2}
	b := Unit{Code: "16174", Name: "Xã Như Xuân", Province: "38", ValidFrom: d2}
	ok := Change{Kind: ChangeMerger, Effective: d2, Before: []Ref{a.Ref()}, After: []Ref{b.Ref()}}
	if _, err := New([]Unit{a, b}, []Change{ok}); err != nil {
		t.Fatalf("a valid registry refused: %v", err)
	}
	cases := []struct {
		name    string
		units   []Unit
		changes []Change
		want    string
	}{
		{"Decision 19/2025: code not 5 digits", []Unit{{Code: "1618", Name: "Xã X", Province: "38"}}, nil, "not 5 digits"},
		{"unit known by nothing", []Unit{{Name: "Xã X"}}, nil, "no code, and no name and province"},
		{"ends before it begins", []Unit{{Code: "16186", Name: "Xã X", ValidFrom: d2, ValidTo: d1}}, nil, "not after it begins"},
		{"one code, overlapping versions", []Unit{{Code: "16186", Name: "Xã X", ValidFrom: d1, ValidTo: d3}, {Code: "16186", Name: "Xã X", ValidFrom: d2}}, nil, "overlaps"},
		{"one code, earlier version still open", []Unit{{Code: "16186", Name: "Xã X", ValidFrom: d1}, {Code: "16186", Name: "Xã X", ValidFrom: d2}}, nil, "overlaps"},
		{"successor begins after the change's date", []Unit{a, {Code: "16174", Name: "Xã Như Xuân", ValidFrom: d3}},
			[]Change{{Kind: ChangeMerger, Effective: d2, Before: []Ref{a.Ref()}, After: []Ref{{Code: "16174", ValidFrom: d3}}}}, "not on the change's date"},
		{"unit before does not end on the change's date", []Unit{{Code: "16186", Name: "Xã X", ValidFrom: d1, ValidTo: d3}, b},
			[]Change{{Kind: ChangeMerger, Effective: d2, Before: []Ref{{Code: "16186", ValidFrom: d1}}, After: []Ref{b.Ref()}}}, "not on the change's date"},
		{"reference to no unit", []Unit{a, b}, []Change{{Kind: ChangeMerger, Effective: d2, Before: []Ref{a.Ref(), {Code: "16999", ValidFrom: d1}}, After: []Ref{b.Ref()}}}, "16999 from 2025-07-01 is not in the registry"},
		{"explicit successor to no unit", []Unit{{Code: "16186", Name: "Xã X", ValidFrom: d1, ValidTo: d2, Successors: []Ref{{Code: "16999", ValidFrom: d2}}}}, nil, "successor 16999 from 2026-07-01 is not in the registry"},
		{"explicit predecessor to no unit", []Unit{{Code: "16186", Name: "Xã X", ValidFrom: d1, Predecessors: []Ref{{Code: "16999"}}}}, nil, "predecessor 16999 from - is not in the registry"},
		{"successor of a unit still in force", []Unit{{Code: "16186", Name: "Xã X", ValidFrom: d1, Successors: []Ref{b.Ref()}}, b}, nil, "still in force"},
		{"change without units after", []Unit{a}, []Change{{Kind: ChangeMerger, Effective: d2, Before: []Ref{a.Ref()}}}, "needs units before and after"},
		{"cycle of successions", []Unit{
			{Code: "16186", Name: "Xã X", ValidFrom: d1, ValidTo: d2, Successors: []Ref{{Code: "16174", ValidFrom: d2}}},
			{Code: "16174", Name: "Xã Y", ValidFrom: d2, ValidTo: d1, Successors: []Ref{{Code: "16186", ValidFrom: d1}}},
		}, nil, "successions go round"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.units, c.changes)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
