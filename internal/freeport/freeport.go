// Package freeport picks a loopback TCP port for a server that will listen
// on it a moment later (a member's Raft and API addresses must be known
// before the member starts, since they go into every member's bootstrap
// list).
//
// Asking the kernel for port 0 and closing the listener is not enough:
// that port comes from the ephemeral range, the same range the kernel
// hands to outgoing connections, so a busy test run often gives it away
// before the server binds it. The ports picked here lie below that range,
// where only servers that chose them listen.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// low is the lowest port picked; below it are the well-known and
// registered services a developer's machine may run.
const low = 20000

// Pick returns a port on 127.0.0.1 that was free a moment ago and lies
// outside the kernel's ephemeral range.
func Pick() (int, error) {
	high := ephemeralLow()
	for range 200 {
		port := low + rand.IntN(high-low)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port between %d and %d", low, high)
}

// Addr is Pick as "127.0.0.1:port".
func Addr() (string, error) {
	port, err := Pick()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	const linuxDefault = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return linuxDefault
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return linuxDefault
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n <= low+1000 {
		return linuxDefault
	}
	return n
}
