package web

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestLimiter(lim SignInLimits) (*SignInLimiter, *testClock) {
	c := &testClock{t: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}
	return NewSignInLimiter(lim, c.now), c
}

// fail makes one failed attempt and reports the error Begin gave.
func fail(l *SignInLimiter, account, addr string) error {
	a, _, err := l.Begin(account, addr)
	if err == nil {
		a.Done(false)
	}
	return err
}

// Twelve attempts at once against a limit of five: at most five are let
// through to their check, even while none has finished; then the account
// is locked for a minute, the next lock lasts two, and a success clears it.
func TestSignInLimiterCountsBeforeTheCheck(t *testing.T) {
	lim := DefaultSignInLimits
	lim.Concurrent = 100
	l, clk := newTestLimiter(lim)
	var (
		checked atomic.Int32
		wg      sync.WaitGroup
		mu      sync.Mutex
		started []*SignInAttempt
	)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, _, err := l.Begin("lan", "10.0.0.9")
			if err != nil {
				return
			}
			checked.Add(1)
			mu.Lock()
			started = append(started, a)
			mu.Unlock() // the check is slow: none finishes before all came in
		}()
	}
	wg.Wait()
	for _, a := range started {
		a.Done(false)
	}
	if n := checked.Load(); n != 5 {
		t.Fatalf("%d of 12 parallel attempts were checked, want 5", n)
	}
	if _, _, err := l.Begin("lan", "10.0.0.10"); !errors.Is(err, ErrSignInLocked) {
		t.Fatalf("after five failures from anywhere: %v, want locked", err)
	}
	clk.add(time.Minute)
	for i := range 5 {
		if err := fail(l, "lan", "10.0.0.9"); err != nil {
			t.Fatalf("attempt %d after the first lock: %v", i, err)
		}
	}
	clk.add(time.Minute + time.Second)
	if _, wait, err := l.Begin("lan", "10.0.0.9"); !errors.Is(err, ErrSignInLocked) || wait < 50*time.Second {
		t.Fatalf("the second lock lasts two minutes: %v, wait %v", err, wait)
	}
	clk.add(time.Minute)
	a, _, err := l.Begin("lan", "10.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	a.Done(true)
	if _, locked := l.Locked("lan"); locked {
		t.Fatal("locked after a success")
	}
}

// A cap on checks at once: the third concurrent attempt is refused busy
// without being counted.
func TestSignInLimiterConcurrentCap(t *testing.T) {
	l, _ := newTestLimiter(DefaultSignInLimits)
	a1, _, err1 := l.Begin("a", "1")
	a2, _, err2 := l.Begin("b", "2")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, _, err := l.Begin("c", "3"); !errors.Is(err, ErrSignInBusy) {
		t.Fatalf("third check at once: %v, want busy", err)
	}
	a1.Done(false)
	a1.Done(false) // twice is once
	a3, _, err := l.Begin("c", "3")
	if err != nil {
		t.Fatalf("after one finished: %v", err)
	}
	a2.Done(true)
	a3.Done(true)
}

