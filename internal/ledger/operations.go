package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// MaxDetailsLen bounds an operation's details text, in characters.
const MaxDetailsLen = 500

// claimSlack is how much longer than the lock wait an idempotency claim
// lives: enough for the checks and the commit. A claim only answers
// duplicates early (Postgres's unique key decides), so a short life is
// safe, and it bounds how long a request that died with its process keeps
// its key "in progress".
const claimSlack = 5 * time.Second

// Request is an operation as a caller asked for it, already parsed.
type Request struct {
	Caller wallet.User
	Type   wallet.OpType
	// ToWalletID is the recipient of a deposit, a transfer or a hold.
	ToWalletID string
	// Amount is what to move or reserve; for a capture, 0 means all that
	// remains.
	Amount  wallet.Amount
	Details string
	// IdempotencyKey is optional; RequestHash identifies the request's body.
	IdempotencyKey string
	RequestHash    []byte
	// Wait is how long the caller will wait for the result before it
	// answers (Prefer: wait). With a key, the first answer's status then
	// depends on the wait, so the key is stored Unanswered and stays
	// claimed until Answered records it: a replay meanwhile is
	// request_in_progress, never a 202 that the first answer contradicts.
	Wait time.Duration

	// HoldID is the hold a capture or void acts on; ExpiresIn is a new
	// hold's life; CaptureFinal says a capture closes its hold.
	HoldID       string
	ExpiresIn    time.Duration
	CaptureFinal bool
	// BankID is the bank a withdrawal goes through; WithdrawalID the
	// withdrawal a complete or fail acts on; EndAs how a withdrawal_fail
	// ends it (failed, cancelled).
	BankID       string
	WithdrawalID string
	EndAs        wallet.WithdrawalStatus
	// PaymentRequestID is the request a transfer pays (by approving it).
	PaymentRequestID string

	// byService marks an operation the service makes by itself (an
	// expiry): no caller authorises it.
	byService bool
}

// Accepted is the answer to a submitted operation.
type Accepted struct {
	Op wallet.Operation
	// Replayed is set when an Idempotency-Key returned an earlier operation;
	// StatusCode then is the first answer's status.
	Replayed   bool
	StatusCode int
}

