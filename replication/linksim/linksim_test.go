package linksim

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// echo serves on loopback, sending back what it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends one byte over a new connection and waits for it back.
func roundTrip(t *testing.T, l *Link, addr string) time.Duration {
	t.Helper()
	c, err := l.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestLossDelaysBySegment: a lost segment arrives a retransmission timeout
// late, in each direction; without loss only the delay counts.
func TestLossDelaysBySegment(t *testing.T) {
	addr := echo(t)
	p := Profile{Delay: 10 * time.Millisecond, Loss: 1}
	lossy := roundTrip(t, New(p), addr)
	if want := 2 * (p.Delay + p.retransmission()); lossy < want {
		t.Errorf("every segment lost: round trip %v, want at least %v", lossy, want)
	}
	p.Loss = 0
	clean := roundTrip(t, New(p), addr)
	if clean < 2*p.Delay || clean >= lossy {
		t.Errorf("no loss: round trip %v, want at least %v and under the lossy %v", clean, 2*p.Delay, lossy)
	}
}

// TestCutAndHalfOpen: a cut refuses new connections until healed; a
// half-open spell holds bytes back and heals by resetting the connection.
func TestCutAndHalfOpen(t *testing.T) {
	addr := echo(t)
	l := New(Profile{})
	l.Cut()
	if _, err := l.Dial(context.Background(), addr); err != ErrDown {
		t.Fatalf("dial while cut: %v", err)
	}
	l.Heal()
	c, err := l.Dial(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.HalfOpen()
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read during a half-open spell: %d %v", n, err)
	}
	l.Heal()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stalled connection survived the heal")
	}
}
