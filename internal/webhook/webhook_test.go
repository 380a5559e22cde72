package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSignatureVector is the Standard Webhooks specification's own test
// vector: a receiver's library must accept what we send.
func TestSignatureVector(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil || got != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=" {
		t.Fatalf("Sign = %q, %v", got, err)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,bm9wZQ== "+got)
	now := time.Unix(1614265330, 0)
	if err := Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{"test": 2432232314}`), now, 5*time.Minute); err != nil {
		t.Errorf("Verify: %v", err)
	}
	for name, check := range map[string]func() error{
		"another body": func() error {
			return Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{"test": 1}`), now, 5*time.Minute)
		},
		"too old": func() error {
			return Verify("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, []byte(`{"test": 2432232314}`), now.Add(6*time.Minute), 5*time.Minute)
		},
		"another secret": func() error { return Verify(NewSecret(), h, []byte(`{"test": 2432232314}`), now, 5*time.Minute) },
	} {
		if check() == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if s := NewSecret(); !strings.HasPrefix(s, "whsec_") || len(s) != len("whsec_")+44 {
		t.Errorf("NewSecret = %q", s)
	}
}

func TestForbiddenAndCheckURL(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "fe80::1",
		"fc00::1", "224.0.0.1", "0.0.0.0", "::", "100.64.0.1", "::ffff:127.0.0.1", "255.255.255.255"} {
		if !Forbidden(netip.MustParseAddr(a)) {
			t.Errorf("%s is allowed", a)
		}
	}
	for _, a := range []string{"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "8.8.8.8"} {
		if Forbidden(netip.MustParseAddr(a)) {
			t.Errorf("%s is refused", a)
		}
	}
	for raw, ok := range map[string]bool{
		"https://hooks.example.com/wallet":              true,
		"https://93.184.215.14/x":                       true,
		"http://hooks.example.com/wallet":               false,
		"https://127.0.0.1/x":                           false,
		"https://[::1]/x":                               false,
		"https://169.254.169.254/latest":                false,
		"https://localhost/x":                           false,
		"https://api.localhost/x":                       false,
		"https://user:pw@hooks.example.com":             false,
		"https://hooks.example.com/#frag":               false,
		"/relative":                                     false,
		"ftp://hooks.example.com/":                      false,
		"https://" + strings.Repeat("a", 2000) + ".com": false,
	} {
		if err := CheckURL(raw, false); (err == nil) != ok {
			t.Errorf("CheckURL(%.60q) = %v, want ok=%v", raw, err, ok)
		}
	}
	if err := CheckURL("http://127.0.0.1:9999/hook", true); err != nil {
		t.Errorf("WEBHOOK_ALLOW_PRIVATE refuses a local URL: %v", err)
	}
}

// TestClientGuard: without allowPrivate, nothing on this machine is
// reached, whether named by address or by a name that resolves to it.
func TestClientGuard(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := NewClient(false)
	for _, u := range []string{srv.URL, "http://localhost:" + port, "http://[::1]:" + port, "http://169.254.169.254/latest/meta-data"} {
		r := c.Send(context.Background(), u, NewSecret(), "evt_1", time.Now(), []byte(`{}`))
		if r.OK() || !errors.Is(r.Err, ErrForbiddenAddress) {
			t.Errorf("%s: %+v, want the guard's refusal", u, r)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the guarded client reached a local server %d times", hits.Load())
	}
}

// TestClientAnswers: signatures a receiver verifies, no redirect
// followed, Retry-After read, a slow endpoint cut off.
func TestClientAnswers(t *testing.T) {
	secret := NewSecret()
	var redirected atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { redirected.Add(1) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		switch r.URL.Path {
		case "/ok":
			if err := Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			w.WriteHeader(204)
		case "/redirect":
			http.Redirect(w, r, target.URL, http.StatusFound)
		case "/busy":
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(503)
		case "/slow":
			time.Sleep(2 * time.Second)
		case "/big":
			w.WriteHeader(200)
			chunk := []byte(strings.Repeat("x", 1<<16))
			for i := 0; i < 160; i++ { // 10 MiB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}
	}))
	defer srv.Close()
	c := NewClient(true)
	send := func(path string) Result {
		return c.Send(context.Background(), srv.URL+path, secret, "evt_"+path, time.Now(), []byte(`{"event_id":"x"}`))
	}
	if r := send("/ok"); r.Status != 204 || !r.OK() {
		t.Errorf("signed delivery: %+v", r)
	}
	if r := send("/redirect"); r.Status != 302 || r.OK() || redirected.Load() != 0 {
		t.Errorf("redirect: %+v (target reached %d times)", r, redirected.Load())
	}
	if r := send("/busy"); r.Status != 503 || r.RetryAfter != 120*time.Second {
		t.Errorf("Retry-After: %+v", r)
	}
	if r := send("/big"); r.Status != 200 {
		t.Errorf("a big answer: %+v", r)
	}
	c.hc.Timeout = 300 * time.Millisecond
	var ne net.Error
	if r := send("/slow"); r.OK() || !errors.As(r.Err, &ne) || !ne.Timeout() {
		t.Errorf("a slow endpoint: %+v, want a timeout", r)
	}
}
