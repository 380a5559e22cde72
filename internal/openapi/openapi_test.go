package openapi_test

import (
	"testing"

	"github.com/walletd/wallet/internal/openapi"
)

// TestDocumentIsValid lints the merged document: it parses, every $ref
// resolves, and it is valid OpenAPI 3.0 (kin-openapi's validation).
func TestDocumentIsValid(t *testing.T) {
	doc, err := openapi.Load()
	if err != nil {
		t.Fatal(err)
	}
	if doc.Paths.Len() == 0 {
		t.Fatal("no paths")
	}
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s %s: no operationId or summary", method, p)
			}
			if op.Responses.Value("503") == nil {
				t.Errorf("%s %s: no 503", method, p)
			}
		}
	}
}
