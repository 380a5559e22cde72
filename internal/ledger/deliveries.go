package ledger

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// Webhook deliveries (API-EVENTS.md): the relay turns the outbox's
// notifications into deliveries (rows in Postgres, one per endpoint and
// event) and asynq tasks; a task sends one attempt and records it; the
// sweep re-enqueues what the queue lost. Postgres holds each delivery's
// state and next attempt, so a flushed Redis or a killed worker only
// delays a delivery.

// DeliveryQueue enqueues delivery attempts (internal/queue).
type DeliveryQueue interface {
	// EnqueueDelivery enqueues attempt n of a delivery at at; the same
	// attempt enqueued twice is one task, unless again (the attempt's own
	// task putting it off).
	EnqueueDelivery(ctx context.Context, id string, n int, at time.Time, again bool) error
}

// SendResult is one attempt's answer (internal/webhook).
type SendResult struct {
	Status     int
	RetryAfter time.Duration
	Err        error
}

// DeliveryObserver counts deliveries for metrics; all methods cheap.
type DeliveryObserver interface {
	Relayed(n int)
	Attempted(status int, failed bool, latency time.Duration)
}

// Deliverer sends webhook deliveries.
type Deliverer struct {
	Store    wallet.DeliveryStore
	Queue    DeliveryQueue
	Send     func(ctx context.Context, url, secret, id string, now time.Time, body []byte) SendResult
	Currency wallet.Currency
	Observer DeliveryObserver
	Log      *slog.Logger
	// Backoff are the delays before the second, third, ... attempt; past
	// the last, a delivery fails. Nil means DefaultBackoff.
	Backoff []time.Duration
	// PerEndpoint bounds the attempts in flight to one endpoint in this
	// process, so a slow endpoint never holds every worker.
	PerEndpoint int
	Now         func() time.Time

	mu       sync.Mutex
	inFlight map[string]int
}

// DefaultBackoff is the contract's schedule: about 5 s, 5 min, 30 min,
// 2 h, 5 h, 10 h, 10 h.
var DefaultBackoff = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// busyRetry is how soon an attempt that found its endpoint at its limit
// tries again.
const busyRetry = time.Second

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) backoff() []time.Duration {
	if d.Backoff != nil {
		return d.Backoff
	}
	return DefaultBackoff
}

// Relay turns new notifications into deliveries and enqueues their
// first attempts; it returns how many it made.
func (d *Deliverer) Relay(ctx context.Context) (int, error) {
	now := d.now()
	ds, err := d.Store.RelayDeliveries(ctx, now, 5000)
	if err != nil {
		return 0, err
	}
	for _, del := range ds {
		if err := d.Queue.EnqueueDelivery(ctx, del.ID, 1, now, false); err != nil {
			// Stored: the sweep enqueues it.
			d.Log.Warn("enqueue a delivery (the sweep will)", slog.String("delivery_id", del.ID), slog.Any("error", err))
		}
	}
	if d.Observer != nil && len(ds) > 0 {
		d.Observer.Relayed(len(ds))
	}
	return len(ds), nil
}

// Sweep re-enqueues pending deliveries whose attempt is overdue by more
// than grace: their task was lost (a flushed Redis) or never enqueued.
func (d *Deliverer) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	ds, err := d.Store.DueDeliveries(ctx, d.now().Add(-grace), 1000)
	if err != nil {
		return 0, err
	}
	for _, del := range ds {
		if err := d.Queue.EnqueueDelivery(ctx, del.ID, del.Attempts+1, d.now(), false); err != nil {
			return 0, err
		}
	}
	return len(ds), nil
}

// acquire takes one of the endpoint's in-flight places in this process.
func (d *Deliverer) acquire(webhookID string) (release func(), ok bool) {
	limit := d.PerEndpoint
	if limit <= 0 {
		limit = 4
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inFlight == nil {
		d.inFlight = map[string]int{}
	}
	if d.inFlight[webhookID] >= limit {
		return nil, false
	}
	d.inFlight[webhookID]++
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.inFlight[webhookID]--; d.inFlight[webhookID] <= 0 {
			delete(d.inFlight, webhookID)
		}
	}, true
}

