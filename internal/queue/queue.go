// Package queue names the asynq tasks and their payloads, so that the API
// enqueues exactly what the worker decodes.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/walletd/wallet/internal/wallet"
)

// Task types and the queue they go to.
const (
	// TypeApply applies one operation; its TaskID is the operation id.
	TypeApply = "operation:apply"
	// TypeSweep re-enqueues operations that stayed pending too long.
	TypeSweep = "operation:sweep"
	// Name is the queue of both task types.
	Name = "operations"
)

// TaskTimeout is longer than Postgres's statement_timeout (15 s), so a
// slow statement fails before asynq starts the task again beside it.
const TaskTimeout = 30 * time.Second

// MaxRetry bounds asynq's retries; an operation whose task was archived is
// still found and re-run by the sweeper.
const MaxRetry = 10

// ApplyPayload is TypeApply's payload: the operation and the wallet locks
// that the worker releases after its commit.
type ApplyPayload struct {
	OperationID string        `json:"operation_id"`
	Locks       []wallet.Lock `json:"locks,omitempty"`
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

// EnqueueApply enqueues the operation's task. A task with the same id that
// is already queued counts as success: it will apply the same operation.
func (c *Client) EnqueueApply(ctx context.Context, opID string, locks []wallet.Lock) error {
	payload, err := json.Marshal(ApplyPayload{OperationID: opID, Locks: locks})
	if err != nil {
		return err
	}
	_, err = c.client.EnqueueContext(ctx, asynq.NewTask(TypeApply, payload),
		asynq.TaskID(opID), asynq.Queue(Name), asynq.MaxRetry(MaxRetry), asynq.Timeout(TaskTimeout))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("queue: enqueue %s: %w", opID, err)
	}
	return nil
}

// Requeue makes sure a pending operation has a task that will run: it
// enqueues one, or moves an archived or retrying one back to pending.
func (c *Client) Requeue(ctx context.Context, opID string) (wallet.Requeued, error) {
	payload, _ := json.Marshal(ApplyPayload{OperationID: opID})
	_, err := c.client.EnqueueContext(ctx, asynq.NewTask(TypeApply, payload),
		asynq.TaskID(opID), asynq.Queue(Name), asynq.MaxRetry(MaxRetry), asynq.Timeout(TaskTimeout))
	if err == nil {
		return wallet.Requeued{Enqueued: true}, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return wallet.Requeued{}, fmt.Errorf("queue: requeue %s: %w", opID, err)
	}
	info, err := c.inspector.GetTaskInfo(Name, opID)
	if err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) {
			return wallet.Requeued{}, nil // finished between the two calls
		}
		return wallet.Requeued{}, fmt.Errorf("queue: inspect %s: %w", opID, err)
	}
	switch info.State {
	case asynq.TaskStateArchived, asynq.TaskStateRetry, asynq.TaskStateScheduled:
		if err := c.inspector.RunTask(Name, opID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return wallet.Requeued{}, fmt.Errorf("queue: run %s: %w", opID, err)
		}
		return wallet.Requeued{Enqueued: true}, nil
	case asynq.TaskStateCompleted:
		if err := c.inspector.DeleteTask(Name, opID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return wallet.Requeued{}, fmt.Errorf("queue: delete %s: %w", opID, err)
		}
		return c.Requeue(ctx, opID)
	case asynq.TaskStateActive:
		p, _ := DecodeApply(info.Payload)
		return wallet.Requeued{Active: true, Locks: p.Locks}, nil
	}
	return wallet.Requeued{}, nil // pending: a worker will take it
}

// DecodeApply decodes a TypeApply payload.
func DecodeApply(payload []byte) (ApplyPayload, error) {
	var p ApplyPayload
	if err := json.Unmarshal(payload, &p); err != nil {
		return p, fmt.Errorf("queue: decode %s: %w", TypeApply, err)
	}
	if p.OperationID == "" {
		return p, fmt.Errorf("queue: %s without operation_id", TypeApply)
	}
	return p, nil
}
