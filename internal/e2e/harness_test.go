// Package e2e holds the end-to-end tests: they build the real api and
// worker programs, start them as processes against the local Postgres and
// Redis, and hold them to ../shared/API.md over HTTP.
//
// Each test gets its own Postgres database (created by the programs, dropped
// at the end), its own Redis database number (claimed in db 0 so parallel
// test processes never share one), its own pub/sub prefix and its own ports.
//
// The programs' logs are printed when a test fails, or always with
// E2E_SHOW_LOGS=1; E2E_KEEP_LOGS=dir keeps them whole in dir/<test>/.
//
// Set E2E_SKIP_UNAVAILABLE=1 to skip instead of failing when Postgres or
// Redis cannot be reached. DATABASE_URL and REDIS_URL, when set, name the
// servers to use (their database name and number are replaced per test).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/pgtest"
)

// Development accounts the programs create at start (API.md: documented
// development values).
const (
	bankEmail     = "bank@example.com"
	bankPassword  = "bank-dev-password"
	adminEmail    = "admin@example.com"
	adminPassword = "admin-dev-password"
)

// Set by TestMain.
var (
	binDir         string // holds the built api and worker binaries
	unavailableErr error  // non-nil: Postgres or Redis unreachable and skipping was asked for
	pgBaseURL      *url.URL
	redisBaseURL   *url.URL
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	var err error
	pgBaseURL, err = url.Parse(envOr("DATABASE_URL", "postgres://postgres@localhost:5432/wallet?sslmode=disable"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: DATABASE_URL:", err)
		return 1
	}
	redisBaseURL, err = url.Parse(envOr("REDIS_URL", "redis://localhost:6379/0"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: REDIS_URL:", err)
		return 1
	}
	if err := checkServers(); err != nil {
		if os.Getenv("E2E_SKIP_UNAVAILABLE") == "1" {
			unavailableErr = err
			return m.Run()
		}
		fmt.Fprintf(os.Stderr, "e2e: %v (set E2E_SKIP_UNAVAILABLE=1 to skip instead)\n", err)
		return 1
	}

	dir, err := os.MkdirTemp("", "wallet-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	// The programs run with the race detector: a data race in them fails
	// the test that saw it (checkRaces), as a crash would.
	for _, prog := range []string{"api", "worker"} {
		cmd := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, prog), "./"+prog)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build ./%s: %v\n%s", prog, err, out)
			return 1
		}
	}
	return m.Run()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func checkServers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDBURL())
	if err != nil {
		return fmt.Errorf("postgres unreachable: %w", err)
	}
	conn.Close(ctx)
	rdb := redisClient(0)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis unreachable: %w", err)
	}
	return nil
}

// adminDBURL is the maintenance database used to drop test databases.
func adminDBURL() string { return dbURL("postgres") }

func dbURL(name string) string {
	u := *pgBaseURL
	u.Path = "/" + name
	return u.String()
}

