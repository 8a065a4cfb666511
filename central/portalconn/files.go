package portalconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"google.golang.org/grpc/codes"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// MaxScan bounds one scan the connector fetches (central refuses larger).
const MaxScan = 10 << 20

// refusal is a filing central will not take, with the reason logged.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

// fileCommands fetches a filing's scans from the portal, checks each
// against the size and SHA-256 the listing gave, and returns the commands
// that store them at central as the filing's commune's files: a manifest
// and its chunks each, checked again by the state machine. A scan that
// does not match, or is too large, refuses the filing.
func (c *Connector) fileCommands(ctx context.Context, f *Filing) ([]*xasov1.CentralCommand, error) {
	var cmds []*xasov1.CentralCommand
	for i, d := range f.TaiLieuNop {
		if d.KichThuoc < 1 || d.KichThuoc > MaxScan {
			return nil, &refusal{fmt.Sprintf("scan %d (%s): size %d outside 1 to %d bytes", i, d.TepDinhKemId, d.KichThuoc, MaxScan)}
		}
		if d.TepDinhKemId == "" || strings.ContainsAny(d.TepDinhKemId, "/?#") {
			return nil, &refusal{fmt.Sprintf("scan %d: file id %q", i, d.TepDinhKemId)}
		}
		data, err := c.fetch(ctx, d.TepDinhKemId)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != d.KichThuoc || hex.EncodeToString(sum[:]) != strings.ToLower(d.SHA256) {
			return nil, &refusal{fmt.Sprintf("scan %d (%s): %d bytes with SHA-256 %x, not the %d bytes and %s listed", i, d.TepDinhKemId, len(data), sum, d.KichThuoc, d.SHA256)}
		}
		sha := hex.EncodeToString(sum[:])
		man := &xasov1.AttachmentManifest{ChunkSize: dossier.ChunkSize, Attachment: &xasov1.AttachmentRef{
			Sha256: sha, Filename: d.TenTepDinhKem, ContentType: d.LoaiTep, SizeBytes: int64(len(data)), ComponentCode: d.MaThanhPhanHoSo}}
		var chunks []*xasov1.CentralCommand
		for off, idx := 0, int32(0); off < len(data); off, idx = off+dossier.ChunkSize, idx+1 {
			part := data[off:min(off+dossier.ChunkSize, len(data))]
			cs := sha256.Sum256(part)
			man.ChunkSha256 = append(man.ChunkSha256, cs[:])
			chunks = append(chunks, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutChunk{PutChunk: &xasov1.PutChunkCommand{
				Sha256: cs[:], Data: part, CommuneCode: f.MaXa, AttachmentSha256: sha, Index: idx}}})
		}
		cmds = append(cmds, &xasov1.CentralCommand{Command: &xasov1.CentralCommand_PutAttachmentManifest{PutAttachmentManifest: &xasov1.PutAttachmentManifestCommand{
			CommuneCode: f.MaXa, Manifest: man}}})
		cmds = append(cmds, chunks...)
	}
	return cmds, nil
}

// fetch reads one scan from the portal, at most MaxScan bytes.
func (c *Connector) fetch(ctx context.Context, id string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.URL+"/v1/files/"+url.PathEscape(id), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch scan %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return nil, fmt.Errorf("fetch scan %s: portal answered %s: %s", id, resp.Status, strings.TrimSpace(string(b)))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxScan+1))
	if err != nil {
		return nil, fmt.Errorf("fetch scan %s: %w", id, err)
	}
	if len(data) > MaxScan {
		return nil, &refusal{fmt.Sprintf("scan %s: over %d bytes", id, MaxScan)}
	}
	return data, nil
}

// filesRefused says why central refused a filing's files, or "" when it
// took them all (stored now, or held already).
func filesRefused(res []*xasov1.CommandResult) string {
	for _, r := range res {
		switch codes.Code(r.GetCode()) {
		case codes.OK:
		case codes.InvalidArgument, codes.DataLoss, codes.FailedPrecondition:
			return r.GetMessage()
		default:
			return ""
		}
	}
	return ""
}
