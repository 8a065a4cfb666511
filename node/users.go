package node

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.yaml.in/yaml/v3"

	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/web"
)

// User is one person who may sign in to the node's desk pages.
type User struct {
	// Name is the sign-in name, also the actor recorded on the events.
	Name string `yaml:"name"`
	// FullName is shown on the pages and on the receipt.
	FullName string `yaml:"full_name"`
	// Role is clerk, officer or leader.
	Role string `yaml:"role"`
	// PasswordHash is made by `xaso hash-password`.
	PasswordHash string `yaml:"password_hash"`
}

// role is the workflow role of the user.
func (u User) role() dossier.Role {
	switch u.Role {
	case "clerk":
		return dossier.Clerk
	case "officer":
		return dossier.Officer
	case "leader":
		return dossier.Leader
	}
	return 0
}

// ParseUsers reads a users file (a YAML list of users) and checks every
// entry; the error names the entry and the key that is wrong.
func ParseUsers(data []byte) ([]User, error) {
	var us []User
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&us); err != nil && !errors.Is(err, io.EOF) { // an empty file is an empty list
		return nil, fmt.Errorf("not a YAML list of users: %w", err)
	}
	seen := map[string]bool{}
	for i, u := range us {
		switch {
		case !dossier.ValidName(u.Name, 64):
			return nil, fmt.Errorf("[%d].name: %q is not 1 to 64 letters, digits, '.', '-' or '_'", i, u.Name)
		case seen[u.Name]:
			return nil, fmt.Errorf("[%d].name: %q is listed twice", i, u.Name)
		case u.role() == 0:
			return nil, fmt.Errorf("[%d].role: %q is not clerk, officer or leader", i, u.Role)
		case len(u.FullName) > 200:
			return nil, fmt.Errorf("[%d].full_name: at most 200 bytes", i)
		}
		if _, _, _, err := parsePasswordHash(u.PasswordHash); err != nil {
			return nil, fmt.Errorf("[%d].password_hash: %w (make one with `xaso hash-password`)", i, err)
		}
		seen[u.Name] = true
	}
	return us, nil
}

// passwordIterations is PBKDF2-SHA256's work factor for new hashes (the
// figure OWASP gives for it); each hash keeps its own.
const passwordIterations = 600_000

// HashPassword returns a salted PBKDF2-SHA256 hash of password in the form
// the users file takes: pbkdf2-sha256$iterations$salt$key.
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("a password has at least 8 characters")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, passwordIterations, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", passwordIterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

func parsePasswordHash(h string) (iter int, salt, key []byte, err error) {
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return 0, nil, nil, errors.New("not pbkdf2-sha256$iterations$salt$key")
	}
	iter, err = strconv.Atoi(parts[1])
	if err != nil || iter < 10_000 || iter > 10_000_000 {
		return 0, nil, nil, errors.New("iterations outside 10000 to 10000000")
	}
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[2]); err != nil || len(salt) < 8 {
		return 0, nil, nil, errors.New("salt is not base64 of at least 8 bytes")
	}
	if key, err = enc.DecodeString(parts[3]); err != nil || len(key) != 32 {
		return 0, nil, nil, errors.New("key is not base64 of 32 bytes")
	}
	return iter, salt, key, nil
}

