package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walletd/wallet/internal/wallet"
)

// SettlementShards is how many rows a settlement account's balance is
// spread over; a deposit touches one of them, chosen by its operation id.
const SettlementShards = 16

// Store implements wallet.Store on Postgres.
type Store struct {
	pool *pgxpool.Pool
	// WithdrawalTimeout is how long a withdrawal may stay pending before
	// it expires (WITHDRAWAL_TIMEOUT); zero means the default.
	WithdrawalTimeout time.Duration
	// owners caches wallet id -> owning user id (never changes), for the
	// events of wallets a batch does not lock.
	owners sync.Map
	// relayFewUsers overrides defaultRelayFewUsers when set (tests).
	relayFewUsers *int
}

var _ wallet.Store = (*Store)(nil)

// NewStore returns a Store on a migrated database.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Pool exposes the pool for health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// translate turns driver errors into domain errors, in one place.
func translate(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505" && pgErr.ConstraintName == "users_email_key":
			return wallet.Errorf(wallet.EEmailTaken, "an account with this email already exists")
		case pgErr.Code == "23514" && pgErr.ConstraintName == "user_wallet_not_negative":
			return wallet.Errorf(wallet.EInsufficientFunds, "insufficient funds")
		case pgErr.Code == "22P02": // invalid_text_representation, e.g. a bad uuid
			return fmt.Errorf("%w: %w", wallet.Errorf(wallet.EInvalidRequest, "malformed identifier"), err)
		case pgErr.Code == "22021": // character_not_in_repertoire: NUL or bad UTF-8
			return wallet.Errorf(wallet.EInvalidRequest, "text must be valid UTF-8 without NUL")
		}
	}
	return fmt.Errorf("postgres: %w", err)
}

// retryable reports serialization failures and deadlocks, the only errors
// a transaction is retried for.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// uuidOrNil passes "" as SQL NULL.
func uuidOrNil(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// CreateUser implements wallet.Store.
func (s *Store) CreateUser(ctx context.Context, u wallet.User, currency string) (wallet.User, wallet.Wallet, error) {
	if u.ID == "" {
		u.ID = newID()
	}
	var w wallet.Wallet
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (id, name, email, password_hash, role)
			VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
			u.ID, u.Name, u.Email, u.PasswordHash, string(u.Role)).Scan(&u.CreatedAt)
		if err != nil {
			return err
		}
		var kind wallet.WalletKind
		switch u.Role {
		case wallet.RoleUser:
			kind = wallet.KindUser
		case wallet.RoleBank:
			kind = wallet.KindSettlement
		default:
			return nil
		}
		w = wallet.Wallet{ID: newID(), UserID: u.ID, Kind: kind, Currency: currency}
		if _, err := tx.Exec(ctx, `INSERT INTO wallets (id, user_id, kind, currency) VALUES ($1, $2, $3, $4)`,
			w.ID, w.UserID, string(w.Kind), w.Currency); err != nil {
			return err
		}
		if kind == wallet.KindSettlement {
			if _, err := tx.Exec(ctx, `INSERT INTO settlement_shards (wallet_id, shard)
				SELECT $1, g FROM generate_series(0, $2 - 1) AS g`, w.ID, SettlementShards); err != nil {
				return err
			}
			// A bank's account is a payment system of its own.
			_, err = tx.Exec(ctx, `INSERT INTO banks (id, name, settlement_wallet_id) VALUES ($1, $2, $3)`,
				u.ID, u.Name, w.ID)
		}
		return err
	})
	if err != nil {
		return wallet.User{}, wallet.Wallet{}, translate(err)
	}
	return u, w, nil
}

const userColumns = `id, name, email, password_hash, role, created_at`

func scanUser(row pgx.Row) (wallet.User, error) {
	var u wallet.User
	var role string
	err := row.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &role, &u.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.User{}, wallet.Errorf(wallet.EUserNotFound, "user not found")
	}
	u.Role = wallet.Role(role)
	return u, translate(err)
}

// UserByEmail implements wallet.Store.
func (s *Store) UserByEmail(ctx context.Context, email string) (wallet.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email))
}

// UserByID implements wallet.Store.
func (s *Store) UserByID(ctx context.Context, id string) (wallet.User, error) {
	if _, err := uuid.Parse(id); err != nil {
		return wallet.User{}, wallet.Errorf(wallet.EUserNotFound, "user not found")
	}
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
}

// SetPasswordHash replaces a user's password hash.
func (s *Store) SetPasswordHash(ctx context.Context, userID, hash string) error {
	_, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash)
	return translate(err)
}

// walletSelect reads a wallet with its balance (the shards' sum for a
// settlement account) and its available balance (less pending outgoing
// transfers, for a user wallet).
const walletSelect = `
	SELECT w.id, w.user_id, w.kind, w.currency,
	       CASE WHEN w.kind = 'settlement'
	            THEN (SELECT coalesce(sum(s.balance), 0)::bigint FROM settlement_shards s WHERE s.wallet_id = w.id)
	            ELSE w.balance END,
	       w.held,
	       CASE WHEN w.kind = 'settlement' THEN 0
	            ELSE (SELECT coalesce(sum(o.amount), 0)::bigint FROM operations o
	                  WHERE o.from_wallet_id = w.id AND o.status = 'pending' AND o.type IN ` + reservingTypes + `) END
	FROM wallets w`

