package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/wallet"
)

// webhook registers an endpoint of u for every event type.
func (f *fixture) webhook(t *testing.T, u wallet.User) wallet.Webhook {
	t.Helper()
	h, err := f.store.CreateWebhook(context.Background(), wallet.Webhook{UserID: u.ID, URL: "https://example.com/hook",
		Events: wallet.EventTypes, Secret: "whsec_dGVzdA=="})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// The webhook side of the outbox reads and writes deliveries by key too,
// and the same trap caught it: a plan cached while webhook_deliveries
// was nearly empty scanned the whole table for every recorded batch (a
// benchmark with a webhook per user measured 91 ms per RecordAttempts).
// Here the tables are analyzed empty, and the relay, the claims, the
// records and the sweep must still never scan one whole.
func TestDeliveriesNeverScanWholeTables(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	payer, from := f.user(t, 1_000_000)
	payee, to := f.user(t, 0)
	f.webhook(t, payer)
	f.webhook(t, payee)
	f.exec(t, `ANALYZE`)
	flushStats(t, f)
	f.exec(t, `SELECT pg_stat_reset()`)

	const rounds, perRound = 8, 3
	relayed := 0
	for range rounds {
		var ids []string
		for range perRound {
			ids = append(ids, f.transfer(t, payer, from, to, 100).ID)
		}
		if _, err := f.store.ApplyOperations(ctx, ids); err != nil {
			t.Fatal(err)
		}
		// Each transfer tells its two parties: two deliveries. The relay
		// takes them once no older transaction of the server is running.
		var ds []wallet.Delivery
		for deadline := time.Now().Add(20 * time.Second); len(ds) < 2*perRound; {
			got, _, err := f.store.RelayDeliveries(ctx, time.Now(), 1000)
			if err != nil {
				t.Fatal(err)
			}
			ds = append(ds, got...)
			if time.Now().After(deadline) {
				t.Fatalf("relayed %d deliveries, want %d", len(ds), 2*perRound)
			}
		}
		relayed += len(ds)
		var dids []string
		for _, d := range ds {
			dids = append(dids, d.ID)
		}
		work, err := f.store.ClaimDeliveries(ctx, dids, time.Now())
		if err != nil || len(work) != len(dids) {
			t.Fatalf("claimed %d of %d: %v", len(work), len(dids), err)
		}
		// Half succeed, half are put off (they stay in the schedule).
		var as []wallet.Attempt
		for i, w := range work {
			a := wallet.Attempt{DeliveryID: w.Delivery.ID, N: 1, Made: true, StatusCode: 204, Status: wallet.DeliverySucceeded}
			if i%2 == 1 {
				next := time.Now().Add(time.Hour)
				a.StatusCode, a.Status, a.NextAttemptAt = 500, wallet.DeliveryPending, &next
			}
			as = append(as, a)
		}
		if rec, err := f.store.RecordAttempts(ctx, as); err != nil || len(rec) != len(as) {
			t.Fatalf("recorded %d of %d: %v", len(rec), len(as), err)
		}
		if _, err := f.store.DueDeliveries(ctx, time.Now(), 100); err != nil {
			t.Fatal(err)
		}
	}
	flushStats(t, f)
	if n := tableStat(t, f, "webhook_deliveries", "n_tup_upd"); n < int64(relayed) {
		t.Fatalf("the statistics show %d delivery updates, want %d", n, relayed)
	}
	for _, table := range []string{"webhook_deliveries", "webhook_schedule", "webhooks", "notifications"} {
		if seq := tableStat(t, f, table, "seq_scan"); seq != 0 {
			t.Errorf("%s: %d sequential scans by the relay, claims, records and sweeps, want 0", table, seq)
		}
	}
}

// The delivery statements join the log, the schedule, the notifications
// and the endpoints. Cached as generic plans while those were small, they
// read a whole index for every batch once the tables had grown (91 ms a
// record in the benchmark with a webhook per user). Here each statement
// runs as a connection's prepared statement on small tables, the tables
// grow, and then one batch of it, in the store's delivery transaction,
// must read a few pages per delivery, not the tables.
func TestDeliveryPlansFollowTheTables(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	u, _ := f.user(t, 0)
	hook := f.webhook(t, u)
	f.exec(t, `ANALYZE`)
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	type statement struct {
		name, sql string
		args      []any  // for the small tables
		literal   string // the batch's arguments, as SQL: {ids} and {n}
	}
	now := time.Now()
	statements := []statement{
		{"ClaimDeliveries", postgres.ClaimDeliveriesSQL, []any{[]string{}, now}, "{ids}, now() + interval '1 hour'"},
		{"RecordAttempts", postgres.RecordAttemptsSQL,
			[]any{[]string{}, []int32{}, []bool{}, []int32{}, []*string{}, []string{}, []*time.Time{}, []bool{}, time.Minute},
			"{ids}, array_fill(1, ARRAY[{n}]), array_fill(true, ARRAY[{n}]), array_fill(204, ARRAY[{n}])," +
				" array_fill(NULL::text, ARRAY[{n}]), array_fill('succeeded'::text, ARRAY[{n}])," +
				" array_fill(NULL::timestamptz, ARRAY[{n}]), array_fill(false, ARRAY[{n}]), interval '1 minute'"},
		{"DueDeliveries", postgres.DueDeliveriesSQL, []any{now, 100, now.Add(time.Minute)}, "now() + interval '1 hour', {n}, now() + interval '2 hours'"},
	}
	for i, st := range statements {
		name := fmt.Sprintf("plan_test_%d", i)
		if _, err := conn.Conn().Prepare(ctx, name, st.sql); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		for range 8 { // past the five custom plans that precede a generic one
			if _, err := conn.Exec(ctx, name, st.args...); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
		}
	}

	// The tables grow: 10,000 notifications, a delivery of each, and the
	// schedule of those that are pending (the first half succeeded and
	// left it). They are gone before the ledger's audit (a TRUNCATE: a
	// DELETE of the notifications checks each against the deliveries).
	const grown, batch = 10000, 16
	t.Cleanup(func() { f.exec(t, `TRUNCATE webhook_schedule, webhook_deliveries, notifications`) })
	f.exec(t, `INSERT INTO notifications (id, user_id, type, operation_id, created_at)
		SELECT gen_random_uuid(), $1, 'operation.completed', gen_random_uuid(), now() FROM generate_series(1, $2)`, u.ID, grown)
	f.exec(t, `INSERT INTO webhook_deliveries (id, webhook_id, notification_id, next_attempt_at, created_at)
		SELECT gen_random_uuid(), $1, id, now(), now() FROM notifications`, hook.ID)
	f.exec(t, `INSERT INTO webhook_schedule (delivery_id, due_at) SELECT id, now() + interval '1 minute' FROM webhook_deliveries`)
	f.exec(t, `WITH done AS (UPDATE webhook_deliveries SET status = 'succeeded', attempts = 1, next_attempt_at = NULL
			WHERE id IN (SELECT id FROM webhook_deliveries ORDER BY id LIMIT $1) RETURNING id)
		DELETE FROM webhook_schedule WHERE delivery_id IN (SELECT id FROM done)`, grown/2)
	rows, err := f.pool.Query(ctx, `SELECT quote_literal(delivery_id) FROM webhook_schedule ORDER BY delivery_id DESC LIMIT $1`, batch)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) != batch {
		t.Fatalf("%d ids: %v", len(ids), err)
	}

	for i, st := range statements {
		args := strings.NewReplacer("{ids}", "ARRAY["+strings.Join(ids, ", ")+"]::uuid[]", "{n}", fmt.Sprint(batch)).Replace(st.literal)
		explain := fmt.Sprintf("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE plan_test_%d(%s)", i, args)
		hits := func(begin string) int {
			t.Helper()
			if _, err := conn.Exec(ctx, begin); err != nil {
				t.Fatal(err)
			}
			defer conn.Exec(ctx, `ROLLBACK`)
			var plan []struct {
				Plan struct {
					Hits int `json:"Shared Hit Blocks"`
				}
			}
			if err := conn.QueryRow(ctx, explain).Scan(&plan); err != nil || len(plan) != 1 {
				t.Fatalf("%s: %v", st.name, err)
			}
			return plan[0].Plan.Hits
		}
		cached := hits(`BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL jit = off`)
		now := hits(postgres.DeliveryTxBegin)
		t.Logf("%s, a batch of %d: %d pages read with the plan cached while the tables were small, %d in the delivery transaction", st.name, batch, cached, now)
		if limit := 24 * batch; now > limit {
			t.Errorf("%s read %d pages for a batch of %d deliveries among %d, want at most %d", st.name, now, batch, grown, limit)
		}
	}
}
