// Command api serves the wallet's HTTP API.
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/hibiken/asynqmon"

	"github.com/walletd/wallet/internal/app"
	"github.com/walletd/wallet/internal/httpapi"
	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/queue"
	"github.com/walletd/wallet/internal/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run() error {
	a, ctx, stop, err := app.Boot("api")
	if err != nil {
		return err
	}
	defer stop()
	defer a.Close()
	cfg, log := a.Config, a.Log
	a.Registry.MustRegister(queue.NewCollector(a.Queue.Inspector()))

	// The acceptor outlives the HTTP server's shutdown, which waits for
	// the requests that wait for their group to be stored.
	stopAccepting := a.Service.StartAcceptor(cfg.AcceptCommitters, cfg.AcceptBatch)
	defer stopAccepting()

	results := a.RedisStore.NewResults(log)
	go results.Run(ctx)

	oauth, err := a.Authorizer(ctx)
	if err != nil {
		return err
	}
	srv := httpapi.New(httpapi.Deps{
		Config: cfg, Service: a.Service, OAuth: oauth, Sessions: a.RedisStore, Results: results, Ready: a.Ready,
		Notifications: &ledger.Notifications{Store: a.Store, Wake: results},
		Webhooks: &ledger.Webhooks{Store: a.Store, NewSecret: webhook.NewSecret,
			CheckURL: func(raw string) error { return webhook.CheckURL(raw, cfg.WebhookAllowPrivate) }},
		Deliveries: &ledger.Deliverer{Store: a.Store, Queue: a.Queue, Log: log},
		Registry:   a.Registry, Log: log, Queues: a.Queue.Inspector().Queues,
		Dashboard: asynqmon.New(asynqmon.Options{RootPath: "/admin/queues", RedisConnOpt: a.RedisOpt, ReadOnly: true}),
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.Listen(cfg.HTTPAddr) }()
	log.Info("listening", slog.String("addr", cfg.HTTPAddr), slog.String("database", postgres.DatabaseName(cfg.DatabaseURL)))

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	if err := srv.Shutdown(cfg.ShutdownTimeout); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
