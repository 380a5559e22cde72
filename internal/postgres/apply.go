package postgres

import (
	"context"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walletd/wallet/internal/wallet"
)

// ApplyOperation implements wallet.Store.
func (s *Store) ApplyOperation(ctx context.Context, id string) (wallet.Operation, bool, error) {
	res, err := s.ApplyOperations(ctx, []string{id})
	if err != nil {
		return wallet.Operation{}, false, err
	}
	return res[0].Op, res[0].Applied, nil
}

// ApplyOperations applies many operations in one transaction, which is
// where throughput comes from: the commit, not the SQL, is the cost. It
// returns one result per id, in the order given. Unknown ids fail the
// whole call with EOperationNotFound. It retries serialization failures
// and deadlocks, and nothing else.
func (s *Store) ApplyOperations(ctx context.Context, ids []string) ([]wallet.Applied, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.applyBatch(ctx, ids)
		if err != nil && retryable(err) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, translate(err)
		}
		return res, nil
	}
}

// keyedTx begins a transaction with sequential scans off, for work whose
// every read is by key (ids, wallet ids, hold ids, a cursor's index
// range): an index scan is right at any table size. A connection keeps a
// statement's generic plan until the table is analyzed again, and a plan
// made while a table was nearly empty (holds, withdrawals, payment
// requests, webhook deliveries after a deploy) would otherwise scan the
// whole table for every batch until autovacuum next analyzes it
// (TestApplierNeverScansWholeTables, TestDeliveriesNeverScanWholeTables).
// The BEGIN and the settings go in one round trip. The applier (through
// batchBegin) and the webhook deliveries run in such transactions.
//
// JIT is off too: these are short statements, and with sequential scans
// off, a plan that keeps one (a table without a fitting index) costs
// more than jit_above_cost and would be compiled, 300 ms, every time.
var keyedTx = pgx.TxOptions{BeginQuery: "BEGIN; " + strings.Join(keyedSettings, "; ")}

var keyedSettings = []string{"SET LOCAL enable_seqscan = off", "SET LOCAL jit = off"}

// applyBatch is one attempt of ApplyOperations. Under the rule of the
// ledger it locks, in phases and each phase in id order (so concurrent
// batches never deadlock): the operation rows, the user wallets, the
// holds, the withdrawals, the payment requests, then the settlement
// shards. It skips operations that are no longer pending, decides the
// rest in creation order against what it locked (a debit never takes a
// wallet below what it holds, and the CHECK constraints back that up),
// and writes balances, reservations, entries, statuses and the state of
// holds, withdrawals and requests in the same commit.
//
// The transaction takes three round trips: the BEGIN with the operations'
// locks, the other locks, then the writes with the COMMIT (see
// batchBegin). Every row lock a batch holds is held for as long as the
// transaction lasts, so each round trip it saves is time another batch on
// the same wallet does not wait, most of all where Postgres is a network
// hop away.
func (s *Store) applyBatch(ctx context.Context, ids []string) ([]wallet.Applied, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// A transaction left open by an error is rolled back; a connection
	// that cannot say (broken, busy) is closed by Release.
	defer func() {
		pc := conn.Conn().PgConn()
		if !pc.IsClosed() && !pc.IsBusy() && pc.TxStatus() != 'I' {
			_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		conn.Release()
	}()

	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var ops []wallet.Operation
	q := batchBegin()
	q.Queue(`SELECT `+opColumns+` FROM operations o WHERE o.id = ANY($1) ORDER BY o.id FOR UPDATE`, sorted).Query(func(rows pgx.Rows) error {
		var err error
		ops, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Operation, error) { return scanOperation(r) })
		return err
	})
	if err := conn.SendBatch(ctx, q).Close(); err != nil {
		return nil, err
	}
	if len(ops) != len(sorted) {
		return nil, wallet.Errorf(wallet.EOperationNotFound, "operation not found")
	}

	byID := make(map[string]*wallet.Applied, len(ops))
	var pending []*wallet.Operation
	for i := range ops {
		byID[ops[i].ID] = &wallet.Applied{Op: ops[i]}
		if !ops[i].Final() {
			pending = append(pending, &byID[ops[i].ID].Op)
		}
	}
	if len(pending) > 0 {
		b := &batch{store: s, pending: pending, due: map[string][]wallet.Due{}}
		if err := b.lock(ctx, conn); err != nil {
			return nil, err
		}
		for _, op := range pending {
			b.settle(op, b.decide(op))
		}
		if err := b.write(ctx, conn); err != nil {
			return nil, err
		}
		for _, op := range pending {
			byID[op.ID].Applied = true
			byID[op.ID].Due = b.due[op.ID]
		}
	} else if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return nil, err
	}
	out := make([]wallet.Applied, len(ids))
	for i, id := range ids {
		out[i] = *byID[id]
	}
	return out, nil
}

