package dossier

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// Violation is one thing wrong with a request: the field (a dotted path such
// as "applicant.id_number") and what is wrong with it, and, for what the
// pages say in the user's language, a stable code (codes.go; the API sends
// it as the field violation's reason). Description is for developers and
// logs; a violation without a code is shown with a general message.
type Violation struct {
	Field       string
	Description string
	Code        string
}

// Violations is a list of what is wrong with a request. As an error it says
// all of them; the API turns it into field violations.
type Violations []Violation

// Add records one violation.
func (v *Violations) Add(field, description string) {
	*v = append(*v, Violation{Field: field, Description: description})
}

// AddCode records one violation with its code (codes.go).
func (v *Violations) AddCode(field, code, description string) {
	*v = append(*v, Violation{Field: field, Description: description, Code: code})
}

// Err returns v as an error, or nil when there is none.
func (v Violations) Err() error {
	if len(v) == 0 {
		return nil
	}
	return v
}

func (v Violations) Error() string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = x.Field + ": " + x.Description
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// ReceiveInput is what the desk takes in to make a new dossier.
type ReceiveInput struct {
	Code        string
	CommuneCode string
	Procedure   *Procedure
	Applicant   *xasov1.Applicant
	Channel     xasov1.Channel
	Components  []*xasov1.SubmittedComponent
	Attachments []*xasov1.AttachmentRef
	Actor       string
	Role        Role
	Time        time.Time
	// Outcome is what the desk does with the dossier (Decree 118/2025 art.
	// 17(1)(c)): StateUnspecified or Received takes a complete one; Guided
	// records the written guidance for an incomplete one (Phiếu yêu cầu bổ
	// sung, hoàn thiện hồ sơ), RefusedAtReception a refusal (Phiếu từ chối
	// giải quyết hồ sơ). Both need Reason.
	Outcome State
	// Reason is the guidance's or the refusal's.
	Reason string
}

// ValidateApplicant checks the applicant's details; field paths start with prefix.
func ValidateApplicant(a *xasov1.Applicant, prefix string, v *Violations) {
	if a == nil {
		v.Add(prefix, "the applicant is required")
		return
	}
	name := strings.TrimSpace(a.GetFullName())
	switch {
	case name == "":
		v.AddCode(prefix+".full_name", CodeRequired, "the applicant's full name is required")
	case !utf8.ValidString(name) || len(name) > 200:
		v.Add(prefix+".full_name", "must be valid UTF-8 of at most 200 bytes")
	}
	if id := a.GetIdNumber(); id != "" && !ValidIDNumber(id) {
		v.Add(prefix+".id_number", "a citizen identity number is 12 digits")
	}
	if p := a.GetPhone(); p != "" && !validPhone(p) {
		v.Add(prefix+".phone", "a phone number is 9 to 11 digits, optionally starting with +84")
	}
	if e := a.GetEmail(); e != "" && (len(e) > 254 || !strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n")) {
		v.Add(prefix+".email", "not an e-mail address")
	}
	if len(a.GetAddress()) > 500 || !utf8.ValidString(a.GetAddress()) {
		v.Add(prefix+".address", "must be valid UTF-8 of at most 500 bytes")
	}
}

// ValidIDNumber reports whether s is a 12-digit citizen identity number.
func ValidIDNumber(s string) bool { return len(s) == 12 && digits(s) }

func validPhone(p string) bool {
	p = strings.TrimPrefix(p, "+84")
	return len(p) >= 9 && len(p) <= 11 && digits(p)
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// ValidSHA256 reports whether s is a lower-case hex SHA-256.
func ValidSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// components checks submitted components and attachments against proc (nil:
// only their form). It returns v as an error when anything is wrong.
func (v *Violations) components(proc *Procedure, comps []*xasov1.SubmittedComponent, atts []*xasov1.AttachmentRef, field string) error {
	known := map[string]bool{}
	for _, c := range proc.GetComponents() {
		known[c.GetCode()] = true
	}
	seen := map[string]bool{}
	for i, c := range comps {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case c.GetCode() == "":
			v.Add(f+".code", "the component code is required")
		case proc != nil && !known[c.GetCode()]:
			v.Add(f+".code", fmt.Sprintf("procedure %s has no component %q", proc.GetCode(), c.GetCode()))
		case seen[c.GetCode()]:
			v.Add(f+".code", fmt.Sprintf("component %q is listed twice", c.GetCode()))
		}
		seen[c.GetCode()] = true
		if !c.GetPaper() && len(c.GetAttachmentSha256()) == 0 {
			v.Add(f, "a component is handed in on paper or as a scan")
		}
		for j, h := range c.GetAttachmentSha256() {
			if !ValidSHA256(h) {
				v.Add(fmt.Sprintf("%s.attachment_sha256[%d]", f, j), "not a lower-case hex SHA-256")
			}
		}
	}
	for i, a := range atts {
		f := fmt.Sprintf("attachments[%d]", i)
		if !ValidSHA256(a.GetSha256()) {
			v.Add(f+".sha256", "not a lower-case hex SHA-256")
		}
		if cc := a.GetComponentCode(); cc != "" && proc != nil && !known[cc] {
			v.Add(f+".component_code", fmt.Sprintf("procedure %s has no component %q", proc.GetCode(), cc))
		}
	}
	return v.Err()
}

