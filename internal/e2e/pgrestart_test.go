package e2e

import (
	"net/http"
	"testing"
	"time"
)

// TestPostgresRestart: the database server stops the way a crash stops
// it (pg_ctl stop -m immediate) under a stream of transfers and starts
// again seconds later. While it is down, /readyz is 503 and every request
// that needs it is 503 unavailable with Retry-After (never a 500); the
// service recovers by itself; every operation that got 202 ends final,
// none is applied twice, and the audit is clean.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 2, OwnPostgres: true})
	l := startOutageLoad(t, e, "restart", 6, 100_00, 6)
	time.Sleep(2 * time.Second)
	if err := e.Postgres.StopImmediate(); err != nil {
		l.finish()
		t.Fatal(err)
	}
	t.Logf("postgres stopped (-m immediate) after %d requests", l.seq.Load())
	if !l.waitReady(http.StatusServiceUnavailable, 10*time.Second) {
		t.Error("/readyz never answered 503 while Postgres was down")
	}
	time.Sleep(3 * time.Second)
	if err := e.Postgres.Start(); err != nil {
		l.finish()
		t.Fatal(err)
	}
	t.Logf("postgres started again; %d requests got 503 meanwhile", l.unavailable.Load())
	if !l.waitReady(http.StatusOK, 30*time.Second) {
		t.Error("/readyz not 200 within 30s of Postgres starting again")
	}
	time.Sleep(2 * time.Second) // load on the recovered service
	if l.unavailable.Load() == 0 {
		t.Error("no request got 503 while Postgres was down: the outage was not exercised")
	}
	l.finish()
}
