package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// metricsPorts is how many ports after the default one a worker tries
// when the default is taken by another worker on the same host.
const metricsPorts = 16

// listenMetrics opens the /metrics listener at addr. With the default
// address (METRICS_ADDR not given) a taken port is not an error: the
// worker takes the next free one of the following metricsPorts, so
// several workers on one host each serve their metrics; the caller logs
// the address. A given address must be free.
func listenMetrics(addr string, isDefault bool) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err == nil || !isDefault || !errors.Is(err, syscall.EADDRINUSE) {
		return l, err
	}
	host, portText, perr := net.SplitHostPort(addr)
	port, aerr := strconv.Atoi(portText)
	if perr != nil || aerr != nil {
		return nil, err
	}
	for p := port + 1; p <= port+metricsPorts; p++ {
		l, lerr := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if lerr == nil {
			return l, nil
		}
		if !errors.Is(lerr, syscall.EADDRINUSE) {
			return nil, lerr
		}
	}
	return nil, fmt.Errorf("ports %d to %d are all taken (set METRICS_ADDR): %w", port, port+metricsPorts, err)
}
