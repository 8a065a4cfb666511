package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/xaso/xaso/node"
	"github.com/xaso/xaso/sample"
)

// pageObject matches a page object of a PDF ("/Type /Page"), not the page
// tree ("/Type /Pages").
var pageObject = regexp.MustCompile(`/Type\s*/Page\b[^s]`)

// pdfPages counts the pages of a PDF by its page objects.
func pdfPages(pdf []byte) int { return len(pageObject.FindAll(pdf, -1)) }

// formsNode serves a node of the sample province's first commune on its
// own (no central), over plain HTTP on loopback, with the demo's desk
// users and a clerk's, an officer's and a leader's API tokens. It returns
// its address and the tokens by role.
func formsNode(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	commune := sample.SampleProvince().Communes[0]
	cfg := node.DefaultConfig()
	cfg.Commune, cfg.CommuneName = commune.Code, commune.Name
	cfg.DataDir, cfg.PlainHTTP, cfg.Listen = filepath.Join(dir, "data"), true, "127.0.0.1:0"
	hash, err := node.HashPassword("mật khẩu 1")
	if err != nil {
		t.Fatal(err)
	}
	var users strings.Builder
	for _, u := range [][2]string{{"motcua", "clerk"}, {"chuyenvien", "officer"}, {"lanhdao", "leader"}} {
		fmt.Fprintf(&users, "- name: %s\n  full_name: Cán bộ %s\n  role: %s\n  password_hash: %s\n", u[0], u[0], u[1], hash)
	}
	cfg.UsersFile = filepath.Join(dir, "users.yaml")
	tokens := map[string]string{}
	var list []node.Token
	for _, role := range []string{"clerk", "officer", "leader"} {
		tok, secret, err := node.NewToken("api-"+role, role, 24*time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		list, tokens[role] = append(list, tok), secret
	}
	tokData, err := node.MarshalTokens(list)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TokensFile = filepath.Join(dir, "tokens.yaml")
	for path, data := range map[string][]byte{cfg.UsersFile: []byte(users.String()), cfg.TokensFile: tokData} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	n, err := node.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), tokens
}

// rest calls the node's REST API with token and decodes the answer.
func rest(t *testing.T, base, token, path string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]any{}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, raw)
	}
	return out
}

