package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// service is the deployment a run drives: one started by the generator
// (-start), or one given by -url.
type service struct {
	URL string
	// The rest is set only for a started service.
	DBName      string
	DatabaseURL string
	procs       []*proc
	logDir      string
	keep        bool
	unclaim     func(flush bool)
	workerBin   string
	proxies     *latencyProxies
	// TaskCheckInterval is the workers' idle poll (TASK_CHECK_INTERVAL).
	TaskCheckInterval string
}

// poolCheckInterval is the idle poll that keeps a pool of n workers
// polling as often as one worker does at the service's default (5 ms).
func poolCheckInterval(n int) time.Duration { return time.Duration(max(n, 1)) * 5 * time.Millisecond }

// Environment of a started service that the generator decides; anything
// else (LOCK_WAIT, WORKER_CONCURRENCY, ...) passes through from the
// generator's own environment.
const (
	defaultDatabaseURL = "postgres://postgres@localhost:5432/wallet?sslmode=disable"
	defaultRedisURL    = "redis://localhost:6379/0"
)

// buildPrograms builds bin/api and bin/worker from the repository in the
// current directory.
func buildPrograms(ctx context.Context, binDir string) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("-build needs the repository root as the current directory (or -build=false)")
	}
	for _, prog := range []string{"api", "worker"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, prog), "./"+prog)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./%s: %w\n%s", prog, err, out)
		}
	}
	return nil
}

// startService starts an API and the given number of workers on a new
// database and on Redis database redisDB, which it flushes first, and
// waits until the API is ready. With rtt > 0 the workers reach Postgres
// and Redis through proxies that add that round trip.
func startService(ctx context.Context, cfg Config, workers int, rtt time.Duration, runID string, u *ui) (_ *service, err error) {
	s := &service{DBName: "wallet_bench_" + runID, keep: cfg.Keep,
		workerBin: filepath.Join(cfg.BinDir, "worker")}
	defer func() {
		if err != nil {
			s.stop(u)
		}
	}()
	if _, err := url.Parse(envOr("DATABASE_URL", defaultDatabaseURL)); err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	s.DatabaseURL = databaseURL(s.DBName)
	redisURL, err := url.Parse(envOr("REDIS_URL", defaultRedisURL))
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	redisURL.Path = "/" + strconv.Itoa(cfg.RedisDB)
	if s.unclaim, err = claimRedisDB(ctx, redisURL.String(), cfg.RedisDB, u); err != nil {
		return nil, err
	}
	if s.logDir, err = os.MkdirTemp("", "wallet-bench-"+runID+"-"); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + addr

	env := map[string]string{
		"DATABASE_URL":   s.DatabaseURL,
		"REDIS_URL":      redisURL.String(),
		"PUBSUB_PREFIX":  "wallet-bench-" + runID,
		"HTTP_ADDR":      addr,
		"METRICS_ADDR":   "",
		"BANK_EMAIL":     cfg.Bank.Email,
		"BANK_PASSWORD":  cfg.Bank.Password,
		"ADMIN_EMAIL":    cfg.Admin.Email,
		"ADMIN_PASSWORD": cfg.Admin.Password,
		// Setup signs up thousands of users: the lowest cost keeps that
		// quick, and no request under load hashes a password.
		"BCRYPT_COST": envOr("BCRYPT_COST", "4"),
		"LOG_LEVEL":   envOr("LOG_LEVEL", "warn"),
		// Every benchmark user signs up from this one address.
		"SIGNUP_LIMIT": "0",
		// -auth jwt: tokens outlive every phase of the run.
		"ACCESS_TOKEN_TTL": "6h",
		// -webhooks: the sink listens on a loopback address.
		"WEBHOOK_ALLOW_PRIVATE": strconv.FormatBool(cfg.Webhooks),
		"WEBHOOK_CONCURRENCY":   envOr("WEBHOOK_CONCURRENCY", "16"),
	}
	api := newProc("api", filepath.Join(cfg.BinDir, "api"), env, s.logDir)
	s.procs = append(s.procs, api)
	if err := api.start(); err != nil {
		return nil, err
	}
	// The API creates and migrates the database; workers start after it.
	if err := waitReady(ctx, s.URL, api, 60*time.Second); err != nil {
		return nil, err
	}
	wenv := maps.Clone(env)
	// An idle worker looks at its queue every TASK_CHECK_INTERVAL, so a
	// pool of n at 5 ms polls Redis n×200 times a second and spends a
	// few percent of a core each on it: the pool's poll rate is kept at
	// one worker's, as the README asks of a deployment (More workers).
	if _, given := os.LookupEnv("TASK_CHECK_INTERVAL"); !given {
		wenv["TASK_CHECK_INTERVAL"] = poolCheckInterval(workers).String()
	}
	if rtt > 0 {
		var via []string
		if s.proxies, via, err = startLatencyProxies(rtt, env["DATABASE_URL"], env["REDIS_URL"]); err != nil {
			return nil, err
		}
		wenv["DATABASE_URL"], wenv["REDIS_URL"] = via[0], via[1]
	}
	if cfg.Webhooks && cfg.WebhookNice > 0 {
		henv := maps.Clone(wenv)
		wenv["WORKER_QUEUES"] = "operations"
		henv["WORKER_QUEUES"] = "webhooks"
		hooks := newProc("webhooks", s.workerBin, henv, s.logDir)
		hooks.nice = cfg.WebhookNice
		s.procs = append(s.procs, hooks)
		if err := hooks.start(); err != nil {
			return nil, err
		}
	}
	for i := range workers {
		w := newProc(fmt.Sprintf("worker%d", i), s.workerBin, wenv, s.logDir)
		s.procs = append(s.procs, w)
		if err := w.start(); err != nil {
			return nil, err
		}
	}
	s.TaskCheckInterval = wenv["TASK_CHECK_INTERVAL"]
	u.logf("service at %s: database %s, Redis db %d, %d worker(s) polling every %s, worker round trip +%s, logs in %s",
		s.URL, s.DBName, cfg.RedisDB, workers, s.TaskCheckInterval, rtt, s.logDir)
	return s, nil
}