func redisURL(db int) string {
	u := *redisBaseURL
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

func redisClient(db int) *redis.Client {
	opt, err := redis.ParseURL(redisURL(db))
	if err != nil {
		panic(err)
	}
	return redis.NewClient(opt)
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// claimRedisDB takes a Redis database of the test's own (see
// pgtest.ClaimRedisDB).
func claimRedisDB(t *testing.T) int {
	t.Helper()
	return pgtest.ClaimRedisDB(t, redisURL)
}

// dropDatabase removes a test database, if it exists.
func dropDatabase(t *testing.T, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminDBURL())
	if err != nil {
		t.Errorf("drop database %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
		t.Errorf("drop database %s: %v", name, err)
	}
}

// Env is one running deployment: an API process and some workers sharing
// one Postgres database and one Redis database.
type Env struct {
	t       *testing.T
	BaseURL string
	DBName  string
	RedisDB int
	API     *Proc
	Workers []*Proc
	// APIs are all the API processes (Options.APIs), APIs[0] being API;
	// BaseURLs are their addresses, BaseURLs[0] being BaseURL.
	APIs     []*Proc
	BaseURLs []string
	// DatabaseURL and RedisURL are what the processes connect to.
	DatabaseURL string
	RedisURL    string
	// Redis is the test's own redis-server (Options.OwnRedis), else nil.
	Redis *RedisServer
	// Postgres is the test's own cluster (Options.OwnPostgres), else nil.
	Postgres *PostgresServer
	// contract checks the clients' exchanges against the OpenAPI document.
	contract *contractCheck
}

// Proc is one program running as a subprocess; it can be killed and
// started again with the same environment and log file.
type Proc struct {
	t    *testing.T
	Name string
	bin  string
	env  []string
	Log  string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// envKeys are the variables the harness sets; inherited values are dropped.
var envKeys = []string{
	"DATABASE_URL", "REDIS_URL", "HTTP_ADDR", "METRICS_ADDR", "APP_ENV", "LOCK_WAIT", "LOCK_TTL",
	"BANK_EMAIL", "BANK_PASSWORD", "ADMIN_EMAIL", "ADMIN_PASSWORD", "BCRYPT_COST",
	"SWEEP_INTERVAL", "SWEEP_AFTER", "PUBSUB_PREFIX", "LOG_LEVEL", "CURRENCY", "MAX_AMOUNT",
	"SHUTDOWN_TIMEOUT", "WORKER_CONCURRENCY", "TASK_CHECK_INTERVAL", "SESSION_TTL", "BANK_NAME",
	"SIGNUP_LIMIT", "LOGIN_ADDRESS_LIMIT", "TRUSTED_PROXIES", "ACCEPT_TIMEOUT", "WITHDRAWAL_TIMEOUT",
	"OAUTH_ISSUER", "OAUTH_SIGNING_KEYS", "ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL", "WEBHOOK_ALLOW_PRIVATE",
	"WEBHOOK_BACKOFF", "WEBHOOK_CONCURRENCY", "WEBHOOK_PER_ENDPOINT", "WORKER_QUEUES",
}

// Options configure StartEnvWith.
type Options struct {
	// Workers is how many worker processes to start.
	Workers int
	// APIs is how many API processes to start (at least one).
	APIs int
	// OwnRedis starts a private redis-server on a free port for the test
	// (Env.Redis) instead of claiming a database of the shared Redis, so
	// the test may flush or restart it without disturbing anything else.
	OwnRedis bool
	// RedisURL, when set, is the Redis the programs use (a Sentinel set
	// of the test's own, say) instead of a database of the shared one.
	RedisURL string
	// OwnPostgres starts a Postgres cluster of the test's own
	// (Env.Postgres), so the test may stop and start it.
	OwnPostgres bool
	// Via, when set, gives the URL the programs use for a dependency
	// ("postgres" or "redis", and the URL the test reaches it at): a
	// proxy in front of it, for network faults. The test's own reads
	// (the audit, its Redis client) keep the direct URL.
	Via func(kind, url string) string
	// Env adds variables to every process's environment, or overrides
	// the harness's values (for example LOCK_TTL).
	Env map[string]string
	// WorkerEnv[i], when given, adds variables to worker i's alone.
	WorkerEnv []map[string]string
}

// StartEnv starts an API and the given number of workers and waits until
// the API is ready. Everything is stopped and removed at the test's end.
func StartEnv(t *testing.T, workers int) *Env {
	t.Helper()
	return StartEnvWith(t, Options{Workers: workers})
}

// StartEnvWith is StartEnv with options.
func StartEnvWith(t *testing.T, o Options) *Env {
	t.Helper()
	if unavailableErr != nil {
		t.Skipf("skipping: %v", unavailableErr)
	}
	e := &Env{t: t, DBName: "wallet_e2e_" + randHex(6)}
	e.contract = newContractCheck(t)
	e.DatabaseURL = dbURL(e.DBName)
	logDir := t.TempDir()
	switch {
	case o.RedisURL != "":
		e.RedisURL = o.RedisURL
	case o.OwnRedis:
		e.Redis = StartRedis(t, filepath.Join(logDir, "redis.log"))
		e.RedisURL = e.Redis.URL()
	default:
		e.RedisDB = claimRedisDB(t)
		e.RedisURL = redisURL(e.RedisDB)
	}

	if o.OwnPostgres {
		// Stopped and removed at the end, after the processes are gone.
		e.Postgres = StartPostgres(t)
		e.DatabaseURL = e.Postgres.URL(e.DBName)
	} else {
		// Registered first, so it runs last: after the processes are gone.
		t.Cleanup(func() { dropDatabase(t, e.DBName) })
	}

	httpAddr := freeAddr(t)
	e.BaseURL = "http://" + httpAddr
	vars := map[string]string{
		"DATABASE_URL":   e.DatabaseURL,
		"REDIS_URL":      e.RedisURL,
		"HTTP_ADDR":      httpAddr,
		"APP_ENV":        "test",
		"LOCK_WAIT":      "2s",
		"LOCK_TTL":       "10s",
		"BANK_EMAIL":     bankEmail,
		"BANK_PASSWORD":  bankPassword,
		"ADMIN_EMAIL":    adminEmail,
		"ADMIN_PASSWORD": adminPassword,
		"BCRYPT_COST":    "4",
		"SWEEP_INTERVAL": "1s",
		"SWEEP_AFTER":    "2s",
		"PUBSUB_PREFIX":  "wallet-e2e-" + randHex(6),
		"LOG_LEVEL":      "info",
		"CURRENCY":       "RUB",
		"MAX_AMOUNT":     "1000000.00",
		"OAUTH_ISSUER":   e.BaseURL,
		// Every test user signs up and fails logins from 127.0.0.1; the
		// tests of these caps set them.
		"SIGNUP_LIMIT":        "0",
		"LOGIN_ADDRESS_LIMIT": "0",
	}
	if o.Via != nil {
		vars["DATABASE_URL"] = o.Via("postgres", e.DatabaseURL)
		vars["REDIS_URL"] = o.Via("redis", e.RedisURL)
	}
	for k, v := range o.Env {
		vars[k] = v
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	base := make([]string, 0, len(vars))
	for _, k := range keys {
		base = append(base, k+"="+vars[k])
	}
	newProc := func(name, bin string) *Proc {
		// Every process gets its own metrics port, so several workers can
		// run side by side.
		env := append(inheritedEnv(keys...), base...)
		if _, ok := vars["METRICS_ADDR"]; !ok {
			env = append(env, "METRICS_ADDR="+freeAddr(t))
		}
		return &Proc{t: t, Name: name, bin: filepath.Join(binDir, bin), env: env,
			Log: filepath.Join(logDir, name+".log")}
	}
	e.API = newProc("api", "api")
	e.APIs, e.BaseURLs = []*Proc{e.API}, []string{e.BaseURL}
	for i := 1; i < o.APIs; i++ {
		p := newProc(fmt.Sprintf("api%d", i), "api")
		addr := freeAddr(t)
		p.SetEnv("HTTP_ADDR", addr)
		e.APIs = append(e.APIs, p)
		e.BaseURLs = append(e.BaseURLs, "http://"+addr)
	}
	for i := 0; i < o.Workers; i++ {
		p := newProc(fmt.Sprintf("worker%d", i), "worker")
		if i < len(o.WorkerEnv) {
			for k, v := range o.WorkerEnv[i] {
				p.SetEnv(k, v)
			}
		}
		e.Workers = append(e.Workers, p)
	}

	t.Cleanup(func() {
		for _, p := range e.procs() {
			checkRaces(t, p)
		}
		if t.Failed() || os.Getenv("E2E_SHOW_LOGS") == "1" {
			for _, p := range e.procs() {
				t.Logf("---- last lines of %s (%s) ----\n%s", p.Name, p.Log, tail(p.Log, 60))
			}
		}
		if dir := os.Getenv("E2E_KEEP_LOGS"); dir != "" {
			keepLogs(t, filepath.Join(dir, strings.NewReplacer("/", "_", "=", "-").Replace(t.Name())), logDir)
		}
	})
	// Registered last, so it runs first.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, p := range e.procs() {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop() }()
		}
		wg.Wait()
	})

	// The API creates and migrates the database; the workers start after
	// it so that they find the schema in place (they would wait on the
	// migration lock anyway).
	e.API.Start()
	e.WaitReady()
	for i, p := range e.APIs[1:] {
		p.Start()
		e.WaitReadyAt(i + 1)
	}
	for _, w := range e.Workers {
		w.Start()
	}
	return e
}

func (e *Env) procs() []*Proc {
	return append(append([]*Proc{}, e.APIs...), e.Workers...)
}

// inheritedEnv is the test's environment less the variables the harness
// sets (envKeys) and the extra keys given.
func inheritedEnv(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, key := range append(envKeys, extra...) {
			if k == key {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// WaitReady waits until GET /readyz answers 200, for at most 30 seconds.
func (e *Env) WaitReady() {
	e.t.Helper()
	e.WaitReadyAt(0)
}

// WaitReadyAt is WaitReady for the API process e.APIs[i].
func (e *Env) WaitReadyAt(i int) {
	e.t.Helper()
	api, base := e.APIs[i], e.BaseURLs[i]
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if api.Exited() {
			e.t.Fatalf("%s exited before it was ready; log:\n%s", api.Name, tail(api.Log, 60))
		}
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s not ready after 30s (last error %v); log:\n%s", api.Name, err, tail(api.Log, 60))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Start starts the process; its output is appended to its log file.
func (p *Proc) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.done) {
		p.t.Fatalf("%s: already running", p.Name)
	}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("%s: log file: %v", p.Name, err)
	}
	fmt.Fprintf(f, "==== e2e: starting %s at %s ====\n", p.Name, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Stdout = f
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		f.Close()
		p.t.Fatalf("%s: start: %v", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "==== e2e: %s exited at %s: %v ====\n", p.Name, time.Now().Format(time.RFC3339Nano), err)
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Exited reports whether the process has ended (or never started).
func (p *Proc) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd == nil || isClosed(p.done)
}

// Kill ends the process with SIGKILL and waits for it to be gone.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Stop sends SIGTERM, and SIGKILL if the process has not ended after 20 s
// (SHUTDOWN_TIMEOUT is left at its default, 10 s). A program that does not
// stop by itself, or stops with a non-zero status, fails the test: SIGTERM
// must stop it cleanly. Safe to call from any goroutine.
func (p *Proc) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Process.Signal(syscall.SIGCONT) // in case a test froze it
	select {
	case <-done:
		if d := time.Since(start); d > 2*time.Second {
			p.t.Logf("%s took %.1fs to stop after SIGTERM", p.Name, d.Seconds())
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			p.t.Errorf("%s exited with status %d after SIGTERM, want 0", p.Name, code)
		}
	case <-time.After(20 * time.Second):
		p.t.Errorf("%s did not exit within 20s of SIGTERM; killing it", p.Name)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// Signal sends sig to the process if it runs.
func (p *Proc) Signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd != nil && !isClosed(done) {
		cmd.Process.Signal(sig)
	}
}

// KillInFlight SIGKILLs the worker w while it is running a task, as far as
// that can be seen from outside: it freezes the other workers (SIGSTOP),
// waits up to two seconds for a task to appear in asynq's active list that
// was not there when they froze (so it must be w's), kills w and thaws the
// others. It reports whether it saw such a task before the kill.
func (e *Env) KillInFlight(w *Proc) bool {
	e.t.Helper()
	for _, o := range e.Workers {
		if o != w {
			o.Signal(syscall.SIGSTOP)
		}
	}
	defer func() {
		for _, o := range e.Workers {
			if o != w {
				o.Signal(syscall.SIGCONT)
			}
		}
	}()
	rdb := e.RedisClient()
	defer rdb.Close()
	ctx := context.Background()
	active := func() []string {
		keys, _ := rdb.Keys(ctx, "asynq:{*}:active").Result()
		var ids []string
		for _, k := range keys {
			l, _ := rdb.LRange(ctx, k, 0, -1).Result()
			ids = append(ids, l...)
		}
		return ids
	}
	before := map[string]bool{}
	for _, id := range active() {
		before[id] = true
	}
	seen := false
	for deadline := time.Now().Add(2 * time.Second); !seen && time.Now().Before(deadline); {
		for _, id := range active() {
			if !before[id] {
				seen = true
			}
		}
	}
	w.Kill()
	return seen
}

// Restart stops the process (gracefully) and starts it again.
func (p *Proc) Restart() {
	p.Stop()
	p.Start()
}

// SetEnv sets one environment variable of the process for its next
// Start (for example to restart it with another LOCK_TTL).
func (p *Proc) SetEnv(key, value string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.env[:0:0]
	for _, kv := range p.env {
		if k, _, _ := strings.Cut(kv, "="); k != key {
			out = append(out, kv)
		}
	}
	p.env = append(out, key+"="+value)
}

// Getenv returns the value of a variable in the process's environment.
func (p *Proc) Getenv(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, kv := range p.env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v
		}
	}
	return ""
}

// RedisClient returns a client on the deployment's Redis database (on
// its primary, when RedisURL names Sentinels).
func (e *Env) RedisClient() *redis.Client {
	if u, err := url.Parse(e.RedisURL); err == nil && u.Scheme == "redis-sentinel" {
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: u.Query().Get("master"), SentinelAddrs: strings.Split(u.Host, ","),
			DB: func() int { n, _ := strconv.Atoi(strings.Trim(u.Path, "/")); return n }(),
		})
	}
	opt, err := redis.ParseURL(e.RedisURL)
	if err != nil {
		panic(err)
	}
	return redis.NewClient(opt)
}