// HashRequest identifies a request's content for idempotency checks.
func HashRequest(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// CheckDetails checks an operation's details text.
func CheckDetails(details string, required bool) (string, error) {
	if required && details == "" {
		return "", wallet.Errorf(wallet.EInvalidDetails, "details are required")
	}
	if len([]rune(details)) > MaxDetailsLen || hasControl(details) {
		return "", wallet.Errorf(wallet.EInvalidDetails, "details must be at most %d printable characters", MaxDetailsLen)
	}
	return details, nil
}

// Submit accepts an operation: it checks the wallets, locks the user
// wallets involved, makes the operation durable as pending, releases the
// locks and enqueues it for a worker to commit. With
// StartAcceptor running, concurrent calls do this in groups (acceptor.go).
// A request with a key and a Wait must be followed by Answered once its
// answer is known. Returns EWalletNotFound, ESameWallet, EForbidden,
// EInsufficientFunds, EWalletBusy, EIdempotencyKeyReused,
// ERequestInProgress, EUnavailable.
func (s *Service) Submit(ctx context.Context, req Request) (_ Accepted, err error) {
	// Every Postgres and Redis call of an accept is bounded: a hung
	// dependency answers 503, it never holds the request forever.
	ctx, cancel := context.WithTimeout(ctx, s.LockWait+3*s.acceptTimeout())
	defer cancel()
	defer func() { err = unavailable("the database or Redis", err) }()
	if req.IdempotencyKey == "" {
		acc, _, err := s.submit(ctx, req, nil, "")
		return acc, err
	}
	status := 202
	if req.Wait > 0 {
		status = wallet.Unanswered
	}
	key := &wallet.IdempotencyKey{UserID: req.Caller.ID, Key: req.IdempotencyKey, RequestHash: req.RequestHash, StatusCode: status}
	claim := claimOf(req.Caller.ID, req.IdempotencyKey)
	got, err := s.Claims.Claim(ctx, claim, s.LockWait+claimSlack+req.Wait)
	if err != nil {
		return Accepted{}, err
	}
	if !got {
		// A key found stored is replayed; a key claimed by a request
		// still being accepted, or still waiting to answer, is in
		// progress.
		if acc, ok, err := s.replay(ctx, key, false); ok || err != nil {
			return acc, err
		}
		return Accepted{}, wallet.Errorf(wallet.ERequestInProgress, "a request with this Idempotency-Key is still being accepted")
	}
	// A new request is not looked up first, which saves a query on every
	// operation: if its key was used before, the insert finds it and the
	// operation it made is replayed. A request refused on the way is
	// looked up, so that a replay is answered as one.
	acc, unclaimed, err := s.submit(ctx, req, key, claim)
	// (Unavailable: Postgres is not answering, and a lookup would wait.)
	code := wallet.ErrorCode(err)
	if code != "" && code != wallet.EIdempotencyKeyReused && code != wallet.EUnavailable {
		if prev, ok, rerr := s.replay(ctx, key, true); ok || rerr != nil {
			acc, err = prev, rerr
		}
	}
	// The claim of a stored request that will wait stays until Answered.
	if !unclaimed && !(err == nil && !acc.Replayed && req.Wait > 0) {
		s.unclaim([]string{claim}, []string{req.ToWalletID})
	}
	return acc, err
}

// Answered records the status of the first answer to a request that
// Submit accepted with a key and a Wait, and ends its claim: replays of
// the key answer with that status from now on.
func (s *Service) Answered(ctx context.Context, req Request, status int) error {
	if req.IdempotencyKey == "" || req.Wait <= 0 {
		return nil
	}
	defer s.unclaim([]string{claimOf(req.Caller.ID, req.IdempotencyKey)}, []string{req.ToWalletID})
	_, err := s.Store.SetIdempotencyStatus(context.WithoutCancel(ctx), req.Caller.ID, req.IdempotencyKey, status)
	return err
}

func claimOf(userID, key string) string { return userID + ":" + key }

// submit validates, locks and stores a request whose key (if any) is
// claimed, and says whether it ended the claim.
func (s *Service) submit(ctx context.Context, req Request, key *wallet.IdempotencyKey, claim string) (_ Accepted, unclaimed bool, _ error) {
	p, err := s.plan(ctx, req)
	if err != nil {
		return Accepted{}, false, err
	}
	now := s.now()
	p.ctx, p.key, p.claim = ctx, key, claim
	p.op.Type, p.op.Currency, p.op.CreatedBy = req.Type, s.Currency.Code, req.Caller.ID
	p.start, p.deadline, p.done = now, now.Add(s.LockWait), make(chan acceptResult, 1)
	p.arrived = time.Now()
	res := s.accept(p)
	switch {
	case wallet.ErrorCode(res.err) == wallet.EInsufficientFunds:
		// The funds may be short because a copy of this very request took
		// them (its claim lost with Redis): its key then decides.
		if key != nil {
			if taken, err := s.Store.IdempotencyKeyTaken(ctx, key.UserID, key.Key); err != nil {
				return Accepted{}, res.unclaimed, err
			} else if taken {
				if acc, ok, err := s.replay(ctx, key, true); ok || err != nil {
					return acc, res.unclaimed, err
				}
			}
		}
		return Accepted{}, res.unclaimed, wallet.Errorf(wallet.EInsufficientFunds, "insufficient funds: %s available", s.Currency.Format(res.available))
	case res.err != nil:
		return Accepted{}, res.unclaimed, res.err
	case res.op.ID == "":
		// Another request stored this key first (its claim had lapsed);
		// answer as a replay of it.
		acc, ok, err := s.replay(ctx, key, true)
		if !ok && err == nil {
			err = fmt.Errorf("ledger: idempotency key %q conflicted but cannot be read", key.Key)
		}
		return acc, res.unclaimed, err
	}
	return Accepted{Op: res.op, StatusCode: 202}, res.unclaimed, nil
}

// plan works out what accepting a request takes: the operation, the
// wallets to lock, what to check under the locks and what to create.
// Each kind of operation has its own planner, in the file of its feature.
func (s *Service) plan(ctx context.Context, req Request) (*pendingAccept, error) {
	switch req.Type {
	case wallet.OpDeposit, wallet.OpTransfer:
		return s.planTransfer(ctx, req)
	case wallet.OpHold:
		return s.planHold(ctx, req)
	case wallet.OpHoldCapture, wallet.OpHoldVoid, wallet.OpHoldExpire:
		return s.planHoldAction(ctx, req)
	case wallet.OpWithdrawal:
		return s.planWithdrawal(ctx, req)
	case wallet.OpWithdrawalComplete, wallet.OpWithdrawalFail:
		return s.planWithdrawalEnd(ctx, req)
	}
	return nil, wallet.Errorf(wallet.EInvalidRequest, "unknown operation type")
}

// planTransfer plans a deposit (from the bank's settlement account) or a
// transfer between user wallets (which may pay a payment request).
func (s *Service) planTransfer(ctx context.Context, req Request) (*pendingAccept, error) {
	to, err := s.userWallet(ctx, req.ToWalletID)
	if err != nil {
		return nil, err
	}
	from, err := s.walletOf(ctx, req.Caller.ID)
	if wallet.ErrorCode(err) == wallet.EWalletNotFound {
		return nil, wallet.Errorf(wallet.EForbidden, "this account has no wallet to pay from")
	}
	if err != nil {
		return nil, err
	}
	p := &pendingAccept{op: wallet.Operation{Amount: req.Amount, FromWalletID: from.ID, ToWalletID: to.ID,
		Details: req.Details, PaymentRequestID: req.PaymentRequestID}, wallets: []string{to.ID}}
	switch req.Type {
	case wallet.OpDeposit:
		if req.Caller.Role != wallet.RoleBank || from.Kind != wallet.KindSettlement {
			return nil, wallet.Errorf(wallet.EForbidden, "only payment systems can deposit")
		}
	case wallet.OpTransfer:
		if from.Kind != wallet.KindUser {
			return nil, wallet.Errorf(wallet.EForbidden, "only wallet owners can transfer")
		}
		if from.ID == to.ID {
			return nil, wallet.Errorf(wallet.ESameWallet, "cannot transfer to the same wallet")
		}
		p.wallets, p.debit = append(p.wallets, from.ID), true
	}
	return p, nil
}

// userWallet returns a user wallet of this deployment, or EWalletNotFound.
func (s *Service) userWallet(ctx context.Context, id string) (wallet.Wallet, error) {
	w, err := s.walletMeta(ctx, id)
	if err != nil {
		return wallet.Wallet{}, err
	}
	if w.Kind != wallet.KindUser || w.Currency != s.Currency.Code {
		return wallet.Wallet{}, wallet.Errorf(wallet.EWalletNotFound, "wallet not found")
	}
	return w, nil
}

// callerWallet returns the caller's own user wallet; an account without
// one (a bank, an admin) may not do what needs it.
func (s *Service) callerWallet(ctx context.Context, caller wallet.User, what string) (wallet.Wallet, error) {
	w, err := s.walletOf(ctx, caller.ID)
	if wallet.ErrorCode(err) == wallet.EWalletNotFound || (err == nil && w.Kind != wallet.KindUser) {
		return wallet.Wallet{}, wallet.Errorf(wallet.EForbidden, "only wallet owners can %s", what)
	}
	return w, err
}

// replay returns the operation an already used key created. A key whose
// first request has not answered yet is in progress while its claim is
// held by someone else; a caller that holds the claim itself (holding)
// found a first request that died before it answered, and records the
// status a first answer would have had now, so every later replay agrees.
func (s *Service) replay(ctx context.Context, key *wallet.IdempotencyKey, holding bool) (Accepted, bool, error) {
	prev, op, err := s.Store.LookupIdempotencyKey(ctx, key.UserID, key.Key)
	if wallet.ErrorCode(err) == wallet.EOperationNotFound {
		return Accepted{}, false, nil
	}
	if err != nil {
		return Accepted{}, false, err
	}
	if string(prev.RequestHash) != string(key.RequestHash) {
		return Accepted{}, false, wallet.Errorf(wallet.EIdempotencyKeyReused, "this Idempotency-Key was used with a different request")
	}
	status := prev.StatusCode
	if status == wallet.Unanswered {
		if !holding {
			return Accepted{}, false, wallet.Errorf(wallet.ERequestInProgress, "the first request with this Idempotency-Key has not answered yet")
		}
		status = 202
		if op.Final() {
			status = 200
		}
		if status, err = s.Store.SetIdempotencyStatus(ctx, key.UserID, key.Key, status); err != nil {
			return Accepted{}, false, err
		}
	}
	return Accepted{Op: op, Replayed: true, StatusCode: status}, true, nil
}

// Apply commits the operations of one task (worker side), then releases
// the locks that came with them, if any (a task enqueued by an API of an
// earlier release carries its group's locks; the acceptor now releases
// its own once the group is stored), and announces the results. Applying an
// operation again changes nothing. Errors are transient and worth a
// retry. With StartApplier running, concurrent calls share transactions.
func (s *Service) Apply(ctx context.Context, opIDs []string, locks []wallet.Lock) ([]wallet.Operation, error) {
	done := make(chan applyRes, 1)
	req := applyReq{ids: opIDs, locks: locks, done: done}
	if s.applier == nil {
		s.commitBatch(context.WithoutCancel(ctx), []applyReq{req})
		r := <-done
		return r.ops, r.err
	}
	select {
	case s.applier.reqs <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-done:
		return r.ops, r.err
	case <-ctx.Done():
		// The batch may still commit; a retry of the task finds it final.
		return nil, ctx.Err()
	}
}

// walletMeta returns a wallet's id, owner, kind and currency, which never
// change, from a process-wide cache; its balances are not to be used.
func (s *Service) walletMeta(ctx context.Context, id string) (wallet.Wallet, error) {
	if v, ok := s.metas.Load(id); ok {
		return v.(wallet.Wallet), nil
	}
	w, err := s.Store.WalletByID(ctx, id)
	if err != nil {
		return wallet.Wallet{}, err
	}
	w.Balance, w.Available = 0, 0
	s.metas.Store(id, w)
	return w, nil
}

// walletOf is walletMeta for a user's wallet.
func (s *Service) walletOf(ctx context.Context, userID string) (wallet.Wallet, error) {
	if v, ok := s.metas.Load("user:" + userID); ok {
		return v.(wallet.Wallet), nil
	}
	w, err := s.Store.WalletOf(ctx, userID)
	if err != nil {
		return wallet.Wallet{}, err
	}
	w.Balance, w.Available = 0, 0
	s.metas.Store("user:"+userID, w)
	return w, nil
}
