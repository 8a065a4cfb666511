package central

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPortalConfigAllOrNoneWithAPrivateToken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "portal.token")
	os.WriteFile(good, []byte("connector-token-0123456789\n"), 0o600)
	open := filepath.Join(dir, "open.token")
	os.WriteFile(open, []byte("connector-token-0123456789\n"), 0o644)
	short := filepath.Join(dir, "short.token")
	os.WriteFile(short, []byte("short\n"), 0o600)
	for _, tc := range []struct {
		name           string
		url, file, pro string
		key            string // "" when accepted
	}{
		{"off", "", "", "", ""},
		{"on", "http://127.0.0.1:8086", good, "38", ""},
		{"no token file", "http://127.0.0.1:8086", "", "38", "portal_token_file"},
		{"no province", "http://127.0.0.1:8086", good, "", "portal_province"},
		{"not an address", "127.0.0.1:8086", good, "38", "portal_url"},
		{"a token others read", "http://127.0.0.1:8086", open, "38", "portal_token_file"},
		{"a short token", "http://127.0.0.1:8086", short, "38", "portal_token_file"},
		{"a missing token file", "http://127.0.0.1:8086", filepath.Join(dir, "none"), "38", "portal_token_file"},
	} {
		err := Config{PortalURL: tc.url, PortalTokenFile: tc.file, PortalProvince: tc.pro}.checkPortal()
		if (tc.key == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s: %v; want an error naming %q", tc.name, err, tc.key)
		}
	}
}
