package config_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/walletd/wallet/internal/config"
	"github.com/walletd/wallet/internal/wallet"
)

// defaults returns the Config that an empty environment gives, without
// reading the process's environment, so tests that use it can run in
// parallel.
func defaults(t *testing.T) config.Config {
	t.Helper()
	var c config.Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		t.Fatalf("parse defaults: %v", err)
	}
	return c
}

func TestValidateDefaults(t *testing.T) {
	t.Parallel()
	c := defaults(t)
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Production() {
		t.Error("defaults are production")
	}
	if c.Currency != (wallet.Currency{Code: "RUB", Digits: 2}) {
		t.Errorf("Currency = %+v, want RUB with 2 digits", c.Currency)
	}
	if c.MaxAmount != 100_000_000 {
		t.Errorf("MaxAmount = %d, want 100000000 (1000000.00 RUB)", c.MaxAmount)
	}
	if c.RedisDB != 0 || c.PubSubPrefix != "wallet:db0" {
		t.Errorf("RedisDB, PubSubPrefix = %d, %q; want 0, wallet:db0", c.RedisDB, c.PubSubPrefix)
	}
	if c.LockWait <= 0 || c.LockTTL <= c.LockWait {
		t.Errorf("LockWait %v, LockTTL %v: a lock must outlive the wait for it", c.LockWait, c.LockTTL)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  func(*config.Config)
		// wantErr is a variable name the error must mention; "" means valid.
		wantErr string
	}{
		{"defaults", func(*config.Config) {}, ""},
		{"test env", func(c *config.Config) { c.AppEnv = "test" }, ""},
		{"unknown env", func(c *config.Config) { c.AppEnv = "staging" }, "APP_ENV"},
		{"production with dev passwords", func(c *config.Config) { c.AppEnv = "production" }, "BANK_PASSWORD"},
		{"production with the dev bank password", func(c *config.Config) {
			c.AppEnv, c.AdminPassword = "production", "a-real-admin-secret"
		}, "BANK_PASSWORD"},
		{"production with the dev admin password", func(c *config.Config) {
			c.AppEnv, c.BankPassword = "production", "a-real-bank-secret"
		}, "ADMIN_PASSWORD"},
		{"production with real passwords", func(c *config.Config) {
			c.AppEnv, c.BankPassword, c.AdminPassword = "production", "a-real-bank-secret", "a-real-admin-secret"
			c.OAuthSigningKeys = "k1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		}, ""},
		{"production without signing keys", func(c *config.Config) {
			c.AppEnv, c.BankPassword, c.AdminPassword = "production", "a-real-bank-secret", "a-real-admin-secret"
		}, "OAUTH_SIGNING_KEYS"},
		{"production allowing private webhooks", func(c *config.Config) {
			c.AppEnv, c.BankPassword, c.AdminPassword = "production", "a-real-bank-secret", "a-real-admin-secret"
			c.OAuthSigningKeys, c.WebhookAllowPrivate = "k1=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true
		}, "WEBHOOK_ALLOW_PRIVATE"},
		{"OAUTH_ISSUER https", func(c *config.Config) { c.OAuthIssuer = "https://wallet.example.com" }, ""},
		{"OAUTH_ISSUER with a trailing slash", func(c *config.Config) { c.OAuthIssuer = "https://wallet.example.com/" }, "OAUTH_ISSUER"},
		{"OAUTH_ISSUER with a query", func(c *config.Config) { c.OAuthIssuer = "https://wallet.example.com?x=1" }, "OAUTH_ISSUER"},
		{"OAUTH_ISSUER not a URL", func(c *config.Config) { c.OAuthIssuer = "wallet" }, "OAUTH_ISSUER"},
		{"zero ACCESS_TOKEN_TTL", func(c *config.Config) { c.AccessTokenTTL = 0 }, "ACCESS_TOKEN_TTL"},
		{"negative REFRESH_TOKEN_TTL", func(c *config.Config) { c.RefreshTokenTTL = -time.Hour }, "REFRESH_TOKEN_TTL"},
		{"short password", func(c *config.Config) { c.BankPassword = "short" }, "BANK_PASSWORD"},
		{"same bank and admin email", func(c *config.Config) { c.AdminEmail = strings.ToUpper(c.BankEmail) }, "ADMIN_EMAIL"},
		{"no bank email", func(c *config.Config) { c.BankEmail = "" }, "BANK_EMAIL"},
		{"a worker for the webhooks alone", func(c *config.Config) { c.WorkerQueues = []string{"webhooks"} }, ""},
		{"a worker for no queue", func(c *config.Config) { c.WorkerQueues = nil }, "WORKER_QUEUES"},
		{"a worker for an unknown queue", func(c *config.Config) { c.WorkerQueues = []string{"operations", "emails"} }, "WORKER_QUEUES"},
		{"unknown currency", func(c *config.Config) { c.CurrencyCode = "XXX" }, "CURRENCY"},
		{"lower-case currency", func(c *config.Config) { c.CurrencyCode = "rub" }, "CURRENCY"},
		{"empty currency", func(c *config.Config) { c.CurrencyCode = "" }, "CURRENCY"},
		{"other currency", func(c *config.Config) { c.CurrencyCode, c.MaxAmountText = "JPY", "5000000" }, ""},
		{"MAX_AMOUNT not a number", func(c *config.Config) { c.MaxAmountText = "lots" }, "MAX_AMOUNT"},
		{"MAX_AMOUNT negative", func(c *config.Config) { c.MaxAmountText = "-1.00" }, "MAX_AMOUNT"},
		{"MAX_AMOUNT zero", func(c *config.Config) { c.MaxAmountText = "0" }, "MAX_AMOUNT"},
		{"MAX_AMOUNT empty", func(c *config.Config) { c.MaxAmountText = "" }, "MAX_AMOUNT"},
		{"MAX_AMOUNT too precise", func(c *config.Config) { c.MaxAmountText = "1.001" }, "MAX_AMOUNT"},
		{"MAX_AMOUNT with cents for JPY", func(c *config.Config) { c.CurrencyCode = "JPY" }, "MAX_AMOUNT"},
		{"MAX_AMOUNT exponent", func(c *config.Config) { c.MaxAmountText = "1e6" }, "MAX_AMOUNT"},
		{"REDIS_URL http", func(c *config.Config) { c.RedisURL = "http://localhost:6379/0" }, "REDIS_URL"},
		{"REDIS_URL without scheme", func(c *config.Config) { c.RedisURL = "localhost:6379" }, "REDIS_URL"},
		{"REDIS_URL unparsable", func(c *config.Config) { c.RedisURL = "redis://[::1" }, "REDIS_URL"},
		{"REDIS_URL empty", func(c *config.Config) { c.RedisURL = "" }, "REDIS_URL"},
		{"REDIS_URL db not a number", func(c *config.Config) { c.RedisURL = "redis://localhost:6379/abc" }, "REDIS_URL"},
		{"REDIS_URL negative db", func(c *config.Config) { c.RedisURL = "redis://localhost:6379/-1" }, "REDIS_URL"},
		{"REDIS_URL rediss", func(c *config.Config) { c.RedisURL = "rediss://cache.example.com:6380/2" }, ""},
		{"negative LOCK_WAIT", func(c *config.Config) { c.LockWait = -time.Second }, "LOCK_WAIT"},
		{"zero LOCK_WAIT", func(c *config.Config) { c.LockWait = 0 }, "LOCK_WAIT"},
		{"zero SESSION_TTL", func(c *config.Config) { c.SessionTTL = 0 }, "SESSION_TTL"},
		{"negative SWEEP_AFTER", func(c *config.Config) { c.SweepAfter = -time.Second }, "SWEEP_AFTER"},
		{"zero TASK_CHECK_INTERVAL", func(c *config.Config) { c.TaskCheckInterval = 0 }, "TASK_CHECK_INTERVAL"},
		{"negative LOCK_TTL", func(c *config.Config) { c.LockTTL = -time.Second }, "LOCK_TTL"},
		{"zero WORKER_CONCURRENCY", func(c *config.Config) { c.WorkerConcurrency = 0 }, "WORKER_CONCURRENCY"},
		{"BCRYPT_COST too low", func(c *config.Config) { c.BcryptCost = 3 }, "BCRYPT_COST"},
		{"BCRYPT_COST too high", func(c *config.Config) { c.BcryptCost = 32 }, "BCRYPT_COST"},
		{"BCRYPT_COST lowest", func(c *config.Config) { c.BcryptCost = 4 }, ""},
		{"zero ACCEPT_TIMEOUT", func(c *config.Config) { c.AcceptTimeout = 0 }, "ACCEPT_TIMEOUT"},
		{"TRUSTED_PROXIES IPs and ranges", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.1", "192.168.0.0/16", "::1"} }, ""},
		{"TRUSTED_PROXIES a host name", func(c *config.Config) { c.TrustedProxies = []string{"proxy.internal"} }, "TRUSTED_PROXIES"},
		{"TRUSTED_PROXIES a bad range", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.0/33"} }, "TRUSTED_PROXIES"},
		{"negative SIGNUP_LIMIT", func(c *config.Config) { c.SignupLimit = -1 }, "SIGNUP_LIMIT"},
		{"no signup cap", func(c *config.Config) { c.SignupLimit, c.LoginAddressLimit = 0, 0 }, ""},
	}
	for _, tt := range tests {
		c := defaults(t)
		tt.set(&c)
		err := c.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: Validate: %v, want no error", tt.name, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("%s: Validate accepted %+v", tt.name, c)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("%s: Validate: %v, want an error about %s", tt.name, err, tt.wantErr)
		}
	}
}

// Validate reports every problem at once, not only the first.
func TestValidateReportsAll(t *testing.T) {
	t.Parallel()
	c := defaults(t)
	c.CurrencyCode, c.RedisURL, c.LockWait = "XXX", "http://x", -1
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted three bad values")
	}
	for _, name := range []string{"CURRENCY", "REDIS_URL", "LOCK_WAIT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Validate error %q does not mention %s", err, name)
		}
	}
}

