package postgres_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// notifications has no foreign keys (migration 000014): the audit is what
// finds an event naming a user or an operation that does not exist.
func TestAuditFindsOrphanNotifications(t *testing.T) {
	f := setup(t)
	const check = "every notification names an existing user and operation"
	violations := func() int64 { t.Helper(); return auditViolations(t, f, check) }
	if n := violations(); n != 0 {
		t.Fatalf("%d violations on a clean ledger", n)
	}
	u, _ := f.user(t, 0)
	noUser, noOp := uuid.NewString(), uuid.NewString()
	f.exec(t, `INSERT INTO notifications (id, user_id, type, operation_id, subject, created_at) VALUES
		($1, $2, 'hold.captured', NULL, '{"id": "00000000-0000-0000-0000-000000000000"}', now()),
		($3, $4, 'operation.completed', $5, NULL, now())`, noUser, uuid.NewString(), noOp, u.ID, uuid.NewString())
	if n := violations(); n != 2 {
		t.Errorf("%d violations with an event of no user and one of no operation, want 2", n)
	}
	f.exec(t, `DELETE FROM notifications WHERE id IN ($1, $2)`, noUser, noOp)
}

// webhook_deliveries has no foreign key to notifications (migration
// 000016): the audit is what finds a delivery of an event that does not
// exist.
func TestAuditFindsDeliveriesOfNoEvent(t *testing.T) {
	f := setup(t)
	const check = "every webhook delivery names an existing notification"
	u, _ := f.user(t, 0)
	hook := f.webhook(t, u)
	if n := auditViolations(t, f, check); n != 0 {
		t.Fatalf("%d violations on a clean ledger", n)
	}
	orphan := uuid.NewString()
	f.exec(t, `INSERT INTO webhook_deliveries (id, webhook_id, notification_id, status, attempts, created_at)
		VALUES ($1, $2, $3, 'succeeded', 1, now())`, orphan, hook.ID, uuid.NewString())
	if n := auditViolations(t, f, check); n != 1 {
		t.Errorf("%d violations with a delivery of no event, want 1", n)
	}
	f.exec(t, `DELETE FROM webhook_deliveries WHERE id = $1`, orphan)
}

// auditViolations runs the audit and returns the violations of one check.
func auditViolations(t *testing.T, f *fixture, check string) int64 {
	t.Helper()
	r, err := f.store.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		if c.Name == check {
			return c.Violations
		}
	}
	t.Fatalf("the audit has no check %q", check)
	return 0
}
