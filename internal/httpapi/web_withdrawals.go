package httpapi

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

// The withdrawals page: send money out to a bank account through one of
// the active payment systems, follow its status, cancel it while it is
// pending; the same use cases as the API.

func (s *Server) routesWithdrawalsPage() {
	s.app.Get("/withdrawals", pageHeaders, s.withdrawalsPage)
	s.app.Post("/withdrawals", pageHeaders, s.checkOrigin, s.requestWithdrawalForm)
	s.app.Post("/withdrawals/:id/cancel", pageHeaders, s.checkOrigin, s.cancelWithdrawalForm)
}

// bankChoice is an active payment system to withdraw through.
type bankChoice struct{ ID, Name string }

const withdrawalsPage = "/withdrawals"

func (s *Server) withdrawalsPage(c *fiber.Ctx) error {
	p := s.webSession(c)
	if p == nil {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	d := pageData{Title: "Withdrawals", SignedIn: true, CSRF: p.CSRF, Name: p.User.Name, Currency: s.cur.Code,
		WalletID: p.WalletID, FormKey: newFormKey(),
		EventTypes: "withdrawal.pending withdrawal.processing withdrawal.completed withdrawal.failed withdrawal.cancelled withdrawal.expired operation.failed"}
	flash(c, &d)
	banks, err := s.store.Banks(c.UserContext(), true)
	if err != nil {
		return s.renderError(c, "withdrawals.html", d, err)
	}
	names := map[string]string{}
	for _, b := range banks {
		d.BankChoices = append(d.BankChoices, bankChoice{ID: b.ID, Name: b.Name})
		names[b.ID] = b.Name
	}
	ws, err := s.svc.Withdrawals(c.UserContext(), p.User, wallet.WithdrawalFilter{Limit: 20})
	if err != nil {
		return s.renderError(c, "withdrawals.html", d, err)
	}
	for _, w := range ws {
		d.Withdrawals = append(d.Withdrawals, withdrawalRow{
			ID: w.ID, When: w.CreatedAt.UTC().Format(time.DateTime), Status: string(w.Status), Amount: s.cur.Format(w.Amount),
			Bank: names[w.BankID], Details: w.Details, Reference: w.Reference, Pending: w.Status == wallet.WithdrawalPending,
		})
	}
	return s.render(c, fiber.StatusOK, "withdrawals.html", d)
}

func (s *Server) requestWithdrawalForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, withdrawalsPage)
	if p == nil {
		return fail("")
	}
	bank, ok := wallet.CanonicalID(f.get("bank_id"))
	if !ok {
		return fail(wallet.EBankNotFound)
	}
	amount, err := s.cur.ParseAmount(f.get("amount"), s.cfg.MaxAmount)
	if err != nil {
		return fail(wallet.ErrorCode(err))
	}
	details, err := ledger.CheckDetails(f.get("details"), true)
	if err != nil {
		return fail(wallet.ErrorCode(err))
	}
	return s.submitForm(c, p, f, withdrawalsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpWithdrawal, BankID: bank,
		Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(wallet.OpWithdrawal), bank, strconv.FormatInt(int64(amount), 10), details)})
}

func (s *Server) cancelWithdrawalForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, withdrawalsPage)
	if p == nil {
		return fail("")
	}
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		return fail(wallet.EWithdrawalNotFound)
	}
	as := wallet.WithdrawalCancelled
	return s.submitForm(c, p, f, withdrawalsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpWithdrawalFail,
		WithdrawalID: id, EndAs: as, RequestHash: ledger.HashRequest(string(wallet.OpWithdrawalFail), string(as), id, "")})
}