func TestValidateRedisDB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url        string
		prefix     string // PUBSUB_PREFIX as set; "" derives it
		wantDB     int
		wantPrefix string
	}{
		{"redis://h:6379/7", "", 7, "wallet:db7"},
		{"redis://h:6379/0", "", 0, "wallet:db0"},
		{"redis://h:6379", "", 0, "wallet:db0"},
		{"redis://h:6379/", "", 0, "wallet:db0"},
		{"redis://user:pass@h:6379/15", "", 15, "wallet:db15"},
		{"rediss://h:6380/3", "", 3, "wallet:db3"},
		{"redis://h:6379/7", "staging", 7, "staging"},
	}
	for _, tt := range tests {
		c := defaults(t)
		c.RedisURL, c.PubSubPrefix = tt.url, tt.prefix
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", tt.url, err)
			continue
		}
		if c.RedisDB != tt.wantDB || c.PubSubPrefix != tt.wantPrefix {
			t.Errorf("%s (PUBSUB_PREFIX %q): RedisDB, PubSubPrefix = %d, %q; want %d, %q",
				tt.url, tt.prefix, c.RedisDB, c.PubSubPrefix, tt.wantDB, tt.wantPrefix)
		}
	}
}

// clearEnv unsets every variable Config reads for the rest of the test
// (t.Setenv restores them afterwards), so the caller's environment, such
// as the Makefile's DATABASE_URL and REDIS_URL, does not leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		t.Setenv(name, "")
		if err := os.Unsetenv(name); err != nil {
			t.Fatal(err)
		}
	}
}

