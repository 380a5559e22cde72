// Package queue names the asynq tasks and their payloads, so that the API
// enqueues exactly what the worker decodes.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/walletd/wallet/internal/wallet"
)

// Task types and the queue they go to.
const (
	// TypeApply applies the operations of one accepted group; its TaskID
	// is the group's task id (its first operation's id).
	TypeApply = "operation:apply"
	// TypeSweep re-enqueues operations that stayed pending too long.
	TypeSweep = "operation:sweep"
	// TypePruneKeys deletes the idempotency keys past their retention.
	TypePruneKeys = "idempotency:prune"
	// TypeOAuthMaintain copies the OAuth revocations into Redis and
	// prunes what has ended.
	TypeOAuthMaintain = "oauth:maintain"
	// Name is the queue of every task type.
	Name = "operations"
)

// TaskTimeout is longer than Postgres's statement_timeout (15 s), so a
// slow statement fails before asynq starts the task again beside it.
const TaskTimeout = 30 * time.Second

// MaxRetry bounds asynq's retries; an operation whose task was archived is
// still found and re-run by the sweeper.
const MaxRetry = 10

// ApplyPayload is TypeApply's payload: the operations and the wallet locks
// that the worker releases after their commit.
type ApplyPayload struct {
	OperationIDs []string      `json:"operation_ids"`
	Locks        []wallet.Lock `json:"locks,omitempty"`
	// OperationID is the single operation of a task enqueued before tasks
	// carried groups; DecodeApply folds it into OperationIDs.
	OperationID string `json:"operation_id,omitempty"`
}

// Client enqueues tasks.
type Client struct {
	client    *asynq.Client
	inspector *asynq.Inspector
}

// NewClient returns a Client on the Redis that opt names.
func NewClient(opt asynq.RedisConnOpt) *Client {
	return &Client{client: asynq.NewClient(opt), inspector: asynq.NewInspector(opt)}
}

// Close releases the connections.
func (c *Client) Close() error {
	return errors.Join(c.client.Close(), c.inspector.Close())
}

// Inspector exposes the queue inspector for metrics.
func (c *Client) Inspector() *asynq.Inspector { return c.inspector }

// EnqueueApply enqueues one task, named taskID, for a group of
// operations accepted together. A task with the same id that is already
// queued counts as success: it applies the same operations.
func (c *Client) EnqueueApply(ctx context.Context, taskID string, opIDs []string, locks []wallet.Lock) error {
	if len(opIDs) == 0 || taskID == "" {
		return errors.New("queue: enqueue of no operations")
	}
	payload, err := json.Marshal(ApplyPayload{OperationIDs: opIDs, Locks: locks})
	if err != nil {
		return err
	}
	_, err = c.client.EnqueueContext(ctx, asynq.NewTask(TypeApply, payload),
		asynq.TaskID(taskID), asynq.Queue(Name), asynq.MaxRetry(MaxRetry), asynq.Timeout(TaskTimeout))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("queue: enqueue %s (%d operations): %w", taskID, len(opIDs), err)
	}
	return nil
}

// Requeue makes sure the task taskID, which applies the pending
// operations opIDs, will run: it enqueues it under that name (so a task
// still queued or retrying is never doubled), or moves an archived or
// retrying one back to pending, or reports an active one with what it
// carries.
func (c *Client) Requeue(ctx context.Context, taskID string, opIDs []string) (wallet.Requeued, error) {
	payload, _ := json.Marshal(ApplyPayload{OperationIDs: opIDs})
	_, err := c.client.EnqueueContext(ctx, asynq.NewTask(TypeApply, payload),
		asynq.TaskID(taskID), asynq.Queue(Name), asynq.MaxRetry(MaxRetry), asynq.Timeout(TaskTimeout))
	if err == nil {
		return wallet.Requeued{Enqueued: true}, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return wallet.Requeued{}, fmt.Errorf("queue: requeue %s: %w", taskID, err)
	}
	info, err := c.inspector.GetTaskInfo(Name, taskID)
	if err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) {
			return wallet.Requeued{}, nil // finished between the two calls
		}
		return wallet.Requeued{}, fmt.Errorf("queue: inspect %s: %w", taskID, err)
	}
	switch info.State {
	case asynq.TaskStateArchived, asynq.TaskStateRetry, asynq.TaskStateScheduled:
		if err := c.inspector.RunTask(Name, taskID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return wallet.Requeued{}, fmt.Errorf("queue: run %s: %w", taskID, err)
		}
		return wallet.Requeued{Enqueued: true}, nil
	case asynq.TaskStateCompleted:
		if err := c.inspector.DeleteTask(Name, taskID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return wallet.Requeued{}, fmt.Errorf("queue: delete %s: %w", taskID, err)
		}
		return c.Requeue(ctx, taskID, opIDs)
	case asynq.TaskStateActive:
		p, _ := DecodeApply(info.Payload)
		return wallet.Requeued{Active: true, Locks: p.Locks, OperationIDs: p.OperationIDs}, nil
	}
	return wallet.Requeued{}, nil // pending: a worker will take it
}

