package node

import (
	"html"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"

	"github.com/xaso/xaso/vietqr"
)

const (
	testFeeBIN     = "970405"
	testFeeAccount = "3600205123456"
)

// withFeeAccount gives the node a fee account.
func withFeeAccount(c *Config) {
	c.FeeBankBIN, c.FeeAccountNumber, c.FeeAccountName = testFeeBIN, testFeeAccount, "UBND XA TA VAN"
}

var vietqrAttr = regexp.MustCompile(`data-vietqr="([^"]*)"`)

// feeQRs returns the transfers of the VietQR codes a page carries, read
// back with the parser from the payloads the page draws.
func feeQRs(t *testing.T, body string) []vietqr.Transfer {
	t.Helper()
	var out []vietqr.Transfer
	for _, m := range vietqrAttr.FindAllStringSubmatch(body, -1) {
		tr, err := vietqr.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatalf("the page's VietQR payload %q: %v", m[1], err)
		}
		out = append(out, tr)
	}
	return out
}

// feeDossiers creates a dossier of a procedure with a fee (1.001022,
// 15.000 đồng in the sample catalogue) and one without (a birth).
func feeDossiers(t *testing.T, n *testNode) (withFee, without string) {
	t.Helper()
	create := func(body map[string]any) string {
		t.Helper()
		code, resp := n.call(t, "POST", "/v1/dossiers", body)
		if code != 200 {
			t.Fatalf("create: %d %v", code, resp)
		}
		return resp["dossier"].(map[string]any)["code"].(string)
	}
	f := birthRequest()
	f["procedure_code"] = "1.001022"
	f["components"] = []any{map[string]any{"code": "TK", "paper": true}, map[string]any{"code": "CC", "paper": true}}
	return create(f), create(birthRequest())
}

// TestFeeQRCode: with a fee account, the receipt and the look-up page of
// a dossier with a fee carry a VietQR code for exactly the fee into the
// commune's account with the dossier's code as the content, written
// beside it; a dossier without a fee shows none.
func TestFeeQRCode(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t); withFeeAccount(c) })
	withFee, without := feeDossiers(t, n)
	want := vietqr.Transfer{BIN: testFeeBIN, Account: testFeeAccount, Amount: 15000, Purpose: withFee}

	d := newDesk(t, n)
	d.signIn("lan")
	st, _, body := d.get("/ban/ho-so/" + withFee + "/phieu")
	if st != http.StatusOK {
		t.Fatalf("receipt: %d", st)
	}
	if qrs := feeQRs(t, body); len(qrs) != 1 || qrs[0] != want {
		t.Fatalf("the receipt's fee QR codes: %+v, want %+v", qrs, want)
	}
	for _, s := range []string{"15.000 đồng", testFeeAccount, "UBND XA TA VAN", testFeeBIN, `class="fee-reference">` + withFee} {
		if !strings.Contains(body, s) {
			t.Errorf("the receipt does not write %q beside the QR code", s)
		}
	}
	st, _, body = d.get("/ban/ho-so/" + without + "/phieu")
	if st != http.StatusOK || len(feeQRs(t, body)) != 0 || strings.Contains(body, "Phí, lệ phí") {
		t.Fatalf("the receipt of a dossier without a fee: %d, QR %v", st, feeQRs(t, body))
	}

	jar, _ := cookiejar.New(nil)
	citizen := &http.Client{Jar: jar, Transport: n.client.Transport}
	_, _, body = page(t, citizen, n.url+"/tra-cuu/"+withFee+"?k="+n.Store().LookupCheck(withFee))
	if qrs := feeQRs(t, body); len(qrs) != 1 || qrs[0] != want || !strings.Contains(body, "15.000 đồng") || !strings.Contains(body, testFeeAccount) {
		t.Fatalf("the look-up's fee QR codes: %+v, want %+v", qrs, want)
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
		t.Error("the look-up loads something from outside the node")
	}
	_, _, body = page(t, citizen, n.url+"/tra-cuu/"+without+"?k="+n.Store().LookupCheck(without))
	if len(feeQRs(t, body)) != 0 || strings.Contains(body, "Phí, lệ phí") {
		t.Fatal("the look-up of a dossier without a fee shows one")
	}
	// A closed dossier's look-up asks for nothing.
	if code, resp := n.call(t, "POST", "/v1/dossiers/"+withFee+":transition", map[string]any{"action": "ACTION_WITHDRAW", "role": "ROLE_CLERK", "reason": "Công dân xin rút hồ sơ"}); code != 200 {
		t.Fatalf("withdraw: %d %v", code, resp)
	}
	_, _, body = page(t, citizen, n.url+"/tra-cuu/"+withFee+"?k="+n.Store().LookupCheck(withFee))
	if len(feeQRs(t, body)) != 0 {
		t.Fatal("the look-up of a withdrawn dossier asks for its fee")
	}
}

