package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

func TestPreferWait(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   time.Duration
		wantOK bool
	}{
		{"wait=5", 5 * time.Second, true},
		{"respond-async, wait=10", 10 * time.Second, true},
		{"wait=100", maxWait, true},
		{"wait=30", 30 * time.Second, true},
		{"wait=31", maxWait, true},
		{"wait=0", 0, true},
		{"wait=-1", 0, false},
		{"wait=abc", 0, false},
		{"wait=", 0, false},
		{"wait=1.5", 0, false},
		{"wait=99999999999999999999", 0, false}, // does not fit an int
		{"", 0, false},
		{"respond-async", 0, false},
		{"wait", 0, false},
		{"waiting=5", 0, false},
		{"nowait=5", 0, false},
		{"WAIT=3", 3 * time.Second, true},
		{"Wait=4", 4 * time.Second, true},
		{"handling=lenient; wait=2", 2 * time.Second, true},
		{"handling=lenient;wait=2", 2 * time.Second, true},
		{" wait = 7 ", 7 * time.Second, true},
		{`wait="6"`, 6 * time.Second, true},
		{"wait=8, wait=9", 8 * time.Second, true}, // the first one counts
		{"respond-async, wait=abc, wait=9", 0, false},
	}
	for _, tt := range tests {
		got, ok := preferWait(tt.header)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("preferWait(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.wantOK)
		}
	}
}

// A wait too large for a time.Duration must still be capped, never wrap
// around to a short or negative wait.
func TestPreferWaitHuge(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"wait=9223372037", "wait=18446744074", "wait=9223372036854775807"} {
		if got, ok := preferWait(h); got != maxWait || !ok {
			t.Errorf("preferWait(%q) = %v, %v; want %v, true", h, got, ok, maxWait)
		}
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		// wantMsg is a fragment the caller-facing message must contain.
		wantMsg string
	}{
		{"unknown field", `{"wallet_id":"w","amount":"1.00","color":"red"}`, `"color"`},
		{"trailing object", `{"amount":"1.00"}{"amount":"2.00"}`, "one JSON object"},
		{"trailing garbage", `{"amount":"1.00"} x`, "one JSON object"},
		{"trailing comma", `{"amount":"1.00"},`, "one JSON object"},
		{"wrong type", `{"wallet_id":5}`, "wallet_id"},
		{"wrong type of details", `{"details":["a"]}`, "details"},
		{"empty body", ``, "empty"},
		{"only spaces", " \n\t", "empty"},
		{"array", `[{"amount":"1.00"}]`, "JSON object"},
		{"string", `"hello"`, "JSON object"},
		{"number", `42`, "JSON object"},
		{"bool", `true`, "JSON object"},
		{"unterminated", `{"amount":"1.00"`, "not valid JSON"},
		{"not JSON", `amount=1.00`, "not valid JSON"},
		{"single quotes", `{'amount':'1.00'}`, "not valid JSON"},
		{"null", `null`, "must be a JSON object"},
		{"array", `[{"amount":"1"}]`, "must be a JSON object"},
		// The last one would win with encoding/json: 50.00, not 0.01.
		{"duplicate key", `{"wallet_id":"w","amount":"0.01","amount":"50"}`, `"amount" appears more than once`},
		{"duplicate key, escaped", `{"amount":"0.01","\u0061mount":"50"}`, "more than once"},
		{"key in another case", `{"wallet_id":"w","amount":"0.01","Amount":"50"}`, `unknown field "Amount"`},
		{"key in upper case", `{"WALLET_ID":"w"}`, `unknown field "WALLET_ID"`},
		{"invalid UTF-8 in a string", "{\"details\":\"caf\xe9\"}", "UTF-8"},
		{"invalid UTF-8 in a key", "{\"d\xffx\":\"a\"}", "UTF-8"},
		{"lone surrogate escape", `{"details":"\ud800"}`, "not valid JSON"},
	}
	for _, tt := range tests {
		var b operationBody
		err := decodeJSON([]byte(tt.body), &b)
		if code := wallet.ErrorCode(err); code != wallet.EInvalidRequest {
			t.Errorf("%s: decodeJSON(%q) = %v, want %s", tt.name, tt.body, err, wallet.EInvalidRequest)
			continue
		}
		if msg := wallet.ErrorMessage(err); !strings.Contains(msg, tt.wantMsg) {
			t.Errorf("%s: decodeJSON(%q) message %q does not contain %q", tt.name, tt.body, msg, tt.wantMsg)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	tests := []struct {
		name       string
		body       string
		walletID   *string
		amountText string // the raw JSON text of amount; "" if absent
		details    *string
	}{
		{"string amount", `{"wallet_id":"w1","amount":"115.60","details":"rent"}`, str("w1"), `"115.60"`, str("rent")},
		// A number keeps its exact text: no float64 rounding, no lost zeros.
		{"number amount", `{"wallet_id":"w1","amount":115.60}`, str("w1"), `115.60`, nil},
		{"long number", `{"amount":12345678901234567.89}`, nil, `12345678901234567.89`, nil},
		{"exponent kept as text", `{"amount":1e400}`, nil, `1e400`, nil},
		{"null amount", `{"amount":null}`, nil, `null`, nil},
		{"empty object", `{}`, nil, ``, nil},
		{"trailing whitespace", "{\"wallet_id\":\"w2\"}\n  \t", str("w2"), ``, nil},
		{"empty details", `{"details":""}`, nil, ``, str("")},
	}
	for _, tt := range tests {
		var b operationBody
		if err := decodeJSON([]byte(tt.body), &b); err != nil {
			t.Errorf("%s: decodeJSON(%q): %v", tt.name, tt.body, err)
			continue
		}
		if !equalPtr(b.WalletID, tt.walletID) {
			t.Errorf("%s: wallet_id = %v, want %v", tt.name, show(b.WalletID), show(tt.walletID))
		}
		if string(b.Amount) != tt.amountText {
			t.Errorf("%s: amount = %q, want %q", tt.name, b.Amount, tt.amountText)
		}
		if !equalPtr(b.Details, tt.details) {
			t.Errorf("%s: details = %v, want %v", tt.name, show(b.Details), show(tt.details))
		}
	}
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func show(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return `"` + *p + `"`
}
