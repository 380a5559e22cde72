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
	s.app.Get("/withdrawals", pageHeaders, s.showPage(withdrawalsPage))
	s.app.Post("/withdrawals", pageHeaders, s.checkOrigin, s.requestWithdrawalForm)
	s.app.Post("/withdrawals/:id/cancel", pageHeaders, s.checkOrigin, s.cancelWithdrawalForm)
}

// bankChoice is an active payment system to withdraw through.
type bankChoice struct{ ID, Name string }

var (
	withdrawalsPage       = webPage{path: "/withdrawals", fill: (*Server).fillWithdrawals, users: true}
	errWithdrawalNotFound = wallet.Errorf(wallet.EWithdrawalNotFound, "withdrawal not found")
)

func (s *Server) fillWithdrawals(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title = "Withdrawals"
	banks, err := s.store.Banks(c.UserContext(), false)
	if err != nil {
		return "withdrawals.html", err
	}
	names := map[string]string{}
	for _, b := range banks {
		if b.Status == wallet.BankActive {
			d.BankChoices = append(d.BankChoices, bankChoice{ID: b.ID, Name: b.Name})
		}
		names[b.ID] = b.Name
	}
	if err := s.fillWithdrawalList(c, p, d, names); err != nil {
		return "withdrawals.html", err
	}
	return "withdrawals.html", nil
}

func (s *Server) requestWithdrawalForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, withdrawalsPage, "withdraw", "bank_id", "amount", "details")
	if p == nil {
		return fail(nil)
	}
	bank, ok := wallet.CanonicalID(f.get("bank_id"))
	if !ok {
		return fail(wallet.Errorf(wallet.EBankNotFound, "bank not found"))
	}
	amount, err := s.cur.ParseAmount(f.get("amount"), s.cfg.MaxAmount)
	if err != nil {
		return fail(err)
	}
	details, err := ledger.CheckDetails(f.get("details"), true)
	if err != nil {
		return fail(err)
	}
	return s.submitForm(c, p, f, withdrawalsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpWithdrawal, BankID: bank,
		Amount: amount, Details: details,
		RequestHash: ledger.HashRequest(string(wallet.OpWithdrawal), bank, strconv.FormatInt(int64(amount), 10), details)})
}

func (s *Server) cancelWithdrawalForm(c *fiber.Ctx) error {
	p, f, fail, id := s.rowFormStart(c, withdrawalsPage, "cancel", errWithdrawalNotFound)
	if p == nil {
		return fail(nil)
	}
	as := wallet.WithdrawalCancelled
	return s.submitForm(c, p, f, withdrawalsPage, fail, ledger.Request{Caller: p.User, Type: wallet.OpWithdrawalFail,
		WithdrawalID: id, EndAs: as, RequestHash: ledger.HashRequest(string(wallet.OpWithdrawalFail), string(as), id, "")})
}

// fillWithdrawalList lists a page of the withdrawals the caller sees
// (its own, a bank's, an admin's: all), from the query's cursor, with
// their banks' names when given.
func (s *Server) fillWithdrawalList(c *fiber.Ctx, p *principal, d *pageData, bankNames map[string]string) error {
	before, err := listCursor(c, "withdrawals")
	if err != nil {
		return err
	}
	ws, err := s.svc.Withdrawals(c.UserContext(), p.User, wallet.WithdrawalFilter{Before: before, Limit: listLimit + 1})
	if err != nil {
		return err
	}
	ws, next := trimPage(ws, listLimit, func(w wallet.Withdrawal) string { return w.ID })
	d.paged("withdrawals", before, next)
	for _, w := range ws {
		d.Withdrawals = append(d.Withdrawals, withdrawalRow{
			ID: w.ID, When: w.CreatedAt.UTC().Format(time.DateTime), Status: string(w.Status), Amount: s.cur.Format(w.Amount),
			WalletID: w.WalletID, Bank: bankNames[w.BankID], Details: w.Details, Reference: w.Reference, Reason: w.FailureReason,
			Pending: w.Status == wallet.WithdrawalPending, Processing: w.Status == wallet.WithdrawalProcessing,
		})
	}
	return nil
}
