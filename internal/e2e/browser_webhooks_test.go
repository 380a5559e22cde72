package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserWebhooksAndAdmin: a form's error shows beside its field; a
// person adds a webhook on the page, copies its secret, and the deliveries
// it gets verify with it; the delivery log shows them and sends one again;
// the admin registers an OAuth client; the person allows it on the consent
// page and the client gets a code. Every page passes axe-core.
func TestBrowserWebhooksAndAdmin(t *testing.T) {
	t.Parallel()
	e := StartEnvWith(t, Options{Workers: 1, Env: map[string]string{"WEBHOOK_ALLOW_PRIVATE": "true"}})
	rcv := newReceiver(t)
	b := newBrowser(t)
	carol := b.tab("carol")
	carolWallet := b.signUp(carol, e.BaseURL, "Carol")
	dan := e.signup(t, "Dan")

	// A transfer of more than she has: the page comes back with the
	// contract's message beside the amount, and what she typed.
	b.run(carol, "send more than she has",
		chromedp.SendKeys(chromedp.CSS("#wallet_id"), dan.WalletID),
		chromedp.SendKeys(chromedp.CSS("#amount"), "5.00"),
		chromedp.Click(chromedp.CSS(`form[action="/transfer"] button[type="submit"]`)),
		textContains("#transfer-amount-error", "insufficient funds"),
	)
	invalid := value(b, carol, "the amount marked", chromedp.Evaluate[string](
		`document.querySelector("#amount").getAttribute("aria-invalid") + " " + document.activeElement.id + " " + document.querySelector("#wallet_id").value`))
	if invalid != "true amount "+dan.WalletID {
		t.Errorf("after the refused transfer: aria-invalid, focus and the recipient typed are %q", invalid)
	}
	b.checkAccessibility(carol, "/ (a refused form)")
	b.screenshot(carol, "form-error")

	// Carol adds an endpoint for her completed operations; the page
	// shows its secret once.
	b.run(carol, "add a webhook",
		chromedp.Navigate(e.BaseURL+"/webhooks"),
		chromedp.WaitVisible(chromedp.CSS("#url")),
		chromedp.SendKeys(chromedp.CSS("#url"), rcv.srv.URL+"/ok"),
		chromedp.Click(chromedp.CSS(`input[name="event:operation.completed"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/webhooks"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#secret")),
	)
	secret := strings.TrimSpace(value(b, carol, "the secret", chromedp.Text(chromedp.CSS("#secret code"))))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the secret on the page: %q", secret)
	}
	rcv.mu.Lock()
	rcv.secrets["/ok"] = secret
	rcv.mu.Unlock()
	b.run(carol, "the endpoint is listed", textContains("#webhooks", rcv.srv.URL+"/ok"), textContains("#webhooks", "operation.completed"))
	b.checkAccessibility(carol, "/webhooks")

	// A deposit: its event reaches the endpoint signed with that secret
	// (the receiver verifies each delivery).
	e.deposit(t, carolWallet, "20.00")
	waitReceipts := func(n int) []receipt {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if got := rcv.receipts("/ok"); len(got) >= n {
				return got
			}
		}
		t.Fatalf("the endpoint got %d deliveries, want %d", len(rcv.receipts("/ok")), n)
		return nil
	}
	first := waitReceipts(1)
	if first[0].Type != "operation.completed" {
		t.Errorf("the delivery: %+v", first[0])
	}

	// Its log shows the delivery succeeded; she sends it again and the
	// endpoint gets the same event once more.
	b.run(carol, "the delivery log",
		chromedp.Click(chromedp.CSS(`#webhooks a[href^="/webhooks/"]`)),
		textContains("#deliveries", "succeeded"),
		textContains("#deliveries", first[0].ID),
	)
	b.checkAccessibility(carol, "/webhooks/{id}")
	logURL := value(b, carol, "the log's address", chromedp.Location())
	b.run(carol, "send it again", chromedp.Click(chromedp.CSS(`#deliveries form[action$="/retry"] button`)))
	if again := waitReceipts(2); again[1].ID != first[0].ID {
		t.Errorf("the delivery sent again has webhook-id %s, want %s", again[1].ID, first[0].ID)
	}
	b.run(carol, "two attempts", chromedp.Navigate(logURL), textContains("#deliveries td.num", "2"))
	b.screenshot(carol, "webhooks")

	// The admin registers a confidential client; the page shows its
	// secret once and lists it.
	back := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case back <- r.URL.Query():
		default:
		}
		_, _ = w.Write([]byte("<!doctype html><title>App</title><p id=done>signed in</p>"))
	}))
	t.Cleanup(app.Close)
	admin := b.tab("admin")
	b.run(admin, "register a client",
		signIn(e.BaseURL, adminEmail, adminPassword),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/banks"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/admin/oauth"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/oauth/clients"]`)),
		chromedp.SendKeys(chromedp.CSS("#name"), "Budget App"),
		chromedp.SendKeys(chromedp.CSS("#redirect_uris"), app.URL+"/callback"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/oauth/clients"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#secret")),
		textContains("#clients", "Budget App"),
	)
	b.checkAccessibility(admin, "/admin/oauth")
	b.screenshot(admin, "oauth-clients")
	clientID := value(b, admin, "the client's id", chromedp.Evaluate[string](
		`[...document.querySelectorAll("#clients tr")].find(r => r.textContent.includes("Budget App")).id.slice(2)`))

	// Carol, signed in, allows it on the consent page; the app gets a
	// code and its state.
	verifier := newVerifier()
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {app.URL + "/callback"},
		"scope": {"wallet:read"}, "state": {"st-browser"}, "code_challenge": {challengeOf(verifier)}, "code_challenge_method": {"S256"}}
	b.run(carol, "the consent page",
		chromedp.Navigate(e.BaseURL+"/oauth/authorize?"+q.Encode()),
		textContains("h2", "Budget App"),
		textContains("#scopes", "see your balance"),
	)
	b.checkAccessibility(carol, "/oauth/authorize")
	b.screenshot(carol, "consent")
	b.run(carol, "allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.CSS("#done")))
	if got := <-back; got.Get("code") == "" || got.Get("state") != "st-browser" {
		t.Errorf("the app was sent back %v, want a code and its state", got)
	}

	// A sign-in link from an unknown client, and the log-out page.
	b.run(carol, "a bad sign-in link", chromedp.Navigate(e.BaseURL+"/oauth/authorize?client_id=nobody"), textContains("h2", "does not work"))
	b.checkAccessibility(carol, "/oauth/authorize (a bad link)")
	b.run(carol, "log out", chromedp.Navigate(e.BaseURL+"/logout"), chromedp.WaitVisible(chromedp.CSS(`main form[action="/logout"]`)))
	b.checkAccessibility(carol, "/logout")
	b.run(carol, "logged out", chromedp.Click(chromedp.CSS(`main form[action="/logout"] button`)), textContains("body", "You are logged out"))
}
