package queue_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/walletd/wallet/internal/pgtest"

	"github.com/walletd/wallet/internal/queue"
	"github.com/walletd/wallet/internal/wallet"
)

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// redisURL is TEST_REDIS_URL (default redis://127.0.0.1:6379/0) with its
// database number replaced by db.
func redisURL(t *testing.T, db int) string {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		raw = "redis://127.0.0.1:6379/0"
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}

// claimRedisDB takes one of Redis databases 1..15 for the test, the same
// way the end-to-end harness does (SET NX "wallet-e2e-claim:<n>" in db 0),
// so that no other test, in this process or another, shares it; asynq's
// keys do not take a prefix. The database is emptied before and after.
// The claim's TTL only frees the database of a test process that died;
// these tests end long before it.
func claimRedisDB(t *testing.T) asynq.RedisConnOpt {
	t.Helper()
	n := pgtest.ClaimRedisDB(t, func(db int) string { return redisURL(t, db) })
	opt, err := asynq.ParseRedisURI(redisURL(t, n))
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	return opt
}

// setup claims a Redis database and returns a queue client and an
// inspector on it.
func setup(t *testing.T) (*queue.Client, *asynq.Inspector, asynq.RedisConnOpt) {
	t.Helper()
	opt := claimRedisDB(t)
	c := queue.NewClient(opt)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close queue client: %v", err)
		}
	})
	return c, c.Inspector(), opt
}

// taskInfo returns the task's info; the test fails if it does not exist.
func taskInfo(t *testing.T, in *asynq.Inspector, id string) *asynq.TaskInfo {
	t.Helper()
	info, err := in.GetTaskInfo(queue.Name, id)
	if err != nil {
		t.Fatalf("GetTaskInfo(%s): %v", id, err)
	}
	return info
}

