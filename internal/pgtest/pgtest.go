// Package pgtest gives integration tests their own Postgres database and
// Redis key space on the local servers, and factories for fixtures. Only
// tests import it.
//
// TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
// names the server and an existing database to connect to while creating
// and dropping the test databases; TEST_REDIS_URL (default
// redis://127.0.0.1:6379/0) names the Redis server and database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/wallet"
)

// Currency is the currency of every wallet the factories create.
const Currency = "RUB"

const (
	defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	defaultRedisURL    = "redis://127.0.0.1:6379/0"
	// poolMaxConns lets concurrency tests really run side by side; the
	// pgxpool default (4 on small machines) would serialise them.
	poolMaxConns = "16"
)

// setupTimeout bounds creating, migrating and dropping a database.
const setupTimeout = 30 * time.Second

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}

func baseDatabaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultDatabaseURL
}

// NewDBURL creates a fresh, migrated database named wallet_test_<random
// hex>, drops it (WITH (FORCE)) when the test ends, and returns its URL.
// Tests that need their own pool settings add query parameters to it.
func NewDBURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	base := baseDatabaseURL()
	adminCfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("pgtest: parse TEST_DATABASE_URL: %v", err)
	}
	admin, err := pgx.ConnectConfig(ctx, adminCfg)
	if err != nil {
		t.Fatalf("pgtest: connect to %s (is Postgres running? set TEST_DATABASE_URL): %v", adminCfg.Host, err)
	}
	defer admin.Close(context.Background())

	name := "wallet_test_" + randomHex(8)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, adminCfg, name) })

	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: TEST_DATABASE_URL must be a postgres:// URL, got %q", base)
	}
	u.Path = "/" + name
	q := u.Query()
	if !q.Has("sslmode") {
		q.Set("sslmode", "disable")
	}
	if !q.Has("pool_max_conns") {
		q.Set("pool_max_conns", poolMaxConns)
	}
	u.RawQuery = q.Encode()
	dbURL := u.String()

	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", name, err)
	}
	defer pool.Close()
	if err := postgres.Migrate(pool); err != nil {
		t.Fatalf("pgtest: migrate %s: %v", name, err)
	}
	return dbURL
}

func dropDatabase(t testing.TB, cfg *pgx.ConnConfig, name string) {
	// The test's context is already cancelled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Errorf("pgtest: connect to drop database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Errorf("pgtest: drop database %s: %v", name, err)
	}
}

// NewDB returns a pool on a fresh, migrated database of its own, opened
// with postgres.Open. The pool is closed and the database dropped when the
// test ends.
func NewDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := NewDBURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", postgres.DatabaseName(dbURL), err)
	}
	t.Cleanup(pool.Close) // runs before the drop, registered earlier
	return pool
}

// OpenPool opens a pool on dbURL (a database NewDBURL made, perhaps
// reached through a Proxy), closed when the test ends.
func OpenPool(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", postgres.DatabaseName(dbURL), err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewRedis returns a client on the test Redis and a key prefix
// ("test:<random hex>:") that no other test uses. When the test ends it
// deletes every key under the prefix and closes the client.
func NewRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		raw = defaultRedisURL
	}
	opt, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("pgtest: parse TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		t.Fatalf("pgtest: ping Redis at %s (is it running? set TEST_REDIS_URL): %v", opt.Addr, err)
	}
	prefix := "test:" + randomHex(8) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 1000 {
				if err := rdb.Del(ctx, keys...).Err(); err != nil {
					t.Errorf("pgtest: delete test keys: %v", err)
				}
				keys = keys[:0]
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("pgtest: scan test keys: %v", err)
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("pgtest: delete test keys: %v", err)
			}
		}
	})
	return rdb, prefix
}

