package central

import (
	"fmt"
	"regexp"
	"unicode/utf8"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
)

// prefixOnlineFiling keeps the online filings central routed, by the
// portal's code: oi/{portal code} → OnlineFiling. A filing is routed once:
// the same portal code again is a no-op (the connector retries after a
// lost answer, and a new leader pulls again what was not acknowledged).
const prefixOnlineFiling = "oi/"

// Bounds of an online filing, beyond which central refuses it.
const (
	// MaxOnlineFiles bounds the scans of one filing.
	MaxOnlineFiles = 100
	// MaxOnlineFileSize bounds one scan (the portal's own 5 MB, with room).
	MaxOnlineFileSize = 10 << 20
	// MaxOnlineFilingSize bounds a filing's scans together.
	MaxOnlineFilingSize = 50 << 20
)

var portalCode = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidateOnlineFiling checks an online filing on its own (not against
// the registry): codes, applicant, files and their bounds.
func ValidateOnlineFiling(f *xasov1.OnlineFiling) dossier.Violations {
	var v dossier.Violations
	if f == nil {
		v.Add("filing", "required")
		return v
	}
	if !portalCode.MatchString(f.GetPortalCode()) {
		v.Add("filing.portal_code", "the portal's code: 1 to 64 letters, digits, '.', '-', '_'")
	}
	if !dossier.ValidCommuneCode(f.GetCommuneCode()) {
		v.Add("filing.commune_code", "a 5-digit administrative unit code")
	}
	if !portalCode.MatchString(f.GetProcedureCode()) {
		v.Add("filing.procedure_code", "a procedure code: 1 to 64 letters, digits, '.', '-', '_'")
	}
	dossier.ValidateApplicant(&xasov1.Applicant{FullName: f.GetApplicantName(), IdNumber: f.GetApplicantIdNumber(), Phone: f.GetApplicantPhone()}, "filing.applicant", &v)
	if k := f.GetApplicantKind(); k != "" && k != "1" && k != "2" {
		v.Add("filing.applicant_kind", `"1" a citizen, "2" an organisation`)
	}
	if f.GetFiledTime() == nil || !f.GetFiledTime().IsValid() {
		v.Add("filing.filed_time", "required")
	}
	if len(f.GetFiles()) > MaxOnlineFiles {
		v.Add("filing.files", fmt.Sprintf("at most %d files", MaxOnlineFiles))
		return v
	}
	var total int64
	for i, file := range f.GetFiles() {
		p := fmt.Sprintf("filing.files[%d]", i)
		if !portalCode.MatchString(file.GetComponentCode()) {
			v.Add(p+".component_code", "a component code: 1 to 64 letters, digits, '.', '-', '_'")
		}
		if !utf8.ValidString(file.GetComponentName()) || len(file.GetComponentName()) > 500 {
			v.Add(p+".component_name", "valid UTF-8 of at most 500 bytes")
		}
		if n := file.GetFileName(); n == "" || !utf8.ValidString(n) || len(n) > 255 {
			v.Add(p+".file_name", "a file name: valid UTF-8 of 1 to 255 bytes")
		}
		if len(file.GetContentType()) > 100 {
			v.Add(p+".content_type", "at most 100 bytes")
		}
		if s := file.GetSize(); s < 1 || s > MaxOnlineFileSize {
			v.Add(p+".size", fmt.Sprintf("1 to %d bytes", MaxOnlineFileSize))
		}
		total += file.GetSize()
		if !dossier.ValidSHA256(file.GetSha256()) {
			v.Add(p+".sha256", "64 hex digits")
		}
		if len(file.GetPortalFileId()) > 200 {
			v.Add(p+".portal_file_id", "at most 200 bytes")
		}
	}
	if total > MaxOnlineFilingSize {
		v.Add("filing.files", fmt.Sprintf("at most %d bytes in all", MaxOnlineFilingSize))
	}
	return v
}

// applyOnlineFiling routes an online filing to its commune's feed, once:
// the commune must be registered and the procedure in the catalogue and
// open to online filing (Decree 118/2025 art. 17(2)). A portal code
// already routed is a no-op.
func applyOnlineFiling(st *stateTxn, c *xasov1.PutOnlineFilingCommand, w *writes) *xasov1.CommandResult {
	f := c.GetFiling()
	if v := ValidateOnlineFiling(f); len(v) > 0 {
		return invalid("", v)
	}
	key := []byte(prefixOnlineFiling + f.GetPortalCode())
	if st.getProto(key, &xasov1.OnlineFiling{}) {
		return &xasov1.CommandResult{Message: "already routed"}
	}
	var v dossier.Violations
	if !st.getProto([]byte(prefixCommune+f.GetCommuneCode()), &xasov1.Commune{}) {
		v.Add("filing.commune_code", fmt.Sprintf("commune %q is not registered", f.GetCommuneCode()))
	}
	p := &xasov1.Procedure{}
	switch {
	case !st.getProto([]byte(prefixProcedure+f.GetProcedureCode()), p):
		v.Add("filing.procedure_code", fmt.Sprintf("procedure %q is not in the catalogue", f.GetProcedureCode()))
	case p.GetOnlineLevel() != xasov1.OnlineLevel_ONLINE_LEVEL_PARTIAL && p.GetOnlineLevel() != xasov1.OnlineLevel_ONLINE_LEVEL_FULL:
		v.Add("filing.procedure_code", fmt.Sprintf("procedure %q is not open to online filing", f.GetProcedureCode()))
	}
	if len(v) > 0 {
		return invalid("", v)
	}
	w.set(key, f)
	w.feed(st, &xasov1.FeedItem{CommuneCode: f.GetCommuneCode(), Item: &xasov1.FeedItem_OnlineFiling{OnlineFiling: f}})
	return &xasov1.CommandResult{}
}
