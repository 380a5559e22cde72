package e2e

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPIDocumentServed: GET /openapi.json is the document, to anyone;
// GET /docs renders it as a page that loads nothing from elsewhere.
func TestOpenAPIDocumentServed(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 1)
	anon := e.Client(nil)
	r := anon.Must(t, "GET", "/openapi.json", nil, nil)
	Expect(t, r, http.StatusOK)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Raw, &doc); err != nil || doc.OpenAPI != "3.0.3" {
		t.Fatalf("document: %v %q", err, doc.OpenAPI)
	}
	for _, p := range []string{"/api/wallet_to_wallet", "/api/holds/{id}/capture", "/api/webhooks", "/oauth/token"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("%s is not in the served document", p)
		}
	}
	page := anon.Must(t, "GET", "/docs", nil, H{"Accept": "text/html"})
	Expect(t, page, http.StatusOK)
	html := string(page.Raw)
	if !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") || !strings.Contains(html, "POST /api/wallet_to_wallet") {
		t.Fatalf("reference page: %s", page)
	}
	if m := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).FindString(html); m != "" {
		t.Errorf("the reference loads from elsewhere: %s", m)
	}
}
