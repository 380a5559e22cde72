// Package metrics defines the service's Prometheus metrics for the ledger
// events: lock waits and wallet_busy answers (API), and final operations
// with their accept-to-final latency (worker).
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walletd/wallet/internal/wallet"
)

// Ledger implements ledger.Observer.
type Ledger struct {
	lockWait     prometheus.Histogram
	busy         prometheus.Counter
	final        *prometheus.CounterVec
	acceptToDone *prometheus.HistogramVec
	batch        *prometheus.HistogramVec
	cleanup      *prometheus.CounterVec
	stages       *prometheus.HistogramVec
}

// NewLedger registers the ledger metrics on reg.
func NewLedger(reg prometheus.Registerer) *Ledger {
	m := &Ledger{
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wallet_lock_wait_seconds",
			Help:    "Time spent acquiring wallet locks, successful or not.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 5},
		}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wallet_busy_total",
			Help: "Requests answered 409 wallet_busy because a lock was not had in time.",
		}),
		final: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_operations_final_total",
			Help: "Operations a worker saw final, by type, status and failure code.",
		}, []string{"type", "status", "failure_code"}),
		acceptToDone: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wallet_operation_accept_to_final_seconds",
			Help:    "Time from an operation's acceptance to its commit.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"type"}),
	}
	m.batch = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wallet_batch_operations",
		Help:    "Operations per commit: stage accept is a group the API stores in one insert, apply a batch a worker commits in one transaction.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000},
	}, []string{"stage"})
	m.cleanup = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wallet_redis_cleanup_failures_total",
		Help: "Wallet locks (kind lock_release) and idempotency claims (kind unclaim) that Redis failed to end; each lapses by itself after its TTL, and until then its wallet is busy or its key in progress.",
	}, []string{"kind"})
	for _, kind := range []string{"lock_release", "unclaim"} {
		m.cleanup.WithLabelValues(kind)
	}
	m.stages = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wallet_accept_stage_seconds",
		Help:    "Time an accepted request spent in each stage of the API's accept path: locks (waiting for its wallet locks, busy wallets' retries included), committer (its group waiting for a free committer), funds (the funds check), insert (the insert and its commit), redis (releasing the locks and ending the idempotency claims), and enqueue (the group's task, enqueued after the request is answered).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	}, []string{"stage"})
	reg.MustRegister(m.lockWait, m.busy, m.final, m.acceptToDone, m.batch, m.cleanup, m.stages)
	return m
}

// LockWait implements ledger.Observer.
func (m *Ledger) LockWait(d time.Duration, busy bool) {
	m.lockWait.Observe(d.Seconds())
	if busy {
		m.busy.Inc()
	}
}

// OperationFinal implements ledger.Observer.
func (m *Ledger) OperationFinal(op wallet.Operation) {
	m.final.WithLabelValues(string(op.Type), string(op.Status), op.FailureCode).Inc()
	if op.CompletedAt != nil {
		m.acceptToDone.WithLabelValues(string(op.Type)).Observe(op.CompletedAt.Sub(op.CreatedAt).Seconds())
	}
}

// Batch implements ledger.Observer.
func (m *Ledger) Batch(stage string, n int) {
	m.batch.WithLabelValues(stage).Observe(float64(n))
}

// CleanupFailed implements ledger.Observer.
func (m *Ledger) CleanupFailed(kind string, n int) {
	m.cleanup.WithLabelValues(kind).Add(float64(n))
}

// AcceptStage implements ledger.Observer: one observation per request.
func (m *Ledger) AcceptStage(stage string, d time.Duration, n int) {
	h := m.stages.WithLabelValues(stage)
	for range n {
		h.Observe(d.Seconds())
	}
}

// Webhooks implements ledger.DeliveryObserver.
type Webhooks struct {
	relayed  prometheus.Counter
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

// NewWebhooks registers the webhook metrics on reg.
func NewWebhooks(reg prometheus.Registerer) *Webhooks {
	m := &Webhooks{
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wallet_webhook_deliveries_relayed_total",
			Help: "Webhook deliveries the relay made from the outbox's events.",
		}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wallet_webhook_attempts_total",
			Help: "Webhook delivery attempts by result (ok, failed) and the endpoint's status (0: no answer).",
		}, []string{"result", "status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wallet_webhook_attempt_seconds",
			Help:    "Time of one webhook delivery attempt.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	reg.MustRegister(m.relayed, m.attempts, m.latency)
	return m
}

// Relayed counts deliveries made by the relay.
func (m *Webhooks) Relayed(n int) { m.relayed.Add(float64(n)) }

// Attempted counts one attempt.
func (m *Webhooks) Attempted(status int, failed bool, latency time.Duration) {
	result := "ok"
	if failed {
		result = "failed"
	}
	m.attempts.WithLabelValues(result, strconv.Itoa(status)).Inc()
	m.latency.Observe(latency.Seconds())
}
