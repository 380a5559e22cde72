// Command worker applies accepted operations from the queue to Postgres.
// Run as many as you like. Subcommands: "worker" (or "worker run") runs
// a worker; "worker migrate" applies migrations and exits; "worker audit"
// checks the ledger's invariants and exits non-zero on a violation.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/walletd/wallet/internal/app"
	"github.com/walletd/wallet/internal/config"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/queue"
)

func main() {
	cmd := "run"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	var err error
	switch cmd {
	case "run":
		err = run()
	case "migrate":
		err = migrate()
	case "audit":
		var clean bool
		if clean, err = audit(); err == nil && !clean {
			os.Exit(2)
		}
	default:
		err = fmt.Errorf("unknown command %q (want run, migrate or audit)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// migrate applies pending migrations (app.Open does) and creates the
// start-up accounts, then exits.
func migrate() error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	a, err := app.Open(context.Background(), cfg, app.NewLogger(cfg.LogLevel))
	if err != nil {
		return err
	}
	a.Close()
	fmt.Println("migrations applied")
	return nil
}

// audit checks the ledger's invariants against DATABASE_URL and prints a
// report; it exits 2 when any is broken.
func audit() (bool, error) {
	cfg, err := config.Load()
	if err != nil {
		return false, err
	}
	ctx := context.Background()
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return false, err
	}
	defer pool.Close()
	r, err := postgres.NewStore(pool).Audit(ctx)
	if err != nil {
		return false, err
	}
	r.Print(os.Stdout)
	return r.OK(), nil
}

func run() error {
	a, ctx, stop, err := app.Boot("worker")
	if err != nil {
		return err
	}
	defer stop()
	defer a.Close()
	cfg, log := a.Config, a.Log

	srv := asynq.NewServer(a.RedisOpt, asynq.Config{
		Concurrency:       cfg.WorkerConcurrency,
		Queues:            map[string]int{queue.Name: 1},
		TaskCheckInterval: cfg.TaskCheckInterval,
		// Expiries are scheduled tasks: they are due within a second.
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           retryDelay,
		Logger:                   app.AsynqLogger{Log: log},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			id, _ := asynq.GetTaskID(ctx)
			log.Warn("task failed", slog.String("type", t.Type()), slog.String("operation_id", id), slog.Any("error", err))
		}),
	})
	oauth, err := a.Authorizer(ctx)
	if err != nil {
		return err
	}
	h := &handlers{svc: a.Service, log: log, sweepAfter: cfg.SweepAfter, keyRetention: cfg.IdempotencyRetention, oauth: oauth}
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeApply, h.apply)
	mux.HandleFunc(queue.TypeSweep, h.sweep)
	mux.HandleFunc(queue.TypeHoldExpire, h.expireHold)
	mux.HandleFunc(queue.TypeWithdrawalExpire, h.expireWithdrawal)
	mux.HandleFunc(queue.TypeRequestExpire, h.expireRequest)
	mux.HandleFunc(queue.TypePruneKeys, h.pruneKeys)
	mux.HandleFunc(queue.TypeOAuthMaintain, h.maintainOAuth)

	// Every worker runs a scheduler; Unique keeps one sweep per interval.
	ledgerWork, hookWork := cfg.Serves(queue.Name), cfg.Serves(queue.DeliveryQueue)
	sched := asynq.NewScheduler(a.RedisOpt, &asynq.SchedulerOpts{Logger: app.AsynqLogger{Log: log}, LogLevel: asynq.WarnLevel})
	if err := scheduleLedger(sched, cfg, ledgerWork); err != nil {
		return err
	}
	hookSrv, hookMux, _ := webhookServer(a, log)
	if hookWork {
		if _, err := sched.Register("@every "+relayInterval.String(), asynq.NewTask(queue.TypeRelay, nil),
			asynq.Queue(queue.DeliveryQueue), asynq.Unique(relayInterval), asynq.MaxRetry(0), asynq.Timeout(queue.TaskTimeout)); err != nil {
			return err
		}
	}

	var metricsSrv *http.Server
	if cfg.MetricsAddr != "" {
		l, err := listenMetrics(cfg.MetricsAddr, cfg.MetricsAddrDefault)
		if err != nil {
			return fmt.Errorf("METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		log.Info("metrics listening", slog.String("addr", l.Addr().String()))
		metricsSrv = &http.Server{Handler: promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}),
			ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := metricsSrv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener", slog.Any("error", err))
			}
		}()
	}

	// The applier outlives the asynq server's shutdown, which waits for
	// handlers that wait for their batch.
	if ledgerWork {
		applyCtx, stopApply := context.WithCancel(context.Background())
		committers := a.Service.StartApplier(applyCtx, cfg.ApplyCommitters, cfg.ApplyBatch)
		defer func() {
			stopApply()
			committers.Wait()
		}()
	}

	var started []*asynq.Server
	shutdown := func() {
		for _, s := range slices.Backward(started) {
			s.Shutdown()
		}
	}
	if ledgerWork {
		if err := srv.Start(mux); err != nil {
			return err
		}
		started = append(started, srv)
	}
	if hookWork {
		if err := hookSrv.Start(hookMux); err != nil {
			shutdown()
			return err
		}
		started = append(started, hookSrv)
	}
	if err := sched.Start(); err != nil {
		shutdown()
		return err
	}
	log.Info("worker started", slog.Any("queues", cfg.WorkerQueues), slog.Int("concurrency", cfg.WorkerConcurrency))
	<-ctx.Done()
	log.Info("shutting down: finishing tasks in flight")
	sched.Shutdown()
	shutdown()
	if metricsSrv != nil {
		_ = metricsSrv.Close()
	}
	log.Info("stopped")
	return nil
}

// scheduleLedger registers the ledger's periodic tasks, for a worker that
// serves the operations queue.
func scheduleLedger(sched *asynq.Scheduler, cfg config.Config, serves bool) error {
	if !serves {
		return nil
	}
	if _, err := sched.Register("@every "+cfg.SweepInterval.String(), asynq.NewTask(queue.TypeSweep, nil),
		asynq.Queue(queue.Name), asynq.Unique(cfg.SweepInterval), asynq.MaxRetry(0), asynq.Timeout(queue.TaskTimeout)); err != nil {
		return err
	}
	for _, typ := range []string{queue.TypePruneKeys, queue.TypeOAuthMaintain} {
		if _, err := sched.Register("@every "+pruneInterval.String(), asynq.NewTask(typ, nil),
			asynq.Queue(queue.Name), asynq.Unique(pruneInterval), asynq.MaxRetry(0), asynq.Timeout(queue.TaskTimeout)); err != nil {
			return err
		}
	}
	return nil
}

// retryDelay backs off from 100 ms to 10 s: transient failures (Postgres
// restarting) clear quickly, and the sweeper covers anything longer.
func retryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	d := 100 * time.Millisecond << min(n, 7)
	return min(d, 10*time.Second)
}
