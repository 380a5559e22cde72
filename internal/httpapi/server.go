// Package httpapi is the HTTP face of the service: the JSON API under
// /api, the server-rendered pages, health, metrics and the queue
// dashboard, on Fiber v2.
package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/walletd/wallet/internal/config"
	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// Sessions keeps sessions, access tokens and the counters of the rate
// limits (login failures, signups).
type Sessions interface {
	// CreateSession starts a session or token; parent, when set, is the
	// token it is minted from, whose end ends it too.
	CreateSession(ctx context.Context, userID string, ttl time.Duration, parent string) (string, wallet.Session, error)
	// Session returns EUnauthorized for an unknown or expired token.
	Session(ctx context.Context, token string) (wallet.Session, error)
	// DeleteSession ends a session and the tokens minted from it.
	DeleteSession(ctx context.Context, token string) error
	// Attempts returns a counter and how long its window still lasts.
	Attempts(ctx context.Context, key string) (int64, time.Duration, error)
	CountAttempt(ctx context.Context, key string, window time.Duration) error
	ResetAttempts(ctx context.Context, key string) error
}

// Watcher tells when an operation has become final.
type Watcher interface {
	Watch(opID string) (<-chan struct{}, func())
}

// Deps is what the server is built from.
type Deps struct {
	Config  config.Config
	Service *ledger.Service
	// OAuth is the authorization server; nil turns OAuth off.
	OAuth *ledger.Authorizer
	// Notifications are the feed and the live updates; nil turns them off.
	Notifications *ledger.Notifications
	// Webhooks registers webhook endpoints; nil turns them off.
	Webhooks *ledger.Webhooks
	// Deliveries shows and retries webhook deliveries.
	Deliveries *ledger.Deliverer
	Sessions   Sessions
	Results    Watcher
	// Dashboard is the asynqmon handler, served to admins at /admin/queues;
	// Queues lists the queue names it can show.
	Dashboard http.Handler
	Queues    func() ([]string, error)
	// Ready checks Postgres and Redis for /readyz.
	Ready    func(ctx context.Context) error
	Registry *prometheus.Registry
	Log      *slog.Logger
}

// Server serves the API.
type Server struct {
	app        *fiber.App
	cfg        config.Config
	svc        *ledger.Service
	oauth      *ledger.Authorizer
	notes      *ledger.Notifications
	hooks      *ledger.Webhooks
	deliveries *ledger.Deliverer
	store      wallet.Store
	sessions   Sessions
	results    Watcher
	ready      func(ctx context.Context) error
	queues     func() ([]string, error)
	log        *slog.Logger
	cur        wallet.Currency

	basic     *basicCache
	principal sync.Map // user id -> principal; users and their wallets never change
	// streams are the live-update streams open per account.
	streams streams
	// closing ends long polls early when the server shuts down.
	closing   chan struct{}
	closeOnce sync.Once

	reqDuration *prometheus.HistogramVec
	accepted    *prometheus.CounterVec
}

// Limits on requests.
const (
	bodyLimit = 64 << 10
	// drainLimit is the largest body the server reads to its end: one
	// over bodyLimit is still read before the 413, so the connection
	// closes cleanly (unread data would make the kernel reset it, and a
	// client still sending could lose the answer); a larger one is
	// refused as its headers arrive.
	drainLimit  = 1 << 20
	maxWait     = 30 * time.Second
	pollEvery   = 500 * time.Millisecond
	defaultPage = 50
	maxPage     = 100
	cookieName  = "wallet_session"
)

// New builds the server and its routes.
func New(d Deps) *Server {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s := &Server{
		cfg: d.Config, svc: d.Service, oauth: d.OAuth, notes: d.Notifications, hooks: d.Webhooks, deliveries: d.Deliveries, store: d.Service.Store, sessions: d.Sessions, results: d.Results,
		ready: d.Ready, queues: d.Queues, log: d.Log, cur: d.Config.Currency,
		basic:   newBasicCache(key, time.Minute),
		closing: make(chan struct{}),
		reqDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route", "status"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_operations_accepted_total",
			Help: "Operations accepted (202) by type; replays not counted.",
		}, []string{"type"}),
	}
	d.Registry.MustRegister(s.reqDuration, s.accepted)

	s.app = fiber.New(s.fiberConfig())
	s.app.Use(s.observe)
	s.app.Use(bodyCap)

	s.app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{})))

	api := s.app.Group("/api", s.apiHeaders, s.checkOrigin)
	api.Post("/signup", s.requireJSON, s.signup)
	api.Post("/login", s.requireJSON, s.login)
	api.Post("/logout", s.need(), s.logout)
	api.Post("/tokens", s.needRole, s.createToken)
	api.Get("/wallet", s.need(wallet.ScopeWalletRead), s.getWallet)
	api.Get("/wallet/operations", s.need(wallet.ScopeWalletRead), s.listOperations)
	api.Post("/external_to_wallet", s.need(wallet.ScopeBankDeposit), s.requireJSON, s.deposit)
	api.Post("/wallet_to_wallet", s.need(wallet.ScopeWalletTransfer), s.requireJSON, s.transfer)
	api.Get("/operations/:id", s.need(wallet.ScopeWalletRead), s.getOperation)
	api.Get("/admin/audit", s.need(wallet.ScopeAdmin), s.audit)
	s.routesBanks(api)
	s.routesHolds(api)
	s.routesPaymentRequests(api)
	s.routesWithdrawals(api)
	s.routesOAuthClients(api)
	s.routesNotifications(api)
	s.routesWebhooks(api)
	api.All("/*", func(c *fiber.Ctx) error { return s.writeError(c, fiber.ErrNotFound) })

	if d.Dashboard != nil {
		dash := adaptor.HTTPHandler(d.Dashboard)
		s.app.All("/admin/queues", pageHeaders, s.requireAdmin, dash)
		s.app.All("/admin/queues/*", pageHeaders, s.requireAdmin, s.knownQueue, dash)
	}
	s.routesWeb()
	s.routesOAuth()
	s.routesOpenAPI()
	return s
}