// TerminatePostgresConns ends every server process connected to the
// deployment's database (pg_terminate_backend), as a Postgres fault the
// programs must survive, and returns how many it ended.
func (e *Env) TerminatePostgresConns(ctx context.Context) (int, error) {
	admin := adminDBURL()
	if e.Postgres != nil {
		admin = e.Postgres.URL("postgres")
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
		FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, e.DBName).Scan(&n)
	return n, err
}

// RunAudit runs "worker audit" against the deployment's database and
// returns its output and exit status (0 clean, 2 violations).
func (e *Env) RunAudit(ctx context.Context) (string, int, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "worker"), "audit")
	cmd.Env = append(inheritedEnv(), "DATABASE_URL="+e.DatabaseURL, "REDIS_URL="+e.RedisURL, "APP_ENV=test",
		"BANK_PASSWORD="+bankPassword, "ADMIN_PASSWORD="+adminPassword)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode(), nil
	}
	if err != nil {
		return string(out), -1, err
	}
	return string(out), 0, nil
}

// RedisServer is a redis-server process of the test's own, without
// persistence, that can be flushed, killed and started again on the same
// port.
type RedisServer struct {
	t    *testing.T
	Addr string
	Log  string
	// Args are added to redis-server's command line (a replica's
	// --replicaof, for example).
	Args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a redis-server on a free port; it is killed at the
// test's end.
func StartRedis(t *testing.T, logPath string) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("own redis: %v", err)
	}
	r := &RedisServer{t: t, Addr: freeAddr(t), Log: logPath}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Kill)
	return r
}

