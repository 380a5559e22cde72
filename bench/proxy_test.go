package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestLatencyProxy: data passes through intact, and a round trip through
// the proxy takes at least the round trip it adds (a lower bound only:
// how much longer depends on the machine).
func TestLatencyProxy(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }() // echo
		}
	}()
	const rtt = 40 * time.Millisecond
	lp, via, err := startLatencyProxies(rtt, "redis://"+l.Addr().String()+"/0")
	if err != nil {
		t.Fatal(err)
	}
	defer lp.stop()
	host := strings.TrimSuffix(strings.TrimPrefix(via[0], "redis://"), "/0")
	if host == l.Addr().String() {
		t.Fatalf("the URL %s was not pointed at the proxy", via[0])
	}
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for i := range 3 {
		start := time.Now()
		if _, err := io.WriteString(c, "PING\n"); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < rtt {
			t.Errorf("round trip %d took %v through a proxy adding %v", i, took, rtt)
		}
		if line != "PING\n" {
			t.Errorf("echo %q, want PING", line)
		}
	}
}
