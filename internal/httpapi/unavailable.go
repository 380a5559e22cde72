package httpapi

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// dependencyDown reports whether an unexplained error is Postgres or
// Redis being unreachable (down, restarting, refusing connections, a
// connection cut mid-request) rather than a fault of ours: the answer is
// then 503 unavailable with Retry-After, as for a timeout, not 500. It
// looks only at what the drivers' errors have in common (network errors,
// SQLSTATE classes), so this package imports neither driver.
func dependencyDown(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var sqlState interface{ SQLState() string }
	if errors.As(err, &sqlState) {
		switch s := sqlState.SQLState(); {
		case len(s) == 5 && s[:2] == "08": // connection_exception
			return true
		case s == "57P01", s == "57P02", s == "57P03": // admin or crash shutdown, cannot connect now
			return true
		case s == "53300": // too_many_connections
			return true
		}
		return false
	}
	// pgx marks the errors of a connection that failed before the server
	// saw the statement (connect errors, a closed connection) as safe to
	// retry.
	var retry interface{ SafeToRetry() bool }
	return errors.As(err, &retry) && retry.SafeToRetry()
}
