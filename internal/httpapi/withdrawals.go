package httpapi

import (
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

func (s *Server) routesWithdrawals(api fiber.Router) {
	api.Post("/withdrawals", s.need(wallet.ScopeWalletTransfer), s.requireJSON, s.requestWithdrawal)
	api.Get("/withdrawals", s.need(wallet.ScopeWalletRead), s.listWithdrawals)
	api.Get("/withdrawals/:id", s.need(wallet.ScopeWalletRead), s.getWithdrawal)
	api.Post("/withdrawals/:id/cancel", s.need(wallet.ScopeWalletTransfer), s.optionalJSON, s.endWithdrawal(wallet.OpWithdrawalFail, wallet.WithdrawalCancelled))
	api.Post("/withdrawals/:id/processing", s.need(wallet.ScopeBankDeposit), s.optionalJSON, s.markWithdrawalProcessing)
	api.Post("/withdrawals/:id/complete", s.need(wallet.ScopeBankDeposit), s.optionalJSON, s.endWithdrawal(wallet.OpWithdrawalComplete, ""))
	api.Post("/withdrawals/:id/fail", s.need(wallet.ScopeBankDeposit, wallet.ScopeAdmin), s.optionalJSON, s.endWithdrawal(wallet.OpWithdrawalFail, wallet.WithdrawalFailed))
}

type withdrawalJSON = ledger.WithdrawalView

func (s *Server) withdrawalJSON(w wallet.Withdrawal) withdrawalJSON {
	return ledger.ViewWithdrawal(w, s.cur)
}

type withdrawalBody struct {
	BankID  *string        `json:"bank_id"`
	Amount  jsontext.Value `json:"amount"`
	Details *string        `json:"details"`
}

func (s *Server) requestWithdrawal(c *fiber.Ctx) error {
	var b withdrawalBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	if b.BankID == nil || *b.BankID == "" {
		return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "bank_id is required"))
	}
	bank, ok := wallet.CanonicalID(*b.BankID)
	if !ok {
		return s.writeError(c, wallet.Errorf(wallet.EBankNotFound, "bank not found"))
	}
	amount, err := s.cur.ParseJSONAmount(b.Amount, s.cfg.MaxAmount)
	if err != nil {
		return s.writeError(c, err)
	}
	details, err := ledger.CheckDetails(deref(b.Details), true)
	if err != nil {
		return s.writeError(c, err)
	}
	req := ledger.Request{Caller: caller(c).User, Type: wallet.OpWithdrawal, BankID: bank, Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(wallet.OpWithdrawal), bank, strconv.FormatInt(int64(amount), 10), details)}
	return s.operate(c, req, s.svc.Submit)
}

func (s *Server) getWithdrawal(c *fiber.Ctx) error {
	w, err := s.svc.Withdrawal(c.UserContext(), caller(c).User, c.Params("id"))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(s.withdrawalJSON(w))
}

var withdrawalStatuses = []string{string(wallet.WithdrawalRequested), string(wallet.WithdrawalPending),
	string(wallet.WithdrawalProcessing), string(wallet.WithdrawalCompleted), string(wallet.WithdrawalFailed),
	string(wallet.WithdrawalCancelled), string(wallet.WithdrawalExpired)}

func (s *Server) listWithdrawals(c *fiber.Ctx) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return s.writeError(c, err)
	}
	status, err := statusParam(c, withdrawalStatuses...)
	if err != nil {
		return s.writeError(c, err)
	}
	ws, err := s.svc.Withdrawals(c.UserContext(), caller(c).User, wallet.WithdrawalFilter{
		Status: wallet.WithdrawalStatus(status), Before: before, Limit: limit + 1})
	if err != nil {
		return s.writeError(c, err)
	}
	ws, next := trimPage(ws, limit, func(w wallet.Withdrawal) string { return w.ID })
	out := make([]withdrawalJSON, len(ws))
	for i, w := range ws {
		out[i] = s.withdrawalJSON(w)
	}
	return c.JSON(fiber.Map{"withdrawals": out, "next_cursor": next})
}

func (s *Server) markWithdrawalProcessing(c *fiber.Ctx) error {
	if err := noFields(c); err != nil {
		return s.writeError(c, err)
	}
	w, err := s.svc.MarkWithdrawalProcessing(c.UserContext(), caller(c).User, c.Params("id"))
	if err != nil {
		return s.writeError(c, err)
	}
	return c.JSON(s.withdrawalJSON(w))
}

type endWithdrawalBody struct {
	Reference *string `json:"reference"`
	Reason    *string `json:"reason"`
}

// endWithdrawal answers complete ({reference?}), fail ({reason}) and
// cancel (no body): each an operation.
func (s *Server) endWithdrawal(typ wallet.OpType, as wallet.WithdrawalStatus) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var b endWithdrawalBody
		if len(c.Body()) > 0 {
			if err := decodeJSON(c.Body(), &b); err != nil {
				return s.writeError(c, err)
			}
		}
		var note string
		switch {
		case typ == wallet.OpWithdrawalComplete:
			if b.Reason != nil {
				return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "unknown field \"reason\": a completion takes a reference"))
			}
			note = deref(b.Reference)
		case as == wallet.WithdrawalFailed:
			if b.Reference != nil {
				return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "unknown field \"reference\": a failure takes a reason"))
			}
			if b.Reason == nil || *b.Reason == "" {
				return s.writeError(c, wallet.Errorf(wallet.EInvalidDetails, "reason is required"))
			}
			note = *b.Reason
		default:
			if b.Reference != nil || b.Reason != nil {
				return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "a cancel takes no fields"))
			}
		}
		note, err := ledger.CheckDetails(note, false)
		if err != nil {
			return s.writeError(c, err)
		}
		id, ok := wallet.CanonicalID(c.Params("id"))
		if !ok {
			return s.writeError(c, wallet.Errorf(wallet.EWithdrawalNotFound, "withdrawal not found"))
		}
		req := ledger.Request{Caller: caller(c).User, Type: typ, WithdrawalID: id, EndAs: as, Details: note,
			RequestHash: ledger.HashRequest(string(typ), string(as), id, note)}
		return s.operate(c, req, s.svc.Submit)
	}
}
