package dossier

import (
	"slices"
	"strings"
	"unicode/utf8"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// fileTypes are the content types a scan or a signed result may have: a
// node stores no other, and central takes no other.
var fileTypes = []string{"application/pdf", "image/jpeg", "image/png"}

// FileTypesText names the content types a file may have, for messages.
const FileTypesText = "application/pdf, image/jpeg or image/png"

// AllowedFileType says whether a file may have content type ct (lower
// case, without parameters, as a node stores it).
func AllowedFileType(ct string) bool { return slices.Contains(fileTypes, ct) }

// ValidateOfferedManifest checks a manifest a node offers central: its
// shape (ValidateManifest), a content type a scan or result may have, and
// a file name of at most 255 bytes. Whether the bytes are what it says is
// known only once they are all there.
func ValidateOfferedManifest(m *xasov1.AttachmentManifest) error {
	var v Violations
	if err := ValidateManifest(m); err != nil {
		v = err.(Violations)
	}
	a := m.GetAttachment()
	if !AllowedFileType(a.GetContentType()) {
		v.Add("manifest.attachment.content_type", FileTypesText)
	}
	if n := a.GetFilename(); len(n) > 255 || !utf8.ValidString(n) || strings.ContainsAny(n, "/\\") {
		v.Add("manifest.attachment.filename", "a file name of at most 255 bytes")
	}
	if cc := a.GetComponentCode(); cc != "" && !validLine(cc, 64) {
		v.Add("manifest.attachment.component_code", "a component code: one line of at most 64 bytes")
	}
	return v.Err()
}
