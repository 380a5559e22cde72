package httpapi

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// The bank console: a payment system signed in on the web deposits into
// wallets and works through the withdrawals addressed to it (mark
// processing, complete, fail), through the same use cases as the API.

func (s *Server) routesBankConsole() {
	s.app.Post("/bank/deposit", pageHeaders, s.checkOrigin, s.depositForm)
	s.app.Post("/bank/withdrawals/:id/processing", pageHeaders, s.checkOrigin, s.processingForm)
	s.app.Post("/bank/withdrawals/:id/complete", pageHeaders, s.checkOrigin, s.endWithdrawalForm(wallet.OpWithdrawalComplete, ""))
	s.app.Post("/bank/withdrawals/:id/fail", pageHeaders, s.checkOrigin, s.endWithdrawalForm(wallet.OpWithdrawalFail, wallet.WithdrawalFailed))
}

// withdrawalRow is a withdrawal in the console's list.
type withdrawalRow struct {
	ID, When, Status, Amount, WalletID, Bank, Details, Reference string
	Pending, Processing                                          bool
}

func (s *Server) bankConsole(c *fiber.Ctx, p *principal, d pageData) error {
	d.Title, d.Bank = "Bank console", true
	if p.WalletID != "" {
		w, err := s.store.WalletByID(c.UserContext(), p.WalletID)
		if err != nil {
			return s.writeError(c, err)
		}
		d.WalletID, d.Balance = w.ID, s.cur.Format(w.Balance)
	}
	d.FormKey = newFormKey()
	ws, err := s.svc.Withdrawals(c.UserContext(), p.User, wallet.WithdrawalFilter{Limit: 50})
	if err != nil {
		return s.writeError(c, err)
	}
	for _, w := range ws {
		d.Withdrawals = append(d.Withdrawals, withdrawalRow{
			ID: w.ID, When: w.CreatedAt.UTC().Format(time.DateTime), Status: string(w.Status), Amount: s.cur.Format(w.Amount),
			WalletID: w.WalletID, Details: w.Details, Reference: w.Reference,
			Pending: w.Status == wallet.WithdrawalPending, Processing: w.Status == wallet.WithdrawalProcessing,
		})
	}
	return s.render(c, fiber.StatusOK, "bank.html", d)
}

func (s *Server) depositForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, "/")
	if p == nil {
		return fail("")
	}
	if p.User.Role != wallet.RoleBank {
		return fail(wallet.EForbidden)
	}
	to, amount, details, code := s.moneyFields(f, true)
	if code != "" {
		return fail(code)
	}
	return s.submitForm(c, p, f, "/", fail, ledger.Request{
		Caller: p.User, Type: wallet.OpDeposit, ToWalletID: to, Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(wallet.OpDeposit), to, strconv.FormatInt(int64(amount), 10), details),
	})
}

func (s *Server) processingForm(c *fiber.Ctx) error {
	p, _, fail := s.formStart(c, "/")
	if p == nil {
		return fail("")
	}
	if _, err := s.svc.MarkWithdrawalProcessing(c.UserContext(), p.User, c.Params("id")); err != nil {
		return fail(wallet.ErrorCode(err))
	}
	return c.Redirect("/", fiber.StatusSeeOther)
}

// endWithdrawalForm completes (with the bank's reference) or fails (with
// a reason) a withdrawal.
func (s *Server) endWithdrawalForm(typ wallet.OpType, as wallet.WithdrawalStatus) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, f, fail := s.formStart(c, "/")
		if p == nil {
			return fail("")
		}
		note := f.get("reference")
		if typ == wallet.OpWithdrawalFail {
			if note = f.get("reason"); note == "" {
				return fail(wallet.EInvalidDetails)
			}
		}
		note, err := ledger.CheckDetails(note, false)
		if err != nil {
			return fail(wallet.ErrorCode(err))
		}
		id, ok := wallet.CanonicalID(c.Params("id"))
		if !ok {
			return fail(wallet.EWithdrawalNotFound)
		}
		return s.submitForm(c, p, f, "/", fail, ledger.Request{Caller: p.User, Type: typ, WithdrawalID: id, EndAs: as,
			Details: note, RequestHash: ledger.HashRequest(string(typ), string(as), id, note)})
	}
}