// Deliver makes the next attempt of a delivery, if it is pending and due,
// records its outcome and enqueues the attempt after it. A task for an
// attempt already made, or for a delivery no longer pending, does
// nothing.
func (d *Deliverer) Deliver(ctx context.Context, id string) error {
	w, err := d.Store.DeliveryWork(ctx, id)
	if wallet.ErrorCode(err) == wallet.EDeliveryNotFound {
		return nil // its endpoint was deleted
	}
	if err != nil {
		return err
	}
	del := w.Delivery
	if del.Status != wallet.DeliveryPending {
		return nil
	}
	now := d.now()
	n := del.Attempts + 1
	if del.NextAttemptAt != nil && del.NextAttemptAt.After(now) {
		return d.Queue.EnqueueDelivery(ctx, id, n, *del.NextAttemptAt, true) // early: wait for its time
	}
	if w.Disabled {
		_, err := d.Store.RecordAttempt(ctx, id, n, wallet.Attempt{Status: wallet.DeliveryFailed, Error: "the endpoint is disabled (it answered 410 Gone)"})
		return err
	}
	release, ok := d.acquire(w.Webhook.ID)
	if !ok {
		return d.Queue.EnqueueDelivery(ctx, id, n, now.Add(busyRetry), true)
	}
	body, err := json.Marshal(ViewEvent(w.Event, d.Currency))
	if err != nil {
		release()
		return err
	}
	start := time.Now()
	res := d.Send(ctx, w.Webhook.URL, w.Webhook.Secret, w.Event.ID, now, body)
	release()
	a := wallet.Attempt{StatusCode: res.Status}
	ok = res.Err == nil && res.Status >= 200 && res.Status < 300
	switch {
	case ok:
		a.Status = wallet.DeliverySucceeded
	case res.Status == 410:
		a.Status, a.Disable, a.Error = wallet.DeliveryFailed, true, "410 Gone: the endpoint is disabled"
	default:
		if res.Err != nil {
			a.Error = res.Err.Error()
		} else {
			a.Error = "answered " + httpStatusText(res.Status)
		}
		backoff := d.backoff()
		if n > len(backoff) {
			a.Status = wallet.DeliveryFailed
		} else {
			wait := max(backoff[n-1], res.RetryAfter)
			next := d.now().Add(wait)
			a.Status, a.NextAttemptAt = wallet.DeliveryPending, &next
		}
	}
	if d.Observer != nil {
		d.Observer.Attempted(res.Status, !ok, time.Since(start))
	}
	recorded, err := d.Store.RecordAttempt(ctx, id, n, a)
	if err != nil || !recorded || a.NextAttemptAt == nil {
		return err
	}
	return d.Queue.EnqueueDelivery(ctx, id, n+1, *a.NextAttemptAt, false)
}

func httpStatusText(status int) string {
	if status == 0 {
		return "nothing"
	}
	return "HTTP " + strconv.Itoa(status)
}

// Deliveries is an endpoint's delivery log, newest first.
func (d *Deliverer) Deliveries(ctx context.Context, userID, webhookID, before string, limit int) ([]wallet.Delivery, error) {
	return d.Store.Deliveries(ctx, userID, webhookID, before, limit)
}

// Retry schedules one of the user's deliveries again now, whatever its
// status (a succeeded one is sent again).
func (d *Deliverer) Retry(ctx context.Context, userID, webhookID, id string) (wallet.Delivery, error) {
	now := d.now()
	del, err := d.Store.RetryDelivery(ctx, userID, webhookID, id, now)
	if err != nil {
		return del, err
	}
	if err := d.Queue.EnqueueDelivery(ctx, del.ID, del.Attempts+1, now, false); err != nil {
		d.Log.Warn("enqueue a retried delivery (the sweep will)", slog.String("delivery_id", del.ID), slog.Any("error", err))
	}
	return del, nil
}
