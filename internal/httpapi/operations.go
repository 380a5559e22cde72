package httpapi

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// operationJSON is an operation as the API shows it (the ledger's view,
// which webhook deliveries use too).
type operationJSON = ledger.OperationView

func (s *Server) operationJSON(op wallet.Operation) operationJSON {
	return ledger.ViewOperation(op, s.cur)
}

func (s *Server) deposit(c *fiber.Ctx) error {
	if caller(c).User.Role != wallet.RoleBank {
		return s.writeError(c, wallet.Errorf(wallet.EForbidden, "only payment systems can deposit"))
	}
	return s.submit(c, wallet.OpDeposit)
}

func (s *Server) transfer(c *fiber.Ctx) error {
	p := caller(c)
	if p.Kind != wallet.KindUser {
		return s.writeError(c, wallet.Errorf(wallet.EForbidden, "only wallet owners can transfer"))
	}
	return s.submit(c, wallet.OpTransfer)
}

// submit parses a deposit or transfer request and submits it.
func (s *Server) submit(c *fiber.Ctx, typ wallet.OpType) error {
	p := caller(c)
	var b operationBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	to, err := walletIDField(b.WalletID)
	if err != nil {
		return s.writeError(c, err)
	}
	amount, err := s.cur.ParseJSONAmount(b.Amount, s.cfg.MaxAmount)
	if err != nil {
		return s.writeError(c, err)
	}
	details, err := ledger.CheckDetails(deref(b.Details), typ == wallet.OpDeposit)
	if err != nil {
		return s.writeError(c, err)
	}
	req := ledger.Request{Caller: p.User, Type: typ, ToWalletID: to, Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(typ), to, strconv.FormatInt(int64(amount), 10), details)}
	return s.operate(c, req, s.svc.Submit)
}

// walletIDField reads a required wallet id in its canonical form, which
// makes an upper-cased id the same wallet and the same request (its
// idempotency hash).
func walletIDField(raw *string) (string, error) {
	if raw == nil || *raw == "" {
		return "", wallet.Errorf(wallet.EInvalidWalletID, "wallet_id is required")
	}
	id, ok := wallet.CanonicalID(*raw)
	if !ok {
		return "", wallet.Errorf(wallet.EWalletNotFound, "wallet not found")
	}
	return id, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// operate is every operation endpoint's answer: it reads the
// Idempotency-Key and Prefer: wait headers into req, hands req to submit
// (the ledger's Submit or a use case built on it), and answers 202 with
// Location, or 200 once the operation is final when asked to wait, or a
// replay with the first answer's status.
func (s *Server) operate(c *fiber.Ctx, req ledger.Request, submit func(context.Context, ledger.Request) (ledger.Accepted, error)) error {
	p := caller(c)
	key, err := idempotencyKey(c)
	if err != nil {
		return s.writeError(c, err)
	}
	wait, waitAsked := preferWait(c.Get("Prefer"))
	req.IdempotencyKey, req.Wait = key, wait
	acc, err := submit(c.UserContext(), req)
	if err != nil {
		return s.writeError(c, err)
	}
	if acc.Replayed {
		c.Set("Idempotent-Replayed", "true")
		c.Set(fiber.HeaderLocation, "/api/operations/"+acc.Op.ID)
		return c.Status(acc.StatusCode).JSON(s.operationJSON(acc.Op))
	}
	s.accepted.WithLabelValues(string(acc.Op.Type)).Inc()

	op := acc.Op
	status := fiber.StatusAccepted
	if waitAsked {
		op, err = s.waitFinal(c.UserContext(), op, p.WalletID, wait)
		if err == nil && op.Final() {
			status = fiber.StatusOK
		}
		// Replays answer with this first answer's status; until it is
		// recorded they are request_in_progress.
		if aerr := s.svc.Answered(c.UserContext(), req, status); aerr != nil {
			s.log.Warn("record idempotent status", slog.String("operation_id", op.ID), slog.Any("error", aerr))
		}
		if err != nil {
			return s.writeError(c, err)
		}
		c.Set("Preference-Applied", "wait="+strconv.Itoa(int(wait/time.Second)))
	}
	c.Set(fiber.HeaderLocation, "/api/operations/"+op.ID)
	return c.Status(status).JSON(s.operationJSON(op))
}

// waitFinal waits up to d for op to become final. It watches for the
// result before reading the row again, so no announcement is missed, and
// also re-reads the row now and then in case an announcement was lost.
func (s *Server) waitFinal(ctx context.Context, op wallet.Operation, viewerWallet string, d time.Duration) (wallet.Operation, error) {
	if op.Final() || d <= 0 {
		return op, nil
	}
	done, stop := s.results.Watch(op.ID)
	defer stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(pollEvery)
	defer poll.Stop()
	for {
		cur, err := s.store.Operation(ctx, op.ID, viewerWallet)
		if err != nil {
			return op, err
		}
		op = cur
		if op.Final() {
			return op, nil
		}
		select {
		case <-done:
		case <-poll.C:
		case <-deadline.C:
			return op, nil
		case <-s.closing:
			return op, nil
		case <-ctx.Done():
			return op, nil
		}
	}
}

// canSee says whether p may see op: its parties, the account that made
// it (the bank of a deposit), and admins. Everyone else gets 404.
func canSee(p *principal, op wallet.Operation) bool {
	return p.User.Role == wallet.RoleAdmin || p.User.ID == op.CreatedBy ||
		p.owns(op.FromWalletID) || p.owns(op.ToWalletID)
}

func (s *Server) getOperation(c *fiber.Ctx) error {
	p := caller(c)
	notFound := wallet.Errorf(wallet.EOperationNotFound, "operation not found")
	op, err := s.store.Operation(c.UserContext(), c.Params("id"), p.WalletID)
	if err != nil {
		return s.writeError(c, err)
	}
	if !canSee(p, op) {
		return s.writeError(c, notFound)
	}
	if w := c.Query("wait"); w != "" {
		d, ok := waitSeconds(w)
		if !ok {
			return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "wait must be a whole number of seconds"))
		}
		if op, err = s.waitFinal(c.UserContext(), op, p.WalletID, d); err != nil {
			return s.writeError(c, err)
		}
		if !op.Final() {
			return c.Status(fiber.StatusAccepted).JSON(s.operationJSON(op))
		}
	}
	return c.JSON(s.operationJSON(op))
}