// checkPassword reports whether password matches hash, in time that does
// not depend on where they differ.
func checkPassword(hash, password string) bool {
	iter, salt, want, err := parsePasswordHash(hash)
	if err != nil {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	return err == nil && subtle.ConstantTimeCompare(got, want) == 1
}

// dummyHash is checked against when the name is unknown, so that a wrong
// name takes as long as a wrong password.
var dummyHash = "pbkdf2-sha256$600000$c2FsdHNhbHRzYWx0$" + base64.RawStdEncoding.EncodeToString(make([]byte, 32))

// users reads the users file, again whenever it changed, so that a field
// engineer adds or removes a person without restarting the node.
type users struct {
	path string

	fileOnce sync.Once
	file     *reloaded[map[string]User]

	// limiter counts sign-in attempts before a password is hashed (per
	// name and per address, a cap on hashes at once). It lives in memory:
	// a restart of the node clears every lock.
	limiterOnce sync.Once
	limiter     *web.SignInLimiter
	// hashed, when set (tests), is called for each password hashed.
	hashed atomic.Pointer[func()]
}

// limits returns the sign-in limiter, made on first use with the node's
// clock.
func (u *users) limits(now func() time.Time) *web.SignInLimiter {
	u.limiterOnce.Do(func() { u.limiter = web.NewSignInLimiter(web.DefaultSignInLimits, now) })
	return u.limiter
}

// current returns the users as the file says now, reading it again when
// it changed.
func (u *users) current() (map[string]User, error) {
	if u.path == "" {
		return nil, errNoUsers
	}
	u.fileOnce.Do(func() {
		u.file = &reloaded[map[string]User]{key: "users_file", path: u.path, parse: func(data []byte) (map[string]User, error) {
			us, err := ParseUsers(data)
			if err != nil {
				return nil, err
			}
			m := make(map[string]User, len(us))
			for _, x := range us {
				m[x.Name] = x
			}
			return m, nil
		}}
	})
	return u.file.get()
}

// lookup returns the user named name as the file says now.
func (u *users) lookup(name string) (User, bool, error) {
	list, err := u.current()
	x, ok := list[name]
	return x, ok, err
}

// errNoUsers says that the node has no users file: nobody can sign in.
var errNoUsers = errors.New("no users_file is configured")

// errLocked says that a name or an address had too many wrong passwords in
// a row; errBusy that too many passwords are being checked at once.
var (
	errLocked = errors.New("too many wrong passwords; wait")
	errBusy   = errors.New("too many sign-ins at once; try again")
)

// authenticate checks a name and password against the file. The attempt
// is counted (per name, per address) before the password is hashed, and
// refused unhashed when either is locked or too many hashes run now; wait
// says how long to wait then.
func (u *users) authenticate(name, password, addr string, now func() time.Time) (x User, wait time.Duration, err error) {
	if u.path == "" {
		return User{}, 0, errNoUsers
	}
	if len(name) > 64 || len(password) > 1024 {
		return User{}, 0, errBadPassword // no such name, and not worth a hash
	}
	a, wait, err := u.limits(now).Begin(name, addr)
	switch {
	case errors.Is(err, web.ErrSignInLocked):
		return User{}, wait, errLocked
	case err != nil:
		return User{}, wait, errBusy
	}
	good := false
	defer func() { a.Done(good) }()
	x, ok, err := u.lookup(name)
	if err != nil {
		return User{}, 0, err
	}
	hash := dummyHash
	if ok {
		hash = x.PasswordHash
	}
	if h := u.hashed.Load(); h != nil {
		(*h)()
	}
	good = checkPassword(hash, password) && ok
	if !good {
		return User{}, 0, errBadPassword
	}
	return x, 0, nil
}

// errBadPassword says that the name or the password is wrong (which one is
// not told).
var errBadPassword = errors.New("wrong name or password")

// Session is a signed-in user's session on the desk pages.
type Session struct {
	User     string    `json:"user"`
	FullName string    `json:"full_name"`
	Role     string    `json:"role"`
	Expires  time.Time `json:"expires"`
}

// sessionTTL is how long a session lasts: a working day and then some.
const sessionTTL = 12 * time.Hour

func sessionKey(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return append([]byte(prefixSession), sum[:]...)
}

// NewSession stores a session for u and returns its secret token. Only the
// token's hash is stored, with a time to live, so sessions survive a
// restart and end on their own.
func (s *Store) NewSession(u User, now time.Time) (string, error) {
	b := make([]byte, 32)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	v, err := json.Marshal(Session{User: u.Name, FullName: u.FullName, Role: u.Role, Expires: now.Add(sessionTTL)})
	if err != nil {
		return "", err
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.SetEntry(badger.NewEntry(sessionKey(token), v).WithTTL(sessionTTL))
	}); err != nil {
		return "", fmt.Errorf("store session: %w", err)
	}
	return token, nil
}

// Session returns the session of token, or ErrNotFound when there is none
// or it has expired.
func (s *Store) Session(token string, now time.Time) (Session, error) {
	var se Session
	if token == "" || len(token) > 100 {
		return se, ErrNotFound
	}
	err := s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, sessionKey(token))
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &se)
	})
	if errors.Is(err, ErrNotFound) || err == nil && !now.Before(se.Expires) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	return se, nil
}

// EndSession deletes the session of token.
func (s *Store) EndSession(token string) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(sessionKey(token)) })
}
