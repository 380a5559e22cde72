package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// client talks to the service's JSON API the way a program would: a pool
// of keep-alive connections, one token per user, JSON in and out.
type client struct {
	base string
	hc   *http.Client
}

// newClient sizes the connection pool for conns requests at once, so that
// no request waits for a connection and none is opened per request: the
// generator shares the machine with the service and must stay cheap.
func newClient(base string, conns int) *client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		ExpectContinueTimeout: 0,
	}
	// Long enough for Prefer: wait=30 and ?wait=30.
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// apiError is an answer other than 2xx: its status and the body's code.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Error codes the generator gives failures that are not the API's.
const (
	codeTransport = "transport_error" // no answer: connection refused or reset, timeout
)

// errorCode is the code to count a failed request under.
func errorCode(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return codeTransport
}

// retryable says whether the same request may succeed if sent again: the
// wallet was busy, the same key is being accepted right now, the server
// failed, or no answer came (the Idempotency-Key makes resending safe).
func retryable(err error) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return !errors.Is(err, context.Canceled)
	}
	return ae.Code == "wallet_busy" || ae.Code == "request_in_progress" || ae.Status >= 500
}

// A session cookie as a request's Auth, and the cookie's name (the
// service's).
const (
	cookiePrefix      = "Cookie "
	sessionCookieName = "wallet_session"
)

// request is one API call.
type request struct {
	Method string
	Path   string
	// Auth is the whole Authorization header ("Bearer ...", "Basic "), or
	// "Cookie " and a session cookie: then the request carries the cookie
	// and the Origin a browser on the service's pages would send.
	Auth    string
	IdemKey string
	Prefer  string
	Body    []byte
}

// do sends r and decodes a 2xx answer's JSON into out (when not nil). It
// returns the status; a non-2xx answer is an *apiError.
func (c *client) do(ctx context.Context, r request, out any) (int, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.base+r.Path, body)
	if err != nil {
		return 0, err
	}
	if r.Body != nil {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	if cookie, ok := strings.CutPrefix(r.Auth, cookiePrefix); ok {
		req.Header["Cookie"] = []string{cookie}
		req.Header["Origin"] = []string{c.base}
	} else if r.Auth != "" {
		req.Header["Authorization"] = []string{r.Auth}
	}
	if r.IdemKey != "" {
		req.Header["Idempotency-Key"] = []string{r.IdemKey}
	}
	if r.Prefer != "" {
		req.Header["Prefer"] = []string{r.Prefer}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	// Read it all, so that the connection goes back to the pool.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, decodeAPIError(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", r.Method, r.Path, err)
		}
	}
	return resp.StatusCode, nil
}

// decodeAPIError reads the contract's {"error": {"code", "message"}}; a
// body that is not one is counted under "http_<status>".
func decodeAPIError(status int, data []byte) error {
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &b) != nil || b.Error.Code == "" {
		return &apiError{Status: status, Code: fmt.Sprintf("http_%d", status), Message: string(truncate(data, 200))}
	}
	return &apiError{Status: status, Code: b.Error.Code, Message: b.Error.Message}
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// operation is the part of an operation the generator reads.
type operation struct {
	ID           string     `json:"operation_id"`
	Type         string     `json:"type"`
	Status       string     `json:"status"`
	FailureCode  string     `json:"failure_code"`
	ToWalletID   string     `json:"to_wallet_id"`
	HoldID       string     `json:"hold_id"`
	WithdrawalID string     `json:"withdrawal_id"`
	CreatedAt    time.Time  `json:"created_at"`
	CompletedAt  *time.Time `json:"completed_at"`
}

// final reports whether the operation has its outcome.
func (o *operation) final() bool { return o.Status == "completed" || o.Status == "failed" }