// ReceiveEvent checks what the desk takes in and returns the RECEIVE event that
// creates the dossier. Taken in (Outcome Received), the dossier must be
// complete, every required component of the procedure handed in; it gets
// its due time and the deadline for asking for supplements (Decree
// 118/2025 art. 19(5)). Guided or refused at reception (art. 16(3),
// 17(1)(c)), it is recorded with the reason and, for a guidance, the
// required components that are missing, and no clock runs.
func ReceiveEvent(in ReceiveInput, cal *Calendar) (*Event, error) {
	var v Violations
	outcome := in.Outcome
	switch outcome {
	case StateUnspecified, Received:
		outcome = Received
		if in.Reason != "" {
			v.Add("reason", "a dossier taken in needs no reason; a reason goes with a guidance or a refusal at reception")
		}
	case Guided, RefusedAtReception:
		if strings.TrimSpace(in.Reason) == "" {
			v.AddCode("reason", CodeReasonRequired, "a guidance or a refusal at reception states its reason (Decree 118/2025 art. 17(1)(c))")
		}
		if len(in.Reason) > MaxReasonBytes || !validText(in.Reason, MaxReasonBytes) {
			v.Add("reason", fmt.Sprintf("at most %d bytes of text", MaxReasonBytes))
		}
	default:
		v.Add("outcome", "RECEIVED, GUIDED or REFUSED_AT_RECEPTION")
	}
	if strings.TrimSpace(in.Actor) == "" {
		v.Add("actor", "who receives the dossier is required")
	}
	if in.Role != Clerk {
		v.Add("role", "dossiers are received by the desk: role CLERK")
	}
	if in.Procedure == nil {
		v.Add("procedure_code", "the procedure is required")
	}
	ValidateApplicant(in.Applicant, "applicant", &v)
	if in.Channel == xasov1.Channel_CHANNEL_UNSPECIFIED || xasov1.Channel_name[int32(in.Channel)] == "" {
		v.Add("channel", "IN_PERSON, ONLINE or POSTAL")
	}
	_ = v.components(in.Procedure, in.Components, in.Attachments, "components")
	handed := map[string]bool{}
	for _, c := range in.Components {
		handed[c.GetCode()] = true
	}
	var missing []string
	for _, c := range in.Procedure.GetComponents() {
		if c.GetRequired() && !handed[c.GetCode()] {
			missing = append(missing, c.GetCode())
			if outcome == Received {
				v.AddCode("components", CodeComponentMissing, fmt.Sprintf("required component %q (%s) is missing: the desk takes only a complete dossier; record a guidance instead (GUIDED)", c.GetCode(), c.GetName()))
			}
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	p := in.Procedure
	ev := &Event{
		Sequence:    1,
		Action:      Receive,
		Actor:       in.Actor,
		Role:        in.Role,
		Time:        timestamppb.New(in.Time),
		State:       outcome,
		Components:  in.Components,
		Attachments: in.Attachments,
		OnlineLevel: p.GetOnlineLevel(),
		FeeVnd:      p.GetFeeVnd(),
		Receipt: &xasov1.Receipt{
			Code:             in.Code,
			CommuneCode:      in.CommuneCode,
			ProcedureCode:    p.GetCode(),
			ProcedureVersion: p.GetVersion(),
			ProcedureName:    p.GetName(),
			ProcessingDays:   p.GetProcessingDays(),
			SupplementClock:  p.GetSupplementClock(),
			Applicant:        in.Applicant,
			Channel:          in.Channel,
			Rules:            Decree118,
		},
		ProcessingHours: p.GetProcessingHours(),
		LateReceipt:     p.GetLateReceipt(),
	}
	switch outcome {
	case Received:
		window := int(p.GetSupplementWindowDays())
		if window <= 0 {
			window = DefaultSupplementWindowDays
		}
		ev.DueTime = timestamppb.New(cal.DueFor(in.Time, ProcessingTimeOf(p)))
		ev.Receipt.SupplementDeadline = timestamppb.New(cal.Due(in.Time, window))
		ev.Receipt.SupplementCloseDays = p.GetSupplementCloseDays()
	case Guided:
		ev.Reason, ev.MissingComponents = in.Reason, missing
	default:
		ev.Reason = in.Reason
	}
	return ev, nil
}

// ValidateProcedure checks a catalogue entry.
func ValidateProcedure(p *Procedure) error {
	var v Violations
	if !ValidName(p.GetCode(), 40) {
		v.Add("code", "the procedure code is required: at most 40 letters, digits, '.', '-' or '_'")
	}
	if strings.TrimSpace(p.GetName()) == "" {
		v.Add("name", "the name is required")
	}
	if strings.TrimSpace(p.GetField()) == "" {
		v.Add("field", "the field (lĩnh vực) is required")
	}
	validateProcessingTime(p, &v)
	// Decree 118/2025 art. 19(5): the supplement periods and the restart
	// of the clock are the decree's unless sector law says otherwise,
	// which the procedure then names.
	if w := p.GetSupplementWindowDays(); w < 0 || w > 365 {
		v.Add("supplement_window_days", "0 (the decree's 3 working days) to 365")
	}
	if c := p.GetSupplementCloseDays(); c < 0 || c > 365 {
		v.Add("supplement_close_days", "0 (the decree's 15 days) to 365")
	}
	departs := p.GetSupplementWindowDays() > 0 && p.GetSupplementWindowDays() != DefaultSupplementWindowDays ||
		p.GetSupplementCloseDays() > 0 && p.GetSupplementCloseDays() != DefaultSupplementCloseDays ||
		p.GetSupplementClock() == xasov1.SupplementClock_SUPPLEMENT_CLOCK_RESUME
	if departs && strings.TrimSpace(p.GetSupplementLegalBasis()) == "" {
		v.Add("supplement_legal_basis", "the sector law that sets supplement periods or a RESUME clock other than Decree 118/2025 art. 19(5)'s")
	}
	if len(p.GetSupplementLegalBasis()) > 500 {
		v.Add("supplement_legal_basis", "at most 500 bytes")
	}
	if a := p.GetCompetentAgencyId(); a != "" {
		// Decree 118/2025 art. 28(2)(a): the code of a dossier carries
		// the competent agency's e-ID.
		if err := CheckAgencyID(a); err != nil {
			v.Add("competent_agency_id", err.Error())
		}
	}
	if p.GetFeeVnd() < 0 {
		v.Add("fee_vnd", "not negative")
	}
	if p.GetOnlineLevel() == xasov1.OnlineLevel_ONLINE_LEVEL_UNSPECIFIED {
		v.Add("online_level", "NONE, PARTIAL or FULL")
	}
	seen := map[string]bool{}
	for i, c := range p.GetComponents() {
		if c.GetCode() == "" || seen[c.GetCode()] {
			v.Add(fmt.Sprintf("components[%d].code", i), "required and unique within the procedure")
		}
		seen[c.GetCode()] = true
	}
	return v.Err()
}

// ValidName reports whether s is 1 to max letters, digits, '.', '-' or '_':
// the alphabet of procedure codes and of the names central keys (tokens,
// nodes, members), which must never hold a key separator.
func ValidName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// ChunkSize is the size of the chunks files are stored and sent in.
const ChunkSize = 256 << 10

// MaxFileBytes bounds a file (a scan or a result) anywhere in xaso.
const MaxFileBytes = 256 << 20

// ValidateManifest checks a file manifest's shape: the file's hash, the
// chunk size, and as many 32-byte chunk hashes as the size needs.
func ValidateManifest(m *xasov1.AttachmentManifest) error {
	var v Violations
	a := m.GetAttachment()
	if !ValidSHA256(a.GetSha256()) {
		v.Add("manifest.attachment.sha256", "the SHA-256 of the file, in hex")
	}
	if a.GetSizeBytes() <= 0 || a.GetSizeBytes() > MaxFileBytes {
		v.Add("manifest.attachment.size_bytes", fmt.Sprintf("1 to %d", MaxFileBytes))
	}
	if m.GetChunkSize() != ChunkSize {
		v.Add("manifest.chunk_size", fmt.Sprint(ChunkSize))
	} else if want := (a.GetSizeBytes() + ChunkSize - 1) / ChunkSize; a.GetSizeBytes() > 0 && int64(len(m.GetChunkSha256())) != want {
		v.Add("manifest.chunk_sha256", fmt.Sprintf("%d chunk hashes for %d bytes", want, a.GetSizeBytes()))
	}
	for _, c := range m.GetChunkSha256() {
		if len(c) != 32 {
			v.Add("manifest.chunk_sha256", "32-byte SHA-256 hashes")
			break
		}
	}
	return v.Err()
}

// SameChunks says whether two manifests name the same chunks, in order.
func SameChunks(a, b *xasov1.AttachmentManifest) bool {
	if len(a.GetChunkSha256()) != len(b.GetChunkSha256()) {
		return false
	}
	for i := range a.GetChunkSha256() {
		if !bytes.Equal(a.GetChunkSha256()[i], b.GetChunkSha256()[i]) {
			return false
		}
	}
	return true
}

// ErrFileCorrupt says that a file's chunks do not make the file its
// manifest names.
var ErrFileCorrupt = errors.New("the chunks do not make the file: stored content does not match its hash")

// JoinChunks reads a file's chunks in order with chunk (which looks one up
// by its SHA-256) and checks the whole against the manifest's hash.
func JoinChunks(m *xasov1.AttachmentManifest, chunk func(sum []byte) ([]byte, error)) ([]byte, error) {
	content := make([]byte, 0, m.GetAttachment().GetSizeBytes())
	for i, c := range m.GetChunkSha256() {
		part, err := chunk(c)
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, err)
		}
		content = append(content, part...)
	}
	if sum := sha256.Sum256(content); hex.EncodeToString(sum[:]) != m.GetAttachment().GetSha256() {
		return nil, ErrFileCorrupt
	}
	return content, nil
}
