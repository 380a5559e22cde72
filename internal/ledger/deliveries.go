package ledger

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// Webhook deliveries (API-EVENTS.md): the relay turns the outbox's
// notifications into deliveries (rows in Postgres, one per endpoint and
// event, each with its place in the schedule) and asynq tasks, one per
// batch of deliveries; a task loads those of its deliveries still pending
// and due, sends them side by side (at most PerEndpoint at a time to one
// endpoint), records the outcomes as they come (those that come together
// in one statement) and enqueues the retries; the sweep re-enqueues what
// the queue lost. Postgres holds each delivery's state and next attempt, so a
// flushed Redis or a killed worker only delays a delivery. The asynq and
// Postgres work thus follows batches, not events: what is left per
// delivery is its HTTP request.

// DeliveryQueue enqueues delivery attempts (internal/queue).
type DeliveryQueue interface {
	// EnqueueDeliveries enqueues one task for a batch of deliveries, due
	// at at.
	EnqueueDeliveries(ctx context.Context, ids []string, at time.Time) error
}

// DeliveryBatch is how many deliveries one task carries at most.
const DeliveryBatch = 64

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

// busyRetry is how soon a delivery that found its endpoint at its limit
// tries again.
const busyRetry = time.Second

// sendBudget is how long a batch starts new attempts; with an attempt's
// 10 s timeout, a batch ends well within its task's timeout.
const sendBudget = 10 * time.Second

// recordWindow is how long a batch waits for more outcomes before it
// records those it has.
const recordWindow = 20 * time.Millisecond

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

// relayLimit is how many notifications one relay transaction reads at
// most, and relayRounds how many transactions one Relay runs while they
// come back full: with the relay's task once a second, the outbox is
// relayed at up to relayLimit × relayRounds events a second (a holds
// operation alone makes four).
const (
	relayLimit  = 5000
	relayRounds = 8
)

// Relay turns new notifications into deliveries and enqueues their
// first attempts, a task per batch; it returns how many it made.
func (d *Deliverer) Relay(ctx context.Context) (int, error) {
	made := 0
	for range relayRounds {
		now := d.now()
		ds, more, err := d.Store.RelayDeliveries(ctx, now, relayLimit)
		if err != nil {
			return made, err
		}
		for batch := range slices.Chunk(ds, DeliveryBatch) {
			if err := d.Queue.EnqueueDeliveries(ctx, deliveryIDs(batch), now); err != nil {
				// Stored: the sweep enqueues them.
				d.Log.Warn("enqueue deliveries (the sweep will)", slog.Int("deliveries", len(batch)), slog.Any("error", err))
			}
		}
		if d.Observer != nil && len(ds) > 0 {
			d.Observer.Relayed(len(ds))
		}
		made += len(ds)
		if !more || ctx.Err() != nil {
			break
		}
	}
	return made, nil
}

func deliveryIDs(ds []wallet.Delivery) []string {
	ids := make([]string, len(ds))
	for i, del := range ds {
		ids[i] = del.ID
	}
	return ids
}

