package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

// Money the setup deposits, in a currency with two minor digits (the
// service's default, RUB). Transfers move 0.01 to 1.00, so an ordinary
// wallet can send a thousand of them and the hot wallet ten million.
const (
	fundAmount     = "1000.00"
	hotFundAmount  = "1000000.00"
	hotFundDeposit = 10
)

// user is one signed-up wallet owner.
type user struct {
	WalletID string
	// Auth is how the user calls (see request.Auth): a Bearer token or a
	// session cookie, so that no request under load pays for a password
	// hash.
	Auth string
}

// population is everyone the load acts as. Users[0] is the hot wallet.
type population struct {
	Users []user
	Bank  string // the payment system's Authorization header
	// BankID is the payment system withdrawals go through (mixed): the
	// first active one.
	BankID string
	// Sink receives the users' webhook deliveries (-webhooks).
	Sink *sink
}

func basicAuth(c credentials) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Email+":"+c.Password))
}

// setup signs up n users, gets each a token and funds every wallet with a
// bank deposit, concurrently; the hot wallet gets much more when asked.
func setup(ctx context.Context, c *client, cfg Config, spec runSpec, runID string, u *ui) (*population, error) {
	start := time.Now()
	issue := func(ctx context.Context, cred credentials) (string, error) { return token(ctx, c, basicAuth(cred)) }
	var bank string
	var err error
	if cfg.Auth == "cookie" {
		// Users sign in as a browser would; the bank, not a browser, keeps
		// its token.
		issue = func(ctx context.Context, cred credentials) (string, error) { return sessionCookie(ctx, c, cred) }
	}
	if cfg.Auth == "jwt" {
		clientID, rerr := registerOAuthClient(ctx, c, cfg.Admin)
		if rerr != nil {
			return nil, fmt.Errorf("register the OAuth client (-admin %s): %w", cfg.Admin.Email, rerr)
		}
		issue = func(ctx context.Context, cred credentials) (string, error) { return jwtFor(ctx, c, clientID, cred) }
		bank, err = bankJWT(ctx, c, cfg.Bank)
	} else {
		bank, err = token(ctx, c, basicAuth(cfg.Bank))
	}
	if err != nil {
		return nil, fmt.Errorf("bank token (-bank %s): %w", cfg.Bank.Email, err)
	}
	p := &population{Users: make([]user, spec.Wallets), Bank: bank}
	var hooks *sink
	if cfg.Webhooks {
		if hooks, err = startSink(); err != nil {
			return nil, err
		}
		p.Sink = hooks
	}

	b := u.bar(int64(spec.Wallets), "signing up")
	err = forEach(ctx, spec.Wallets, cfg.SetupConcurrency, func(ctx context.Context, i int) error {
		usr, err := signUp(ctx, c, runID, i, issue)
		p.Users[i] = usr
		if err == nil && hooks != nil {
			err = registerWebhook(ctx, c, usr.Auth, hooks.URL)
		}
		b.add(1)
		return err
	})
	b.finish()
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	u.logf("signed up %d users with tokens in %.1fs", spec.Wallets, time.Since(start).Seconds())

	start = time.Now()
	b = u.bar(int64(spec.Wallets), "funding")
	err = forEach(ctx, spec.Wallets, cfg.SetupConcurrency, func(ctx context.Context, i int) error {
		defer b.add(1)
		return fund(ctx, c, bank, p.Users[i].WalletID, fundAmount, fmt.Sprintf("fund-%s-%d", runID, i))
	})
	b.finish()
	if err != nil {
		return nil, fmt.Errorf("fund wallets: %w", err)
	}
	if spec.HotFunding {
		// One after the other: they all lock the same wallet.
		for k := range hotFundDeposit {
			key := fmt.Sprintf("fund-%s-hot-%d", runID, k)
			if err := fund(ctx, c, bank, p.Users[0].WalletID, hotFundAmount, key); err != nil {
				return nil, fmt.Errorf("fund the hot wallet: %w", err)
			}
		}
	}
	u.logf("funded %d wallets in %.1fs", spec.Wallets, time.Since(start).Seconds())
	for _, ph := range spec.Phases {
		if ph.Mixed && p.BankID == "" {
			if p.BankID, err = firstBank(ctx, c, p.Users[0].Auth); err != nil {
				return nil, fmt.Errorf("the bank to withdraw through: %w", err)
			}
		}
	}
	return p, nil
}