// stop ends the processes with SIGTERM (SIGKILL after 30 s), then drops
// the database, releases the Redis database and removes the logs, unless
// -keep. It is a no-op for a service the generator did not start.
func (s *service) stop(u *ui) {
	for _, p := range s.procs {
		p.signal(syscall.SIGTERM)
	}
	for _, p := range s.procs {
		if err := p.wait(30 * time.Second); err != nil {
			u.warnf("%s: %v; last lines of %s:\n%s", p.name, err, p.logPath, tail(p.logPath, 20))
		}
	}
	s.proxies.stop()
	if s.unclaim != nil {
		s.unclaim(!s.keep)
	}
	if s.DBName != "" && !s.keep {
		if err := dropDatabase(s.DBName); err != nil {
			u.warnf("drop database %s: %v", s.DBName, err)
		}
	}
	if s.logDir != "" && !s.keep {
		os.RemoveAll(s.logDir)
	}
}

// exited names a process that is no longer running, if any: a started
// service that lost a process mid-run makes the run's figures worthless.
func (s *service) exited() string {
	for _, p := range s.procs {
		if p.exited() {
			return p.name
		}
	}
	return ""
}

// workerAudit runs `worker audit` against the service's database.
func (s *service) workerAudit(ctx context.Context) (clean bool, report string, err error) {
	cmd := exec.CommandContext(ctx, s.workerBin, "audit")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+s.DatabaseURL)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, string(out), nil
	case errors.As(err, &ee) && ee.ExitCode() == 2: // violations found
		return false, string(out), nil
	default:
		return false, string(out), fmt.Errorf("worker audit: %w", err)
	}
}

// proc is one program of a started service.
type proc struct {
	name, bin, logPath string
	nice               int // run under nice -n, when above 0
	env                []string
	cmd                *exec.Cmd
	done               chan struct{}
	err                error
}

func newProc(name, bin string, vars map[string]string, logDir string) *proc {
	env := os.Environ()
	for k, v := range vars {
		env = append(env, k+"="+v) // later entries win
	}
	return &proc{name: name, bin: bin, env: env, logPath: filepath.Join(logDir, name+".log")}
}