// batchBegin starts a pipeline with keyedTx's BEGIN and settings, as
// statements of their own: an explicit BEGIN in a pipeline turns it into
// an ordinary transaction that outlives the pipeline, so the statements
// queued after it are the transaction's first, in the same round trip.
func batchBegin() *pgx.Batch {
	q := &pgx.Batch{}
	q.Queue("BEGIN")
	for _, set := range keyedSettings {
		q.Queue(set)
	}
	return q
}

// account is a locked wallet as a batch changes it.
type account struct {
	kind          wallet.WalletKind
	owner         string // the user it belongs to
	balance, held int64
	changed       bool
}

// available is what the wallet can spend or reserve now.
func (a *account) available() int64 { return a.balance - a.held }

// requestRef is a locked payment request.
type requestRef struct {
	req         wallet.PaymentRequest // as locked
	status      wallet.PaymentRequestStatus
	operationID string
	changed     bool
	closedAt    *time.Time
}

// batch is one applyBatch's locked state and the changes it decides.
type batch struct {
	store   *Store
	pending []*wallet.Operation
	now     time.Time

	accounts    map[string]*account
	holds       map[string]*wallet.Hold
	withdrawals map[string]*wallet.Withdrawal
	requests    map[string]*requestRef
	// blocked holds have a capture or void accepted before their expiry
	// that is not in this batch and not final yet.
	blocked                          map[string]bool
	changedHolds, changedWithdrawals map[string]bool

	settlement       map[string]int64 // settlement wallet id -> delta
	entOp, entWallet []string
	entAmount        []int64
	entAfter         []*int64
	due              map[string][]wallet.Due

	// told is the last status of each object the batch locked that it
	// knows or told of; events, what it tells (see tell).
	told   map[string]string
	events []subjectEvent
}