// DecodeApply decodes a TypeApply payload.
func DecodeApply(payload []byte) (ApplyPayload, error) {
	var p ApplyPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return p, fmt.Errorf("queue: decode %s: %w", TypeApply, err)
	}
	if p.OperationID != "" {
		p.OperationIDs = append(p.OperationIDs, p.OperationID)
		p.OperationID = ""
	}
	if len(p.OperationIDs) == 0 || slices.Contains(p.OperationIDs, "") {
		return p, fmt.Errorf("queue: %s without operation ids", TypeApply)
	}
	return p, nil
}

// Task types of the service's own acts, each scheduled for when it falls
// due (asynq ProcessAt) and named after what it acts on, so scheduling
// one twice keeps one.
const (
	TypeHoldExpire       = "hold:expire"
	TypeWithdrawalExpire = "withdrawal:expire"
	TypeRequestExpire    = "payment_request:expire"
)

// DuePayload is the payload of the expiry tasks: what falls due.
type DuePayload struct {
	ID string `json:"id"`
}

var dueTypes = map[wallet.DueKind]string{
	wallet.DueHold:       TypeHoldExpire,
	wallet.DueWithdrawal: TypeWithdrawalExpire,
	wallet.DueRequest:    TypeRequestExpire,
}

// scheduleParallel is how many of a batch's due tasks Schedule enqueues
// at once: asynq enqueues one task per round trip to Redis, and a batch
// of placed holds has one due task each.
const scheduleParallel = 16

// Schedule enqueues a task for each due act at its time, up to
// scheduleParallel at once. A task already scheduled under the same name
// counts as success.
func (c *Client) Schedule(ctx context.Context, due ...wallet.Due) error {
	errs := make([]error, len(due))
	var wg sync.WaitGroup
	sem := make(chan struct{}, scheduleParallel)
	for i, d := range due {
		typ, ok := dueTypes[d.Kind]
		if !ok {
			errs[i] = fmt.Errorf("queue: nothing schedules %q", d.Kind)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			payload, _ := json.Marshal(DuePayload{ID: d.ID})
			_, err := c.client.EnqueueContext(ctx, asynq.NewTask(typ, payload), asynq.TaskID(typ+":"+d.ID),
				asynq.Queue(Name), asynq.ProcessAt(d.At), asynq.MaxRetry(MaxRetry), asynq.Timeout(TaskTimeout))
			if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				errs[i] = fmt.Errorf("queue: schedule %s %s: %w", typ, d.ID, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// DecodeDue decodes an expiry task's payload.
func DecodeDue(payload []byte) (DuePayload, error) {
	var p DuePayload
	if err := json.Unmarshal(payload, &p); err != nil || p.ID == "" {
		return p, fmt.Errorf("queue: decode due task: %w", errors.Join(err, errors.New("no id")))
	}
	return p, nil
}

// Webhook deliveries run in a queue of their own, so that asynqmon shows
// them apart and a backlog of slow endpoints never holds operations back.
const (
	TypeDeliver   = "webhook:deliver"
	TypeRelay     = "webhook:relay"
	DeliveryQueue = "webhooks"
)

// DeliverPayload names the deliveries a TypeDeliver task attempts.
type DeliverPayload struct {
	IDs []string `json:"ids"`
}

// EnqueueDeliveries implements ledger.DeliveryQueue: one task for a batch
// of deliveries, due at at. Postgres decides which of them a task may
// still send (ledger.Deliverer.Deliver), so a task enqueued twice sends
// nothing twice that it should not.
func (c *Client) EnqueueDeliveries(ctx context.Context, ids []string, at time.Time) error {
	payload, _ := json.Marshal(DeliverPayload{IDs: ids})
	// asynq keeps a task's time in whole seconds: round up, so an attempt
	// never runs before its time (a Retry-After, say).
	if t := at.Truncate(time.Second); t.Before(at) && at.After(time.Now()) {
		at = t.Add(time.Second)
	}
	_, err := c.client.EnqueueContext(ctx, asynq.NewTask(TypeDeliver, payload),
		asynq.Queue(DeliveryQueue), asynq.ProcessAt(at), asynq.MaxRetry(3), asynq.Timeout(TaskTimeout))
	if err != nil {
		return fmt.Errorf("queue: enqueue %d deliveries: %w", len(ids), err)
	}
	return nil
}

// DecodeDeliver decodes a delivery task's payload.
func DecodeDeliver(payload []byte) (DeliverPayload, error) {
	var p DeliverPayload
	if err := json.Unmarshal(payload, &p); err != nil || len(p.IDs) == 0 {
		return p, fmt.Errorf("queue: decode delivery task: %w", errors.Join(err, errors.New("no ids")))
	}
	return p, nil
}