// TestFeeWithoutAccount: without a fee account there is no QR code; the
// receipt and the look-up say the fee is paid at the desk.
func TestFeeWithoutAccount(t *testing.T) {
	n := startNode(t, func(c *Config) { c.UsersFile = writeUsers(t) })
	withFee, _ := feeDossiers(t, n)
	d := newDesk(t, n)
	d.signIn("lan")
	_, _, body := d.get("/ban/ho-so/" + withFee + "/phieu")
	if len(feeQRs(t, body)) != 0 || !strings.Contains(body, "15.000 đồng") || !strings.Contains(body, "nộp tại Bộ phận một cửa") {
		t.Fatalf("the receipt without a fee account:\n%s", body)
	}
	jar, _ := cookiejar.New(nil)
	citizen := &http.Client{Jar: jar, Transport: n.client.Transport}
	_, _, body = page(t, citizen, n.url+"/tra-cuu/"+withFee+"?k="+n.Store().LookupCheck(withFee))
	if len(feeQRs(t, body)) != 0 || !strings.Contains(body, "nộp tại Bộ phận một cửa") {
		t.Fatal("the look-up without a fee account")
	}
}

// TestFeeReference: a dossier's code is the transfer's content when it
// fits in 25 characters; a longer one loses its '.' and '-'; one longer
// still gets no QR code.
func TestFeeReference(t *testing.T) {
	for code, want := range map[string]string{
		"09619-261123-0001":               "09619-261123-0001",
		"000.00.19.H56-261123-0001":       "000.00.19.H56-261123-0001",
		"000.00.19.H56-261123-096190001":  "0000019H56261123096190001",
		"000.00.19.H56-261123-0961900001": "",
	} {
		got, ok := feeReference(code)
		if want == "" {
			if ok {
				t.Errorf("%s: reference %q, want none", code, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("%s: reference %q %v, want %q", code, got, ok, want)
		}
	}
	for v, want := range map[int64]string{15000: "15.000 đồng", 500: "500 đồng", 1000: "1.000 đồng", 1500000: "1.500.000 đồng"} {
		if got := formatVND(v); got != want {
			t.Errorf("formatVND(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestConfigFeeAccount: the fee account is all three keys or none, and a
// wrong one is named.
func TestConfigFeeAccount(t *testing.T) {
	for _, tc := range []struct {
		bin, account, name, key string
	}{
		{"", "", "", ""},
		{testFeeBIN, testFeeAccount, "UBND xã Tả Van", ""},
		{"97040", testFeeAccount, "UBND", "fee_bank_bin"},
		{"", testFeeAccount, "UBND", "fee_bank_bin"},
		{testFeeBIN, "3600-2051", "UBND", "fee_account_number"},
		{testFeeBIN, "12345678901234567890", "UBND", "fee_account_number"},
		{testFeeBIN, "", "UBND", "fee_account_number"},
		{testFeeBIN, testFeeAccount, "", "fee_account_name"},
		{testFeeBIN, testFeeAccount, "  ", "fee_account_name"},
		{testFeeBIN, testFeeAccount, strings.Repeat("x", 101), "fee_account_name"},
	} {
		c := DefaultConfig()
		c.Commune, c.DataDir = testCommune, t.TempDir()
		c.FeeBankBIN, c.FeeAccountNumber, c.FeeAccountName = tc.bin, tc.account, tc.name
		err := c.Validate()
		if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.key+":")) {
			t.Errorf("%+v: %v, want an error naming %q", tc, err, tc.key)
		}
	}
}
