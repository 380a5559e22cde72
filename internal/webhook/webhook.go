// Package webhook signs and sends webhook deliveries: Standard Webhooks
// v1 signatures (HMAC-SHA256 over "{id}.{timestamp}.{body}" with the
// secret's key), and an HTTP client that refuses to reach the service's
// own network: https only, the address checked when the connection is
// made (so a name that resolves to a private address, or a DNS answer
// that changes after a check, is refused), no redirects followed, a 10 s
// limit, and a cap on what is read back.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SecretPrefix starts every secret (Standard Webhooks' "whsec_").
const SecretPrefix = "whsec_"

// NewSecret returns a new secret: the prefix and the base64 of 32 random
// bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// key is a secret's HMAC key: its base64 part, decoded.
func key(secret string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(k) == 0 {
		return nil, errors.New("webhook: a secret is whsec_ and base64")
	}
	return k, nil
}

// Sign is the webhook-signature header's value for one delivery.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	k, err := key(secret)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	fmt.Fprintf(m, "%s.%d.", id, timestamp)
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

// Verify checks a delivery's signature header (which may list several,
// space-separated) and that its timestamp is within tolerance of now, as
// a receiver does.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	t, err := strconv.ParseInt(ts, 10, 64)
	if id == "" || err != nil {
		return errors.New("webhook: missing webhook-id or webhook-timestamp")
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp outside the tolerance")
	}
	want, err := Sign(secret, id, t, body)
	if err != nil {
		return err
	}
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: no signature matches")
}

// ErrForbiddenAddress is a destination the guard refuses.
var ErrForbiddenAddress = errors.New("webhook: destination address not allowed")

// Forbidden reports whether ip is one a webhook must not reach: loopback,
// private, link-local (cloud metadata included), multicast, unspecified,
// or otherwise not globally routable.
func Forbidden(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsGlobalUnicast() ||
		cgnat.Contains(ip) || benchmarking.Contains(ip)
}

var (
	cgnat        = netip.MustParsePrefix("100.64.0.0/10")
	benchmarking = netip.MustParsePrefix("198.18.0.0/15")
)

// CheckURL is the registration check of a webhook URL: absolute, https
// (http too when allowPrivate), a host, no user info, and no address
// literal the guard would refuse. Names are checked at each connection.
func CheckURL(raw string, allowPrivate bool) error {
	if len(raw) > 2000 {
		return errors.New("the URL is longer than 2000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("the URL must be absolute, with a host, without user info or a fragment")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return errors.New("the URL must be https")
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil && Forbidden(ip) {
		return errors.New("the URL's address is loopback, private, link-local or multicast")
	}
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return errors.New("the URL's host is local")
	}
	return nil
}

// Client is the guarded HTTP client of deliveries.
type Client struct {
	hc *http.Client
	// MaxBody is how much of an answer is read (the rest is discarded
	// with the connection).
	MaxBody int64
}

// Timeout bounds a delivery, from dialling to the end of the answer.
const Timeout = 10 * time.Second

// NewClient returns a Client; allowPrivate (development and tests only)
// lets it reach private and loopback addresses.
func NewClient(allowPrivate bool) *Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || Forbidden(ap.Addr()) {
				return ErrForbiddenAddress
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		Proxy:                 nil, // never through an environment proxy: the guard checks the real peer
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: Timeout,
		// Many endpoints often share one receiving host (a platform's
		// accounts): keep enough of its connections open to reuse them
		// instead of dialing (and shaking hands) per delivery. An idle
		// connection was checked when it was dialed; a new dial is checked
		// again.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     60 * time.Second,
	}
	return &Client{MaxBody: 64 << 10, hc: &http.Client{
		Transport: tr, Timeout: Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Result is one delivery attempt's outcome.
type Result struct {
	Status int // 0: no answer
	// RetryAfter is the answer's Retry-After, if any.
	RetryAfter time.Duration
	Err        error
}

// OK reports whether the endpoint accepted the delivery (any 2xx).
func (r Result) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Send posts one delivery, signed, and reads at most MaxBody of the answer.
func (c *Client) Send(ctx context.Context, endpoint, secret, id string, now time.Time, body []byte) Result {
	sig, err := Sign(secret, id, now.Unix(), body)
	if err != nil {
		return Result{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wallet-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := c.hc.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, c.MaxBody))
	r := Result{Status: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		r.RetryAfter = time.Duration(min(s, 86400)) * time.Second
	} else if t, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil && t.After(now) {
		r.RetryAfter = min(t.Sub(now), 24*time.Hour)
	}
	return r
}