// reservingTypes are the operation types whose pending rows count against
// their source's available balance (wallet.OpType.Reserves), as the
// partial index operations_pending_from has them.
const reservingTypes = `('wallet_to_wallet', 'hold', 'withdrawal')`

func scanWallet(row pgx.Row) (wallet.Wallet, error) {
	var w wallet.Wallet
	var kind string
	var pending int64
	err := row.Scan(&w.ID, &w.UserID, &kind, &w.Currency, &w.Balance, &w.Held, &pending)
	if errors.Is(err, pgx.ErrNoRows) {
		return wallet.Wallet{}, wallet.Errorf(wallet.EWalletNotFound, "wallet not found")
	}
	w.Kind = wallet.WalletKind(kind)
	w.Available = w.Balance - w.Held - wallet.Amount(pending)
	return w, translate(err)
}

// WalletOf implements wallet.Store.
func (s *Store) WalletOf(ctx context.Context, userID string) (wallet.Wallet, error) {
	return scanWallet(s.pool.QueryRow(ctx, walletSelect+` WHERE w.user_id = $1 ORDER BY w.created_at LIMIT 1`, userID))
}

// WalletByID implements wallet.Store.
func (s *Store) WalletByID(ctx context.Context, id string) (wallet.Wallet, error) {
	if _, err := uuid.Parse(id); err != nil {
		return wallet.Wallet{}, wallet.Errorf(wallet.EWalletNotFound, "wallet not found")
	}
	return scanWallet(s.pool.QueryRow(ctx, walletSelect+` WHERE w.id = $1`, id))
}

const opColumns = `o.id, o.type, o.status, o.failure_code, o.amount, o.currency, o.from_wallet_id,
	o.to_wallet_id, o.details, coalesce(o.created_by::text, ''), coalesce(o.task_id, o.id), o.created_at, o.completed_at,
	coalesce(o.hold_id::text, ''), coalesce(o.withdrawal_id::text, ''), coalesce(o.payment_request_id::text, ''),
	coalesce(o.capture_final, false), coalesce(o.end_as, '')`

func scanOperation(row pgx.Row, extra ...any) (wallet.Operation, error) {
	var op wallet.Operation
	var typ, status, endAs string
	var failure *string
	dest := append([]any{&op.ID, &typ, &status, &failure, &op.Amount, &op.Currency, &op.FromWalletID,
		&op.ToWalletID, &op.Details, &op.CreatedBy, &op.TaskID, &op.CreatedAt, &op.CompletedAt,
		&op.HoldID, &op.WithdrawalID, &op.PaymentRequestID, &op.CaptureFinal, &endAs}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return wallet.Operation{}, wallet.Errorf(wallet.EOperationNotFound, "operation not found")
		}
		return wallet.Operation{}, translate(err)
	}
	op.Type, op.Status, op.EndAs = wallet.OpType(typ), wallet.Status(status), wallet.WithdrawalStatus(endAs)
	if failure != nil {
		op.FailureCode = *failure
	}
	return op, nil
}

// scanViewed scans an operation followed by the viewer's balance_after.
func scanViewed(row pgx.Row) (wallet.Operation, error) {
	var after *int64
	op, err := scanOperation(row, &after)
	if after != nil {
		a := wallet.Amount(*after)
		op.BalanceAfter = &a
	}
	return op, err
}

// CreateOperation implements wallet.Store: CreateOperations for one
// operation, which answers a used key with the operation it made.
func (s *Store) CreateOperation(ctx context.Context, op wallet.Operation, key *wallet.IdempotencyKey) (wallet.Operation, bool, error) {
	stored, err := s.CreateOperations(ctx, []wallet.NewOperation{{Op: op, Key: key}})
	if err != nil {
		return wallet.Operation{}, false, err
	}
	if !stored[0].KeyUsed {
		return stored[0].Op, false, nil
	}
	prev, prevOp, err := s.LookupIdempotencyKey(ctx, key.UserID, key.Key)
	if err != nil {
		return wallet.Operation{}, false, err
	}
	if string(prev.RequestHash) != string(key.RequestHash) {
		return wallet.Operation{}, false, wallet.Errorf(wallet.EIdempotencyKeyReused,
			"this Idempotency-Key was used with a different request")
	}
	return prevOp, true, nil
}

// LookupIdempotencyKey implements wallet.Store.
func (s *Store) LookupIdempotencyKey(ctx context.Context, userID, key string) (wallet.IdempotencyKey, wallet.Operation, error) {
	k := wallet.IdempotencyKey{UserID: userID, Key: key}
	var after *int64
	op, err := scanOperation(s.pool.QueryRow(ctx, `
		SELECT `+opColumns+`,
			`+userBalanceAfter("k.user_id")+`, k.request_hash, k.status_code
		FROM idempotency_keys k
		JOIN operations o ON o.id = k.operation_id
		WHERE k.user_id = $1 AND k.key = $2`, userID, key), &after, &k.RequestHash, &k.StatusCode)
	if err != nil {
		return k, op, err
	}
	if after != nil {
		a := wallet.Amount(*after)
		op.BalanceAfter = &a
	}
	return k, op, nil
}

