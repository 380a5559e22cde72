package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walletd/wallet/internal/wallet"
)

// acceptInput is the rows of one CreateOperations call as SQL: every
// statement of the call reads the same arrays ($1 to $20; $21 is the
// group's task id).
const acceptInput = `(SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::uuid[], $6::uuid[],
	$7::text[], $8::uuid[], $9::uuid[], $10::text[], $11::bytea[], $12::int[], $13::uuid[], $14::uuid[], $15::uuid[],
	$16::boolean[], $17::text[], $18::bigint[], $19::uuid[], $20::int[])
	AS t(id, type, amount, currency, from_wallet_id, to_wallet_id, details, created_by, key_user, key, request_hash,
	     status_code, hold_id, withdrawal_id, pr_id, capture_final, end_as, expires_us, bank_id, ord))`

// keyed is true for an input row whose idempotency key (if any) is the
// one this row stored: its key was new.
const keyed = `(i.key IS NULL OR EXISTS (SELECT 1 FROM idempotency_keys k
	WHERE k.user_id = i.key_user AND k.key = i.key AND k.operation_id = i.id))`

// CreateOperations implements wallet.Store. One round trip and one commit
// for the whole batch. A batch that approves payment requests needs its
// statements in order, pipelined in one implicit transaction (the others
// take one statement, createOperations):
//
//  1. The idempotency keys, ON CONFLICT DO NOTHING: a key used before (or
//     twice in the batch) stays the first one's. ON CONFLICT waits for a
//     concurrent insert of the same key to commit or roll back, so two
//     requests never both win, in one batch or in two.
//  2. The approvals: a transfer that pays a payment request approves it,
//     if its key was new and the request is still open and unexpired
//     (a conditional update, so of an approve and a cancel exactly one
//     wins, and of two approves one).
//  3. The keys of refused approvals are deleted again: a refused request
//     stores nothing.
//  4. The operations whose key was new and whose approval (if any) held.
//  5. The holds and withdrawals those operations create.
//
// The batch shares one task id, the first entry's operation id (which
// names no stored operation if that entry was not stored: a task id is
// only a name).
func (s *Store) CreateOperations(ctx context.Context, batch []wallet.NewOperation) ([]wallet.Stored, error) {
	n := len(batch)
	if n == 0 {
		return nil, nil
	}
	ids, types, currencies, details := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	amounts, expires := make([]int64, n), make([]*int64, n)
	from, to, by := make([]string, n), make([]string, n), make([]*string, n)
	keyUsers, keys := make([]*string, n), make([]*string, n)
	hashes, codes, ord := make([][]byte, n), make([]int32, n), make([]int32, n)
	holdIDs, withdrawalIDs, requestIDs, bankIDs := make([]*string, n), make([]*string, n), make([]*string, n), make([]*string, n)
	finals, endAs := make([]*bool, n), make([]*string, n)
	out := make([]wallet.Stored, n)
	var anyKey, anyRequest, anyHold, anyWithdrawal bool
	for i, b := range batch {
		op := b.Op
		if op.ID == "" {
			op.ID = newID()
		}
		op.Status = wallet.StatusPending
		op.TaskID = out[0].Op.ID
		if i == 0 {
			op.TaskID = op.ID
		}
		if b.Hold != nil && op.HoldID == "" {
			op.HoldID = newID()
		}
		if b.Withdrawal != nil && op.WithdrawalID == "" {
			op.WithdrawalID = newID()
		}
		out[i].Op = op
		ids[i], types[i], amounts[i], currencies[i] = op.ID, string(op.Type), int64(op.Amount), op.Currency
		from[i], to[i], details[i], by[i] = op.FromWalletID, op.ToWalletID, op.Details, nullString(op.CreatedBy)
		holdIDs[i], withdrawalIDs[i], requestIDs[i] = nullString(op.HoldID), nullString(op.WithdrawalID), nullString(op.PaymentRequestID)
		ord[i] = int32(i)
		if op.Type == wallet.OpHoldCapture {
			final := op.CaptureFinal
			finals[i] = &final
		}
		if op.Type == wallet.OpWithdrawalFail {
			endAs[i] = nullString(string(op.EndAs))
		}
		if k := b.Key; k != nil {
			keyUsers[i], keys[i], hashes[i], codes[i] = &k.UserID, &k.Key, k.RequestHash, int32(k.StatusCode)
			anyKey = true
		}
		if op.PaymentRequestID != "" {
			anyRequest = true
		}
		if b.Hold != nil {
			us := b.Hold.ExpiresIn.Microseconds()
			expires[i] = &us
			anyHold = true
		}
		if b.Withdrawal != nil {
			bankIDs[i] = &b.Withdrawal.BankID
			anyWithdrawal = true
		}
	}
	args := []any{ids, types, amounts, currencies, from, to, details, by, keyUsers, keys, hashes, codes,
		holdIDs, withdrawalIDs, requestIDs, finals, endAs, expires, bankIDs, ord}

	if !anyRequest {
		return s.createOperations(ctx, batch, out, args, anyHold, anyWithdrawal)
	}
	q := &pgx.Batch{}
	newKeys := map[string]bool{} // operation ids whose key was new
	if anyKey {
		q.Queue(`INSERT INTO idempotency_keys (user_id, key, request_hash, operation_id, status_code)
			SELECT key_user, key, request_hash, id, status_code FROM `+acceptInput+` i
			WHERE key IS NOT NULL ORDER BY key_user, key, ord
			ON CONFLICT (user_id, key) DO NOTHING
			RETURNING operation_id`, args...).Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error { newKeys[id] = true; return nil })
			return err
		})
	}
	if anyRequest {
		q.Queue(`UPDATE payment_requests p SET status = 'approved', operation_id = i.id
			FROM `+acceptInput+` i
			WHERE i.pr_id IS NOT NULL AND p.id = i.pr_id AND p.status = 'open' AND p.expires_at > now()
			  AND p.from_wallet_id = i.from_wallet_id AND p.to_wallet_id = i.to_wallet_id AND p.amount = i.amount
			  AND `+keyed, args...)
		if anyKey {
			q.Queue(`DELETE FROM idempotency_keys k USING `+acceptInput+` i
				WHERE i.pr_id IS NOT NULL AND i.key IS NOT NULL
				  AND k.user_id = i.key_user AND k.key = i.key AND k.operation_id = i.id
				  AND NOT EXISTS (SELECT 1 FROM payment_requests p WHERE p.id = i.pr_id AND p.operation_id = i.id)`, args...)
		}
	}
	created := make(map[string]time.Time, n)
	q.Queue(`INSERT INTO operations (id, type, amount, currency, from_wallet_id, to_wallet_id, details, created_by,
			task_id, hold_id, withdrawal_id, payment_request_id, capture_final, end_as)
		SELECT id, type, amount, currency, from_wallet_id, to_wallet_id, details, created_by,
			$21::uuid, hold_id, withdrawal_id, pr_id, capture_final, end_as
		FROM `+acceptInput+` i
		WHERE `+keyed+` AND (i.pr_id IS NULL OR EXISTS (SELECT 1 FROM payment_requests p
			WHERE p.id = i.pr_id AND p.operation_id = i.id))
		RETURNING id, created_at`, append(args, out[0].Op.TaskID)...).Query(func(rows pgx.Rows) error {
		var id string
		var at time.Time
		_, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error { created[id] = at; return nil })
		return err
	})
	if anyHold {
		q.Queue(`INSERT INTO holds (id, amount, currency, from_wallet_id, to_wallet_id, details, operation_id, expires_at, created_at)
			SELECT i.hold_id, i.amount, i.currency, i.from_wallet_id, i.to_wallet_id, i.details, i.id,
				o.created_at + i.expires_us * interval '1 microsecond', o.created_at
			FROM `+acceptInput+` i JOIN operations o ON o.id = i.id
			WHERE i.type = 'hold'`, args...)
	}
	if anyWithdrawal {
		q.Queue(`INSERT INTO withdrawals (id, amount, currency, wallet_id, bank_id, settlement_wallet_id, details,
				operation_id, created_at)
			SELECT i.withdrawal_id, i.amount, i.currency, i.from_wallet_id, i.bank_id, i.to_wallet_id, i.details, i.id, o.created_at
			FROM `+acceptInput+` i JOIN operations o ON o.id = i.id
			WHERE i.type = 'withdrawal'`, args...)
	}
	if err := s.pool.SendBatch(ctx, q).Close(); err != nil {
		return nil, translate(err)
	}
	for i := range out {
		if at, ok := created[out[i].Op.ID]; ok {
			out[i].Op.CreatedAt = at
			continue
		}
		if batch[i].Key != nil && !newKeys[out[i].Op.ID] {
			out[i] = wallet.Stored{KeyUsed: true}
			continue
		}
		out[i] = wallet.Stored{Refused: wallet.EPaymentRequestNotOpen}
	}
	return out, nil
}