// waitState waits until the task is in state, for at most five seconds.
func waitState(t *testing.T, in *asynq.Inspector, id string, state asynq.TaskState) *asynq.TaskInfo {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := in.GetTaskInfo(queue.Name, id)
		if err == nil && info.State == state {
			return info
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("task %s not %s within 5s: %v", id, state, err)
			}
			t.Fatalf("task %s not %s within 5s: still %s", id, state, info.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pendingCount counts the pending tasks with the id.
func pendingCount(t *testing.T, in *asynq.Inspector, id string) int {
	t.Helper()
	tasks, err := in.ListPendingTasks(queue.Name, asynq.PageSize(1000))
	if err != nil {
		t.Fatalf("ListPendingTasks: %v", err)
	}
	n := 0
	for _, ti := range tasks {
		if ti.ID == id {
			n++
		}
	}
	return n
}

// requeueGroup calls Requeue and fails the test on an error.
func requeueGroup(t *testing.T, c *queue.Client, task string, ids []string) wallet.Requeued {
	t.Helper()
	r, err := c.Requeue(context.Background(), task, ids)
	if err != nil {
		t.Fatalf("Requeue(%s, %v): %v", task, ids, err)
	}
	return r
}

func decode(t *testing.T, info *asynq.TaskInfo) queue.ApplyPayload {
	t.Helper()
	p, err := queue.DecodeApply(info.Payload)
	if err != nil {
		t.Fatalf("DecodeApply of task %s: %v", info.ID, err)
	}
	return p
}

var testLocks = []wallet.Lock{
	{Name: "wallet:db0:lock:wallet:a", Value: "v1"},
	{Name: "wallet:db0:lock:wallet:b", Value: "v2"},
}

func TestDecodeApply(t *testing.T) {
	t.Parallel()
	valid := []struct {
		raw  string
		want queue.ApplyPayload
	}{
		{`{"operation_ids":["op-1"]}`, queue.ApplyPayload{OperationIDs: []string{"op-1"}}},
		{`{"operation_ids":["op-1","op-2"],"locks":[{"name":"wallet:db0:lock:wallet:a","value":"v1"},{"name":"wallet:db0:lock:wallet:b","value":"v2"}]}`,
			queue.ApplyPayload{OperationIDs: []string{"op-1", "op-2"}, Locks: testLocks}},
		// A task enqueued before tasks carried groups.
		{`{"operation_id":"op-3","locks":[{"name":"n","value":"v"}]}`,
			queue.ApplyPayload{OperationIDs: []string{"op-3"}, Locks: []wallet.Lock{{Name: "n", Value: "v"}}}},
	}
	for _, tt := range valid {
		got, err := queue.DecodeApply([]byte(tt.raw))
		if err != nil {
			t.Errorf("DecodeApply(%s): %v", tt.raw, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DecodeApply(%s) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}

	bad := []struct{ name, payload string }{
		{"nil", ""},
		{"not JSON", "op-1"},
		{"truncated", `{"operation_ids":["op-1"]`},
		{"empty object", `{}`},
		{"empty operation id", `{"operation_id":""}`},
		{"empty list", `{"operation_ids":[]}`},
		{"empty id in the list", `{"operation_ids":["op-1",""]}`},
		{"null", `null`},
		{"array", `["op-1"]`},
		{"operation id not a string", `{"operation_id":5}`},
		{"ids not a list", `{"operation_ids":"op-1"}`},
		{"locks not a list", `{"operation_ids":["op-1"],"locks":"x"}`},
		{"only locks", `{"locks":[{"name":"n","value":"v"}]}`},
	}
	for _, tt := range bad {
		if p, err := queue.DecodeApply([]byte(tt.payload)); err == nil {
			t.Errorf("%s: DecodeApply(%q) = %+v, want an error", tt.name, tt.payload, p)
		}
	}
}

func TestEnqueueApply(t *testing.T) {
	t.Parallel()
	c, in, _ := setup(t)
	ctx := context.Background()

	// A group of operations is one task, named by the first.
	id, second := "op-"+randHex(4), "op-"+randHex(4)
	if err := c.EnqueueApply(ctx, id, []string{id, second}, testLocks); err != nil {
		t.Fatalf("EnqueueApply: %v", err)
	}
	if n := pendingCount(t, in, second); n != 0 {
		t.Errorf("%d tasks named after the group's second operation, want 0", n)
	}
	info := taskInfo(t, in, id)
	if info.Type != queue.TypeApply || info.Queue != queue.Name || info.State != asynq.TaskStatePending {
		t.Errorf("task is %s in %s, %s; want %s in %s, pending", info.Type, info.Queue, info.State, queue.TypeApply, queue.Name)
	}
	if info.MaxRetry != queue.MaxRetry || info.Timeout != queue.TaskTimeout {
		t.Errorf("task has MaxRetry %d, Timeout %v; want %d, %v", info.MaxRetry, info.Timeout, queue.MaxRetry, queue.TaskTimeout)
	}
	// What the API enqueues is what the worker decodes.
	want := queue.ApplyPayload{OperationIDs: []string{id, second}, Locks: testLocks}
	if got := decode(t, info); !reflect.DeepEqual(got, want) {
		t.Errorf("payload decodes to %+v, want %+v", got, want)
	}

	// Enqueuing the same operation again is no error and adds no task;
	// the first task, with its locks, stays.
	if err := c.EnqueueApply(ctx, id, []string{id}, nil); err != nil {
		t.Fatalf("second EnqueueApply: %v", err)
	}
	if n := pendingCount(t, in, id); n != 1 {
		t.Errorf("%d pending tasks for %s after two EnqueueApply, want 1", n, id)
	}
	if got := decode(t, taskInfo(t, in, id)); !reflect.DeepEqual(got, want) {
		t.Errorf("after a second EnqueueApply the payload is %+v, want the first %+v", got, want)
	}

	// Another operation is another task.
	other := "op-" + randHex(4)
	if err := c.EnqueueApply(ctx, other, []string{other}, nil); err != nil {
		t.Fatalf("EnqueueApply(%s): %v", other, err)
	}
	if got := decode(t, taskInfo(t, in, other)); !reflect.DeepEqual(got.OperationIDs, []string{other}) || got.Locks != nil {
		t.Errorf("payload of %s = %+v, want its id and no locks", other, got)
	}
	qi, err := in.GetQueueInfo(queue.Name)
	if err != nil {
		t.Fatalf("GetQueueInfo: %v", err)
	}
	if qi.Pending != 2 {
		t.Errorf("queue has %d pending tasks, want 2", qi.Pending)
	}
}

func TestRequeue(t *testing.T) {
	t.Parallel()
	c, in, opt := setup(t)
	ctx := context.Background()
	raw := asynq.NewClient(opt)
	t.Cleanup(func() { raw.Close() })

	requeue := func(t *testing.T, id string) wallet.Requeued {
		t.Helper()
		r, err := c.Requeue(ctx, id, []string{id})
		if err != nil {
			t.Fatalf("Requeue(%s): %v", id, err)
		}
		return r
	}
	enqueue := func(t *testing.T, id string) {
		t.Helper()
		if err := c.EnqueueApply(ctx, id, []string{id}, testLocks); err != nil {
			t.Fatalf("EnqueueApply(%s): %v", id, err)
		}
	}

	// The subtests share the database, each with its own operation id;
	// no worker runs, so tasks stay where the test puts them.
	t.Run("missing task is enqueued", func(t *testing.T) {
		id := "op-" + randHex(4)
		if r := requeue(t, id); !reflect.DeepEqual(r, wallet.Requeued{Enqueued: true}) {
			t.Errorf("Requeue = %+v, want Enqueued", r)
		}
		info := taskInfo(t, in, id)
		if info.State != asynq.TaskStatePending || info.Type != queue.TypeApply {
			t.Errorf("task is %s %s, want pending %s", info.State, info.Type, queue.TypeApply)
		}
		if info.MaxRetry != queue.MaxRetry || info.Timeout != queue.TaskTimeout {
			t.Errorf("task has MaxRetry %d, Timeout %v; want %d, %v", info.MaxRetry, info.Timeout, queue.MaxRetry, queue.TaskTimeout)
		}
		if got, want := decode(t, info), (queue.ApplyPayload{OperationIDs: []string{id}}); !reflect.DeepEqual(got, want) {
			t.Errorf("payload = %+v, want %+v", got, want)
		}
	})

	t.Run("pending task is left alone", func(t *testing.T) {
		id := "op-" + randHex(4)
		enqueue(t, id)
		if r := requeue(t, id); !reflect.DeepEqual(r, wallet.Requeued{}) {
			t.Errorf("Requeue of a pending task = %+v, want nothing done", r)
		}
		info := taskInfo(t, in, id)
		if info.State != asynq.TaskStatePending {
			t.Errorf("task is %s, want pending", info.State)
		}
		if n := pendingCount(t, in, id); n != 1 {
			t.Errorf("%d pending tasks for %s, want 1", n, id)
		}
		// Its locks are kept for the worker to release.
		if got := decode(t, info); !reflect.DeepEqual(got.Locks, testLocks) {
			t.Errorf("locks = %+v, want %+v", got.Locks, testLocks)
		}
	})

	// A group's operations are requeued under the group's task: while
	// that task is queued, nothing is added for any of them (issue 8: the
	// sweeper made one task per operation beside the group's).
	t.Run("queued group task is not doubled", func(t *testing.T) {
		task, mate := "op-"+randHex(4), "op-"+randHex(4)
		if err := c.EnqueueApply(ctx, task, []string{task, mate}, testLocks); err != nil {
			t.Fatalf("EnqueueApply: %v", err)
		}
		if r := requeueGroup(t, c, task, []string{task, mate}); !reflect.DeepEqual(r, wallet.Requeued{}) {
			t.Errorf("Requeue of a queued group = %+v, want nothing done", r)
		}
		if r := requeueGroup(t, c, task, []string{mate}); !reflect.DeepEqual(r, wallet.Requeued{}) {
			t.Errorf("Requeue of a queued group's second operation = %+v, want nothing done", r)
		}
		if n := pendingCount(t, in, task); n != 1 {
			t.Errorf("%d pending tasks named %s, want 1", n, task)
		}
		if n := pendingCount(t, in, mate); n != 0 {
			t.Errorf("%d tasks named after the group's second operation, want 0", n)
		}
	})

	t.Run("lost group task is enqueued as the group", func(t *testing.T) {
		task, mate := "op-"+randHex(4), "op-"+randHex(4)
		if r := requeueGroup(t, c, task, []string{task, mate}); !reflect.DeepEqual(r, wallet.Requeued{Enqueued: true}) {
			t.Errorf("Requeue = %+v, want Enqueued", r)
		}
		if got, want := decode(t, taskInfo(t, in, task)), (queue.ApplyPayload{OperationIDs: []string{task, mate}}); !reflect.DeepEqual(got, want) {
			t.Errorf("payload = %+v, want %+v", got, want)
		}
		if n := pendingCount(t, in, mate); n != 0 {
			t.Errorf("%d tasks named after the group's second operation, want 0", n)
		}
	})

	t.Run("archived task goes back to pending", func(t *testing.T) {
		id := "op-" + randHex(4)
		enqueue(t, id)
		if err := in.ArchiveTask(queue.Name, id); err != nil {
			t.Fatalf("ArchiveTask: %v", err)
		}
		if s := taskInfo(t, in, id).State; s != asynq.TaskStateArchived {
			t.Fatalf("task is %s after ArchiveTask", s)
		}
		if r := requeue(t, id); !reflect.DeepEqual(r, wallet.Requeued{Enqueued: true}) {
			t.Errorf("Requeue of an archived task = %+v, want Enqueued", r)
		}
		info := taskInfo(t, in, id)
		if info.State != asynq.TaskStatePending {
			t.Errorf("task is %s after Requeue, want pending", info.State)
		}
		if n := pendingCount(t, in, id); n != 1 {
			t.Errorf("%d pending tasks for %s, want 1", n, id)
		}
		if got := decode(t, info); !reflect.DeepEqual(got.Locks, testLocks) {
			t.Errorf("locks = %+v, want %+v", got.Locks, testLocks)
		}
		// Once pending, a second Requeue does nothing.
		if r := requeue(t, id); !reflect.DeepEqual(r, wallet.Requeued{}) {
			t.Errorf("second Requeue = %+v, want nothing done", r)
		}
	})

	t.Run("scheduled task runs now", func(t *testing.T) {
		id := "op-" + randHex(4)
		payload, _ := json.Marshal(queue.ApplyPayload{OperationIDs: []string{id}})
		if _, err := raw.Enqueue(asynq.NewTask(queue.TypeApply, payload),
			asynq.TaskID(id), asynq.Queue(queue.Name), asynq.ProcessIn(time.Hour)); err != nil {
			t.Fatalf("enqueue scheduled task: %v", err)
		}
		if s := taskInfo(t, in, id).State; s != asynq.TaskStateScheduled {
			t.Fatalf("task is %s, want scheduled", s)
		}
		if r := requeue(t, id); !reflect.DeepEqual(r, wallet.Requeued{Enqueued: true}) {
			t.Errorf("Requeue of a scheduled task = %+v, want Enqueued", r)
		}
		if s := taskInfo(t, in, id).State; s != asynq.TaskStatePending {
			t.Errorf("task is %s after Requeue, want pending", s)
		}
	})
}

// TestRequeueWithWorker runs an asynq server on its own database to put
// tasks in the states only a worker reaches: active, retry, completed.
func TestRequeueWithWorker(t *testing.T) {
	t.Parallel()
	c, in, opt := setup(t)
	ctx := context.Background()

	var (
		mu      sync.Mutex
		runs    = map[string]int{}
		started = make(chan string, 16)
		release = make(chan struct{})
		once    sync.Once
	)
	runCount := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return runs[id]
	}
	waitRuns := func(t *testing.T, id string, n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for runCount(id) < n {
			if time.Now().After(deadline) {
				t.Fatalf("task %s ran %d times within 5s, want %d", id, runCount(id), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	activeID, retryID, completedID := "active-"+randHex(4), "retry-"+randHex(4), "completed-"+randHex(4)

	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency:       4,
		Queues:            map[string]int{queue.Name: 1},
		TaskCheckInterval: 10 * time.Millisecond,
		RetryDelayFunc:    func(int, error, *asynq.Task) time.Duration { return time.Hour },
		ShutdownTimeout:   2 * time.Second,
		LogLevel:          asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(queue.TypeApply, func(ctx context.Context, task *asynq.Task) error {
		p, err := queue.DecodeApply(task.Payload())
		if err != nil {
			return err
		}
		first := p.OperationIDs[0]
		mu.Lock()
		runs[first]++
		n := runs[first]
		mu.Unlock()
		switch {
		case first == activeID && n == 1:
			started <- first
			select {
			case <-release:
			case <-ctx.Done():
			}
		case first == retryID && n == 1:
			return errors.New("first attempt fails")
		}
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatalf("start asynq server: %v", err)
	}
	t.Cleanup(func() {
		once.Do(func() { close(release) })
		srv.Shutdown()
	})

	t.Run("active task reports its operations and locks", func(t *testing.T) {
		group := []string{activeID, activeID + "-mate"}
		if err := c.EnqueueApply(ctx, activeID, group, testLocks); err != nil {
			t.Fatalf("EnqueueApply: %v", err)
		}
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("worker did not start the task within 5s")
		}
		waitState(t, in, activeID, asynq.TaskStateActive)
		r, err := c.Requeue(ctx, activeID, group)
		if err != nil {
			t.Fatalf("Requeue: %v", err)
		}
		if want := (wallet.Requeued{Active: true, Locks: testLocks, OperationIDs: group}); !reflect.DeepEqual(r, want) {
			t.Errorf("Requeue of an active task = %+v, want %+v", r, want)
		}
		if n := runCount(activeID); n != 1 {
			t.Errorf("task ran %d times while active, want 1", n)
		}
		once.Do(func() { close(release) })

		// Finished (and not retained), the task is gone: Requeue enqueues
		// it afresh and it runs again.
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := in.GetTaskInfo(queue.Name, activeID)
			if errors.Is(err, asynq.ErrTaskNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("finished task still there after 5s (err %v)", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if r, err := c.Requeue(ctx, activeID, group); err != nil || !reflect.DeepEqual(r, wallet.Requeued{Enqueued: true}) {
			t.Errorf("Requeue of a finished task = %+v, %v; want Enqueued", r, err)
		}
		waitRuns(t, activeID, 2)
	})

	t.Run("retrying task runs now", func(t *testing.T) {
		if err := c.EnqueueApply(ctx, retryID, []string{retryID}, nil); err != nil {
			t.Fatalf("EnqueueApply: %v", err)
		}
		waitState(t, in, retryID, asynq.TaskStateRetry)
		r, err := c.Requeue(ctx, retryID, []string{retryID})
		if err != nil || !reflect.DeepEqual(r, wallet.Requeued{Enqueued: true}) {
			t.Errorf("Requeue of a retrying task = %+v, %v; want Enqueued", r, err)
		}
		waitRuns(t, retryID, 2)
	})

	t.Run("completed task is enqueued again", func(t *testing.T) {
		payload, _ := json.Marshal(queue.ApplyPayload{OperationIDs: []string{completedID}})
		raw := asynq.NewClient(opt)
		defer raw.Close()
		if _, err := raw.Enqueue(asynq.NewTask(queue.TypeApply, payload),
			asynq.TaskID(completedID), asynq.Queue(queue.Name), asynq.Retention(time.Hour)); err != nil {
			t.Fatalf("enqueue retained task: %v", err)
		}
		waitState(t, in, completedID, asynq.TaskStateCompleted)
		r, err := c.Requeue(ctx, completedID, []string{completedID})
		if err != nil || !reflect.DeepEqual(r, wallet.Requeued{Enqueued: true}) {
			t.Errorf("Requeue of a completed task = %+v, %v; want Enqueued", r, err)
		}
		waitRuns(t, completedID, 2)
	})
}

// TestSchedule schedules a batch's due tasks at once: each lands in the
// scheduled set under its name at its time, a repeat is no error, and a
// kind that nothing schedules is refused without stopping the others.
func TestSchedule(t *testing.T) {
	c, insp, _ := setup(t)
	ctx := context.Background()
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	var due []wallet.Due
	for i := range 40 {
		kind := []wallet.DueKind{wallet.DueHold, wallet.DueWithdrawal, wallet.DueRequest}[i%3]
		due = append(due, wallet.Due{Kind: kind, ID: randHex(16), At: at})
	}
	if err := c.Schedule(ctx, due...); err != nil {
		t.Fatalf("schedule: %v", err)
	}
	// Some of them again: already scheduled is success.
	if err := c.Schedule(ctx, due[:5]...); err != nil {
		t.Fatalf("schedule again: %v", err)
	}
	// One of a kind nothing schedules, beside one more that is scheduled.
	more := wallet.Due{Kind: wallet.DueHold, ID: randHex(16), At: at}
	err := c.Schedule(ctx, wallet.Due{Kind: "nothing", ID: randHex(16), At: at}, more)
	if err == nil {
		t.Fatal("a due act of an unknown kind was scheduled")
	}
	due = append(due, more)
	tasks, err := insp.ListScheduledTasks(queue.Name, asynq.PageSize(100))
	if err != nil {
		t.Fatalf("list scheduled: %v", err)
	}
	byID := map[string]*asynq.TaskInfo{}
	for _, ti := range tasks {
		byID[ti.ID] = ti
	}
	if len(byID) != len(due) {
		t.Fatalf("%d tasks scheduled, want %d", len(byID), len(due))
	}
	types := map[wallet.DueKind]string{wallet.DueHold: queue.TypeHoldExpire, wallet.DueWithdrawal: queue.TypeWithdrawalExpire, wallet.DueRequest: queue.TypeRequestExpire}
	for _, d := range due {
		ti := byID[types[d.Kind]+":"+d.ID]
		if ti == nil {
			t.Fatalf("no task for %s %s", d.Kind, d.ID)
		}
		if !ti.NextProcessAt.Equal(at) {
			t.Errorf("%s due at %v, want %v", ti.ID, ti.NextProcessAt, at)
		}
		p, err := queue.DecodeDue(ti.Payload)
		if err != nil || p.ID != d.ID {
			t.Errorf("%s payload %q (%v)", ti.ID, ti.Payload, err)
		}
	}
}
