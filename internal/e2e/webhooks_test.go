package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestWebhookRegistration: registering, listing and deleting endpoints,
// and the refusals (API-EVENTS.md). Deliveries are not built yet.
func TestWebhookRegistration(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 0)
	alice, bob := e.signup(t, "Alice"), e.signup(t, "Bob")
	ac, bc := e.Client(Basic(alice.Email, alice.Password)), e.Client(Basic(bob.Email, bob.Password))

	r := ac.Must(t, "POST", "/api/webhooks", map[string]any{"url": "https://hooks.example.com/wallet"}, nil)
	Expect(t, r, http.StatusCreated)
	all, _ := r.Body["events"].([]any)
	if len(all) != 17 || !strings.HasPrefix(r.Str("secret"), "whsec_") || len(r.Str("secret")) != len("whsec_")+44 || r.Str("webhook_id") == "" {
		t.Fatalf("registration without events: %s", r)
	}
	first := r.Str("webhook_id")
	r = ac.Must(t, "POST", "/api/webhooks", map[string]any{"url": "https://hooks.example.com/ops",
		"events": []string{"operation.completed", "operation.failed", "operation.completed"}}, nil)
	Expect(t, r, http.StatusCreated)
	if ev, _ := r.Body["events"].([]any); len(ev) != 2 {
		t.Errorf("events given (one twice): %s", r)
	}
	Expect(t, e.Client(Basic(bankEmail, bankPassword)).Must(t, "POST", "/api/webhooks", map[string]any{"url": "https://bank.example.com/hook"}, nil), http.StatusCreated)

	for _, c := range []struct {
		body map[string]any
		code string
	}{
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{}}, "invalid_event_type"},
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"operation.done"}}, "invalid_event_type"},
		{map[string]any{"url": "http://hooks.example.com/x"}, "invalid_url"},
		{map[string]any{"url": "https://127.0.0.1/x"}, "invalid_url"},
		{map[string]any{"url": "https://[::1]/x"}, "invalid_url"},
		{map[string]any{"url": "https://169.254.169.254/latest/meta-data"}, "invalid_url"},
		{map[string]any{"url": "https://localhost/x"}, "invalid_url"},
		{map[string]any{"url": "not a url"}, "invalid_url"},
		{map[string]any{"url": "https://hooks.example.com/x", "secret": "mine"}, "invalid_request"},
	} {
		ExpectError(t, ac.Must(t, "POST", "/api/webhooks", c.body, nil), 400, c.code)
	}

	r = ac.Must(t, "GET", "/api/webhooks", nil, nil)
	list, _ := r.Body["webhooks"].([]any)
	if r.Status != 200 || len(list) != 2 || strings.Contains(string(r.Raw), "whsec_") {
		t.Fatalf("list (two, no secrets): %s", r)
	}
	if r := bc.Must(t, "GET", "/api/webhooks", nil, nil); len(r.Body["webhooks"].([]any)) != 0 {
		t.Errorf("bob sees alice's webhooks: %s", r)
	}
	ExpectError(t, bc.Must(t, "DELETE", "/api/webhooks/"+first, nil, nil), 404, "webhook_not_found")
	ExpectError(t, ac.Must(t, "DELETE", "/api/webhooks/not-an-id", nil, nil), 404, "webhook_not_found")
	Expect(t, ac.Must(t, "DELETE", "/api/webhooks/"+first, nil, nil), http.StatusNoContent)
	ExpectError(t, ac.Must(t, "DELETE", "/api/webhooks/"+first, nil, nil), 404, "webhook_not_found")
	if r := ac.Must(t, "GET", "/api/webhooks", nil, nil); len(r.Body["webhooks"].([]any)) != 1 {
		t.Errorf("after the delete: %s", r)
	}
	ExpectError(t, e.Client(Basic(adminEmail, adminPassword)).Must(t, "GET", "/api/webhooks", nil, nil), 403, "forbidden")
	ExpectError(t, e.Client(nil).Must(t, "GET", "/api/webhooks", nil, nil), 401, "unauthorized")
}
