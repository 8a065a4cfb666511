// Package linksim simulates a commune's link to central inside one
// process: a one-way delay, a bandwidth cap, loss, cuts (connections reset
// and new ones refused) and half-open spells (bytes stop flowing, nobody is
// told). Connections are dialled through a Link; everything they carry in
// either direction passes through it.
package linksim

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// ErrDown is returned by Dial while the link is cut.
var ErrDown = errors.New("link down")

// Profile is what a link does to traffic.
type Profile struct {
	// Delay is added one way (a round trip gains twice as much).
	Delay time.Duration
	// BytesPerSecond caps each direction (0: no cap).
	BytesPerSecond int64
	// Loss is the share of segments lost (0 to 1). A link carries a byte
	// stream, so a loss shows as TCP shows it to the application: the
	// segment, and everything behind it, arrives one retransmission
	// timeout late (200 ms plus a round trip).
	Loss float64
}

// retransmission is how late a lost segment arrives under p.
func (p Profile) retransmission() time.Duration { return 200*time.Millisecond + 2*p.Delay }

// Link is a simulated link; its zero value is not usable: use New.
type Link struct {
	mu        sync.Mutex
	prof      Profile
	down      bool
	halfOpen  bool
	resume    chan struct{} // closed when a half-open spell ends
	conns     map[*pipeConn]struct{}
	dialer    net.Dialer
	delivered int64
	rng       *rand.Rand // decides losses
}

// New makes a link with a profile.
func New(p Profile) *Link {
	return &Link{prof: p, conns: map[*pipeConn]struct{}{}, resume: make(chan struct{}),
		rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x11e))}
}

// due is when a segment read now arrives.
func (l *Link) due() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.prof.Delay
	if l.prof.Loss > 0 && l.rng.Float64() < l.prof.Loss {
		d += l.prof.retransmission()
	}
	return time.Now().Add(d)
}

// SetProfile changes the delay and the cap, for traffic from now on.
func (l *Link) SetProfile(p Profile) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prof = p
}

// Cut resets every connection and refuses new ones until Heal.
func (l *Link) Cut() {
	l.mu.Lock()
	l.down = true
	conns := l.takeConns()
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// HalfOpen stops every byte in flight and to come, without closing
// anything, until Heal: what a dead NAT or a cable pulled far away looks
// like to both ends. New connections are refused meanwhile.
func (l *Link) HalfOpen() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down, l.halfOpen = true, true
}

// Heal ends a cut or a half-open spell. Connections stalled by a half-open
// spell are reset, as the NAT state they relied on is gone.
func (l *Link) Heal() {
	l.mu.Lock()
	var stalled []*pipeConn
	if l.halfOpen {
		stalled = l.takeConns()
		close(l.resume)
		l.resume = make(chan struct{})
	}
	l.down, l.halfOpen = false, false
	l.mu.Unlock()
	for _, c := range stalled {
		c.Close()
	}
}

// Up says whether the link carries traffic now.
func (l *Link) Up() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down
}

// Delivered is the bytes the link delivered, both directions together.
func (l *Link) Delivered() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delivered
}

func (l *Link) takeConns() []*pipeConn {
	out := make([]*pipeConn, 0, len(l.conns))
	for c := range l.conns {
		out = append(out, c)
	}
	clear(l.conns)
	return out
}

// Dial connects to addr over the link.
func (l *Link) Dial(ctx context.Context, addr string) (net.Conn, error) {
	if !l.Up() {
		return nil, ErrDown
	}
	raw, err := l.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The connect itself takes a round trip.
	if err := l.wait(ctx, 2*l.profile().Delay); err != nil {
		raw.Close()
		return nil, err
	}
	local, far := net.Pipe()
	c := &pipeConn{Conn: local, far: far, raw: raw, link: l}
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		raw.Close()
		local.Close()
		far.Close()
		return nil, ErrDown
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	go l.pump(c, far, raw)
	go l.pump(c, raw, far)
	return c, nil
}

func (l *Link) profile() Profile {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.prof
}

func (l *Link) wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type chunk struct {
	due  time.Time
	data []byte
}

// pump carries bytes from src to dst: each chunk is held for the delay,
// paced by the cap, and held back entirely during a half-open spell.
func (l *Link) pump(c *pipeConn, src, dst net.Conn) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 4<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{due: l.due(), data: buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer c.Close()
	for ch := range q {
		time.Sleep(time.Until(ch.due))
		for {
			l.mu.Lock()
			half, resume := l.halfOpen, l.resume
			l.mu.Unlock()
			if !half {
				break
			}
			<-resume
		}
		if _, err := dst.Write(ch.data); err != nil {
			return
		}
		p := l.profile()
		l.mu.Lock()
		l.delivered += int64(len(ch.data))
		l.mu.Unlock()
		if p.BytesPerSecond > 0 {
			time.Sleep(time.Duration(int64(len(ch.data)) * int64(time.Second) / p.BytesPerSecond))
		}
	}
}

// pipeConn is the caller's end; closing it closes the far end and the
// TCP connection, which ends both pumps.
type pipeConn struct {
	net.Conn
	far, raw net.Conn
	link     *Link
	once     sync.Once
}

func (c *pipeConn) Close() error {
	c.once.Do(func() {
		c.link.mu.Lock()
		delete(c.link.conns, c)
		c.link.mu.Unlock()
		c.Conn.Close()
		c.far.Close()
		c.raw.Close()
	})
	return nil
}