// The Load tests change the environment, so they cannot run in parallel.

func TestLoad(t *testing.T) {
	clearEnv(t)
	env := map[string]string{
		"APP_ENV":            "test",
		"REDIS_URL":          "redis://cache:6379/4",
		"CURRENCY":           "KWD",
		"MAX_AMOUNT":         "2500.125",
		"LOCK_WAIT":          "750ms",
		"LOCK_TTL":           "3s",
		"WORKER_CONCURRENCY": "3",
		"HTTP_ADDR":          "127.0.0.1:9000",
		"METRICS_ADDR":       "127.0.0.1:9100",
		"SESSION_TTL":        "1h",
		"TRUSTED_PROXIES":    "10.0.0.1,172.16.0.0/12",
		"SIGNUP_LIMIT":       "5",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	c, err := config.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"AppEnv", c.AppEnv, "test"},
		{"RedisURL", c.RedisURL, "redis://cache:6379/4"},
		{"RedisDB", c.RedisDB, 4},
		{"PubSubPrefix", c.PubSubPrefix, "wallet:db4"},
		{"Currency", c.Currency, wallet.Currency{Code: "KWD", Digits: 3}},
		{"MaxAmount", c.MaxAmount, wallet.Amount(2_500_125)},
		{"LockWait", c.LockWait, 750 * time.Millisecond},
		{"LockTTL", c.LockTTL, 3 * time.Second},
		{"WorkerConcurrency", c.WorkerConcurrency, 3},
		{"HTTPAddr", c.HTTPAddr, "127.0.0.1:9000"},
		{"MetricsAddr", c.MetricsAddr, "127.0.0.1:9100"},
		{"SessionTTL", c.SessionTTL, time.Hour},
		{"TrustedProxies", strings.Join(c.TrustedProxies, " "), "10.0.0.1 172.16.0.0/12"},
		{"SignupLimit", c.SignupLimit, 5},
		{"LoginAddressLimit", c.LoginAddressLimit, 100},
		{"AcceptTimeout", c.AcceptTimeout, 5 * time.Second},
		// Unset variables take their defaults.
		{"DatabaseURL", c.DatabaseURL, "postgres://postgres@localhost:5432/wallet?sslmode=disable"},
		{"BcryptCost", c.BcryptCost, 10},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadMetricsAddr(t *testing.T) {
	tests := []struct {
		name  string
		set   bool
		value string
		want  string
	}{
		{"unset takes the default", false, "", ":9091"},
		{"empty disables it", true, "", ""},
		{"set", true, ":9999", ":9999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			if tt.set {
				t.Setenv("METRICS_ADDR", tt.value)
			}
			c, err := config.Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.MetricsAddr != tt.want {
				t.Errorf("MetricsAddr = %q, want %q", c.MetricsAddr, tt.want)
			}
			if c.MetricsAddrDefault == tt.set {
				t.Errorf("MetricsAddrDefault = %v with METRICS_ADDR set: %v", c.MetricsAddrDefault, tt.set)
			}
		})
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"production with dev passwords", map[string]string{"APP_ENV": "production"}, "BANK_PASSWORD"},
		{"negative LOCK_WAIT", map[string]string{"LOCK_WAIT": "-1s"}, "LOCK_WAIT"},
		// The variable is named, not the Go field, with the value.
		{"LOCK_WAIT not a duration", map[string]string{"LOCK_WAIT": "soon"}, `LOCK_WAIT: unable to parse duration: time: invalid duration "soon"`},
		{"WORKER_CONCURRENCY not a number", map[string]string{"WORKER_CONCURRENCY": "many"}, `WORKER_CONCURRENCY: "many" is not a number`},
		{"unknown currency", map[string]string{"CURRENCY": "ZZZ"}, "CURRENCY"},
		{"keys kept less than a day", map[string]string{"IDEMPOTENCY_RETENTION": "23h"}, "IDEMPOTENCY_RETENTION: must be at least 24h"},
		{"no backlog allowed", map[string]string{"ACCEPT_MAX_PENDING": "0"}, "ACCEPT_MAX_PENDING: must be at least 1"},
		{"bad REDIS_URL", map[string]string{"REDIS_URL": "tcp://localhost:6379"}, "REDIS_URL"},
		{"sentinels without a master name", map[string]string{"REDIS_URL": "redis-sentinel://127.0.0.1:26379/0"}, "REDIS_URL: redis-sentinel://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := config.Load()
			if err == nil {
				t.Fatalf("Load accepted %v: %+v", tt.env, c)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Load: %v, want an error about %s", err, tt.wantErr)
			}
			for _, field := range []string{"LockWait", "WorkerConcurrency", "MaxAmountText"} {
				if strings.Contains(err.Error(), field) {
					t.Errorf("Load: %v names the Go field %s", err, field)
				}
			}
			if !reflect.DeepEqual(c, config.Config{}) {
				t.Errorf("Load returned %+v with its error, want the zero Config", c)
			}
		})
	}
}