// CreateUser stores a user with a unique email and the given role, and its
// wallet in Currency: a user wallet for RoleUser, a settlement account for
// RoleBank, none (the zero Wallet) for RoleAdmin.
func CreateUser(t testing.TB, store *postgres.Store, role wallet.Role) (wallet.User, wallet.Wallet) {
	t.Helper()
	id := randomHex(6)
	u, w, err := store.CreateUser(context.Background(), wallet.User{
		Name:         string(role) + " " + id,
		Email:        string(role) + "-" + id + "@example.com",
		Role:         role,
		PasswordHash: "not a real hash",
	}, Currency)
	if err != nil {
		t.Fatalf("pgtest: create %s: %v", role, err)
	}
	return u, w
}

// Deposit creates a deposit of amount from the bank's settlement account
// to the user wallet to, applies it, and fails the test unless it
// completed.
func Deposit(t testing.TB, store *postgres.Store, bank wallet.User, settlement wallet.Wallet, to wallet.Wallet, amount wallet.Amount) wallet.Operation {
	t.Helper()
	ctx := context.Background()
	op, _, err := store.CreateOperation(ctx, wallet.Operation{
		Type:         wallet.OpDeposit,
		Amount:       amount,
		Currency:     Currency,
		FromWalletID: settlement.ID,
		ToWalletID:   to.ID,
		Details:      "test deposit",
		CreatedBy:    bank.ID,
	}, nil)
	if err != nil {
		t.Fatalf("pgtest: create deposit: %v", err)
	}
	op, err = Apply(ctx, store, op.ID)
	if err != nil {
		t.Fatalf("pgtest: apply deposit %s: %v", op.ID, err)
	}
	if op.Status != wallet.StatusCompleted {
		t.Fatalf("pgtest: deposit %s ended %s (%s), want completed", op.ID, op.Status, op.FailureCode)
	}
	return op
}

// CheckLedger fails the test if the database breaks one of the ledger's
// invariants: every operation's entries sum to zero; a completed
// operation has exactly two entries and any other none; every user
// wallet's balance is the sum of its entries and never negative; every
// entry's balance_after is the running sum of its wallet's entries; a
// settlement account's shards sum to its entries.
func CheckLedger(t testing.TB, pool *pgxpool.Pool) {
	t.Helper()
	checks := []struct{ name, sql string }{
		{"operations whose entries do not sum to zero", `
			SELECT operation_id::text FROM entries GROUP BY operation_id HAVING sum(amount) <> 0`},
		{"operations with the wrong number of entries for their status", `
			SELECT o.id::text || ' ' || o.status || ' ' || count(e.id) FROM operations o
			LEFT JOIN entries e ON e.operation_id = o.id
			GROUP BY o.id, o.status, o.type
			HAVING (o.status = 'completed' AND o.type IN ('external_to_wallet', 'wallet_to_wallet', 'hold_capture', 'withdrawal_complete'))
			       <> (count(e.id) = 2)
			    OR (count(e.id) <> 0 AND count(e.id) <> 2)`},
		{"entries of the wrong wallets or sign", `
			SELECT e.id::text FROM entries e JOIN operations o ON o.id = e.operation_id
			WHERE NOT ((e.wallet_id = o.from_wallet_id AND e.amount = -o.amount)
			        OR (e.wallet_id = o.to_wallet_id AND e.amount = o.amount))`},
		{"user wallets whose balance is not the sum of their entries", `
			SELECT w.id::text || ' balance ' || w.balance || ' entries ' || coalesce(sum(e.amount), 0) FROM wallets w
			LEFT JOIN entries e ON e.wallet_id = w.id
			WHERE w.kind = 'user'
			GROUP BY w.id, w.balance HAVING w.balance <> coalesce(sum(e.amount), 0)`},
		{"negative user wallets", `
			SELECT id::text FROM wallets WHERE kind = 'user' AND balance < 0`},
		{"entries whose balance_after is not the running sum", `
			SELECT id::text FROM (
				SELECT e.id, e.balance_after, sum(e.amount) OVER (PARTITION BY e.wallet_id ORDER BY e.id) AS running
				FROM entries e JOIN wallets w ON w.id = e.wallet_id WHERE w.kind = 'user'
			) x WHERE balance_after IS DISTINCT FROM running`},
		{"settlement accounts whose shards do not sum to their entries", `
			SELECT w.id::text FROM wallets w
			WHERE w.kind = 'settlement'
			  AND (SELECT coalesce(sum(balance), 0) FROM settlement_shards s WHERE s.wallet_id = w.id)
			   <> (SELECT coalesce(sum(amount), 0) FROM entries e WHERE e.wallet_id = w.id)`},
	}
	ctx := context.Background()
	// And the service's own audit, every invariant of which must hold.
	report, err := postgres.NewStore(pool).Audit(ctx)
	if err != nil {
		t.Fatalf("pgtest: audit: %v", err)
	}
	for _, c := range report.Checks {
		if c.Violations > 0 {
			t.Errorf("ledger audit: %s: %d violations, e.g. %v", c.Name, c.Violations, c.Examples)
		}
	}
	for _, c := range checks {
		rows, err := pool.Query(ctx, c.sql)
		if err != nil {
			t.Fatalf("pgtest: check %s: %v", c.name, err)
		}
		bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("pgtest: check %s: %v", c.name, err)
		}
		if len(bad) > 0 {
			t.Errorf("ledger invariant broken: %s: %v", c.name, bad)
		}
	}
}