// lock locks, in order, everything the pending operations touch but the
// settlement shards (locked when written).
func (b *batch) lock(ctx context.Context, tx *pgxpool.Conn) error {
	var walletIDs, holdIDs, withdrawalIDs, requestIDs, expiring []string
	for _, op := range b.pending {
		// Only the wallets an operation changes are locked: a hold, a void
		// or an expiry changes the payer's alone (a hold for a hot
		// merchant must not lock the merchant's wallet).
		switch op.Type {
		case wallet.OpHold, wallet.OpHoldVoid, wallet.OpHoldExpire:
			walletIDs = append(walletIDs, op.FromWalletID)
		default:
			walletIDs = append(walletIDs, op.FromWalletID, op.ToWalletID)
		}
		if op.HoldID != "" {
			holdIDs = append(holdIDs, op.HoldID)
			if op.Type == wallet.OpHoldExpire {
				expiring = append(expiring, op.HoldID)
			}
		}
		if op.WithdrawalID != "" {
			withdrawalIDs = append(withdrawalIDs, op.WithdrawalID)
		}
		if op.PaymentRequestID != "" {
			requestIDs = append(requestIDs, op.PaymentRequestID)
		}
	}
	sortUnique := func(ids []string) []string {
		slices.Sort(ids)
		return slices.Compact(ids)
	}

	// The owners of the wallets the batch's events go to but that it
	// does not lock (a hold's recipient), when not known yet.
	var unknown []string
	for _, op := range b.pending {
		for _, id := range []string{op.FromWalletID, op.ToWalletID} {
			if _, ok := b.store.owners.Load(id); !ok && !slices.Contains(walletIDs, id) {
				unknown = append(unknown, id)
			}
		}
	}

	// One round trip for every lock of the batch: the statements of a
	// pipeline run in order, so the lock order holds. Settlement accounts
	// are read (their kind) but never locked here: their balance lives in
	// the shards, and a batch changes one shard.
	walletIDs = sortUnique(walletIDs)
	b.accounts = map[string]*account{}
	b.holds, b.blocked, b.changedHolds = map[string]*wallet.Hold{}, map[string]bool{}, map[string]bool{}
	b.withdrawals, b.changedWithdrawals = map[string]*wallet.Withdrawal{}, map[string]bool{}
	b.requests = map[string]*requestRef{}
	b.told, b.events = map[string]string{}, nil
	q := &pgx.Batch{}
	q.Queue(`SELECT id, user_id, balance, held FROM wallets WHERE id = ANY($1) AND kind = 'user'
		ORDER BY id FOR NO KEY UPDATE`, walletIDs).Query(func(rows pgx.Rows) error {
		var id, owner string
		var balance, held int64
		_, err := pgx.ForEachRow(rows, []any{&id, &owner, &balance, &held}, func() error {
			b.accounts[id] = &account{kind: wallet.KindUser, owner: owner, balance: balance, held: held}
			return nil
		})
		return err
	})
	q.Queue(`SELECT id, user_id FROM wallets WHERE id = ANY($1) AND kind = 'settlement'`, walletIDs).Query(func(rows pgx.Rows) error {
		var id, owner string
		_, err := pgx.ForEachRow(rows, []any{&id, &owner}, func() error {
			b.accounts[id] = &account{kind: wallet.KindSettlement, owner: owner}
			return nil
		})
		return err
	})
	if len(unknown) > 0 {
		q.Queue(`SELECT id, user_id FROM wallets WHERE id = ANY($1)`, unknown).Query(func(rows pgx.Rows) error {
			var id, owner string
			_, err := pgx.ForEachRow(rows, []any{&id, &owner}, func() error {
				b.store.owners.Store(id, owner)
				return nil
			})
			return err
		})
	}
	// The batch's clock, read once its wallets are locked.
	q.Queue(`SELECT clock_timestamp()`).QueryRow(func(r pgx.Row) error { return r.Scan(&b.now) })
	if len(holdIDs) > 0 {
		q.Queue(`SELECT `+holdColumns+` FROM holds h WHERE h.id = ANY($1) ORDER BY h.id FOR UPDATE`,
			sortUnique(holdIDs)).Query(func(rows pgx.Rows) error {
			holds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Hold, error) { return scanHold(r) })
			for i := range holds {
				b.holds[holds[i].ID] = &holds[i]
				b.told[holds[i].ID] = string(holds[i].Status)
			}
			return err
		})
	}
	if len(expiring) > 0 {
		inBatch := make([]string, len(b.pending))
		for i, op := range b.pending {
			inBatch[i] = op.ID
		}
		q.Queue(`
			SELECT DISTINCT o.hold_id::text FROM operations o JOIN holds h ON h.id = o.hold_id
			WHERE o.hold_id = ANY($1) AND o.status = 'pending' AND o.type IN ('hold_capture', 'hold_void')
			  AND o.created_at < h.expires_at AND o.id <> ALL($2)`, sortUnique(expiring), inBatch).Query(func(rows pgx.Rows) error {
			var id string
			_, err := pgx.ForEachRow(rows, []any{&id}, func() error { b.blocked[id] = true; return nil })
			return err
		})
	}
	if len(withdrawalIDs) > 0 {
		q.Queue(`SELECT `+withdrawalColumns+` FROM withdrawals w WHERE w.id = ANY($1) ORDER BY w.id FOR UPDATE`,
			sortUnique(withdrawalIDs)).Query(func(rows pgx.Rows) error {
			ws, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Withdrawal, error) { return scanWithdrawal(r) })
			for i := range ws {
				b.withdrawals[ws[i].ID] = &ws[i]
				b.told[ws[i].ID] = string(ws[i].Status)
			}
			return err
		})
	}
	if len(requestIDs) > 0 {
		q.Queue(`SELECT `+requestColumns+` FROM payment_requests p
			WHERE p.id = ANY($1) ORDER BY p.id FOR UPDATE`, sortUnique(requestIDs)).Query(func(rows pgx.Rows) error {
			rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.PaymentRequest, error) { return scanRequest(r) })
			for _, r := range rs {
				b.requests[r.ID] = &requestRef{req: r, status: r.Status, operationID: r.OperationID}
				b.told[r.ID] = string(r.Status)
			}
			return err
		})
	}
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return err
	}
	b.settlement = map[string]int64{}
	return nil
}

// user returns the locked user wallet id, or nil.
func (b *batch) user(id string) *account {
	if a := b.accounts[id]; a != nil && a.kind == wallet.KindUser {
		return a
	}
	return nil
}

