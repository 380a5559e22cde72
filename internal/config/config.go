// Package config reads the service's configuration from the environment
// once, with documented defaults, and validates it.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/walletd/wallet/internal/wallet"
)

// Development credentials. They are refused when APP_ENV=production.
const (
	DevBankEmail     = "bank@example.com"
	DevBankPassword  = "bank-dev-password"
	DevAdminEmail    = "admin@example.com"
	DevAdminPassword = "admin-dev-password"
)

// Config is everything both programs read from the environment.
type Config struct {
	// AppEnv is "development", "test" or "production"; production refuses
	// the development passwords and marks cookies Secure.
	AppEnv string `env:"APP_ENV" envDefault:"development"`
	// DatabaseURL is the Postgres connection string.
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://postgres@localhost:5432/wallet?sslmode=disable"`
	// RedisURL holds the queue, the locks, the sessions and the caches; its
	// database number is honoured by all of them.
	RedisURL string `env:"REDIS_URL" envDefault:"redis://localhost:6379/0"`
	// PubSubPrefix starts every pub/sub channel name, since Redis pub/sub
	// ignores database numbers. Default: "wallet:db<N>" for REDIS_URL's db N.
	PubSubPrefix string `env:"PUBSUB_PREFIX"`
	// HTTPAddr is where the API listens.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080"`
	// PprofAddr, when set, serves net/http/pprof there (keep it private).
	PprofAddr string `env:"PPROF_ADDR"`
	// MetricsAddr is where a worker serves /metrics; empty disables it.
	MetricsAddr string `env:"METRICS_ADDR" envDefault:":9091"`
	// MetricsAddrDefault is set when METRICS_ADDR was not given: a worker
	// that finds the default port taken (another worker on the host)
	// then takes the next free one instead of going without metrics.
	MetricsAddrDefault bool `env:"-"`

	BankName      string `env:"BANK_NAME" envDefault:"Development Bank"`
	BankEmail     string `env:"BANK_EMAIL" envDefault:"bank@example.com"`
	BankPassword  string `env:"BANK_PASSWORD" envDefault:"bank-dev-password"`
	AdminEmail    string `env:"ADMIN_EMAIL" envDefault:"admin@example.com"`
	AdminPassword string `env:"ADMIN_PASSWORD" envDefault:"admin-dev-password"`

	// CurrencyCode is the one currency of the deployment.
	CurrencyCode string `env:"CURRENCY" envDefault:"RUB"`
	// MaxAmountText caps a single operation, in the currency's units.
	MaxAmountText string `env:"MAX_AMOUNT" envDefault:"1000000.00"`

	// LockWait is how long a request waits for a wallet lock before
	// answering 409 wallet_busy.
	LockWait time.Duration `env:"LOCK_WAIT" envDefault:"2s"`
	// LockTTL is how long a wallet lock lives if nobody releases it: the
	// safety net when an API process dies while it accepts (the acceptor
	// releases a group's locks once the group is stored).
	LockTTL time.Duration `env:"LOCK_TTL" envDefault:"10s"`
	// AcceptTimeout bounds each step of an accept that talks to Postgres
	// or Redis (a lock round, the funds check and insert, the enqueue):
	// past it the request is answered 503 unavailable instead of hanging.
	AcceptTimeout time.Duration `env:"ACCEPT_TIMEOUT" envDefault:"5s"`

	// WorkerConcurrency is how many tasks one worker process runs at once.
	WorkerConcurrency int `env:"WORKER_CONCURRENCY" envDefault:"64"`
	// WorkerQueues are the queues a worker process serves: "operations"
	// (the ledger: applies, expiries, sweeps) and "webhooks" (the relay
	// and the deliveries), so that the two can be scaled, placed and
	// prioritised apart.
	WorkerQueues []string `env:"WORKER_QUEUES" envDefault:"operations,webhooks" envSeparator:","`
	// ApplyBatch caps how many operations a worker commits in one
	// transaction; ApplyCommitters is how many such commits run at once.
	ApplyBatch      int `env:"APPLY_BATCH" envDefault:"128"`
	ApplyCommitters int `env:"APPLY_COMMITTERS" envDefault:"2"`
	// AcceptBatch caps how many requests the API accepts as one group
	// (one insert, one task); AcceptCommitters is how many groups it
	// stores at once. One is the fastest on a 2-core machine: while a
	// group commits, the next one grows, and fewer commits leave more CPU.
	AcceptBatch      int `env:"ACCEPT_BATCH" envDefault:"256"`
	AcceptCommitters int `env:"ACCEPT_COMMITTERS" envDefault:"1"`
	// AcceptMaxPending bounds a wallet's operations accepted and not yet
	// committed that reserve from it: past it its debits get 409
	// wallet_busy until the workers catch up.
	AcceptMaxPending int `env:"ACCEPT_MAX_PENDING" envDefault:"1000"`
	// TaskCheckInterval is how often an idle worker polls its queues.
	TaskCheckInterval time.Duration `env:"TASK_CHECK_INTERVAL" envDefault:"5ms"`
	// SweepInterval is how often the sweeper looks for stuck operations
	// and for what fell due (expiries) without its task: at most this
	// late, an active hold past its expiry is expired even after Redis
	// lost its scheduled task.
	SweepInterval time.Duration `env:"SWEEP_INTERVAL" envDefault:"1s"`
	// SweepAfter is how long an operation may stay pending before the
	// sweeper enqueues it again.
	SweepAfter time.Duration `env:"SWEEP_AFTER" envDefault:"5s"`
	// WithdrawalTimeout is how long a withdrawal may stay pending (not
	// taken by its bank) before the service expires it and releases the
	// money.
	WithdrawalTimeout time.Duration `env:"WITHDRAWAL_TIMEOUT" envDefault:"72h"`
	// IdempotencyRetention is how long an Idempotency-Key is kept (and a
	// repeat replayed); the contract promises at least 24 hours. Older
	// keys are deleted in small batches by a scheduled task.
	IdempotencyRetention time.Duration `env:"IDEMPOTENCY_RETENTION" envDefault:"72h"`
	// ShutdownTimeout bounds a graceful stop.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	// SessionTTL is how long a session or access token lives.
	SessionTTL time.Duration `env:"SESSION_TTL" envDefault:"24h"`
	// OAuthIssuer is the authorization server's issuer (OAUTH_ISSUER):
	// every absolute URL of its metadata, and each access token's iss and
	// aud.
	OAuthIssuer string `env:"OAUTH_ISSUER" envDefault:"http://localhost:8080"`
	// OAuthSigningKeys are the access tokens' Ed25519 keys,
	// kid=base64url-seed,... (the first signs; all verify and are
	// published). Empty outside production: a development key kept in
	// Postgres.
	OAuthSigningKeys string `env:"OAUTH_SIGNING_KEYS"`
	// AccessTokenTTL is an OAuth access token's life; RefreshTokenTTL a
	// refresh token family's, from its sign-in.
	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"720h"`
	// WebhookAllowPrivate lets webhooks go to http:// and to loopback and
	// private addresses: development and tests only, refused in
	// production.
	WebhookAllowPrivate bool `env:"WEBHOOK_ALLOW_PRIVATE" envDefault:"false"`
	// WebhookConcurrency is how many deliveries a worker sends at once;
	// WebhookPerEndpoint how many of them may go to one endpoint.
	WebhookConcurrency int `env:"WEBHOOK_CONCURRENCY" envDefault:"16"`
	WebhookPerEndpoint int `env:"WEBHOOK_PER_ENDPOINT" envDefault:"4"`
	// WebhookBackoff are the delays before a failed delivery's next
	// attempts (empty: the contract's 5s,5m,30m,2h,5h,10h,10h).
	WebhookBackoff []time.Duration `env:"WEBHOOK_BACKOFF" envSeparator:","`
	// TrustedProxies are the addresses (IPs or CIDRs) of the reverse
	// proxies in front of the API. Only a request from one of them may
	// name the client (X-Forwarded-For), the host (X-Forwarded-Host) and
	// the scheme (X-Forwarded-Proto); from anyone else those headers are
	// ignored. Empty: none is trusted.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`
	// SignupLimit caps signups per client address per hour (0: no cap).
	SignupLimit int `env:"SIGNUP_LIMIT" envDefault:"20"`
	// LoginAddressLimit caps failed logins per client address in 15
	// minutes, whatever the emails (0: no cap); the per-email cap is 10.
	LoginAddressLimit int `env:"LOGIN_ADDRESS_LIMIT" envDefault:"100"`
	// BcryptCost is the password hash cost.
	BcryptCost int `env:"BCRYPT_COST" envDefault:"10"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`

	// Currency and MaxAmount are derived by Load.
	Currency  wallet.Currency `env:"-"`
	MaxAmount wallet.Amount   `env:"-"`
	// RedisDB is REDIS_URL's database number, derived by Load.
	RedisDB int `env:"-"`
}

