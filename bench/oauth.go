package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// With -auth jwt every user (and the bank) calls with an OAuth access
// token, a JWT, instead of an opaque token: the users through the
// authorization code grant with PKCE (the consent form posted as a
// browser would), the bank through client credentials.

const benchRedirect = "http://127.0.0.1/bench-callback"

// registerOAuthClient registers the run's public client as the admin.
func registerOAuthClient(ctx context.Context, c *client, admin credentials) (string, error) {
	body, _ := json.Marshal(map[string]any{"name": "bench", "redirect_uris": []string{benchRedirect}, "type": "public"})
	var out struct {
		ClientID string `json:"client_id"`
	}
	err := withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodPost, Path: "/api/admin/oauth/clients", Auth: basicAuth(admin), Body: body}, &out)
		return err
	})
	return out.ClientID, err
}

// postForm posts a form without following a redirect and returns the
// answer's status, Location and body.
func (c *client) postForm(ctx context.Context, path string, v url.Values, basic string) (int, string, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.Header.Set("Authorization", basic)
	}
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 500 {
		err = errors.Join(err, &apiError{Status: resp.StatusCode, Code: fmt.Sprintf("http_%d", resp.StatusCode), Message: string(truncate(data, 200))})
	}
	return resp.StatusCode, resp.Header.Get("Location"), data, err
}

// accessToken decodes a token answer into an Authorization header.
func accessToken(status int, data []byte) (string, error) {
	var t struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(data, &t); err != nil || status != http.StatusOK || t.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: %d %s", status, truncate(data, 200))
	}
	return "Bearer " + t.AccessToken, nil
}

// jwtFor signs the user in through /oauth/authorize and redeems the code.
func jwtFor(ctx context.Context, c *client, clientID string, cred credentials) (string, error) {
	var auth string
	err := withRetry(ctx, func() error {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		verifier := base64.RawURLEncoding.EncodeToString(b)
		sum := sha256.Sum256([]byte(verifier))
		status, loc, data, err := c.postForm(ctx, "/oauth/authorize", url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {benchRedirect}, "state": {"bench"},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
			"email": {cred.Email}, "password": {cred.Password}, "action": {"allow"},
		}, "")
		if err != nil {
			return err
		}
		u, perr := url.Parse(loc)
		if status != http.StatusSeeOther || perr != nil || u.Query().Get("code") == "" {
			return fmt.Errorf("authorize: %d %s %s", status, loc, truncate(data, 200))
		}
		status, _, data, err = c.postForm(ctx, "/oauth/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "client_id": {clientID},
			"redirect_uri": {benchRedirect}, "code_verifier": {verifier},
		}, "")
		if err != nil {
			return err
		}
		auth, err = accessToken(status, data)
		return err
	})
	return auth, err
}

// bankJWT is the payment system's client-credentials token: its client
// id is its bank id, its secret its password.
func bankJWT(ctx context.Context, c *client, bank credentials) (string, error) {
	var me struct {
		UserID string `json:"user_id"`
	}
	if err := withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodGet, Path: "/api/wallet", Auth: basicAuth(bank)}, &me)
		return err
	}); err != nil {
		return "", err
	}
	var auth string
	err := withRetry(ctx, func() error {
		status, _, data, err := c.postForm(ctx, "/oauth/token", url.Values{"grant_type": {"client_credentials"}},
			basicAuth(credentials{url.QueryEscape(me.UserID), url.QueryEscape(bank.Password)}))
		if err != nil {
			return err
		}
		auth, err = accessToken(status, data)
		return err
	})
	return auth, err
}
