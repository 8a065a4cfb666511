package node

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"
)

// page fetches a page with client and returns its status, final path and body.
func page(t *testing.T, client *http.Client, url string) (int, string, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, string(body)
}

// TestCitizenLookup: the citizen's look-up finds a dossier by the code on
// its receipt, says where it is and by when, in Vietnamese or English, and
// shows no personal data; bad and unknown codes are answered next to the
// field.
func TestCitizenLookup(t *testing.T) {
	n := startNode(t)
	code, created := n.call(t, "POST", "/v1/dossiers", birthRequest())
	if code != 200 {
		t.Fatalf("create: %d %v", code, created)
	}
	dossierCode := created["dossier"].(map[string]any)["code"].(string)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: n.client.Transport}

	status, _, body := page(t, client, n.url+"/tra-cuu")
	if status != 200 || !strings.Contains(body, `<html lang="vi">`) || !strings.Contains(body, `<label for="code">Mã hồ sơ</label>`) {
		t.Fatalf("form: %d\n%s", status, body)
	}
	// The code alone says only that the dossier exists: codes are
	// sequential, and could be walked.
	check := n.Store().LookupCheck(dossierCode)
	status, _, body = page(t, client, n.url+"/tra-cuu/"+dossierCode)
	if status != 200 || !strings.Contains(body, "Có hồ sơ với mã này") || strings.Contains(body, "Tiếp nhận hồ sơ") || strings.Contains(body, "Ngày hẹn trả kết quả</dt>") {
		t.Fatalf("the code alone: %d\n%s", status, body)
	}
	status, _, body = page(t, client, n.url+"/tra-cuu/"+dossierCode+"?k=AAAAAAAA")
	if status != 200 || !strings.Contains(body, "Mã kiểm tra không đúng") || strings.Contains(body, "Tiếp nhận hồ sơ") {
		t.Fatalf("a wrong check code: %d\n%s", status, body)
	}
	// The QR code's address (code and check value), reached from the form too.
	status, path, body := page(t, client, n.url+"/tra-cuu?code="+dossierCode+"&k="+strings.ToLower(check))
	if status != 200 || path != "/tra-cuu/"+dossierCode {
		t.Fatalf("look-up: %d at %s", status, path)
	}
	for _, want := range []string{dossierCode, "Đã tiếp nhận", "Tiếp nhận hồ sơ", "Ngày hẹn trả kết quả", "09:00 23/11/2026"} {
		if !strings.Contains(body, want) {
			t.Errorf("the dossier's page lacks %q", want)
		}
	}
	for _, private := range []string{"Hà Thị Lan", "001190012345", "0912345678", "motcua.1"} {
		if strings.Contains(body, private) {
			t.Errorf("the public page shows %q", private)
		}
	}
	if regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(body) {
		t.Error("the page loads something from outside the node")
	}

	// English, remembered.
	if _, _, body = page(t, client, n.url+"/tra-cuu/"+dossierCode+"?lang=en&k="+check); !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "Dossier received") {
		t.Fatalf("English page:\n%s", body)
	}
	if _, _, body = page(t, client, n.url+"/tra-cuu/"+dossierCode+"?k="+check); !strings.Contains(body, "Result due on") {
		t.Fatal("the language choice was not remembered")
	}

	// Past the due date, the page says so.
	n.clock.Set(time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC))
	if _, _, body = page(t, client, n.url+"/tra-cuu/"+dossierCode+"?k="+check); !strings.Contains(body, "past its due date") {
		t.Error("an overdue dossier's page does not say so")
	}

	for _, c := range []struct {
		url    string
		status int
		want   string
	}{
		{"/tra-cuu?code=abc", 400, "A dossier code has three parts"},
		{"/tra-cuu/09619-261123-9999", 404, "This commune holds no dossier with that code"},
	} {
		status, _, body := page(t, client, n.url+c.url)
		if status != c.status || !strings.Contains(body, c.want) || !strings.Contains(body, `aria-invalid="true"`) {
			t.Errorf("%s: %d, want %d with %q next to the field", c.url, status, c.status, c.want)
		}
	}
	resp, err := n.client.Get(n.url + "/static/site.css")
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Walking the look-up's codes from one address is stopped: after
// lookupsPerMinute look-ups in a minute, 429 until the minute passes.
func TestCitizenLookupIsLimitedPerAddress(t *testing.T) {
	n := startNode(t)
	for i := range lookupsPerMinute {
		if status, _, _ := page(t, n.client, n.url+fmt.Sprintf("/tra-cuu/09619-261123-%04d", i+1)); status != http.StatusNotFound {
			t.Fatalf("look-up %d: %d", i+1, status)
		}
	}
	if status, _, body := page(t, n.client, n.url+"/tra-cuu/09619-261123-9999"); status != http.StatusTooManyRequests || !strings.Contains(body, "Quá nhiều lượt tra cứu") {
		t.Fatalf("look-up %d: %d %s", lookupsPerMinute+1, status, body)
	}
	n.clock.Set(n.clock.Now().Add(time.Minute))
	if status, _, _ := page(t, n.client, n.url+"/tra-cuu/09619-261123-9999"); status != http.StatusNotFound {
		t.Fatalf("a minute later: %d", status)
	}
}
