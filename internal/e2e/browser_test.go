package e2e

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser tests: the pages driven in Debian's chromium, headless, through
// the DevTools protocol (chromedp), against the real API and a worker.
// .ci/run installs chromium when it is missing; without it these tests
// fail (CHROMIUM names another binary). On a failure each tab's page is
// saved as a PNG in the test's log directory; with UPDATE_SCREENSHOTS=1
// the pages the README shows are written to docs/screenshots/.

const browserPassword = "correct horse battery"

//go:embed testdata/axe.min.js
var axeSource string

func chromiumPath(t *testing.T) string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium: install Debian's chromium (apt-get install chromium; .ci/run does), or set CHROMIUM")
	return ""
}

// browser is one headless chromium for a test.
type browser struct {
	t    *testing.T
	root context.Context
	tabs map[string]context.Context
}

func newBrowser(t *testing.T) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1100, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelRoot(); cancelAlloc() })
	if err := chromedp.Do(root); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{t: t, root: root, tabs: map[string]context.Context{}}
	t.Cleanup(b.saveOnFailure)
	return b
}

// tab opens a tab with cookies of its own (a person at their computer).
func (b *browser) tab(name string) context.Context {
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	b.tabs[name] = ctx
	return ctx
}

// run runs actions in a tab, with a deadline, and fails the test on an
// error.
func (b *browser) run(tab context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that gives a value, like run.
func value[T any](b *browser, tab context.Context, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// saveOnFailure saves each tab's page as a PNG when the test failed.
func (b *browser) saveOnFailure() {
	if !b.t.Failed() {
		return
	}
	dir := b.t.TempDir()
	if d := os.Getenv("BROWSER_ARTIFACTS"); d != "" {
		dir = d
	}
	for name, tab := range b.tabs {
		ctx, cancel := context.WithTimeout(tab, 10*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("%s-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), name))
		if os.WriteFile(p, png, 0o644) == nil {
			b.t.Logf("screenshot of %s: %s", name, p)
		}
	}
}

// screenshot writes the tab's page to docs/screenshots/name.png when
// UPDATE_SCREENSHOTS is set.
func (b *browser) screenshot(tab context.Context, name string) {
	if os.Getenv("UPDATE_SCREENSHOTS") == "" {
		return
	}
	png := value(b, tab, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// checkAccessibility runs axe-core on the tab's page and fails on any
// serious or critical violation.
func (b *browser) checkAccessibility(tab context.Context, page string) {
	b.t.Helper()
	value(b, tab, "load axe-core on "+page, chromedp.Evaluate[*runtime.RemoteObject](axeSource))
	found := value(b, tab, "axe on "+page, chromedp.Evaluate[[]string](`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
			.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => v.impact + " " + v.id + ": " + v.help + " (" + v.nodes.map(n => n.target.join(" ")).join(", ") + ")"))`,
		chromedp.EvalAwaitPromise))
	for _, v := range found {
		b.t.Errorf("accessibility of %s: %s", page, v)
	}
}

// textContains waits until the element's text contains want, through
// navigations (a form's answer reloads the page).
func textContains(sel, want string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent.includes(%q)`, sel, want)
	return waitTrue(js, fmt.Sprintf("%s never showed %q", sel, want))
}

// gone waits until no element matches sel (the page after a form's
// answer no longer has it).
func gone(sel string) chromedp.Action[chromedp.Void] {
	return waitTrue(fmt.Sprintf(`document.querySelector(%q) === null`, sel), sel+" never went away")
}

// fillAndSubmit sets a field and submits its form in one step of the
// page's own script, so that a live update between typing and the click
// cannot swap the form out from under the test.
func fillAndSubmit(sel, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(() => { const f = document.querySelector(%q); if (!f) { return false; } f.value = %q; f.form.requestSubmit(); return true; })()`, sel, value)
	return waitTrue(js, "no "+sel+" to fill in")
}

// waitTrue polls js in the page until it is true, through navigations.
func waitTrue(js, failure string) chromedp.Action[chromedp.Void] {
	check := chromedp.Evaluate[bool](js)
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ok, err := check(ctx, t)
			if err == nil && ok {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s (last error: %v)", failure, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}

// signIn fills in the login form.
func signIn(base, email, password string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
}

// signUp fills in the sign-up form (password browserPassword) and lands
// on the wallet page; it returns the wallet id the page shows.
func (b *browser) signUp(tab context.Context, base, name string) string {
	b.t.Helper()
	email := fmt.Sprintf("%s-%s@example.com", strings.ToLower(name), randHex(4))
	b.run(tab, "sign up "+name,
		chromedp.Navigate(base+"/signup"),
		chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), browserPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#wallet-id")),
	)
	return strings.TrimSpace(value(b, tab, "the wallet id", chromedp.Text(chromedp.CSS("#wallet-id"))))
}

// TestBrowserWallet: two people sign up in their own browsers; the bank
// pays one of them and her open page shows it without a reload; she sends
// money with the form, and his open page shows it arrive; every page
// passes axe-core with no serious violation.
func TestBrowserWallet(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	b := newBrowser(t)
	alice, bob := b.tab("alice"), b.tab("bob")

	b.run(alice, "the sign-up page", chromedp.Navigate(e.BaseURL+"/signup"), chromedp.WaitVisible(chromedp.CSS("#name")))
	b.checkAccessibility(alice, "/signup")
	b.run(alice, "the login page", chromedp.Navigate(e.BaseURL+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")))
	b.checkAccessibility(alice, "/login")

	aliceWallet := b.signUp(alice, e.BaseURL, "Alice")
	bobWallet := b.signUp(bob, e.BaseURL, "Bob")
	if aliceWallet == "" || bobWallet == "" || aliceWallet == bobWallet {
		t.Fatalf("wallet ids on the pages: %q %q", aliceWallet, bobWallet)
	}
	b.run(alice, "a new wallet", textContains("#balance", "0.00"))

	// The bank signs in to its console and pays Alice: her page, left
	// open, shows it.
	bank := b.tab("bank")
	b.run(bank, "the bank signs in",
		signIn(e.BaseURL, bankEmail, bankPassword),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/bank/deposit"]`)),
		chromedp.SendKeys(chromedp.CSS("#wallet_id"), aliceWallet),
		chromedp.SendKeys(chromedp.CSS("#amount"), "100.00"),
		chromedp.SendKeys(chromedp.CSS("#details"), "salary"),
		chromedp.Click(chromedp.CSS(`form[action="/bank/deposit"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#withdrawals")),
	)
	b.run(alice, "the deposit appears live", textContains("#balance", "100.00"), textContains("#operations", "salary"))
	b.checkAccessibility(alice, "/ (the wallet)")
	b.screenshot(alice, "wallet")

	// Alice sends Bob 25.00 with the form; Bob's page shows it arrive.
	b.run(alice, "send money",
		chromedp.SendKeys(chromedp.CSS("#wallet_id"), bobWallet),
		chromedp.SendKeys(chromedp.CSS("#amount"), "25.00"),
		chromedp.SendKeys(chromedp.CSS("#details"), "dinner"),
		chromedp.Click(chromedp.CSS(`form[action="/transfer"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#wallet-id")),
	)
	b.run(bob, "the transfer appears live", textContains("#balance", "25.00"), textContains("#operations", "dinner"))
	b.run(alice, "the sender's balance", textContains("#balance", "75.00"))

	// Bob asks Alice for 5.00; her requests page, open, shows it; she
	// pays; his page shows it paid.
	b.run(alice, "alice's requests", chromedp.Navigate(e.BaseURL+"/requests"), chromedp.WaitVisible(chromedp.CSS("#incoming")))
	b.run(bob, "bob asks",
		chromedp.Navigate(e.BaseURL+"/requests"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/requests"]`)),
		chromedp.SendKeys(chromedp.CSS("#wallet_id"), aliceWallet),
		chromedp.SendKeys(chromedp.CSS("#amount"), "5.00"),
		chromedp.SendKeys(chromedp.CSS("#details"), "lunch"),
		chromedp.Click(chromedp.CSS(`form[action="/requests"] button[type="submit"]`)),
	)
	b.run(bob, "asked", textContains("#outgoing", "lunch"))
	b.run(alice, "the request appears live", textContains("#incoming", "lunch"))
	b.checkAccessibility(alice, "/requests")
	b.run(alice, "alice pays", chromedp.Click(chromedp.CSS(`#incoming form[action$="/approve"] button`)))
	b.run(alice, "paid", textContains("#incoming", "paid"))
	b.run(bob, "bob sees it paid", textContains("#outgoing", "paid"))
	b.screenshot(bob, "requests")
	b.run(alice, "back to the wallet", chromedp.Navigate(e.BaseURL+"/"), textContains("#balance", "70.00"))

	// Alice reserves 10.00 for Bob; his holds page, open, shows it; he
	// captures 4.00 of it and the rest goes back to her.
	b.run(bob, "bob's holds", chromedp.Navigate(e.BaseURL+"/holds"), chromedp.WaitVisible(chromedp.CSS("#holds-for-me")))
	b.run(alice, "alice places a hold",
		chromedp.Navigate(e.BaseURL+"/holds"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/holds"]`)),
		chromedp.SendKeys(chromedp.CSS("#wallet_id"), bobWallet),
		chromedp.SendKeys(chromedp.CSS("#amount"), "10.00"),
		chromedp.SendKeys(chromedp.CSS("#details"), "taxi"),
		chromedp.Click(chromedp.CSS(`form[action="/holds"] button[type="submit"]`)),
	)
	b.run(alice, "placed", textContains("#holds-placed", "active"))
	b.run(bob, "the hold appears live", textContains("#holds-for-me", "taxi"), textContains("#holds-for-me", "active"))
	b.checkAccessibility(bob, "/holds")
	b.run(bob, "bob captures 4.00",
		chromedp.SendKeys(chromedp.CSS(`#holds-for-me input[name="amount"]`), "4.00"),
		chromedp.Click(chromedp.CSS(`#holds-for-me form[action$="/capture"] button`)),
	)
	b.run(bob, "captured", textContains("#holds-for-me", "captured"))
	b.screenshot(bob, "holds")
	b.run(alice, "her holds page shows it captured", textContains("#holds-placed", "captured"))
	b.run(alice, "the rest is hers again", chromedp.Navigate(e.BaseURL+"/"), textContains("#balance", "66.00"))

	// Alice withdraws 30.00 through the bank on her withdrawals page;
	// the bank's console shows it, marks it processing and completes it;
	// her pages show it completed and the money gone.
	b.run(alice, "alice withdraws",
		chromedp.Navigate(e.BaseURL+"/withdrawals"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/withdrawals"]`)),
		chromedp.SendKeys(chromedp.CSS("#amount"), "30.00"),
		chromedp.SendKeys(chromedp.CSS("#details"), "IBAN DE89 3704"),
		chromedp.Click(chromedp.CSS(`form[action="/withdrawals"] button[type="submit"]`)),
	)
	b.run(alice, "pending", textContains("#withdrawals", "pending"))
	b.checkAccessibility(alice, "/withdrawals")
	wID := value(b, alice, "the withdrawal's id", chromedp.Evaluate[string](`document.querySelector('#withdrawals tr[id^="w-"]').id.slice(2)`))
	b.run(bank, "the withdrawal reaches the console", textContains("#withdrawals", "IBAN DE89 3704"))
	b.checkAccessibility(bank, "/ (the bank console)")
	b.run(bank, "mark it processing",
		chromedp.Click(chromedp.CSS(`form[action="/bank/withdrawals/`+wID+`/processing"] button`)),
		gone(`form[action="/bank/withdrawals/`+wID+`/processing"]`),
		fillAndSubmit("#ref-"+wID, "SEPA-77"),
	)
	b.run(bank, "completed", textContains("#w-"+wID, "completed (SEPA-77)"))
	b.screenshot(bank, "bank-console")
	b.run(alice, "her withdrawals page shows it completed", textContains("#w-"+wID, "completed (SEPA-77)"))
	b.screenshot(alice, "withdrawals")
	b.run(alice, "the money is gone", chromedp.Navigate(e.BaseURL+"/"), textContains("#balance", "36.00"),
		textContains("#operations", "withdrawal_complete"))

	// The admin adds a payment system, sees it listed, disables it, and
	// runs the audit: clean.
	admin := b.tab("admin")
	b.run(admin, "the admin signs in",
		signIn(e.BaseURL, adminEmail, adminPassword),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/banks"]`)),
		chromedp.SendKeys(chromedp.CSS("#name"), "Second Bank"),
		chromedp.SendKeys(chromedp.CSS("#email"), "second-"+randHex(4)+"@bank.example"),
		chromedp.SendKeys(chromedp.CSS("#password"), "second bank password"),
		chromedp.Click(chromedp.CSS(`form[action="/admin/banks"] button[type="submit"]`)),
	)
	b.run(admin, "the new bank is listed", textContains("#banks", "Second Bank"))
	b.checkAccessibility(admin, "/ (the admin console)")
	b.screenshot(admin, "admin-console")
	row := value(b, admin, "the new bank's row", chromedp.Evaluate[string](
		`[...document.querySelectorAll("#banks tr")].find(r => r.textContent.includes("Second Bank")).id`))
	b.run(admin, "disable it", chromedp.Click(chromedp.CSS("#"+row+` form[action$="/disable"] button`)))
	b.run(admin, "disabled", textContains("#"+row, "disabled"))
	b.run(admin, "the audit", chromedp.Navigate(e.BaseURL+"/admin/audit"), textContains("#verdict", "Clean"))
	b.checkAccessibility(admin, "/admin/audit")

	b.run(alice, "the API reference", chromedp.Navigate(e.BaseURL+"/docs"), chromedp.WaitVisible(chromedp.CSS("h2")))
	b.checkAccessibility(alice, "/docs")

	// The page's script, and what the server renders without it.
	r := e.Client(nil).Must(t, "GET", "/static/wallet.js", nil, nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("the page's script: %s", r)
	}
	b.run(bob, "bob's wallet", chromedp.Navigate(e.BaseURL+"/"), chromedp.WaitVisible(chromedp.CSS("#balance")))
	bal := value(b, bob, "bob's balance", chromedp.Text(chromedp.CSS("#balance")))
	if !strings.Contains(bal, "34.00") {
		t.Errorf("bob's balance after a reload: %q", bal)
	}

	// Bob's notifications: the badge counts what he has not read; the
	// feed lists his events; marking all read clears the count.
	b.run(bob, "the unread badge", textContains("#badge", "unread"))
	b.run(bob, "bob's notifications",
		chromedp.Navigate(e.BaseURL+"/notifications"),
		textContains("#notes", "hold.captured"),
		textContains("#notes", "payment_request.paid"),
		textContains("#unread", "unread"),
	)
	b.checkAccessibility(bob, "/notifications")
	b.screenshot(bob, "notifications")
	b.run(bob, "mark all read", chromedp.Click(chromedp.CSS(`form[action="/notifications/read"] button`)),
		textContains("#unread", "All read"))
}