// IdempotencyKeyTaken implements wallet.Store. It inserts the key as a
// probe and rolls back: the insert waits for a concurrent, uncommitted
// insert of the same key, so the answer covers a request that is being
// stored right now, which a plain read would miss.
func (s *Store) IdempotencyKeyTaken(ctx context.Context, userID, key string) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, translate(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `
		INSERT INTO idempotency_keys (user_id, key, request_hash, operation_id, status_code)
		VALUES ($1, $2, '', $3, 0) ON CONFLICT (user_id, key) DO NOTHING`, userID, key, newID())
	if err != nil {
		return false, translate(err)
	}
	return tag.RowsAffected() == 0, nil
}

// SetIdempotencyStatus implements wallet.Store: a conditional update, so
// the first status recorded stays.
func (s *Store) SetIdempotencyStatus(ctx context.Context, userID, key string, status int) (int, error) {
	var recorded *int
	err := s.pool.QueryRow(ctx, `
		WITH u AS (
			UPDATE idempotency_keys SET status_code = $3
			WHERE user_id = $1 AND key = $2 AND status_code = $4
			RETURNING status_code
		)
		SELECT coalesce((SELECT status_code FROM u),
		                (SELECT status_code FROM idempotency_keys WHERE user_id = $1 AND key = $2))`,
		userID, key, status, wallet.Unanswered).Scan(&recorded)
	if err != nil {
		return 0, translate(err)
	}
	if recorded == nil {
		return 0, wallet.Errorf(wallet.EOperationNotFound, "idempotency key not found")
	}
	return *recorded, nil
}

// Operation implements wallet.Store.
func (s *Store) Operation(ctx context.Context, id, viewerWalletID string) (wallet.Operation, error) {
	if _, err := uuid.Parse(id); err != nil {
		return wallet.Operation{}, wallet.Errorf(wallet.EOperationNotFound, "operation not found")
	}
	return scanViewed(s.pool.QueryRow(ctx, `
		SELECT `+opColumns+`, `+viewerBalanceAfter("$2::uuid")+`
		FROM operations o
		WHERE o.id = $1`, id, uuidOrNil(viewerWalletID)))
}

// viewerBalanceAfter is the balance after operation o of the wallet
// given, for the views of operations: its entries are read by operation
// alone (an operation has two) and the wallet's picked from them, so
// that no condition on the wallet can lead the planner to entries_wallet.
// With statistics from when a wallet had few entries it took that index
// for "this wallet's entry of this operation" and read every entry of a
// hot wallet for each row shown (TestViewsProbeEntriesByOperation).
func viewerBalanceAfter(walletID string) string {
	return `(SELECT max(e.balance_after) FILTER (WHERE e.wallet_id = ` + walletID + `)
		FROM entries e WHERE e.operation_id = o.id)`
}

// userBalanceAfter is viewerBalanceAfter for the wallet of the user
// given. The operation's entries are read first and apart (OFFSET 0 keeps
// the planner from joining them to the user's wallets the other way
// round, through entries_wallet).
func userBalanceAfter(userID string) string {
	return `(SELECT max(e.balance_after) FILTER (WHERE w.user_id = ` + userID + `)
		FROM (SELECT * FROM entries WHERE operation_id = o.id OFFSET 0) e JOIN wallets w ON w.id = e.wallet_id)`
}

// WalletOperations implements wallet.Store.
func (s *Store) WalletOperations(ctx context.Context, walletID, before string, limit int) ([]wallet.Operation, error) {
	if before == "" {
		before = "ffffffff-ffff-ffff-ffff-ffffffffffff"
	}
	// The balance after each operation is a subquery per row, not a
	// join: with statistics from when the wallet had few entries the
	// planner joined by reading all of a hot wallet's entries, 70-110 ms
	// a page (see viewerBalanceAfter for the subquery's own trap).
	rows, err := s.pool.Query(ctx, `
		SELECT `+opColumns+`, `+viewerBalanceAfter("$1")+`
		FROM (
			(SELECT * FROM operations WHERE from_wallet_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3)
			UNION ALL
			(SELECT * FROM operations WHERE to_wallet_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3)
		) o
		ORDER BY o.id DESC
		LIMIT $3`, walletID, before, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	ops := make([]wallet.Operation, 0, limit)
	for rows.Next() {
		op, err := scanViewed(rows)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, translate(rows.Err())
}

// PendingOperations implements wallet.Store.
func (s *Store) PendingOperations(ctx context.Context, olderThan time.Time, limit int) ([]wallet.Operation, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+opColumns+` FROM operations o
		WHERE o.status = 'pending' AND o.created_at < $1
		ORDER BY o.created_at LIMIT $2`, olderThan, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var ops []wallet.Operation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, translate(rows.Err())
}
