package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/oauthjwt"
	"github.com/walletd/wallet/internal/pgtest"
	"github.com/walletd/wallet/internal/postgres"
	"github.com/walletd/wallet/internal/redisstore"
	"github.com/walletd/wallet/internal/wallet"
)

// oauthEnv is the authorization server's use cases on a fresh database
// and Redis, with a clock the test moves (no sleeping).
type oauthEnv struct {
	a      *ledger.Authorizer
	store  *postgres.Store
	cache  *redisstore.Store
	clock  *testClock
	user   wallet.User
	client wallet.OAuthClient
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const testRedirect = "http://127.0.0.1/callback"

func newOAuthEnv(t *testing.T) *oauthEnv {
	t.Helper()
	pool := pgtest.NewDB(t)
	store := postgres.NewStore(pool)
	rdb, prefix := pgtest.NewRedis(t)
	clock := &testClock{now: time.Now().Truncate(time.Second)}
	svc := &ledger.Service{Store: store, Accounts: store, Log: slog.New(slog.DiscardHandler), Currency: rub, BcryptCost: 4, Now: clock.Now}
	k, err := oauthjwt.KeyFromSeed("test", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := oauthjwt.New([]oauthjwt.Key{k}, "http://issuer.test", "http://issuer.test")
	if err != nil {
		t.Fatal(err)
	}
	e := &oauthEnv{store: store, cache: redisstore.New(rdb, prefix), clock: clock}
	e.a = &ledger.Authorizer{Svc: svc, Store: store, Tokens: tokens, Revocations: e.cache, AccessTTL: 15 * time.Minute, RefreshTTL: 720 * time.Hour}
	e.user, _ = pgtest.CreateUser(t, store, wallet.RoleUser)
	e.client, _, err = e.a.RegisterClient(context.Background(), "Test app", wallet.ClientPublic, []string{testRedirect})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func pkce(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

const verifier = "a-verifier-of-at-least-forty-three-characters-0123456789"

// login runs the authorization code grant and returns its tokens.
func (e *oauthEnv) login(t *testing.T) ledger.TokenResponse {
	t.Helper()
	ctx := context.Background()
	code, err := e.a.IssueCode(ctx, e.client, e.user, testRedirect, wallet.RoleScopes(wallet.RoleUser), pkce(verifier))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.a.ExchangeCode(ctx, e.client, code, testRedirect, verifier)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	return res
}

func oauthCode(err error) string {
	if oe, ok := ledger.IsOAuthError(err); ok {
		return oe.Code
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

func TestCodeLivesSixtySecondsAndWorksOnce(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()
	issue := func() string {
		code, err := e.a.IssueCode(ctx, e.client, e.user, testRedirect, wallet.Scopes(wallet.ScopeWalletRead), pkce(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return code
	}

	code := issue()
	e.clock.Add(ledger.CodeTTL)
	if _, err := e.a.ExchangeCode(ctx, e.client, code, testRedirect, verifier); oauthCode(err) != ledger.OAuthInvalidGrant {
		t.Errorf("a code at 60 s: %v, want invalid_grant", err)
	}
	code = issue()
	e.clock.Add(ledger.CodeTTL - time.Second)
	res, err := e.a.ExchangeCode(ctx, e.client, code, testRedirect, verifier)
	if err != nil {
		t.Fatalf("a code at 59 s: %v", err)
	}
	if res.Scope != "wallet:read" || res.RefreshToken == "" || res.ExpiresIn != 900 {
		t.Errorf("token response %+v", res)
	}
	if _, err := e.a.VerifyAccess(ctx, res.AccessToken); err != nil {
		t.Fatalf("the new access token: %v", err)
	}
	// The second use fails and revokes what the first issued.
	if _, err := e.a.ExchangeCode(ctx, e.client, code, testRedirect, verifier); oauthCode(err) != ledger.OAuthInvalidGrant {
		t.Errorf("a code used twice: %v, want invalid_grant", err)
	}
	if _, err := e.a.VerifyAccess(ctx, res.AccessToken); wallet.ErrorCode(err) != wallet.EUnauthorized {
		t.Errorf("the first use's access token after the code's reuse: %v, want unauthorized", err)
	}
	if _, err := e.a.Refresh(ctx, e.client, res.RefreshToken, ""); oauthCode(err) != ledger.OAuthInvalidGrant {
		t.Errorf("the first use's refresh token after the code's reuse: %v, want invalid_grant", err)
	}
}

func TestCodeChecks(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()
	other, _, err := e.a.RegisterClient(ctx, "Other", wallet.ClientPublic, []string{"https://other.example/cb"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name             string
		client           wallet.OAuthClient
		redirect, verify string
		want             string
	}{
		{"another client", other, testRedirect, verifier, ledger.OAuthInvalidGrant},
		{"another redirect URI", e.client, "http://127.0.0.1/other", verifier, ledger.OAuthInvalidGrant},
		{"wrong verifier", e.client, testRedirect, verifier + "x", ledger.OAuthInvalidGrant},
		{"no verifier", e.client, testRedirect, "", ledger.OAuthInvalidRequest},
		{"short verifier", e.client, testRedirect, "abc", ledger.OAuthInvalidRequest},
	} {
		code, err := e.a.IssueCode(ctx, e.client, e.user, testRedirect, 0, pkce(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.ExchangeCode(ctx, c.client, code, c.redirect, c.verify); oauthCode(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if _, err := e.a.ExchangeCode(ctx, e.client, "no-such-code", testRedirect, verifier); oauthCode(err) != ledger.OAuthInvalidGrant {
		t.Errorf("unknown code: %v", err)
	}
}

func TestAccessTokenExpires(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()
	res := e.login(t)
	e.clock.Add(15*time.Minute - time.Minute)
	if _, err := e.a.VerifyAccess(ctx, res.AccessToken); err != nil {
		t.Errorf("at 14 min: %v", err)
	}
	e.clock.Add(2 * time.Minute) // past exp and the 30 s leeway
	if _, err := e.a.VerifyAccess(ctx, res.AccessToken); wallet.ErrorCode(err) != wallet.EUnauthorized {
		t.Errorf("at 16 min: %v, want unauthorized", err)
	}
}

func TestRefreshRotatesAndFamilyExpires(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()
	res := e.login(t)
	// Rotation all along the family's life: each token once.
	for i := 0; i < 5; i++ {
		e.clock.Add(100 * time.Hour)
		next, err := e.a.Refresh(ctx, e.client, res.RefreshToken, "")
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if next.RefreshToken == res.RefreshToken || next.RefreshToken == "" {
			t.Fatalf("refresh %d did not rotate", i)
		}
		res = next
	}
	// Narrowing is allowed, widening is not.
	e.clock.Add(time.Hour)
	narrow, err := e.a.Refresh(ctx, e.client, res.RefreshToken, "wallet:read")
	if err != nil || narrow.Scope != "wallet:read" {
		t.Fatalf("narrowing refresh: %+v %v", narrow, err)
	}
	if _, err := e.a.Refresh(ctx, e.client, narrow.RefreshToken, "admin"); oauthCode(err) != ledger.OAuthInvalidScope {
		t.Errorf("widening refresh: %v, want invalid_scope", err)
	}
	// 720 h from the sign-in, whatever the rotations.
	fresh := e.login(t)
	e.clock.Add(720*time.Hour - time.Second)
	mid, err := e.a.Refresh(ctx, e.client, fresh.RefreshToken, "")
	if err != nil {
		t.Fatalf("refresh 1 s before the family ends: %v", err)
	}
	e.clock.Add(time.Second)
	if _, err := e.a.Refresh(ctx, e.client, mid.RefreshToken, ""); oauthCode(err) != ledger.OAuthInvalidGrant {
		t.Errorf("refresh at the family's end: %v, want invalid_grant", err)
	}
}

func TestRefreshReuseRevokesTheFamily(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()
	first := e.login(t)
	second, err := e.a.Refresh(ctx, e.client, first.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	other := e.login(t) // another sign-in of the same user is untouched
	if _, err := e.a.Refresh(ctx, e.client, first.RefreshToken, ""); oauthCode(err) != ledger.OAuthInvalidGrant {
		t.Fatalf("reuse: %v, want invalid_grant", err)
	}
	for name, tok := range map[string]string{"first": first.AccessToken, "second": second.AccessToken} {
		if _, err := e.a.VerifyAccess(ctx, tok); wallet.ErrorCode(err) != wallet.EUnauthorized {
			t.Errorf("%s access token after reuse: %v, want unauthorized", name, err)
		}
	}
	if _, err := e.a.Refresh(ctx, e.client, second.RefreshToken, ""); oauthCode(err) != ledger.OAuthInvalidGrant {
		t.Errorf("the rotated token after reuse: %v, want invalid_grant", err)
	}
	if _, err := e.a.VerifyAccess(ctx, other.AccessToken); err != nil {
		t.Errorf("another family's access token: %v", err)
	}
	// A flushed Redis forgets the revocation until the sync restores it.
	if err := e.cache.Client().FlushDB(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.a.SyncRevocations(ctx); err != nil || n == 0 {
		t.Fatalf("sync: %d %v", n, err)
	}
	if _, err := e.a.VerifyAccess(ctx, second.AccessToken); wallet.ErrorCode(err) != wallet.EUnauthorized {
		t.Errorf("revoked token after a flush and a sync: %v, want unauthorized", err)
	}
}

// TestConcurrentRefresh: of many concurrent uses of one refresh token,
// at most one gets tokens, run many times.
func TestConcurrentRefresh(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()
	for round := 0; round < 30; round++ {
		res := e.login(t)
		var ok atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 6 {
			wg.Go(func() {
				<-start
				_, err := e.a.Refresh(ctx, e.client, res.RefreshToken, "")
				switch oauthCode(err) {
				case "":
					ok.Add(1)
				case ledger.OAuthInvalidGrant:
				default:
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := ok.Load(); n > 1 {
			t.Fatalf("round %d: %d concurrent refreshes with one token succeeded", round, n)
		}
	}
}

func TestClientAuthentication(t *testing.T) {
	e := newOAuthEnv(t)
	ctx := context.Background()
	conf, secret, err := e.a.RegisterClient(ctx, "Server app", wallet.ClientConfidential, []string{"https://app.example/cb"})
	if err != nil || secret == "" {
		t.Fatalf("register: %v %q", err, secret)
	}
	bank, err := e.a.Svc.CreateBank(ctx, "Test bank", "oauth-bank@example.com", "bank-password-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, id, secret string
		has              bool
		want             string
	}{
		{"public, no secret", e.client.ID, "", false, ""},
		{"public with a secret", e.client.ID, "x", true, ledger.OAuthInvalidClient},
		{"confidential", conf.ID, secret, true, ""},
		{"confidential, wrong secret", conf.ID, secret + "x", true, ledger.OAuthInvalidClient},
		{"confidential, no secret", conf.ID, "", false, ledger.OAuthInvalidClient},
		{"unknown", "client_nope", "", false, ledger.OAuthInvalidClient},
		{"bank, no secret", bank.ID, "", false, ledger.OAuthInvalidClient},
		{"bank, wrong password", bank.ID, "wrong", true, ledger.OAuthInvalidClient},
		{"bank", bank.ID, "bank-password-1", true, ""},
	} {
		if _, err := e.a.AuthenticateClient(ctx, c.id, c.secret, c.has); oauthCode(err) != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	bc, err := e.a.AuthenticateClient(ctx, bank.ID, "bank-password-1", true)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.a.ClientCredentials(ctx, bc, "")
	if err != nil || res.Scope != "wallet:read bank:deposit" || res.RefreshToken != "" {
		t.Errorf("client_credentials: %+v %v", res, err)
	}
	if _, err := e.a.ClientCredentials(ctx, bc, "wallet:transfer"); oauthCode(err) != ledger.OAuthInvalidScope {
		t.Errorf("client_credentials beyond a bank's role: %v, want invalid_scope", err)
	}
	if _, err := e.store.DisableBank(ctx, bank.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.a.AuthenticateClient(ctx, bank.ID, "bank-password-1", true); oauthCode(err) != ledger.OAuthInvalidClient {
		t.Errorf("a disabled bank: %v, want invalid_client", err)
	}
	if _, err := e.a.ClientCredentials(ctx, conf, ""); oauthCode(err) != ledger.OAuthUnauthorizedClient {
		t.Errorf("client_credentials for a registered client: %v, want unauthorized_client", err)
	}
	if ledger.MatchRedirect(e.client, "http://127.0.0.1:4567/callback") != true ||
		ledger.MatchRedirect(e.client, "http://127.0.0.1:4567/callback/x") ||
		ledger.MatchRedirect(e.client, "http://localhost:4567/callback") ||
		ledger.MatchRedirect(e.client, "https://127.0.0.1/callback") {
		t.Error("loopback redirect matching: any port, nothing else")
	}
	if ledger.MatchRedirect(conf, "https://app.example:444/cb") || ledger.MatchRedirect(conf, "https://app.example/cb?x=1") {
		t.Error("a non-loopback redirect URI must match exactly")
	}
}
