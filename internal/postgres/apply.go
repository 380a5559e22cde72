package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

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

// applyBatch is one attempt of ApplyOperations. Under the rule of the
// ledger it locks, in phases and each phase in id order (so concurrent
// batches never deadlock): the operation rows, then the user wallets,
// then the settlement shards. It skips operations that are no longer
// pending, decides the rest in creation order against the locked
// balances (a debit never takes a wallet below zero, and the CHECK
// constraint backs that up), and writes balances, entries and statuses
// in the same commit.
func (s *Store) applyBatch(ctx context.Context, ids []string) ([]wallet.Applied, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	rows, err := tx.Query(ctx, `SELECT `+opColumns+` FROM operations o WHERE o.id = ANY($1) ORDER BY o.id FOR UPDATE`, sorted)
	if err != nil {
		return nil, err
	}
	ops, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (wallet.Operation, error) { return scanOperation(r) })
	if err != nil {
		return nil, err
	}
	if len(ops) != len(sorted) {
		return nil, wallet.Errorf(wallet.EOperationNotFound, "operation not found")
	}

	byID := make(map[string]*wallet.Applied, len(ops))
	var pending []*wallet.Operation
	var walletIDs []string
	for i := range ops {
		byID[ops[i].ID] = &wallet.Applied{Op: ops[i]}
		if ops[i].Final() {
			continue
		}
		pending = append(pending, &byID[ops[i].ID].Op)
		walletIDs = append(walletIDs, ops[i].ToWalletID)
		if ops[i].Type == wallet.OpTransfer {
			walletIDs = append(walletIDs, ops[i].FromWalletID)
		}
	}
	if len(pending) > 0 {
		if err := s.decide(ctx, tx, pending, walletIDs); err != nil {
			return nil, err
		}
		if err := tx.Commit(ctx); err != nil {
			return nil, err
		}
		for _, op := range pending {
			byID[op.ID].Applied = true
		}
	} else if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	out := make([]wallet.Applied, len(ids))
	for i, id := range ids {
		out[i] = *byID[id]
	}
	return out, nil
}

// decide moves the money of the pending operations (sorted by id, which
// is creation order for UUIDv7) and writes everything in one round trip.
func (s *Store) decide(ctx context.Context, tx pgx.Tx, pending []*wallet.Operation, walletIDs []string) error {
	slices.Sort(walletIDs)
	walletIDs = slices.Compact(walletIDs)
	rows, err := tx.Query(ctx, `SELECT id, kind, balance FROM wallets WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, walletIDs)
	if err != nil {
		return err
	}
	type account struct {
		kind    string
		balance int64
		changed bool
	}
	accounts := map[string]*account{}
	for rows.Next() {
		var id string
		a := &account{}
		if err := rows.Scan(&id, &a.kind, &a.balance); err != nil {
			rows.Close()
			return err
		}
		accounts[id] = a
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}

	// One settlement shard per bank and batch: concurrent batches pick
	// different shards, so deposits do not queue on one row.
	shard := shardOf(pending[0].ID)
	settlement := map[string]int64{} // settlement wallet id -> delta

	var (
		entOp, entWallet []string
		entAmount        []int64
		entAfter         []*int64
		opID, opStatus   []string
		opFailure        []*string
	)
	entry := func(op *wallet.Operation, walletID string, amount int64, after *int64) {
		entOp, entWallet, entAmount, entAfter = append(entOp, op.ID), append(entWallet, walletID),
			append(entAmount, amount), append(entAfter, after)
	}
	for _, op := range pending {
		amount := int64(op.Amount)
		to := accounts[op.ToWalletID]
		failure := ""
		switch {
		case to == nil || to.kind != string(wallet.KindUser):
			failure = wallet.EWalletNotFound
		case op.Type == wallet.OpTransfer:
			from := accounts[op.FromWalletID]
			if from == nil || from.kind != string(wallet.KindUser) {
				failure = wallet.EWalletNotFound
				break
			}
			if from.balance < amount {
				failure = wallet.EInsufficientFunds
				break
			}
			from.balance -= amount
			from.changed = true
			to.balance += amount
			to.changed = true
			fromAfter, toAfter := from.balance, to.balance
			entry(op, op.FromWalletID, -amount, &fromAfter)
			entry(op, op.ToWalletID, amount, &toAfter)
		case op.Type == wallet.OpDeposit:
			to.balance += amount
			to.changed = true
			settlement[op.FromWalletID] -= amount
			toAfter := to.balance
			entry(op, op.FromWalletID, -amount, nil)
			entry(op, op.ToWalletID, amount, &toAfter)
		default:
			return fmt.Errorf("operation %s has unknown type %q", op.ID, op.Type)
		}
		opID = append(opID, op.ID)
		if failure == "" {
			op.Status = wallet.StatusCompleted
			opStatus, opFailure = append(opStatus, string(op.Status)), append(opFailure, nil)
		} else {
			op.Status, op.FailureCode = wallet.StatusFailed, failure
			opStatus, opFailure = append(opStatus, string(op.Status)), append(opFailure, &op.FailureCode)
		}
	}

	var balID []string
	var balValue []int64
	for _, id := range walletIDs {
		if a := accounts[id]; a != nil && a.changed {
			balID, balValue = append(balID, id), append(balValue, a.balance)
		}
	}
	var shardWallet []string
	var shardDelta []int64
	for id := range settlement {
		shardWallet = append(shardWallet, id)
	}
	slices.Sort(shardWallet)
	for _, id := range shardWallet {
		shardDelta = append(shardDelta, settlement[id])
	}

	b := &pgx.Batch{}
	if len(balID) > 0 {
		b.Queue(`UPDATE wallets w SET balance = v.balance
			FROM unnest($1::uuid[], $2::bigint[]) AS v(id, balance) WHERE w.id = v.id`, balID, balValue)
	}
	if len(shardWallet) > 0 {
		// Lock the shard rows in order before changing them, the last
		// phase of the batch's lock order.
		b.Queue(`SELECT 1 FROM settlement_shards WHERE wallet_id = ANY($1) AND shard = $2
			ORDER BY wallet_id FOR NO KEY UPDATE`, shardWallet, shard)
		b.Queue(`UPDATE settlement_shards s SET balance = s.balance + v.delta
			FROM unnest($1::uuid[], $2::bigint[]) AS v(wallet_id, delta)
			WHERE s.wallet_id = v.wallet_id AND s.shard = $3`, shardWallet, shardDelta, shard)
	}
	if len(entOp) > 0 {
		b.Queue(`INSERT INTO entries (operation_id, wallet_id, amount, balance_after)
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[])`,
			entOp, entWallet, entAmount, entAfter)
	}
	var completedAt time.Time
	b.Queue(`UPDATE operations o SET status = v.status, failure_code = v.failure, completed_at = statement_timestamp()
		FROM unnest($1::uuid[], $2::text[], $3::text[]) AS v(id, status, failure)
		WHERE o.id = v.id AND o.status = 'pending'
		RETURNING statement_timestamp()`, opID, opStatus, opFailure).QueryRow(func(r pgx.Row) error { return r.Scan(&completedAt) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return errors.New("postgres: operations changed under their row locks")
		}
		return err
	}
	for _, op := range pending {
		t := completedAt
		op.CompletedAt = &t
	}
	return nil
}

// shardOf picks a settlement shard from an operation id.
func shardOf(opID string) int16 {
	h := fnv.New32a()
	h.Write([]byte(opID))
	return int16(h.Sum32() % SettlementShards)
}
