package postgres

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// The events of holds, payment requests and withdrawals (hold.active,
// withdrawal.completed, ...). Such a notification carries its object as
// it was when the change committed, a snapshot of the row in the
// notification's subject column: the JSON of the row, keyed by column
// name, whether the worker's batch made it from the object it changed or
// a statement with to_jsonb of the row it changed. Decoding a snapshot
// ignores columns it does not know and leaves ones it lacks empty, so
// the tables can grow.

type holdRow struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Amount       int64      `json:"amount"`
	Captured     int64      `json:"captured"`
	Released     int64      `json:"released"`
	Currency     string     `json:"currency"`
	FromWalletID string     `json:"from_wallet_id"`
	ToWalletID   string     `json:"to_wallet_id"`
	Details      string     `json:"details"`
	FailureCode  string     `json:"failure_code,omitempty"`
	OperationID  string     `json:"operation_id"`
	ExpiresAt    time.Time  `json:"expires_at"`
	CreatedAt    time.Time  `json:"created_at"`
	ClosedAt     *time.Time `json:"closed_at"`
}

type requestRow struct {
	ID            string     `json:"id"`
	Status        string     `json:"status"`
	Amount        int64      `json:"amount"`
	Currency      string     `json:"currency"`
	FromWalletID  string     `json:"from_wallet_id"`
	ToWalletID    string     `json:"to_wallet_id"`
	RequestedBy   string     `json:"requested_by"`
	Details       string     `json:"details"`
	DeclineReason string     `json:"decline_reason,omitempty"`
	OperationID   string     `json:"operation_id,omitempty"`
	ExpiresAt     time.Time  `json:"expires_at"`
	CreatedAt     time.Time  `json:"created_at"`
	ClosedAt      *time.Time `json:"closed_at"`
}

type withdrawalRow struct {
	ID                 string     `json:"id"`
	Status             string     `json:"status"`
	Amount             int64      `json:"amount"`
	Currency           string     `json:"currency"`
	WalletID           string     `json:"wallet_id"`
	BankID             string     `json:"bank_id"`
	SettlementWalletID string     `json:"settlement_wallet_id"`
	Details            string     `json:"details"`
	Reference          string     `json:"reference,omitempty"`
	FailureReason      string     `json:"failure_reason,omitempty"`
	OperationID        string     `json:"operation_id"`
	PendingSince       *time.Time `json:"pending_since"`
	CreatedAt          time.Time  `json:"created_at"`
	ClosedAt           *time.Time `json:"closed_at"`
}

// decodeSubject fills n's object from its snapshot; the kind is the first
// part of the event type.
func decodeSubject(n *wallet.Notification, raw []byte) error {
	kind, _, _ := strings.Cut(n.Type, ".")
	var err error
	switch kind {
	case wallet.SubjectHold:
		var r holdRow
		if err = json.Unmarshal(raw, &r); err == nil {
			n.Hold = &wallet.Hold{ID: r.ID, Status: wallet.HoldStatus(r.Status), Amount: wallet.Amount(r.Amount),
				Captured: wallet.Amount(r.Captured), Released: wallet.Amount(r.Released), Currency: r.Currency,
				FromWalletID: r.FromWalletID, ToWalletID: r.ToWalletID, Details: r.Details, FailureCode: r.FailureCode,
				OperationID: r.OperationID, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, ClosedAt: r.ClosedAt}
		}
	case wallet.SubjectPaymentRequest:
		var r requestRow
		if err = json.Unmarshal(raw, &r); err == nil {
			n.PaymentRequest = &wallet.PaymentRequest{ID: r.ID, Status: wallet.PaymentRequestStatus(r.Status),
				Amount: wallet.Amount(r.Amount), Currency: r.Currency, FromWalletID: r.FromWalletID, ToWalletID: r.ToWalletID,
				RequestedBy: r.RequestedBy, Details: r.Details, DeclineReason: r.DeclineReason, OperationID: r.OperationID,
				ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, ClosedAt: r.ClosedAt}
		}
	case wallet.SubjectWithdrawal:
		var r withdrawalRow
		if err = json.Unmarshal(raw, &r); err == nil {
			n.Withdrawal = &wallet.Withdrawal{ID: r.ID, Status: wallet.WithdrawalStatus(r.Status),
				Amount: wallet.Amount(r.Amount), Currency: r.Currency, WalletID: r.WalletID, BankID: r.BankID,
				SettlementWalletID: r.SettlementWalletID, Details: r.Details, Reference: r.Reference,
				FailureReason: r.FailureReason, OperationID: r.OperationID, PendingSince: r.PendingSince,
				CreatedAt: r.CreatedAt, ClosedAt: r.ClosedAt}
		}
	default:
		return errors.New("postgres: a notification of unknown kind " + n.Type)
	}
	if err != nil {
		return errors.Join(errors.New("postgres: a notification's snapshot does not decode"), err)
	}
	return nil
}