type walletJSON struct {
	WalletID   string          `json:"wallet_id"`
	UserID     string          `json:"user_id"`
	Kind       string          `json:"kind"`
	Currency   string          `json:"currency"`
	Balance    string          `json:"balance"`
	Held       string          `json:"held"`
	Available  string          `json:"available"`
	Operations []operationJSON `json:"operations"`
	NextCursor *string         `json:"next_cursor"`
}

func (s *Server) getWallet(c *fiber.Ctx) error {
	p := caller(c)
	if p.WalletID == "" {
		return s.writeError(c, wallet.Errorf(wallet.EWalletNotFound, "this account has no wallet"))
	}
	w, err := s.store.WalletByID(c.UserContext(), p.WalletID)
	if err != nil {
		return s.writeError(c, err)
	}
	ops, next, err := s.page(c, p.WalletID, "", defaultPage)
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(walletJSON{
		WalletID: w.ID, UserID: w.UserID, Kind: string(w.Kind), Currency: w.Currency,
		Balance: s.cur.Format(w.Balance), Held: s.cur.Format(w.Held), Available: s.cur.Format(w.Available),
		Operations: ops, NextCursor: next,
	})
}

func (s *Server) listOperations(c *fiber.Ctx) error {
	p := caller(c)
	if p.WalletID == "" {
		return s.writeError(c, wallet.Errorf(wallet.EWalletNotFound, "this account has no wallet"))
	}
	before, limit, err := pageParams(c)
	if err != nil {
		return s.writeError(c, err)
	}
	ops, next, err := s.page(c, p.WalletID, before, limit)
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(fiber.Map{"operations": ops, "next_cursor": next})
}

// page reads one page of a wallet's operations, newest first; the cursor
// is the last operation's id, opaque to clients.
func (s *Server) page(c *fiber.Ctx, walletID, before string, limit int) ([]operationJSON, *string, error) {
	ops, err := s.store.WalletOperations(c.UserContext(), walletID, before, limit+1)
	if err != nil {
		return nil, nil, err
	}
	ops, next := trimPage(ops, limit, func(op wallet.Operation) string { return op.ID })
	out := make([]operationJSON, len(ops))
	for i, op := range ops {
		out[i] = s.operationJSON(op)
	}
	return out, next, nil
}