// createOperations is CreateOperations for a batch that approves no
// payment request, where nothing but a used key can keep an entry from
// being stored: one statement, whose data-modifying parts store the
// keys, then the operations whose key was new, then what they create.
func (s *Store) createOperations(ctx context.Context, batch []wallet.NewOperation, out []wallet.Stored, args []any,
	anyHold, anyWithdrawal bool) ([]wallet.Stored, error) {
	sql := `WITH i AS ` + acceptInput + `,
		k AS (
			INSERT INTO idempotency_keys (user_id, key, request_hash, operation_id, status_code)
			SELECT key_user, key, request_hash, id, status_code FROM i
			WHERE key IS NOT NULL ORDER BY key_user, key, ord
			ON CONFLICT (user_id, key) DO NOTHING
			RETURNING operation_id),
		o AS (
			INSERT INTO operations (id, type, amount, currency, from_wallet_id, to_wallet_id, details, created_by,
				task_id, hold_id, withdrawal_id, payment_request_id, capture_final, end_as)
			SELECT id, type, amount, currency, from_wallet_id, to_wallet_id, details, created_by,
				$21::uuid, hold_id, withdrawal_id, pr_id, capture_final, end_as
			FROM i WHERE key IS NULL OR id IN (SELECT operation_id FROM k)
			RETURNING id, created_at)`
	if anyHold {
		sql += `,
		h AS (
			INSERT INTO holds (id, amount, currency, from_wallet_id, to_wallet_id, details, operation_id, expires_at, created_at)
			SELECT i.hold_id, i.amount, i.currency, i.from_wallet_id, i.to_wallet_id, i.details, i.id,
				o.created_at + i.expires_us * interval '1 microsecond', o.created_at
			FROM i JOIN o ON o.id = i.id WHERE i.type = 'hold')`
	}
	if anyWithdrawal {
		sql += `,
		w AS (
			INSERT INTO withdrawals (id, amount, currency, wallet_id, bank_id, settlement_wallet_id, details,
				operation_id, created_at)
			SELECT i.withdrawal_id, i.amount, i.currency, i.from_wallet_id, i.bank_id, i.to_wallet_id, i.details, i.id, o.created_at
			FROM i JOIN o ON o.id = i.id WHERE i.type = 'withdrawal')`
	}
	rows, err := s.pool.Query(ctx, sql+` SELECT id, created_at FROM o`, append(args, out[0].Op.TaskID)...)
	if err != nil {
		return nil, translate(err)
	}
	created := make(map[string]time.Time, len(batch))
	var id string
	var at time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error { created[id] = at; return nil }); err != nil {
		return nil, translate(err)
	}
	for i := range out {
		if at, ok := created[out[i].Op.ID]; ok {
			out[i].Op.CreatedAt = at
		} else {
			out[i] = wallet.Stored{KeyUsed: true}
		}
	}
	return out, nil
}

