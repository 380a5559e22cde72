package httpapi

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walletd/wallet/internal/config"
	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/openapi"
)

// TestEveryRouteIsDocumented: every route the server registers under the
// API's paths is in the OpenAPI document, with the same method, and the
// document names no route the server lacks (pages and the dashboard
// aside).
func TestEveryRouteIsDocumented(t *testing.T) {
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := New(Deps{Config: cfg, Service: &ledger.Service{}, OAuth: &ledger.Authorizer{}, Notifications: &ledger.Notifications{},
		Webhooks: &ledger.Webhooks{}, Deliveries: &ledger.Deliverer{}, Registry: prometheus.NewRegistry(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+p] = true
		}
	}
	served := map[string]bool{}
	for _, r := range s.App().GetRoutes(true) {
		if r.Method == "HEAD" || !inAPI(r.Path) || strings.Contains(r.Path, "*") {
			continue
		}
		key := r.Method + " " + fiberToOpenAPI(r.Path)
		served[key] = true
		if !documented[key] {
			t.Errorf("%s is served but not in the OpenAPI document", key)
		}
	}
	if len(served) < 40 {
		t.Fatalf("only %d API routes found: the route listing is not what this test expects", len(served))
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is in the OpenAPI document but not served", key)
		}
	}
}

func inAPI(p string) bool {
	for _, prefix := range []string{"/api/", "/oauth/", "/.well-known/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return p == "/healthz" || p == "/readyz" || p == "/metrics" || p == "/openapi.json"
}

// fiberToOpenAPI turns /a/:id/b into /a/{id}/b.
func fiberToOpenAPI(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") {
			parts[i] = "{" + strings.TrimPrefix(s, ":") + "}"
		}
	}
	return strings.Join(parts, "/")
}