// entry records a leg; after is the user wallet's balance after it.
func (b *batch) entry(op *wallet.Operation, walletID string, amount int64, after *int64) {
	b.entOp, b.entWallet, b.entAmount, b.entAfter = append(b.entOp, op.ID), append(b.entWallet, walletID),
		append(b.entAmount, amount), append(b.entAfter, after)
}

// move moves amount from a user wallet (out of what it holds when
// fromHeld) to a user wallet or a settlement account, with its entries.
func (b *batch) move(op *wallet.Operation, from, to string, amount int64, fromHeld bool) {
	src := b.accounts[from]
	src.balance -= amount
	if fromHeld {
		src.held -= amount
	}
	src.changed = true
	after := src.balance
	b.entry(op, from, -amount, &after)
	if dst := b.user(to); dst != nil {
		dst.balance += amount
		dst.changed = true
		toAfter := dst.balance
		b.entry(op, to, amount, &toAfter)
		return
	}
	b.settlement[to] += amount
	b.entry(op, to, amount, nil)
}

// reserve holds amount on a user wallet, or releases it (negative).
func (b *batch) reserve(walletID string, amount int64) {
	a := b.accounts[walletID]
	a.held += amount
	a.changed = true
}

// decide works out one operation's effect on the batch and returns its
// failure code, "" when it completes.
func (b *batch) decide(op *wallet.Operation) string {
	amount := int64(op.Amount)
	switch op.Type {
	case wallet.OpDeposit:
		to := b.user(op.ToWalletID)
		if to == nil {
			return wallet.EWalletNotFound
		}
		to.balance += amount
		to.changed = true
		b.settlement[op.FromWalletID] -= amount
		after := to.balance
		b.entry(op, op.FromWalletID, -amount, nil)
		b.entry(op, op.ToWalletID, amount, &after)
		return ""

	case wallet.OpTransfer:
		from, to := b.user(op.FromWalletID), b.user(op.ToWalletID)
		if from == nil || to == nil {
			return wallet.EWalletNotFound
		}
		if from.available() < amount {
			return wallet.EInsufficientFunds
		}
		b.move(op, op.FromWalletID, op.ToWalletID, amount, false)
		return ""

	case wallet.OpHold:
		h, from := b.holds[op.HoldID], b.user(op.FromWalletID)
		if h == nil {
			return wallet.EHoldNotFound
		}
		failure := ""
		switch {
		case from == nil || h.FromWalletID != op.FromWalletID || h.ToWalletID != op.ToWalletID:
			failure = wallet.EWalletNotFound
		case from.available() < amount:
			failure = wallet.EInsufficientFunds
		default:
			b.reserve(op.FromWalletID, amount)
			b.due[op.ID] = append(b.due[op.ID], wallet.Due{Kind: wallet.DueHold, ID: h.ID, At: h.ExpiresAt})
		}
		if h.Status == wallet.HoldPending {
			h.Activate(failure, b.now)
			b.changedHolds[h.ID] = true
			b.tellHold(h)
		}
		return failure

	case wallet.OpHoldCapture:
		h := b.holds[op.HoldID]
		if h == nil {
			return wallet.EHoldNotFound
		}
		if b.user(op.FromWalletID) == nil || b.user(op.ToWalletID) == nil || !h.Parties(op) {
			return wallet.EWalletNotFound
		}
		released, failure := h.Capture(op.Amount, op.CaptureFinal, op.CreatedAt, b.now)
		if failure != "" {
			return failure
		}
		b.changedHolds[h.ID] = true
		b.tellHold(h)
		b.move(op, op.FromWalletID, op.ToWalletID, amount, true)
		b.reserve(op.FromWalletID, -int64(released))
		return ""

	case wallet.OpHoldVoid, wallet.OpHoldExpire:
		h := b.holds[op.HoldID]
		if h == nil {
			return wallet.EHoldNotFound
		}
		if b.user(op.FromWalletID) == nil || !h.Parties(op) {
			return wallet.EWalletNotFound
		}
		var released wallet.Amount
		var failure string
		if op.Type == wallet.OpHoldVoid {
			released, failure = h.Void(op.CreatedAt, b.now)
		} else {
			released, failure = h.Expire(b.now, b.blocked[h.ID])
		}
		if failure != "" {
			return failure
		}
		b.changedHolds[h.ID] = true
		b.tellHold(h)
		b.reserve(op.FromWalletID, -int64(released))
		op.Amount = released // what it released, as it turned out
		return ""

	case wallet.OpWithdrawal:
		w, from := b.withdrawals[op.WithdrawalID], b.user(op.FromWalletID)
		if w == nil {
			return wallet.EWithdrawalNotFound
		}
		failure := ""
		switch {
		case from == nil:
			failure = wallet.EWalletNotFound
		case from.available() < amount:
			failure = wallet.EInsufficientFunds
		default:
			b.reserve(op.FromWalletID, amount)
		}
		if w.Status == wallet.WithdrawalRequested {
			w.Reserve(failure, b.now)
			b.changedWithdrawals[w.ID] = true
			if failure == "" {
				// One that reserved nothing is told by its operation.failed
				// to its owner alone: its bank never saw it.
				b.tellWithdrawal(w)
				b.due[op.ID] = append(b.due[op.ID], wallet.Due{Kind: wallet.DueWithdrawal, ID: w.ID,
					At: b.now.Add(b.store.withdrawalTimeout())})
			}
		}
		return failure

	case wallet.OpWithdrawalComplete, wallet.OpWithdrawalFail:
		w := b.withdrawals[op.WithdrawalID]
		if w == nil {
			return wallet.EWithdrawalNotFound
		}
		if b.user(op.FromWalletID) == nil || op.FromWalletID != w.WalletID || op.ToWalletID != w.SettlementWalletID {
			return wallet.EWalletNotFound
		}
		var failure string
		if op.Type == wallet.OpWithdrawalComplete {
			failure = w.Complete(op.Details, b.now)
		} else {
			failure = w.End(op.EndAs, op.Details, b.now, b.store.withdrawalTimeout())
		}
		if failure != "" {
			return failure
		}
		b.changedWithdrawals[w.ID] = true
		b.tellWithdrawal(w)
		if op.Type == wallet.OpWithdrawalComplete {
			b.move(op, op.FromWalletID, w.SettlementWalletID, amount, true)
		} else {
			b.reserve(op.FromWalletID, -amount)
		}
		return ""
	}
	return wallet.EInvalidRequest
}