// availableSQL reads the available balance of user wallets and how many
// pending operations it subtracts.
const availableSQL = `
	SELECT w.id, w.balance - w.held - p.amount, p.n
	FROM wallets w CROSS JOIN LATERAL (SELECT coalesce(sum(o.amount), 0)::bigint AS amount, count(*) AS n
	    FROM operations o WHERE o.from_wallet_id = w.id AND o.status = 'pending' AND o.type IN ` + reservingTypes + `) p
	WHERE w.id = ANY($1::uuid[]) AND w.kind = 'user'`

// AvailableBalances implements wallet.Store.
func (s *Store) AvailableBalances(ctx context.Context, walletIDs []string) (map[string]wallet.Amount, error) {
	st, err := s.AcceptState(ctx, wallet.AcceptQuery{Wallets: walletIDs})
	return st.Available, err
}

// AcceptState implements wallet.Store: its queries go in one pipeline.
func (s *Store) AcceptState(ctx context.Context, aq wallet.AcceptQuery) (wallet.AcceptState, error) {
	out := wallet.AcceptState{Available: map[string]wallet.Amount{}, Pending: map[string]int{},
		Holds: map[string]wallet.HoldState{}, Withdrawals: map[string]wallet.WithdrawalState{}}
	q := &pgx.Batch{}
	if len(aq.Wallets) > 0 {
		q.Queue(availableSQL, aq.Wallets).Query(func(rows pgx.Rows) error {
			var id string
			var avail, n int64
			_, err := pgx.ForEachRow(rows, []any{&id, &avail, &n}, func() error {
				out.Available[id], out.Pending[id] = wallet.Amount(avail), int(n)
				return nil
			})
			return err
		})
	}
	holds, withdrawals := out.Holds, out.Withdrawals
	holdIDs, withdrawalIDs := aq.Holds, aq.Withdrawals
	if len(holdIDs) > 0 {
		// The pending operations of each hold are read through its own
		// entries of operations_hold (a lateral subquery, one index
		// lookup per hold). A join left that to the planner, which in a
		// holds benchmark without the partial index of pending
		// operations merged against every hold's operations (36,000
		// index entries read for ten holds, 30 ms a call).
		q.Queue(`SELECT `+holdColumns+`, h.expires_at > now(), p.captures, p.closer, p.before_expiry
			FROM holds h
			CROSS JOIN LATERAL (SELECT
				coalesce(sum(o.amount) FILTER (WHERE o.type = 'hold_capture'), 0)::bigint AS captures,
				coalesce(bool_or(o.type IN ('hold_void', 'hold_expire') OR (o.type = 'hold_capture' AND o.capture_final)), false) AS closer,
				coalesce(bool_or(o.type IN ('hold_capture', 'hold_void') AND o.created_at < h.expires_at), false) AS before_expiry
				FROM operations o WHERE o.hold_id = h.id AND o.status = 'pending' AND o.type <> 'hold') p
			WHERE h.id = ANY($1::uuid[])`, holdIDs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var st wallet.HoldState
				var status string
				h := &st.Hold
				if err := rows.Scan(&h.ID, &status, &h.Amount, &h.Captured, &h.Released, &h.Currency, &h.FromWalletID,
					&h.ToWalletID, &h.Details, &h.FailureCode, &h.OperationID, &h.ExpiresAt, &h.CreatedAt, &h.ClosedAt,
					&st.Live, &st.PendingCaptures, &st.PendingCloser, &st.PendingBeforeExpiry); err != nil {
					return err
				}
				h.Status = wallet.HoldStatus(status)
				holds[h.ID] = st
			}
			return rows.Err()
		})
	}
	if len(withdrawalIDs) > 0 {
		q.Queue(`SELECT `+withdrawalColumns+`,
				w.status = 'pending' AND w.pending_since <= now() - $2::interval,
				EXISTS (SELECT 1 FROM operations o WHERE o.withdrawal_id = w.id AND o.status = 'pending'
				        AND o.type IN ('withdrawal_complete', 'withdrawal_fail'))
			FROM withdrawals w WHERE w.id = ANY($1::uuid[])`, withdrawalIDs, s.withdrawalTimeout()).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var st wallet.WithdrawalState
				var status string
				w := &st.Withdrawal
				if err := rows.Scan(&w.ID, &status, &w.Amount, &w.Currency, &w.WalletID, &w.BankID, &w.SettlementWalletID,
					&w.Details, &w.Reference, &w.FailureReason, &w.OperationID, &w.PendingSince, &w.CreatedAt, &w.ClosedAt,
					&st.TimedOut, &st.PendingCloser); err != nil {
					return err
				}
				w.Status = wallet.WithdrawalStatus(status)
				withdrawals[w.ID] = st
			}
			return rows.Err()
		})
	}
	if q.Len() == 0 {
		return out, nil
	}
	if err := s.pool.SendBatch(ctx, q).Close(); err != nil {
		return wallet.AcceptState{}, translate(err)
	}
	return out, nil
}