// TestFormsPrintOnePage prints each of the seven forms of Circular
// 03/2025/TT-VPCP from the desk in Chromium, with the page's own A4 size
// (@page), and checks that each is exactly one A4 page; the count is
// shown to see a second page on a page made too long on purpose.
func TestFormsPrintOnePage(t *testing.T) {
	if os.Getenv("XASO_WEB") == "" {
		t.Skip("set XASO_WEB=1 (make web-test) to print the forms in Chromium")
	}
	out := outDir(t)
	base, tokens := formsNode(t)

	// The dossiers: a birth registration the citizen stops (01, 05), an
	// incomplete one guided at the desk (02), and a marriage registration
	// with an apology, refused by the leader (03, 04, 06); 07 lists them.
	birth := func() map[string]any {
		return map[string]any{"procedure_code": "1.001193", "channel": "CHANNEL_IN_PERSON",
			"applicant":  map[string]any{"full_name": "Hà Thị Lan", "id_number": "001190012345", "phone": "0912345678", "address": "Thôn Trung Tâm"},
			"components": []any{map[string]any{"code": "TK", "paper": true}, map[string]any{"code": "GCS", "paper": true}}}
	}
	code := func(resp map[string]any) string { return resp["dossier"].(map[string]any)["code"].(string) }
	stopped := code(rest(t, base, tokens["clerk"], "/v1/dossiers", birth()))
	rest(t, base, tokens["clerk"], "/v1/dossiers/"+stopped+":transition", map[string]any{"action": "ACTION_WITHDRAW", "reason": "Gia đình xin rút hồ sơ để bổ sung giấy tờ"})
	g := birth()
	g["components"], g["outcome"], g["reason"] = []any{map[string]any{"code": "TK", "paper": true}}, "STATE_GUIDED", "Chưa có giấy chứng sinh"
	guided := code(rest(t, base, tokens["clerk"], "/v1/dossiers", g))
	m := birth()
	m["procedure_code"], m["components"] = "1.000894", []any{map[string]any{"code": "TK", "paper": true}}
	created := rest(t, base, tokens["clerk"], "/v1/dossiers", m)
	late := code(created)
	due, err := time.Parse(time.RFC3339, created["dossier"].(map[string]any)["due_time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		role string
		body map[string]any
	}{
		{"clerk", map[string]any{"action": "ACTION_ASSIGN", "assignee": "chuyenvien"}},
		{"officer", map[string]any{"action": "ACTION_APOLOGIZE", "reason": "Chờ xác minh tình trạng hôn nhân tại nơi cư trú trước đây", "appointment_time": due.AddDate(0, 0, 7).Format(time.RFC3339)}},
		{"leader", map[string]any{"action": "ACTION_REFUSE", "reason": "Không đủ điều kiện đăng ký kết hôn theo quy định"}},
	} {
		rest(t, base, tokens[s.role], "/v1/dossiers/"+late+":transition", s.body)
	}

	b := browser(t, "")
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, stepTimeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	printPDF := func(name string) []byte {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, stepTimeout)
		defer cancel()
		pdf, err := chromedp.Run(sctx, chromedp.PrintToPDF(chromedp.PDFPreferCSSPageSize()))
		if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF")) {
			t.Fatalf("print %s: %d bytes, %v", name, len(pdf), err)
		}
		if err := os.WriteFile(filepath.Join(out, "form-"+name+".pdf"), pdf, 0o644); err != nil {
			t.Fatal(err)
		}
		return pdf
	}
	step("sign in", chromedp.Navigate(base+"/ban"), chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), "motcua"), chromedp.SendKeys(chromedp.ID("password"), "mật khẩu 1\r"),
		chromedp.WaitVisible(chromedp.ID("q-overdue")))

	today := time.Now().In(time.FixedZone("ICT", 7*3600)).Format(time.DateOnly)
	// A4 portrait in PDF points (595.28 × 841.89), as Chromium rounds it
	// to its pixels: 594.96 × 841.92.
	a4 := regexp.MustCompile(`/MediaBox \[0 0 59[45]\.\d+ 84[12]\.\d+\]`)
	for _, f := range []struct{ number, path, wait string }{
		{"01", "/ban/ho-so/" + stopped + "/phieu", ".receipt svg.qr"},
		{"02", "/ban/ho-so/" + guided + "/mau/02", ".form-02"},
		{"03", "/ban/ho-so/" + late + "/mau/03", ".form-03"},
		{"04", "/ban/ho-so/" + late + "/mau/04", ".form-04"},
		{"05", "/ban/ho-so/" + stopped + "/mau/05", ".form-05"},
		{"06", "/ban/ho-so/" + late + "/mau/06", ".form-06"},
		{"07", "/ban/so-theo-doi?tu=" + today + "&den=" + today, ".form-07"},
	} {
		step("form "+f.number, chromedp.Navigate(base+f.path), chromedp.WaitVisible(chromedp.CSS(f.wait)))
		png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of form %s: %v", f.number, err)
		}
		if err := os.WriteFile(filepath.Join(out, "form-"+f.number+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		pdf := printPDF(f.number)
		if n := pdfPages(pdf); n != 1 {
			t.Errorf("form %s prints on %d pages, want 1", f.number, n)
		}
		if !a4.Match(pdf) {
			t.Errorf("form %s is not printed on A4 portrait: %s", f.number, regexp.MustCompile(`/MediaBox \[[^\]]*\]`).Find(pdf))
		}
	}

	// The count sees a second page: a page made one and a half A4 pages
	// long on purpose prints on 2.
	step("an over-long page", chromedp.Navigate(base+"/ban/ho-so/"+late+"/mau/06"), chromedp.WaitVisible(chromedp.CSS(".form-06")),
		// The pages' Content-Security-Policy ignores style attributes;
		// the script sets the blocks' height itself.
		chromedp.Evaluate[chromedp.Void](`(() => {
			const main = document.querySelector("main");
			main.replaceChildren();
			for (let i = 1; i <= 20; i++) {
				const d = document.createElement("div");
				d.textContent = "Khối " + i;
				d.style.height = "20mm";
				d.style.borderTop = "1px solid #000";
				main.append(d);
			}
		})()`))
	if n := pdfPages(printPDF("over-long")); n != 2 {
		t.Errorf("a page of 20 blocks of 20 mm prints on %d pages, want 2", n)
	}

	// A long book prints page by page on A4, each page under the table's
	// header: 60 more dossiers take more than one page.
	for range 60 {
		rest(t, base, tokens["clerk"], "/v1/dossiers", birth())
	}
	step("a long book", chromedp.Navigate(base+"/ban/so-theo-doi?tu="+today+"&den="+today), chromedp.WaitVisible(chromedp.CSS(".form-07")))
	if rows, err := chromedp.Run(b, chromedp.Evaluate[int](`document.querySelectorAll(".book tbody tr").length`)); err != nil || rows != 63 {
		t.Fatalf("the long book lists %d dossiers (%v), want 63", rows, err)
	}
	long := printPDF("07-long")
	if n := pdfPages(long); n < 2 || !a4.Match(long) {
		t.Errorf("a book of 63 dossiers prints on %d pages, want 2 or more, A4", n)
	} else {
		t.Logf("a book of 63 dossiers prints on %d A4 pages", n)
	}
	t.Logf("PDFs in %s", out)
}
