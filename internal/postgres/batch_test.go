package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/wallet"
)

// createOps is CreateOperations with each result as an operation: the
// zero Operation (empty id) for an entry that was not stored.
func createOps(ctx context.Context, s *postgres.Store, batch []wallet.NewOperation) ([]wallet.Operation, error) {
	stored, err := s.CreateOperations(ctx, batch)
	if err != nil {
		return nil, err
	}
	out := make([]wallet.Operation, len(stored))
	for i, st := range stored {
		if !st.KeyUsed && st.Refused == "" {
			out[i] = st.Op
		}
	}
	return out, nil
}

// newTransfer is an unstored transfer for CreateOperations.
func newTransfer(by wallet.User, from, to wallet.Wallet, amount wallet.Amount, details string) wallet.Operation {
	return wallet.Operation{
		Type: wallet.OpTransfer, Amount: amount, Currency: rub.Code,
		FromWalletID: from.ID, ToWalletID: to.ID, Details: details, CreatedBy: by.ID,
	}
}

func newKey(u wallet.User, key string, hash []byte) *wallet.IdempotencyKey {
	return &wallet.IdempotencyKey{UserID: u.ID, Key: key, RequestHash: hash, StatusCode: 202}
}

// opsFrom counts the operations stored from a wallet.
func (f *fixture) opsFrom(t testing.TB, walletID string) int64 {
	t.Helper()
	return pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM operations WHERE from_wallet_id = $1`, walletID)
}

// checkStored fails unless got is in, stored pending as given.
func (f *fixture) checkStored(t testing.TB, i int, in, got wallet.Operation) {
	t.Helper()
	if got.ID == "" {
		t.Fatalf("entry %d came back without an id", i)
	}
	if got.Status != wallet.StatusPending || got.CreatedAt.IsZero() || got.CompletedAt != nil {
		t.Fatalf("entry %d came back %s created at %v completed at %v, want pending with a creation time",
			i, got.Status, got.CreatedAt, got.CompletedAt)
	}
	if got.Type != in.Type || got.Amount != in.Amount || got.Currency != in.Currency || got.FromWalletID != in.FromWalletID ||
		got.ToWalletID != in.ToWalletID || got.Details != in.Details || got.CreatedBy != in.CreatedBy {
		t.Fatalf("entry %d came back as %+v, want the input %+v (results out of order?)", i, got, in)
	}
	stored := f.operation(t, got.ID)
	if stored.Status != wallet.StatusPending || stored.Amount != in.Amount || stored.FromWalletID != in.FromWalletID ||
		stored.ToWalletID != in.ToWalletID || stored.Details != in.Details || !stored.CreatedAt.Equal(got.CreatedAt) {
		t.Fatalf("entry %d stored as %+v, returned as %+v", i, stored, got)
	}
}

// TestCreateOperationsBatch stores operations with and without keys in
// one call: every entry comes back in input order, stored pending, and
// all of them in one transaction.
func TestCreateOperationsBatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	alice, aliceW := f.user(t, 10000)
	bob, bobW := f.user(t, 10000)
	_, carolW := f.user(t, 0)
	hash := ledger.HashRequest("batch")

	deposit := wallet.Operation{Type: wallet.OpDeposit, Amount: 300, Currency: rub.Code,
		FromWalletID: f.settlement.ID, ToWalletID: bobW.ID, Details: "top-up", CreatedBy: f.bank.ID}
	batch := []wallet.NewOperation{
		{Op: newTransfer(alice, aliceW, carolW, 100, "no key")},
		{Op: newTransfer(alice, aliceW, carolW, 200, "alice k1"), Key: newKey(alice, "k1", hash)},
		{Op: deposit},
		// The same key string from another user is another key.
		{Op: newTransfer(bob, bobW, carolW, 400, "bob k1"), Key: newKey(bob, "k1", hash)},
		{Op: newTransfer(alice, aliceW, bobW, 500, "alice k2"), Key: newKey(alice, "k2", hash)},
		{Op: newTransfer(bob, bobW, aliceW, 600, "")},
	}
	got, err := createOps(ctx, f.store, batch)
	if err != nil {
		t.Fatalf("CreateOperations: %v", err)
	}
	if len(got) != len(batch) {
		t.Fatalf("%d results for %d entries", len(got), len(batch))
	}
	seen := map[string]bool{}
	for i, op := range got {
		f.checkStored(t, i, batch[i].Op, op)
		if seen[op.ID] {
			t.Fatalf("id %s returned twice", op.ID)
		}
		seen[op.ID] = true
		// now() is the transaction's start: one value means one commit.
		if !op.CreatedAt.Equal(got[0].CreatedAt) {
			t.Errorf("entry %d created at %v, entry 0 at %v: not one transaction", i, op.CreatedAt, got[0].CreatedAt)
		}
		// Applying decides in id order, which must be the batch's order.
		if i > 0 && op.ID <= got[i-1].ID {
			t.Errorf("entry %d has id %s, not after entry %d's %s", i, op.ID, i-1, got[i-1].ID)
		}
	}
	if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM operations WHERE status = 'pending'`); n != int64(len(batch)) {
		t.Fatalf("%d pending operations stored, want %d", n, len(batch))
	}
	for _, k := range []struct {
		user wallet.User
		key  string
		op   wallet.Operation
	}{{alice, "k1", got[1]}, {bob, "k1", got[3]}, {alice, "k2", got[4]}} {
		rec, op, err := f.store.LookupIdempotencyKey(ctx, k.user.ID, k.key)
		if err != nil {
			t.Fatalf("LookupIdempotencyKey(%s): %v", k.key, err)
		}
		if op.ID != k.op.ID || string(rec.RequestHash) != string(hash) || rec.StatusCode != 202 {
			t.Fatalf("key %s of %s names %s (status %d), want %s (202)", k.key, k.user.ID, op.ID, rec.StatusCode, k.op.ID)
		}
	}
	if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM idempotency_keys`); n != 3 {
		t.Fatalf("%d idempotency keys stored, want 3", n)
	}

	// The stored operations are applied like any other.
	ids := make([]string, len(got))
	for i, op := range got {
		ids[i] = op.ID
	}
	res, err := f.store.ApplyOperations(ctx, ids)
	if err != nil {
		t.Fatalf("ApplyOperations: %v", err)
	}
	for i, r := range res {
		if r.Op.Status != wallet.StatusCompleted {
			t.Fatalf("operation %d ended %s (%q)", i, r.Op.Status, r.Op.FailureCode)
		}
	}
	if b := f.balance(t, aliceW.ID); b != 10000-100-200-500+600 {
		t.Fatalf("alice's balance %d", b)
	}

	t.Run("empty batch", func(t *testing.T) {
		got, err := createOps(ctx, f.store, nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("CreateOperations(nil) = %v, %v; want nothing", got, err)
		}
	})
}

// TestCreateOperationsUsedKey: an entry whose key was used before, by a
// single insert or by another batch, comes back with an empty id and is
// not stored; the entries around it are.
func TestCreateOperationsUsedKey(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	alice, aliceW := f.user(t, 10000)
	_, bobW := f.user(t, 0)
	hashA, hashB := ledger.HashRequest("a"), ledger.HashRequest("b")

	first, replayed, err := f.store.CreateOperation(ctx, newTransfer(alice, aliceW, bobW, 1000, "first"), newKey(alice, "used", hashA))
	if err != nil || replayed {
		t.Fatalf("CreateOperation: replayed=%v err=%v", replayed, err)
	}
	earlier, err := createOps(ctx, f.store, []wallet.NewOperation{
		{Op: newTransfer(alice, aliceW, bobW, 1100, "batch-used"), Key: newKey(alice, "batch-used", hashA)},
	})
	if err != nil || earlier[0].ID == "" {
		t.Fatalf("first batch: %v, %v", earlier, err)
	}

	batch := []wallet.NewOperation{
		{Op: newTransfer(alice, aliceW, bobW, 10, "new, no key")},
		{Op: newTransfer(alice, aliceW, bobW, 1000, "same key, same request"), Key: newKey(alice, "used", hashA)},
		{Op: newTransfer(alice, aliceW, bobW, 20, "new key"), Key: newKey(alice, "fresh", hashA)},
		{Op: newTransfer(alice, aliceW, bobW, 2000, "same key, other request"), Key: newKey(alice, "used", hashB)},
		{Op: newTransfer(alice, aliceW, bobW, 1100, "key of a batch"), Key: newKey(alice, "batch-used", hashA)},
		{Op: newTransfer(alice, aliceW, bobW, 30, "new, no key 2")},
	}
	got, err := createOps(ctx, f.store, batch)
	if err != nil {
		t.Fatalf("CreateOperations: %v", err)
	}
	if len(got) != len(batch) {
		t.Fatalf("%d results for %d entries", len(got), len(batch))
	}
	for i, op := range got {
		switch i {
		case 1, 3, 4:
			if op.ID != "" {
				t.Fatalf("entry %d (%s) with a used key came back as %s %s, want an empty id", i, batch[i].Op.Details, op.ID, op.Status)
			}
		default:
			f.checkStored(t, i, batch[i].Op, op)
		}
	}
	if n := f.opsFrom(t, aliceW.ID); n != 2+3 {
		t.Fatalf("%d operations from alice, want 5 (2 before, 3 new)", n)
	}
	for key, want := range map[string]string{"used": first.ID, "batch-used": earlier[0].ID, "fresh": got[2].ID} {
		rec, op, err := f.store.LookupIdempotencyKey(ctx, alice.ID, key)
		if err != nil || op.ID != want || string(rec.RequestHash) != string(hashA) {
			t.Fatalf("key %q names %s (%v), want %s with the first request's hash", key, op.ID, err, want)
		}
	}
}

// TestCreateOperationsSameKeyInBatch: two entries of one batch with the
// same user and key store only the first; the same key string of another
// user is not the same key.
func TestCreateOperationsSameKeyInBatch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	alice, aliceW := f.user(t, 10000)
	bob, bobW := f.user(t, 10000)
	hashA, hashB := ledger.HashRequest("a"), ledger.HashRequest("b")

	batch := []wallet.NewOperation{
		{Op: newTransfer(alice, aliceW, bobW, 100, "first"), Key: newKey(alice, "dup", hashA)},
		{Op: newTransfer(alice, aliceW, bobW, 100, "same request again"), Key: newKey(alice, "dup", hashA)},
		{Op: newTransfer(bob, bobW, aliceW, 300, "bob's dup"), Key: newKey(bob, "dup", hashA)},
		{Op: newTransfer(alice, aliceW, bobW, 200, "other request"), Key: newKey(alice, "dup", hashB)},
		{Op: newTransfer(alice, aliceW, bobW, 400, "no key")},
	}
	got, err := createOps(ctx, f.store, batch)
	if err != nil {
		t.Fatalf("CreateOperations: %v", err)
	}
	for i, op := range got {
		switch i {
		case 1, 3:
			if op.ID != "" {
				t.Fatalf("entry %d (%s) repeats entry 0's key but came back as %s", i, batch[i].Op.Details, op.ID)
			}
		default:
			f.checkStored(t, i, batch[i].Op, op)
		}
	}
	if n := f.opsFrom(t, aliceW.ID); n != 2 {
		t.Fatalf("%d operations from alice, want 2", n)
	}
	if n := f.opsFrom(t, bobW.ID); n != 1 {
		t.Fatalf("%d operations from bob, want 1", n)
	}
	rec, op, err := f.store.LookupIdempotencyKey(ctx, alice.ID, "dup")
	if err != nil || op.ID != got[0].ID || string(rec.RequestHash) != string(hashA) {
		t.Fatalf("alice's key names %s (%v), want the first entry %s", op.ID, err, got[0].ID)
	}
	// What Submit does with an entry that came back empty: a replay of the
	// same request, a conflict for another.
	replay, replayed, err := f.store.CreateOperation(ctx, batch[1].Op, batch[1].Key)
	if err != nil || !replayed || replay.ID != got[0].ID {
		t.Fatalf("replaying entry 1: %s replayed=%v err=%v, want %s", replay.ID, replayed, err, got[0].ID)
	}
	if _, _, err := f.store.CreateOperation(ctx, batch[3].Op, batch[3].Key); wallet.ErrorCode(err) != wallet.EIdempotencyKeyReused {
		t.Fatalf("entry 3 again alone: %v, want %s", err, wallet.EIdempotencyKeyReused)
	}

	t.Run("concurrent batches with one key", func(t *testing.T) {
		t.Parallel()
		user, w := f.user(t, 100000)
		_, to := f.user(t, 0)
		const n = 8
		results := make([][]wallet.Operation, n)
		errs := make([]error, n)
		pgtest.Together(n, func(i int) {
			results[i], errs[i] = createOps(ctx, f.store, []wallet.NewOperation{
				{Op: newTransfer(user, w, to, wallet.Amount(i+1), fmt.Sprint("unkeyed ", i))},
				{Op: newTransfer(user, w, to, 1000, fmt.Sprint("keyed ", i)), Key: newKey(user, "race", hashA)},
			})
		})
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("batch %d: %v", i, errs[i])
			}
			if results[i][0].ID == "" {
				t.Fatalf("batch %d: its unkeyed entry was not stored", i)
			}
			if results[i][1].ID != "" {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("%d of %d concurrent batches stored the keyed entry, want 1", winners, n)
		}
		if got := f.opsFrom(t, w.ID); got != n+1 {
			t.Fatalf("%d operations stored, want %d", got, n+1)
		}
	})
}

// TestCreateOperationsAllOrNothing: a batch with an entry the database
// refuses stores none of its entries, keys included.
func TestCreateOperationsAllOrNothing(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	alice, aliceW := f.user(t, 10000)
	_, bobW := f.user(t, 0)
	// The same wallet on both sides breaks a check of operations.
	_, err := createOps(ctx, f.store, []wallet.NewOperation{
		{Op: newTransfer(alice, aliceW, bobW, 100, "fine"), Key: newKey(alice, "k", ledger.HashRequest("a"))},
		{Op: newTransfer(alice, aliceW, aliceW, 100, "to itself")},
	})
	if err == nil {
		t.Fatal("a batch with a transfer to its own wallet was stored")
	}
	if n := f.opsFrom(t, aliceW.ID); n != 0 {
		t.Fatalf("a failed batch stored %d operations", n)
	}
	if n := pgtest.QueryInt64(t, f.pool, `SELECT count(*) FROM idempotency_keys`); n != 0 {
		t.Fatalf("a failed batch stored %d keys", n)
	}
}

// TestAvailableBalances: the balance less pending outgoing operations,
// for the user wallets asked for that exist.
func TestAvailableBalances(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	alice, aliceW := f.user(t, 10000)
	bob, bobW := f.user(t, 0)
	_, carolW := f.user(t, 2500)
	dave, daveW := f.user(t, 1000)
	_, erinW := f.user(t, 0)

	// Alice: 500 sent and applied, 3000 and 1000 pending, a failed
	// transfer (holds nothing), pending incoming (counts for nothing yet).
	if op, err := pgtest.Apply(ctx, f.store, f.transfer(t, alice, aliceW, bobW, 500).ID); err != nil || op.Status != wallet.StatusCompleted {
		t.Fatalf("apply: %s %v", op.Status, err)
	}
	f.transfer(t, alice, aliceW, carolW, 3000)
	f.transfer(t, alice, aliceW, bobW, 1000)
	if op, err := pgtest.Apply(ctx, f.store, f.transfer(t, alice, aliceW, bobW, 50000).ID); err != nil || op.Status != wallet.StatusFailed {
		t.Fatalf("apply: %s %v", op.Status, err)
	}
	f.deposit(t, aliceW, 700)
	f.transfer(t, bob, bobW, aliceW, 200)
	// Dave: more pending than he has.
	f.transfer(t, dave, daveW, erinW, 800)
	f.transfer(t, dave, daveW, erinW, 800)

	want := map[string]wallet.Amount{
		aliceW.ID: 10000 - 500 - 3000 - 1000,
		bobW.ID:   500 - 200,
		carolW.ID: 2500,
		daveW.ID:  1000 - 1600,
		erinW.ID:  0,
	}
	unknown := "01a210a3-0000-7000-8000-000000000000"
	got, err := f.store.AvailableBalances(ctx, []string{aliceW.ID, bobW.ID, carolW.ID, f.settlement.ID, unknown, daveW.ID, aliceW.ID, erinW.ID})
	if err != nil {
		t.Fatalf("AvailableBalances: %v", err)
	}
	if len(got) != len(want) {
		t.Errorf("got %d wallets %v, want %d (no settlement account, no unknown id)", len(got), got, len(want))
	}
	for id, w := range want {
		if a, ok := got[id]; !ok || a != w {
			t.Errorf("wallet %s: available %d (present %v), want %d", id, a, ok, w)
		}
		wal, err := f.store.WalletByID(ctx, id)
		if err != nil || wal.Available != got[id] {
			t.Errorf("wallet %s: WalletByID says available %d (%v), AvailableBalances %d", id, wal.Available, err, got[id])
		}
	}
	if _, ok := got[f.settlement.ID]; ok {
		t.Errorf("settlement account reported")
	}
	if _, ok := got[unknown]; ok {
		t.Errorf("unknown wallet reported")
	}

	// The accept's read also counts what each wallet's available balance
	// subtracts: pending transfers out (not the failed, applied or
	// incoming ones).
	st, err := f.store.AcceptState(ctx, wallet.AcceptQuery{Wallets: []string{aliceW.ID, bobW.ID, carolW.ID, daveW.ID, erinW.ID}})
	if err != nil {
		t.Fatalf("AcceptState: %v", err)
	}
	wantPending := map[string]int{aliceW.ID: 2, bobW.ID: 1, carolW.ID: 0, daveW.ID: 2, erinW.ID: 0}
	if !maps.Equal(st.Pending, wantPending) {
		t.Errorf("pending per wallet %v, want %v", st.Pending, wantPending)
	}

	for _, ids := range [][]string{nil, {unknown}, {f.settlement.ID}} {
		got, err := f.store.AvailableBalances(ctx, ids)
		if err != nil || len(got) != 0 {
			t.Errorf("AvailableBalances(%v) = %v, %v; want an empty map", ids, got, err)
		}
	}
}

// TestCreateOperationStillReplays: the single insert, now a batch of one,
// still replays a used key, also one stored by a batch, and refuses the
// key for another request.
func TestCreateOperationStillReplays(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	alice, aliceW := f.user(t, 10000)
	_, bobW := f.user(t, 0)
	hashA, hashB := ledger.HashRequest("a"), ledger.HashRequest("b")

	first, replayed, err := f.store.CreateOperation(ctx, newTransfer(alice, aliceW, bobW, 1000, "one"), newKey(alice, "single", hashA))
	if err != nil || replayed || first.ID == "" || first.Status != wallet.StatusPending || first.CreatedAt.IsZero() {
		t.Fatalf("first CreateOperation: %+v replayed=%v err=%v", first, replayed, err)
	}
	batched, err := createOps(ctx, f.store, []wallet.NewOperation{
		{Op: newTransfer(alice, aliceW, bobW, 2000, "two"), Key: newKey(alice, "batched", hashA)},
	})
	if err != nil || batched[0].ID == "" {
		t.Fatalf("CreateOperations: %v %v", batched, err)
	}

	for _, tc := range []struct {
		key    string
		amount wallet.Amount
		want   wallet.Operation
	}{{"single", 1000, first}, {"batched", 2000, batched[0]}} {
		again, replayed, err := f.store.CreateOperation(ctx, newTransfer(alice, aliceW, bobW, tc.amount, "again"), newKey(alice, tc.key, hashA))
		if err != nil || !replayed {
			t.Fatalf("key %q again: replayed=%v err=%v, want a replay", tc.key, replayed, err)
		}
		if again.ID != tc.want.ID || again.Amount != tc.amount || again.Status != wallet.StatusPending || !again.CreatedAt.Equal(tc.want.CreatedAt) {
			t.Fatalf("key %q replayed %+v, want %+v", tc.key, again, tc.want)
		}
		_, replayed, err = f.store.CreateOperation(ctx, newTransfer(alice, aliceW, bobW, 5, "different"), newKey(alice, tc.key, hashB))
		if wallet.ErrorCode(err) != wallet.EIdempotencyKeyReused || replayed {
			t.Fatalf("key %q with another request: replayed=%v err=%v, want %s", tc.key, replayed, err, wallet.EIdempotencyKeyReused)
		}
	}
	if n := f.opsFrom(t, aliceW.ID); n != 2 {
		t.Fatalf("%d operations stored, want 2", n)
	}
	// Without a key every call stores.
	a, _, err1 := f.store.CreateOperation(ctx, newTransfer(alice, aliceW, bobW, 1, ""), nil)
	b, _, err2 := f.store.CreateOperation(ctx, newTransfer(alice, aliceW, bobW, 1, ""), nil)
	if err1 != nil || err2 != nil || a.ID == b.ID {
		t.Fatalf("two unkeyed inserts: %s %v, %s %v", a.ID, err1, b.ID, err2)
	}
}
