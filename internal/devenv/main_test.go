package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// TestStartsWhatIsMissing: with nothing at DATABASE_URL and REDIS_URL,
// devenv starts a Postgres and a Redis there, which the programs can use;
// run again, it leaves them alone; a remote URL is never started.
func TestStartsWhatIsMissing(t *testing.T) {
	if _, err := binary("pg_ctl"); err != nil {
		t.Skip(err)
	}
	if _, err := binary("redis-server"); err != nil {
		t.Skip(err)
	}
	dir, err := os.MkdirTemp("", "devenv-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // reachable by the postgres user
		t.Fatal(err)
	}
	pgPort, redisPort := freePort(t), freePort(t)
	dbURL := "postgres://postgres@localhost:" + pgPort + "/postgres?sslmode=disable"
	t.Setenv("RUN_DIR", dir)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("REDIS_URL", "redis://127.0.0.1:"+redisPort+"/3")
	t.Cleanup(func() {
		pgctl, _ := binary("pg_ctl")
		asPostgres(pgctl, "-D", filepath.Join(dir, "postgres", "data"), "-m", "immediate", "-w", "stop").Run()
		if b, err := os.ReadFile(filepath.Join(dir, "redis", "redis.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	if err := run(); err != nil {
		t.Fatalf("first run: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("the started Postgres: %v", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d, %v", one, err)
	}
	conn.Close(ctx)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + redisPort})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("the started Redis: %v", err)
	}
	// Both answer now: nothing to do, and the data directory is kept.
	if err := run(); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if !exists(filepath.Join(dir, "postgres", "data", "PG_VERSION")) {
		t.Fatal("no cluster under RUN_DIR")
	}

	if addr, err := localAddr("postgres://db.example.com:5432/wallet", "5432"); err != nil || addr != "" {
		t.Errorf("a remote host: %q, %v; want nothing to start", addr, err)
	}
	if addr, _ := localAddr("redis://localhost/0", "6379"); addr != "127.0.0.1:6379" {
		t.Errorf("localhost without a port: %q, want the default port", addr)
	}
}
