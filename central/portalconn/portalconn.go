// Package portalconn is central's connector to the national public service
// portal: on the Raft leader it pulls the dossiers citizens filed online
// for the province, stores their scans at central (checked against the
// portal's listing), proposes each filing as one Raft command that routes it to
// its commune's node (Decree 118/2025 art. 17(2)), and acknowledges it to
// the portal once that command is committed. Central's state machine
// keeps the portal's code of every filing routed, so a filing proposed
// twice (a lost answer, a new leader pulling again what was not
// acknowledged) reaches its commune once.
//
// The transport is the portal stand-in's (docs/portal.md): it is not the
// portal's published interface, which the province checks when it connects.
package portalconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/portal"
)

// Actor is who the connector's commands are proposed as.
const Actor = "portal-connector"

// maxListing bounds one answer of the portal's listing.
const maxListing = 64 << 20

// Proposer commits commands through Raft on this member while it leads
// (central.Member).
type Proposer interface {
	IsLeader() bool
	Propose(ctx context.Context, actor string, now time.Time, cmds ...*xasov1.CentralCommand) ([]*xasov1.CommandResult, error)
}

// Config configures a connector.
type Config struct {
	// URL is the portal's base address; Token the bearer token presented.
	URL   string
	Token string
	// Province is the province's unit code, as the portal knows it.
	Province string
	// Wait is how long a pull waits at the portal for a filing (long
	// poll; default 20s, at most 60s).
	Wait time.Duration
	// Client makes the calls (default: one with a timeout above Wait).
	Client *http.Client
	// Logger receives refusals with their reasons.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxBackoff bounds the back-off between failed calls (default 30s).
	MaxBackoff time.Duration
}

// Stats are the connector's counts since it started.
type Stats struct {
	// Routed counts filings committed to their commune's feed (a filing
	// central already had counts too: it is acknowledged again).
	Routed uint64
	// Refused counts filings central refused, with a logged reason.
	Refused uint64
	// Errors counts failed calls to the portal and failed proposals.
	Errors uint64
	// Cursor is the portal's cursor of the next pull.
	Cursor int64
	// LastPull is when the portal last answered a pull (zero: never).
	LastPull time.Time
	// OldestWaiting is when the oldest filing taken but not yet
	// acknowledged was filed (zero: none waits).
	OldestWaiting time.Time
}

// Connector pulls online filings from the portal while its member leads.
type Connector struct {
	cfg Config
	p   Proposer
	log *slog.Logger

	mu    sync.Mutex
	stats Stats
}

// New makes a connector; it does nothing until Run.
func New(cfg Config, p Proposer) (*Connector, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("portal connector: portal_url %q is not an http(s) address", cfg.URL)
	}
	if len(cfg.Token) < 16 {
		return nil, errors.New("portal connector: the portal token must be at least 16 characters")
	}
	if cfg.Province == "" || strings.ContainsAny(cfg.Province, "/?#") {
		return nil, fmt.Errorf("portal connector: portal_province %q is not a unit code", cfg.Province)
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.Wait <= 0 {
		cfg.Wait = 20 * time.Second
	}
	cfg.Wait = min(cfg.Wait, 60*time.Second)
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Wait + 30*time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	return &Connector{cfg: cfg, p: p, log: cfg.Logger.With("component", "portal-connector")}, nil
}