// URL is the server's database 0.
func (r *RedisServer) URL() string { return "redis://" + r.Addr + "/0" }

// Client returns a client on database 0.
func (r *RedisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
}

// Start starts the server and waits until it answers PING (at most 10 s).
func (r *RedisServer) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && !isClosed(r.done) {
		return fmt.Errorf("own redis: already running")
	}
	_, port, _ := net.SplitHostPort(r.Addr)
	f, err := os.OpenFile(r.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("own redis: log file: %w", err)
	}
	cmd := exec.Command("redis-server", append([]string{"--save", "", "--appendonly", "no", "--port", port,
		"--bind", "127.0.0.1", "--dir", filepath.Dir(r.Log), "--databases", "16"}, r.Args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("own redis: start: %w", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	r.cmd, r.done = cmd, done
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		if isClosed(done) || time.Now().After(deadline) {
			return fmt.Errorf("own redis on %s did not come up: %v; log:\n%s", r.Addr, err, tail(r.Log, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the server with SIGKILL (everything in it is lost) and waits
// until it is gone.
func (r *RedisServer) Kill() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil || isClosed(done) {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// FlushAll empties every database of the server.
func (r *RedisServer) FlushAll(ctx context.Context) error {
	c := r.Client()
	defer c.Close()
	return c.FlushAll(ctx).Err()
}

// raceReport starts each report of the race detector.
const raceReport = "WARNING: DATA RACE"

// checkRaces fails the test if the process's log holds a report of the
// race detector, and shows the first one.
func checkRaces(t *testing.T, p *Proc) {
	t.Helper()
	b, err := os.ReadFile(p.Log)
	if err != nil {
		return // never started
	}
	log := string(b)
	n := strings.Count(log, raceReport)
	if n == 0 {
		return
	}
	first := log[strings.Index(log, raceReport):]
	if end := strings.Index(first, "=================="); end > 0 {
		first = first[:end]
	}
	if len(first) > 6000 {
		first = first[:6000] + "..."
	}
	t.Errorf("%s: the race detector reported %d data race(s); the first:\n%s", p.Name, n, first)
}

// keepLogs copies the log files of a test's processes into dir.
func keepLogs(t *testing.T, dir, logDir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Logf("E2E_KEEP_LOGS: %v", err)
		return
	}
	files, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644)
		}
		if err != nil {
			t.Logf("E2E_KEEP_LOGS: %v", err)
		}
	}
	t.Logf("logs kept in %s", dir)
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// ---- HTTP client ----

// Auth adds credentials to a request.
type Auth func(*http.Request)

// Basic authenticates with HTTP Basic.
func Basic(email, password string) Auth {
	return func(r *http.Request) { r.SetBasicAuth(email, password) }
}

// Bearer authenticates with an access token.
func Bearer(token string) Auth {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// Client talks to the API. It keeps cookies (so a login makes it a
// cookie-authenticated client) and, if auth is set, adds it to every
// request. It does not follow redirects of /api/* requests, which the
// contract forbids.
type Client struct {
	base string
	hc   *http.Client
	auth Auth
}

// Client returns a new client with an empty cookie jar.
func (e *Env) Client(auth Auth) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{
		base: e.BaseURL,
		auth: auth,
		hc: &http.Client{
			Jar:       jar,
			Timeout:   60 * time.Second,
			Transport: e.contract.transport(http.DefaultTransport),
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if strings.HasPrefix(via[0].URL.Path, "/api/") {
					return http.ErrUseLastResponse
				}
				if len(via) >= 5 {
					return errors.New("too many redirects")
				}
				return nil
			},
		},
	}
}

// Resp is a decoded answer.
type Resp struct {
	Method, Path string
	Status       int
	Header       http.Header
	Raw          []byte
	Body         map[string]any // nil unless the body is a JSON object
	Cookies      []*http.Cookie
}

func (r *Resp) String() string {
	raw := string(r.Raw)
	if len(raw) > 600 {
		raw = raw[:600] + "..."
	}
	return fmt.Sprintf("%s %s -> %d %s", r.Method, r.Path, r.Status, raw)
}

// H is a set of request headers.
type H map[string]string

// Do sends a request. body is sent as is if it is a string or []byte,
// otherwise as JSON; nil sends no body.
func (c *Client) Do(method, path string, body any, hdr H) (*Resp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.auth != nil {
		c.auth(req)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &Resp{Method: method, Path: path, Status: resp.StatusCode, Header: resp.Header, Raw: raw, Cookies: resp.Cookies()}
	if len(bytes.TrimSpace(raw)) > 0 && bytes.TrimSpace(raw)[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err == nil {
			r.Body = m
		}
	}
	return r, nil
}

// Must is Do that fails the test on a transport error. Call it only from
// the test's goroutine.
func (c *Client) Must(t *testing.T, method, path string, body any, hdr H) *Resp {
	t.Helper()
	r, err := c.Do(method, path, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// Str returns a string field of the body ("" if absent or not a string).
func (r *Resp) Str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// ErrCode returns error.code of an error body.
func (r *Resp) ErrCode() string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// Expect fails the test unless the answer has the status.
func Expect(t *testing.T, r *Resp, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("want %d: %s", status, r)
	}
}

// ExpectError checks status, the error body's shape
// {"error":{"code":...,"message":...}} and its code (any code if code is "").
func ExpectError(t *testing.T, r *Resp, status int, code string) {
	t.Helper()
	if err := errorShape(r, status, code); err != nil {
		t.Fatal(err)
	}
}

// CheckError is ExpectError that does not stop the test.
func CheckError(t *testing.T, r *Resp, status int, code string) {
	t.Helper()
	if err := errorShape(r, status, code); err != nil {
		t.Error(err)
	}
}

func errorShape(r *Resp, status int, code string) error {
	if r.Status != status {
		return fmt.Errorf("want %d %s: %s", status, code, r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("error answer has Content-Type %q, want application/json: %s", ct, r)
	}
	if r.Body == nil || len(r.Body) != 1 {
		return fmt.Errorf("error body is not {\"error\":{...}}: %s", r)
	}
	e, ok := r.Body["error"].(map[string]any)
	if !ok {
		return fmt.Errorf("error body has no error object: %s", r)
	}
	c, _ := e["code"].(string)
	m, _ := e["message"].(string)
	if c == "" || m == "" {
		return fmt.Errorf("error object needs a non-empty code and message: %s", r)
	}
	if code != "" && c != code {
		return fmt.Errorf("want error code %q, got %q: %s", code, c, r)
	}
	return nil
}

// ---- money ----

// cents parses a response amount, which must have exactly two decimals.
func cents(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	u := strings.TrimPrefix(s, "-")
	whole, frac, ok := strings.Cut(u, ".")
	if !ok || len(frac) != 2 || whole == "" {
		return 0, fmt.Errorf("amount %q is not a decimal string with 2 digits", s)
	}
	for _, c := range whole + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("amount %q is not a decimal string", s)
		}
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("amount %q: %w", s, err)
	}
	if neg {
		n = -n
	}
	return n, nil
}

func money(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// ---- common steps ----

// user is a signed-up account.
type user struct {
	Name, Email, Password string
	UserID, WalletID      string
}

// signup creates a user and checks the 201 answer.
func (e *Env) signup(t *testing.T, name string) user {
	t.Helper()
	u := user{Name: name, Email: strings.ToLower(name) + "-" + randHex(3) + "@example.com", Password: "correct horse " + name}
	r := e.Client(nil).Must(t, "POST", "/api/signup", map[string]any{"name": u.Name, "email": u.Email, "password": u.Password}, nil)
	Expect(t, r, http.StatusCreated)
	u.UserID, u.WalletID = r.Str("user_id"), r.Str("wallet_id")
	if u.UserID == "" || u.WalletID == "" {
		t.Fatalf("signup answer lacks user_id or wallet_id: %s", r)
	}
	return u
}

// deposit makes the bank pay amount into the wallet and waits until the
// operation completed.
func (e *Env) deposit(t *testing.T, walletID, amount string) string {
	t.Helper()
	bank := e.Client(Basic(bankEmail, bankPassword))
	r := bank.Must(t, "POST", "/api/external_to_wallet",
		map[string]any{"wallet_id": walletID, "amount": amount, "details": "e2e deposit"}, H{"Prefer": "wait=10"})
	if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
		t.Fatalf("deposit: %s", r)
	}
	id := r.Str("operation_id")
	op := waitFinal(t, bank, id, 30*time.Second)
	if op.Str("status") != "completed" {
		t.Fatalf("deposit did not complete: %s", op)
	}
	return id
}

// token gets a Bearer access token for the user.
func (e *Env) token(t *testing.T, u user) string {
	t.Helper()
	r := e.Client(Basic(u.Email, u.Password)).Must(t, "POST", "/api/tokens", nil, nil)
	Expect(t, r, http.StatusCreated)
	tok := r.Str("access_token")
	if tok == "" || r.Str("token_type") != "Bearer" {
		t.Fatalf("token answer: %s", r)
	}
	if n, err := strconv.ParseInt(fmt.Sprint(r.Body["expires_in"]), 10, 64); err != nil || n <= 0 {
		t.Fatalf("token answer: expires_in must be a positive integer: %s", r)
	}
	return tok
}

// balance returns the wallet's balance in cents, checking the shape.
func balance(t *testing.T, c *Client) int64 {
	t.Helper()
	r := c.Must(t, "GET", "/api/wallet", nil, nil)
	Expect(t, r, http.StatusOK)
	n, err := cents(r.Str("balance"))
	if err != nil {
		t.Fatalf("wallet: %v: %s", err, r)
	}
	return n
}

func isFinal(status string) bool { return status == "completed" || status == "failed" }

// pollFinal long-polls the operation until it is final or the deadline
// passes; it returns the last answer. Safe to call from any goroutine.
func pollFinal(c *Client, id string, within time.Duration) (*Resp, error) {
	deadline := time.Now().Add(within)
	for {
		wait := int(time.Until(deadline).Seconds())
		if wait > 10 {
			wait = 10
		}
		if wait < 1 {
			wait = 1
		}
		r, err := c.Do("GET", "/api/operations/"+id+"?wait="+strconv.Itoa(wait), nil, nil)
		if err != nil {
			return nil, err
		}
		if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
			return r, fmt.Errorf("operation %s: %s", id, r)
		}
		if isFinal(r.Str("status")) {
			if r.Status != http.StatusOK {
				return r, fmt.Errorf("operation %s is final but the answer is not 200: %s", id, r)
			}
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, nil
		}
		if r.Str("status") != "pending" {
			return r, fmt.Errorf("operation %s has status %q: %s", id, r.Str("status"), r)
		}
	}
}

// waitFinal is pollFinal for the test's goroutine: it fails the test
// unless the operation is final within the time.
func waitFinal(t *testing.T, c *Client, id string, within time.Duration) *Resp {
	t.Helper()
	r, err := pollFinal(c, id, within)
	if err != nil {
		t.Fatal(err)
	}
	if !isFinal(r.Str("status")) {
		t.Fatalf("operation %s not final after %v: %s", id, within, r)
	}
	return r
}

// retryAfter returns how long a 409 wallet_busy asks to wait, capped.
func retryAfter(r *Resp, max time.Duration) time.Duration {
	d := 100 * time.Millisecond
	if s, err := strconv.Atoi(strings.TrimSpace(r.Header.Get("Retry-After"))); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	}
	if d > max {
		d = max
	}
	return d
}
