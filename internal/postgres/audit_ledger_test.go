package postgres_test

import (
	"testing"

	"github.com/google/uuid"
)

// operations, entries, idempotency_keys and holds have no foreign keys
// (migration 000015): the audit is what finds a row naming a wallet, a
// user or an operation that does not exist.
func TestAuditFindsOrphanLedgerRows(t *testing.T) {
	f := setup(t)
	const check = "every operation, entry, idempotency key and hold names existing rows"
	u, w := f.user(t, 500)
	other, ow := f.user(t, 0)
	op := f.apply(t, f.transfer(t, u, w, ow, 100).ID)
	if n := auditViolations(t, f, check); n != 0 {
		t.Fatalf("%d violations on a clean ledger", n)
	}

	noWallet, noUser, noOp := uuid.NewString(), uuid.NewString(), uuid.NewString()
	orphanOp, orphanHold := uuid.NewString(), uuid.NewString()
	// An operation from a wallet that does not exist; a pair of entries
	// (summing to zero) of an operation and a wallet that do not exist;
	// an idempotency key of no user, and one naming no operation; a hold
	// for a wallet that does not exist.
	f.exec(t, `INSERT INTO operations (id, type, amount, currency, from_wallet_id, to_wallet_id, created_by)
		VALUES ($1, 'wallet_to_wallet', 1, $2, $3, $4, $5)`, orphanOp, op.Currency, noWallet, ow.ID, other.ID)
	f.exec(t, `INSERT INTO entries (operation_id, wallet_id, amount) VALUES ($1, $2, 7), ($1, $3, -7)`,
		noOp, noWallet, w.ID)
	f.exec(t, `INSERT INTO idempotency_keys (user_id, key, request_hash, operation_id, status_code) VALUES
		($1, 'orphan-user', '\x00', $2, 202), ($3, 'orphan-op', '\x00', $4, 202)`, noUser, op.ID, u.ID, noOp)
	f.exec(t, `INSERT INTO holds (id, status, amount, currency, from_wallet_id, to_wallet_id, operation_id,
			expires_at, closed_at, failure_code)
		VALUES ($1, 'failed', 1, $2, $3, $4, $5, now(), now(), 'insufficient_funds')`,
		orphanHold, op.Currency, w.ID, noWallet, op.ID)
	if n := auditViolations(t, f, check); n != 6 {
		t.Errorf("%d violations with an orphan operation, two orphan entries, two orphan keys and an orphan hold, want 6", n)
	}

	f.exec(t, `DELETE FROM operations WHERE id = $1`, orphanOp)
	f.exec(t, `DELETE FROM entries WHERE operation_id = $1`, noOp)
	f.exec(t, `DELETE FROM idempotency_keys WHERE key IN ('orphan-user', 'orphan-op')`)
	f.exec(t, `DELETE FROM holds WHERE id = $1`, orphanHold)
	if n := auditViolations(t, f, check); n != 0 {
		t.Errorf("%d violations once the orphans are gone", n)
	}
}
