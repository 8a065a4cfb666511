package web

import (
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The sign-in limiter counts an attempt before its costly check (the
// node's PBKDF2 of 600,000 iterations, central's token look-up) runs:
// per account and per client address, each with its own limit and a
// lock-out that doubles each time it is reached again; at most a few
// checks run at once, and an attempt beyond them is refused without being
// checked. An attempt counts against the limits while it is being checked,
// so parallel attempts cannot all pass one limit.
//
// Each entry expires on its own, a while after its last failure or the end
// of its lock (no global reset an attacker could time). The state is kept
// in memory only: a restart of the node or member clears it.
//
// A leader's Unlock clears an account's lock and, for UnlockGrace, counts
// that account's failures per address instead: whoever keeps guessing is
// locked out at their own address while the official signs in from theirs.

// SignInLimits are the limiter's settings.
type SignInLimits struct {
	// AccountFailures wrong attempts in a row lock an account; AddressFailures
	// lock a client address (0: no per-account limit).
	AccountFailures, AddressFailures int
	// Lock is the first lock-out; each further one doubles, up to MaxLock.
	Lock, MaxLock time.Duration
	// Forget is how long after its last failure (or the end of its lock) an
	// entry is dropped, its back-off with it.
	Forget time.Duration
	// Concurrent is how many checks may run at once.
	Concurrent int
	// MaxEntries bounds the memory: when this many live entries exist, an
	// attempt that needs a new one is refused as busy (nothing is evicted,
	// so flooding cannot lift a lock).
	MaxEntries int
}

// DefaultSignInLimits suit a commune node on a two-core PC.
var DefaultSignInLimits = SignInLimits{AccountFailures: 5, AddressFailures: 20, Lock: time.Minute, MaxLock: time.Hour,
	Forget: time.Hour, Concurrent: 2, MaxEntries: 20_000}

// UnlockGrace is how long after a leader's unlock an account's failures
// count per address.
const UnlockGrace = time.Hour

// Errors of Begin.
var (
	// ErrSignInLocked: the account or the address is locked for a while.
	ErrSignInLocked = errors.New("too many wrong attempts; wait")
	// ErrSignInBusy: too many checks run now (or the limiter is full).
	ErrSignInBusy = errors.New("too many sign-ins at once; try again")
)

// SignInLimiter counts sign-in attempts. Its zero value is not usable;
// make one with NewSignInLimiter.
type SignInLimiter struct {
	lim   SignInLimits
	now   func() time.Time
	slots chan struct{}

	mu      sync.Mutex
	entries map[string]*limitEntry
	grace   map[string]time.Time // account → end of its unlock grace
	swept   time.Time

	// OnCheck, when set (tests), is called for each attempt let through to
	// its check.
	OnCheck func()
}

type limitEntry struct {
	fails, pending, locks int
	until, last           time.Time
}

// expired reports whether e can be dropped at now.
func (e *limitEntry) expired(now time.Time, forget time.Duration) bool {
	return e.pending == 0 && !now.Before(later(e.until, e.last).Add(forget))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// NewSignInLimiter makes a limiter reading the time from now.
func NewSignInLimiter(lim SignInLimits, now func() time.Time) *SignInLimiter {
	return &SignInLimiter{lim: lim, now: now, slots: make(chan struct{}, max(lim.Concurrent, 1)),
		entries: map[string]*limitEntry{}, grace: map[string]time.Time{}}
}

// SignInAttempt is one attempt let through to its check; Done must be
// called with the check's result.
type SignInAttempt struct {
	l    *SignInLimiter
	keys []string
	done bool
}

// Begin counts an attempt at account (empty: none, e.g. a token) from
// addr before it is checked. It returns ErrSignInLocked or ErrSignInBusy
// with how long to wait, or the attempt to finish with Done.
func (l *SignInLimiter) Begin(account, addr string) (*SignInAttempt, time.Duration, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= time.Minute || len(l.entries) >= l.lim.MaxEntries {
		l.sweep(now)
	}
	type want struct {
		key   string
		limit int
	}
	var ws []want
	if l.lim.AddressFailures > 0 {
		ws = append(ws, want{"a\x00" + addr, l.lim.AddressFailures})
	}
	if account != "" && l.lim.AccountFailures > 0 {
		key := "u\x00" + account
		if g, ok := l.grace[account]; ok && now.Before(g) {
			key = "g\x00" + account + "\x00" + addr
		}
		ws = append(ws, want{key, l.lim.AccountFailures})
	}
	var wait time.Duration
	missing := 0
	for _, w := range ws {
		e := l.entries[w.key]
		if e == nil {
			missing++
			continue
		}
		if now.Before(e.until) {
			wait = max(wait, e.until.Sub(now))
		} else if e.fails+e.pending >= w.limit {
			wait = max(wait, time.Second) // the checks running now decide
		}
	}
	if wait > 0 {
		return nil, wait, ErrSignInLocked
	}
	if len(l.entries)+missing > l.lim.MaxEntries {
		return nil, time.Minute, ErrSignInBusy
	}
	select {
	case l.slots <- struct{}{}:
	default:
		return nil, time.Second, ErrSignInBusy
	}
	a := &SignInAttempt{l: l}
	for _, w := range ws {
		e := l.entries[w.key]
		if e == nil {
			e = &limitEntry{}
			l.entries[w.key] = e
		}
		e.pending++
		a.keys = append(a.keys, w.key)
	}
	if l.OnCheck != nil {
		l.OnCheck()
	}
	return a, 0, nil
}

// Done ends the attempt: a failure counts against its account and address,
// a success clears its account's entry.
func (a *SignInAttempt) Done(ok bool) {
	l := a.l
	if a.done {
		return
	}
	a.done = true
	<-l.slots
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range a.keys {
		e := l.entries[key]
		if e == nil {
			continue // unlocked meanwhile
		}
		e.pending--
		if ok {
			if key[0] == 'a' {
				e.fails = 0 // the address keeps its back-off until it is forgotten
			} else {
				delete(l.entries, key)
			}
			continue
		}
		e.fails++
		e.last = now
		limit := l.lim.AccountFailures
		if key[0] == 'a' {
			limit = l.lim.AddressFailures
		}
		if e.fails >= limit {
			d := l.lim.Lock << min(e.locks, 30)
			if d > l.lim.MaxLock || d <= 0 {
				d = l.lim.MaxLock
			}
			e.locks++
			e.fails = 0
			e.until = now.Add(d)
		}
	}
}

// Unlock clears account's lock and back-off, and for UnlockGrace counts
// its failures per address (a leader's way back for an official someone
// keeps locking out).
func (l *SignInLimiter) Unlock(account string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, "u\x00"+account)
	l.grace[account] = now.Add(UnlockGrace)
}

// Locked reports whether account is locked now and until when.
func (l *SignInLimiter) Locked(account string) (time.Time, bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries["u\x00"+account]; e != nil && now.Before(e.until) {
		return e.until, true
	}
	return time.Time{}, false
}

// Len is how many entries the limiter keeps now (expired ones included
// until they are swept).
func (l *SignInLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// sweep drops the entries that expired, each at its own time.
func (l *SignInLimiter) sweep(now time.Time) {
	l.swept = now
	for k, e := range l.entries {
		if e.expired(now, l.lim.Forget) {
			delete(l.entries, k)
		}
	}
	for k, g := range l.grace {
		if !now.Before(g) {
			delete(l.grace, k)
		}
	}
}

// Sweep drops expired entries now (tests; Begin sweeps every minute).
func (l *SignInLimiter) Sweep() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
}

// ClientAddr is the address a request comes from, without its port.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// MaxSignInForm is the largest sign-in form read.
const MaxSignInForm = 4 << 10

// ReadSignInForm parses a sign-in form: URL-encoded only and at most
// MaxSignInForm bytes. Anything else is refused before its body is read
// (multipart with 415, too large with 413); it returns false when it
// answered.
func ReadSignInForm(w http.ResponseWriter, r *http.Request) bool {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		w.Header().Set("Connection", "close")
		http.Error(w, "a sign-in form is application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
		return false
	}
	if r.ContentLength > MaxSignInForm {
		w.Header().Set("Connection", "close")
		http.Error(w, "the sign-in form is too large", http.StatusRequestEntityTooLarge)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxSignInForm)
	if err := r.ParseForm(); err != nil {
		if _, big := errors.AsType[*http.MaxBytesError](err); big {
			http.Error(w, "the sign-in form is too large", http.StatusRequestEntityTooLarge)
			return false
		}
		http.Error(w, "the sign-in form cannot be read", http.StatusBadRequest)
		return false
	}
	return true
}

// LocalPath returns next when it is a path on this site — one "/", not
// "//" or "/\", no scheme or host, no backslash or control character
// (also once percent-decoded) — else fallback. It keeps a redirect after
// sign-in from leading off-site.
func LocalPath(next, fallback string) string {
	ok := func(s string) bool {
		if len(s) == 0 || s[0] != '/' || len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
			return false
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
				return false
			}
		}
		return true
	}
	if len(next) > 2000 || !ok(next) {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	dec, err := url.PathUnescape(u.EscapedPath())
	if err != nil || !ok(dec) || strings.Contains(u.RawQuery, "\\") {
		return fallback
	}
	return next
}
