package dossier

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// Access entries: a node's log of who read which dossiers' personal data.
// They go to central in the node's outbox, chained with the events, and
// central checks them as it checks events: every field bounded, every
// enum known, sane times. A node checks its own entries the same way
// before it writes them (CheckOwnAccess), so that an honest node never
// sends an entry central refuses.

// Type names for the access log, shared by node and central.
type (
	// AccessEntry is one read of personal data at a node.
	AccessEntry = xasov1.AccessEntry
	// AccessKind is what kind of read an access entry records.
	AccessKind = xasov1.AccessKind
)

// The kinds of read an access entry records.
const (
	AccessRead     = xasov1.AccessKind_ACCESS_KIND_READ
	AccessList     = xasov1.AccessKind_ACCESS_KIND_LIST
	AccessSearch   = xasov1.AccessKind_ACCESS_KIND_SEARCH
	AccessExport   = xasov1.AccessKind_ACCESS_KIND_EXPORT
	AccessDownload = xasov1.AccessKind_ACCESS_KIND_DOWNLOAD
	AccessReceipt  = xasov1.AccessKind_ACCESS_KIND_RECEIPT
)

// Bounds on an access entry.
const (
	// MaxAccessCodes bounds the dossiers one entry names (a list's page
	// is at most 500).
	MaxAccessCodes = 500
	// MaxAccessCount bounds the number of dossiers one entry says were
	// shown (an export may show more than it names).
	MaxAccessCount = 1_000_000
	// MaxFilterBytes bounds a list's filter (as ListDossiers takes it).
	MaxFilterBytes = 1000
	// MaxClientAddressBytes bounds a client's address.
	MaxClientAddressBytes = 128
	// MaxViaBytes bounds how a reader was authenticated.
	MaxViaBytes = 32
)

// AccessKindName is an access kind's name without its prefix, e.g. "READ".
func AccessKindName(k AccessKind) string {
	n, ok := xasov1.AccessKind_name[int32(k)]
	if !ok {
		return fmt.Sprint(int32(k))
	}
	return n[len("ACCESS_KIND_"):]
}

// validateAccess checks an access entry's fields one by one, against
// central's clock now.
func validateAccess(a *AccessEntry, now time.Time, f string, v *Violations) {
	if a.GetSequence() < 1 {
		v.Add(f+".sequence", "access log sequences start at 1")
	}
	validateAccessFields(a, now, f, v)
}

// validateAccessFields is validateAccess but for the sequence.
func validateAccessFields(a *AccessEntry, now time.Time, f string, v *Violations) {
	if a.GetTime() == nil || !validTime(a.GetTime(), now, MaxClockSkew) {
		v.Add(f+".time", fmt.Sprintf("a time from %s to a day ahead of central's clock", earliest.Format(time.DateOnly)))
	}
	if n := a.GetName(); n != "" && !validLine(n, MaxActorBytes) {
		v.Add(f+".name", fmt.Sprintf("who read: empty, or one line of at most %d bytes", MaxActorBytes))
	}
	if r := a.GetRole(); r != 0 && !knownEnum(r, xasov1.Role_name) {
		v.Add(f+".role", "unset, CLERK, OFFICER or LEADER")
	}
	if via := a.GetVia(); via != "" && !ValidName(via, MaxViaBytes) {
		v.Add(f+".via", fmt.Sprintf("empty, or 1 to %d letters, digits, '.', '-' or '_'", MaxViaBytes))
	}
	if addr := a.GetClientAddress(); len(addr) > MaxClientAddressBytes || !textOK(addr, true) {
		v.Add(f+".client_address", fmt.Sprintf("one line of at most %d bytes", MaxClientAddressBytes))
	}
	if !knownEnum(a.GetKind(), xasov1.AccessKind_name) {
		v.Add(f+".kind", "READ, LIST, SEARCH, EXPORT, DOWNLOAD or RECEIPT")
	}
	codes := a.GetDossierCodes()
	if len(codes) > MaxAccessCodes {
		v.Add(f+".dossier_codes", fmt.Sprintf("at most %d", MaxAccessCodes))
		codes = nil
	}
	seen := make(map[string]bool, len(codes))
	for i, c := range codes {
		if _, err := ParseCode(c); err != nil {
			v.Add(fmt.Sprintf("%s.dossier_codes[%d]", f, i), "not a dossier code {commune}-{yymmdd}-{nnnn}")
			continue
		}
		if seen[c] {
			v.Add(fmt.Sprintf("%s.dossier_codes[%d]", f, i), "named twice")
		}
		seen[c] = true
	}
	if !validText(a.GetFilter(), MaxFilterBytes) {
		v.Add(f+".filter", fmt.Sprintf("at most %d bytes of text", MaxFilterBytes))
	}
	if n := a.GetCount(); n < int32(len(a.GetDossierCodes())) || n > MaxAccessCount {
		v.Add(f+".count", fmt.Sprintf("the dossiers named to %d", MaxAccessCount))
	}
	switch sha := a.GetAttachmentSha256(); {
	case a.GetKind() == AccessDownload && !ValidSHA256(sha):
		v.Add(f+".attachment_sha256", "a download names its file: a lower-case hex SHA-256")
	case a.GetKind() != AccessDownload && sha != "":
		v.Add(f+".attachment_sha256", "only a download names a file")
	}
	if k := a.GetKind(); (k == AccessRead || k == AccessReceipt) && len(a.GetDossierCodes()) != 1 {
		v.Add(f+".dossier_codes", AccessKindName(k)+" names the one dossier read")
	}
}

// CheckOwnAccess is what a node checks of an access entry it is about to
// write, at now: the checks central makes of the record that will carry
// it (the sequence, which the node's store gives the entry as it writes
// it, aside).
func CheckOwnAccess(a *AccessEntry, now time.Time) error {
	var v Violations
	if n := proto.Size(a); n > MaxRecordBytes-256 {
		v.Add("access", fmt.Sprintf("%d bytes encoded; at most %d", n, MaxRecordBytes-256))
		return v
	}
	validateAccessFields(a, now, "access", &v)
	return v.Err()
}
