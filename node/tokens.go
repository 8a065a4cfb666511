package node

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/xaso/xaso/dossier"
)

// Token is one API client's entry in the node's tokens file. The secret
// itself is never stored: only its SHA-256.
type Token struct {
	// Name names the client; it is the actor recorded on what it does.
	Name string `yaml:"name"`
	// Role is clerk, officer or leader (acting in the workflow), or
	// monitor (sync status, store checks and metrics; no dossier).
	Role string `yaml:"role"`
	// SHA256 is the hex SHA-256 of the secret token.
	SHA256 string `yaml:"sha256"`
	// Expires is when the token stops working.
	Expires time.Time `yaml:"expires"`
	// Created is when it was made (for the operator's list).
	Created time.Time `yaml:"created,omitempty"`
}

// TokenPrefix starts every node API token, so that a leaked one is
// recognised for what it is.
const TokenPrefix = "xaso_n_"

// MaxTokenTTL is the longest a node token may live.
const MaxTokenTTL = 366 * 24 * time.Hour

// role is the workflow role of the token (0 for monitor).
func (t Token) role() dossier.Role { return User{Role: t.Role}.role() }

// NewToken makes a token for name and role that expires ttl after now: the
// entry for the tokens file and the secret, shown once.
func NewToken(name, role string, ttl time.Duration, now time.Time) (Token, string, error) {
	t := Token{Name: name, Role: role, Created: now.UTC().Truncate(time.Second), Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	if err := t.check(); err != nil {
		return Token{}, "", err
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return Token{}, "", fmt.Errorf("ttl: %v is outside 1s to %v", ttl, MaxTokenTTL)
	}
	b := make([]byte, 32)
	rand.Read(b)
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	t.SHA256 = TokenSum(secret)
	return t, secret, nil
}

// TokenSum is the hex SHA-256 of a token's secret, as the tokens file
// holds it.
func TokenSum(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

func (t Token) check() error {
	switch {
	case !dossier.ValidName(t.Name, 64):
		return fmt.Errorf("name: %q is not 1 to 64 letters, digits, '.', '-' or '_'", t.Name)
	case t.Role != "monitor" && t.role() == 0:
		return fmt.Errorf("role: %q is not clerk, officer, leader or monitor", t.Role)
	}
	return nil
}

// ParseTokens reads a tokens file (a YAML list) and checks every entry;
// the error names the entry and the key that is wrong.
func ParseTokens(data []byte) ([]Token, error) {
	var ts []Token
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&ts); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("not a YAML list of tokens: %w", err)
	}
	seen := map[string]bool{}
	for i, t := range ts {
		if err := t.check(); err != nil {
			return nil, fmt.Errorf("[%d].%w", i, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("[%d].name: %q is listed twice", i, t.Name)
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("[%d].sha256: not the hex SHA-256 of a token", i)
		}
		if t.Expires.IsZero() {
			return nil, fmt.Errorf("[%d].expires: required (a token always expires)", i)
		}
		seen[t.Name] = true
	}
	return ts, nil
}

// MarshalTokens writes tokens as the tokens file holds them.
func MarshalTokens(ts []Token) ([]byte, error) {
	if len(ts) == 0 {
		return []byte("[]\n"), nil
	}
	return yaml.Marshal(ts)
}

// errBadToken says that a bearer token is unknown, revoked or expired;
// which of these is not told.
var errBadToken = errors.New("unknown, revoked or expired token")

// tokens reads the tokens file, again whenever it changed.
type tokens struct {
	path string
	once sync.Once
	file *reloaded[[]Token]
}

// check returns the live entry of secret.
func (ts *tokens) check(secret string, now time.Time) (Token, error) {
	if ts.path == "" || !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 128 {
		return Token{}, errBadToken
	}
	ts.once.Do(func() {
		ts.file = &reloaded[[]Token]{key: "tokens_file", path: ts.path, parse: ParseTokens}
	})
	list, err := ts.file.get()
	if err != nil {
		return Token{}, err
	}
	sum := TokenSum(secret)
	for _, t := range list {
		if subtle.ConstantTimeCompare([]byte(t.SHA256), []byte(sum)) == 1 {
			if !now.Before(t.Expires) {
				return Token{}, errBadToken
			}
			return t, nil
		}
	}
	return Token{}, errBadToken
}