// One address guessing many names is locked at its own limit; another
// address is not.
func TestSignInLimiterPerAddress(t *testing.T) {
	l, _ := newTestLimiter(DefaultSignInLimits)
	for i := range 20 {
		if err := fail(l, string(rune('a'+i)), "10.0.0.66"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, _, err := l.Begin("zz", "10.0.0.66"); !errors.Is(err, ErrSignInLocked) {
		t.Fatalf("21st name from one address: %v, want locked", err)
	}
	a, _, err := l.Begin("zz", "10.0.0.7")
	if err != nil {
		t.Fatalf("another address: %v", err)
	}
	a.Done(true)
}

// Entries expire one by one, each a while after its own last failure:
// there is no moment when all of them are forgotten at once.
func TestSignInLimiterEntriesExpireOneByOne(t *testing.T) {
	lim := DefaultSignInLimits
	lim.AddressFailures = 0
	l, clk := newTestLimiter(lim)
	for range 5 {
		fail(l, "old", "1")
	}
	clk.add(30 * time.Minute)
	for range 5 {
		fail(l, "new", "1")
	}
	if l.Len() != 2 {
		t.Fatalf("%d entries, want 2", l.Len())
	}
	clk.add(31*time.Minute + time.Second) // old: lock ended at +1m, forgotten at +61m
	l.Sweep()
	if l.Len() != 1 {
		t.Fatalf("%d entries after the first expired, want 1", l.Len())
	}
	if _, locked := l.Locked("new"); locked {
		t.Fatal("new should be unlocked by now (its lock was a minute)")
	}
	// new's back-off is remembered: its next lock is two minutes.
	for range 5 {
		fail(l, "new", "1")
	}
	if until, locked := l.Locked("new"); !locked || until.Sub(clk.now()) != 2*time.Minute {
		t.Fatalf("new's second lock: %v until %v", locked, until)
	}
	clk.add(2*time.Minute + time.Hour)
	l.Sweep()
	if l.Len() != 0 {
		t.Fatalf("%d entries after both expired", l.Len())
	}
}

// A leader's unlock lets the official in at once, and for a while the
// official's failures count per address: whoever keeps guessing from
// another address is locked there, not the official.
func TestSignInLimiterUnlock(t *testing.T) {
	l, clk := newTestLimiter(DefaultSignInLimits)
	for range 5 {
		fail(l, "lan", "10.0.0.66")
	}
	if _, _, err := l.Begin("lan", "10.0.0.5"); !errors.Is(err, ErrSignInLocked) {
		t.Fatalf("not locked: %v", err)
	}
	l.Unlock("lan")
	for range 5 { // the attacker's next burst
		fail(l, "lan", "10.0.0.66")
	}
	if _, _, err := l.Begin("lan", "10.0.0.66"); !errors.Is(err, ErrSignInLocked) {
		t.Fatalf("the guesser's address after the unlock: %v, want locked", err)
	}
	a, _, err := l.Begin("lan", "10.0.0.5")
	if err != nil {
		t.Fatalf("the official after the unlock: %v", err)
	}
	a.Done(true)
	clk.add(UnlockGrace + time.Second)
	l.Sweep()
	for range 5 {
		fail(l, "lan", "10.0.0.67")
	}
	if _, _, err := l.Begin("lan", "10.0.0.5"); !errors.Is(err, ErrSignInLocked) {
		t.Fatalf("after the grace the account locks again: %v", err)
	}
}

// A full limiter refuses new entries rather than forgetting a lock.
func TestSignInLimiterFull(t *testing.T) {
	lim := DefaultSignInLimits
	lim.MaxEntries = 4
	l, _ := newTestLimiter(lim)
	fail(l, "a", "1")
	fail(l, "b", "2")
	if _, _, err := l.Begin("c", "3"); !errors.Is(err, ErrSignInBusy) {
		t.Fatalf("full: %v", err)
	}
	if err := fail(l, "a", "1"); err != nil {
		t.Fatalf("known entries still count: %v", err)
	}
}

func TestLocalPath(t *testing.T) {
	for _, bad := range []string{"", "ban", "//evil", "///evil", `/\evil.example`, `\\evil`, `/ban\..\..\evil`, "https://evil",
		"http:/evil", "javascript:alert(1)", "/%2F%2Fevil", "/%5Cevil", "/%2f%2fevil", "/ban/%0d%0aSet-Cookie:x", "/ban\r\nX: y",
		"/ban\x00", "/ban\x7f", " /ban", "/ban?x=\\evil", "/%zz"} {
		if got := LocalPath(bad, "/home"); got != "/home" {
			t.Errorf("LocalPath(%q) = %q, want the fallback", bad, got)
		}
	}
	for _, good := range []string{"/", "/ban", "/ban/ho-so/09619-261123-0001?lang=en", "/danh-muc?x=1#top", "/ban/tep/ab%20cd"} {
		if got := LocalPath(good, "/home"); got != good {
			t.Errorf("LocalPath(%q) = %q", good, got)
		}
	}
}
