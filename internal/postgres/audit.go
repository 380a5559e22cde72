package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

// auditChecks are the ledger's invariants, each a query that returns the
// ids of the rows breaking it.
var auditChecks = []struct{ name, sql string }{
	{"every operation's entries sum to zero", `
		SELECT operation_id::text FROM entries GROUP BY operation_id HAVING sum(amount) <> 0`},
	{"every user wallet's balance equals its entries", `
		SELECT w.id::text FROM wallets w
		LEFT JOIN (SELECT wallet_id, sum(amount) AS s FROM entries GROUP BY wallet_id) e ON e.wallet_id = w.id
		WHERE w.kind = 'user' AND w.balance <> coalesce(e.s, 0)`},
	{"every settlement balance equals its entries", `
		SELECT w.id::text FROM wallets w
		LEFT JOIN (SELECT wallet_id, sum(balance) AS s FROM settlement_shards GROUP BY wallet_id) sh ON sh.wallet_id = w.id
		LEFT JOIN (SELECT wallet_id, sum(amount) AS s FROM entries GROUP BY wallet_id) e ON e.wallet_id = w.id
		WHERE w.kind = 'settlement' AND (coalesce(sh.s, 0) <> coalesce(e.s, 0) OR w.balance <> 0)`},
	{"no user wallet is negative", `
		SELECT id::text FROM wallets WHERE kind = 'user' AND balance < 0`},
	{"no user wallet holds more than its balance", `
		SELECT id::text FROM wallets WHERE kind = 'user' AND (held < 0 OR balance - held < 0)`},
	{"every completed operation that moves money has exactly its two entries", `
		SELECT o.id::text FROM operations o
		LEFT JOIN entries e ON e.operation_id = o.id
		WHERE o.status = 'completed' AND o.type IN ('external_to_wallet', 'wallet_to_wallet', 'hold_capture', 'withdrawal_complete')
		GROUP BY o.id
		HAVING count(e.id) <> 2
		    OR count(*) FILTER (WHERE e.wallet_id = o.from_wallet_id AND e.amount = -o.amount) <> 1
		    OR count(*) FILTER (WHERE e.wallet_id = o.to_wallet_id AND e.amount = o.amount) <> 1`},
	{"no operation that only reserves or releases has entries", `
		SELECT DISTINCT o.id::text FROM operations o JOIN entries e ON e.operation_id = o.id
		WHERE o.type IN ('hold', 'hold_void', 'hold_expire', 'withdrawal', 'withdrawal_fail')`},
	{"no failed or pending operation has entries", `
		SELECT DISTINCT o.id::text FROM operations o JOIN entries e ON e.operation_id = o.id
		WHERE o.status <> 'completed'`},
	{"each settlement balance is minus its deposits plus its completed withdrawals", `
		SELECT w.id::text FROM wallets w
		LEFT JOIN (SELECT wallet_id, sum(balance) AS s FROM settlement_shards GROUP BY wallet_id) sh ON sh.wallet_id = w.id
		LEFT JOIN (SELECT from_wallet_id, sum(amount) AS s FROM operations
		           WHERE type = 'external_to_wallet' AND status = 'completed' GROUP BY from_wallet_id) d
		       ON d.from_wallet_id = w.id
		LEFT JOIN (SELECT settlement_wallet_id, sum(amount) AS s FROM withdrawals
		           WHERE status = 'completed' GROUP BY settlement_wallet_id) wd
		       ON wd.settlement_wallet_id = w.id
		WHERE w.kind = 'settlement' AND coalesce(sh.s, 0) <> -coalesce(d.s, 0) + coalesce(wd.s, 0)`},
	{"every wallet's held equals its active holds' remaining plus its open withdrawals", `
		SELECT w.id::text FROM wallets w
		LEFT JOIN (SELECT from_wallet_id, sum(amount - captured - released) AS s FROM holds
		           WHERE status = 'active' GROUP BY from_wallet_id) h ON h.from_wallet_id = w.id
		LEFT JOIN (SELECT wallet_id, sum(amount) AS s FROM withdrawals
		           WHERE status IN ('pending', 'processing') GROUP BY wallet_id) wd ON wd.wallet_id = w.id
		WHERE w.held <> coalesce(h.s, 0) + coalesce(wd.s, 0)`},
	{"every closed hold's captured part plus what was released equals its amount", `
		SELECT id::text FROM holds
		WHERE (status IN ('captured', 'voided', 'expired') AND captured + released <> amount)
		   OR (status = 'active' AND captured + released >= amount)
		   OR (status IN ('pending', 'failed') AND (captured <> 0 OR released <> 0))`},
	{"every hold's captured part is its completed captures", `
		SELECT h.id::text FROM holds h
		LEFT JOIN (SELECT hold_id, sum(amount) AS s FROM operations
		           WHERE type = 'hold_capture' AND status = 'completed' GROUP BY hold_id) c ON c.hold_id = h.id
		WHERE h.captured <> coalesce(c.s, 0)`},
	{"every hold's state matches its hold operation", `
		SELECT h.id::text FROM holds h JOIN operations o ON o.id = h.operation_id
		WHERE (o.status = 'pending') <> (h.status = 'pending')
		   OR (o.status = 'failed') <> (h.status = 'failed')
		   OR o.hold_id <> h.id OR o.amount <> h.amount`},
	{"every withdrawal's state matches its operations", `
		SELECT w.id::text FROM withdrawals w JOIN operations o ON o.id = w.operation_id
		WHERE (o.status = 'pending') <> (w.status = 'requested')
		   OR (o.status = 'failed') <> (w.status = 'failed' AND w.pending_since IS NULL)
		   OR (w.status = 'completed') <> EXISTS (SELECT 1 FROM operations c WHERE c.withdrawal_id = w.id
		          AND c.type = 'withdrawal_complete' AND c.status = 'completed')`},
	{"every payment request that is approved or paid has its transfer", `
		SELECT p.id::text FROM payment_requests p
		LEFT JOIN operations o ON o.id = p.operation_id
		WHERE (p.status = 'approved' AND (o.id IS NULL OR o.status <> 'pending' OR o.payment_request_id <> p.id))
		   OR (p.status = 'paid' AND (o.id IS NULL OR o.status <> 'completed' OR o.payment_request_id <> p.id))`},
	{"every operation made final has one event per party, and a pending one none", `
		WITH expected AS (
			SELECT o.id, p.user_id,
				CASE WHEN o.status = 'completed' THEN 'operation.completed' ELSE 'operation.failed' END AS type
			FROM operations o
			CROSS JOIN LATERAL (
				SELECT w.user_id FROM wallets w WHERE o.status = 'completed' AND w.id IN (o.from_wallet_id, o.to_wallet_id)
				UNION
				-- the service's own operations (an expiry) have no creator to tell
				SELECT o.created_by WHERE o.status = 'failed' AND o.created_by IS NOT NULL
			) p
			WHERE o.status <> 'pending' AND o.completed_at >= (SELECT min(started_at) FROM outbox_epoch)
		), got AS (
			SELECT operation_id AS id, user_id, type, count(*) AS n FROM notifications
			WHERE type LIKE 'operation.%' GROUP BY 1, 2, 3
		)
		SELECT DISTINCT coalesce(e.id, g.id)::text
		FROM expected e FULL JOIN got g ON g.id = e.id AND g.user_id = e.user_id AND g.type = e.type
		WHERE e.id IS NULL OR g.id IS NULL OR g.n <> 1`},
	{"every hold, payment request and withdrawal closed has its closing event once per party", `
		WITH epoch AS (SELECT min(started_at) AS t FROM outbox_epoch),
		expected AS (
			SELECT h.id, 'hold.' || h.status AS type, w.user_id
			FROM holds h JOIN wallets w ON w.id IN (h.from_wallet_id, h.to_wallet_id)
			WHERE h.status IN ('captured', 'voided', 'expired') AND h.closed_at >= (SELECT t FROM epoch)
			UNION
			SELECT p.id, 'payment_request.' || p.status, w.user_id
			FROM payment_requests p JOIN wallets w ON w.id IN (p.from_wallet_id, p.to_wallet_id)
			WHERE p.status IN ('paid', 'declined', 'cancelled', 'expired') AND p.closed_at >= (SELECT t FROM epoch)
			UNION
			-- a withdrawal that never reserved (never pending) is told by its operation.failed
			SELECT x.id, 'withdrawal.' || x.status, u.user_id
			FROM withdrawals x CROSS JOIN LATERAL (
				SELECT w.user_id FROM wallets w WHERE w.id = x.wallet_id UNION SELECT x.bank_id) u
			WHERE x.status IN ('completed', 'failed', 'cancelled', 'expired') AND x.pending_since IS NOT NULL
			  AND x.closed_at >= (SELECT t FROM epoch)
		), got AS (
			SELECT (subject->>'id')::uuid AS id, type, user_id, count(*) AS n FROM notifications
			WHERE subject IS NOT NULL GROUP BY 1, 2, 3
		)
		SELECT e.id::text FROM expected e LEFT JOIN got g ON g.id = e.id AND g.type = e.type AND g.user_id = e.user_id
		WHERE g.n IS DISTINCT FROM 1
		UNION
		SELECT id::text FROM got WHERE n > 1`},
	{"every pending webhook delivery is scheduled, and only a pending one", `
		SELECT coalesce(d.id, s.delivery_id)::text
		FROM webhook_deliveries d FULL JOIN webhook_schedule s ON s.delivery_id = d.id
		WHERE (d.status = 'pending') IS DISTINCT FROM (s.delivery_id IS NOT NULL)`},
	{"every notification names an existing user and operation", `
		SELECT n.id::text FROM notifications n
		LEFT JOIN users u ON u.id = n.user_id
		LEFT JOIN operations o ON o.id = n.operation_id
		WHERE u.id IS NULL OR (n.operation_id IS NOT NULL AND o.id IS NULL)`},
	{"every webhook delivery names an existing notification", `
		SELECT d.id::text FROM webhook_deliveries d
		LEFT JOIN notifications n ON n.id = d.notification_id
		WHERE n.id IS NULL`},
	// The tables every money movement writes have no foreign keys
	// (migration 000015): this is what their keys checked.
	{"every operation, entry, idempotency key and hold names existing rows", `
		SELECT o.id::text FROM operations o
		LEFT JOIN wallets f ON f.id = o.from_wallet_id
		LEFT JOIN wallets t ON t.id = o.to_wallet_id
		LEFT JOIN users u ON u.id = o.created_by
		WHERE f.id IS NULL OR t.id IS NULL OR (o.created_by IS NOT NULL AND u.id IS NULL)
		UNION ALL
		SELECT e.id::text FROM entries e
		LEFT JOIN operations o ON o.id = e.operation_id
		LEFT JOIN wallets w ON w.id = e.wallet_id
		WHERE o.id IS NULL OR w.id IS NULL
		UNION ALL
		SELECT k.user_id::text || ' ' || k.key FROM idempotency_keys k
		LEFT JOIN users u ON u.id = k.user_id
		LEFT JOIN operations o ON o.id = k.operation_id
		WHERE u.id IS NULL OR o.id IS NULL
		UNION ALL
		SELECT h.id::text FROM holds h
		LEFT JOIN wallets f ON f.id = h.from_wallet_id
		LEFT JOIN wallets t ON t.id = h.to_wallet_id
		WHERE f.id IS NULL OR t.id IS NULL`},
	{"all entries together sum to zero", `
		SELECT 'ledger' FROM entries HAVING sum(amount) <> 0`},
}

// Audit checks every invariant of the ledger in one repeatable-read
// snapshot, so a live system gives a consistent answer.
func (s *Store) Audit(ctx context.Context) (wallet.AuditReport, error) {
	r := wallet.AuditReport{CheckedAt: time.Now()}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly},
		func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM operations), (SELECT count(*) FROM wallets),
				(SELECT count(*) FROM entries)`).Scan(&r.Operations, &r.Wallets, &r.Entries); err != nil {
				return err
			}
			for _, c := range auditChecks {
				rows, err := tx.Query(ctx, c.sql)
				if err != nil {
					return err
				}
				check := wallet.AuditCheck{Name: c.name}
				for rows.Next() {
					var id string
					if err := rows.Scan(&id); err != nil {
						rows.Close()
						return err
					}
					check.Violations++
					if len(check.Examples) < 10 {
						check.Examples = append(check.Examples, id)
					}
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
				r.Checks = append(r.Checks, check)
			}
			return nil
		})
	if err != nil {
		return wallet.AuditReport{}, translate(err)
	}
	return r, nil
}