// fiberConfig is the Fiber configuration of the API.
func (s *Server) fiberConfig() fiber.Config {
	return fiber.Config{
		AppName: "wallet-api",
		// Every string Fiber hands out (c.Method, c.Params, c.Get,
		// c.FormValue, c.Cookies, ...) is a copy, never a view of the
		// request buffer that fasthttp reuses for the next request: a value
		// kept past its request (a cache key, a metric label, a queued
		// accept) must never change under us. server_test.go holds it.
		Immutable:      true,
		BodyLimit:      drainLimit,
		ReadBufferSize: 16 << 10, // request line and headers
		// Multipart bodies are refused by content type; never parse them.
		DisablePreParseMultipartForm: true,
		// Shorter than SHUTDOWN_TIMEOUT's default: a graceful stop waits for
		// connections that opened but never sent a request.
		ReadTimeout:           5 * time.Second,
		WriteTimeout:          maxWait + 10*time.Second,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		ErrorHandler:          func(c *fiber.Ctx, err error) error { return s.writeError(c, err) },
		// X-Forwarded-For, -Host and -Proto count only from TRUSTED_PROXIES
		// (none by default): anyone else could name any client address
		// (the rate limits) or host and scheme (the CSRF origin check).
		EnableTrustedProxyCheck: true,
		TrustedProxies:          s.cfg.TrustedProxies,
		ProxyHeader:             proxyHeader(s.cfg.TrustedProxies),
		EnableIPValidation:      true,
	}
}

// proxyHeader names the header that carries the client address, when a
// proxy is trusted to set it.
func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

// App exposes the Fiber app, for tests.
func (s *Server) App() *fiber.App { return s.app }

// Listen serves on addr until Shutdown.
func (s *Server) Listen(addr string) error { return s.app.Listen(addr) }

// Shutdown stops accepting connections, ends long polls, and waits for the
// requests in flight, so every operation already accepted is stored and
// answered.
func (s *Server) Shutdown(timeout time.Duration) error {
	s.closeOnce.Do(func() { close(s.closing) })
	return s.app.ShutdownWithTimeout(timeout)
}

// knownQueue answers 404 for a dashboard API path that names a queue that
// does not exist, which asynqmon would answer 500.
func (s *Server) knownQueue(c *fiber.Ctx) error {
	rest, ok := strings.CutPrefix(c.Path(), "/admin/queues/api/queues/")
	if !ok || s.queues == nil {
		return c.Next()
	}
	name, _, _ := strings.Cut(rest, "/")
	name, _, _ = strings.Cut(name, ":") // "operations:pause"
	if unescaped, err := url.PathUnescape(name); err == nil {
		name = unescaped
	}
	names, err := s.queues()
	if err != nil {
		return s.writeError(c, err)
	}
	if !slices.Contains(names, name) {
		return s.writeError(c, wallet.Errorf(eNotFound, "there is no queue %q", name))
	}
	return c.Next()
}

// observe records each request's latency under its route pattern, so the
// label set stays small whatever paths clients send.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		_ = s.app.Config().ErrorHandler(c, err)
	}
	route := c.Route().Path
	if strings.HasPrefix(route, "/admin/queues") {
		route = "/admin/queues"
	}
	s.reqDuration.WithLabelValues(c.Method(), route, strconv.Itoa(c.Response().StatusCode())).
		Observe(time.Since(start).Seconds())
	return nil
}

func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.Warn("not ready", slog.Any("error", err))
		return s.writeError(c, wallet.Errorf(wallet.EUnavailable, "not ready: a dependency is unreachable"))
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// apiHeaders keeps API answers out of caches.
func (s *Server) apiHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Content-Type-Options", "nosniff")
	return c.Next()
}

// optionalJSON lets a request without a body through, and holds one with
// a body to requireJSON's rules.
func (s *Server) optionalJSON(c *fiber.Ctx) error {
	if len(c.Request().Body()) == 0 {
		return c.Next()
	}
	return s.requireJSON(c)
}

// requireJSON refuses request bodies that are not JSON.
func (s *Server) requireJSON(c *fiber.Ctx) error {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if ct != fiber.MIMEApplicationJSON {
		return s.writeError(c, wallet.Errorf(eUnsupportedMediaType, "Content-Type must be application/json"))
	}
	// Fiber would inflate a compressed body past the body limit: 64 KiB
	// of gzip can hold many megabytes.
	if enc := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); enc != "" && !strings.EqualFold(enc, "identity") {
		return s.writeError(c, wallet.Errorf(eUnsupportedMediaType, "request bodies must not be compressed (Content-Encoding)"))
	}
	return c.Next()
}
