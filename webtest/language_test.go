package webtest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// englishPhrases are pieces of the API's developer English that issue 22
// found on Vietnamese pages; none may show on a page in Vietnamese.
var englishPhrases = []string{
	" is required", " needs a ", " needs the ", "cannot ", "dossier code", "the request expected",
	"invalid request", " is missing", " must ", "not registered", " may not ", "in state ",
	"try again", "not a ", "is not ", "unavailable:",
}

// enumName matches a workflow name as the code spells it (IN_PROCESSING,
// WITHDRAW); pages say the Vietnamese instead.
var enumName = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b[A-Z]{4,}\b`)

// enumNames are the names of the workflow's actions, states, roles and
// channels, without their prefixes.
func enumNames() map[string]bool {
	out := map[string]bool{}
	for _, m := range []map[string]int32{xasov1.Action_value, xasov1.State_value, xasov1.Role_value, xasov1.Channel_value} {
		for k := range m {
			out[k] = true
			if i := strings.IndexByte(k, '_'); i > 0 {
				out[k[i+1:]] = true
			}
		}
	}
	return out
}

// foreignIn lists what in a Vietnamese page's text is English or an
// internal name.
func foreignIn(text string) []string {
	var out []string
	lower := strings.ToLower(text)
	for _, p := range englishPhrases {
		if i := strings.Index(lower, strings.ToLower(p)); i >= 0 {
			out = append(out, fmt.Sprintf("English %q in %q", p, excerpt(text, i)))
		}
	}
	names := enumNames()
	for _, loc := range enumName.FindAllStringIndex(text, -1) {
		if w := text[loc[0]:loc[1]]; names[w] || strings.Contains(w, "_") {
			out = append(out, fmt.Sprintf("internal name %s in %q", w, excerpt(text, loc[0])))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// excerpt is the text around i, for a failure message.
func excerpt(s string, i int) string {
	from, to := max(0, i-40), min(len(s), i+60)
	for from > 0 && !isRuneStart(s[from]) {
		from--
	}
	for to < len(s) && !isRuneStart(s[to]) {
		to++
	}
	return strings.Join(strings.Fields(s[from:to]), " ")
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// pageText is the text the page shows (its language switch, which names
// the other language in that language, left out).
func pageText(ctx context.Context) (string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
  const b = document.body.cloneNode(true);
  b.querySelectorAll("a.lang, [lang]:not([lang=vi])").forEach(e => e.remove());
  return b.innerText;
})()`))
}

// TestForeignTextFires: the check the pages' texts are held to finds the
// English and the internal names issue 22 found, and passes Vietnamese.
func TestForeignTextFires(t *testing.T) {
	for _, bad := range []string{
		"Chưa lưu: hãy sửa các chỗ được đánh dấu.\nthe applicant's full name is required",
		"WITHDRAW needs a written reason",
		"cannot TRANSFER a dossier in state IN_PROCESSING: it needs RECEIVED",
		`dossier code "abc" is not a code`,
		"dossier 12345-260101-0001 has 2 events, the request expected 1",
		"Trạng thái: RESULT_READY",
	} {
		if got := foreignIn(bad); len(got) == 0 {
			t.Errorf("nothing found in %q", bad)
		}
	}
	for _, good := range []string{
		"Chưa lưu: hãy sửa các chỗ được đánh dấu.\nBắt buộc: hãy nhập hoặc chọn.",
		"Không thực hiện được thao tác này khi hồ sơ đang ở trạng thái Đang giải quyết.",
		"Mã hồ sơ: H12.34-260101-0001 · Raft #12 · VietQR · PDF, JPEG, PNG",
	} {
		if got := foreignIn(good); len(got) > 0 {
			t.Errorf("%q: found %q", good, got)
		}
	}
}
