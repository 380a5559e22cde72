package main

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
)

// TestListenMetrics: a second worker on the host takes the port after
// the default one; a port that was asked for must be free.
func TestListenMetrics(t *testing.T) {
	first, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	addr := first.Addr().String()
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)

	if _, err := listenMetrics(addr, false); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("a given METRICS_ADDR that is taken: %v, want EADDRINUSE", err)
	}
	second, err := listenMetrics(addr, true)
	if err != nil {
		t.Fatalf("the default address taken: %v, want the next free port", err)
	}
	defer second.Close()
	_, got, _ := net.SplitHostPort(second.Addr().String())
	if p, _ := strconv.Atoi(got); p <= port || p > port+metricsPorts {
		t.Fatalf("took port %d, want one of %d..%d", p, port+1, port+metricsPorts)
	}
}
