package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/wallet"
)

// closedAddr is an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestDependencyDown: what the drivers say when Postgres or Redis is out
// of reach is told apart from our own faults, which stay 500.
func TestDependencyDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := closedAddr(t)
	_, pgErr := pgx.Connect(ctx, "postgres://postgres@"+addr+"/x?sslmode=disable&connect_timeout=2")
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	redisErr := rdb.Ping(ctx).Err()
	if pgErr == nil || redisErr == nil {
		t.Fatalf("connecting to %s: postgres %v, redis %v; want errors", addr, pgErr, redisErr)
	}
	for _, tt := range []struct {
		name string
		err  error
		down bool
	}{
		{"postgres refuses connections", fmt.Errorf("store: %w", pgErr), true},
		{"redis refuses connections", fmt.Errorf("claim: %w", redisErr), true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"server starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection cut mid-reply", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"a constraint", &pgconn.PgError{Code: "23514"}, false},
		{"a syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"a bug of ours", errors.New("nil map"), false},
		{"no rows", pgx.ErrNoRows, false},
	} {
		if got := dependencyDown(tt.err); got != tt.down {
			t.Errorf("%s (%v): dependencyDown %v, want %v", tt.name, tt.err, got, tt.down)
		}
		code, _ := publicError(tt.err)
		if want := map[bool]string{true: wallet.EUnavailable, false: wallet.EInternal}[tt.down]; code != want {
			t.Errorf("%s: code %q, want %q", tt.name, code, want)
		}
	}
}
