package webtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/xaso/xaso/pki"
	"github.com/xaso/xaso/province"
	"github.com/xaso/xaso/sample"
)

// outDir is where the screenshots go (XASO_WEB_OUT, else web-test-out at
// the top of the repository).
func outDir(t *testing.T) string {
	dir := os.Getenv("XASO_WEB_OUT")
	if dir == "" {
		dir = filepath.Join("..", "web-test-out")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium at 1366×768 and returns its context.
// It takes the certificates of the province CA whose SPKI hash (pki.SPKIHash)
// is spki, as a browser with that CA installed does: the node and central
// send the CA after their own certificate, and the browser finds it there.
func browser(t *testing.T, spki string) context.Context {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed (make web-test installs it): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.WindowSize(1366, 768),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// stepTimeout bounds each step of the test (a page that never shows what
// is waited for fails the step, not the whole run's deadline).
const stepTimeout = 30 * time.Second

// TestWebPages: a clerk receives a dossier on the node's desk, prints its
// receipt, officer and leader move it on, the clerk hands the result back;
// the citizen looks it up by the address in the receipt's QR code (on a
// phone-sized screen too); the province dashboard finds it once it has
// synced and counts it. No page loads anything from outside the node or
// central.
func TestWebPages(t *testing.T) {
	if os.Getenv("XASO_WEB") == "" {
		t.Skip("set XASO_WEB=1 (make web-test) to drive the pages in Chromium")
	}
	out := outDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	communes := sample.SampleProvince().Communes[:1]
	prov, err := province.Start(ctx, province.Options{Dir: t.TempDir(), Communes: communes, Fast: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prov.Close() })
	// The node serves the certificate central signed once it has enrolled.
	if err := prov.WaitEnrolled(ctx); err != nil {
		t.Fatal(err)
	}
	nodeURL, centralURL := prov.Nodes()[0].URL, prov.Members()[0].URL
	caPEM, err := os.ReadFile(prov.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.ParseCertificate(caPEM)
	if err != nil {
		t.Fatal(err)
	}

	b := browser(t, pki.SPKIHash(ca))
	var mu sync.Mutex
	var outside []string
	if err := chromedp.Listen(b, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			u := e.Request.URL
			if !strings.HasPrefix(u, nodeURL) && !strings.HasPrefix(u, centralURL) && !strings.HasPrefix(u, "data:") {
				mu.Lock()
				outside = append(outside, u)
				mu.Unlock()
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, stepTimeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// follow runs actions that load another page (a form sent with the
	// keyboard) and returns once it has loaded: an action run meanwhile
	// could find, on the page being left, what it waits for on the next
	// (the full procedure list holds the link a search finds).
	follow := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, stepTimeout)
		defer cancel()
		if _, err := chromedp.RunResponse(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	n := 0
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			n++
			return os.WriteFile(filepath.Join(out, fmt.Sprintf("%02d-%s.png", n, name)), png, 0o644)
		})
	}
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, stepTimeout)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// fits fails the test when the page shown does not fit the desk's
	// screen (the whole page when whole, each form matching forms) or
	// scrolls sideways on a phone (layout_test.go).
	fits := func(what string, whole bool, forms string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, stepTimeout)
		defer cancel()
		bad, err := checkFits(sctx, whole, forms)
		if err != nil {
			t.Fatalf("measure %s: %v", what, err)
		}
		for _, p := range bad {
			t.Errorf("%s: %s", what, p)
		}
	}
	// vietnamese fails the test when the page shown, in Vietnamese, shows
	// English or an internal name (language_test.go).
	vietnamese := func(what string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(b, stepTimeout)
		defer cancel()
		txt, err := pageText(sctx)
		if err != nil {
			t.Fatalf("text of %s: %v", what, err)
		}
		for _, f := range foreignIn(txt) {
			t.Errorf("%s: %s", what, f)
		}
	}
	signIn := func(user string) {
		t.Helper()
		step("desk", chromedp.Navigate(nodeURL+"/ban"), chromedp.WaitVisible(chromedp.CSS("h1")))
		if on, err := chromedp.Run(b, chromedp.Evaluate[bool](`document.querySelector("form.inline button") !== null`)); err != nil {
			t.Fatal(err)
		} else if on { // someone else is signed in at this desk: sign out first
			step("sign out", chromedp.Click(chromedp.CSS("form.inline button")), chromedp.WaitVisible(chromedp.ID("name")))
		}
		step("sign in as "+user,
			chromedp.WaitVisible(chromedp.ID("name")),
			chromedp.SendKeys(chromedp.ID("name"), user),
			chromedp.SendKeys(chromedp.ID("password"), province.DemoPassword+"\r"),
			chromedp.WaitVisible(chromedp.ID("q-overdue")),
		)
	}
	act := func(code, action string, fill ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sel := chromedp.CSS(fmt.Sprintf(`form.action:has(input[value=%q]) button[type=submit]`, action))
		acts := []chromedp.Action[chromedp.Void]{chromedp.Navigate(nodeURL + "/ban/ho-so/" + code), chromedp.WaitVisible(sel)}
		step(action+" page", acts...)
		fits("the dossier page's forms ("+action+")", false, "form.action")
		vietnamese("the dossier page (" + action + ")")
		acts = append(append([]chromedp.Action[chromedp.Void]{}, fill...), chromedp.Click(sel), chromedp.WaitVisible(chromedp.CSS(".success")))
		step(action, acts...)
	}

	// The desk, signed in with the keyboard.
	step("sign-in page", chromedp.Navigate(nodeURL+"/ban"), chromedp.WaitVisible(chromedp.ID("name")), shot("signin"))
	fits("sign-in", true, "form")
	vietnamese("sign-in")
	signIn("motcua")
	step("queue", shot("queue"))
	fits("queue", false, "none")
	vietnamese("queue")
	// An unknown code in the queue's 'Mở hồ sơ' box: a page that says so,
	// with the way back.
	follow("open an unknown code", chromedp.SendKeys(chromedp.ID("code"), "abc\r"))
	step("unknown code", chromedp.WaitVisible(chromedp.CSS(`main a[href="/ban"]`)), shot("unknown-code"))
	vietnamese("unknown code")

	// Receive: search the procedure, tick the checklist, type the applicant, attach a scan.
	scan := filepath.Join(t.TempDir(), "to-khai.pdf")
	if err := os.WriteFile(scan, []byte("%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pick := chromedp.CSS(`a[href="/ban/tiep-nhan?procedure=1.001193"]`)
	submit := chromedp.CSS(`form.stack button[type=submit]`)
	step("receive form", chromedp.Navigate(nodeURL+"/ban/tiep-nhan"), chromedp.WaitVisible(chromedp.ID("q")))
	follow("search with the keyboard", chromedp.SendKeys(chromedp.ID("q"), "khai sinh\r"))
	step("receive",
		chromedp.WaitVisible(pick),
		shot("picker"),
		chromedp.Click(pick),
		chromedp.WaitVisible(chromedp.ID("full_name")),
	)
	fits("receive", true, "form.stack")
	vietnamese("receive")
	step("receive with errors",
		// First without a name: the error shows next to the field.
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.ID("full_name-error")),
		shot("receive-errors"),
	)
	fits("receive with errors", true, "form.stack")
	vietnamese("receive with errors")
	step("receive",
		// Nothing is ticked in advance: the clerk ticks the paper copy handed over.
		chromedp.Click(chromedp.ID("paper-GCS")),
		chromedp.SendKeys(chromedp.ID("full_name"), "Hà Thị Lan"),
		chromedp.SendKeys(chromedp.ID("phone"), "0912345678"),
		chromedp.SetUploadFiles(chromedp.ID("scan-TK"), []string{scan}),
		shot("receive"),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(".receipt svg.qr")),
		shot("receipt"),
	)
	code := text(".receipt .code")
	if code == "" {
		t.Fatal("the receipt shows no code")
	}
	// The look-up address the QR code holds: the code with its check value.
	lookup := text(".receipt .lookup-url")
	if !strings.Contains(lookup, "/tra-cuu/"+code+"?k=") || len(text(".receipt .lookup-check")) != 8 {
		t.Fatalf("the receipt's look-up address %q holds no check value", lookup)
	}
	// Print the receipt (to PDF: a headless browser has no printer).
	pdf, err := chromedp.Run(b, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4)))
	if err != nil || len(pdf) < 1000 || string(pdf[:4]) != "%PDF" {
		t.Fatalf("print the receipt: %d bytes, %v", len(pdf), err)
	}
	if err := os.WriteFile(filepath.Join(out, "receipt.pdf"), pdf, 0o644); err != nil {
		t.Fatal(err)
	}

	// Errors on the dossier page, in Vietnamese: no assignee chosen; then
	// a page older than the dossier (another desk acted meanwhile).
	assign := chromedp.CSS(`form.action:has(input[value="ASSIGN"]) button[type=submit]`)
	step("assign without an assignee", chromedp.Navigate(nodeURL+"/ban/ho-so/"+code), chromedp.WaitVisible(assign),
		chromedp.Click(assign), chromedp.WaitVisible(chromedp.ID("ASSIGN-assignee-error")), shot("assign-error"))
	vietnamese("assign without an assignee")
	step("assign from a stale page", chromedp.Navigate(nodeURL+"/ban/ho-so/"+code), chromedp.WaitVisible(assign),
		chromedp.SetValue(chromedp.CSS(`form.action:has(input[value="ASSIGN"]) input[name=expected_event_count]`), "7"),
		chromedp.SetValue(chromedp.ID("ASSIGN-assignee"), "chuyenvien"),
		chromedp.Click(assign), chromedp.WaitVisible(chromedp.CSS(".errors")), shot("stale"))
	if got := text(".errors"); !strings.Contains(got, "vừa được người khác cập nhật") {
		t.Errorf("a stale page says %q", got)
	}
	vietnamese("stale page")

	// Through the workflow to RETURNED, each step by its role.
	act(code, "ASSIGN", chromedp.SetValue(chromedp.ID("ASSIGN-assignee"), "chuyenvien"))
	signIn("chuyenvien")
	act(code, "SUBMIT")
	signIn("lanhdao")
	act(code, "APPROVE")
	signIn("motcua")
	act(code, "RETURN")
	step("returned", chromedp.WaitVisible(chromedp.CSS(".state-RETURNED")), shot("dossier-returned"))
	// The desk finds the citizen's dossiers by name, without diacritics.
	step("search by name", chromedp.Navigate(nodeURL+"/ban/tim-kiem?q=ha+thi+lan"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/ban/ho-so/`+code+`"]`)), shot("search"))
	fits("search", false, "none")
	vietnamese("search")

	// The citizen, from the QR code's address, on a phone too.
	step("citizen look-up", chromedp.Navigate(lookup), chromedp.WaitVisible(chromedp.CSS(".state")), shot("lookup"))
	if state := text(".state"); !strings.Contains(state, "Đã trả kết quả") {
		t.Errorf("the citizen sees %q", state)
	}
	step("phone", chromedp.EmulateViewport(390, 844), shot("lookup-phone"), chromedp.EmulateViewport(1366, 768))
	// The citizen rates the service there, on the contents everyone rates
	// (Decree 118/2025 art. 33(1)(a)–(e)), on a phone.
	rate := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(390, 844), chromedp.WaitVisible(chromedp.CSS("form.rating"))}
	for _, c := range []string{"RETURN_TIME", "AGENCIES_CONTACTED", "CONTACTS_NEEDED", "INFORMATION", "STAFF_CONDUCT", "RESULT_AND_COST"} {
		rate = append(rate, chromedp.Click(chromedp.CSS(`input[name="score-`+c+`"][value="VERY_SATISFIED"]`)))
	}
	rate = append(rate, shot("rating-phone"), chromedp.Click(chromedp.CSS(`form.rating button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.rating p[role=status]`)), shot("rated-phone"), chromedp.EmulateViewport(1366, 768))
	step("citizen rates", rate...)
	if note := text(`.rating p[role=status]`); !strings.Contains(note, "Cảm ơn") {
		t.Errorf("after rating, the citizen reads %q", note)
	}

	// The province: sign in with the records officer's token, find the dossier once synced.
	step("central sign-in",
		chromedp.Navigate(centralURL+"/dang-nhap"),
		chromedp.WaitVisible(chromedp.ID("token")),
		shot("central-signin"),
		chromedp.SendKeys(chromedp.ID("token"), prov.RecordsToken()+"\r"),
		chromedp.WaitVisible(chromedp.CSS(".chart svg")),
	)
	deadline := time.Now().Add(60 * time.Second)
	for {
		step("province look-up", chromedp.Navigate(centralURL+"/ho-so?code="+code), chromedp.WaitVisible(chromedp.ID("code")))
		found, err := chromedp.Run(b, chromedp.Evaluate[bool](`(document.querySelector(".state") || {textContent: ""}).textContent.includes("Đã trả kết quả")`))
		if err != nil {
			t.Fatal(err)
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the returned dossier did not reach the province dashboard within 60 s")
		}
		time.Sleep(500 * time.Millisecond) // polling the page, bounded by the deadline
	}
	step("dashboard", shot("central-dossier"), chromedp.Navigate(centralURL+"/"), chromedp.WaitVisible(chromedp.CSS(".chart svg")), shot("dashboard"))
	if got := text("#commune-" + communes[0].Code + " td"); got != "1" {
		t.Errorf("the dashboard counts %q received at %s, want 1", got, communes[0].Code)
	}
	step("catalogue and overdue",
		chromedp.Navigate(centralURL+"/danh-muc/1.001193"), chromedp.WaitVisible(chromedp.CSS("h1")), shot("catalogue-history"),
		chromedp.Navigate(centralURL+"/qua-han"), chromedp.WaitVisible(chromedp.CSS("h1")), shot("overdue"))
	mu.Lock()
	defer mu.Unlock()
	if len(outside) > 0 {
		t.Errorf("pages loaded from outside the node and central: %v", outside)
	}
	t.Logf("screenshots in %s", out)
}
