package central

import (
	"strings"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// Operator tokens live DefaultOperatorTokenTTL unless asked otherwise,
// MaxOperatorTokenTTL at most.
const (
	DefaultOperatorTokenTTL = 90 * 24 * time.Hour
	MaxOperatorTokenTTL     = 366 * 24 * time.Hour
)

// tokenExpiry is when t stops working: its expire_time or, for a token
// made before tokens expired, MaxOperatorTokenTTL after it was made.
func tokenExpiry(t *xasov1.OperatorToken) time.Time {
	if e := t.GetExpireTime(); e != nil {
		return e.AsTime()
	}
	if c := t.GetCreateTime(); c != nil {
		return c.AsTime().Add(MaxOperatorTokenTTL)
	}
	return time.Time{}
}

// OperatorTokenPrefix starts every operator token's secret.
const OperatorTokenPrefix = "xo_"

// ValidOperatorSecret says whether secret has the form of an operator
// token's secret: OperatorTokenPrefix and 43 to 197 characters of
// base64url (32 random bytes make 43).
func ValidOperatorSecret(secret string) bool {
	rest, ok := strings.CutPrefix(secret, OperatorTokenPrefix)
	if !ok || len(rest) < 43 || len(rest) > 197 {
		return false
	}
	for _, r := range rest {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
