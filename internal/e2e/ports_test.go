package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"testing"
)

// Ports for the processes a test starts (API, worker metrics, private
// Postgres and Redis servers, proxies) are picked below the kernel's
// ephemeral range. A port from a ":0" listener that is closed again is in
// that range, and until the process that gets it binds, any outgoing
// connection of the machine (the tests open thousands) may take it as its
// source port: the start then fails with "address already in use".
// Below the range only another listener can take it, and this binary
// never hands out one port twice.
var ports struct {
	sync.Mutex
	given map[int]bool
}

// freeAddr returns 127.0.0.1:port for a port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	lo, hi := portRange()
	ports.Lock()
	defer ports.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
	}
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		if ports.given[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken
		}
		l.Close()
		ports.given[p] = true
		return l.Addr().String()
	}
	t.Fatalf("no free port in [%d, %d)", lo, hi)
	return ""
}

// portRange is the range freeAddr picks from: from 20000 up to the start
// of the ephemeral range (or 32768 when the kernel does not say).
func portRange() (lo, hi int) {
	lo, hi = 20000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err == nil && first > lo+1000 {
		hi = first
	}
	return lo, hi
}