// firstBank is the first active payment system, as a user lists them.
func firstBank(ctx context.Context, c *client, auth string) (string, error) {
	var out struct {
		Banks []struct {
			ID string `json:"bank_id"`
		} `json:"banks"`
	}
	err := withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodGet, Path: "/api/banks", Auth: auth}, &out)
		return err
	})
	if err == nil && len(out.Banks) == 0 {
		err = errors.New("no active payment system")
	}
	if err != nil {
		return "", err
	}
	return out.Banks[0].ID, nil
}

// forEach calls fn for 0..n-1 with at most limit calls at once, and stops
// at the first error.
func forEach(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// withRetry calls fn until it succeeds, fails for good, or has failed
// transiently eight times: setup must not die of one busy moment.
func withRetry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 8 {
		if err = fn(); err == nil || !retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(50*time.Millisecond<<attempt, 2*time.Second)):
		}
	}
	return err
}

// token gets a Bearer access token with the given credentials.
func token(ctx context.Context, c *client, auth string) (string, error) {
	var t struct {
		AccessToken string `json:"access_token"`
	}
	err := withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodPost, Path: "/api/tokens", Auth: auth}, &t)
		return err
	})
	if err != nil {
		return "", err
	}
	return "Bearer " + t.AccessToken, nil
}

// sessionCookie signs in with POST /api/login and returns the session
// cookie as a request's Auth.
func sessionCookie(ctx context.Context, c *client, cred credentials) (string, error) {
	body, _ := json.Marshal(map[string]string{"email": cred.Email, "password": cred.Password})
	var cookie string
	err := withRetry(ctx, func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/login", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return decodeAPIError(resp.StatusCode, data)
		}
		for _, ck := range resp.Cookies() {
			if ck.Name == sessionCookieName && ck.Value != "" {
				cookie = ck.Name + "=" + ck.Value
			}
		}
		if cookie == "" {
			return errors.New("POST /api/login set no session cookie")
		}
		return nil
	})
	return cookiePrefix + cookie, err
}

// signUp creates user i of the run and gets its token. A sign-up whose
// answer was lost is found again by its email.
func signUp(ctx context.Context, c *client, runID string, i int, issue func(context.Context, credentials) (string, error)) (user, error) {
	email := fmt.Sprintf("bench-%s-%d@example.org", runID, i)
	password := "bench-" + runID
	body, _ := json.Marshal(map[string]string{"name": "Bench user " + strconv.Itoa(i), "email": email, "password": password})
	var out struct {
		WalletID string `json:"wallet_id"`
	}
	err := withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodPost, Path: "/api/signup", Body: body}, &out)
		return err
	})
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Code == "email_taken") {
		return user{}, err
	}
	auth, err := issue(ctx, credentials{email, password})
	if err != nil {
		return user{}, err
	}
	if out.WalletID == "" {
		err = withRetry(ctx, func() error {
			_, err := c.do(ctx, request{Method: http.MethodGet, Path: "/api/wallet", Auth: auth}, &out)
			return err
		})
	}
	return user{WalletID: out.WalletID, Auth: auth}, err
}

// fund deposits amount into a wallet as the bank and waits until the
// deposit has completed.
func fund(ctx context.Context, c *client, bank, walletID, amount, key string) error {
	body, _ := json.Marshal(map[string]string{"wallet_id": walletID, "amount": amount, "details": "bench funding"})
	var op operation
	err := withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodPost, Path: "/api/external_to_wallet", Auth: bank,
			IdemKey: key, Prefer: "wait=30", Body: body}, &op)
		return err
	})
	if err != nil {
		return err
	}
	if err := waitFinal(ctx, c, bank, &op, 5*time.Minute); err != nil {
		return err
	}
	if op.Status != "completed" {
		return fmt.Errorf("deposit %s ended %s (%s)", op.ID, op.Status, op.FailureCode)
	}
	return nil
}

// waitFinal long-polls an operation until it is final or limit passes.
func waitFinal(ctx context.Context, c *client, auth string, op *operation, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !op.final() {
		if time.Now().After(deadline) {
			return fmt.Errorf("operation %s still %s after %s", op.ID, op.Status, limit)
		}
		err := withRetry(ctx, func() error {
			_, err := c.do(ctx, request{Method: http.MethodGet, Path: "/api/operations/" + op.ID + "?wait=30", Auth: auth}, op)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