// Stats returns the connector's counts now.
func (c *Connector) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Run pulls and routes filings while this member leads, until ctx ends.
// On a member that does not lead it only waits; when it gains leadership
// it pulls from the start: what the portal still lists is what was not
// acknowledged.
func (c *Connector) Run(ctx context.Context) {
	backoff := time.Duration(0)
	leading := false
	for ctx.Err() == nil {
		if !c.p.IsLeader() {
			leading = false
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if !leading {
			leading = true
			c.mu.Lock()
			c.stats.Cursor = 0
			c.mu.Unlock()
		}
		if err := c.PullOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.count(func(s *Stats) { s.Errors++ })
			backoff = min(max(2*backoff, 200*time.Millisecond), c.cfg.MaxBackoff)
			c.log.Warn("portal pull", "err", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
			continue
		}
		backoff = 0
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (c *Connector) count(f func(*Stats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

// File is one scan of a filing as the portal lists it.
type File struct {
	portal.Document
	TenThanhPhan string `json:"TenThanhPhan"`
	LoaiTep      string `json:"LoaiTep"`
	KichThuoc    int64  `json:"KichThuoc"`
	SHA256       string `json:"SHA256"`
}

// Filing is an online dossier as the portal lists it.
type Filing struct {
	Seq          int64       `json:"Seq"`
	MaHoSo       string      `json:"MaHoSo"`
	MaTTHC       string      `json:"MaTTHC"`
	TenTTHC      string      `json:"TenTTHC"`
	ChuHoSo      string      `json:"ChuHoSo"`
	LoaiDoiTuong string      `json:"LoaiDoiTuong"`
	SoDinhDanh   string      `json:"SoDinhDanh"`
	SoDienThoai  string      `json:"SoDienThoai"`
	MaTinh       string      `json:"MaTinh"`
	MaXa         string      `json:"MaXa"`
	TenXa        string      `json:"TenXa"`
	NgayNopHoSo  portal.Time `json:"NgayNopHoSo"`
	TaiLieuNop   []File      `json:"TaiLieuNop"`
}

type listing struct {
	Dossiers []json.RawMessage `json:"dossiers"`
	Next     int64             `json:"next"`
}

// OnlineFiling is what central routes of a portal filing.
func (f *Filing) OnlineFiling() *xasov1.OnlineFiling {
	o := &xasov1.OnlineFiling{
		PortalCode: f.MaHoSo, PortalSequence: f.Seq, CommuneCode: f.MaXa, ProcedureCode: f.MaTTHC,
		ApplicantName: f.ChuHoSo, ApplicantIdNumber: f.SoDinhDanh, ApplicantPhone: f.SoDienThoai, ApplicantKind: f.LoaiDoiTuong,
	}
	if !f.NgayNopHoSo.IsZero() {
		o.FiledTime = timestamppb.New(f.NgayNopHoSo.Time)
	}
	for _, d := range f.TaiLieuNop {
		o.Files = append(o.Files, &xasov1.OnlineFilingFile{
			ComponentCode: d.MaThanhPhanHoSo, ComponentName: d.TenThanhPhan, FileName: d.TenTepDinhKem,
			ContentType: d.LoaiTep, Size: d.KichThuoc, Sha256: d.SHA256, PortalFileId: d.TepDinhKemId,
		})
	}
	return o
}

// PullOnce pulls one page of filings after the cursor (waiting at the
// portal up to Config.Wait for one), routes each through Raft and
// acknowledges it; the cursor moves past a filing once central has
// committed or refused it.
func (c *Connector) PullOnce(ctx context.Context) error {
	c.mu.Lock()
	after := c.stats.Cursor
	c.mu.Unlock()
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {"100"}, "wait": {c.cfg.Wait.String()}}
	var l listing
	if err := c.call(ctx, http.MethodGet, "/v1/province/"+url.PathEscape(c.cfg.Province)+"/dossiers?"+q.Encode(), nil, &l); err != nil {
		return fmt.Errorf("pull after %d: %w", after, err)
	}
	c.count(func(s *Stats) { s.LastPull = c.cfg.Now() })
	for _, raw := range l.Dossiers {
		var f Filing
		if err := json.Unmarshal(raw, &f); err != nil {
			// Not a filing central can read: nothing to route or to
			// acknowledge; it stays at the portal with its status.
			c.log.Warn("portal filing refused: unreadable", "err", err, "bytes", len(raw))
			c.count(func(s *Stats) { s.Refused++ })
			continue
		}
		if f.Seq <= after {
			continue
		}
		c.count(func(s *Stats) {
			if s.OldestWaiting.IsZero() {
				s.OldestWaiting = f.NgayNopHoSo.Time
			}
		})
		if err := c.route(ctx, &f); err != nil {
			return err
		}
		after = f.Seq
		c.count(func(s *Stats) { s.Cursor, s.OldestWaiting = f.Seq, time.Time{} })
	}
	if l.Next > after {
		c.count(func(s *Stats) { s.Cursor = l.Next })
	}
	return nil
}

// route proposes one filing and acknowledges it once committed; a filing
// central refuses is logged with its reasons and left at the portal.
func (c *Connector) route(ctx context.Context, f *Filing) error {
	refuse := func(reason string) {
		c.log.Warn("portal filing refused", "ma_ho_so", f.MaHoSo, "commune", f.MaXa, "procedure", f.MaTTHC, "reason", reason)
		c.count(func(s *Stats) { s.Refused++ })
	}
	// The scans first, each checked against the listing and stored at
	// central as the commune's files, so that the filing never names a
	// file central does not hold.
	files, err := c.fileCommands(ctx, f)
	var r *refusal
	switch {
	case errors.As(err, &r):
		refuse(r.reason)
		return nil
	case err != nil:
		return fmt.Errorf("filing %s: %w", f.MaHoSo, err)
	}
	if len(files) > 0 {
		res, err := c.p.Propose(ctx, Actor, c.cfg.Now(), files...)
		if err != nil {
			return fmt.Errorf("propose the scans of filing %s: %w", f.MaHoSo, err)
		}
		if why := filesRefused(res); why != "" {
			refuse("scans: " + why)
			return nil
		}
		for _, r := range res {
			if r.GetCode() != 0 {
				return fmt.Errorf("propose the scans of filing %s: %s", f.MaHoSo, r.GetMessage())
			}
		}
	}
	cmd := &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutOnlineFiling{PutOnlineFiling: &xasov1.PutOnlineFilingCommand{Filing: f.OnlineFiling()}}}
	res, err := c.p.Propose(ctx, Actor, c.cfg.Now(), cmd)
	if err != nil {
		return fmt.Errorf("propose filing %s: %w", f.MaHoSo, err)
	}
	if len(res) != 1 {
		return fmt.Errorf("propose filing %s: %d results for one command", f.MaHoSo, len(res))
	}
	if r := res[0]; r.GetCode() != 0 {
		if codes.Code(r.GetCode()) != codes.InvalidArgument {
			return fmt.Errorf("propose filing %s: %s", f.MaHoSo, r.GetMessage())
		}
		refuse(r.GetMessage())
		return nil
	}
	path := "/v1/province/" + url.PathEscape(c.cfg.Province) + "/dossiers/" + url.PathEscape(f.MaHoSo) + "/ack"
	if err := c.call(ctx, http.MethodPost, path, []byte("{}"), nil); err != nil {
		// Committed but not acknowledged: listed again after a restart
		// or a new leader, and then a no-op at central.
		return fmt.Errorf("acknowledge filing %s: %w", f.MaHoSo, err)
	}
	c.count(func(s *Stats) { s.Routed++ })
	c.log.Info("portal filing routed", "ma_ho_so", f.MaHoSo, "commune", f.MaXa, "procedure", f.MaTTHC)
	return nil
}

// call makes one request to the portal and reads its JSON answer into out.
func (c *Connector) call(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxListing+1))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if len(b) > maxListing {
		return fmt.Errorf("answer over %d bytes", maxListing)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("portal answered %s: %s", resp.Status, strings.TrimSpace(string(b[:min(len(b), 500)])))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	return nil
}
