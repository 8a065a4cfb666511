package replication

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// meteredConn counts the bytes written to a connection and, when rate is
// set, holds writes to that many bytes a second (a token bucket), so that
// sync does not starve the commune's other traffic.
type meteredConn struct {
	net.Conn
	sent   *atomic.Int64
	bucket *bucket
	closed chan struct{}
	once   sync.Once
}

func (c *meteredConn) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := c.bucket.take(len(p), c.closed)
		if n == 0 {
			return written, net.ErrClosed
		}
		m, err := c.Conn.Write(p[:n])
		written += m
		c.sent.Add(int64(m))
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (c *meteredConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// bucket is a token bucket of bytes, shared by every connection of a
// node; a rate of 0 lets everything through.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // bytes a second; 0: no cap
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(bytesPerSecond int64) *bucket {
	b := &bucket{}
	b.setRate(bytesPerSecond)
	return b
}

// setRate changes the cap (0: none) from now on.
func (b *bucket) setRate(bytesPerSecond int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rate = float64(max(bytesPerSecond, 0))
	b.burst = max(b.rate/20, 4<<10) // 50 ms of traffic, at least 4 KiB
	b.tokens, b.last = b.burst, time.Now()
}

// take waits until it may send some bytes (at most want) and returns how
// many; 0 when stop closed first.
func (b *bucket) take(want int, stop <-chan struct{}) int {
	for {
		b.mu.Lock()
		if b.rate == 0 {
			b.mu.Unlock()
			return want
		}
		now := time.Now()
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
		if b.tokens >= 1 {
			n := min(want, int(b.tokens))
			b.tokens -= float64(n)
			b.mu.Unlock()
			return n
		}
		wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
		b.mu.Unlock()
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return 0
		}
	}
}