// Load reads the environment and validates it.
func Load() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", envErrors(err))
	}
	// An empty METRICS_ADDR turns the worker's listener off; the env
	// library would take empty for unset and apply the default.
	v, ok := os.LookupEnv("METRICS_ADDR")
	if ok && v == "" {
		c.MetricsAddr = ""
	}
	c.MetricsAddrDefault = !ok
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Production reports whether APP_ENV is production.
func (c *Config) Production() bool { return c.AppEnv == "production" }

// Validate checks the values and fills the derived fields.
func (c *Config) Validate() error {
	var errs []error
	cur, err := wallet.LookupCurrency(c.CurrencyCode)
	if err != nil {
		errs = append(errs, fmt.Errorf("CURRENCY: %w", err))
	} else {
		c.Currency = cur
		if c.MaxAmount, err = cur.ParseAmount(c.MaxAmountText, 0); err != nil {
			errs = append(errs, fmt.Errorf("MAX_AMOUNT: %w", err))
		}
	}
	u, err := url.Parse(c.RedisURL)
	switch {
	case err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "redis-sentinel"):
		errs = append(errs, errors.New("REDIS_URL: must be a redis://, rediss:// or redis-sentinel:// URL"))
	case u.Scheme == "redis-sentinel" && (u.Host == "" || u.Query().Get("master") == ""):
		errs = append(errs, errors.New("REDIS_URL: redis-sentinel://host:port[,host:port...]/db?master=name needs the sentinels and the master's name"))
	default:
		c.RedisDB = 0
		if p := strings.Trim(u.Path, "/"); p != "" {
			if c.RedisDB, err = strconv.Atoi(p); err != nil || c.RedisDB < 0 {
				errs = append(errs, errors.New("REDIS_URL: database number must be a non-negative integer"))
			}
		}
	}
	if c.PubSubPrefix == "" {
		c.PubSubPrefix = "wallet:db" + strconv.Itoa(c.RedisDB)
	}
	if c.AppEnv != "development" && c.AppEnv != "production" && c.AppEnv != "test" {
		errs = append(errs, errors.New("APP_ENV: must be development, test or production"))
	}
	if c.Production() {
		if c.BankPassword == DevBankPassword || c.AdminPassword == DevAdminPassword {
			errs = append(errs, errors.New("BANK_PASSWORD/ADMIN_PASSWORD: the development default is refused in production"))
		}
		if c.WebhookAllowPrivate {
			errs = append(errs, errors.New("WEBHOOK_ALLOW_PRIVATE: refused in production"))
		}
		if strings.TrimSpace(c.OAuthSigningKeys) == "" {
			errs = append(errs, errors.New("OAUTH_SIGNING_KEYS: must be set in production (kid=base64url-seed,...)"))
		}
	}
	if u, err := url.Parse(c.OAuthIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.OAuthIssuer, "/") {
		errs = append(errs, errors.New("OAUTH_ISSUER: must be an http(s) URL without a query, a fragment or a trailing slash"))
	}
	if len(c.BankPassword) < 8 || len(c.AdminPassword) < 8 {
		errs = append(errs, errors.New("BANK_PASSWORD/ADMIN_PASSWORD: must be at least 8 characters"))
	}
	if c.BankEmail == "" || c.AdminEmail == "" || strings.EqualFold(c.BankEmail, c.AdminEmail) {
		errs = append(errs, errors.New("BANK_EMAIL/ADMIN_EMAIL: must be set and differ"))
	}
	if c.LockWait <= 0 || c.LockTTL <= 0 {
		errs = append(errs, errors.New("LOCK_WAIT/LOCK_TTL: must be positive"))
	}
	for name, d := range map[string]time.Duration{
		"SESSION_TTL": c.SessionTTL, "SWEEP_INTERVAL": c.SweepInterval, "SWEEP_AFTER": c.SweepAfter,
		"TASK_CHECK_INTERVAL": c.TaskCheckInterval, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
		"ACCEPT_TIMEOUT": c.AcceptTimeout, "WITHDRAWAL_TIMEOUT": c.WithdrawalTimeout,
		"ACCESS_TOKEN_TTL": c.AccessTokenTTL, "REFRESH_TOKEN_TTL": c.RefreshTokenTTL,
	} {
		if d <= 0 {
			errs = append(errs, errors.New(name+": must be positive"))
		}
	}
	if c.IdempotencyRetention < 24*time.Hour {
		errs = append(errs, errors.New("IDEMPOTENCY_RETENTION: must be at least 24h (API.md keeps keys at least 24 hours)"))
	}
	if c.WebhookConcurrency < 1 || c.WebhookPerEndpoint < 1 {
		errs = append(errs, errors.New("WEBHOOK_CONCURRENCY/WEBHOOK_PER_ENDPOINT: must be at least 1"))
	}
	for _, d := range c.WebhookBackoff {
		if d <= 0 {
			errs = append(errs, errors.New("WEBHOOK_BACKOFF: every delay must be positive"))
			break
		}
	}
	if len(c.WorkerQueues) == 0 {
		errs = append(errs, errors.New("WORKER_QUEUES: name at least one of operations, webhooks"))
	}
	for _, q := range c.WorkerQueues {
		if q != "operations" && q != "webhooks" {
			errs = append(errs, fmt.Errorf("WORKER_QUEUES: unknown queue %q (want operations, webhooks)", q))
		}
	}
	if c.WorkerConcurrency < 1 {
		errs = append(errs, errors.New("WORKER_CONCURRENCY: must be at least 1"))
	}
	if c.ApplyBatch < 1 || c.ApplyBatch > 1000 || c.ApplyCommitters < 1 {
		errs = append(errs, errors.New("APPLY_BATCH/APPLY_COMMITTERS: batch must be 1 to 1000, committers at least 1"))
	}
	if c.AcceptBatch < 1 || c.AcceptBatch > 1000 || c.AcceptCommitters < 1 {
		errs = append(errs, errors.New("ACCEPT_BATCH/ACCEPT_COMMITTERS: batch must be 1 to 1000, committers at least 1"))
	}
	if c.AcceptMaxPending < 1 {
		errs = append(errs, errors.New("ACCEPT_MAX_PENDING: must be at least 1"))
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is neither an IP address nor a CIDR range", p))
		}
	}
	if c.SignupLimit < 0 || c.LoginAddressLimit < 0 {
		errs = append(errs, errors.New("SIGNUP_LIMIT/LOGIN_ADDRESS_LIMIT: must be 0 (no cap) or more"))
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		errs = append(errs, errors.New("BCRYPT_COST: must be between 4 and 31"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

// Serves reports whether a worker process serves queue q (WORKER_QUEUES).
func (c *Config) Serves(q string) bool {
	return slices.Contains(c.WorkerQueues, q)
}