func (p *proc) start() error {
	f, err := os.Create(p.logPath)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin)
	if p.nice > 0 {
		// Every thread the process makes inherits the niceness it starts
		// with (a renice afterwards reaches its first thread only).
		p.cmd = exec.Command("nice", "-n", strconv.Itoa(p.nice), p.bin)
	}
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = p.env, f, f
	// Its own process group, so that a Ctrl-C reaches only the generator,
	// which then audits and stops the service in order; and if the
	// generator dies, so does the service it started.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	p.done = make(chan struct{})
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd != nil && p.cmd.Process != nil && !p.exited() {
		_ = p.cmd.Process.Signal(sig)
	}
}

// wait waits for the process to end, killing it after limit; it reports
// an unclean end.
func (p *proc) wait(limit time.Duration) error {
	if p.done == nil {
		return nil
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		p.signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("did not stop within %s of SIGTERM; killed", limit)
	}
	if p.err != nil {
		return fmt.Errorf("exited: %w", p.err)
	}
	return nil
}

// waitReady polls /readyz until it answers 200.
func waitReady(ctx context.Context, base string, api *proc, limit time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		if api.exited() {
			return fmt.Errorf("api exited before it was ready; last lines of %s:\n%s", api.logPath, tail(api.logPath, 20))
		}
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("api not ready after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// claimRedisDB takes Redis database db for the run and flushes it. The
// end-to-end tests claim databases 1..15 with a key in database 0
// (internal/e2e); taking the same claim keeps a benchmark and a `make
// test` on the same machine from flushing each other's database. The
// returned func releases it, flushing it first if asked.
func claimRedisDB(ctx context.Context, redisURL string, db int, u *ui) (func(flush bool), error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	claims := redis.NewClient(&redis.Options{Addr: opt.Addr, Username: opt.Username, Password: opt.Password, DB: 0, TLSConfig: opt.TLSConfig})
	key := fmt.Sprintf("wallet-e2e-claim:%d", db)
	token := "bench-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	const ttl = 2 * time.Minute
	deadline := time.Now().Add(2 * time.Minute)
	for waited := false; ; waited = true {
		ok, err := claims.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			claims.Close()
			return nil, fmt.Errorf("redis: %w", err)
		}
		if ok {
			break
		}
		if !waited {
			u.warnf("Redis db %d is in use by a test (%s); waiting for it", db, key)
		}
		if time.Now().After(deadline) {
			claims.Close()
			return nil, fmt.Errorf("redis db %d stayed in use; pick another with -redis-db", db)
		}
		select {
		case <-ctx.Done():
			claims.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	flush := func() error {
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		return rdb.FlushDB(context.Background()).Err()
	}
	if err := flush(); err != nil {
		claims.Del(context.Background(), key)
		claims.Close()
		return nil, fmt.Errorf("flush Redis db %d: %w", db, err)
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
				claims.Expire(context.Background(), key, ttl)
			}
		}
	}()
	return func(flushIt bool) {
		close(stop)
		<-refreshed
		if flushIt {
			if err := flush(); err != nil {
				u.warnf("flush Redis db %d: %v", db, err)
			}
		}
		// Release only our own claim.
		if v, _ := claims.Get(context.Background(), key).Result(); v == token {
			claims.Del(context.Background(), key)
		}
		claims.Close()
	}, nil
}

// dropDatabase removes a database the generator created.
func dropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, maintenanceURL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// databaseURL is DATABASE_URL (or its default) with the named database.
func databaseURL(name string) string {
	u, err := url.Parse(envOr("DATABASE_URL", defaultDatabaseURL))
	if err != nil {
		u, _ = url.Parse(defaultDatabaseURL)
	}
	u.Path = "/" + name
	return u.String()
}

// maintenanceURL is the server's "postgres" database, for creating and
// dropping databases.
func maintenanceURL() string { return databaseURL("postgres") }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimRight(string(bytes.Join(lines, []byte("\n"))), "\n")
}

// analyze updates the planner's statistics of a started service's
// database, as autovacuum does on its own after a while.
func analyze(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "ANALYZE")
	return err
}
