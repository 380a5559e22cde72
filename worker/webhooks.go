package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/walletd/wallet/internal/app"
	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/metrics"
	"github.com/walletd/wallet/internal/queue"
	"github.com/walletd/wallet/internal/webhook"
)

// relayInterval is how often the relay turns new notifications into
// webhook deliveries (once across the workers, by Unique).
const relayInterval = time.Second

// webhookServer runs webhook deliveries on an asynq server of their own
// (queue "webhooks", WEBHOOK_CONCURRENCY tasks): slow endpoints never
// take the goroutines that apply operations.
func webhookServer(a *app.App, log *slog.Logger) (*asynq.Server, *asynq.ServeMux, *ledger.Deliverer) {
	cfg := a.Config
	client := webhook.NewClient(cfg.WebhookAllowPrivate)
	d := &ledger.Deliverer{
		Store: a.Store, Queue: a.Queue, Currency: cfg.Currency, Log: log, Backoff: cfg.WebhookBackoff,
		PerEndpoint: cfg.WebhookPerEndpoint, Observer: metrics.NewWebhooks(a.Registry),
		Send: func(ctx context.Context, url, secret, id string, now time.Time, body []byte) ledger.SendResult {
			r := client.Send(ctx, url, secret, id, now, body)
			return ledger.SendResult{Status: r.Status, RetryAfter: r.RetryAfter, Err: r.Err}
		},
	}
	srv := asynq.NewServer(a.RedisOpt, asynq.Config{
		Concurrency: cfg.WebhookConcurrency,
		Queues:      map[string]int{queue.DeliveryQueue: 1},
		// Deliveries may wait longer than operations for an idle worker
		// to look: ten of its operation polls (50 ms at the default), so
		// that the pool rule for TASK_CHECK_INTERVAL (5 ms × workers)
		// keeps this queue's polling at one worker's too.
		TaskCheckInterval:        10 * cfg.TaskCheckInterval,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          cfg.ShutdownTimeout,
		RetryDelayFunc:           retryDelay,
		Logger:                   app.AsynqLogger{Log: log},
		LogLevel:                 asynq.WarnLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeDeliver, func(ctx context.Context, t *asynq.Task) error {
		p, err := queue.DecodeDeliver(t.Payload())
		if err != nil {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry)
		}
		return d.Deliver(ctx, p.IDs)
	})
	mux.HandleFunc(queue.TypeRelay, func(ctx context.Context, _ *asynq.Task) error {
		n, err := d.Relay(ctx)
		if err != nil {
			return err
		}
		swept, err := d.Sweep(ctx)
		if n > 0 || swept > 0 {
			log.Debug("webhook relay", slog.Int("relayed", n), slog.Int("swept", swept))
		}
		return err
	})
	return srv, mux, d
}
