package httpapi

import (
	"strconv"

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
	ID, When, Status, Amount, WalletID, Bank, Details, Reference, Reason string
	Pending, Processing                                                  bool
}

func (s *Server) fillBankConsole(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title, d.Bank = "Bank console", true
	if p.WalletID != "" {
		w, err := s.store.WalletByID(c.UserContext(), p.WalletID)
		if err != nil {
			return "bank.html", err
		}
		d.Balance = s.cur.Format(w.Balance)
		if err := s.fillOperations(c, p, d); err != nil {
			return "bank.html", err
		}
	}
	if err := s.fillWithdrawalList(c, p, d, nil); err != nil {
		return "bank.html", err
	}
	return "bank.html", nil
}

func (s *Server) depositForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, homePage, "deposit", moneyFormFields...)
	if p == nil {
		return fail(nil)
	}
	if p.User.Role != wallet.RoleBank {
		return fail(wallet.Errorf(wallet.EForbidden, "only payment systems can deposit"))
	}
	to, amount, details, err := s.moneyFields(f, true)
	if err != nil {
		return fail(err)
	}
	return s.submitForm(c, p, f, homePage, fail, ledger.Request{
		Caller: p.User, Type: wallet.OpDeposit, ToWalletID: to, Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(wallet.OpDeposit), to, strconv.FormatInt(int64(amount), 10), details),
	})
}

func (s *Server) processingForm(c *fiber.Ctx) error {
	p, _, fail, id := s.rowFormStart(c, homePage, "processing", errWithdrawalNotFound)
	if p == nil {
		return fail(nil)
	}
	if _, err := s.svc.MarkWithdrawalProcessing(c.UserContext(), p.User, id); err != nil {
		return fail(err)
	}
	return c.Redirect(homePage.path, fiber.StatusSeeOther)
}

// endWithdrawalForm completes (with the bank's reference) or fails (with
// a reason) a withdrawal.
func (s *Server) endWithdrawalForm(typ wallet.OpType, as wallet.WithdrawalStatus) fiber.Handler {
	action, field := "complete", "reference"
	if typ == wallet.OpWithdrawalFail {
		action, field = "fail", "reason"
	}
	return func(c *fiber.Ctx) error {
		p, f, fail, id := s.rowFormStart(c, homePage, action, errWithdrawalNotFound, field)
		if p == nil {
			return fail(nil)
		}
		note := f.get(field)
		if typ == wallet.OpWithdrawalFail && note == "" {
			return fail(wallet.Errorf(wallet.EInvalidDetails, "reason is required"))
		}
		note, err := ledger.CheckDetails(note, false)
		if err != nil {
			return fail(err)
		}
		return s.submitForm(c, p, f, homePage, fail, ledger.Request{Caller: p.User, Type: typ, WithdrawalID: id, EndAs: as,
			Details: note, RequestHash: ledger.HashRequest(string(typ), string(as), id, note)})
	}
}
