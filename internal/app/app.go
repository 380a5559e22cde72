// Package app builds what both programs share from the configuration:
// the logger, the Postgres pool (created and migrated), the Redis client,
// the queue client, the metrics registry and the ledger service, and
// makes sure the payment-system and operator accounts exist.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served on PPROF_ADDR only
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/walletd/wallet/internal/config"
	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/metrics"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/queue"
	"github.com/walletd/wallet/internal/redislock"
	"github.com/walletd/wallet/internal/redisstore"
	"github.com/walletd/wallet/internal/wallet"
)

// App holds the shared parts of a running program.
type App struct {
	Config     config.Config
	Log        *slog.Logger
	Pool       *pgxpool.Pool
	Store      *postgres.Store
	Redis      *redis.Client
	RedisOpt   asynq.RedisConnOpt
	RedisStore *redisstore.Store
	Locker     *redislock.Locker
	Queue      *queue.Client
	Registry   *prometheus.Registry
	Service    *ledger.Service
}

// NewLogger returns a JSON logger at the named level.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// Open connects to Postgres (creating and migrating the database) and
// Redis, retrying for up to startTimeout while they come up.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	const startTimeout = 30 * time.Second
	a := &App{Config: cfg, Log: log, Registry: prometheus.NewRegistry()}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	err := retry(ctx, startTimeout, log, "postgres", func() error {
		pool, err := postgres.Open(ctx, cfg.DatabaseURL)
		if err != nil {
			return err
		}
		if err := postgres.Migrate(pool); err != nil {
			pool.Close()
			return err
		}
		a.Pool = pool
		return nil
	})
	if err != nil {
		return nil, err
	}
	a.Store = postgres.NewStore(a.Pool)
	a.Store.WithdrawalTimeout = cfg.WithdrawalTimeout

	a.Redis, a.RedisOpt, err = redisClients(cfg.RedisURL, 64)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("app: REDIS_URL: %w", err)
	}
	if err := retry(ctx, startTimeout, log, "redis", func() error { return a.Redis.Ping(ctx).Err() }); err != nil {
		a.Close()
		return nil, err
	}
	prefix := cfg.PubSubPrefix
	a.RedisStore = redisstore.New(a.Redis, prefix)
	a.Locker = redislock.New(a.Redis, prefix+":", cfg.LockTTL)
	a.Queue = queue.NewClient(a.RedisOpt)

	a.Service = &ledger.Service{
		Store: a.Store, Accounts: a.Store, Locker: a.Locker, Queue: a.Queue, Scheduler: a.Queue, Claims: a.RedisStore,
		Publisher: a.RedisStore, Observer: metrics.NewLedger(a.Registry), Log: log,
		Currency: cfg.Currency, BcryptCost: cfg.BcryptCost, LockWait: cfg.LockWait, AcceptTimeout: cfg.AcceptTimeout,
		MaxPending: cfg.AcceptMaxPending,
	}
	if _, err := a.Service.EnsureAccount(ctx, wallet.RoleBank, cfg.BankName, cfg.BankEmail, cfg.BankPassword); err != nil {
		a.Close()
		return nil, fmt.Errorf("app: payment-system account: %w", err)
	}
	if _, err := a.Service.EnsureAccount(ctx, wallet.RoleAdmin, "Operator", cfg.AdminEmail, cfg.AdminPassword); err != nil {
		a.Close()
		return nil, fmt.Errorf("app: operator account: %w", err)
	}
	return a, nil
}

func retry(ctx context.Context, timeout time.Duration, log *slog.Logger, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("app: %s: %w", what, err)
		}
		log.Warn("waiting for "+what, slog.Any("error", err))
		select {
		case <-ctx.Done():
			return fmt.Errorf("app: %s: %w", what, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// Ready checks Postgres and Redis.
func (a *App) Ready(ctx context.Context) error {
	return errors.Join(a.Pool.Ping(ctx), a.Redis.Ping(ctx).Err())
}

// Close releases every connection.
func (a *App) Close() {
	if a.Queue != nil {
		_ = a.Queue.Close()
	}
	if a.Redis != nil {
		_ = a.Redis.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
}

// AsynqLogger adapts slog to asynq's logger.
type AsynqLogger struct{ Log *slog.Logger }

func (l AsynqLogger) line(args []any) string { return strings.TrimSpace(fmt.Sprintln(args...)) }

// Debug implements asynq.Logger.
func (l AsynqLogger) Debug(args ...any) { l.Log.Debug(l.line(args), slog.String("component", "asynq")) }

// Info implements asynq.Logger.
func (l AsynqLogger) Info(args ...any) { l.Log.Info(l.line(args), slog.String("component", "asynq")) }

// Warn implements asynq.Logger.
func (l AsynqLogger) Warn(args ...any) { l.Log.Warn(l.line(args), slog.String("component", "asynq")) }

// Error implements asynq.Logger.
func (l AsynqLogger) Error(args ...any) { l.Log.Error(l.line(args), slog.String("component", "asynq")) }

// Fatal implements asynq.Logger.
func (l AsynqLogger) Fatal(args ...any) {
	l.Log.Error(l.line(args), slog.String("component", "asynq"))
	os.Exit(1)
}

// Boot is the start of both programs' main: it reads the configuration,
// builds the logger (tagged with program), opens everything, and returns
// a context that ends on SIGINT or SIGTERM. Call stop and Close when done.
func Boot(program string) (a *App, ctx context.Context, stop context.CancelFunc, err error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, nil, nil, err
	}
	log := NewLogger(cfg.LogLevel).With(slog.String("program", program))
	ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if a, err = Open(ctx, cfg, log); err != nil {
		stop()
		return nil, nil, nil, err
	}
	if cfg.PprofAddr != "" {
		go func() {
			// The default mux holds net/http/pprof's handlers only.
			srv := &http.Server{Addr: cfg.PprofAddr, ReadHeaderTimeout: 5 * time.Second}
			log.Warn("pprof listener stopped", slog.Any("error", srv.ListenAndServe()))
		}()
	}
	return a, ctx, stop, nil
}
