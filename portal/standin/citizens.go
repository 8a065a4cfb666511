package standin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/sample"
)

// Citizens file online dossiers on a stand-in's page as citizens do: for
// one of Communes, a procedure that may be filed online, a scan for each
// component. The demo runs them; tests use FileOne.
type Citizens struct {
	// URL is the stand-in's address.
	URL string
	// Communes are the unit codes the citizens file for.
	Communes []string
	// Procedures is the catalogue (default: the sample one).
	Procedures []*xasov1.Procedure
	// Client sends the filings (default: a client with a 30 s timeout).
	Client *http.Client
	// Rand picks what is filed (default: seeded with 1).
	Rand *rand.Rand
	// Logger receives what is filed and what fails (default: discarded).
	Logger *slog.Logger
}

var (
	familyNames = []string{"Nguyễn", "Lê", "Trần", "Đỗ", "Phạm", "Hoàng", "Hà", "Lò", "Vi", "Cầm"}
	middleNames = []string{"Văn", "Thị", "Đức", "Ngọc", "Minh", "Thu"}
	givenNames  = []string{"An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phương", "Sơn", "Tuấn"}
)

// scanPDF is a small valid-looking PDF standing for a scan.
func scanPDF(title string) []byte {
	return []byte("%PDF-1.4\n% " + title + "\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")
}

func (c *Citizens) defaults() {
	if c.Procedures == nil {
		c.Procedures = sample.Procedures()
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(1, 0x706f7274616c))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// FileOne files one dossier and returns its code on the stand-in.
func (c *Citizens) FileOne(ctx context.Context) (string, error) {
	c.defaults()
	if len(c.Communes) == 0 {
		return "", fmt.Errorf("filing online: no commune to file for")
	}
	var procs []*xasov1.Procedure
	for _, p := range c.Procedures {
		if online(p) {
			procs = append(procs, p)
		}
	}
	if len(procs) == 0 {
		return "", fmt.Errorf("filing online: no procedure may be filed online")
	}
	r := c.Rand
	p := procs[r.IntN(len(procs))]
	commune := c.Communes[r.IntN(len(c.Communes))]
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fields := [][2]string{
		{"xa", commune}, {"tthc", p.GetCode()},
		{"ho_ten", familyNames[r.IntN(len(familyNames))] + " " + middleNames[r.IntN(len(middleNames))] + " " + givenNames[r.IntN(len(givenNames))]},
		// 038: the Thanh Hóa prefix of personal identification numbers.
		{"so_dinh_danh", fmt.Sprintf("038%09d", r.IntN(1_000_000_000))},
		{"so_dien_thoai", fmt.Sprintf("09%08d", r.IntN(100_000_000))},
	}
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return "", fmt.Errorf("filing online: %w", err)
		}
	}
	for _, comp := range p.GetComponents() {
		if !comp.GetRequired() && r.IntN(2) == 0 {
			continue
		}
		fw, err := mw.CreateFormFile("tp_"+comp.GetCode(), strings.ToLower(comp.GetCode())+".pdf")
		if err != nil {
			return "", fmt.Errorf("filing online: %w", err)
		}
		fw.Write(scanPDF(comp.GetName()))
	}
	if err := mw.Close(); err != nil {
		return "", fmt.Errorf("filing online: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.URL, "/")+"/nop-ho-so", &buf)
	if err != nil {
		return "", fmt.Errorf("filing online: %w", err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	client := *c.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("filing online: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/ho-so/") {
		return "", fmt.Errorf("filing online %s for %s: the stand-in answered %s: %.200s", p.GetCode(), commune, resp.Status, body)
	}
	code := strings.TrimPrefix(loc, "/ho-so/")
	c.Logger.Info("citizen filed online", "code", code, "commune", commune, "procedure", p.GetCode())
	return code, nil
}

// Run files a dossier about every interval (jittered; the first soon
// after the start) until ctx ends.
func (c *Citizens) Run(ctx context.Context, every time.Duration) {
	c.defaults()
	for first := true; ; first = false {
		d := every/2 + time.Duration(c.Rand.Int64N(int64(every)))
		if first {
			d /= 8
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, err := c.FileOne(ctx); err != nil && ctx.Err() == nil {
			c.Logger.Warn("citizen could not file online", "err", err)
		}
	}
}