// Sweep re-enqueues pending deliveries whose attempt should have been
// recorded by now (wallet.DeliveryLease after it was due): their task was
// lost (a flushed Redis) or never enqueued, or the process sending them
// died. Taking them gives them another lease, so the next sweep leaves
// them to the task it enqueues.
func (d *Deliverer) Sweep(ctx context.Context) (int, error) {
	ds, err := d.Store.DueDeliveries(ctx, d.now(), 1000)
	if err != nil {
		return 0, err
	}
	for batch := range slices.Chunk(ds, DeliveryBatch) {
		if err := d.Queue.EnqueueDeliveries(ctx, deliveryIDs(batch), d.now()); err != nil {
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

// Deliver makes the next attempt of each of a batch's deliveries that is
// still pending and due (what another task or an earlier attempt took is
// left alone), records their outcomes and enqueues the attempts after
// them.
//
// A batch's deliveries to one endpoint go out over the places that
// endpoint has free in this process (PerEndpoint in all), one after
// another on each; an endpoint with none free, or one still busy when
// the batch's sending time is up, has the rest put off by busyRetry.
// Outcomes are recorded as they come, together when they come close
// together, so a slow endpoint never holds back another's records.
func (d *Deliverer) Deliver(ctx context.Context, ids []string) error {
	now := d.now()
	work, err := d.Store.ClaimDeliveries(ctx, ids, now)
	if err != nil || len(work) == 0 {
		return err
	}
	// A delivery put off is due busyRetry from when it was put off (the
	// batch's sending time may be over by then).
	putOff := func(w wallet.DeliveryWork) wallet.Attempt {
		later := d.now().Add(busyRetry)
		return wallet.Attempt{DeliveryID: w.Delivery.ID, N: w.Delivery.Attempts, Status: wallet.DeliveryPending, NextAttemptAt: &later}
	}
	var decided []wallet.Attempt
	byEndpoint := map[string][]wallet.DeliveryWork{}
	var endpoints []string
	for _, w := range work {
		switch {
		case w.Disabled:
			decided = append(decided, wallet.Attempt{DeliveryID: w.Delivery.ID, N: w.Delivery.Attempts + 1, Made: true,
				Status: wallet.DeliveryFailed, Error: "the endpoint is disabled (it answered 410 Gone)"})
		default:
			if byEndpoint[w.Webhook.ID] == nil {
				endpoints = append(endpoints, w.Webhook.ID)
			}
			byEndpoint[w.Webhook.ID] = append(byEndpoint[w.Webhook.ID], w)
		}
	}
	results := make(chan wallet.Attempt, len(work))
	deadline := time.Now().Add(sendBudget)
	sending := 0
	for _, id := range endpoints {
		list := byEndpoint[id]
		// Take as many of the endpoint's places as it has deliveries here.
		var releases []func()
		for range list {
			release, ok := d.acquire(id)
			if !ok {
				break
			}
			releases = append(releases, release)
		}
		if len(releases) == 0 {
			for _, w := range list {
				decided = append(decided, putOff(w))
			}
			continue
		}
		sending += len(list)
		next := make(chan wallet.DeliveryWork, len(list))
		for _, w := range list {
			next <- w
		}
		close(next)
		for _, release := range releases {
			go func() {
				defer release()
				for w := range next {
					if time.Now().After(deadline) {
						results <- putOff(w)
						continue
					}
					results <- d.attempt(ctx, w, now)
				}
			}()
		}
	}
	firstErr := d.record(ctx, decided)
	for sending > 0 {
		got := []wallet.Attempt{<-results}
		sending--
		window := time.NewTimer(recordWindow)
	gather:
		for sending > 0 {
			select {
			case a := <-results:
				got = append(got, a)
				sending--
			case <-window.C:
				break gather
			}
		}
		window.Stop()
		if err := d.record(ctx, got); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	// A record that failed leaves its deliveries claimed: the sweep takes
	// them once the lease is over.
	return firstErr
}

// record stores outcomes and enqueues the next attempts they call for,
// a task per second they are due in.
func (d *Deliverer) record(ctx context.Context, outcomes []wallet.Attempt) error {
	if len(outcomes) == 0 {
		return nil
	}
	recorded, err := d.Store.RecordAttempts(ctx, outcomes)
	if err != nil {
		return err
	}
	byTime := map[time.Time][]string{}
	for _, a := range outcomes {
		if a.NextAttemptAt != nil && slices.Contains(recorded, a.DeliveryID) {
			at := a.NextAttemptAt.Truncate(time.Second)
			if at.Before(*a.NextAttemptAt) {
				at = at.Add(time.Second)
			}
			byTime[at] = append(byTime[at], a.DeliveryID)
		}
	}
	for at, ids := range byTime {
		for batch := range slices.Chunk(ids, DeliveryBatch) {
			if err := d.Queue.EnqueueDeliveries(ctx, batch, at); err != nil {
				d.Log.Warn("enqueue retries (the sweep will)", slog.Int("deliveries", len(batch)), slog.Any("error", err))
			}
		}
	}
	return nil
}

// attempt sends one delivery and decides what follows from the answer.
func (d *Deliverer) attempt(ctx context.Context, w wallet.DeliveryWork, now time.Time) wallet.Attempt {
	n := w.Delivery.Attempts + 1
	a := wallet.Attempt{DeliveryID: w.Delivery.ID, N: n, Made: true}
	body, err := json.Marshal(ViewEvent(w.Event, d.Currency))
	if err != nil {
		a.Status, a.Error = wallet.DeliveryFailed, "the event does not encode: "+err.Error()
		return a
	}
	start := time.Now()
	res := d.Send(ctx, w.Webhook.URL, w.Webhook.Secret, w.Event.EventID, now, body)
	a.StatusCode = res.Status
	ok := res.Err == nil && res.Status >= 200 && res.Status < 300
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
			next := d.now().Add(max(backoff[n-1], res.RetryAfter))
			a.Status, a.NextAttemptAt = wallet.DeliveryPending, &next
		}
	}
	if d.Observer != nil {
		d.Observer.Attempted(res.Status, !ok, time.Since(start))
	}
	return a
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
	if err := d.Queue.EnqueueDeliveries(ctx, []string{del.ID}, now); err != nil {
		d.Log.Warn("enqueue a retried delivery (the sweep will)", slog.String("delivery_id", del.ID), slog.Any("error", err))
	}
	return del, nil
}
