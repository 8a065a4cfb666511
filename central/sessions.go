package central

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// A dashboard session ends sessionIdleLife after its last request, and
// sessionMaxLife after it began whatever it does; a member keeps at most
// maxSessions, the least recently used giving way to a new one.
const (
	sessionIdleLife = 8 * time.Hour
	sessionMaxLife  = 12 * time.Hour
	maxSessions     = 10000
)

// session is one signed-in dashboard: the token it was opened with (by the
// SHA-256 of its secret, checked again at every request) and its times.
type session struct {
	secretSum, name string
	start, seen     time.Time
}

// sessions are the dashboard's sessions on this member, in memory, by the
// SHA-256 of their id (the cookie's value).
type sessions struct {
	now func() time.Time

	mu   sync.Mutex
	byID map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, byID: map[string]*session{}}
}

// sessionIndex is the key a session is kept under: the SHA-256 of its id,
// so that looking it up reveals nothing of the id through timing.
func sessionIndex(id string) string {
	s := sha256.Sum256([]byte(id))
	return hex.EncodeToString(s[:])
}

// start opens a session for c's token and returns its id.
func (ss *sessions) start(c caller) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweep(now)
	if len(ss.byID) >= maxSessions {
		var oldest string
		for k, s := range ss.byID {
			if oldest == "" || s.seen.Before(ss.byID[oldest].seen) {
				oldest = k
			}
		}
		delete(ss.byID, oldest)
	}
	ss.byID[sessionIndex(id)] = &session{secretSum: c.secretSum, name: c.name, start: now, seen: now}
	return id, nil
}

// get returns the live session of id and marks it used now; an expired
// one is ended.
func (ss *sessions) get(id string) (session, bool) {
	now := ss.now()
	k := sessionIndex(id)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[k]
	if !ok {
		return session{}, false
	}
	if s.expired(now) {
		delete(ss.byID, k)
		return session{}, false
	}
	s.seen = now
	return *s, true
}

// end ends the session of id, if there is one.
func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.byID, sessionIndex(id))
}

// sweep ends the expired sessions; ss.mu is held.
func (ss *sessions) sweep(now time.Time) {
	for k, s := range ss.byID {
		if s.expired(now) {
			delete(ss.byID, k)
		}
	}
}

// count is how many sessions are kept.
func (ss *sessions) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.byID)
}

func (s *session) expired(now time.Time) bool {
	return !now.Before(s.seen.Add(sessionIdleLife)) || !now.Before(s.start.Add(sessionMaxLife))
}