// settle records an operation's outcome, and what a transfer's outcome
// does to the payment request it pays: paid with it, or open again.
func (b *batch) settle(op *wallet.Operation, failure string) {
	if failure == "" {
		op.Status = wallet.StatusCompleted
	} else {
		op.Status, op.FailureCode = wallet.StatusFailed, failure
	}
	if r := b.requests[op.PaymentRequestID]; r != nil && r.status == wallet.RequestApproved && r.operationID == op.ID {
		r.changed = true
		if failure == "" {
			now := b.now
			r.status, r.closedAt = wallet.RequestPaid, &now
			paid := r.req
			paid.Status, paid.ClosedAt, paid.OperationID = r.status, r.closedAt, op.ID
			b.tellRequest(&paid)
		} else {
			r.status, r.operationID = wallet.RequestOpen, ""
		}
	}
}

// write sends every change of the batch, and the COMMIT, in one round
// trip.
func (b *batch) write(ctx context.Context, tx *pgxpool.Conn) error {
	q := &pgx.Batch{}
	var balID []string
	var balValue, heldValue []int64
	for id, a := range b.accounts {
		if a.changed {
			balID, balValue, heldValue = append(balID, id), append(balValue, a.balance), append(heldValue, a.held)
		}
	}
	if len(balID) > 0 {
		q.Queue(`UPDATE wallets w SET balance = v.balance, held = v.held
			FROM unnest($1::uuid[], $2::bigint[], $3::bigint[]) AS v(id, balance, held) WHERE w.id = v.id`,
			balID, balValue, heldValue)
	}
	if len(b.settlement) > 0 {
		// One settlement shard per bank and batch: concurrent batches pick
		// different shards, so deposits do not queue on one row. The shard
		// rows are locked in order before they change, the last phase of
		// the batch's lock order.
		shard := shardOf(b.pending[0].ID)
		ids := make([]string, 0, len(b.settlement))
		for id := range b.settlement {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		deltas := make([]int64, len(ids))
		for i, id := range ids {
			deltas[i] = b.settlement[id]
		}
		q.Queue(`SELECT 1 FROM settlement_shards WHERE wallet_id = ANY($1) AND shard = $2
			ORDER BY wallet_id FOR NO KEY UPDATE`, ids, shard)
		q.Queue(`UPDATE settlement_shards s SET balance = s.balance + v.delta
			FROM unnest($1::uuid[], $2::bigint[]) AS v(wallet_id, delta)
			WHERE s.wallet_id = v.wallet_id AND s.shard = $3`, ids, deltas, shard)
	}
	if len(b.entOp) > 0 {
		q.Queue(`INSERT INTO entries (operation_id, wallet_id, amount, balance_after)
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[])`,
			b.entOp, b.entWallet, b.entAmount, b.entAfter)
	}
	n := len(b.pending)
	opID, opStatus, opFailure, opAmount := make([]string, n), make([]string, n), make([]*string, n), make([]int64, n)
	for i, op := range b.pending {
		opID[i], opStatus[i], opAmount[i] = op.ID, string(op.Status), int64(op.Amount)
		if op.FailureCode != "" {
			opFailure[i] = &op.FailureCode
		}
	}
	// Every pending operation of the batch is locked, so every one is
	// updated; if not, the transaction stops here, in the server, before
	// the COMMIT queued after it.
	q.Queue(`WITH u AS (
			UPDATE operations o SET status = v.status, failure_code = v.failure, amount = v.amount, completed_at = $5
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[]) AS v(id, status, failure, amount)
			WHERE o.id = v.id AND o.status = 'pending'
			RETURNING 1)
		SELECT ledger_assert(count(*) = $6, 'operations changed under their row locks') FROM u`,
		opID, opStatus, opFailure, opAmount, b.now, n)
	if len(b.changedHolds) > 0 {
		var id, status []string
		var captured, released []int64
		var failure []*string
		var closed []*time.Time
		for hid := range b.changedHolds {
			h := b.holds[hid]
			id, status, captured, released = append(id, h.ID), append(status, string(h.Status)),
				append(captured, int64(h.Captured)), append(released, int64(h.Released))
			failure, closed = append(failure, nullString(h.FailureCode)), append(closed, h.ClosedAt)
		}
		q.Queue(`UPDATE holds h SET status = v.status, captured = v.captured, released = v.released,
				failure_code = v.failure, closed_at = v.closed
			FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::timestamptz[])
				AS v(id, status, captured, released, failure, closed)
			WHERE h.id = v.id`, id, status, captured, released, failure, closed)
	}
	if len(b.changedWithdrawals) > 0 {
		var id, status []string
		var reference, reason []*string
		var since, closed []*time.Time
		for wid := range b.changedWithdrawals {
			w := b.withdrawals[wid]
			id, status = append(id, w.ID), append(status, string(w.Status))
			reference, reason = append(reference, nullString(w.Reference)), append(reason, nullString(w.FailureReason))
			since, closed = append(since, w.PendingSince), append(closed, w.ClosedAt)
		}
		q.Queue(`UPDATE withdrawals w SET status = v.status, reference = v.reference, failure_reason = v.reason,
				pending_since = v.since, closed_at = v.closed
			FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[])
				AS v(id, status, reference, reason, since, closed)
			WHERE w.id = v.id`, id, status, reference, reason, since, closed)
	}
	var reqID, reqStatus []string
	var reqOp []*string
	var reqClosed []*time.Time
	for rid, r := range b.requests {
		if r.changed {
			reqID, reqStatus = append(reqID, rid), append(reqStatus, string(r.status))
			reqOp, reqClosed = append(reqOp, nullString(r.operationID)), append(reqClosed, r.closedAt)
		}
	}
	if len(reqID) > 0 {
		q.Queue(`UPDATE payment_requests p SET status = v.status, operation_id = v.op, closed_at = v.closed
			FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[]) AS v(id, status, op, closed)
			WHERE p.id = v.id`, reqID, reqStatus, reqOp, reqClosed)
	}
	// The events, in this transaction (the outbox).
	b.queueNotifications(q)
	q.Queue("COMMIT")
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return err
	}
	for _, op := range b.pending {
		t := b.now
		op.CompletedAt = &t
	}
	return nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// shardOf picks a settlement shard from an operation id.
func shardOf(opID string) int16 {
	h := fnv.New32a()
	h.Write([]byte(opID))
	return int16(h.Sum32() % SettlementShards)
}

// withdrawalTimeout is WithdrawalTimeout or its default.
func (s *Store) withdrawalTimeout() time.Duration {
	if s.WithdrawalTimeout > 0 {
		return s.WithdrawalTimeout
	}
	return wallet.DefaultWithdrawalTimeout
}
