package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// The relay reads only the notifications of users with endpoints while
// they are few, and none while there are none, but always moves its
// cursor past everything below its bound. Each way of reading (one range
// per user, or every notification in order) must make the same
// deliveries, exactly once, however small its limit.
func TestRelayReadsWhatHasEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name string
		few  int // users with endpoints read one by one; 0: every notification read
	}{
		{"per user", 256},
		{"every notification", 0},
		{"one user per user, the rest in order", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			f.store.SetRelayFewUsers(tc.few)
			ctx := context.Background()
			payer, from := f.user(t, 1_000_000)
			payee, to := f.user(t, 0)
			other, fromOther := f.user(t, 1_000_000)
			apply := func(ids ...string) {
				t.Helper()
				if _, err := f.store.ApplyOperations(ctx, ids); err != nil {
					t.Fatal(err)
				}
			}

			// No endpoint yet: nothing is relayed, and the cursor moves
			// past the notifications made so far.
			apply(f.transfer(t, payer, from, to, 100).ID, f.transfer(t, other, fromOther, from, 100).ID)
			if ds := relayAll(t, f, 1000); len(ds) != 0 {
				t.Fatalf("relayed %d deliveries with no endpoint registered", len(ds))
			}

			// An endpoint for the payee only, registered before what follows.
			hook := f.webhook(t, payee)
			time.Sleep(10 * time.Millisecond) // the notifications come after its created_at
			var want []string
			for range 3 {
				op := f.transfer(t, payer, from, to, 100)
				apply(op.ID, f.transfer(t, other, fromOther, from, 100).ID)
				want = append(want, op.ID)
			}
			// A limit of 2: every way of reading stops at it at least once.
			ds := relayAll(t, f, 2)
			var got []string
			for _, d := range ds {
				if d.WebhookID != hook.ID {
					t.Errorf("delivery %s to endpoint %s, want %s", d.ID, d.WebhookID, hook.ID)
				}
				var opID, user string
				if err := f.pool.QueryRow(ctx, `SELECT operation_id::text, user_id::text FROM notifications WHERE id = $1`,
					d.NotificationID).Scan(&opID, &user); err != nil {
					t.Fatal(err)
				}
				if user != payee.ID {
					t.Errorf("delivery of a notification for user %s, want the payee %s", user, payee.ID)
				}
				got = append(got, opID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("deliveries for operations %v, want one for each of %v", got, want)
			}
			var n int
			if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_deliveries`).Scan(&n); err != nil || n != len(want) {
				t.Fatalf("%d deliveries stored (%v), want %d", n, err, len(want))
			}
		})
	}
}

// relayAll relays until the relay's cursor is at the newest notification
// and its last call did not stop at limit, and returns what it made.
func relayAll(t *testing.T, f *fixture, limit int) []wallet.Delivery {
	t.Helper()
	ctx := context.Background()
	var all []wallet.Delivery
	stopped := 0
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ds, more, err := f.store.RelayDeliveries(ctx, time.Now(), limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > limit {
			t.Fatalf("one relay made %d deliveries, limit %d", len(ds), limit)
		}
		all = append(all, ds...)
		if more {
			stopped++
			continue
		}
		var atNewest bool
		if err := f.pool.QueryRow(ctx, `SELECT r.notification_id = (SELECT id FROM notifications ORDER BY xid DESC, id DESC LIMIT 1)
			FROM webhook_relay r WHERE r.id = 1`).Scan(&atNewest); err != nil {
			t.Fatal(err)
		}
		if atNewest {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay's cursor is not at the newest notification after 20 s (%d deliveries, %d full reads)", len(all), stopped)
		}
	}
}

// A statement that selects id::text and orders by id sorts by the text,
// which no index holds: it reads every row in range and sorts them. The
// relay's read did that (every notification after its cursor, once a
// second, whatever its limit), and so did the newest-notification read
// of the event stream. Each must read about what it returns.
func TestRelayAndLatestReadInIndexOrder(t *testing.T) {
	f := setup(t)
	f.store.SetRelayFewUsers(0) // every notification read in order
	ctx := context.Background()
	payer, from := f.user(t, 1_000_000)
	payee, to := f.user(t, 0)
	f.webhook(t, payer)
	f.webhook(t, payee)
	time.Sleep(10 * time.Millisecond)
	const transfers = 150
	var ids []string
	for range transfers {
		ids = append(ids, f.transfer(t, payer, from, to, 1).ID)
	}
	if _, err := f.store.ApplyOperations(ctx, ids); err != nil {
		t.Fatal(err)
	}
	// Once one is relayed, all are below the relay's bound.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ds, _, err := f.store.RelayDeliveries(ctx, time.Now(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing relayed in 20 s")
		}
	}
	if _, err := f.store.LatestNotification(ctx, payee.ID); err != nil {
		t.Fatal(err)
	}
	flushStats(t, f)
	f.exec(t, `SELECT pg_stat_reset()`)
	const limit = 10
	ds, more, err := f.store.RelayDeliveries(ctx, time.Now(), limit)
	if err != nil || len(ds) != limit || !more {
		t.Fatalf("relayed %d (more %v, %v), want %d and more", len(ds), more, err, limit)
	}
	latest, err := f.store.LatestNotification(ctx, payee.ID)
	if err != nil || latest == "" {
		t.Fatalf("latest notification %q: %v", latest, err)
	}
	flushStats(t, f)
	// About limit entries for the relay, one for the latest; the whole
	// range is 2 × transfers - 1.
	if n := indexStat(t, f, "notifications_relay", "idx_tup_read"); n > 3*limit {
		t.Errorf("the relay read %d entries of notifications_relay for %d notifications, want at most %d", n, limit, 3*limit)
	}
	if n := indexStat(t, f, "notifications_user", "idx_tup_read"); n > 10 {
		t.Errorf("the newest notification read %d entries of notifications_user (the payee has %d), want at most 10", n, transfers)
	}
}