// QueryInt64 runs a query that returns one integer.
func QueryInt64(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
	return n
}

// Apply applies an operation and drops the "applied" flag, for tests that
// only look at the result.
func Apply(ctx context.Context, store *postgres.Store, id string) (wallet.Operation, error) {
	op, _, err := store.ApplyOperation(ctx, id)
	return op, err
}

// ClaimRedisDB takes one of Redis databases 1..15 for the test, so that
// tests that need a whole database (asynq's keys take no prefix), also in
// other go test processes, never share one; it empties the database before
// and after. urlOf gives the Redis URL of a database number. The claim, a
// key in database 0, is refreshed while the test runs and released at its
// end; its TTL only frees the database of a test process that died.
func ClaimRedisDB(t testing.TB, urlOf func(db int) string) int {
	t.Helper()
	ctx := context.Background()
	rdb := redisAt(urlOf(0))
	token := randomHex(8)
	// The claim is refreshed while the test runs and released at its end;
	// the TTL only frees the databases of a test process that died.
	const ttl = 2 * time.Minute
	deadline := time.Now().Add(60 * time.Second)
	for {
		for n := 1; n <= 15; n++ {
			key := fmt.Sprintf("wallet-e2e-claim:%d", n)
			ok, err := rdb.SetNX(ctx, key, token, ttl).Result()
			if err != nil {
				rdb.Close()
				t.Fatalf("claim redis db: %v", err)
			}
			if !ok {
				continue
			}
			db := redisAt(urlOf(n))
			err = db.FlushDB(ctx).Err()
			db.Close()
			if err != nil {
				rdb.Close()
				t.Fatalf("flush redis db %d: %v", n, err)
			}
			stop := make(chan struct{})
			refreshed := make(chan struct{})
			go func() {
				defer close(refreshed)
				tick := time.NewTicker(20 * time.Second)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						rdb.Expire(ctx, key, ttl)
					}
				}
			}()
			t.Cleanup(func() {
				close(stop)
				<-refreshed
				defer rdb.Close()
				db := redisAt(urlOf(n))
				db.FlushDB(context.Background())
				db.Close()
				// Release only our own claim.
				if v, _ := rdb.Get(context.Background(), key).Result(); v == token {
					rdb.Del(context.Background(), key)
				}
			})
			return n
		}
		if time.Now().After(deadline) {
			rdb.Close()
			t.Fatalf("no free redis database among 1..15")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func redisAt(rawURL string) *redis.Client {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		panic(err)
	}
	return redis.NewClient(opt)
}