// snapshotHold is the snapshot of a hold, as its row would be.
func snapshotHold(h *wallet.Hold) []byte {
	b, _ := json.Marshal(holdRow{ID: h.ID, Status: string(h.Status), Amount: int64(h.Amount), Captured: int64(h.Captured),
		Released: int64(h.Released), Currency: h.Currency, FromWalletID: h.FromWalletID, ToWalletID: h.ToWalletID,
		Details: h.Details, FailureCode: h.FailureCode, OperationID: h.OperationID, ExpiresAt: h.ExpiresAt,
		CreatedAt: h.CreatedAt, ClosedAt: h.ClosedAt})
	return b
}

// snapshotRequest is the snapshot of a payment request.
func snapshotRequest(r *wallet.PaymentRequest) []byte {
	b, _ := json.Marshal(requestRow{ID: r.ID, Status: string(r.Status), Amount: int64(r.Amount), Currency: r.Currency,
		FromWalletID: r.FromWalletID, ToWalletID: r.ToWalletID, RequestedBy: r.RequestedBy, Details: r.Details,
		DeclineReason: r.DeclineReason, OperationID: r.OperationID, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt,
		ClosedAt: r.ClosedAt})
	return b
}

// snapshotWithdrawal is the snapshot of a withdrawal.
func snapshotWithdrawal(w *wallet.Withdrawal) []byte {
	b, _ := json.Marshal(withdrawalRow{ID: w.ID, Status: string(w.Status), Amount: int64(w.Amount), Currency: w.Currency,
		WalletID: w.WalletID, BankID: w.BankID, SettlementWalletID: w.SettlementWalletID, Details: w.Details,
		Reference: w.Reference, FailureReason: w.FailureReason, OperationID: w.OperationID,
		PendingSince: w.PendingSince, CreatedAt: w.CreatedAt, ClosedAt: w.ClosedAt})
	return b
}

// subjectEvent is one event of the batch's objects, for its parties.
type subjectEvent struct {
	typ      string
	snapshot []byte
	users    []string
}

// tell records, if its status changed since the batch last told of it
// (or locked it), the event of an object the batch changed, for each of
// its parties once. Objects are told as they change, so one that changes
// twice in a batch has both events, each with its own snapshot.
func (b *batch) tell(kind, id, status string, snapshot func() []byte, users ...string) {
	if b.told[id] == status {
		return
	}
	b.told[id] = status
	typ := wallet.SubjectEvent(kind, status)
	if typ == "" {
		return
	}
	e := subjectEvent{typ: typ, snapshot: snapshot()}
	for _, u := range users {
		if u != "" && !slices.Contains(e.users, u) {
			e.users = append(e.users, u)
		}
	}
	b.events = append(b.events, e)
}

func (b *batch) tellHold(h *wallet.Hold) {
	b.tell(wallet.SubjectHold, h.ID, string(h.Status), func() []byte { return snapshotHold(h) },
		b.owner(h.FromWalletID), b.owner(h.ToWalletID))
}

func (b *batch) tellWithdrawal(w *wallet.Withdrawal) {
	b.tell(wallet.SubjectWithdrawal, w.ID, string(w.Status), func() []byte { return snapshotWithdrawal(w) },
		b.owner(w.WalletID), w.BankID)
}

func (b *batch) tellRequest(r *wallet.PaymentRequest) {
	b.tell(wallet.SubjectPaymentRequest, r.ID, string(r.Status), func() []byte { return snapshotRequest(r) },
		b.owner(r.FromWalletID), b.owner(r.ToWalletID))
}

// tellSQL is the part of a statement that records the events of the
// payment requests or withdrawals a CTE named changed returns (all their
// columns), for their parties: the owners of both wallets of a request;
// of a withdrawal, its owner and its bank.
func tellSQL(kind string) string {
	parties := `SELECT w.user_id FROM wallets w WHERE w.id IN (c.from_wallet_id, c.to_wallet_id)`
	event := `'payment_request.' || CASE c.status WHEN 'open' THEN 'created' ELSE c.status END`
	if kind == wallet.SubjectWithdrawal {
		parties = `SELECT w.user_id FROM wallets w WHERE w.id = c.wallet_id UNION SELECT c.bank_id`
		event = `'withdrawal.' || c.status`
	}
	return `told AS (
		INSERT INTO notifications (id, user_id, type, subject, created_at)
		SELECT uuid_v7(), u.user_id, ` + event + `, to_jsonb(c), now()
		FROM changed c CROSS JOIN LATERAL (` + parties + `) u(user_id))`
}
